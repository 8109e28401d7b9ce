"""The Python API: load a lifter and lift 2D keypoints to 3D.

>>> import wildpose
>>> lifter = wildpose.load_lifter()                  # the shipped default model
>>> pose_3d = lifter.lift(keypoints, layout="coco17")  # (N, 17, 3) mm, H36M17 order
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .normalization import normalize_2d
from .skeleton import H36M17, Skeleton, convert_layout, flip_pose, get_layout, has_torso
from .temporal import check_window_steps, window_indices
from .zoo import NUMPY_ARCHITECTURES, load_model, load_numpy_model, model_path, read_model_info

__all__ = ["Lifter", "load_lifter", "lift", "PRECISIONS"]

PRECISIONS = ("fp32", "bf16")
"""What :class:`Lifter` computes in: float32, or bfloat16 matrix products (faster)."""


class Lifter:
    """A trained 2D-to-3D lifter with its input handling.

    Args:
        model: a shipped model name, a model/checkpoint path, or a loaded module
            (default: the shipped default model).
        device: "auto" (GPU if there is one), "cpu", "cuda", ...
        backend: "torch", "numpy" (CPU only, residual-MLP model files; it never imports
            torch, so a one-off lift starts in a fraction of a second), or "auto" (numpy
            where it can, else torch).
        flip_test: also lift the mirrored pose and average (about 1 mm better, 2x the work).
        window_steps: a video lifter reads its window at each of these steps (frames
            apart, in place of the model's ``window_step``) and averages the readings: a
            test-time augmentation of speed, as if the motion were a little slower or faster
            (``len(window_steps)`` times the work).  An ensemble's members scale alike: at
            step 5 a member trained 8 apart reads frames 10 apart.  None: the steps the
            model file recommends (``info["test_window_steps"]``), else its own step.
        min_valid_joints: poses with fewer valid joints are not lifted (their rows are NaN).
        require_torso: poses without a torso -- both hips and both shoulders, or what the
            input layout defines as its torso (``Skeleton.torso``) -- are not lifted either:
            a lifter would have to invent the body's frame.  Both rules apply.
        batch_size: poses per forward pass.
        precision: "fp32" (default) or "bf16" (torch backend only: matrix products in
            bfloat16 with float32 accumulation; about twice the poses/s on CPUs with AVX-512
            BF16 and on recent GPUs, for an error that BENCHMARKS.md measures; on GPUs without
            bfloat16, float16).  The numpy backend computes in float32 only.
    """

    def __init__(self, model: Any = None, device: str = "auto", flip_test: bool = True,
                 min_valid_joints: int = 6, batch_size: int = 8192, backend: str = "torch",
                 precision: str = "fp32", window_steps: Any = None,
                 require_torso: bool = True):
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: use "
                             f"{' or '.join(PRECISIONS)}")
        if backend == "auto":
            # Only torch computes in bfloat16.
            backend = _auto_backend(model, device) if precision == "fp32" else "torch"
        if backend == "numpy" and precision != "fp32":
            raise ValueError(f"the numpy backend computes in float32 only, not {precision!r}: "
                             f"use backend 'torch'")
        if backend == "numpy":
            if device not in ("auto", "cpu"):
                raise ValueError(f"the numpy backend runs on the CPU only, not {device!r}")
            self.device = None
            self.model = load_numpy_model(model)
        elif backend == "torch":
            # torch is optional at start-up: the numpy backend and --help do not need it
            import torch

            from .device import autocast_dtype, resolve_device  # imports torch

            self.device = resolve_device(device)
            self._autocast = autocast_dtype(precision, self.device)
            self.model = model.to(self.device).eval() if isinstance(model, torch.nn.Module) \
                else load_model(model, self.device)
        else:
            raise ValueError(f"unknown backend {backend!r}: use 'torch' or 'numpy'")
        if getattr(self.model, "info", {}).get("architecture") == "zhou_image":
            raise ValueError(f"model {model} is an image network (pixels in, not 2D "
                             f"keypoints): use wildpose.Estimator(model=...) or "
                             f"`wildpose predict --model ...`")
        self.backend = backend
        self.precision = precision
        self.flip_test = flip_test
        self.window_steps = self._window_steps(model, window_steps)
        self.min_valid_joints = min_valid_joints
        self.require_torso = require_torso
        self.batch_size = batch_size

    @property
    def info(self) -> dict[str, Any]:
        """The model's description (training data, inputs, validation curve, ...)."""
        return getattr(self.model, "info", {})

    def _config(self) -> dict[str, Any]:
        """The network's architecture options (a loaded module's or a model file's)."""
        return self.model.config.to_dict() if hasattr(self.model, "config") \
            else self.info.get("config", {})

    @property
    def window(self) -> tuple[int, int]:
        """(frames, step): (1, 1) for a single-image lifter; (W, step) for a video lifter
        that reads W frames ``step`` frames apart around each frame it lifts."""
        cfg = self._config()
        return int(cfg.get("window", 1)), int(cfg.get("window_step", 1))

    def _window_steps(self, model: Any, steps: Any) -> tuple[int, ...]:
        """The steps a video lifter's window is read at (validated); (1,) for one frame."""
        frames, step = self.window
        explicit = steps is not None
        if steps is None:
            steps = self.info.get("test_window_steps") or (step,)
        steps = check_window_steps(steps)
        if frames == 1:
            if explicit and steps != (1,):
                raise ValueError(f"window_steps needs a video lifter; model {model} reads "
                                 f"one frame")
            return (1,)
        return steps

    def lift(self, keypoints: Any, layout: str = "h36m17", valid: Any = None,
             confidence: Any = None, min_confidence: float = 0.0, sequence: Any = None,
             frame: Any = None) -> np.ndarray:
        """Lift 2D keypoints to root-relative 3D.

        Args:
            keypoints: (N, J, 2) or (J, 2) pixels in ``layout`` (any image size); NaN marks a
                missing joint.
            layout: joint layout of the input ("h36m17", "coco17", "mpii16", or aliases).
            valid: optional (N, J) bool of present joints.
            confidence: optional (N, J) detector confidences; joints with confidence below
                ``min_confidence`` count as missing.
            sequence, frame: for a video lifter (``window[0] > 1``), the (N,) video each row
                belongs to and its (N,) frame index; by default all rows are one video, in
                order.  A single-image lifter ignores them.
        Returns:
            (N, 17, 3) float32 camera-frame positions in mm relative to the pelvis, H36M17
            order (x right, y down, z away from the camera); (17, 3) for a single pose.  Rows
            that are not lifted are NaN, with one warning per reason naming the rows: fewer
            than ``min_valid_joints`` valid joints, all joints at one point, or (with
            ``require_torso``) no torso.  :func:`wildpose.skeleton.joint_confidence` gives
            the per-joint confidence of the output, :func:`wildpose.metrics.plausibility`
            a per-person plausibility.
        """
        skel = get_layout(layout)
        kp = np.asarray(keypoints, dtype=np.float32)
        single = kp.ndim == 2
        if single:
            kp = kp[None]
        if kp.ndim != 3 or kp.shape[-1] != 2 or kp.shape[1] != skel.num_joints:
            raise ValueError(f"keypoints of shape {np.shape(keypoints)} do not fit layout "
                             f"{skel.name}: expected (N, {skel.num_joints}, 2)")
        ok = np.isfinite(kp).all(-1)
        if valid is not None:
            ok &= np.asarray(valid, bool).reshape(ok.shape)
        if confidence is not None:
            ok &= np.asarray(confidence, np.float32).reshape(ok.shape) >= min_confidence
        kp17, ok17 = convert_layout(kp, skel, H36M17, ok)
        windows: list[np.ndarray | None] = [None]
        frames = self.window[0]
        if frames > 1:
            n = len(kp17)
            seq = np.zeros(n, np.int64) if sequence is None else np.asarray(sequence)
            order = np.arange(n) if frame is None else np.asarray(frame)
            if seq.shape != (n,) or order.shape != (n,):
                raise ValueError(f"sequence and frame must each hold one entry per pose "
                                 f"({n}), got shapes {seq.shape} and {order.shape}")
            windows = [window_indices(seq, order, frames, s) for s in self.window_steps]
        eps = 1e-6  # normalize_2d's floor on the squared RMS spread, px^2
        norm, _, scale = normalize_2d(kp17, ok17, root=H36M17.root, eps=eps)
        norm = norm.astype(np.float32)
        out = _mean([self._lift(norm, ok17, w) for w in windows])
        few = ok17.sum(1) < self.min_valid_joints
        # At the floor every valid joint is on one point (e.g. zeros in a file): there is no
        # size or shape to lift.
        flat = ~few & (scale <= np.sqrt(scale.dtype.type(eps)))
        no_torso = ~few & ~flat & ~has_torso(ok, skel) if self.require_torso \
            else np.zeros(len(ok), bool)
        for bad, why in ((few, f"have fewer than {self.min_valid_joints} valid joints"),
                         (flat, "have all their joints at one point"),
                         (no_torso, "have no torso (" + _torso_text(skel) + ")")):
            if bad.any():
                out[bad] = np.nan
                rows = np.flatnonzero(bad)
                warnings.warn(f"{bad.sum()} pose(s) {why} and were not lifted (rows "
                              f"{rows[:10].tolist()}{' ...' if len(rows) > 10 else ''})",
                              stacklevel=2)
        return out[0] if single else out

    def _lift(self, keypoints: np.ndarray, valid: np.ndarray, window: np.ndarray | None
              ) -> np.ndarray:
        if self.backend == "torch":
            import torch  # only the torch backend gets here: see __init__

            amp = self._autocast
            with torch.no_grad(), torch.autocast(self.device.type, dtype=amp or torch.float32,
                                                 enabled=amp is not None):
                return self._lift_batches(keypoints, valid, window, lambda a: torch.from_numpy(
                    np.ascontiguousarray(a)).to(self.device), lambda t: t.float().cpu().numpy())
        return self._lift_batches(keypoints, valid, window, np.ascontiguousarray, lambda a: a)

    def _lift_batches(self, keypoints, valid, window, to_backend, to_numpy) -> np.ndarray:
        perm = H36M17.flip_permutation()
        outs = []
        n = len(keypoints) if window is None else len(window)
        for i in range(0, n, self.batch_size):
            rows = slice(i, i + self.batch_size) if window is None \
                else window[i:i + self.batch_size]
            kp, vb = to_backend(keypoints[rows]), to_backend(valid[rows])
            pred = self.model(kp, vb)
            if self.flip_test:  # averaged with the reading of the mirror image
                pred = 0.5 * (pred + flip_pose(self.model(flip_pose(kp), vb[..., perm])))
            if hasattr(self.model, "to_mm"):  # depth lifters output normalized [x, y, depth]
                pred = self.model.to_mm(pred)
            outs.append(to_numpy(pred))
        if not outs:
            return np.zeros((0, 17, 3), np.float32)
        return np.concatenate(outs).astype(np.float32)


def _torso_text(layout: Skeleton) -> str:
    """The joints a layout's torso needs, for messages."""
    return "needs " + ", ".join(layout.torso or H36M17.torso)


def _mean(readings: list[np.ndarray]) -> np.ndarray:
    """The mean of one or more (N, 17, 3) readings (the one itself, untouched, if alone)."""
    if len(readings) == 1:
        return readings[0]
    return (np.sum(readings, axis=0, dtype=np.float64) / len(readings)).astype(np.float32)


def _auto_backend(model: Any, device: str) -> str:
    """numpy for a residual-MLP model file (or an ensemble of them) on the CPU (it starts
    without importing torch, ~10x faster for a few poses); torch for everything else."""
    if device not in ("auto", "cpu") or not (model is None or isinstance(model, (str, Path))):
        return "torch"

    path = model_path(model)
    if path.suffix != ".safetensors":
        return "torch"
    return "numpy" if read_model_info(path).get("architecture") in NUMPY_ARCHITECTURES \
        else "torch"


def load_lifter(model: str | Path | None = None, **kwargs: Any) -> Lifter:
    """Load a lifter by shipped name or path (default: the shipped default model)."""
    return Lifter(model, **kwargs)


def lift(keypoints: Any, layout: str = "h36m17", model: str | Path | None = None,
         **kwargs: Any) -> np.ndarray:
    """One-call lifting with a (cached) model: see :meth:`Lifter.lift`."""
    key = str(model)
    if key not in _CACHE:
        _CACHE[key] = Lifter(model)
    return _CACHE[key].lift(keypoints, layout, **kwargs)


_CACHE: dict[str, Lifter] = {}
