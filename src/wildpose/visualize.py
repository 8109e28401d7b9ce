"""Pose figures: the 2D input beside the lifted 3D skeleton, and skeletons drawn on photos
and video frames.

Two kinds of picture:

* :func:`draw_pose_figure` / :func:`save_pose_png` -- a matplotlib figure of one pose (2D
  input, 3D front and side views with axes in mm), for ``wildpose lift``.
* :func:`draw_people` / :func:`people_figure` / :func:`save_people_png` -- what ``wildpose
  predict`` writes: every person's skeleton drawn on the photo or video frame itself (with
  Pillow, fast enough for every frame of a video), and for a photo a narrow column of small
  front and side views of each person's 3D pose beside it, so the photo is most of the
  picture.  :func:`draw_skeleton` is the one skeleton drawer both use.

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
from PIL import Image, ImageDraw, ImageFont

from .skeleton import H36M17, Skeleton, get_layout

__all__ = ["LEFT_COLOR", "RIGHT_COLOR", "CENTER_COLOR", "draw_pose_figure", "save_pose_png",
           "draw_skeleton", "draw_people", "people_figure", "save_people_png"]

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
    """'left' / 'right' / 'center' per edge, from its bone name ("left upper arm", ...)."""
    return [next((s for s in ("left", "right") if n.lower().startswith(s)), "center")
            for n in skel.bone_names]


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


def _plot_skeleton(ax: Any, xy: np.ndarray, ok: np.ndarray, skel: Skeleton,
                   **marker: Any) -> None:
    """Bones and joints of one pose on a matplotlib axis, coloured by side.  ``xy``: (J, 2)
    plot coordinates; ``ok``: (J,) joints to draw; ``marker``: the joints' scatter style."""
    for (a, b), side in zip(skel.edges, _edge_sides(skel)):
        if ok[a] and ok[b]:
            ax.plot(xy[[a, b], 0], xy[[a, b], 1], color=_COLORS[side], lw=2.5,
                    solid_capstyle="round")
    sides = _joint_sides(skel)
    for side in ("center", "left", "right"):
        idx = [i for i in range(skel.num_joints) if ok[i] and sides[i] == side]
        if idx:
            ax.scatter(xy[idx, 0], xy[idx, 1], color=_COLORS[side], zorder=3, **marker)


def _draw_2d(ax: Any, kp: np.ndarray, ok: np.ndarray, skel: Skeleton,
             img: np.ndarray | None) -> None:
    xs, ys = [], []
    if img is not None:
        h, w = img.shape[:2]
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, interpolation="bilinear")
        xs += [-0.5, w - 0.5]
        ys += [-0.5, h - 0.5]
    _plot_skeleton(ax, kp, ok, skel, s=14, edgecolors="white", linewidths=0.5)
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
    _plot_skeleton(ax, P, ok, skel, s=10)
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


# ------------------------------------------------------------------ skeletons on photos (Pillow)
def _rgb(hex_color: str) -> tuple[int, int, int]:
    return tuple(int(hex_color[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _font(size: int) -> Any:
    try:
        return ImageFont.load_default(size=max(8, int(size)))
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


def draw_skeleton(draw: ImageDraw.ImageDraw, points: Any, valid: Any,
                  skeleton: str | Skeleton = H36M17, width: int = 3) -> None:
    """Draw one skeleton with Pillow: limbs coloured by side (left blue, right red, centre
    grey) over a dark halo, so they read on any background, and white joint dots.

    Args:
        draw: an ``ImageDraw`` of the picture to draw on.
        points: (J, 2) pixel positions in that picture (NaN = not drawn).
        valid: (J,) bool, joints to draw (limbs need both ends).
        skeleton: the joint layout of ``points``.
        width: limb width in pixels.
    """
    skel = get_layout(skeleton)
    pts = np.asarray(points, np.float64)
    ok = np.asarray(valid, bool) & np.isfinite(pts).all(-1)
    for (a, b), side in zip(skel.edges, _edge_sides(skel)):
        if ok[a] and ok[b]:
            line = [tuple(pts[a]), tuple(pts[b])]
            draw.line(line, fill=(20, 20, 20), width=width + 2)
            draw.line(line, fill=_rgb(_COLORS[side]), width=width)
    r = max(1.5, width * 0.6)
    for j in np.flatnonzero(ok):
        x, y = pts[j]
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(255, 255, 255), outline=(20, 20, 20))


def _label(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int) -> None:
    font = _font(size)
    x0, y0, x1, y1 = draw.textbbox(xy, text, font=font)
    pad = max(1, size // 6)
    draw.rectangle((x0 - pad, y0 - pad, x1 + pad, y1 + pad), fill=(255, 255, 255))
    draw.text(xy, text, fill=(20, 20, 20), font=font)


def _person_label(person: Any, index: int) -> str:
    track = getattr(person, "track_id", None)
    return f"#{index if track is None else track}"


def draw_people(image: Any, people: list[Any], min_confidence: float = 0.3,
                labels: bool = True) -> np.ndarray:
    """Every person's 2D skeleton drawn on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8 RGB.
        people: objects with ``keypoints_2d`` ((17, 3) [x, y, confidence], H36M17, e.g.
            :class:`wildpose.estimator.Person`) and optionally ``track_id``.
        min_confidence: joints below it (and missing ones) are not drawn.
        labels: write each person's number (its ``track_id`` in a video, else its place in
            the list) above the head.
    Returns:
        (H, W, 3) uint8 RGB.
    """
    img = Image.fromarray(np.ascontiguousarray(np.asarray(image, np.uint8)))
    draw = ImageDraw.Draw(img)
    w, h = img.size
    width = max(3, round(min(w, h) / 120))
    for i, p in enumerate(people):
        kp = np.asarray(p.keypoints_2d, np.float64)
        ok = kp[:, 2] >= min_confidence
        draw_skeleton(draw, kp[:, :2], ok, H36M17, width)
        shown = kp[ok & np.isfinite(kp[:, :2]).all(-1), :2]
        if labels and len(shown):
            x, y = shown[:, 0].min(), shown[:, 1].min()
            size = max(10, round(min(w, h) / 40))
            _label(draw, (float(x), max(0.0, float(y) - 1.6 * size)), _person_label(p, i), size)
    return np.asarray(img)


def _pose_panel(pose_3d: np.ndarray, size: int, view: tuple[int, int], title: str
                ) -> Image.Image:
    """A ``size`` x ``size`` panel of a 3D pose seen orthographically: 2.2 m across, pelvis
    at the centre, up = -y."""
    panel = Image.new("RGB", (size, size), (245, 245, 245))
    draw = ImageDraw.Draw(panel)
    P = camera_to_plot(pose_3d)[:, list(view)]
    P = P - P[H36M17.root] if np.isfinite(P[H36M17.root]).all() else P
    s = size / 2200.0
    pts = np.stack([size / 2 + P[:, 0] * s, size / 2 - P[:, 1] * s], 1)
    draw_skeleton(draw, pts, np.isfinite(pts).all(-1), H36M17, max(2, size // 60))
    draw.rectangle((0, 0, size - 1, size - 1), outline=(190, 190, 190))
    draw.text((4, 2), title, fill=(60, 60, 60), font=_font(max(9, size // 12)))
    return panel


def people_figure(image: Any, people: list[Any], min_confidence: float = 0.3,
                  max_side: int = 1600) -> np.ndarray:
    """The picture ``wildpose predict`` saves for a photo: the photo with every skeleton drawn
    on it (:func:`draw_people`), and on its right one row per lifted person with small front
    (camera) and side views of their 3D pose (at most a third of the width).

    Args:
        image: (H, W, 3) uint8 RGB.
        people: as for :func:`draw_people`, with ``keypoints_3d`` ((17, 3) mm, NaN for a
            person not lifted).
        max_side: a photo larger than this is shown scaled down to it (pixels).
    Returns:
        (H', W', 3) uint8 RGB.
    """
    img = np.asarray(image, np.uint8)
    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        img = np.asarray(Image.fromarray(img).resize((round(w * scale), round(h * scale)),
                                                     Image.BILINEAR))
        people = [_Scaled(p, scale) for p in people]
    h, w = img.shape[:2]
    photo = draw_people(img, people, min_confidence)
    lifted = [(i, p) for i, p in enumerate(people)
              if np.isfinite(np.asarray(p.keypoints_3d)).all()]
    if not lifted:
        return photo
    size = int(max(48, min(h / len(lifted), w / 5)))
    out = Image.new("RGB", (w + 2 * size, max(h, size * len(lifted))), (255, 255, 255))
    out.paste(Image.fromarray(photo), (0, 0))
    for row, (i, p) in enumerate(lifted):
        name = _person_label(p, i)
        pose = np.asarray(p.keypoints_3d, np.float64)
        out.paste(_pose_panel(pose, size, FRONT_VIEW, f"{name} front"), (w, row * size))
        out.paste(_pose_panel(pose, size, SIDE_VIEW, f"{name} side"), (w + size, row * size))
    return np.asarray(out)


class _Scaled:
    """A person's 2D keypoints scaled with a resized photo (3D unchanged)."""

    def __init__(self, person: Any, scale: float):
        kp = np.array(person.keypoints_2d, np.float64)
        kp[:, :2] *= scale
        self.keypoints_2d, self.keypoints_3d = kp, person.keypoints_3d
        self.track_id = getattr(person, "track_id", None)


def save_people_png(path: str | os.PathLike, image: Any, people: list[Any],
                    min_confidence: float = 0.3) -> Path:
    """Write :func:`people_figure` as a PNG (parent folder created).  Returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(people_figure(image, people, min_confidence)).save(p, format="PNG",
                                                                       compress_level=3)
    return p

