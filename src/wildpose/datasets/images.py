"""Real photographs for the image network: Human3.6M frames, MPII and COCO person crops.

Every reader turns one annotation layout into the same record, :class:`AnnotatedImage`
(image path, H36M17 joints in image pixels, which of them are visible, the root-relative
camera-frame pose in mm where the data set has one, and a person box).  A
:class:`PersonCrops` data set reads the images lazily and cuts one square ``S x S`` crop per
person; :func:`materialize` writes all crops to a resumable cache and returns the
:class:`~wildpose.datasets.image_set.ImageSet` the trainer eats.

Readers (each returns :class:`AnnotatedImages`, a list that also counts what it skipped):

* :func:`read_h36m_frames` -- extracted Human3.6M video frames, labelled by wildpose's own
  Human3.6M reader (3d-pose-baseline layout: ``cameras.h5`` and ``MyPoses/3D_positions``).
  3D and 2D labels; the 2D are the 3D projected with the full camera model.
* :func:`read_mpii` -- the MPII JSON of HRNet / mmpose (``image``, ``joints``,
  ``joints_vis``, ``center``, ``scale``).  2D only.
* :func:`read_coco_keypoints` -- a COCO person-keypoints JSON.  2D only.

Coordinates: pixels with integer values at pixel centres (pixel ``(0, 0)`` spans
``[-0.5, 0.5)``), x right, y down, in the image and in the crop alike.  A crop of side
``side`` image pixels centred on the box centre maps crop pixel ``k`` to image pixel
``origin + step * (k + 0.5) - 0.5`` per axis (``step = side / S``, ``origin`` the crop's
top-left edge in image edge coordinates) -- the same geometry as
:meth:`wildpose.methods.zhou_image.ZhouImagePredictor.crop` with ``box_scale = margin``.

Bad input never stops a run: a missing or unreadable image, an annotation entry that is
malformed, a box that is empty and a person with no labelled joint inside the image are
skipped, counted by reason (``skipped`` Counters, keys in :data:`SKIP_REASONS`) and logged on
the ``wildpose.datasets.images`` logger, one line per item (routine filtering -- COCO crowd
boxes, people with too few keypoints -- is only counted), plus one summary line per source.
A missing annotation file or image folder is an error, not a skip.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..chunked import write_chunks
from ..locking import exclusive
from ..skeleton import COCO17, H36M17, MPII16, convert_layout
from .h36m import load_h36m
from .image_set import ImageSet, image_set_from_renders

__all__ = ["AnnotatedImage", "AnnotatedImages", "Crop", "SkipSample", "PersonCrops",
           "SKIP_REASONS", "H36M_FRAME_PATTERN", "DEFAULT_CROP_MARGIN", "SOURCE_FORMATS",
           "read_h36m_frames", "read_mpii", "read_coco_keypoints", "crop_window",
           "image_to_crop", "crop_image", "crop_sample", "materialize", "read_source",
           "load_image_sources"]

log = logging.getLogger(__name__)

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

#: Default crop margin: the square crop's side is this times the person box's longer side.
#: Training crops (a source's ``"margin"``) and the image network's predictor
#: (:class:`~wildpose.methods.zhou_image.ZhouImagePredictor`, for models that do not record
#: theirs) both default to it, so that inference frames people as training did.
DEFAULT_CROP_MARGIN = 1.25


# ------------------------------------------------------------------------------ records
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


@dataclass(eq=False)
class Crop:
    """One person crop.

    Attributes:
        image: (S, S, 3) uint8 RGB.
        joints_2d: (17, 2) float32 crop pixels.
        visible: (17,) bool, labelled and inside the source image.
        pose_mm: (17, 3) float32 root-relative camera mm, or None.
        origin: (2,) the crop's top-left edge in image edge coordinates (pixels).
        step: image pixels per crop pixel.
    """

    image: np.ndarray
    joints_2d: np.ndarray
    visible: np.ndarray
    pose_mm: np.ndarray | None
    origin: np.ndarray
    step: float


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


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    return path


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} does not exist or is not a folder")
    return path


def _read_json(path: Path, what: str) -> Any:
    _require_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON (line {e.lineno} column {e.colno}: "
                         f"{e.msg})") from None
    except (UnicodeDecodeError, OSError) as e:
        raise ValueError(f"{path}: cannot read {what} ({_one_line(e)})") from None


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


# ------------------------------------------------------------------------ Human3.6M frames
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
            raise ValueError(f"frame pattern {pattern!r}: {_one_line(e)} (fields: subject, "
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


# ----------------------------------------------------------------------------------- MPII
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


# ----------------------------------------------------------------------------------- COCO
def read_coco_keypoints(annotation_json: str | os.PathLike, images_dir: str | os.PathLike,
                        min_keypoints: int = 8) -> AnnotatedImages:
    """People of a COCO person-keypoints JSON (``person_keypoints_train2017.json`` or a
    user's own file of that form).  2D only.

    COCO17 joints go to H36M17 through :func:`wildpose.skeleton.convert_layout` (the pelvis
    is the mid-hips, the head the mid-ears, ...; a joint made from several is visible only if
    all are labelled, ``v > 0``), as :func:`wildpose.datasets.coco.load_coco_2d` does; its
    default of 8 valid H36M17 joints is kept (that function returns bare arrays, without the
    boxes and image names a crop needs, hence this reader).  The box is the annotation's
    ``bbox`` ``[x, y, width, height]``.

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
    files = {im["id"]: im["file_name"] for im in doc.get("images") or []
             if isinstance(im, dict) and "id" in im and isinstance(im.get("file_name"), str)}
    out = AnnotatedImages(source=str(path))
    n_vals = 3 * COCO17.num_joints
    missing_files: set[str] = set()
    for i, ann in enumerate(doc["annotations"]):
        what = f"annotation #{i}" + (f" (id {ann.get('id')})" if isinstance(ann, dict) else "")
        if not isinstance(ann, dict):
            _skip(out.skipped, "malformed", str(path), what, "not an object")
            continue
        if ann.get("iscrowd"):
            _skip(out.skipped, "crowd", str(path), what)
            continue
        kps = _number_array(ann.get("keypoints"), (n_vals,))
        bbox = _number_array(ann.get("bbox"), (4,))
        if kps is None or bbox is None:
            _skip(out.skipped, "malformed", str(path), what,
                  f"needs 'keypoints' of {n_vals} numbers and 'bbox' of 4")
            continue
        iid = ann.get("image_id")
        if not isinstance(iid, (int, str)) or iid not in files:
            _skip(out.skipped, "malformed", str(path), what,
                  f"image_id {ann.get('image_id')!r} is not in 'images'")
            continue
        a = kps.reshape(COCO17.num_joints, 3)
        kp, ok = convert_layout(a[:, :2], COCO17, H36M17,
                                mask=(a[:, 2] > 0) & np.isfinite(a[:, :2]).all(1))
        if int(ok.sum()) < min_keypoints:
            _skip(out.skipped, "few_keypoints", str(path), what)
            continue
        x, y, w, h = bbox
        box = (x, y, x + w, y + h)
        if not (w > 0 and h > 0 and _box_ok(box)):
            _skip(out.skipped, "bad_box", str(path), what, f"bbox {bbox.tolist()}")
            continue
        img = root / files[iid]
        if str(img) in missing_files or not img.is_file():
            missing_files.add(str(img))
            _skip(out.skipped, "missing_image", str(path), what, str(img))
            continue
        out.append(AnnotatedImage(str(img), kp.astype(np.float32), ok.astype(bool), None,
                                  box, f"{files[iid]} {what}"))
    _summary(f"COCO {path}", len(out), out.skipped)
    return out


# ------------------------------------------------------------------------------ cropping
def crop_window(box: Sequence[float], margin: float) -> tuple[np.ndarray, float]:
    """The square crop window of a person box.

    Args:
        box: (x0, y0, x1, y1) image pixels (integer = pixel centre).
        margin: the window's side is this times the box's longer side.
    Returns:
        ``(origin, side)``: (2,) top-left corner in image *edge* coordinates (pixel ``u``
        spans ``[u, u + 1)`` there) and the side in image pixels; the window is centred on
        the box centre.  Raises :class:`SkipSample` (``bad_box``) for an unusable box.
    """
    if len(box) != 4 or not _box_ok(box) or not margin > 0:
        raise SkipSample("bad_box", f"box {tuple(float(v) for v in box)}, margin {margin}")
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * float(margin)
    # +0.5: from pixel-centre to edge coordinates.
    centre = np.array([(x0 + x1) / 2 + 0.5, (y0 + y1) / 2 + 0.5])
    return centre - side / 2, side


def image_to_crop(points: np.ndarray, origin: np.ndarray, step: float) -> np.ndarray:
    """(..., 2) image pixels -> crop pixels: ``(p + 0.5 - origin) / step - 0.5``."""
    return (np.asarray(points, np.float64) + 0.5 - origin) / step - 0.5


def crop_image(image: Any, origin: np.ndarray, side: float, size: int) -> np.ndarray:
    """Resample a square window of a PIL image to ``size x size`` pixels.

    Args:
        image: a PIL RGB image.
        origin: (2,) the window's top-left corner, image edge coordinates.
        side: the window's side, image pixels (any real value > 0).
        size: S, the output side in pixels.
    Returns:
        (S, S, 3) uint8.  Antialiased bilinear (PIL's resize, so a large window is averaged
        rather than point-sampled); the window's parts outside the image are black.
    """
    from PIL import Image

    ox, oy = float(origin[0]), float(origin[1])
    # PIL's resize takes a fractional source box but only inside the image, and its crop
    # pads outside with zeros: crop an integer region one pixel wider than the window (so
    # the filter sees the padding at the border), then resize the exact window within it.
    ix0, iy0 = math.floor(ox) - 1, math.floor(oy) - 1
    ix1, iy1 = math.ceil(ox + side) + 1, math.ceil(oy + side) + 1
    region = image.crop((ix0, iy0, ix1, iy1))
    win = (ox - ix0, oy - iy0, ox - ix0 + side, oy - iy0 + side)
    out = region.resize((size, size), Image.BILINEAR, box=win)
    return np.asarray(out, np.uint8).reshape(size, size, 3)


def _open_rgb(path: str) -> Any:
    """Decode an image file fully, as RGB; a missing or unreadable file raises SkipSample."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated or corrupt file fails here, not mid-batch
            return im.convert("RGB")
    except FileNotFoundError:
        raise SkipSample("missing_image", path) from None
    except (*_IMAGE_ERRORS, Image.DecompressionBombError) as e:
        raise SkipSample("corrupt_image", f"{path}: {_one_line(e)}") from None


#: A window larger than this many times the image's longer side is a broken annotation (and
#: would allocate a huge padded region).
_MAX_WINDOW = 8.0


def crop_sample(sample: AnnotatedImage, size: int, margin: float = DEFAULT_CROP_MARGIN
                ) -> Crop:
    """Read a sample's image and cut its person crop.

    Joints outside the image (``[-0.5, W - 0.5) x [-0.5, H - 0.5)``) are made invisible.

    Args:
        sample: the record; size: S, crop side in pixels; margin: see :func:`crop_window`.
    Returns:
        :class:`Crop`.
    Raises:
        SkipSample: missing or unreadable image, unusable box, or no visible joint inside the
            image (``reason`` says which).
    """
    origin, side = crop_window(sample.box, margin)
    img = _open_rgb(sample.image)
    w, h = img.size
    kp = np.asarray(sample.joints_2d, np.float64)
    inside = (np.isfinite(kp).all(1) & (kp[:, 0] >= -0.5) & (kp[:, 0] < w - 0.5)
              & (kp[:, 1] >= -0.5) & (kp[:, 1] < h - 0.5))
    visible = np.asarray(sample.visible, bool) & inside
    if not visible.any():
        raise SkipSample("outside_image", f"{w}x{h} image")
    if side > _MAX_WINDOW * max(w, h):
        raise SkipSample("bad_box", f"{side:.0f} px window on a {w}x{h} image")
    step = side / size
    pose = None if sample.pose_mm is None else np.asarray(sample.pose_mm, np.float32)
    return Crop(crop_image(img, origin, side, size),
                image_to_crop(kp, origin, step).astype(np.float32), visible, pose, origin,
                step)


class PersonCrops:
    """Square person crops of annotated images, read lazily (one image file per item).

    Args:
        samples: :class:`AnnotatedImage` records (a reader's :class:`AnnotatedImages`, whose
            skip counts are carried over).
        size: S, the crop side in pixels.
        margin: the crop's side is ``margin`` times the person box's longer side.
        name: used in messages and cache file names.

    ``crops[i]`` is a :class:`Crop`, or None for a sample that cannot be used (its reason is
    counted in :attr:`skipped` and logged).
    """

    def __init__(self, samples: Sequence[AnnotatedImage], size: int = 64,
                 margin: float = DEFAULT_CROP_MARGIN, name: str = "images"):
        if size < 1 or not margin > 0:
            raise ValueError(f"{name}: crop size must be >= 1 and margin > 0, got size "
                             f"{size}, margin {margin}")
        self.samples = list(samples)
        self.size, self.margin, self.name = int(size), float(margin), name
        self.read_skipped: Counter = Counter(getattr(samples, "skipped", {}))
        self.load_skipped: Counter = Counter()
        self._fingerprints: dict[int, str] = {}  # hashing 10^5 samples takes a moment

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def skipped(self) -> Counter:
        """Skips of the reader and of image loading, by reason."""
        return self.read_skipped + self.load_skipped

    def crop(self, i: int, size: int | None = None) -> Crop:
        """Sample ``i``'s crop (at ``size``, default :attr:`size`); raises SkipSample."""
        return crop_sample(self.samples[i], self.size if size is None else size, self.margin)

    def __getitem__(self, i: int) -> Crop | None:
        try:
            return self.crop(i)
        except SkipSample as e:
            _skip(self.load_skipped, e.reason, self.name, self.samples[i].id or f"#{i}",
                  str(e))
            return None

    def fingerprint(self, size: int | None = None) -> str:
        """sha1 of everything a crop depends on: paths, labels, boxes, size and margin."""
        size = self.size if size is None else int(size)
        if size not in self._fingerprints:
            self._fingerprints[size] = self._hash(size)
        return self._fingerprints[size]

    def _hash(self, size: int) -> str:
        h = hashlib.sha1()
        h.update(json.dumps([1, size, self.margin, len(self)]).encode())
        for s in self.samples:
            pose = (np.full((H36M17.num_joints, 3), np.nan, np.float32) if s.pose_mm is None
                    else np.asarray(s.pose_mm, np.float32))
            h.update(s.image.encode())
            for a in (np.asarray(s.joints_2d, np.float32), np.asarray(s.visible, bool),
                      pose, np.asarray(s.box, np.float64)):
                h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()


# --------------------------------------------------------------------------- materialize
_CHUNK_KEYS = ("image", "joints_2d", "visible", "pose_mm", "has_3d", "index")


def _crop_chunk(dataset: PersonCrops, start: int, stop: int, size: int,
                counter: Counter) -> dict[str, np.ndarray]:
    """Crops of samples ``start..stop-1``: kept rows' arrays and the skipped rows' reasons."""
    j = H36M17.num_joints
    rows, skip_index, skip_reason = [], [], []
    for i in range(start, stop):
        try:
            rows.append((i, dataset.crop(i, size)))
        except SkipSample as e:
            _skip(counter, e.reason, dataset.name, dataset.samples[i].id or f"#{i}", str(e))
            skip_index.append(i)
            skip_reason.append(e.reason)
    nan_pose = np.full((j, 3), np.nan, np.float32)
    return {
        "image": np.stack([c.image for _, c in rows]) if rows
        else np.zeros((0, size, size, 3), np.uint8),
        "joints_2d": np.array([c.joints_2d for _, c in rows], np.float32).reshape(-1, j, 2),
        "visible": np.array([c.visible for _, c in rows], bool).reshape(-1, j),
        "pose_mm": np.array([nan_pose if c.pose_mm is None else c.pose_mm for _, c in rows],
                            np.float32).reshape(-1, j, 3),
        "has_3d": np.array([c.pose_mm is not None for _, c in rows], bool),
        "index": np.array([i for i, _ in rows], np.int64),
        "skip_index": np.array(skip_index, np.int64),
        "skip_reason": np.array(skip_reason, dtype=str),
    }


def _write_cache(dataset: PersonCrops, out: Path, size: int, chunk: int,
                 settings: dict, progress: bool) -> None:
    """Crop into ``<out>.parts/`` chunk by chunk (resumable), then assemble ``out/``."""
    parts = out.with_name(out.name + ".parts")
    files = write_chunks(parts, settings, len(dataset), chunk,
                         lambda a, b: _crop_chunk(dataset, a, b, size, Counter()),
                         f"crop {dataset.name}", progress)
    # Assemble: images go straight into a memory-mapped .npy, so neither this step nor
    # training needs all crops in memory at once.
    kept, reasons = 0, Counter()
    for part in files:
        with np.load(part) as z:
            kept += len(z["index"])
            reasons.update(str(r) for r in z["skip_reason"])
    tmp_dir = out.with_name(out.name + ".tmp")
    if tmp_dir.exists():
        shutil.rmtree(tmp_dir)
    tmp_dir.mkdir(parents=True)
    images = np.lib.format.open_memmap(tmp_dir / "image.npy", "w+", np.uint8,
                                       (kept, size, size, 3))
    rest: dict[str, list[np.ndarray]] = {k: [] for k in _CHUNK_KEYS if k != "image"}
    row = 0
    for part in files:
        with np.load(part) as z:
            k = len(z["index"])
            images[row:row + k] = z["image"]
            row += k
            for key in rest:
                rest[key].append(z[key])
    images.flush()
    del images
    for key, v in rest.items():
        np.save(tmp_dir / f"{key}.npy", np.concatenate(v))
    (tmp_dir / "meta.json").write_text(json.dumps({"settings": settings, "count": kept,
                                                   "skipped": dict(reasons)}))
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp_dir, out)
    shutil.rmtree(parts)


def materialize(dataset: PersonCrops, cache_path: str | os.PathLike | None = None,
                size: int | None = None, progress: bool = True, chunk: int = 500):
    """Crop every sample of a :class:`PersonCrops` and return them as an ImageSet.

    With ``cache_path`` the crops go to that folder (``image.npy`` (N, S, S, 3) uint8,
    memory-mapped when loaded; ``joints_2d.npy`` (N, 17, 2) float32 crop px;
    ``visible.npy`` (N, 17) bool; ``pose_mm.npy`` (N, 17, 3) float32 mm, NaN without 3D;
    ``has_3d.npy``, ``index.npy`` (N,) the sample each row comes from; ``meta.json``).
    Chunks of ``chunk`` samples are written to ``<cache_path>.parts/`` as they finish, so an
    interrupted call resumes where it stopped when called again with the same samples and
    settings; a finished folder is simply loaded.  Processes sharing a cache path take turns
    (a ``<cache_path>.lock`` file), so ranks of one job crop once.  Without ``cache_path``
    the crops are made in memory.

    Args:
        dataset: the crops to make; size: S (default ``dataset.size``).
    Returns:
        :class:`~wildpose.datasets.image_set.ImageSet` with ``visible`` and ``group`` (each
        row's :attr:`AnnotatedImage.split_group`, looked up from the samples, so not part
        of the cache); when every kept sample has 3D also ``pose_mm`` and the depth
        targets, computed as for the synthetic renders
        (:func:`~wildpose.datasets.image_set.image_set_from_renders`).  The skips of loading
        are stored in ``dataset.load_skipped`` (and logged, one line each, plus a summary).
    Raises:
        ValueError: no sample could be used, or ``cache_path`` holds crops of other samples
            or settings.
    """

    size = dataset.size if size is None else int(size)
    n = len(dataset)
    if cache_path is None:
        arrays = _crop_chunk(dataset, 0, n, size, Counter())
        reasons = Counter(str(r) for r in arrays["skip_reason"])
    else:
        out = Path(cache_path)
        settings = {"version": 1, "size": size, "margin": dataset.margin, "n": n,
                    "chunk": int(chunk), "samples": dataset.fingerprint(size)}
        done = out / "meta.json"
        if not done.is_file():
            with exclusive(out.with_name(out.name + ".lock")):
                if not done.is_file():  # another process may have finished meanwhile
                    _write_cache(dataset, out, size, chunk, settings, progress)
        meta = json.loads(done.read_text())
        if meta["settings"] != settings:
            raise ValueError(f"{out} holds crops of other samples or settings; delete it or "
                             f"choose another cache path")
        arrays = {k: np.load(out / f"{k}.npy", mmap_mode="r" if k == "image" else None)
                  for k in _CHUNK_KEYS}
        reasons = Counter(meta["skipped"])
    dataset.load_skipped = reasons
    _summary(f"{dataset.name} crops", len(arrays["index"]), dataset.skipped, "crop(s)")
    if not len(arrays["index"]):
        why = ", ".join(f"{k} {v}" for k, v in sorted(dataset.skipped.items())) or "no samples"
        raise ValueError(f"{dataset.name}: no usable sample ({why})")
    if bool(arrays["has_3d"].all()):
        out_set = image_set_from_renders({"image": arrays["image"], "joints_2d": arrays["joints_2d"],
                              "joints_3d": arrays["pose_mm"]}, True)
    else:
        out_set = ImageSet(np.asarray(arrays["image"]),
                           np.asarray(arrays["joints_2d"], np.float32))
    out_set.visible = np.asarray(arrays["visible"], bool)
    out_set.group = np.array([dataset.samples[i].split_group for i in arrays["index"]], str)
    return out_set


# ------------------------------------------------------------------------------ sources
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


def _concat(sets: list, keep_3d: bool):
    """One ImageSet of several (3D kept only if ``keep_3d``)."""

    if len(sets) == 1:
        s = sets[0]
        return s if keep_3d else ImageSet(s.images, s.joints_2d, visible=s.visible,
                                          group=s.group)
    cat = lambda k: np.concatenate([getattr(s, k) for s in sets])  # noqa: E731
    # Groups are not prefixed by source: the same sequence or image read twice is still one.
    return ImageSet(cat("images"), cat("joints_2d"), cat("pose_mm") if keep_3d else None,
                    cat("depth") if keep_3d else None, cat("visible"), cat("group"))


def load_image_sources(sources: Sequence[dict[str, Any]], size: int,
                       cache_dir: str | os.PathLike | None, role: str,
                       require_3d: bool, data_root: str | os.PathLike | None = None,
                       progress: bool = False) -> tuple[Any, list[str]]:
    """Read, crop and cache the sources of one training role ("lab" or "wild").

    Each source becomes ``<cache_dir>/<role><i>-<format>-<hash>/`` (:func:`materialize`;
    the hash covers the samples, crop size and margin, so a changed source is re-cropped and
    an unchanged one reused).

    Args:
        sources: source dicts (:func:`read_source`).
        size: crop side S, pixels.
        require_3d: every source must give 3D (lab); else 3D is dropped (wild: 2D only).
    Returns:
        ``(ImageSet, notes)``: the sources' crops concatenated, and one line per source.
    Raises:
        ValueError: an empty source list, a bad source, a lab source without 3D, or a source
            of which no sample could be used.
    """
    if not sources:
        raise ValueError(f"no {role} sources given")
    sets, notes = [], []
    for i, src in enumerate(sources):
        what = f"{role} source #{i}"
        samples, margin = read_source(src, data_root, what)
        fmt = src["format"]
        crops = PersonCrops(samples, size, margin, name=f"{what} ({fmt})")
        path = None
        if cache_dir is not None:
            path = Path(cache_dir) / f"{role}{i}-{fmt}-{crops.fingerprint(size)[:10]}"
        s = materialize(crops, path, size, progress)
        if require_3d and s.pose_mm is None:
            raise ValueError(f"{what} ({fmt}): has no 3D labels; a lab source must be one "
                             f"with 3D (h36m-frames)")
        sets.append(s)
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(crops.skipped.items())) or "none"
        notes.append(f"{what} ({fmt}): {len(s)} crops{' with 3D' if require_3d else ''} "
                     f"from {samples.source}; skipped: {skipped}")
    return _concat(sets, require_3d), notes
