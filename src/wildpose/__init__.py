"""wildpose: 3D human pose estimation from a single image, with weak supervision.

The public API (imported lazily, so ``import wildpose`` is instant and torch loads only when
a torch model is used):

* :func:`load_lifter` / :class:`Lifter` / :func:`lift` -- 2D keypoints to 3D (mm).
* :func:`evaluate_h36m` -- the Human3.6M protocol (per-action P1/P2).
* :func:`train` / :class:`TrainConfig` -- supervised training of a lifter.
* :func:`load_h36m`, :func:`read_keypoints` -- data readers.
* :mod:`wildpose.skeleton`, :mod:`wildpose.camera`, :mod:`wildpose.metrics`,
  :mod:`wildpose.geometry` -- the building blocks every method shares.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "Lifter": "api", "lift": "api", "load_lifter": "api",
    "H36MData": "datasets.h36m", "load_h36m": "datasets.h36m",
    "KeypointSet": "datasets.keypoint_files", "read_keypoints": "datasets.keypoint_files",
    "evaluate_h36m": "evaluation",
    "H36M17": "skeleton", "MPII16": "skeleton", "COCO17": "skeleton",
    "convert_layout": "skeleton", "get_layout": "skeleton",
    "TrainConfig": "training", "train": "training",
    "available_models": "zoo", "load_model": "zoo",
    "Estimator": "predict", "PredictionResult": "predict", "Person": "predict",
    "predict_path": "predict", "write_bvh": "export",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'wildpose' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
