"""3D pose-evaluation metrics, per sample, in millimetres.

Every metric takes poses of shape (N, J, 3) in mm (any leading batch shape works in place of
N) and returns one value per sample, computed in float64.  Poses are compared as given: for
Human3.6M Protocol 1 both must already be root-relative (see :func:`root_relative`); nothing
here re-centres them, so an offset of the whole pose counts as error.

* MPJPE (Protocol 1): mean Euclidean joint distance.
* P-MPJPE (Protocol 2): MPJPE after the per-sample similarity Procrustes alignment.
* N-MPJPE (Rhodin et al., 2018): MPJPE after the per-sample optimal scale only.
* 3D PCK and AUC (MPI-INF-3DHP style), bone symmetry error (Zhou et al., 2017).
* Plausibility of a pose without ground truth: bone-length proportions against Human3.6M's
  mean and left/right symmetry, as log ratios and as one score in [0, 1].

Human3.6M tables average the per-action means, not all frames: see :func:`per_action_table`.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .geometry import procrustes_align, scale_align
from .skeleton import H36M17, SYMMETRIC_BONES, Skeleton, get_layout

__all__ = [
    "root_relative",
    "mpjpe",
    "p_mpjpe",
    "n_mpjpe",
    "pck3d",
    "auc3d",
    "bone_symmetry_error",
    "H36M_BONE_LENGTHS_MM",
    "PLAUSIBILITY_SCALE",
    "bone_ratio_error",
    "symmetry_log_error",
    "plausibility",
    "per_action_table",
    "format_table",
    "evaluate_poses",
]


def _pair(pred: Any, target: Any) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(pred, np.float64), np.asarray(target, np.float64)
    if p.shape != t.shape or p.ndim < 2 or p.shape[-1] != 3:
        raise ValueError(f"pred and target must both have shape (N, J, 3); got {p.shape} "
                         f"and {t.shape}")
    return p, t


def _joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.linalg.norm(pred - target, axis=-1)


def _masked_mean(values: np.ndarray, mask: Any) -> np.ndarray:
    """Mean over the last (joint) axis, over masked joints only (NaN if none is)."""
    if mask is None:
        return values.mean(-1)
    w = np.broadcast_to(np.asarray(mask, bool), values.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(w, values, 0.0).sum(-1) / w.sum(-1)


def root_relative(pose: Any, root: int = 0) -> np.ndarray:
    """Subtract the root joint from every joint.

    Args:
        pose: (..., J, 3) positions, mm.
        root: index of the root joint (0, the pelvis, in H36M17).
    Returns:
        (..., J, 3) float64 positions relative to the root, mm (the root itself becomes 0).
    """
    p = np.asarray(pose, np.float64)
    return p - p[..., root:root + 1, :]


def mpjpe(pred: Any, target: Any, mask: Any = None) -> np.ndarray:
    """Mean per-joint position error (Protocol 1), without any alignment.

    Args:
        pred, target: (N, J, 3) root-relative poses, mm.
        mask: optional (N, J) or (J,) boolean of joints to score.
    Returns:
        (N,) mean Euclidean distance over the (masked) joints, mm.
    """
    p, t = _pair(pred, target)
    return _masked_mean(_joint_errors(p, t), mask)


def p_mpjpe(pred: Any, target: Any, mask: Any = None) -> np.ndarray:
    """Procrustes-aligned MPJPE (Protocol 2).

    Each predicted pose is moved onto its target by the least-squares rotation, uniform
    scale and translation (fitted on the masked joints) before the error is measured.

    Args:
        pred, target: (N, J, 3) poses, mm.
        mask: optional (N, J) or (J,) boolean of joints to fit and score.
    Returns:
        (N,) mm.
    """
    p, t = _pair(pred, target)
    fit_mask = None if mask is None else np.broadcast_to(np.asarray(mask, bool), p.shape[:-1])
    return _masked_mean(_joint_errors(procrustes_align(p, t, mask=fit_mask), t), mask)


def n_mpjpe(pred: Any, target: Any, mask: Any = None) -> np.ndarray:
    """Scale-normalized MPJPE (Rhodin et al.): MPJPE after multiplying each root-relative
    prediction by the scale that minimizes its squared error.

    Args:
        pred, target: (N, J, 3) root-relative poses, mm.
        mask: optional (N, J) or (J,) boolean of joints to fit and score.
    Returns:
        (N,) mm.
    """
    p, t = _pair(pred, target)
    fit_mask = None if mask is None else np.broadcast_to(np.asarray(mask, bool), p.shape[:-1])
    return _masked_mean(_joint_errors(scale_align(p, t, mask=fit_mask), t), mask)


def pck3d(pred: Any, target: Any, threshold: float = 150.0, mask: Any = None) -> np.ndarray:
    """3D percentage of correct keypoints, as a fraction.

    A joint is correct when its Euclidean error is at most ``threshold`` (``<=``).

    Args:
        pred, target: (N, J, 3) root-relative poses, mm.
        threshold: mm.
        mask: optional (N, J) or (J,) boolean of joints to score.
    Returns:
        (N,) fraction in [0, 1] of correct joints.
    """
    p, t = _pair(pred, target)
    return _masked_mean((_joint_errors(p, t) <= threshold).astype(np.float64), mask)


def auc3d(pred: Any, target: Any, max_threshold: float = 150.0, steps: int = 31,
          mask: Any = None) -> np.ndarray:
    """Area under the 3D PCK curve, as a fraction.

    The plain mean of :func:`pck3d` over ``steps`` evenly spaced thresholds from 0 to
    ``max_threshold`` inclusive -- by default 0, 5, 10, ..., 150 mm (31 thresholds), the
    MPI-INF-3DHP convention.

    Args:
        pred, target: (N, J, 3) root-relative poses, mm.
        max_threshold: largest threshold, mm.
        steps: number of thresholds (>= 2).
        mask: optional (N, J) or (J,) boolean of joints to score.
    Returns:
        (N,) fraction in [0, 1].
    """
    if steps < 2:
        raise ValueError(f"auc3d needs steps >= 2, got {steps}")
    p, t = _pair(pred, target)
    err = _joint_errors(p, t)
    thresholds = np.linspace(0.0, max_threshold, steps)
    correct = (err[..., None] <= thresholds).astype(np.float64)  # (N, J, T)
    return _masked_mean(np.moveaxis(correct, -1, -2), None if mask is None
                        else np.asarray(mask, bool)[..., None, :]).mean(-1)


def bone_symmetry_error(pose: Any, skeleton: Skeleton | str = H36M17) -> dict[str, np.ndarray]:
    """Left/right bone-length asymmetry of each pose (Zhou et al.'s symmetry error).

    Args:
        pose: (N, J, 3) positions, mm (root-relative or not: lengths do not care).
        skeleton: the joint layout of ``pose``; must name the bones of
            :data:`wildpose.skeleton.SYMMETRIC_BONES` (H36M17 and MPII16 do).
    Returns:
        ``{"upper arm", "lower arm", "upper leg", "lower leg": (N,) |left - right| length in
        mm, "mean": (N,) their mean}``.
    """
    skel = get_layout(skeleton)
    p = np.asarray(pose, np.float64)
    if p.ndim < 2 or p.shape[-2:] != (skel.num_joints, 3):
        raise ValueError(f"pose must have shape (N, {skel.num_joints}, 3) for layout "
                         f"{skel.name}; got {p.shape}")

    def length(bone: str) -> np.ndarray:
        a, b = skel.bone(bone)
        return np.linalg.norm(p[..., b, :] - p[..., a, :], axis=-1)

    out = {group: np.abs(length(left) - length(right))
           for group, (left, right) in SYMMETRIC_BONES.items()}
    out["mean"] = np.mean(list(out.values()), axis=0)
    return out


#: Mean length of each H36M17 bone (``H36M17.bone_names`` order), mm, over the frames of
#: Human3.6M's training subjects S1, S5, S6, S7, S8 (every 5th frame; its mocap skeleton is
#: left/right symmetric).  tests/test_metrics.py re-measures it from the data.
H36M_BONE_LENGTHS_MM = (134.5, 449.9, 445.9, 134.5, 449.9, 445.9, 239.3, 255.4, 116.3, 115.0,
                        149.3, 280.4, 249.6, 149.3, 280.4, 249.6)

#: Log-error scale of :func:`plausibility`: a pose whose bone proportions and symmetry are
#: off by a mean factor of exp(0.5) = 1.65 scores 1/e.
PLAUSIBILITY_SCALE = 0.5


def _bone_lengths(pose: Any) -> np.ndarray:
    p = np.asarray(pose, np.float64)
    if p.ndim < 2 or p.shape[-2:] != (H36M17.num_joints, 3):
        raise ValueError(f"pose must have shape (N, 17, 3) in layout h36m17; got {p.shape}")
    return H36M17.bone_lengths(p)


def _log_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|log(a / b)|, with a zero length an error of log(1e6) rather than infinite."""
    tiny = 1e-6 * np.maximum(np.maximum(a, b), 1e-12)
    return np.abs(np.log(np.maximum(a, tiny) / np.maximum(b, tiny)))


def bone_ratio_error(pose: Any, reference: Any = H36M_BONE_LENGTHS_MM) -> np.ndarray:
    """How far a pose's bone proportions are from a reference's, whatever its size.

    Each bone's share of the pose's total bone length is compared with its share in the
    reference: the mean over the 16 bones of ``|log(share / reference share)|``.

    Args:
        pose: (N, 17, 3) H36M17 positions (any unit).
        reference: (16,) reference bone lengths (default Human3.6M's training mean).
    Returns:
        (N,) float64 >= 0; 0 for the reference's proportions; NaN for a pose with NaN.
    """
    lengths = _bone_lengths(pose)
    ref = np.asarray(reference, np.float64)
    share = lengths / lengths.sum(-1, keepdims=True)
    return _log_ratio(share, ref / ref.sum()).mean(-1)


def symmetry_log_error(pose: Any) -> np.ndarray:
    """Left/right asymmetry of a pose, whatever its size: the mean over the six left/right
    bone pairs of H36M17 (hip, shoulder, upper and lower arm and leg) of
    ``|log(left length / right length)|``.  (N, 17, 3) -> (N,) float64 >= 0."""
    lengths = _bone_lengths(pose)
    mirror = H36M17.mirror_bones()
    pairs = [(b, int(m)) for b, m in enumerate(mirror) if b < m]
    return np.mean([_log_ratio(lengths[..., a], lengths[..., b]) for a, b in pairs], axis=0)


def plausibility(pose: Any, reference: Any = H36M_BONE_LENGTHS_MM,
                 scale: float = PLAUSIBILITY_SCALE) -> np.ndarray:
    """A per-person plausibility score of 3D poses, in [0, 1].

    ``exp(-(bone_ratio_error + symmetry_log_error) / scale)``: 1 for a left/right
    symmetric body with Human3.6M's mean proportions, lower as bones grow out of
    proportion or differ between the sides (it does not judge joint angles).

    Args:
        pose: (N, 17, 3) H36M17 positions (any unit, any size), e.g. a lifter's output.
    Returns:
        (N,) float64 in [0, 1]; NaN where the pose has NaN (a row not lifted).
    """
    return np.exp(-(bone_ratio_error(pose, reference) + symmetry_log_error(pose)) / scale)


def per_action_table(errors: dict[str, Any], actions: Any,
                     order: Sequence[str] | None = None) -> dict[str, Any]:
    """Per-action means of per-sample metrics, the Human3.6M way.

    "Average" is the mean of the per-action means over the actions present -- the standard
    protocol, which weights every action equally however many frames it has -- not the mean
    over all rows.

    Args:
        errors: {metric name: (N,) per-sample values}.
        actions: (N,) action labels, grouped as they are (e.g. Human3.6M names made one
            spelling by :func:`wildpose.datasets.h36m.normalize_action`).
        order: the known actions in table order (e.g. ``wildpose.datasets.h36m.ACTIONS``);
            a label outside it is a ValueError.  None: the labels present, sorted.
    Returns:
        ``{"actions": tuple of the actions present, in ``order``,
        "metrics": {metric: {action: mean, ..., "Average": mean of the action means}},
        "counts": {action: number of rows, ..., "Average": total rows}}``.
        Raises ValueError for an unknown action or a length mismatch.
    """
    names = np.asarray(actions).astype(str)
    if names.ndim != 1:
        raise ValueError(f"actions must be a 1-D array of names, got shape {names.shape}")
    labels = np.unique(names)
    if order is not None:
        unknown = sorted(set(labels) - set(order))
        if unknown:
            raise ValueError(f"unknown action(s) {', '.join(unknown)} (known: "
                             f"{', '.join(order)})")
    present = tuple(a for a in (order if order is not None else labels)
                    if (names == a).any())
    metrics: dict[str, dict[str, float]] = {}
    for metric, v in errors.items():
        v = np.asarray(v, np.float64)
        if v.shape != names.shape:
            raise ValueError(f"metric {metric!r} has shape {v.shape} but there are "
                             f"{len(names)} action labels")
        row = {a: float(v[names == a].mean()) for a in present}
        row["Average"] = float(np.mean([row[a] for a in present])) if present else float("nan")
        metrics[metric] = row
    counts = {a: int((names == a).sum()) for a in present}
    counts["Average"] = len(names)
    return {"actions": present, "metrics": metrics, "counts": counts}


def format_table(table: dict[str, Any]) -> str:
    """A markdown table of :func:`per_action_table`'s output: one row per action plus
    "Average", one column per metric (values to 1 decimal, mm for the error metrics), and
    the row count last."""
    metrics = list(table["metrics"])
    lines = ["| Action | " + " | ".join(metrics) + " | N |",
             "|---|" + "---:|" * (len(metrics) + 1)]
    for row in (*table["actions"], "Average"):
        cells = [f"{table['metrics'][m][row]:.1f}" for m in metrics]
        lines.append(f"| {row} | " + " | ".join(cells) + f" | {table['counts'][row]} |")
    return "\n".join(lines)


def _check_poses(name: str, a: Any, num_joints: int) -> np.ndarray:
    a = np.asarray(a, np.float64)
    if a.ndim != 3 or a.shape[1:] != (num_joints, 3):
        raise ValueError(f"{name} must have shape (N, {num_joints}, 3); got {a.shape}")
    bad = int((~np.isfinite(a)).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} non-finite values (NaN or inf)")
    return a


def evaluate_poses(pred: Any, target: Any, actions: Any = None,
                   action_order: Sequence[str] | None = None) -> dict[str, Any]:
    """Every metric of this module at once, for H36M17 poses.

    Args:
        pred, target: (N, 17, 3) finite root-relative poses, mm (see :func:`root_relative`).
        actions: optional (N,) action labels, for a per-action table; action_order: the
            table's order of known actions (see :func:`per_action_table`).
    Returns:
        ``{"per_sample": {metric: (N,)}, "mean": {metric: float over all rows},
        "bone_symmetry": {bone pair or "mean": float mm over the predictions},
        "per_action": per_action_table(...) or None}``, with metrics
        "MPJPE", "P-MPJPE", "N-MPJPE" (mm), "PCK@150" and "AUC" (percent, for tables), and
        "bone symmetry" (mm, the predictions' mean left/right asymmetry).
        Raises a one-line ValueError for a wrong shape, a shape mismatch or non-finite values.
    """
    p = _check_poses("pred", pred, H36M17.num_joints)
    t = _check_poses("target", target, H36M17.num_joints)
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    sym = bone_symmetry_error(p)
    per_sample = {
        "MPJPE": mpjpe(p, t),
        "P-MPJPE": p_mpjpe(p, t),
        "N-MPJPE": n_mpjpe(p, t),
        "PCK@150": 100.0 * pck3d(p, t),
        "AUC": 100.0 * auc3d(p, t),
        "bone symmetry": sym["mean"],
    }
    if actions is not None and len(actions) != len(p):
        raise ValueError(f"got {len(actions)} action labels for {len(p)} poses")
    return {
        "per_sample": per_sample,
        "mean": {k: float(v.mean()) for k, v in per_sample.items()},
        "bone_symmetry": {k: float(v.mean()) for k, v in sym.items()},
        "per_action": (None if actions is None
                       else per_action_table(per_sample, actions, action_order)),
    }
