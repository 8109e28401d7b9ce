"""The Human3.6M evaluation protocol: lift S9 and S11, score per action.

Protocol 1 (P1) is MPJPE of root-relative camera-frame poses; Protocol 2 (P2) is MPJPE after a
similarity Procrustes alignment of each pose.  Every frame of every camera is scored unless a
stride says otherwise; sequences without detections (S11 "Directions", camera 54138969, for
stacked-hourglass inputs) are skipped and listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .api import Lifter
from .datasets.h36m import ACTIONS, TEST_SUBJECTS, H36MData, h36m_intrinsics, load_h36m
from .metrics import evaluate_poses, format_table
from .skeleton import OCCLUDABLE_LIMBS, get_layout
from .temporal import constant_bone_lengths

__all__ = ["evaluate_h36m", "lift_h36m", "score_h36m", "occlude_limbs", "h36m_intrinsics",
           "save_predictions", "load_predictions"]


def occlude_limbs(kp: np.ndarray, layout: str, fraction: float, seed: int = 0) -> np.ndarray:
    """Simulated occlusion, to measure how a lifter copes with missing joints: in a random
    ``fraction`` of the rows, one lower limb (elbow and wrist, or knee and ankle, one of the
    four :data:`wildpose.skeleton.OCCLUDABLE_LIMBS` at random) is marked missing.

    Args:
        kp: (N, J, 2) keypoints (pixels) in ``layout`` (a :mod:`wildpose.skeleton` name).
        fraction: share of rows that lose a limb, in [0, 1].
        seed: the draw's seed (the same rows and limbs for every model).
    Returns:
        (N, J, 2) float copy of ``kp`` with the occluded joints NaN.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"occlusion fraction must be in [0, 1], got {fraction}")
    names = get_layout(layout).joints
    limbs = np.array([[names.index(j) for j in limb] for limb in OCCLUDABLE_LIMBS])
    rng = np.random.default_rng(seed)
    hit = np.flatnonzero(rng.random(len(kp)) < fraction)
    out = np.array(kp, dtype=np.result_type(kp.dtype, np.float32), copy=True)
    out[hit[:, None], limbs[rng.integers(len(limbs), size=len(hit))]] = np.nan
    return out


def lift_h36m(lifter, data: H36MData, inputs: str = "gt", smooth_2d: float = 0.0,
              occlude: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lift every row of ``data`` from 2D inputs of a kind ("gt" or "sh").

    Args:
        smooth_2d: if > 0, the 2D of each (subject, action, camera) sequence is first
            smoothed along time with a Gaussian of this standard deviation in frames of
            ``data`` (:func:`wildpose.temporal.smooth_sequences`; 50 fps at stride 1): the
            video protocol, not the single-image one.
        occlude: share of the rows with inputs that lose a lower limb after smoothing
            (:func:`occlude_limbs`, seed 0), a robustness check; 0 = none, the protocol.
    Returns:
        (N, 17, 3) predictions in mm (root-relative, camera frame) and the (N,) bool mask of
        rows that had inputs to lift.
    """
    kp, layout = data.inputs(inputs, smooth_2d=smooth_2d)
    have = np.isfinite(kp).all((1, 2))
    if occlude > 0:
        kp = occlude_limbs(kp, layout, occlude)
    pred = np.full((len(kp), 17, 3), np.nan, np.float32)
    if getattr(lifter, "perspective", False):  # e.g. DualSourceLifter(perspective=True)
        pred[have] = lifter.lift(kp[have], layout=layout,
                                 intrinsics=h36m_intrinsics(data.select(have)))
    elif getattr(lifter, "window", (1, 1))[0] > 1:  # a video lifter reads each sequence
        pred[have] = lifter.lift(kp[have], layout=layout, sequence=data.sequence[have],
                                 frame=data.frame[have])
    else:
        pred[have] = lifter.lift(kp[have], layout=layout)
    return pred, have


def save_predictions(path: str | Path, data: H36MData, pred: np.ndarray) -> Path:
    """Write predictions as NPZ: one row per sample with ``subject`` (int), ``action`` (str,
    the 3D file's base name), ``camera`` (int 1..4), ``frame`` (int, 50 fps) and ``pred``
    ((N, 17, 3) float32 mm, root-relative camera coordinates, H36M17 order)."""
    path = Path(path)
    if path.suffix != ".npz":  # numpy would append it; name the file it writes
        path = path.with_name(path.name + ".npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, subject=data.subject.astype(np.int64),
                        action=data.action.astype(str), camera=data.camera.astype(np.int64),
                        frame=data.frame.astype(np.int64), pred=pred.astype(np.float32))
    return path


def load_predictions(path: str | Path) -> dict[str, np.ndarray]:
    """Read a predictions NPZ written by :func:`save_predictions` (no pickles)."""
    with np.load(path, allow_pickle=False) as f:
        missing = {"subject", "action", "camera", "frame", "pred"} - set(f.files)
        if missing:
            raise ValueError(f"{path}: not a wildpose predictions file (missing "
                             f"{', '.join(sorted(missing))})")
        return {k: f[k] for k in f.files}


def evaluate_h36m(model: Any = None, data_dir: str | Path | None = None, inputs: str = "gt",
                  subjects: tuple[int, ...] = TEST_SUBJECTS, stride: int = 1,
                  save_predictions_to: str | Path | None = None, flip_test: bool = True,
                  device: str = "auto", data: H36MData | None = None,
                  smooth_2d: float = 0.0, consistent_bones: bool = False,
                  symmetric_bones: bool = False,
                  occlude: float = 0.0) -> dict[str, Any]:
    """Evaluate a lifter on Human3.6M.

    Args:
        model: a :class:`wildpose.Lifter`, a shipped model name, a model path, or None (default).
        data_dir: the Human3.6M folder.
        inputs: "gt" (projected ground truth, 17 joints) or "sh" (stacked-hourglass, 16 joints).
        subjects: test subjects (default S9, S11).
        stride: score every stride-th frame (1 = every frame, the protocol).  A video lifter
            still reads every frame, since its window is counted in 50 fps frames: give it
            ``data`` loaded at stride 1 (or none) and it scores the rows whose frame is a
            multiple of ``stride``.
        save_predictions_to: optional NPZ path (see :func:`save_predictions`).
        data: already loaded samples (then data_dir/subjects/stride are ignored).
        smooth_2d: Gaussian smoothing of each sequence's 2D along time, standard deviation
            in frames of the loaded data (0 = none, the single-image protocol); see
            :func:`lift_h36m`.
        consistent_bones: video protocol: set every frame's bones to the median lengths of
            its (subject, action, camera) sequence's predictions
            (:func:`wildpose.temporal.constant_bone_lengths`; no 3D ground truth is read).
        symmetric_bones: consistent bones whose left and right bones of a pair both take
            the mean of the pair's medians (implies ``consistent_bones``).
        occlude: robustness check, not the protocol: this share of the rows lose a lower
            limb (:func:`occlude_limbs`) before lifting; 0 = none.
    Returns:
        JSON-serializable dict: "P1", "P2", "N-MPJPE", "PCK@150", "AUC" averages over actions,
        "per_action" table, "bone_symmetry", sample counts, skipped sequences, the
        markdown table as "table", and "predictions_file" (the NPZ written, or None).
    """
    # Anything with a .lift(keypoints, layout=...) method is a lifter (e.g. another method's).
    lifter = model if hasattr(model, "lift") else Lifter(model, device=device,
                                                         flip_test=flip_test)
    if not smooth_2d >= 0:
        raise ValueError(f"smooth_2d must be >= 0 frames, got {smooth_2d}")
    video = getattr(lifter, "window", (1, 1))[0] > 1
    if data is None:
        # A video lifter's window is counted in 50 fps frames, so it reads every frame even
        # when only every stride-th one is scored.
        data = load_h36m(data_dir, subjects=subjects, stride=1 if video else stride,
                         load_sh=inputs == "sh")
    pred, have = lift_h36m(lifter, data, inputs, smooth_2d=smooth_2d, occlude=occlude)
    return score_h36m(data, pred, have, stride=stride if video else 1,
                      consistent_bones=consistent_bones, symmetric_bones=symmetric_bones,
                      save_predictions_to=save_predictions_to,
                      about={"model": getattr(lifter, "info", {}).get("name") or str(model),
                             "inputs": inputs, "stride": stride, "smooth_2d": smooth_2d,
                             "occlude": occlude})


def score_h36m(data: H36MData, pred: np.ndarray, have: np.ndarray, stride: int = 1,
               consistent_bones: bool = False, symmetric_bones: bool = False,
               save_predictions_to: str | Path | None = None,
               about: dict[str, Any] | None = None) -> dict[str, Any]:
    """Score lifted Human3.6M rows per action: the second half of :func:`evaluate_h36m`.

    Lifting once and scoring several post-processings of the same predictions (bones as
    lifted, consistent, symmetric) costs one lift instead of one each.

    Args:
        data: the rows lifted, N of them.
        pred: (N, 17, 3) root-relative predictions in mm, Human3.6M-17 order, as
            :func:`lift_h36m` returns them (not modified).
        have: (N,) bool, the rows that were lifted.
        stride: score the rows whose frame is a multiple of this (after the bone fixing,
            which reads whole sequences); 1 = every row.
        consistent_bones, symmetric_bones, save_predictions_to: as for :func:`evaluate_h36m`.
        about: entries copied into the result first (model name, inputs, settings).
    Returns:
        The dict :func:`evaluate_h36m` returns.
    """
    consistent_bones = consistent_bones or symmetric_bones
    if consistent_bones:
        pred = constant_bone_lengths(pred, data.sequence, symmetric=symmetric_bones)
    if stride > 1:
        scored = data.frame % stride == 0
        data, pred, have = data.select(scored), pred[scored], have[scored]
    written = None
    if save_predictions_to is not None:
        written = str(save_predictions(save_predictions_to, data, pred))
    target = data.pose_3d - data.pose_3d[:, :1]
    res = evaluate_poses(pred[have], target[have], data.action_name[have], ACTIONS)
    table = res["per_action"]
    renamed = {"MPJPE": "P1", "P-MPJPE": "P2"}
    table["metrics"] = {renamed.get(k, k): v for k, v in table["metrics"].items()}
    return {
        **(about or {}),
        "subjects": [int(s) for s in sorted(set(data.subject.tolist()))],
        "consistent_bones": consistent_bones,
        "symmetric_bones": symmetric_bones,
        "num_samples": int(have.sum()),
        "num_skipped_samples": int((~have).sum()),
        "skipped": list(data.skipped),
        **{m: table["metrics"][m]["Average"] for m in ("P1", "P2", "N-MPJPE", "PCK@150", "AUC")},
        "bone_symmetry": res["bone_symmetry"],
        "per_action": {"actions": list(table["actions"]), "metrics": table["metrics"],
                       "counts": table["counts"]},
        "table": format_table(table),
        "predictions_file": written,
    }


def write_json(result: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    return path
