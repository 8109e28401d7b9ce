"""Relative depth labels: generation rules (pairs, tolerance, crowd noise), JSON round trip
and the checks on hand-written label files.

The poses are hand-made so that every label is known in advance: joint k at depth
1000 + step * k mm, so joint i is closer than joint j exactly when i < j.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from wildpose.relative_depth import (RelativeDepthLabels, all_joint_pairs,
                                     crowd_flip_probability, generate_relative_labels,
                                     h36m_sample_keys)
from wildpose.skeleton import H36M17

torch.set_num_threads(1)


def ladder(n: int, step: float = 10.0) -> np.ndarray:
    """n copies of a pose whose joint k is at depth 1000 + step * k mm (x, y arbitrary)."""
    rng = np.random.default_rng(0)
    pose = rng.normal(size=(n, 17, 3)) * 100
    pose[..., 2] = 1000 + step * np.arange(17)
    return pose


def test_all_pairs_are_the_136_unordered_pairs():
    i, j = all_joint_pairs(17)
    assert len(i) == 136 == 17 * 16 // 2
    assert (i < j).all()
    assert len({(a, b) for a, b in zip(i.tolist(), j.tolist())}) == 136


def test_all_pairs_labels_follow_depth_order():
    lab = generate_relative_labels(ladder(2), "all")
    assert len(lab) == 2 * 136 and lab.num_samples == 2
    # Joint i (< j) is the closer one in every pair: all +1.
    assert (lab.label == 1).all()
    # Reversed depths: every j is closer.
    rev = ladder(1)
    rev[..., 2] = rev[..., 2][:, ::-1]
    assert (generate_relative_labels(rev, "all").label == -1).all()
    # Named pairs: Hip (depth 1000) is closer than Head (joint 10, depth 1100).
    assert ("Hip", "Head", 1) in generate_relative_labels(ladder(1), "all").pairs_of("0")


def test_tolerance_makes_near_pairs_same():
    # Neighbouring joints are 10 mm apart, others >= 20 mm: tau = 15 mm marks exactly the 16
    # neighbouring pairs "same".
    lab = generate_relative_labels(ladder(1), 136, tau_mm=15.0)
    same = lab.label == 0
    assert same.sum() == 16
    assert ((lab.j - lab.i)[same] == 1).all()
    assert (lab.label[~same] == 1).all()
    # Exact ties are "same" even with tau = 0.
    flat = ladder(1)
    flat[..., 2] = 2000.0
    assert (generate_relative_labels(flat, "all").label == 0).all()


def test_k_pairs_per_sample_are_distinct_and_seeded():
    pose = np.random.default_rng(1).normal(size=(300, 17, 3)) * 300
    lab = generate_relative_labels(pose, 5, seed=3)
    assert len(lab) == 1500
    assert (np.bincount(lab.sample_index, minlength=300) == 5).all()
    pairs = lab.i.astype(int) * 17 + lab.j
    for s in range(300):
        assert len(set(pairs[lab.sample_index == s].tolist())) == 5
    # Each label agrees with the depths it was made from.
    dz = pose[lab.sample_index, lab.j, 2] - pose[lab.sample_index, lab.i, 2]
    assert (lab.label == np.where(dz > 0, 1, -1)).all()
    again = generate_relative_labels(pose, 5, seed=3)
    assert np.array_equal(again.i, lab.i) and np.array_equal(again.j, lab.j)
    other = generate_relative_labels(pose, 5, seed=4)
    assert not np.array_equal(other.i * 17 + other.j, pairs)


def test_one_pair_per_sample_is_uniform_over_pairs():
    lab = generate_relative_labels(ladder(136 * 200), 1, seed=0)
    counts = np.bincount(lab.i.astype(int) * 17 + lab.j, minlength=17 * 17)
    counts = counts[counts > 0]
    assert len(counts) == 136
    # Multinomial with 200 expected per pair: std ~14; 5 std either way.
    assert counts.min() > 200 - 70 and counts.max() < 200 + 70


def test_crowd_flip_probability_hand_values():
    np.testing.assert_allclose(crowd_flip_probability([0, 100, 200, 300, 400, 1000, -200]),
                               [0.5, 0.375, 0.25, 0.125, 0.0, 0.0, 0.25])


def test_crowd_noise_flips_at_the_model_rate():
    # Joints 100 mm apart per index step: a pair j - i = d apart differs by 100 d mm and is
    # flipped with probability 0.5 - 0.125 d for d < 4, never from d = 4 (400 mm) on.
    n = 2000
    lab = generate_relative_labels(ladder(n, step=100.0), "all", noise="crowd", seed=0)
    gap = (lab.j - lab.i).astype(int)
    flipped = lab.label == -1
    for d, expected in ((1, 0.375), (2, 0.25), (3, 0.125)):
        rate = flipped[gap == d].mean()
        assert abs(rate - expected) < 0.015, (d, rate)
    assert not flipped[gap >= 4].any()
    # "Same" labels are never flipped into an order.
    lab = generate_relative_labels(ladder(n, step=100.0), "all", tau_mm=150.0, noise="crowd")
    assert (lab.label[(lab.j - lab.i) == 1] == 0).all()


@pytest.mark.parametrize("bad", [0, 137, "some", "-1"])
def test_bad_pairs_per_sample(bad):
    with pytest.raises(ValueError, match="pairs_per_sample"):
        generate_relative_labels(ladder(1), bad)


def test_bad_generation_arguments():
    with pytest.raises(ValueError, match="tau_mm"):
        generate_relative_labels(ladder(1), 1, tau_mm=-1)
    with pytest.raises(ValueError, match="noise"):
        generate_relative_labels(ladder(1), 1, noise="gaussian")
    with pytest.raises(ValueError, match="shape"):
        generate_relative_labels(np.zeros((2, 16, 3)), 1)


def doc(samples: dict, **extra) -> dict:
    return {"format": "wildpose.relative_depth", "version": 1, "layout": "h36m17",
            "samples": samples, **extra}


def test_json_round_trip_with_names(tmp_path):
    keys = np.array(["S9/Walking 1/2/150", "img_7"])
    lab = generate_relative_labels(ladder(2), 3, seed=1, keys=keys)
    path = lab.save(tmp_path / "labels.json")
    raw = json.loads(path.read_text())
    assert set(raw["samples"]) == set(keys)
    # Joint names, not indices, in the file.
    for name_i, name_j, r in raw["samples"]["img_7"]:
        assert name_i in H36M17.joints and name_j in H36M17.joints and r == 1
    back = RelativeDepthLabels.load(path)
    for k in keys:
        assert sorted(back.pairs_of(k)) == sorted(lab.pairs_of(k))
    assert back.skipped == {}


def test_pairs_are_put_in_layout_order_with_the_label_negated():
    lab = RelativeDepthLabels.from_dict(doc({"a": [["LFoot", "Hip", 1], ["Head", "RWrist", 0]]}))
    # LFoot (6) closer than Hip (0) == Hip farther than LFoot: (Hip, LFoot, -1).
    assert sorted(lab.pairs_of("a")) == [("Head", "RWrist", 0), ("Hip", "LFoot", -1)]


def test_unknown_joint_is_a_one_line_error():
    with pytest.raises(ValueError) as e:
        RelativeDepthLabels.from_dict(doc({"img_1": [["LeftFoot", "Hip", 1]]}), source="f.json")
    msg = str(e.value)
    assert "f.json" in msg and "img_1" in msg and "LeftFoot" in msg and "\n" not in msg


def test_self_pair_and_bad_label_are_errors():
    with pytest.raises(ValueError, match="paired with itself"):
        RelativeDepthLabels.from_dict(doc({"a": [["Hip", "Hip", 0]]}))
    with pytest.raises(ValueError, match="label 2"):
        RelativeDepthLabels.from_dict(doc({"a": [["Hip", "Head", 2]]}))
    with pytest.raises(ValueError, match="not \\[joint_i"):
        RelativeDepthLabels.from_dict(doc({"a": [["Hip", "Head"]]}))


def test_contradictory_duplicates_are_errors_but_consistent_ones_merge():
    # (Hip, Head, 1) and (Head, Hip, 1) say opposite things.
    with pytest.raises(ValueError, match="contradictory"):
        RelativeDepthLabels.from_dict(doc({"a": [["Hip", "Head", 1], ["Head", "Hip", 1]]}))
    lab = RelativeDepthLabels.from_dict(doc({"a": [["Hip", "Head", 1], ["Head", "Hip", -1]]}))
    assert lab.pairs_of("a") == [("Hip", "Head", 1)]
    assert lab.skipped == {"duplicate_pairs": 1}


def test_empty_samples_are_skipped():
    lab = RelativeDepthLabels.from_dict(doc({"a": [], "b": [["Hip", "Head", -1]]}))
    assert list(lab.keys) == ["b"] and lab.skipped == {"empty_samples": 1}


def test_not_a_label_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(ValueError, match="x.json"):
        RelativeDepthLabels.load(p)
    p.write_text("{broken")
    with pytest.raises(ValueError, match="x.json"):
        RelativeDepthLabels.load(p)


def test_align_to_data_rows():
    lab = RelativeDepthLabels.from_dict(doc({"b": [["Hip", "Head", 1]],
                                             "zz": [["Hip", "RFoot", -1]],
                                             "a": [["LElbow", "RElbow", 0], ["Hip", "Spine", 1]]}))
    aligned, has = lab.align(["a", "c", "b"])
    assert list(has) == [True, False, True]
    assert list(aligned.keys) == ["a", "c", "b"]
    assert sorted(aligned.pairs_of("a")) == [("Hip", "Spine", 1), ("LElbow", "RElbow", 0)]
    assert aligned.pairs_of("b") == [("Hip", "Head", 1)]
    assert aligned.skipped == {"samples_not_in_data": 1}
    off = aligned.offsets()
    assert list(np.diff(off)) == [2, 0, 1]


def test_h36m_sample_keys():
    data = SimpleNamespace(subject=np.array([9, 11]), action=np.array(["Walking 1", "Eating"]),
                           camera=np.array([2, 4]), frame=np.array([150, 0]))
    assert list(h36m_sample_keys(data)) == ["S9/Walking 1/2/150", "S11/Eating/4/0"]
