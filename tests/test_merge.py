"""wildpose.detectors.merge: OKS by hand, and keypoint NMS on people seen twice."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.detectors.base import Detection
from wildpose.detectors.merge import keypoint_similarity, merge_people
from wildpose.skeleton import COCO17


def person(x: float, y: float, height: float, score: float, jitter: float = 0.0,
           seed: int = 0) -> Detection:
    """A standing figure: 17 COCO joints spread over a box ``height`` tall, ``height / 2``
    wide, top-left at (x, y); every joint moved by ``jitter`` pixels in a random direction."""
    rng = np.random.default_rng(seed)
    frac = np.array([[.5, .05], [.45, .03], [.55, .03], [.4, .05], [.6, .05], [.3, .2],
                     [.7, .2], [.2, .35], [.8, .35], [.15, .5], [.85, .5], [.35, .5],
                     [.65, .5], [.35, .75], [.65, .75], [.35, .98], [.65, .98]])
    kp = np.array([x, y]) + frac * np.array([height / 2, height])
    angle = rng.uniform(0, 2 * np.pi, 17)
    kp += jitter * np.stack([np.cos(angle), np.sin(angle)], 1)
    return Detection(kp, np.full(17, 0.8), COCO17, (x, y, x + height / 2, y + height), score)


def test_oks_by_hand_on_one_shared_joint():
    """Only the left hip is confident in both: OKS = exp(-d^2 / (2 area (2 sigma)^2)) with
    COCO's hip sigma 0.107, area 100 x 100 = 1e4 and d = 10 px: exp(-100 / 915.92) = 0.8966."""
    a = Detection(np.zeros((17, 2)), np.zeros(17), COCO17, (0, 0, 100, 100), 0.9)
    b = Detection(np.zeros((17, 2)), np.zeros(17), COCO17, (0, 0, 50, 50), 0.5)
    hip = COCO17.index("left_hip")
    a.confidence[hip] = b.confidence[hip] = 0.9
    b.keypoints[hip] = [6.0, 8.0]
    assert keypoint_similarity(a, b) == pytest.approx(np.exp(-100 / (2 * 1e4 * 0.214 ** 2)))
    assert keypoint_similarity(a, a) == pytest.approx(1.0)
    b.confidence[hip] = 0.1                          # no joint confident in both
    assert keypoint_similarity(a, b) == 0.0


def test_the_same_person_seen_at_two_scales_is_kept_once_with_the_higher_score():
    first = person(100, 50, 300, score=0.4)
    second = person(100, 50, 300, score=0.6, jitter=6, seed=1)   # 6 px: the other pass's noise
    other = person(400, 60, 280, score=0.3)                      # someone else, beside them
    kept = merge_people([first, other, second])
    assert len(kept) == 2
    assert kept[0] is second and kept[1] is other                # largest box first


def test_people_far_apart_are_never_merged_whatever_their_scores():
    people = [person(100 + 200 * i, 50, 180, score=0.3 + 0.1 * i) for i in range(4)]
    assert len(merge_people(people)) == 4


def test_merge_rejects_another_layout():
    h36m = Detection(np.zeros((17, 2)), np.ones(17), "h36m17", (0, 0, 10, 10), 0.5)
    with pytest.raises(ValueError, match="COCO-17"):
        keypoint_similarity(h36m, h36m)
