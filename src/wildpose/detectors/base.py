"""The 2D detector interface: an image in, people's 2D keypoints out.

A detector is anything with ``detect(image) -> list[Detection]``.  :class:`Detector` is the
abstract base class the shipped detectors derive from; it also provides ``track`` (the
per-frame call for videos, which a detector may speed up by following the person from the
previous frame; by default it is ``detect``), ``reset`` (forget the previous frames, called at
the start of each video) and ``close`` / context-manager support for detectors holding native
resources.  To plug in another detector, subclass :class:`Detector` and return
:class:`Detection` objects in any layout :func:`wildpose.skeleton.convert_layout` knows
(``h36m17``, ``coco17``, ``mpii16``); :class:`wildpose.predict.Estimator` converts them to
Human3.6M-17.

Image conventions: ``(H, W, 3)`` ``uint8`` RGB (not OpenCV's BGR), pixel coordinates with the
origin at the *centre* of the top-left pixel, x right, y down (the convention of
``matplotlib.imshow`` and of :mod:`wildpose.visualize`).
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

from ..skeleton import COCO17, Skeleton, get_layout

__all__ = ["Detection", "Detector", "check_image", "quiet_stderr", "inside_image", "box_iou",
           "onnx_options", "confident_person", "joints_box", "front_labels_on_back_view"]


@dataclass
class Detection:
    """One detected person.

    Attributes:
        keypoints: (J, 2) float32 pixel coordinates in ``layout`` order.  Every joint has a
            position (detectors guess occluded joints); ``confidence`` says how far to trust it.
        confidence: (J,) float32 per-joint confidence in [0, 1].
        layout: the joint layout of ``keypoints``.
        box: (x0, y0, x1, y1) person box in pixels, clipped to the image.
        score: person-level confidence in [0, 1].
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    layout: Skeleton
    box: tuple[float, float, float, float]
    score: float

    def __post_init__(self) -> None:
        self.layout = get_layout(self.layout)
        self.keypoints = np.asarray(self.keypoints, np.float32)
        self.confidence = np.asarray(self.confidence, np.float32)
        j = self.layout.num_joints
        if self.keypoints.shape != (j, 2):
            raise ValueError(f"Detection keypoints have shape {self.keypoints.shape}; layout "
                             f"{self.layout.name} needs ({j}, 2)")
        if self.confidence.shape != (j,):
            raise ValueError(f"Detection confidence has shape {self.confidence.shape}; "
                             f"expected ({j},)")
        self.box = tuple(float(v) for v in self.box)
        if len(self.box) != 4:
            raise ValueError(f"Detection box must be (x0, y0, x1, y1), got {self.box}")
        self.score = float(self.score)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one (4,) x0, y0, x1, y1 box (pixels) with each of (K, 4) boxes -> (K,); 0 where
    the union is empty.  The one box overlap of wildpose (NMS, box unions, the video tracker)."""
    box = np.asarray(box, np.float64)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = lambda b: np.clip(b[..., 2] - b[..., 0], 0, None) * \
        np.clip(b[..., 3] - b[..., 1], 0, None)  # noqa: E731
    union = area(box) + area(boxes) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def confident_person(confidence: Any, gate: float) -> bool:
    """Whether a (J,) vector of joint confidences (0 for missing joints) is a person: its
    median reaches ``gate``, i.e. at least half of the joints are that sure (the test of a
    whole-image look, so that a picture with nobody in it stays empty)."""
    confidence = np.asarray(confidence, np.float64).reshape(-1)
    return bool(confidence.size) and bool(np.median(confidence) >= gate)


def joints_box(xy: np.ndarray, valid: np.ndarray) -> tuple[float, float, float, float]:
    """The (x0, y0, x1, y1) box, pixels, around the valid (else all finite) joints of a
    (J, >=2) array; all zeros if none is finite."""
    pts = xy[valid, :2] if valid.any() else xy[:, :2]
    pts = pts[np.isfinite(pts).all(-1)]
    if not len(pts):
        return (0.0, 0.0, 0.0, 0.0)
    lo, hi = pts.min(0), pts.max(0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


_COCO_FACE = [COCO17.index(n) for n in ("nose", "left_eye", "right_eye")]
_COCO_EARS = [COCO17.index(n) for n in ("left_ear", "right_ear")]
_COCO_TORSO = [COCO17.index(n) for n in ("left_shoulder", "right_shoulder", "left_hip",
                                          "right_hip")]


def front_labels_on_back_view(xy: Any, confidence: Any, threshold: float) -> bool:
    """Whether a COCO-17 person is seen from behind but labelled as if seen from the front.

    COCO's labels are anatomical: seen from behind, a person's left shoulder is on the image's
    left.  A network that mostly saw people from the front can give a back view the front
    view's labels (every left joint on the right one); round 9 of
    ``benchmarks/PREDICT_DECISIONS.md`` fixed this test before it was measured.  True iff

    - the head is seen but not its face: an ear has confidence >= ``threshold``, while the nose
      and both eyes are below it with finite positions (a face the frame cuts off, NaN, says
      nothing about the way the person faces);
    - both shoulders and both hips reach ``threshold``;
    - the torso's labels say "from the front": with up = mid-shoulders - mid-hips and side =
      the left shoulder and hip's midpoint - the right ones', ``up x side > 0`` in image pixels
      (y down), the sign of an upright person facing the camera, unchanged by in-plane rotation.

    Args:
        xy: (17, 2) pixels, COCO-17 order.
        confidence: (17,) in [0, 1].
        threshold: a sure joint's confidence (wildpose uses 0.3 throughout).
    """
    xy = np.asarray(xy, np.float64).reshape(COCO17.num_joints, -1)[:, :2]
    conf = np.asarray(confidence, np.float64).reshape(COCO17.num_joints)
    face, ears, torso = _COCO_FACE, _COCO_EARS, _COCO_TORSO
    if not (np.isfinite(xy[face]).all() and (conf[face] < threshold).all()
            and (conf[ears] >= threshold).any() and (conf[torso] >= threshold).all()):
        return False
    l_sh, r_sh, l_hip, r_hip = xy[torso]
    up = (l_sh + r_sh - l_hip - r_hip) / 2
    side = (l_sh + l_hip - r_sh - r_hip) / 2
    return bool(up[0] * side[1] - up[1] * side[0] > 0)


def inside_image(xy: Any, height: int, width: int) -> np.ndarray:
    """(J,) bool: which (J, 2) pixel positions lie on a ``height`` x ``width`` image (pixel
    centres at integers, so the image spans -0.5 .. size - 0.5); NaN is outside."""
    xy = np.asarray(xy, np.float64)
    return (xy[:, 0] >= -0.5) & (xy[:, 0] <= width - 0.5) & (xy[:, 1] >= -0.5) \
        & (xy[:, 1] <= height - 0.5)


def onnx_options(threads: int | None = None, spinning: bool = True) -> Any:
    """onnxruntime ``SessionOptions`` for a detector's graph: all graph optimizations, quiet
    logging, ``threads`` intra-op threads (None: onnxruntime's choice, the physical cores).

    ``spinning=False`` makes idle intra-op threads sleep instead of busy-waiting for work: a
    detector running several graphs one after another then does not have one graph's idle
    threads spinning on the cores the next graph needs.  It does not change any output.
    """
    # onnxruntime is a dependency, imported here so that `import wildpose` stays fast
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = int(threads)
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def check_image(image: Any) -> np.ndarray:
    """``image`` as a C-contiguous (H, W, 3) uint8 array, or a ValueError saying what is wrong.

    Grey (H, W) images are repeated to three channels and an alpha channel is dropped.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8:
        raise ValueError(f"image must be uint8 (0-255), got {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3) RGB, got {np.shape(image)}")
    if img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f"image is empty: shape {img.shape}")
    return np.ascontiguousarray(img)


class Detector(ABC):
    """Base class of 2D person detectors.  Subclasses implement :meth:`detect`."""

    #: Short name recorded with results, e.g. ``"mediapipe-blazepose-full"``.
    name: str = "detector"

    @abstractmethod
    def detect(self, image: np.ndarray) -> list[Detection]:
        """People in one image.

        Args:
            image: (H, W, 3) uint8 RGB.
        Returns:
            one :class:`Detection` per person found, most prominent first; ``[]`` if nobody.
        """

    def track(self, image: np.ndarray) -> list[Detection]:
        """Like :meth:`detect`, for consecutive video frames (may use the previous frames)."""
        return self.detect(image)

    def reset(self) -> None:
        """Forget any state kept from previous :meth:`track` calls (start of a new video)."""

    def close(self) -> None:
        """Release native resources; the detector is unusable afterwards."""

    def __enter__(self) -> "Detector":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextmanager
def quiet_stderr(enabled: bool = True) -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration.

    Native libraries (MediaPipe's C++ start-up logging, FFmpeg inside OpenCV) write to the
    process's stderr directly, bypassing Python's ``sys.stderr``; wildpose silences them only
    around the calls known to print start-up noise, never around a whole run.
    """
    if not enabled:
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
