"""Read users' 2D keypoint files into one uniform structure, :class:`KeypointSet`.

Supported files (:func:`read_keypoints` picks the reader by extension, case-insensitively):

``.npy``
    One numeric array in any of these shapes (J = 17 or 16 joints)::

        (N, J, 2)   x, y pixels             (N, 2J)   x0, y0, x1, y1, ... per row
        (N, J, 3)   x, y, confidence        (N, 3J)   x0, y0, c0, x1, y1, c1, ... per row
        (J, 2)      one pose                (J, 3)    one pose with confidence

    e.g. the ``wild/*.npy`` files of shape (1, 34).  A .npy file does not say which layout
    its joints are in.  With 16 joints it is ``mpii16``; with 17 it is ambiguous between
    Human3.6M's and COCO's 17 joints, and **defaults to ``h36m17``** -- pass
    ``layout="coco17"`` for COCO-ordered arrays.
``.npz``
    Entry ``keypoints`` (or the only entry) as above, plus optional entries ``layout``
    (a string, e.g. ``np.array("coco17")``), ``ids`` (N strings) and ``confidence`` (N, J).
``.json``
    * COCO keypoint format: a full COCO file with ``"annotations"`` (and optionally
      ``"images"``, used for image file names), a plain list of annotation dicts (as in a
      COCO results file), or a single annotation dict.  Each annotation's ``"keypoints"`` is
      51 numbers, (x, y, v) per COCO joint.  ``v = 0`` marks a missing joint, ``v > 0`` a
      labelled one; ``v`` is also read as a confidence clipped to [0, 1], so the flags 1 and
      2 give confidence 1 and detector scores in (0, 1) are kept.  Annotations with
      ``num_keypoints == 0`` or with every ``v == 0`` are skipped, as are malformed ones
      (no/short/long/non-numeric keypoints); each skip is recorded with its reason in
      :attr:`KeypointSet.skipped`.
    * wildpose JSON: ``{"layout": "h36m17", "keypoints": [[[x, y], ...], ...]}`` with the
      same shapes as a .npy array (``null`` for a missing coordinate) and optional
      ``"ids"``.  Without ``"layout"`` the .npy defaults apply.

In every format a joint whose coordinates are missing, NaN or infinite, or whose confidence
is <= 0 or NaN, is invalid.  Invariants of a :class:`KeypointSet`: invalid joints have
coordinates 0 and confidence 0; valid joints have confidence in (0, 1] (1 where the file
gives none).

Every problem raises a one-line ``FileNotFoundError`` or ``ValueError`` that starts with the
file's path.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..skeleton import COCO17, H36M17, LAYOUTS, Skeleton, convert_layout, get_layout, \
    joint_confidence
from .coco import parse_coco_people

__all__ = ["KeypointSet", "read_keypoints", "load_coco_2d", "load_json", "one_line",
           "SUPPORTED_EXTENSIONS", "ACCEPTED_SHAPES"]

SUPPORTED_EXTENSIONS = (".npy", ".npz", ".json")

#: The array shapes accepted for .npy / .npz / wildpose-JSON keypoints (for error messages).
ACCEPTED_SHAPES = "(N, J, 2), (N, J, 3) [x, y, conf], (J, 2), (J, 3), (N, 2J), (N, 3J)"

#: The layout of a file that states none, by its joint count.
_DEFAULT_LAYOUTS = {17: "h36m17", 16: "mpii16"}


@dataclass
class KeypointSet:
    """2D keypoints of N people (or frames) in one joint layout.

    Attributes:
        keypoints: (N, J, 2) float32 pixel coordinates (0 where invalid).
        confidence: (N, J) float32 in [0, 1]; 1 where the file gives no confidence, 0 where
            the joint is invalid.
        valid: (N, J) bool; False for missing / NaN / zero-confidence joints.
        layout: the :class:`~wildpose.skeleton.Skeleton` the J joints are ordered by.
        ids: N sample ids, e.g. ``"running#0"`` or ``"image 397133 / ann 200887"``.
        source: path of the file read.
        skipped: one note per entry of the file that was skipped, with the reason.
        image_files: N image file names where the file names them (COCO ``images``), else
            None per sample.
        meta: optional per-sample labels, {name: N strings}, e.g. MPII's ``"activity"``
            and ``"category"``; empty when the source has none.
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    valid: np.ndarray
    layout: Skeleton
    ids: list[str]
    source: str
    skipped: list[str] = field(default_factory=list)
    image_files: list[str | None] = field(default_factory=list)
    meta: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, j = self.keypoints.shape[:2]
        if self.keypoints.shape != (n, j, 2) or self.confidence.shape != (n, j) \
                or self.valid.shape != (n, j):
            raise ValueError(f"inconsistent KeypointSet shapes: keypoints "
                             f"{self.keypoints.shape}, confidence {self.confidence.shape}, "
                             f"valid {self.valid.shape}")
        if j != self.layout.num_joints:
            raise ValueError(f"keypoints have {j} joints but layout {self.layout.name} has "
                             f"{self.layout.num_joints}")
        if len(self.ids) != n:
            raise ValueError(f"{len(self.ids)} ids for {n} samples")
        if not self.image_files:
            self.image_files = [None] * n
        elif len(self.image_files) != n:
            raise ValueError(f"{len(self.image_files)} image file names for {n} samples")
        for key, values in self.meta.items():
            if len(values) != n:
                raise ValueError(f"{len(values)} {key!r} labels for {n} samples")

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @property
    def num_joints(self) -> int:
        return int(self.keypoints.shape[1])

    def select(self, rows: Any) -> "KeypointSet":
        """The samples at ``rows`` (an index or boolean array), with their ids, image names
        and labels; source and skipped notes are kept."""
        idx = np.arange(len(self))[rows]
        return KeypointSet(self.keypoints[idx], self.confidence[idx], self.valid[idx],
                           self.layout, [self.ids[i] for i in idx], self.source,
                           list(self.skipped), [self.image_files[i] for i in idx],
                           {k: [v[i] for i in idx] for k, v in self.meta.items()})

    def to_layout(self, name: str | Skeleton) -> "KeypointSet":
        """The same samples converted to another joint layout.

        Uses :func:`wildpose.skeleton.convert_layout`: a joint made from several source
        joints (e.g. H36M ``Hip`` = mid COCO hips) is valid only if all of them are, and its
        confidence is the minimum of theirs; a joint the source cannot supply is invalid with
        confidence 0.  Ids, source, skipped notes, image names and labels are kept.
        """
        dst = get_layout(name)
        kp, valid = convert_layout(self.keypoints, self.layout, dst, mask=self.valid)
        conf = np.where(valid, joint_confidence(self.confidence, self.layout, dst,
                                                self.valid), 0).astype(np.float32)
        kp = np.where(valid[..., None], kp, 0).astype(np.float32)
        return KeypointSet(kp, conf, valid.astype(bool), dst, list(self.ids), self.source,
                           list(self.skipped), list(self.image_files),
                           {k: list(v) for k, v in self.meta.items()})


def load_coco_2d(path: str | os.PathLike, min_valid_joints: int = 8, require_root: bool = True,
                 notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read the people of a COCO keypoint file as H36M17 2D training samples.

    COCO has no pelvis, spine, thorax or head top: H36M17's ``Hip`` is the mid-hips,
    ``Spine`` the mean of the four torso corners, ``Thorax`` the mid-shoulders and ``Head``
    the mid-ears (see :mod:`wildpose.skeleton`); a synthesized joint is valid only if every
    COCO joint it is made from is labelled.

    Args:
        path: a COCO keypoint json (full file, list of annotations or one annotation); any
            other file :func:`read_keypoints` reads works too.
        min_valid_joints: people with fewer valid H36M17 joints are skipped.
        require_root: also skip people whose pelvis (both hips) is not labelled, since the
            2D normalization centres every pose on it.
        notes: if given, one line per kind of skip is appended (also issued as a warning).
    Returns:
        ``(keypoints, valid)``: (N, 17, 2) float32 pixels in H36M17 order (0 where invalid)
        and (N, 17) bool.
    Raises:
        ValueError: one line naming the file, for an unreadable file, a file with no persons,
            or a file whose persons are all skipped.
    """
    ks = read_keypoints(path)
    n_read = len(ks)
    h = ks.to_layout(H36M17)
    count = h.valid.sum(1)
    few = count < min_valid_joints
    no_root = ~h.valid[:, H36M17.root] & ~few if require_root else np.zeros_like(few)
    keep = ~few & ~no_root
    msgs = []
    if ks.skipped:
        msgs.append(f"{path}: skipped {len(ks.skipped)} malformed or empty annotation(s) "
                    f"(first: {ks.skipped[0]})")
    if few.any():
        msgs.append(f"{path}: skipped {int(few.sum())} of {n_read} person(s) with fewer than "
                    f"{min_valid_joints} valid H36M17 joints")
    if no_root.any():
        msgs.append(f"{path}: skipped {int(no_root.sum())} of {n_read} person(s) without "
                    f"both hips (no pelvis to centre on)")
    for m in msgs:
        warnings.warn(m, stacklevel=2)
    if notes is not None:
        notes.extend(msgs)
    if not keep.any():
        raise ValueError(f"{path}: no usable person: all {n_read} person(s) skipped (fewer "
                         f"than {min_valid_joints} valid joints"
                         f"{' or no pelvis' if require_root else ''})")
    kp = np.where(h.valid[keep][..., None], h.keypoints[keep], 0).astype(np.float32)
    return kp, h.valid[keep].copy()


# ----------------------------------------------------------------------------- helpers
def _fail(path: Path, problem: str) -> ValueError:
    """A one-line ValueError naming the file."""
    return ValueError(f"{path}: {' '.join(str(problem).split())}")


def one_line(exc: BaseException) -> str:
    """``"ErrorType: message"`` on one line, for errors that name their input."""
    text = " ".join(str(exc).split()) or "no details"
    return f"{type(exc).__name__}: {text}"


def _resolve_layout(path: Path, layout: str | Skeleton | None, what: str) -> Skeleton | None:
    if layout is None:
        return None
    try:
        return get_layout(layout)
    except ValueError:
        raise _fail(path, f"unknown joint layout {layout!r} ({what}); known: "
                          f"{', '.join(LAYOUTS)}") from None


def _pick_layout(path: Path, arg: Skeleton | None, stated: Skeleton | None) -> Skeleton | None:
    """The argument and the file's own statement must agree when both are given."""
    if arg is not None and stated is not None and arg.name != stated.name:
        raise _fail(path, f"the file states layout {stated.name} but layout={arg.name!r} was "
                          f"passed")
    return arg if arg is not None else stated


def _as_poses(path: Path, arr: np.ndarray, layout: Skeleton | None
              ) -> tuple[np.ndarray, np.ndarray | None, Skeleton]:
    """Normalize an accepted array shape to ((N, J, 2) float64, (N, J) conf or None, layout)."""
    if arr.dtype.kind not in "fiu":
        raise _fail(path, f"keypoints must be numeric, found dtype {arr.dtype}")
    allowed = (layout.num_joints,) if layout is not None else (17, 16)
    allowed_txt = (f"J = {layout.num_joints} for layout {layout.name}" if layout is not None
                   else "J = 17 or 16")
    shape = arr.shape
    flat = [(j, d) for j in allowed for d in (2, 3) if arr.ndim == 2 and shape[1] == d * j]
    a = None
    if arr.ndim == 3 and shape[1] in allowed and shape[2] in (2, 3):
        a = arr
    elif arr.ndim == 2 and shape[0] in allowed and shape[1] in (2, 3):
        a = arr[None]
    elif flat:
        a = arr.reshape(shape[0], *flat[0])
    if a is None:
        raise _fail(path, f"keypoints have shape {shape}; accepted shapes: {ACCEPTED_SHAPES} "
                          f"with {allowed_txt}")
    if a.shape[0] == 0:
        raise _fail(path, f"keypoints have shape {shape}: no poses")
    a = a.astype(np.float64)
    j = a.shape[1]
    if layout is None:
        layout = get_layout(_DEFAULT_LAYOUTS[j])
    conf = a[..., 2] if a.shape[2] == 3 else None
    return a[..., :2], conf, layout


def _finish(path: Path, xy: np.ndarray, conf: np.ndarray | None, layout: Skeleton,
            ids: list[str], skipped: list[str] | None = None,
            image_files: list[str | None] | None = None) -> KeypointSet:
    """Apply the validity rules and build the KeypointSet."""
    valid = np.isfinite(xy).all(-1)
    if conf is None:
        c = np.ones(valid.shape, np.float64)
    else:
        c = np.asarray(conf, np.float64)
        valid &= np.isfinite(c) & (c > 0)
        c = np.clip(np.nan_to_num(c, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    c = np.where(valid, c, 0.0).astype(np.float32)
    kp = np.where(valid[..., None], xy, 0.0).astype(np.float32)
    return KeypointSet(kp, c, valid, layout, list(ids), str(path), list(skipped or []),
                       list(image_files or []))


def _ids(path: Path, ids: Any, n: int) -> list[str]:
    """The file's ``ids`` checked against the pose count, or ``<file stem>#<i>``."""
    if ids is None:
        return [f"{path.stem}#{i}" for i in range(n)]
    ids = [str(i) for i in np.asarray(ids).ravel().tolist()]
    if len(ids) != n:
        raise _fail(path, f"{len(ids)} ids for {n} poses")
    return ids


# ----------------------------------------------------------------------------- readers
def _read_npy(path: Path, layout: Skeleton | None) -> KeypointSet:
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise _fail(path, f"cannot open ({one_line(e)})") from None
    if not magic:
        raise _fail(path, "is empty, not a .npy array file")
    if magic != b"\x93NUMPY":
        raise _fail(path, "is not a .npy array file (no NumPy header; corrupt or another "
                          "format?)")
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as e:  # corrupt header, truncated data, pickled objects, ...
        raise _fail(path, f"cannot read as a .npy array ({one_line(e)})") from None
    if not isinstance(arr, np.ndarray):
        raise _fail(path, "is not a .npy array file")
    xy, conf, lay = _as_poses(path, arr, layout)
    return _finish(path, xy, conf, lay, _ids(path, None, xy.shape[0]))


def _read_npz(path: Path, layout: Skeleton | None) -> KeypointSet:
    try:
        with np.load(path, allow_pickle=False) as z:
            entries = {k: z[k] for k in z.files}
    except Exception as e:
        raise _fail(path, f"cannot read as a .npz archive ({one_line(e)})") from None
    arrays = {k: v for k, v in entries.items() if k not in ("layout", "ids", "confidence")}
    if "keypoints" in entries:
        arr = entries["keypoints"]
    elif len(arrays) == 1:
        arr = next(iter(arrays.values()))
    else:
        raise _fail(path, f"no 'keypoints' entry and not exactly one array to use instead "
                          f"(entries: {', '.join(entries) or 'none'})")
    stated = None
    if "layout" in entries:
        lay_entry = entries["layout"]
        if lay_entry.dtype.kind not in "US" or lay_entry.size != 1:
            raise _fail(path, f"entry 'layout' must be one string, found dtype "
                              f"{lay_entry.dtype} shape {lay_entry.shape}")
        stated = _resolve_layout(path, str(lay_entry.ravel()[0]), "entry 'layout'")
    xy, conf, lay = _as_poses(path, arr, _pick_layout(path, layout, stated))
    if "confidence" in entries:
        if conf is not None:
            raise _fail(path, "confidence is given twice (a 3rd keypoint column and a "
                              "'confidence' entry)")
        conf = entries["confidence"]
        if conf.dtype.kind not in "fiu":
            raise _fail(path, f"entry 'confidence' must be numeric, found dtype {conf.dtype}")
        if conf.ndim == 1 and xy.shape[0] == 1:
            conf = conf[None]                        # (J,) for a single pose
        if conf.shape != xy.shape[:2]:
            raise _fail(path, f"entry 'confidence' has shape {entries['confidence'].shape}, "
                              f"expected {xy.shape[:2]}")
    return _finish(path, xy, conf, lay, _ids(path, entries.get("ids"), xy.shape[0]))


def _read_coco(path: Path, doc: Any, layout: Skeleton | None) -> KeypointSet:
    if layout is not None and layout.name != COCO17.name:
        raise _fail(path, f"COCO keypoints are in layout coco17, not {layout.name} "
                          f"(read with layout=None, then use .to_layout({layout.name!r}))")
    people = parse_coco_people(doc, path)
    notes = [(i, f"{what}: {problem}") for i, what, problem in people.skipped]
    no_count = people.num_keypoints == 0
    no_v = ~(np.nan_to_num(people.visibility, nan=0.0) > 0).any(1) & ~no_count
    for rows, why in ((no_count, "num_keypoints 0"), (no_v, "every v is 0")):
        notes += [(int(people.positions[n]), f"{people.describe(n)}: no labelled keypoints "
                   f"({why})") for n in np.flatnonzero(rows)]
    keep = ~no_count & ~no_v
    skipped = [note for _, note in sorted(notes, key=lambda x: x[0])]
    if not keep.any():
        n_anns = len(people) + len(people.skipped)
        detail = f"{n_anns} annotations" if n_anns else "no annotations"
        if skipped:
            detail += f", all skipped (first: {skipped[0]})"
        raise _fail(path, f"no person keypoints found ({detail})")
    rows = np.flatnonzero(keep)
    return _finish(path, people.keypoints[rows], people.visibility[rows], COCO17,
                   [people.describe(n) for n in rows], skipped,
                   [people.image_files[n] for n in rows])


def _read_wildpose_json(path: Path, doc: dict, layout: Skeleton | None) -> KeypointSet:
    stated = None
    if doc.get("layout") is not None:
        if not isinstance(doc["layout"], str):
            raise _fail(path, f"'layout' must be a string, found {doc['layout']!r}")
        stated = _resolve_layout(path, doc["layout"], "'layout' in the file")
    try:
        arr = np.array(doc["keypoints"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise _fail(path, f"'keypoints' is not a regular array of numbers "
                          f"({one_line(e)})") from None
    xy, conf, lay = _as_poses(path, arr, _pick_layout(path, layout, stated))
    return _finish(path, xy, conf, lay, _ids(path, doc.get("ids"), xy.shape[0]))


def load_json(path: Path, what: str = "as JSON text") -> Any:
    """A JSON file's document; a one-line ValueError naming the file (and the line of a
    syntax error) when it cannot be read or parsed."""
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise _fail(path, f"not valid JSON (line {e.lineno} column {e.colno}: {e.msg})") \
            from None
    except (UnicodeDecodeError, OSError) as e:
        raise _fail(path, f"cannot read {what} ({one_line(e)})") from None


def _read_json(path: Path, layout: Skeleton | None) -> KeypointSet:
    doc = load_json(path)
    if isinstance(doc, list):
        return _read_coco(path, doc, layout)
    if isinstance(doc, dict):
        if "annotations" in doc:
            return _read_coco(path, doc, layout)
        if "keypoints" in doc:
            kps = doc["keypoints"]
            # A single COCO annotation: a flat list of 51 numbers with annotation keys.
            if ("image_id" in doc or "num_keypoints" in doc) and isinstance(kps, list) \
                    and all(not isinstance(v, list) for v in kps):
                return _read_coco(path, doc, layout)
            return _read_wildpose_json(path, doc, layout)
        keys = ", ".join(list(doc)[:8]) or "none"
        raise _fail(path, f"JSON object has neither 'annotations' (COCO) nor 'keypoints' "
                          f"(wildpose) (keys: {keys})")
    raise _fail(path, f"JSON top level is a {type(doc).__name__}; expected a COCO object, a "
                      f"list of COCO annotations or a wildpose object")


_READERS = {".npy": _read_npy, ".npz": _read_npz, ".json": _read_json}


def read_keypoints(path: str | os.PathLike, layout: str | Skeleton | None = None
                   ) -> KeypointSet:
    """Read a 2D keypoint file (.npy, .npz or COCO / wildpose .json; see the module doc).

    Args:
        path: the file.
        layout: the joint layout of the file's keypoints, by name or Skeleton.  Default:
            whatever the file states; else ``coco17`` for COCO JSON, ``h36m17`` for 17
            joints (note: COCO-ordered 17-joint arrays need ``layout="coco17"``) and
            ``mpii16`` for 16.  If the file states a layout, this must agree with it.
    Returns:
        :class:`KeypointSet` in the file's own layout (use :meth:`KeypointSet.to_layout`
        to convert, e.g. ``.to_layout("h36m17")`` before lifting).
    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown extension or layout, unreadable/corrupt file, a shape that is not
            accepted, or no person in a COCO file -- one line starting with the path.
    """
    p = Path(path)
    lay = _resolve_layout(p, layout, "layout argument")
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise _fail(p, "is a directory, not a keypoint file")
    if not p.is_file():  # a FIFO or device: reading it could wait forever
        raise _fail(p, "is not a regular file (a pipe, socket or device), not a keypoint file")
    reader = _READERS.get(p.suffix.lower())
    if reader is None:
        raise _fail(p, f"unknown keypoint file extension {p.suffix or '(none)'!r}; supported: "
                       f"{', '.join(SUPPORTED_EXTENSIONS)}")
    return reader(p, lay)
