"""One person seen twice (e.g. by two passes of a detector at different scales) -> once:
keypoint-similarity NMS with COCO's object keypoint similarity (OKS).

OKS between two poses of the same COCO-17 layout is ``mean_j exp(-d_j^2 / (2 s^2 k_j^2))``
over the joints both have, with ``d_j`` the distance in pixels, ``s^2`` the reference
person's box area (pixels^2) and ``k_j = 2 sigma_j`` (COCO's per-keypoint sigmas).  COCO
counts a prediction as a person at AP50 when their OKS is >= 0.5, hence the default threshold.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import COCO17
from .base import Detection

__all__ = ["COCO_SIGMAS", "MIN_OKS", "keypoint_similarity", "merge_people"]

#: COCO's per-keypoint OKS sigmas, COCO-17 order (nose, eyes, ears, shoulders, elbows, wrists,
#: hips, knees, ankles).
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07,
                        .87, .87, .89, .89]) / 10.0
#: Two detections with at least this OKS are the same person (COCO's AP50 criterion).
MIN_OKS = 0.5


def keypoint_similarity(a: Detection, b: Detection, min_confidence: float = 0.3) -> float:
    """COCO OKS of ``b`` against ``a`` (``a``'s box area is the scale), over the joints both
    have (finite, confidence >= ``min_confidence``); 0 when they share no such joint.  Both
    must be COCO-17."""
    if a.layout is not COCO17 or b.layout is not COCO17:
        raise ValueError(f"keypoint_similarity needs COCO-17 detections, got "
                         f"{a.layout.name} and {b.layout.name}")
    ka, kb = np.asarray(a.keypoints, np.float64), np.asarray(b.keypoints, np.float64)
    both = (np.isfinite(ka).all(1) & np.isfinite(kb).all(1)
            & (a.confidence >= min_confidence) & (b.confidence >= min_confidence))
    if not both.any():
        return 0.0
    x0, y0, x1, y1 = a.box
    area = max((x1 - x0) * (y1 - y0), 1.0)
    d2 = ((ka[both] - kb[both]) ** 2).sum(1)
    return float(np.mean(np.exp(-d2 / (2 * area * (2 * COCO_SIGMAS[both]) ** 2))))


def merge_people(detections: list[Detection], min_oks: float = MIN_OKS,
                 min_confidence: float = 0.3) -> list[Detection]:
    """Greedy keypoint NMS: by person score (highest first), keep a detection unless its OKS
    with one already kept is >= ``min_oks``.  Returns the kept ones, largest box first."""
    kept: list[Detection] = []
    for det in sorted(detections, key=lambda d: -d.score):
        if all(keypoint_similarity(k, det, min_confidence) < min_oks for k in kept):
            kept.append(det)
    kept.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return kept
