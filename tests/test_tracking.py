"""wildpose.tracking: identities across frames, on synthetic people whose paths are known."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.detectors.base import box_iou
from wildpose.tracking import PoseTracker, keypoint_similarity

#: A stick figure's 17 joints around its centre, pixels (a 100 px tall person).
FIGURE = np.stack([np.linspace(-15, 15, 17), np.linspace(-50, 50, 17)], 1)


def person(cx: float, cy: float, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    kp = FIGURE * scale + [cx, cy]
    return np.array([*kp.min(0), *kp.max(0)]), kp


def test_box_iou_and_keypoint_similarity_by_hand():
    assert box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == pytest.approx(1.0)
    assert box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    a = np.zeros((2, 2))
    b = np.array([[3.0, 4.0], [np.nan, np.nan]])        # d = 5 on the one shared joint
    assert keypoint_similarity(a, b, 5.0) == pytest.approx(np.exp(-0.5))
    assert keypoint_similarity(a, np.full((2, 2), np.nan), 5.0) == 0.0


def test_two_people_crossing_keep_their_ids():
    """A walks right, B walks left along the same line; they overlap completely in the
    middle frames, and B is listed first after the crossing (as a size-ordered detector
    would when B comes nearer)."""
    tracker = PoseTracker(fps=30)
    frames = 41
    seen = {"A": [], "B": []}
    for f in range(frames):
        xa, xb = 100 + 10 * f, 505 - 10 * f              # they pass between frames
        a, b = person(xa, 200), person(xb, 200, 1.0 + 0.002 * f)
        order = [("A", a), ("B", b)] if f < frames // 2 else [("B", b), ("A", a)]
        ids, _ = tracker.update([p[0] for _, p in order], [p[1] for _, p in order], 480)
        for (name, _), i in zip(order, ids):
            seen[name].append(i)
    assert set(seen["A"]) == {0} and set(seen["B"]) == {1}


def test_new_person_gets_a_new_id_and_a_lost_one_is_forgotten():
    tracker = PoseTracker(fps=30, max_gap=3)
    box, kp = person(100, 100)
    assert tracker.update([box], [kp], 480)[0] == [0]
    box2, kp2 = person(400, 100)
    assert tracker.update([box, box2], [kp, kp2], 480)[0] == [0, 1]
    for _ in range(2):                                   # A unseen for 2 frames: kept
        assert tracker.update([box2], [kp2], 480)[0] == [1]
    assert tracker.update([box, box2], [kp, kp2], 480)[0] == [0, 1]
    for _ in range(5):                                   # unseen too long: forgotten
        tracker.update([box2], [kp2], 480)
    assert tracker.update([box], [kp], 480)[0] == [2]
    assert tracker.update([], np.zeros((0, 17, 2)), 480)[0] == []
    tracker.reset()
    assert tracker.update([box], [kp], 480)[0] == [0]


def test_smoothing_is_per_track_and_missing_joints_stay_missing():
    tracker = PoseTracker(fps=30, smooth=True)
    rng = np.random.default_rng(0)
    out_a, out_b = [], []
    for _ in range(60):
        (ba, ka), (bb, kb) = person(100, 200), person(400, 200)
        ka = ka + rng.normal(0, 2, ka.shape)
        kb = kb + rng.normal(0, 2, kb.shape)
        kb[3] = np.nan                                   # B's joint 3 is never seen
        ids, kps = tracker.update([ba, bb], [ka, kb], 480)
        assert ids == [0, 1]
        out_a.append(kps[0])
        out_b.append(kps[1])
    out_a, out_b = np.array(out_a), np.array(out_b)
    assert np.isnan(out_b[:, 3]).all() and np.isfinite(out_a).all()
    # smoothing reduced the jitter, and did not pull one person towards the other
    assert out_a[20:].std(0).mean() < 1.5
    np.testing.assert_allclose(out_a[20:].mean(0), FIGURE + [100, 200], atol=1.5)
    np.testing.assert_allclose(out_b[20:, 4:].mean(0), (FIGURE + [400, 200])[4:],
                               atol=1.5)
