"""Identities across video frames: a small online tracker on box overlap and keypoint distance.

Each track remembers its person's last box and 2D keypoints and their velocity (pixels per
frame, from the last two sightings), and predicts where they are now; a new frame's people are
matched to the predictions greedily, best pair first.  The score of a (track, person) pair is
the mean of

* the IoU of the predicted box and the person's box, and
* the keypoint similarity: over the joints both have, mean exp(-d^2 / (2 s^2)), with d the
  pixel distance and s = 0.1 x the longer side of the predicted box (COCO's OKS with one
  constant for every joint).

A pair scoring below ``min_similarity`` is not matched; an unmatched person starts a new track
(ids 0, 1, 2, ... in order of appearance), and a track unseen for ``max_gap`` frames is
forgotten.  The velocity term is what keeps two people apart when they cross: at the crossing
their boxes overlap, but each track's prediction is already past the other's.

Each track can also own a :class:`~wildpose.temporal.OneEuroFilter` over its keypoints
(``smooth``), so smoothing never mixes two people.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .detectors.base import box_iou
from .temporal import OneEuroFilter

__all__ = ["PoseTracker", "keypoint_similarity"]


def keypoint_similarity(a: np.ndarray, b: np.ndarray, scale: float) -> float:
    """Mean exp(-d^2 / (2 scale^2)) over the joints finite in both (J, 2) arrays; 0 if none."""
    ok = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    if not ok.any() or not scale > 0:
        return 0.0
    d2 = ((a[ok] - b[ok]) ** 2).sum(-1)
    return float(np.exp(-d2 / (2 * scale ** 2)).mean())


@dataclass
class _Track:
    id: int
    box: np.ndarray                     # (4,) last seen
    keypoints: np.ndarray               # (J, 2) last seen (NaN = not seen)
    frame: int                          # frame index last seen
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))   # px / frame
    filter: OneEuroFilter | None = None

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        shift = self.velocity * (frame - self.frame)
        return self.box + np.tile(shift, 2), self.keypoints + shift


class PoseTracker:
    """Give each person of consecutive frames a stable ``track_id``.

    Args:
        fps: frame rate (for the smoothing filters).
        smooth: give each track a One-Euro filter over its keypoints (min cut-off 1 Hz,
            beta 5 per image height per second) and return the filtered keypoints.
        min_similarity: the lowest pair score that continues a track.
        max_gap: frames a track survives unseen.
    """

    def __init__(self, fps: float = 30.0, smooth: bool = False, min_similarity: float = 0.2,
                 max_gap: int = 15):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.smooth = float(fps), bool(smooth)
        self.min_similarity, self.max_gap = float(min_similarity), int(max_gap)
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video); ids start again at 0."""
        self.tracks: list[_Track] = []
        self.next_id = 0
        self.frame = -1

    def update(self, boxes: Any, keypoints: Any, image_height: float
               ) -> tuple[list[int], np.ndarray]:
        """Match the next frame's people to the tracks.

        Args:
            boxes: (N, 4) people's boxes (x0, y0, x1, y1), pixels.
            keypoints: (N, J, 2) their keypoints, pixels, NaN where missing.
            image_height: pixels (the filters' scale).
        Returns:
            ``(ids, keypoints)``: each person's track id, and the keypoints (smoothed per
            track if ``smooth``, else as given).
        """
        self.frame += 1
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        kps = np.array(keypoints, np.float64)
        kps = kps.reshape(len(boxes), -1, 2) if len(boxes) else kps.reshape(0, 0, 2)
        self.tracks = [t for t in self.tracks if self.frame - t.frame <= self.max_gap]
        pairs = []
        for ti, t in enumerate(self.tracks):
            pbox, pkp = t.predicted(self.frame)
            scale = 0.1 * max(pbox[2] - pbox[0], pbox[3] - pbox[1])
            for pi in range(len(boxes)):
                iou = float(box_iou(pbox, boxes[pi])[0])
                s = 0.5 * iou + 0.5 * keypoint_similarity(pkp, kps[pi], scale)
                if s >= self.min_similarity:
                    pairs.append((s, ti, pi))
        ids = [-1] * len(boxes)
        used: set[int] = set()
        for s, ti, pi in sorted(pairs, key=lambda p: -p[0]):
            if ti in used or ids[pi] >= 0:
                continue
            used.add(ti)
            ids[pi] = self.tracks[ti].id
            self._continue(self.tracks[ti], boxes[pi], kps[pi])
        for pi in range(len(boxes)):
            if ids[pi] < 0:
                t = _Track(self.next_id, boxes[pi].copy(), kps[pi].copy(), self.frame)
                if self.smooth:
                    t.filter = OneEuroFilter(self.fps, min_cutoff=1.0, beta=5.0,
                                             scale=float(image_height))
                self.tracks.append(t)
                ids[pi] = t.id
                self.next_id += 1
        if self.smooth:
            by_id = {t.id: t for t in self.tracks}
            kps = np.stack([by_id[i].filter(k) for i, k in zip(ids, kps)]) if len(ids) \
                else kps
        return ids, kps

    def _continue(self, t: _Track, box: np.ndarray, kp: np.ndarray) -> None:
        gap = self.frame - t.frame
        centre_new = np.array([box[0] + box[2], box[1] + box[3]]) / 2
        centre_old = np.array([t.box[0] + t.box[2], t.box[1] + t.box[3]]) / 2
        t.velocity = (centre_new - centre_old) / max(gap, 1)
        t.box = box.copy()
        t.keypoints = np.where(np.isfinite(kp), kp, t.keypoints + t.velocity * gap)
        t.frame = self.frame
