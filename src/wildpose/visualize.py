"""Pose figures: the 2D input beside the lifted 3D skeleton.

Figures are built as :class:`matplotlib.figure.Figure` objects with an Agg canvas attached
directly; pyplot is never imported and no global backend is selected, so the functions are
safe in headless scripts, servers and notebooks (a returned Figure displays inline in
Jupyter and can be saved with ``fig.savefig``).

Conventions:

* 2D keypoints are pixels with the y axis pointing down, as in images.
* 3D poses are camera coordinates in millimetres: x right, y down, z forward (away from the
  camera).  They are drawn with "up" = -y, so a standing person appears upright.  The front
  view looks from the camera along +z (it matches the 2D input up to perspective); the side
  view is the front view turned 90 degrees about the vertical axis, looking along -x (from
  the person's left when they face the camera), so depth runs left to right.
* Left limbs are blue, right limbs red, central ones grey; sides come from the skeleton's
  bone names and left/right joint pairs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .skeleton import H36M17, Skeleton, get_layout

__all__ = ["LEFT_COLOR", "RIGHT_COLOR", "CENTER_COLOR", "draw_pose_figure", "save_pose_png"]

LEFT_COLOR = "#1f77b4"    # blue
RIGHT_COLOR = "#d62728"   # red
CENTER_COLOR = "#555555"  # grey

#: The two orthographic views of the 3D pose: (horizontal, vertical) columns of
#: :func:`camera_to_plot`'s (x, depth z, up) axes.  Plain 2D axes rather than mplot3d: the
#: views are orthographic anyway, and drawing them this way takes a fraction of the time.
FRONT_VIEW = (0, 2)   # x across, up
SIDE_VIEW = (1, 2)    # depth across, up


def _joint_sides(skel: Skeleton) -> list[str]:
    """'left' / 'right' / 'center' per joint, from the skeleton's left/right pairs."""
    sides = ["center"] * skel.num_joints
    for left, right in skel.flip_pairs:
        sides[left], sides[right] = "left", "right"
    return sides


def _edge_sides(skel: Skeleton) -> list[str]:
    """'left' / 'right' / 'center' per edge, from bone names (else from its joints)."""
    joint_sides = _joint_sides(skel)
    out = []
    for k, (a, b) in enumerate(skel.edges):
        name = skel.bone_names[k].lower() if k < len(skel.bone_names) else ""
        if name.startswith("left"):
            out.append("left")
        elif name.startswith("right"):
            out.append("right")
        elif joint_sides[a] == joint_sides[b] != "center":
            out.append(joint_sides[a])
        else:
            out.append("center")
    return out


_COLORS = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "center": CENTER_COLOR}


def camera_to_plot(pose_3d: np.ndarray) -> np.ndarray:
    """Camera coordinates (x right, y down, z forward) -> plot axes (x, depth z, up = -y)."""
    p = np.asarray(pose_3d, dtype=np.float64)
    return np.stack([p[..., 0], p[..., 2], -p[..., 1]], axis=-1)


def _check_inputs(keypoints_2d: Any, pose_3d: Any, skel_2d: Skeleton, skel_3d: Skeleton,
                  valid_2d: Any, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                      np.ndarray | None]:
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    if kp.shape != (skel_2d.num_joints, 2):
        raise ValueError(f"keypoints_2d has shape {kp.shape}; expected "
                         f"({skel_2d.num_joints}, 2) for layout {skel_2d.name}")
    p3 = np.asarray(pose_3d, dtype=np.float64)
    if p3.shape != (skel_3d.num_joints, 3):
        raise ValueError(f"pose_3d has shape {p3.shape}; expected ({skel_3d.num_joints}, 3) "
                         f"for layout {skel_3d.name}")
    ok = np.isfinite(kp).all(-1)
    if valid_2d is not None:
        v = np.asarray(valid_2d, dtype=bool)
        if v.shape != (skel_2d.num_joints,):
            raise ValueError(f"valid_2d has shape {v.shape}; expected ({skel_2d.num_joints},)")
        ok &= v
    img = None
    if image is not None:
        img = np.asarray(image)
        if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
            raise ValueError(f"image has shape {img.shape}; expected (H, W, 3), (H, W, 4) "
                             f"or (H, W)")
    return kp, p3, ok, img


def _draw_2d(ax: Any, kp: np.ndarray, ok: np.ndarray, skel: Skeleton,
             img: np.ndarray | None) -> None:
    xs, ys = [], []
    if img is not None:
        h, w = img.shape[:2]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="bilinear")
        xs += [-0.5, w - 0.5]
        ys += [-0.5, h - 0.5]
    for (a, b), side in zip(skel.edges, _edge_sides(skel)):
        if ok[a] and ok[b]:
            ax.plot(kp[[a, b], 0], kp[[a, b], 1], color=_COLORS[side], lw=2.5,
                    solid_capstyle="round")
    sides = _joint_sides(skel)
    for side in ("center", "left", "right"):
        idx = [i for i in range(skel.num_joints) if ok[i] and sides[i] == side]
        if idx:
            ax.scatter(kp[idx, 0], kp[idx, 1], s=14, color=_COLORS[side], zorder=3,
                       edgecolors="white", linewidths=0.5)
    if ok.any():
        pts = kp[ok]
        lo, hi = pts.min(0), pts.max(0)
        pad = 0.1 * max(float((hi - lo).max()), 1.0)
        xs += [lo[0] - pad, hi[0] + pad]
        ys += [lo[1] - pad, hi[1] + pad]
    if not xs:
        xs, ys = [0.0, 1.0], [0.0, 1.0]
    if img is None:
        # equal scale without an image: grow the shorter side so nothing is cut off
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        half = max(max(xs) - min(xs), max(ys) - min(ys)) / 2
        xs, ys = [cx - half, cx + half], [cy - half, cy + half]
    ax.set_xlim(min(xs), max(xs))
    ax.set_ylim(max(ys), min(ys))           # y axis downward, as in images
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x (px)")
    ax.set_ylabel("y (px)")
    ax.set_title("2D input")
    if img is not None:
        ax.set_xticks([])
        ax.set_yticks([])


def _draw_3d(ax: Any, p3: np.ndarray, skel: Skeleton, view: tuple[int, int],
             title: str, limits: tuple[np.ndarray, float]) -> None:
    P = camera_to_plot(p3)[:, list(view)]
    ok = np.isfinite(P).all(-1)
    for (a, b), side in zip(skel.edges, _edge_sides(skel)):
        if ok[a] and ok[b]:
            ax.plot(P[[a, b], 0], P[[a, b], 1], color=_COLORS[side], lw=2.5,
                    solid_capstyle="round")
    sides = _joint_sides(skel)
    for side in ("center", "left", "right"):
        idx = [i for i in range(skel.num_joints) if ok[i] and sides[i] == side]
        if idx:
            ax.scatter(P[idx, 0], P[idx, 1], s=10, color=_COLORS[side], zorder=3)
    centre, half = limits
    ax.set_xlim(centre[view[0]] - half, centre[view[0]] + half)
    ax.set_ylim(centre[view[1]] - half, centre[view[1]] + half)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("x (mm)" if view == FRONT_VIEW else "z, depth (mm)")
    ax.set_ylabel("-y, up (mm)")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(4))
    ax.grid(True, lw=0.5, alpha=0.5)
    ax.tick_params(labelsize=6)
    ax.set_title(title)


def draw_pose_figure(keypoints_2d: Any, pose_3d: Any, skeleton_2d: str | Skeleton,
                     valid_2d: Any = None, image: Any = None, title: str = "", *,
                     skeleton_3d: str | Skeleton = H36M17,
                     figsize: tuple[float, float] = (12.0, 4.0)) -> Figure:
    """A figure of the 2D input beside the 3D pose seen from the front and from the side.

    Args:
        keypoints_2d: (J, 2) pixel coordinates in layout ``skeleton_2d``.
        pose_3d: (17, 3) camera coordinates in mm (x right, y down, z forward), H36M17
            order (or ``skeleton_3d``'s); non-finite joints are not drawn.
        skeleton_2d: layout of ``keypoints_2d`` (name or Skeleton).
        valid_2d: optional (J,) bool; invalid (and non-finite) joints and their limbs are not
            drawn.
        image: optional (H, W, 3) uint8 image drawn under the 2D keypoints.
        title: figure title.
        skeleton_3d: layout of ``pose_3d`` (default H36M17).
        figsize: figure size in inches (width, height).
    Returns:
        A :class:`matplotlib.figure.Figure` with an Agg canvas (pyplot is not used).
    """
    skel_2d, skel_3d = get_layout(skeleton_2d), get_layout(skeleton_3d)
    kp, p3, ok, img = _check_inputs(keypoints_2d, pose_3d, skel_2d, skel_3d, valid_2d, image)

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    _draw_2d(fig.add_subplot(1, 3, 1), kp, ok, skel_2d, img)

    P = camera_to_plot(p3)
    finite = P[np.isfinite(P).all(-1)]
    if len(finite):
        lo, hi = finite.min(0), finite.max(0)
        centre, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2 * 1.1, 1.0)
    else:
        centre, half = np.zeros(3), 1000.0
    _draw_3d(fig.add_subplot(1, 3, 2), p3, skel_3d, FRONT_VIEW,
             "3D, front (camera) view", (centre, half))
    _draw_3d(fig.add_subplot(1, 3, 3), p3, skel_3d, SIDE_VIEW,
             "3D, side view", (centre, half))

    handles = [Line2D([], [], color=LEFT_COLOR, lw=2.5, label="left"),
               Line2D([], [], color=RIGHT_COLOR, lw=2.5, label="right")]
    fig.legend(handles=handles, loc="lower center", ncol=2, frameon=False, fontsize=8)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.05, right=0.97, bottom=0.14, top=0.85 if title else 0.9,
                        wspace=0.15)
    return fig


def save_pose_png(path: str | os.PathLike, keypoints_2d: Any, pose_3d: Any,
                  skeleton_2d: str | Skeleton, valid_2d: Any = None, image: Any = None,
                  title: str = "", *, skeleton_3d: str | Skeleton = H36M17,
                  figsize: tuple[float, float] = (12.0, 4.0), dpi: int = 100) -> Path:
    """Draw :func:`draw_pose_figure` and write it as a PNG (figsize x dpi pixels).

    The parent folder is created if needed.  Returns the path written.
    """
    fig = draw_pose_figure(keypoints_2d, pose_3d, skeleton_2d, valid_2d, image, title,
                           skeleton_3d=skeleton_3d, figsize=figsize)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, format="png", dpi=dpi)
    return p
