"""Images to 3D poses of everyone in them: detect people in 2D, lift them to 3D, place them in
the camera.

>>> import wildpose
>>> est = wildpose.Estimator()                  # NanoDet-g + MoveNet Thunder, the default lifter
>>> result = est.predict(image)                 # (H, W, 3) uint8 RGB, or a file path
>>> [p.keypoints_3d for p in result.people]     # (17, 3) mm each, root-relative, camera axes

:class:`Estimator` holds a 2D :class:`~wildpose.detectors.Detector` (default:
:func:`~wildpose.detectors.default_detector`, top-down, offline) and a lifter (default:
``wildpose.load_lifter()``).  It reports every person the detector finds, largest box first
(at most ``max_people``), each with 2D keypoints and confidences, a root-relative 3D pose and
the root (pelvis) position in the camera frame, all in Human3.6M-17 order.

Conventions:

* 2D keypoints are pixels with the origin at the centre of the top-left pixel (x right,
  y down).  A joint the detector could not place inside the image is *missing*: NaN here,
  ``[null, null, 0.0]`` in the JSON, never an invented position.  Joints whose confidence is
  below ``min_confidence`` are passed to the lifter as missing and are left out of the root
  fit, but are still written with their confidence so users can filter them.
* 3D poses are millimetres in camera axes (x right, y down, z away from the camera),
  relative to the pelvis.  The lifter's scale is that of an average Human3.6M adult.
* **Root translation**: the translation whose perspective projection of the 3D pose best
  matches the confident 2D keypoints (:func:`wildpose.camera.fit_root_translation`), with
  the principal point at the image centre and focal length ``focal_length`` pixels if given,
  else one assumed from a 55 degree field of view across the image's longer side
  (:func:`wildpose.camera.default_focal_length`).  Depth scales with the focal length, so an
  unknown camera gives an approximate distance.  Null when fewer than 3 joints are confident
  or the fit puts the person behind the camera.
* In a video (:meth:`Estimator.predict_frame` with a :class:`~wildpose.tracking.PoseTracker`)
  each person also carries a ``track_id`` that stays with them from frame to frame.
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from threadpoolctl import ThreadpoolController

from .camera import DEFAULT_FOV_DEGREES, default_focal_length, fit_root_translation, \
    image_center
from .api import load_lifter
from .detectors import default_detector
from .detectors.base import check_image, confident_person, inside_image, joints_box
from .media import read_image
from .metrics import plausibility
from .skeleton import H36M17, convert_layout, joint_confidence
from .tracking import PoseTracker
from .zoo import model_path, read_model_info

__all__ = ["Person", "PredictionResult", "Estimator"]


@dataclass
class Person:
    """One person's pose.

    Attributes:
        keypoints_2d: (17, 3) float32 [x, y, confidence], pixels, H36M17 order; a joint
            the detector could not place in the image is [NaN, NaN, 0].
        keypoints_3d: (17, 3) float32 mm, pelvis at the origin, camera axes; all NaN (JSON
            ``null``) for a person seen too little to lift (too few confident joints), whose
            2D is still reported.
        root_translation: (3,) float32 pelvis position in the camera frame, mm, or None.
        box: (x0, y0, x1, y1) person box in pixels (from the detector).
        score: the detector's person score.
        track_id: in a video, the person's identity across frames (None for photos).
        confidence_3d: (17,) float32 in [0, 1]: how far each 3D joint rests on a seen joint
            (the detector's confidence of a joint the lifter was given; 0 for a joint the
            lifter had to guess, e.g. an occluded leg), or None when not lifted.
        plausibility: the 3D pose's plausibility in [0, 1] (bone proportions and left/right
            symmetry against Human3.6M's mean; :func:`wildpose.metrics.plausibility`), or
            None when not lifted.
    """

    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    root_translation: np.ndarray | None
    box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    score: float = 1.0
    track_id: int | None = None
    confidence_3d: np.ndarray | None = None
    plausibility: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``keypoints_2d``, ``keypoints_3d``, ``root_translation`` and, in a
        video, ``track_id`` (2D to 0.01 px, confidence to 1e-4, 3D to 0.1 mm; a missing
        joint's position is null)."""
        kp = self.keypoints_2d
        out = {
            "keypoints_2d": [[_num(x, 2), _num(y, 2), round(float(c), 4)] for x, y, c in kp],
            "keypoints_3d": [[round(float(v), 1) for v in row] for row in self.keypoints_3d]
            if self.lifted else None,
            "root_translation": None if self.root_translation is None else
            [round(float(v), 1) for v in self.root_translation],
        }
        out["keypoints_3d_confidence"] = None if self.confidence_3d is None or not self.lifted \
            else [round(float(c), 4) for c in self.confidence_3d]
        out["plausibility"] = None if self.plausibility is None or not self.lifted \
            else round(float(self.plausibility), 4)
        if self.track_id is not None:
            out["track_id"] = int(self.track_id)
        return out

    @property
    def lifted(self) -> bool:
        """Whether the person has a 3D pose (else only 2D keypoints)."""
        return bool(np.isfinite(self.keypoints_3d).all())


@dataclass
class PredictionResult:
    """Everything found in one image (or video frame).

    Attributes:
        image: the image's name (file name, or ``"<video name>#<frame index>"``).
        width, height: image size in pixels.
        people: one :class:`Person` each, largest box first.
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



def _num(v: float, digits: int) -> float | None:
    """A JSON number rounded to ``digits``, or None (null) for a missing value."""
    v = float(v)
    return round(v, digits) if np.isfinite(v) else None


class Estimator:
    """Image -> everyone's 2D keypoints, root-relative 3D poses and root translations.

    Args:
        detector: a :class:`~wildpose.detectors.Detector` (default: a new
            :class:`~wildpose.detectors.MoveNetDetector`).
        lifter: a lifter (``wildpose.load_lifter``'s), a shipped model name or a model file
            path (default: ``wildpose.load_lifter()``'s default model; numpy backend for
            ``.safetensors`` files, so torch is not imported).  A model of architecture
            ``"zhou_image"`` (Zhou et al.'s image network, :mod:`wildpose.methods.zhou_image`)
            replaces keypoints + lifter: each detected person's box is cropped and the
            network gives 2D and 3D at once (:attr:`image_model`); the detector only finds
            the boxes.
        min_confidence: joints with a lower detector confidence are missing for the lifter
            and left out of the root fit.
        focal_length: camera focal length in pixels; None assumes a
            :data:`~wildpose.camera.DEFAULT_FOV_DEGREES` field of view across the longer
            image side.
        fov_degrees: that assumed field of view.
        max_people: report at most this many people per image (the largest); None = all.
    """

    def __init__(self, detector: Any = None, lifter: Any = None, min_confidence: float = 0.3,
                 focal_length: float | None = None,
                 fov_degrees: float = DEFAULT_FOV_DEGREES, max_people: int | None = None):
        self.image_model = None
        if lifter is not None and isinstance(lifter, (str, os.PathLike)) \
                and _is_image_network(lifter):
            # imports torch, which photos lifted by the numpy backend do not need
            from .methods.zhou_image import ZhouImagePredictor

            self.image_model = lifter = ZhouImagePredictor(lifter)
        elif lifter is None or isinstance(lifter, (str, os.PathLike)):
            backend = "torch" if str(lifter or "").endswith(".pt") else "numpy"
            lifter = load_lifter(lifter, backend=backend)
        if getattr(lifter, "window", (1, 1))[0] > 1:
            raise ValueError(f"model {lifter.info.get('name') or 'given'} is a video lifter "
                             f"(a window of {lifter.window[0]} frames); predict lifts each "
                             f"image on its own: use a single-frame model")
        self.lifter = lifter
        if focal_length is not None and not focal_length > 0:
            raise ValueError(f"focal_length must be positive, got {focal_length}")
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if detector is None:
            detector = default_detector()
        self.detector = detector
        self.min_confidence = float(min_confidence)
        self.focal_length = focal_length
        self.fov_degrees = float(fov_degrees)
        self.max_people = max_people

    def focal_for(self, width: int, height: int) -> float:
        """The focal length (pixels) used for an image of this size."""
        if self.focal_length is not None:
            return float(self.focal_length)
        return default_focal_length(width, height, self.fov_degrees)

    def predict(self, image: Any, name: str = "") -> PredictionResult:
        """Detect and lift everyone in one image: an (H, W, 3) uint8 RGB array, or an image
        file's path (then ``name`` defaults to the file name)."""
        if isinstance(image, (str, os.PathLike)):
            name = name or Path(image).name
            image = read_image(image)
        img = check_image(image)
        detections = self._largest(self.detector.detect(img))
        if self.image_model is not None:
            return self.from_image(img, detections, name)
        return self.from_detections(detections, img.shape[1], img.shape[0], name)

    def predict_frame(self, frame: Any, name: str = "",
                      tracker: PoseTracker | None = None) -> PredictionResult:
        """Like :meth:`predict` for the next frame of a video: the detector may track, and
        ``tracker`` (if given) gives each person a ``track_id`` and, if it smooths, filters
        each track's 2D keypoints before lifting."""
        img = check_image(frame)
        detections = self._largest(self.detector.track(img))
        if self.image_model is not None:  # no smoothing: 2D and 3D come from one network
            result = self.from_image(img, detections, name)
            if tracker is not None:
                ids, _ = tracker.update([p.box for p in result.people],
                                        [p.keypoints_2d[:, :2] for p in result.people],
                                        img.shape[0])
                for p, i in zip(result.people, ids):
                    p.track_id = i
            return result
        return self.from_detections(detections, img.shape[1], img.shape[0], name,
                                    tracker=tracker)

    def _largest(self, detections: Iterable[Any]) -> list[Any]:
        """Detections ordered by box area, largest first, at most ``max_people``."""
        dets = sorted(detections, key=lambda d: -max(0.0, d.box[2] - d.box[0])
                      * max(0.0, d.box[3] - d.box[1]))
        return dets if self.max_people is None else dets[:self.max_people]

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
                if not confident_person(conf, self.min_confidence):
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
                                        box if box is not None else joints_box(kp2, ok),
                                        1.0 if score is None else score))
        return result

    def from_detections(self, detections: Iterable[Any], width: int, height: int,
                        name: str = "", tracker: PoseTracker | None = None
                        ) -> PredictionResult:
        """Lift detections (any layout :func:`~wildpose.skeleton.convert_layout` knows).

        A detector joint outside the image (detectors regress positions for joints the frame
        cuts off) is missing, and so is every joint made from a missing one."""
        kps, confs, boxes, scores = [], [], [], []
        for det in detections:
            src = np.asarray(det.keypoints, np.float64)
            src = np.where(inside_image(src, height, width)[:, None], src, np.nan)
            kp, ok = convert_layout(src, det.layout, H36M17)
            # A synthesized joint is as confident as the least confident joint it is made of.
            conf = joint_confidence(det.confidence, det.layout, H36M17)
            ok = ok & np.isfinite(kp).all(-1)
            kps.append(np.where(ok[:, None], kp, np.nan))
            confs.append(np.where(ok, conf, 0.0))
            boxes.append(det.box)
            scores.append(det.score)
        return self.predict_keypoints(np.array(kps).reshape(-1, 17, 2),
                                      np.array(confs).reshape(-1, 17), width, height, name,
                                      boxes=boxes, scores=scores, tracker=tracker)

    def predict_keypoints(self, keypoints: Any, confidence: Any, width: int, height: int,
                          name: str = "", boxes: list | None = None,
                          scores: list | None = None,
                          tracker: PoseTracker | None = None) -> PredictionResult:
        """Lift given H36M17 2D keypoints (no detection): (N, 17, 2) pixels (NaN = missing)
        and (N, 17) confidences, for an image of ``width`` x ``height`` pixels."""
        kp = np.asarray(keypoints, np.float64).reshape(-1, 17, 2).copy()
        conf = np.asarray(confidence, np.float64).reshape(-1, 17)
        f = self.focal_for(width, height)
        result = PredictionResult(name, int(width), int(height), [], f)
        boxes = [tuple(b) for b in boxes] if boxes else \
            [joints_box(np.concatenate([k, c[:, None]], 1), np.isfinite(k).all(-1))
             for k, c in zip(kp, conf)]
        ids: list[int | None] = [None] * len(kp)
        if tracker is not None:
            ids, kp = tracker.update(boxes, kp, height)
        if not len(kp):
            return result
        valid = np.isfinite(kp).all(-1) & (conf >= self.min_confidence)
        # One BLAS thread for a few people: idle OpenBLAS workers spin for a while after each
        # call, and on 2 cores they took the detector's next run down to a third of its speed.
        with warnings.catch_warnings(), _one_blas_thread():
            warnings.simplefilter("ignore")      # reported below as a note, per person
            pose = self.lifter.lift(np.where(valid[..., None], kp, np.nan).astype(np.float32),
                                    "h36m17", valid=valid)
        confidence_3d = np.where(valid, conf, 0.0).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # rows not lifted are NaN: scored None below
            scores_3d = plausibility(pose) if len(pose) else np.zeros(0)
        c = image_center(width, height)
        for i in range(len(kp)):
            lifted = bool(np.isfinite(pose[i]).all())
            if not valid[i].any():
                result.notes.append(f"person {i}: no joint with confidence >= "
                                    f"{self.min_confidence:g}; left out")
                continue
            if not lifted:  # the detection is still real: report its 2D, without 3D
                result.notes.append(
                    f"person {i}: {int(valid[i].sum())} joints with confidence >= "
                    f"{self.min_confidence:g}, too few (or no torso) for the lifter; 2D only, "
                    f"keypoints_3d null")
            t = fit_root_translation(pose[i], kp[i], f, c, weights=np.where(
                valid[i], conf[i], 0.0)) if lifted else None
            kp2 = np.concatenate([kp[i], np.where(np.isfinite(kp[i]).all(-1), conf[i],
                                                  0.0)[:, None]], 1)
            result.people.append(Person(kp2.astype(np.float32), pose[i].astype(np.float32),
                                        None if t is None else t.astype(np.float32),
                                        boxes[i], float(scores[i]) if scores else 1.0,
                                        ids[i], confidence_3d[i] if lifted else None,
                                        float(scores_3d[i]) if lifted else None))
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


@functools.lru_cache(maxsize=1)
def _threadpools() -> ThreadpoolController:
    return ThreadpoolController()     # finds the loaded BLAS libraries once


def _one_blas_thread() -> Any:
    """A context limiting BLAS (numpy's OpenBLAS/MKL) to one thread."""
    return _threadpools().limit(limits=1, user_api="blas")


def _is_image_network(model: str | os.PathLike) -> bool:
    """Whether a model name or file holds Zhou et al.'s image network (architecture
    ``"zhou_image"``); read from the file's description, without building the model."""
    try:
        path = model_path(model)
    except (ValueError, FileNotFoundError):
        return False  # Lifter reports the bad name as it always has
    if path.suffix == ".pt":
        import torch  # only a .pt checkpoint needs torch to be read

        try:
            ck = torch.load(path, map_location="cpu", weights_only=True)
            return ck["model_info"].get("architecture") == "zhou_image"
        except Exception:
            return False
    try:
        return read_model_info(path).get("architecture") == "zhou_image"
    except ValueError:
        return False
