"""Images and videos to 3D poses: detect people in 2D, lift them to 3D, place them in the camera.

>>> import wildpose
>>> est = wildpose.Estimator()                  # BlazePose + the shipped lifter
>>> result = est.predict(image)                 # (H, W, 3) uint8 RGB
>>> result.people[0].keypoints_3d               # (17, 3) mm, root-relative, camera axes

:class:`Estimator` holds a 2D :class:`~wildpose.detectors.Detector` (default: MediaPipe's
BlazePose, offline) and a :class:`~wildpose.api.Lifter`.  Per person it returns the 2D
keypoints with confidences, the root-relative 3D pose and the root (pelvis) position in the
camera frame, all in Human3.6M-17 order.

Conventions:

* 2D keypoints are pixels with the origin at the centre of the top-left pixel (x right,
  y down).  Every joint has a position; joints whose confidence is below
  ``min_confidence`` are passed to the lifter as *missing* (the network was trained with
  dropped joints) and are left out of the root fit, but are still written with their
  confidence so users can filter them.
* 3D poses are millimetres in camera axes (x right, y down, z away from the camera),
  relative to the pelvis.  The lifter's scale is that of an average Human3.6M adult.
* **Root translation** is found by fitting the perspective projection of the 3D pose to the
  confident 2D keypoints over a translation t: minimize sum_j c_j |pi(P_j + t) - u_j|^2 with
  ``pi`` = :func:`wildpose.camera.camera_to_pixels`, c_j the joint's confidence.  A linear
  least-squares solution of the cross-multiplied projection equations starts a few
  Gauss-Newton steps on the true reprojection error (:func:`fit_root_translation`).  The
  camera is a pinhole with the principal point at the image centre and focal length
  ``focal_length`` pixels if given, else one assumed from a **55 degree field of view across
  the image's longer side** (f = 0.96 x the longer side; a typical phone or compact camera
  photo).  Depth scales with the focal length, so an unknown camera gives an approximate
  distance.  The translation is null when fewer than 3 joints are confident or the fit
  puts the person behind the camera.

File-level functions (:func:`predict_path`, :func:`predict_images`, :func:`predict_video`)
write, per image or video frame, ``<stem>.json`` =
``{"image", "width", "height", "people": [{"keypoints_2d", "keypoints_3d",
"root_translation"}]}`` (``keypoints_3d`` null for a person seen too little to lift), one
``.npz`` with every result, a PNG figure per image and, for a
video, an MP4 with the 2D skeleton drawn over the frames; optionally a BVH of the 3D motion.
Failures (unreadable files, frames that fail) are reported one line each and skipped; the
returned :class:`PredictSummary` says what was written and what failed.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .camera import camera_to_pixels
from .skeleton import H36M17, convert_layout

__all__ = [
    "Person", "PredictionResult", "Estimator", "fit_root_translation", "default_focal_length",
    "DEFAULT_FOV_DEGREES", "OneEuroFilter", "PredictSummary", "read_image", "predict_path",
    "predict_images", "predict_video", "draw_overlay", "unique_stems", "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
]

#: Field of view assumed across the image's longer side when no focal length is given.
DEFAULT_FOV_DEGREES = 55.0

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp")
_KEYPOINT_EXTENSIONS = (".npy", ".npz", ".json")


# --------------------------------------------------------------------------------- results
@dataclass
class Person:
    """One person's pose.

    Attributes:
        keypoints_2d: (17, 3) float32 [x, y, confidence], pixels, H36M17 order.
        keypoints_3d: (17, 3) float32 mm, pelvis at the origin, camera axes; all NaN (JSON
            ``null``) for a person seen too little to lift (too few confident joints), whose
            2D is still reported.
        root_translation: (3,) float32 pelvis position in the camera frame, mm, or None.
        box: (x0, y0, x1, y1) person box in pixels (from the detector).
        score: the detector's person score.
    """

    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    root_translation: np.ndarray | None
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: exactly ``keypoints_2d``, ``keypoints_3d``, ``root_translation``
        (2D to 0.01 px, confidence to 1e-4, 3D to 0.1 mm)."""
        kp = self.keypoints_2d
        return {
            "keypoints_2d": [[round(float(x), 2), round(float(y), 2), round(float(c), 4)]
                             for x, y, c in kp],
            "keypoints_3d": [[round(float(v), 1) for v in row] for row in self.keypoints_3d]
            if self.lifted else None,
            "root_translation": None if self.root_translation is None else
            [round(float(v), 1) for v in self.root_translation],
        }

    @property
    def lifted(self) -> bool:
        """Whether the person has a 3D pose (else only 2D keypoints)."""
        return bool(np.isfinite(self.keypoints_3d).all())

    def camera_pose(self) -> np.ndarray | None:
        """(17, 3) absolute camera-frame positions (3D + root translation), or None."""
        if self.root_translation is None or not self.lifted:
            return None
        return self.keypoints_3d + self.root_translation


@dataclass
class PredictionResult:
    """Everything found in one image (or video frame).

    Attributes:
        image: the image's name (file name, or ``"<video name>#<frame index>"``).
        width, height: image size in pixels.
        people: one :class:`Person` each, the detector's most prominent first.
        focal_length: the focal length (pixels) used for the root translations.
        notes: what was dropped and why (not part of the JSON).
    """

    image: str
    width: int
    height: int
    people: list[Person]
    focal_length: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of the issue's schema: image, width, height, people."""
        return {"image": self.image, "width": int(self.width), "height": int(self.height),
                "people": [p.to_dict() for p in self.people]}

    def to_json(self) -> str:
        """The JSON text: indented, with each array of joints on one line."""
        d = self.to_dict()
        dump = lambda v: json.dumps(v, allow_nan=False)  # noqa: E731
        people = [" {" + ",\n   ".join(f"{dump(k)}: {dump(v)}" for k, v in p.items()) + "}"
                  for p in d["people"]]
        body = ",\n  ".join(people)
        return (f'{{"image": {dump(d["image"])}, "width": {d["width"]}, '
                f'"height": {d["height"]},\n "people": [' +
                (f"\n  {body}\n ]" if people else "]") + "}\n")


# ------------------------------------------------------------------------ root translation
def default_focal_length(width: int, height: int,
                         fov_degrees: float = DEFAULT_FOV_DEGREES) -> float:
    """Focal length in pixels for a field of view of ``fov_degrees`` across the longer side."""
    return 0.5 * max(width, height) / math.tan(math.radians(fov_degrees) / 2)


def image_center(width: int, height: int) -> np.ndarray:
    """Principal point at the image centre, in wildpose's pixel-centre convention."""
    return np.array([(width - 1) / 2.0, (height - 1) / 2.0])


def fit_root_translation(pose_3d: Any, keypoints_2d: Any, focal_length: float | Any,
                         center: Any, weights: Any = None, min_joints: int = 3,
                         iterations: int = 5) -> np.ndarray | None:
    """The translation t placing a root-relative 3D pose so that its perspective projection
    best matches 2D keypoints.

    Minimizes sum_j w_j |camera_to_pixels(P_j + t, f, c) - u_j|^2: a linear least-squares
    start (the projection equations multiplied out by depth, which is exact for noise-free
    keypoints) refined by Gauss-Newton on the reprojection error.

    Args:
        pose_3d: (J, 3) mm, camera axes, root-relative (or any origin: t is added to it).
        keypoints_2d: (J, 2) pixels.
        focal_length: f in pixels, a scalar or (fx, fy).
        center: (2,) principal point, pixels.
        weights: optional (J,) non-negative joint weights; 0 (or a non-finite input) leaves a
            joint out.
        min_joints: fewer usable joints -> None.
    Returns:
        (3,) float64 translation in mm, or None if it cannot be fitted (too few joints, a
        degenerate configuration, or the pose ends up behind the camera).
    """
    P = np.asarray(pose_3d, np.float64)
    uv = np.asarray(keypoints_2d, np.float64)
    f = np.broadcast_to(np.asarray(focal_length, np.float64), (2,))
    c = np.asarray(center, np.float64)
    w = np.ones(len(P)) if weights is None else np.asarray(weights, np.float64).copy()
    ok = np.isfinite(P).all(1) & np.isfinite(uv).all(1) & np.isfinite(w) & (w > 0)
    if ok.sum() < min_joints:
        return None
    P, uv, w = P[ok], uv[ok], w[ok]
    a = (uv - c) / f                                    # normalized image coordinates
    # x: tx - a_x tz = a_x Z - X ;  y: ty - a_y tz = a_y Z - Y
    n = len(P)
    A = np.zeros((2 * n, 3))
    A[:n, 0] = 1.0
    A[n:, 1] = 1.0
    A[:n, 2] = -a[:, 0]
    A[n:, 2] = -a[:, 1]
    b = np.concatenate([a[:, 0] * P[:, 2] - P[:, 0], a[:, 1] * P[:, 2] - P[:, 1]])
    sw = np.sqrt(np.concatenate([w, w]))
    try:
        t, *_ = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)
    except np.linalg.LinAlgError:
        return None
    if not np.isfinite(t).all():
        return None
    for _ in range(iterations):                       # Gauss-Newton on pixels
        Q = P + t
        z = Q[:, 2]
        if (z <= 1.0).any():
            break
        r = (camera_to_pixels(Q, f, c, distortion=False) - uv).T.reshape(-1)   # x.., y..
        J = np.zeros((2 * n, 3))
        J[:n, 0] = f[0] / z
        J[:n, 2] = -f[0] * Q[:, 0] / z ** 2
        J[n:, 1] = f[1] / z
        J[n:, 2] = -f[1] * Q[:, 1] / z ** 2
        try:
            step, *_ = np.linalg.lstsq(J * sw[:, None], -r * sw, rcond=None)
        except np.linalg.LinAlgError:
            break
        t = t + step
        if np.abs(step).max() < 1e-6:
            break
    if not np.isfinite(t).all() or ((P + t)[:, 2] <= 1.0).any():
        return None
    return t


# ------------------------------------------------------------------------------ smoothing
class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel and Vogel, CHI 2012) over arrays of any shape.

    A low-pass filter whose cut-off frequency rises with the signal's speed: jitter is
    smoothed while the signal is slow, lag stays small when it moves fast.  Each element is
    filtered independently.  Units: ``values / scale`` per second for ``beta``; the video
    pipeline filters 2D keypoints with ``scale`` = the image height, so ``beta`` is per
    image-height-per-second and the filter behaves the same at every resolution.

    Args:
        fps: samples per second.
        min_cutoff: cut-off (Hz) at rest; lower = smoother, more lag.
        beta: how fast the cut-off rises with speed.
        d_cutoff: cut-off (Hz) of the speed estimate.
        scale: values are divided by this before the speed is taken.
    """

    def __init__(self, fps: float, min_cutoff: float = 1.0, beta: float = 5.0,
                 d_cutoff: float = 1.0, scale: float = 1.0):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps, self.min_cutoff, self.beta, self.d_cutoff = fps, min_cutoff, beta, d_cutoff
        self.scale = scale
        self.reset()

    def reset(self) -> None:
        """Forget the past (e.g. after frames with nobody in them)."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None

    def _alpha(self, cutoff: Any) -> Any:
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * self.fps)

    def __call__(self, x: Any) -> np.ndarray:
        x = np.asarray(x, np.float64) / self.scale
        if self._x is None or self._x.shape != x.shape:
            self._x, self._dx = x.copy(), np.zeros_like(x)
            return x * self.scale
        dx = (x - self._x) * self.fps
        a_d = self._alpha(self.d_cutoff)
        self._dx = a_d * dx + (1 - a_d) * self._dx
        a = self._alpha(self.min_cutoff + self.beta * np.abs(self._dx))
        self._x = a * x + (1 - a) * self._x
        return self._x * self.scale


# ------------------------------------------------------------------------------ estimator
class Estimator:
    """Image -> people's 2D keypoints, root-relative 3D poses and root translations.

    Args:
        detector: a :class:`~wildpose.detectors.Detector` (default: a new
            :class:`~wildpose.detectors.MediaPipePoseDetector`).
        lifter: a :class:`~wildpose.api.Lifter`, a shipped model name or a model file path
            (default: the shipped default model; numpy backend for ``.safetensors`` files, so
            torch is not imported).  A model of architecture ``"zhou_image"`` (Zhou et al.'s
            image network, :mod:`wildpose.methods.zhou_image`) replaces keypoints + lifter:
            each detected person's box is cropped and the network gives 2D and 3D at once
            (:attr:`image_model`); the detector only finds the boxes.
        min_confidence: joints with a lower detector confidence are missing for the lifter
            and left out of the root fit.
        focal_length: camera focal length in pixels; None assumes a
            :data:`DEFAULT_FOV_DEGREES` field of view across the longer image side.
        fov_degrees: that assumed field of view.
    """

    def __init__(self, detector: Any = None, lifter: Any = None, min_confidence: float = 0.3,
                 focal_length: float | None = None,
                 fov_degrees: float = DEFAULT_FOV_DEGREES):
        from .api import Lifter

        self.image_model = None
        if lifter is not None and isinstance(lifter, (str, os.PathLike)) \
                and _is_image_network(lifter):
            from .methods.zhou_image import ZhouImagePredictor

            self.image_model = lifter = ZhouImagePredictor(lifter)
        elif lifter is None or isinstance(lifter, (str, os.PathLike)):
            backend = "torch" if str(lifter or "").endswith(".pt") else "numpy"
            lifter = Lifter(lifter, backend=backend)
        if getattr(lifter, "window", (1, 1))[0] > 1:
            raise ValueError(f"model {lifter.info.get('name') or 'given'} is a video lifter "
                             f"(a window of {lifter.window[0]} frames); predict lifts each "
                             f"image on its own: use a single-frame model such as h36m-gt")
        self.lifter = lifter
        if detector is None:
            from .detectors import default_detector

            detector = default_detector()
        self.detector = detector
        if focal_length is not None and not focal_length > 0:
            raise ValueError(f"focal_length must be positive, got {focal_length}")
        self.min_confidence = float(min_confidence)
        self.focal_length = focal_length
        self.fov_degrees = float(fov_degrees)

    def focal_for(self, width: int, height: int) -> float:
        """The focal length (pixels) used for an image of this size."""
        if self.focal_length is not None:
            return float(self.focal_length)
        return default_focal_length(width, height, self.fov_degrees)

    def predict(self, image: Any, name: str = "") -> PredictionResult:
        """Detect and lift everyone in one image: an (H, W, 3) uint8 RGB array, or an image
        file's path (then ``name`` defaults to the file name)."""
        from .detectors.base import check_image

        if isinstance(image, (str, os.PathLike)):
            name = name or Path(image).name
            image = read_image(image)
        img = check_image(image)
        if self.image_model is not None:
            return self.from_image(img, self.detector.detect(img), name)
        return self.from_detections(self.detector.detect(img), img.shape[1], img.shape[0],
                                    name)

    def predict_frame(self, frame: Any, name: str = "",
                      smoother: OneEuroFilter | None = None) -> PredictionResult:
        """Like :meth:`predict` for the next frame of a video: the detector may track, and
        ``smoother`` (if given) filters the first person's 2D keypoints before lifting (it is
        reset on frames with nobody)."""
        from .detectors.base import check_image

        img = check_image(frame)
        if self.image_model is not None:  # no smoothing: 2D and 3D come from one network
            return self.from_image(img, self.detector.track(img), name)
        return self.from_detections(self.detector.track(img), img.shape[1], img.shape[0],
                                    name, smoother=smoother)

    def from_image(self, image: np.ndarray, detections: list[Any], name: str = ""
                   ) -> PredictionResult:
        """People in one image with the image network (:attr:`image_model`): each
        detection's box is cropped and run through it.  With no detection, the whole image
        is tried as one crop, and the person is kept only if the median joint confidence
        (heatmap peak) reaches ``min_confidence`` (so an empty picture stays empty)."""
        h, w = image.shape[:2]
        f = self.focal_for(w, h)
        result = PredictionResult(name, int(w), int(h), [], f)
        boxes = [(tuple(d.box), float(d.score)) for d in detections] or [(None, None)]
        c = image_center(w, h)
        for box, score in boxes:
            kp, conf, pose = self.image_model.predict(image, box)
            if box is None:
                if np.median(conf) < self.min_confidence:
                    result.notes.append("nobody detected, and the image network is not "
                                        "confident on the whole image")
                    continue
                result.notes.append("nobody detected: the image network ran on the whole "
                                    "image")
            ok = conf >= self.min_confidence
            t = fit_root_translation(pose, kp, f, c, weights=np.where(ok, conf, 0.0))
            kp2 = np.concatenate([kp, conf[:, None]], 1).astype(np.float32)
            result.people.append(Person(kp2, pose.astype(np.float32),
                                        None if t is None else t.astype(np.float32),
                                        box if box is not None else _box_of(kp2, ok),
                                        1.0 if score is None else score))
        return result

    def from_detections(self, detections: Iterable[Any], width: int, height: int,
                        name: str = "",
                        smoother: OneEuroFilter | None = None) -> PredictionResult:
        """Lift detections (any layout :func:`~wildpose.skeleton.convert_layout` knows)."""
        kps, confs, boxes, scores = [], [], [], []
        for det in detections:
            kp, ok = convert_layout(np.asarray(det.keypoints, np.float64), det.layout, H36M17)
            # A synthesized joint is as confident as the least confident joint it is made of.
            conf = _min_confidence_of_sources(det)
            kps.append(np.where(ok[:, None], kp, np.nan))
            confs.append(np.where(ok, conf, 0.0))
            boxes.append(det.box)
            scores.append(det.score)
        return self.predict_keypoints(np.array(kps).reshape(-1, 17, 2),
                                      np.array(confs).reshape(-1, 17), width, height, name,
                                      boxes=boxes, scores=scores, smoother=smoother)

    def predict_keypoints(self, keypoints: Any, confidence: Any, width: int, height: int,
                          name: str = "", boxes: list | None = None,
                          scores: list | None = None,
                          smoother: OneEuroFilter | None = None) -> PredictionResult:
        """Lift given H36M17 2D keypoints (no detection): (N, 17, 2) pixels (NaN = missing)
        and (N, 17) confidences, for an image of ``width`` x ``height`` pixels."""
        kp = np.asarray(keypoints, np.float64).reshape(-1, 17, 2).copy()
        conf = np.asarray(confidence, np.float64).reshape(-1, 17)
        f = self.focal_for(width, height)
        result = PredictionResult(name, int(width), int(height), [], f)
        if smoother is not None:
            if len(kp) and np.isfinite(kp[0]).all():
                kp[0] = smoother(kp[0])
            else:
                smoother.reset()
        if not len(kp):
            return result
        valid = np.isfinite(kp).all(-1) & (conf >= self.min_confidence)
        with warnings.catch_warnings():          # reported below as a note, per person
            warnings.simplefilter("ignore")
            pose = self.lifter.lift(np.where(valid[..., None], kp, np.nan).astype(np.float32),
                                    "h36m17", valid=valid)
        c = image_center(width, height)
        for i in range(len(kp)):
            lifted = bool(np.isfinite(pose[i]).all())
            if not valid[i].any():
                result.notes.append(f"person {i}: no joint with confidence >= "
                                    f"{self.min_confidence:g}; left out")
                continue
            if not lifted:  # the detection is still real: report its 2D, without 3D
                result.notes.append(
                    f"person {i}: only {int(valid[i].sum())} joints with confidence >= "
                    f"{self.min_confidence:g} (the lifter needs "
                    f"{self.lifter.min_valid_joints}); 2D only, keypoints_3d null")
            t = fit_root_translation(pose[i], kp[i], f, c, weights=np.where(
                valid[i], conf[i], 0.0)) if lifted else None
            kp2 = np.concatenate([np.nan_to_num(kp[i]), conf[i][:, None]], 1)
            box = tuple(boxes[i]) if boxes else _box_of(kp2, valid[i])
            result.people.append(Person(kp2.astype(np.float32), pose[i].astype(np.float32),
                                        None if t is None else t.astype(np.float32), box,
                                        float(scores[i]) if scores else 1.0))
        return result

    def reset(self) -> None:
        """Start a new video (the detector forgets the previous frames)."""
        self.detector.reset()

    def close(self) -> None:
        self.detector.close()

    def __enter__(self) -> "Estimator":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _is_image_network(model: str | os.PathLike) -> bool:
    """Whether a model name or file holds Zhou et al.'s image network (architecture
    ``"zhou_image"``); read from the file's description, without building the model."""
    from .zoo import model_path, read_model_info

    try:
        path = model_path(model)
    except (ValueError, FileNotFoundError):
        return False  # Lifter reports the bad name as it always has
    if path.suffix == ".pt":
        import torch

        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
            return ck["model_info"].get("architecture") == "zhou_image"
        except Exception:
            return False
    try:
        return read_model_info(path).get("architecture") == "zhou_image"
    except ValueError:
        return False


def _min_confidence_of_sources(det: Any) -> np.ndarray:
    """Per H36M17 joint, the lowest confidence among the detection's joints it is made of
    (0 for a joint the detection's layout cannot make)."""
    from .skeleton import layout_conversion

    conf = np.asarray(det.confidence, np.float64)
    used = layout_conversion(det.layout, H36M17).weights != 0
    out = np.where(used, conf[None, :], np.inf).min(1)
    return np.where(np.isfinite(out), out, 0.0)


def _box_of(kp2: np.ndarray, valid: np.ndarray) -> tuple[float, float, float, float]:
    pts = kp2[valid, :2] if valid.any() else kp2[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


# ---------------------------------------------------------------------------- file reading
def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Raises ValueError with a one-line reason for a missing, unreadable, truncated or
    non-image file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()                       # decodes everything: truncation raises here
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read image ({_one_line(e)})") from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"{path}: empty image")
    return np.ascontiguousarray(rgb)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


# ----------------------------------------------------------------------------- file output
@dataclass
class PredictSummary:
    """What :func:`predict_path` did.

    Attributes:
        written: JSON files written (one per image or video frame).
        failed: (source, one-line reason) per failed file, frame or output.
        people: people found in total.
        outputs: every file written (JSON, NPZ, PNG, MP4, BVH).
    """

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    people: int = 0
    outputs: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def merge(self, other: "PredictSummary") -> "PredictSummary":
        self.written += other.written
        self.failed += other.failed
        self.people += other.people
        self.outputs += other.outputs
        return self


def _stderr(msg: str) -> None:
    try:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(msg, file=sys.stderr)


def _fail(summary: PredictSummary, report: Callable[[str], None], source: str,
          reason: str) -> None:
    reason = " ".join(str(reason).split())
    summary.failed.append((source, reason))
    report(f"wildpose: {source}: {reason}" if not reason.startswith(source)
           else f"wildpose: {reason}")


def _write_json(path: Path, result: PredictionResult) -> Path:
    path.write_text(result.to_json())
    return path


def _save_npz(path: Path, results: list[PredictionResult], **extra: Any) -> Path:
    """One NPZ for many images/frames: per-image rows and per-person rows."""
    rows = [(i, p) for i, r in enumerate(results) for p in r.people]
    m = len(rows)
    kp2 = np.array([p.keypoints_2d for _, p in rows], np.float32).reshape(m, 17, 3)
    kp3 = np.array([p.keypoints_3d for _, p in rows], np.float32).reshape(m, 17, 3)
    rt = np.array([p.root_translation if p.root_translation is not None
                   else np.full(3, np.nan) for _, p in rows], np.float32).reshape(m, 3)
    np.savez_compressed(
        path,
        images=np.array([r.image for r in results], dtype=str),
        width=np.array([r.width for r in results], np.int32),
        height=np.array([r.height for r in results], np.int32),
        focal_length=np.array([r.focal_length for r in results], np.float32),
        num_people=np.array([len(r.people) for r in results], np.int32),
        person_image=np.array([i for i, _ in rows], np.int32),
        keypoints_2d=kp2, keypoints_3d=kp3, root_translation=rt,
        joints=np.array(H36M17.joints, dtype=str), **extra)
    return path


def unique_stems(files: Iterable[str | os.PathLike], taken: set[str] | None = None
                 ) -> list[str]:
    """Output names for ``files`` written into one folder, none the same: the file stems,
    a.jpg and a.png becoming a_jpg and a_png, and a stem already in ``taken`` (names used
    earlier in the same run, e.g. one folder's a.jpg and another's) getting _2, _3, ...
    The names returned are added to ``taken``."""
    files = [Path(f) for f in files]
    taken = set() if taken is None else taken
    stems = [f.stem for f in files]
    kinds = [(f.stem, f.suffix.lower()) for f in files]

    def base(f: Path) -> str:  # the extension tells same-stem files apart where it can
        if stems.count(f.stem) > 1 and kinds.count((f.stem, f.suffix.lower())) == 1:
            return f"{f.stem}_{f.suffix.lstrip('.').lower()}"
        return f.stem

    return [_unused_name(base(f), taken) for f in files]


def _unused_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... if taken; the name is then taken."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def _not_onto(path: Path, sources: set[Path], suffix: str) -> Path:
    """``path``, or ``<stem><suffix>`` beside it if ``path`` is one of the input files."""
    try:
        if path.resolve() in sources:
            return path.with_name(path.stem + suffix + path.suffix)
    except OSError:
        pass
    return path


def _save_png(path: Path, result: PredictionResult, image: np.ndarray,
              min_confidence: float) -> list[Path]:
    from .visualize import save_pose_png

    out = []
    n = len(result.people)
    for i, p in enumerate(result.people):
        target = path if n == 1 else path.with_name(f"{path.stem}_{i}{path.suffix}")
        title = result.image if n == 1 else f"{result.image} (person {i})"
        save_pose_png(target, p.keypoints_2d[:, :2], p.keypoints_3d, H36M17,
                      p.keypoints_2d[:, 2] >= min_confidence, image, title=title)
        out.append(target)
    return out


def predict_images(files: list[Path], outdir: str | os.PathLike, estimator: Estimator, *,
                   npz_name: str | None = None, png: bool = True, bvh: bool = False,
                   progress: bool = True, report: Callable[[str], None] = _stderr,
                   taken: set[str] | None = None) -> PredictSummary:
    """Predict every image file: ``<stem>.json`` (+ ``<stem>.png``, ``<stem>.bvh``) each, and
    ``<npz_name>.npz`` with all results (default: the single image's stem, or "predictions").
    A file that fails is reported and skipped.  ``taken``: output names already used in this
    run, which these files' names avoid (:func:`unique_stems`)."""
    from tqdm import tqdm

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = PredictSummary()
    sources = {f.resolve() for f in files}
    results: list[PredictionResult] = []
    taken = set() if taken is None else taken
    stems = unique_stems(files, taken)
    bar = tqdm(list(zip(files, stems)), desc="images", unit="image", disable=not progress,
               file=sys.stderr, leave=False)
    for path, stem in bar:
        try:
            image = read_image(path)
            result = estimator.predict(image, name=path.name)
        except Exception as e:  # one bad file must not stop the others
            _fail(summary, report, str(path), _one_line(e))
            continue
        for note in result.notes:
            report(f"wildpose: {path}: {note}")
        try:
            summary.written.append(_write_json(outdir / f"{stem}.json", result))
            summary.outputs.append(summary.written[-1])
        except OSError as e:
            _fail(summary, report, str(path), f"cannot write its JSON ({_one_line(e)})")
            continue
        results.append(result)
        summary.people += len(result.people)
        if png and result.people:
            try:
                summary.outputs += _save_png(_not_onto(outdir / f"{stem}.png", sources, "_pose"),
                                             result, image, estimator.min_confidence)
            except Exception as e:
                _fail(summary, report, str(path), f"cannot draw its PNG ({_one_line(e)})")
        lifted = [p for p in result.people if p.lifted]
        if bvh and lifted:
            from .export import write_bvh

            p = lifted[0]
            try:
                summary.outputs.append(write_bvh(outdir / f"{stem}.bvh", p.keypoints_3d[None],
                                                 root_translation=None))
            except (OSError, ValueError) as e:
                _fail(summary, report, str(path), f"cannot write its BVH ({_one_line(e)})")
    bar.close()
    if results:
        name = stems[0] if len(files) == 1 and not npz_name else \
            _unused_name(npz_name or "predictions", taken)
        try:
            summary.outputs.append(_save_npz(outdir / f"{name}.npz", results))
        except OSError as e:
            _fail(summary, report, str(outdir / f"{name}.npz"), f"cannot write ({_one_line(e)})")
    return summary


# ------------------------------------------------------------------------------ video
_BGR = {"left": (180, 119, 31), "right": (40, 39, 214), "center": (85, 85, 85)}


def _h36m_edge_colors() -> list[tuple[int, int, int]]:
    out = []
    for name in H36M17.bone_names:
        side = "left" if name.startswith("left") else "right" if name.startswith("right") \
            else "center"
        out.append(_BGR[side])
    return out


def draw_overlay(frame_bgr: np.ndarray, result: PredictionResult,
                 min_confidence: float = 0.3) -> np.ndarray:
    """Draw each person's 2D skeleton on a BGR frame (in place) and, top right, small front
    and side views of the first person's 3D pose.  Returns the frame."""
    import cv2

    h, w = frame_bgr.shape[:2]
    colors = _h36m_edge_colors()
    thick = max(2, round(min(h, w) / 240))
    for p in result.people:
        kp = p.keypoints_2d
        ok = kp[:, 2] >= min_confidence
        for (a, b), col in zip(H36M17.edges, colors):
            if ok[a] and ok[b]:
                cv2.line(frame_bgr, (int(round(kp[a, 0])), int(round(kp[a, 1]))),
                         (int(round(kp[b, 0])), int(round(kp[b, 1]))), col, thick, cv2.LINE_AA)
        for j in np.flatnonzero(ok):
            cv2.circle(frame_bgr, (int(round(kp[j, 0])), int(round(kp[j, 1]))), thick + 1,
                       (255, 255, 255), -1, cv2.LINE_AA)
    if result.people and result.people[0].lifted:
        size = max(40, min(h, w) // 4)
        pose = result.people[0].keypoints_3d.astype(np.float64)
        for k, (axis, label) in enumerate(((0, "front"), (2, "side"))):
            x0 = w - (2 - k) * (size + 4)
            y0 = 4
            if x0 < 0:
                break
            roi = frame_bgr[y0:y0 + size, x0:x0 + size]
            roi[:] = (roi * 0.35 + 255 * 0.65).astype(np.uint8)
            # 2.2 m across the panel, pelvis at its centre; up = -y.
            s = size / 2200.0
            pts = np.stack([x0 + size / 2 + pose[:, axis] * s,
                            y0 + size / 2 + pose[:, 1] * s], 1)
            for (a, b), col in zip(H36M17.edges, colors):
                cv2.line(frame_bgr, (int(pts[a, 0]), int(pts[a, 1])),
                         (int(pts[b, 0]), int(pts[b, 1])), col, max(1, thick - 1), cv2.LINE_AA)
            cv2.putText(frame_bgr, label, (x0 + 3, y0 + size - 5), cv2.FONT_HERSHEY_SIMPLEX,
                        max(0.3, size / 300), (60, 60, 60), 1, cv2.LINE_AA)
    return frame_bgr


def predict_video(path: str | os.PathLike, outdir: str | os.PathLike, estimator: Estimator, *,
                  smooth: bool = False, bvh: bool = False, mp4: bool = True,
                  progress: bool = True, max_frames: int | None = None,
                  report: Callable[[str], None] = _stderr,
                  taken: set[str] | None = None) -> PredictSummary:
    """Predict every frame of a video (``taken``: as for :func:`predict_images`).

    Writes ``OUTDIR/<stem>/<stem>_<frame:06d>.json`` per frame, ``OUTDIR/<stem>.npz`` (all
    frames; ``frame`` holds the frame indices, ``fps`` the frame rate), ``OUTDIR/<stem>.mp4``
    (``<stem>_pose.mp4`` if that is the input) with the skeleton drawn over the frames, and
    with ``bvh`` ``OUTDIR/<stem>.bvh`` of the first person's motion.  The detector tracks the
    person from frame to frame; ``smooth`` also runs a :class:`OneEuroFilter` (min cut-off
    1 Hz, beta 5 per image height per second) over the first person's 2D keypoints before
    lifting, so the 3D poses and root translations are smoothed with them.
    """
    from tqdm import tqdm

    path, outdir = Path(path), Path(outdir)
    summary = PredictSummary()
    try:
        import cv2
    except ImportError as e:
        _fail(summary, report, str(path), f"reading videos needs OpenCV ({_one_line(e)}); it "
              f"comes with `pip install 'wildpose[detect]'`")
        return summary
    if not path.is_file():
        _fail(summary, report, str(path), "no such file")
        return summary
    from .detectors.base import quiet_stderr

    with quiet_stderr():                     # FFmpeg logs its own line for a bad file
        cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        cap.release()
        _fail(summary, report, str(path), "cannot open video (unknown format or codec)")
        return summary
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = float(fps) if fps and np.isfinite(fps) and 0 < fps < 1000 else 30.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    if max_frames is not None:
        total = min(total, max_frames) if total > 0 else max_frames
    stem = unique_stems([path], taken)[0]
    frame_dir = outdir / stem
    frame_dir.mkdir(parents=True, exist_ok=True)
    estimator.reset()
    smoother = None
    writer = None
    mp4_path = _not_onto(outdir / f"{stem}.mp4", {path.resolve()}, "_pose")
    results: list[PredictionResult] = []
    frames: list[int] = []
    bar = tqdm(total=total or None, desc=path.name, unit="frame", disable=not progress,
               file=sys.stderr, leave=False)
    index = 0
    try:
        while max_frames is None or index < max_frames:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            bar.update(1)
            name = f"{path.name}#{index}"
            try:
                rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                if smooth and smoother is None:
                    smoother = OneEuroFilter(fps, min_cutoff=1.0, beta=5.0,
                                             scale=float(rgb.shape[0]))
                result = estimator.predict_frame(rgb, name=name, smoother=smoother)
                summary.written.append(_write_json(frame_dir / f"{stem}_{index:06d}.json",
                                                   result))
                summary.outputs.append(summary.written[-1])
            except Exception as e:  # a bad frame is skipped, the video goes on
                _fail(summary, report, f"{path} frame {index}", _one_line(e))
                result = None
            if result is not None:
                results.append(result)
                frames.append(index)
                summary.people += len(result.people)
            if mp4:
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(mp4_path), cv2.VideoWriter_fourcc(*"mp4v"),
                                             fps, (w, h))
                    if not writer.isOpened():
                        _fail(summary, report, str(mp4_path), "cannot write the MP4 "
                              "(no mp4v encoder in this OpenCV build)")
                        mp4 = False
                if mp4:
                    if result is not None:
                        draw_overlay(frame, result, estimator.min_confidence)
                    writer.write(frame)
            index += 1
    finally:
        bar.close()
        cap.release()
        if writer is not None:
            writer.release()
            if mp4:
                summary.outputs.append(mp4_path)
    if index == 0:
        _fail(summary, report, str(path), "no frame could be decoded")
        return summary
    if total and max_frames is None and index < total:
        _fail(summary, report, str(path), f"decoding stopped at frame {index} of {total}; "
              f"the frames read were written")
    if results:
        try:
            summary.outputs.append(_save_npz(outdir / f"{stem}.npz", results,
                                             frame=np.array(frames, np.int32),
                                             fps=np.float32(fps)))
        except OSError as e:
            _fail(summary, report, str(outdir / f"{stem}.npz"), f"cannot write ({_one_line(e)})")
    if bvh:
        from .export import write_bvh

        poses = np.full((index, 17, 3), np.nan)
        roots = np.full((index, 3), np.nan)
        for f, r in zip(frames, results):
            if r.people:
                poses[f] = r.people[0].keypoints_3d
                if r.people[0].root_translation is not None:
                    roots[f] = r.people[0].root_translation
        try:
            summary.outputs.append(write_bvh(outdir / f"{stem}.bvh", poses, fps=fps,
                                             root_translation=roots))
        except (OSError, ValueError) as e:
            _fail(summary, report, str(outdir / f"{stem}.bvh"), _one_line(e))
    return summary


# ------------------------------------------------------------------------------- dispatch
def predict_path(path: str | os.PathLike, outdir: str | os.PathLike = "out",
                 estimator: Estimator | None = None, *, png: bool = True, bvh: bool = False,
                 smooth: bool = False, progress: bool = True,
                 report: Callable[[str], None] = _stderr,
                 taken: set[str] | None = None) -> PredictSummary:
    """Predict an image file, a folder of images (not recursive) or a video file.

    Args:
        path: the input.
        outdir: output folder (created).
        estimator: an :class:`Estimator` (default: a new one with the default detector and
            lifter).
        png: draw a PNG figure per image (the slowest part for photos).
        bvh: also write BVH motion (one frame per image, the whole sequence for a video).
        smooth: temporal smoothing for videos (ignored for images).
        progress: show a progress bar on stderr.
        report: where one-line failure messages go (default: stderr).
        taken: output names already used in this run (several inputs into one folder):
            this input's names avoid them, and are added (:func:`unique_stems`).
    Returns:
        a :class:`PredictSummary`; ``summary.ok`` is False if anything failed.
    """
    path = Path(path)
    summary = PredictSummary()
    if Path(outdir).exists() and not Path(outdir).is_dir():
        _fail(summary, report, str(outdir), "is a file, not an output folder")
        return summary
    if not path.exists():
        _fail(summary, report, str(path), "no such file or folder")
        return summary
    if path.is_file() and path.suffix.lower() in _KEYPOINT_EXTENSIONS:
        _fail(summary, report, str(path), "a keypoint file, not an image: lift it with "
              "`wildpose lift`")
        return summary
    if estimator is None:
        estimator = Estimator()
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            _fail(summary, report, str(path), "folder holds no images (looked for "
                  f"{', '.join(IMAGE_EXTENSIONS)})")
            return summary
        return predict_images(files, outdir, estimator, npz_name=path.resolve().name or
                              "predictions", png=png, bvh=bvh, progress=progress,
                              report=report, taken=taken)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return predict_video(path, outdir, estimator, smooth=smooth, bvh=bvh,
                             progress=progress, report=report, taken=taken)
    return predict_images([path], outdir, estimator, png=png, bvh=bvh, progress=progress,
                          report=report, taken=taken)
