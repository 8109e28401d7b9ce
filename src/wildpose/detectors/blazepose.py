"""BlazePose GHUM's landmark network (Google MediaPipe, Apache-2.0) on a square crop around a
person box, as the per-person keypoint step of the top-down detector
(:class:`~wildpose.detectors.topdown.TopDownDetector` with ``keypoints="blazepose"``).

Why ONNX: the network comes as TensorFlow Lite files in the npm package ``@mediapipe/pose``;
``tools/build_blazepose.py`` converts them once, at development time, so that onnxruntime, which
runs wildpose's other detector graphs, runs this one too (no TFLite runtime to install).

The steps are those of MediaPipe's published CPU graph (``pose_landmark_by_roi_cpu``), on the
crop Thunder gets (round 10 of ``benchmarks/PREDICT_DECISIONS.md``):

- **crop**: the square centred on the box, side 1.25 x its longer side (MediaPipe's own ROI
  scale), sampled bilinearly to 256 x 256 with the border pixels repeated outside the image
  (:func:`wildpose.crop.sample_window`), RGB in [0, 1]. Unlike MediaPipe, the crop is not
  rotated upright: a box carries no body axis.
- **person gate**: the model's pose flag (already a probability) must reach :data:`FLAG_MIN`.
- **decoding**: 39 landmarks x (x, y, z, visibility, presence) in crop pixels; visibility
  through a sigmoid; each position refined from the 64 x 64 heatmap
  (:func:`refine_from_heatmap`); then mapped back to the image.
- **COCO-17**: the 17 of the 33 landmarks COCO has (:data:`COCO_FROM_BLAZEPOSE`); a joint's
  confidence is its visibility (as :mod:`wildpose.detectors.mediapipe_pose`'s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..crop import crop_to_image, crop_window, sample_window
from .base import inside_image

__all__ = ["HEAVY_FILE", "FULL_FILE", "INPUT_SIZE", "FLAG_MIN", "COCO_FROM_BLAZEPOSE",
           "refine_from_heatmap", "blazepose_keypoints"]

_WEIGHTS = Path(__file__).resolve().parent.parent / "weights"
#: BlazePose GHUM Heavy's and Full's landmark networks, as ``tools/build_blazepose.py`` writes.
HEAVY_FILE = _WEIGHTS / "blazepose-heavy.onnx"
FULL_FILE = _WEIGHTS / "blazepose-full.onnx"
#: The network's input side, pixels.
INPUT_SIZE = 256
#: A crop is a person iff the pose flag reaches this (MediaPipe's ``ThresholdingCalculator``).
FLAG_MIN = 0.5
#: The heatmap window (MediaPipe's graph sets 7) and the least heatmap peak that moves a
#: landmark (the calculator's default, 0.5).
HEATMAP_KERNEL = 7
HEATMAP_MIN = 0.5
#: Which of BlazePose's 33 landmarks is each COCO-17 joint (nose, eyes, ears, shoulders,
#: elbows, wrists, hips, knees, ankles; left before right).
COCO_FROM_BLAZEPOSE = np.array([0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def refine_from_heatmap(xy: np.ndarray, heatmap: np.ndarray, kernel: int = HEATMAP_KERNEL,
                        min_peak: float = HEATMAP_MIN) -> np.ndarray:
    """Landmark positions moved to the heatmap's local weighted mean, as MediaPipe's
    ``RefineLandmarksFromHeatmapCalculator`` does.

    Args:
        xy: (L, 2) positions normalized to the crop, [0, 1].
        heatmap: (h, w, L) logits, one channel per landmark.
    Returns:
        (L, 2) normalized positions.  For a landmark whose heatmap cell lies on the map, the
        sigmoid of the ``kernel x kernel`` window around that cell (cut at the map's edges)
        weights the cells' column and row indices; the mean index over the map's size (no
        half-cell offset, as MediaPipe's) replaces the position iff the window's peak reaches
        ``min_peak``.
    """
    h, w, n = heatmap.shape
    out = np.array(xy, np.float64, copy=True)
    half = (kernel - 1) // 2
    for k in range(n):
        if not np.isfinite(out[k]).all():
            continue
        col, row = int(out[k, 0] * w), int(out[k, 1] * h)   # C++'s truncation toward zero
        if not (0 <= col < w and 0 <= row < h):
            continue
        r0, r1 = max(0, row - half), min(h, row + half + 1)
        c0, c1 = max(0, col - half), min(w, col + half + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, k].astype(np.float64))
        total = conf.sum()
        if conf.max() >= min_peak and total > 0:
            rows, cols = np.mgrid[r0:r1, c0:c1]
            out[k] = [(cols * conf).sum() / total / w, (rows * conf).sum() / total / h]
    return out


def blazepose_keypoints(session: Any, image: np.ndarray, box: tuple[float, float, float, float],
                        margin: float = 1.25) -> tuple[np.ndarray, np.ndarray, float]:
    """BlazePose GHUM's landmarks (an onnxruntime ``session`` of :data:`HEAVY_FILE` or
    :data:`FULL_FILE`) on the square crop centred on ``box`` (x0, y0, x1, y1 pixels), side
    ``margin`` x its longer side.

    Args:
        image: (H, W, 3) uint8 RGB.
    Returns:
        ``(xy, conf, flag)``: (17, 2) COCO-17 pixel positions in the image, (17,) visibility
        in [0, 1] (joints outside the image are NaN with confidence 0) and the pose flag in
        [0, 1] (whether the crop holds a person; the caller gates on :data:`FLAG_MIN`).
    """
    origin, side = crop_window(box, margin, min_side=1.0)
    crop = sample_window(image, origin, side, INPUT_SIZE) / np.float32(255)
    landmarks, flag, _, heatmap, _ = session.run(None, {session.get_inputs()[0].name:
                                                        crop[None]})
    lm = np.asarray(landmarks, np.float64).reshape(-1, 5)
    xy = refine_from_heatmap(lm[:, :2] / INPUT_SIZE, np.asarray(heatmap)[0])
    xy = xy[COCO_FROM_BLAZEPOSE] * INPUT_SIZE - 0.5           # crop pixel-centre coordinates
    xy = crop_to_image(xy, origin, side / INPUT_SIZE)
    conf = _sigmoid(lm[COCO_FROM_BLAZEPOSE, 3])
    outside = ~inside_image(xy, image.shape[0], image.shape[1])
    xy[outside], conf[outside] = np.nan, 0.0
    return xy, conf, float(np.asarray(flag).reshape(-1)[0])
