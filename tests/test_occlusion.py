"""Simulated occlusion for robustness checks (wildpose.evaluation.occlude_limbs)."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.evaluation import occlude_limbs
from wildpose.skeleton import get_layout

LIMBS = {frozenset(p) for p in (("LElbow", "LWrist"), ("RElbow", "RWrist"),
                                ("LKnee", "LFoot"), ("RKnee", "RFoot"))}


@pytest.mark.parametrize("layout", ["h36m17", "mpii16"])
def test_every_row_loses_exactly_one_lower_limb_at_fraction_one(layout):
    names = get_layout(layout).joints
    kp = np.random.default_rng(1).normal(500, 100, (400, len(names), 2))
    out = occlude_limbs(kp, layout, 1.0)
    seen = set()
    for row_in, row_out in zip(kp, out):
        lost = np.flatnonzero(np.isnan(row_out).any(1))
        limb = frozenset(names[j] for j in lost)
        assert limb in LIMBS, limb
        assert np.isnan(row_out[lost]).all()  # both coordinates
        kept = np.setdiff1d(np.arange(len(names)), lost)
        np.testing.assert_array_equal(row_out[kept], row_in[kept])
        seen.add(limb)
    assert seen == LIMBS  # all four limbs are drawn


def test_fraction_zero_changes_nothing_and_the_input_is_not_touched():
    kp = np.arange(10 * 17 * 2, dtype=np.int16).reshape(10, 17, 2)
    before = kp.copy()
    out = occlude_limbs(kp, "h36m17", 0.0)
    np.testing.assert_array_equal(out, kp)
    assert out.dtype.kind == "f"
    occlude_limbs(kp, "h36m17", 1.0)
    np.testing.assert_array_equal(kp, before)


def test_share_of_rows_and_the_same_draw_for_the_same_seed():
    kp = np.zeros((20000, 17, 2))
    out = occlude_limbs(kp, "h36m17", 0.3)
    hit = np.isnan(out).any((1, 2))
    assert abs(hit.mean() - 0.3) < 0.015  # binomial sd 0.0032
    np.testing.assert_array_equal(np.isnan(occlude_limbs(kp, "h36m17", 0.3)), np.isnan(out))
    assert not np.array_equal(np.isnan(occlude_limbs(kp, "h36m17", 0.3, seed=1)),
                              np.isnan(out))


@pytest.mark.parametrize("fraction", [-0.1, 1.5, float("nan")])
def test_bad_fraction_is_refused(fraction):
    with pytest.raises(ValueError, match="occlusion fraction"):
        occlude_limbs(np.zeros((2, 17, 2)), "h36m17", fraction)
