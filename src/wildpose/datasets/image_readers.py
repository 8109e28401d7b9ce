"""Readers of annotated photographs: Human3.6M frames, MPII and COCO person keypoints, each
turned into :class:`AnnotatedImage` records (see :mod:`wildpose.datasets.images`).  Bad entries
are skipped, counted by reason and logged on the ``wildpose.datasets.image_readers`` logger."""

from __future__ import annotations

import inspect
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..skeleton import COCO17, H36M17, MPII16, convert_layout
from .coco import parse_coco_people
from .h36m import load_h36m
from .keypoint_files import load_json, one_line

__all__ = ["DEFAULT_CROP_MARGIN", "AnnotatedImage", "AnnotatedImages", "SkipSample",
           "SKIP_REASONS", "H36M_FRAME_PATTERN", "SOURCE_FORMATS", "read_h36m_frames",
           "read_mpii", "read_coco_keypoints", "read_source"]


log = logging.getLogger(__name__)

#: Default crop margin: the square crop's side is this times the person box's longer side.
#: Training crops (a source's ``"margin"``) and the image network's predictor
#: (:class:`~wildpose.methods.zhou_image.ZhouImagePredictor`, for models that do not record
#: theirs) both default to it, so that inference frames people as training did.
DEFAULT_CROP_MARGIN = 1.25


#: Why a sample was skipped (the keys of every ``skipped`` Counter).
SKIP_REASONS = {
    "missing_image": "image file not found",
    "corrupt_image": "image file unreadable",
    "outside_image": "no labelled joint inside the image",
    "bad_box": "empty, non-finite or huge person box",
    "malformed": "malformed annotation entry",
    "crowd": "COCO crowd annotation",
    "few_keypoints": "too few labelled keypoints",
}


#: Reasons that are ordinary filtering rather than bad data: counted, not logged per item.
_ROUTINE = {"crowd", "few_keypoints"}


#: Default file-name pattern of :func:`read_h36m_frames`: mmpose's Human3.6M preprocessing
#: (``tools/dataset_converters/preprocess_h36m.py``, its ``processed/images`` folder), whose
#: folder names are the original video names -- the same base names as the
#: 3d-pose-baseline 3D files -- and whose frame numbers start at 1.
H36M_FRAME_PATTERN = ("S{subject}/S{subject}_{action_}.{camera_id}/"
                      "S{subject}_{action_}.{camera_id}_{frame:06d}.jpg")


_IMAGE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, SyntaxError)


@dataclass(frozen=True, eq=False)
class AnnotatedImage:
    """One person in one image, in the common form every reader produces.

    Attributes:
        image: path of the image file.
        joints_2d: (17, 2) float32 image pixels, H36M17 order.  Where ``pose_mm`` is given
            all 17 are known (projections, possibly outside the image); otherwise joints
            that are not ``visible`` hold meaningless values.
        visible: (17,) bool: labelled (and, once cropped, inside the image).
        pose_mm: (17, 3) float32 root-relative camera-frame pose in mm, or None (2D only).
        box: (x0, y0, x1, y1) person box, image pixels.
        id: a short description for log lines, e.g. ``"015601864.jpg person 0"``.
        group: the recording the image belongs to, for validation splits that must not put
            near-identical frames on both sides: ``"S1/Directions 1"`` for Human3.6M (all
            cameras of one sequence); empty for a still photograph (see :attr:`split_group`).
    """

    image: str
    joints_2d: np.ndarray
    visible: np.ndarray
    pose_mm: np.ndarray | None
    box: tuple[float, float, float, float]
    id: str = ""
    group: str = ""

    @property
    def split_group(self) -> str:
        """:attr:`group`, or the image file when empty (its people stay together)."""
        return self.group or self.image


class AnnotatedImages(list):
    """A list of :class:`AnnotatedImage` that also carries what its reader skipped.

    Attributes:
        skipped: Counter of skipped items by reason (:data:`SKIP_REASONS`).
        source: the annotation file or folder read (for messages).
    """

    def __init__(self, items: Iterable[AnnotatedImage] = (), skipped: Counter | None = None,
                 source: str = ""):
        super().__init__(items)
        self.skipped: Counter = Counter(skipped or {})
        self.source = source


class SkipSample(Exception):
    """A sample that cannot be used; ``reason`` is a key of :data:`SKIP_REASONS`."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{SKIP_REASONS.get(reason, reason)}{': ' + detail if detail else ''}")
        self.reason = reason


def _skip(counter: Counter, reason: str, where: str, what: str, detail: str = "") -> None:
    """Count a skipped item and, unless it is routine filtering, log one line about it."""
    counter[reason] += 1
    if reason not in _ROUTINE:
        text = SKIP_REASONS.get(reason, reason) + (f" ({detail})" if detail else "")
        log.warning("%s: skipped %s: %s", where, what, text)


def _summary(where: str, kept: int, skipped: Counter, unit: str = "person(s)") -> str:
    """One line: how many items were kept and skipped, by reason (also logged)."""
    total = sum(skipped.values())
    reasons = ", ".join(f"{SKIP_REASONS.get(k, k)} {v}" for k, v in sorted(skipped.items()))
    line = (f"{where}: {kept} {unit} kept" +
            (f", {total} skipped ({reasons})" if total else ", none skipped"))
    (log.warning if set(skipped) - _ROUTINE else log.info)(line)
    return line


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} does not exist or is not a folder")
    return path


def _read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return load_json(path, what)


def _box_ok(box: Sequence[float]) -> bool:
    x0, y0, x1, y1 = box
    return bool(np.isfinite(box).all() and max(x1 - x0, y1 - y0) > 0)


def _joint_box(joints: np.ndarray, ok: np.ndarray) -> tuple[float, float, float, float]:
    """Tight box of the ``ok`` joints; NaN box if there are none."""
    if not ok.any():
        return (math.nan,) * 4
    p = joints[ok]
    return (float(p[:, 0].min()), float(p[:, 1].min()), float(p[:, 0].max()),
            float(p[:, 1].max()))


def read_h36m_frames(frames_dir: str | os.PathLike, h36m_dir: str | os.PathLike | None = None,
                     subjects: Sequence[int] = (1, 5, 6, 7, 8),
                     cameras: Sequence[int] = (1, 2, 3, 4), stride: int = 5,
                     pattern: str = H36M_FRAME_PATTERN, frame_base: int = 1,
                     actions: Sequence[str] | None = None) -> AnnotatedImages:
    """Extracted Human3.6M frames with labels from wildpose's Human3.6M reader.

    The 3D poses and cameras come from :func:`wildpose.datasets.h36m.load_h36m` (the
    3d-pose-baseline layout at ``h36m_dir``).  Each labelled frame's 2D joints are its 3D
    joints projected with the full camera model (distortion included), its ``pose_mm`` the
    root-relative camera-frame 3D in mm, and its box the tight box of the projected joints.

    Args:
        frames_dir: the folder the frame ``pattern`` is relative to.
        h36m_dir: the Human3.6M folder (or its parent); default
            :func:`~wildpose.datasets.h36m.default_data_dir`.
        subjects, cameras (1..4, cameras.h5 order), actions (default all): what to read.
        stride: every ``stride``-th 50 fps frame, counted from frame 0 (mmpose extracts
            every 5th by default, hence 5).
        pattern: ``str.format`` pattern of a frame's path below ``frames_dir``, with fields
            ``subject`` (int), ``action`` (the 3D file's base name, e.g. ``"Directions 1"``),
            ``action_`` (the same with ``_`` for spaces), ``camera`` (1..4), ``camera_id``
            (e.g. ``"54138969"``) and ``frame`` (int).  Default :data:`H36M_FRAME_PATTERN`
            (mmpose's layout).  anibali/h36m-fetch's layout,
            ``S{subject}/<Action>-<subaction>/imageSequence/{camera_id}/img_{frame:06d}.jpg``,
            names its folders by metadata.xml's sub-action numbers, which are not the 3D
            files' names: rename its folders to the 3D base names to use it.
        frame_base: the file number of 50 fps frame 0 (1: ffmpeg's numbering, used by both
            mmpose and h36m-fetch; 0 for 0-based extractions).
    Returns:
        :class:`AnnotatedImages`; frames whose file is absent are skipped as
        ``missing_image`` (logged once per sequence and camera, with the count).
    Raises:
        FileNotFoundError: ``frames_dir`` or the Human3.6M labels are absent.
        ValueError: a ``pattern`` with an unknown field.
    """
    root = _require_dir(Path(frames_dir), "Human3.6M frames folder")
    data = load_h36m(h36m_dir, subjects=tuple(subjects), actions=actions,
                     cameras=tuple(cameras), stride=stride, load_sh=False)
    for note in data.skipped:
        log.warning("Human3.6M labels: %s", note)
    out = AnnotatedImages(source=str(root))
    r = H36M17.root
    missing: dict[tuple, list[str]] = {}
    total: Counter = Counter()
    for i in range(len(data)):
        s, a, c, f = (int(data.subject[i]), str(data.action[i]), int(data.camera[i]),
                      int(data.frame[i]))
        cam_id = data.cameras[(s, c)].name
        try:
            rel = pattern.format(subject=s, action=a, action_=a.replace(" ", "_"), camera=c,
                                 camera_id=cam_id, frame=f + frame_base)
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"frame pattern {pattern!r}: {one_line(e)} (fields: subject, "
                             f"action, action_, camera, camera_id, frame)") from None
        path = root / rel
        total[(s, a, cam_id)] += 1
        if not path.is_file():
            missing.setdefault((s, a, cam_id), []).append(str(path))
            out.skipped["missing_image"] += 1
            continue
        kp = data.pose_2d[i].astype(np.float32)
        pose = data.pose_3d[i] - data.pose_3d[i, r]
        out.append(AnnotatedImage(str(path), kp, np.ones(H36M17.num_joints, bool),
                                  pose.astype(np.float32), _joint_box(kp, np.isfinite(kp).all(1)),
                                  f"S{s} {a} camera {cam_id} frame {f}", f"S{s}/{a}"))
    # One line per sequence and camera: a whole missing folder is one problem, not thousands.
    for (s, a, cam_id), paths in missing.items():
        log.warning("%s: skipped %d of %d frame(s) of S%d %s camera %s: image file not found "
                    "(first: %s)", root, len(paths), total[(s, a, cam_id)], s, a, cam_id,
                    paths[0])
    _summary(f"Human3.6M frames {root}", len(out), out.skipped, "frame(s)")
    return out


def _number_array(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as a float64 array of ``shape``, or None if it is not one."""
    try:
        a = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        return None
    return a if a.shape == shape else None


def read_mpii(annotation_json: str | os.PathLike, images_dir: str | os.PathLike,
              one_based: bool = True, center_shift: float = 15.0) -> AnnotatedImages:
    """MPII people from the JSON annotations of HRNet / mmpose (``train.json``,
    ``valid.json``).  2D only.

    Each entry is ``{"image": file name, "joints": 16 x [x, y], "joints_vis": 16 flags,
    "center": [x, y], "scale": s}`` with MPII's joint order, which is wildpose's
    :data:`~wildpose.skeleton.MPII16` (3d-pose-baseline's naming: MPII's thorax is
    ``Spine``, its upper neck ``Thorax``, its head top ``Head``); joints go to H36M17
    through :func:`wildpose.skeleton.convert_layout`, so ``Neck/Nose`` is never visible.

    Args:
        annotation_json: the JSON file (a list of entries).
        images_dir: the folder of the ``image`` names.
        one_based: the file's coordinates are MATLAB's 1-based ones (true of the HRNet /
            mmpose files: their readers subtract 1), so 1 is subtracted.
        center_shift: the box centre is moved down by this times ``scale`` pixels, as
            HRNet's reader does (MPII's centre sits high on the body).
    Returns:
        :class:`AnnotatedImages`; the box is ``scale * 200`` pixels square about the
        (shifted) centre.  Entries without labelled joints, with a bad box or malformed are
        skipped, as are people whose image is absent.
    """
    path = Path(annotation_json)
    doc = _read_json(path, "MPII annotation file")
    root = _require_dir(Path(images_dir), "MPII images folder")
    if isinstance(doc, dict) and isinstance(doc.get("root"), list):
        doc = doc["root"]
    if not isinstance(doc, list):
        raise ValueError(f"{path}: expected a list of MPII entries, found a "
                         f"{type(doc).__name__}")
    out = AnnotatedImages(source=str(path))
    off = 1.0 if one_based else 0.0
    n_src = MPII16.num_joints
    for i, e in enumerate(doc):
        what = f"entry #{i}"
        if not isinstance(e, dict) or not isinstance(e.get("image"), str):
            _skip(out.skipped, "malformed", str(path), what, "no 'image' name")
            continue
        what = f"entry #{i} ({e['image']})"
        joints = _number_array(e.get("joints"), (n_src, 2))
        vis = _number_array(e.get("joints_vis"), (n_src,))
        center = _number_array(e.get("center"), (2,))
        scale = _number_array(e.get("scale"), ())
        if joints is None or vis is None or center is None or scale is None:
            _skip(out.skipped, "malformed", str(path), what,
                  "needs 'joints' 16x2, 'joints_vis' 16, 'center' 2 and 'scale'")
            continue
        labelled = (vis > 0) & np.isfinite(joints).all(1)
        if not labelled.any():
            _skip(out.skipped, "few_keypoints", str(path), what)
            continue
        kp, ok = convert_layout(joints - off, MPII16, H36M17, mask=labelled)
        half = float(scale) * 100.0
        cx, cy = center[0] - off, center[1] - off + center_shift * float(scale)
        box = (cx - half, cy - half, cx + half, cy + half)
        if not (float(scale) > 0 and _box_ok(box)):
            _skip(out.skipped, "bad_box", str(path), what, f"scale {float(scale)}")
            continue
        img = root / e["image"]
        if not img.is_file():
            _skip(out.skipped, "missing_image", str(path), what, str(img))
            continue
        out.append(AnnotatedImage(str(img), kp.astype(np.float32), ok.astype(bool), None,
                                  box, f"{e['image']} entry #{i}"))
    _summary(f"MPII {path}", len(out), out.skipped)
    return out


def read_coco_keypoints(annotation_json: str | os.PathLike, images_dir: str | os.PathLike,
                        min_keypoints: int = 8) -> AnnotatedImages:
    """People of a COCO person-keypoints JSON (``person_keypoints_train2017.json`` or a
    user's own file of that form).  2D only.

    COCO17 joints go to H36M17 through :func:`wildpose.skeleton.convert_layout` (the pelvis
    is the mid-hips, the head the mid-ears, ...; a joint made from several is visible only if
    all are labelled, ``v > 0``), as :func:`wildpose.datasets.keypoint_files.load_coco_2d`
    does; its default of 8 valid H36M17 joints is kept (that function returns bare arrays,
    without the boxes and image names a crop needs).  The file is parsed by
    :func:`wildpose.datasets.coco.parse_coco_people`; the box is the annotation's ``bbox``
    ``[x, y, width, height]``.

    Args:
        annotation_json: the COCO JSON, with ``images`` and ``annotations``.
        images_dir: the folder of the images' ``file_name``.
        min_keypoints: people with fewer visible H36M17 joints are skipped (routine).
    Returns:
        :class:`AnnotatedImages`; crowd annotations (``iscrowd``) and people with too few
        keypoints are counted, malformed entries, bad boxes and absent images also logged.
    """
    path = Path(annotation_json)
    doc = _read_json(path, "COCO annotation file")
    root = _require_dir(Path(images_dir), "COCO images folder")
    if not isinstance(doc, dict) or not isinstance(doc.get("annotations"), list):
        raise ValueError(f"{path}: not a COCO keypoint file (no 'annotations' list)")
    people = parse_coco_people(doc, path)
    out = AnnotatedImages(source=str(path))
    for _, what, problem in people.skipped:
        _skip(out.skipped, "malformed", str(path), what, problem)
    kp, ok = convert_layout(people.keypoints, COCO17, H36M17, mask=people.labelled())
    missing_files: set[str] = set()
    for n in range(len(people)):
        what = f"annotation #{people.positions[n]} (id {people.ann_ids[n]})"
        box = tuple(float(v) for v in people.boxes[n])
        if people.crowd[n]:
            _skip(out.skipped, "crowd", str(path), what)
        elif not np.isfinite(box).all():
            _skip(out.skipped, "malformed", str(path), what, "needs a 'bbox' of 4 numbers")
        elif people.image_files[n] is None:
            _skip(out.skipped, "malformed", str(path), what,
                  f"image_id {people.image_ids[n]!r} is not in 'images'")
        elif int(ok[n].sum()) < min_keypoints:
            _skip(out.skipped, "few_keypoints", str(path), what)
        elif not (box[2] > box[0] and box[3] > box[1] and _box_ok(box)):
            _skip(out.skipped, "bad_box", str(path), what, f"box (x0, y0, x1, y1) {box}")
        elif str(img := root / people.image_files[n]) in missing_files or not img.is_file():
            missing_files.add(str(img))
            _skip(out.skipped, "missing_image", str(path), what, str(img))
        else:
            out.append(AnnotatedImage(str(img), kp[n].astype(np.float32), ok[n].astype(bool),
                                      None, box, f"{people.image_files[n]} {what}"))
    _summary(f"COCO {path}", len(out), out.skipped)
    return out


#: Training-config source formats: ``{"format": <key>, ...}`` -> reader.
SOURCE_FORMATS = {"h36m-frames": read_h36m_frames, "mpii": read_mpii,
                  "coco": read_coco_keypoints}


_COMMON_OPTIONS = {"format", "margin", "max_samples"}


def read_source(source: dict[str, Any], data_root: str | os.PathLike | None = None,
                what: str = "source") -> tuple[AnnotatedImages, float]:
    """Read one training-config source dict.

    Args:
        source: ``{"format": "h36m-frames" | "mpii" | "coco", <the reader's arguments>,
            "margin": crop margin (default :data:`DEFAULT_CROP_MARGIN`), "max_samples":
            keep that many evenly spaced samples (default all)}``; e.g. ``{"format":
            "mpii", "annotation_json": "mpii/annot/train.json", "images_dir":
            "mpii/images"}``.  ``h36m-frames``'s ``h36m_dir`` defaults to ``data_root``.
        what: how messages name the source, e.g. ``"lab source #0"``.
    Returns:
        ``(samples, margin)``.
    Raises:
        ValueError: one line naming the source for an unknown format, an unknown option or a
            missing required one.
    """
    if not isinstance(source, dict):
        raise ValueError(f"{what}: expected an object like {{\"format\": \"mpii\", ...}}, "
                         f"got {type(source).__name__}")
    fmt = source.get("format")
    if fmt not in SOURCE_FORMATS:
        raise ValueError(f"{what}: unknown format {fmt!r}; formats: "
                         f"{', '.join(SOURCE_FORMATS)}")
    reader = SOURCE_FORMATS[fmt]
    params = inspect.signature(reader).parameters
    unknown = set(source) - set(params) - _COMMON_OPTIONS
    if unknown:
        raise ValueError(f"{what} ({fmt}): unknown option(s) {', '.join(sorted(unknown))}; "
                         f"options: {', '.join(sorted(set(params) | _COMMON_OPTIONS))}")
    kwargs = {k: v for k, v in source.items() if k in params}
    if fmt == "h36m-frames" and kwargs.get("h36m_dir") is None:
        kwargs["h36m_dir"] = data_root
    needed = [k for k, p in params.items() if p.default is inspect.Parameter.empty
              and k not in kwargs]
    if needed:
        raise ValueError(f"{what} ({fmt}): missing option(s) {', '.join(needed)}")
    samples = reader(**kwargs)
    limit = int(source.get("max_samples") or 0)
    if 0 < limit < len(samples):
        pick = np.linspace(0, len(samples) - 1, limit).round().astype(int)
        samples = AnnotatedImages([samples[i] for i in pick], samples.skipped,
                                  samples.source)
    return samples, float(source.get("margin", DEFAULT_CROP_MARGIN))
