"""wildpose: 3D human pose estimation from a single image, with weak supervision.

The public API:

* :func:`load_lifter` / :class:`Lifter` / :func:`lift` -- 2D keypoints to 3D (mm).
* :func:`evaluate_h36m` -- the Human3.6M protocol (per-action P1/P2).
* :func:`train` / :class:`TrainConfig` -- supervised training of a lifter.
* :mod:`wildpose.skeleton`, :mod:`wildpose.camera`, :mod:`wildpose.metrics`,
  :mod:`wildpose.geometry` -- the building blocks every method shares.
"""

__version__ = "0.1.0"

from .api import Lifter, lift, load_lifter
from .datasets.h36m import H36MData, load_h36m
from .datasets.keypoint_files import KeypointSet, read_keypoints
from .evaluation import evaluate_h36m
from .skeleton import COCO17, H36M17, MPII16, convert_layout, get_layout
from .training import TrainConfig, train
from .zoo import available_models, load_model

__all__ = ["Lifter", "lift", "load_lifter", "H36MData", "load_h36m", "KeypointSet",
           "read_keypoints", "evaluate_h36m", "H36M17", "MPII16", "COCO17", "convert_layout",
           "get_layout", "TrainConfig", "train", "available_models", "load_model"]
