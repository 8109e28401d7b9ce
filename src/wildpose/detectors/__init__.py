"""2D person detectors behind one small interface (:class:`Detector`).

* :class:`Detector`, :class:`Detection` -- the interface (:mod:`wildpose.detectors.base`).
* :class:`MediaPipePoseDetector` -- Google's BlazePose (full) through ``mediapipe``, whose
  wheel carries the model files, so it runs offline (:mod:`wildpose.detectors.mediapipe_pose`).
  When the whole photo shows nobody it looks again at overlapping tiles of it (``retry``
  option; :class:`~wildpose.detectors.mediapipe_pose.View` maps a tile back to the photo).

``mediapipe`` is imported only when a MediaPipe detector is built, so importing this package
(and ``wildpose``) stays fast and works without it.
"""

from __future__ import annotations

from .base import Detection, Detector, check_image
from .mediapipe_pose import BLAZEPOSE33, MediaPipePoseDetector, blazepose_to_h36m17

__all__ = ["Detection", "Detector", "check_image", "MediaPipePoseDetector", "BLAZEPOSE33",
           "blazepose_to_h36m17", "default_detector"]


def default_detector(**kwargs) -> Detector:
    """The detector used when none is given: :class:`MediaPipePoseDetector` (``kwargs`` are
    passed to it).  Raises ImportError with an install hint if mediapipe is missing."""
    return MediaPipePoseDetector(**kwargs)
