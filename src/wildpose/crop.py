"""Square crops around a person box: the one crop geometry of wildpose.

The image network's training crops (:mod:`wildpose.datasets.images`), its predictor
(:class:`wildpose.methods.zhou_image.ZhouImagePredictor`) and the Thunder crops of the
top-down detector (:func:`wildpose.detectors.movenet.thunder_keypoints`) all use it.

Coordinates: pixels with integer values at pixel centres (pixel ``(0, 0)`` spans
``[-0.5, 0.5)``), x right, y down, in the image and in the crop alike.  A crop of side
``side`` image pixels sampled at ``S`` crop pixels maps crop pixel ``k`` to image pixel
``origin + step * (k + 0.5) - 0.5`` per axis (``step = side / S``, ``origin`` the crop's
top-left corner in image *edge* coordinates, where pixel ``u`` spans ``[u, u + 1)``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["crop_window", "image_to_crop", "crop_to_image"]


def crop_window(box: Sequence[float], margin: float, min_side: float = 0.0
                ) -> tuple[np.ndarray, float]:
    """The square crop window of a person box.

    Args:
        box: (x0, y0, x1, y1) image pixels (integer = pixel centre).
        margin: the window's side is this times the box's longer side.
        min_side: the box's longer side counts as at least this many pixels (a point-like
            box from a single keypoint still gets a window).
    Returns:
        ``(origin, side)``: (2,) top-left corner in image edge coordinates and the side in
        image pixels; the window is centred on the box centre.
    Raises:
        ValueError: a box that is not 4 finite numbers, an empty box (with ``min_side`` 0)
            or a margin <= 0.
    """
    if len(box) != 4 or not margin > 0 or not np.isfinite(np.asarray(box, float)).all():
        raise ValueError(f"box {tuple(float(v) for v in box)}, margin {margin}")
    x0, y0, x1, y1 = (float(v) for v in box)
    longer = max(x1 - x0, y1 - y0, float(min_side))
    if not longer > 0:
        raise ValueError(f"box {(x0, y0, x1, y1)}, margin {margin}")
    side = longer * float(margin)
    # +0.5: from pixel-centre to edge coordinates.
    centre = np.array([(x0 + x1) / 2 + 0.5, (y0 + y1) / 2 + 0.5])
    return centre - side / 2, side


def image_to_crop(points: np.ndarray, origin: np.ndarray, step: float) -> np.ndarray:
    """(..., 2) image pixels -> crop pixels: ``(p + 0.5 - origin) / step - 0.5``."""
    return (np.asarray(points, np.float64) + 0.5 - origin) / step - 0.5


def crop_to_image(points: np.ndarray, origin: np.ndarray, step: float) -> np.ndarray:
    """(..., 2) crop pixels -> image pixels, the inverse of :func:`image_to_crop`:
    ``origin + step * (k + 0.5) - 0.5``."""
    return origin + step * (np.asarray(points, np.float64) + 0.5) - 0.5
