"""BVH motion capture: a parser, forward kinematics, and the CMU and Bandai Namco ->
Human3.6M-17 mappings.

The parser reads the two sections of a Biovision Hierarchy file:

* ``HIERARCHY``: one ``ROOT`` and nested ``JOINT`` / ``End Site`` blocks, each with an
  ``OFFSET x y z`` from its parent and (except end sites) ``CHANNELS n name...``, where the
  names are any of ``Xposition Yposition Zposition Xrotation Yrotation Zrotation`` in any
  order;
* ``MOTION``: ``Frames: F``, ``Frame Time: dt`` and then F lines of numbers, one per channel
  in hierarchy order.

Every error is a :class:`BVHError` whose message starts with ``<file>:<line>:``.

Forward kinematics follows the usual BVH convention: rotation angles are degrees, and a joint's
rotation channels compose in the order they are listed (``Zrotation Yrotation Xrotation`` is
``R = Rz @ Ry @ Rx``, each by the right-hand rule, acting on column vectors).  A joint's local
translation is its OFFSET, except along the axes it has position channels for, where the
channel's value replaces the offset's (the root, usually; Bandai Namco's files give every
joint position channels, whose values are the joint's local translation).  Then
``world_rot[j] = world_rot[parent] @ R_local[j]`` and
``world_pos[j] = world_pos[parent] + world_rot[parent] @ translation[j]``.

CMU's BVH files (``../shared/data/cmu-mocap``) use a right-handed frame with **y up**; in the
rest pose the subject faces +z and their left is +x.  Lengths are in CMU's ASF unit,
1/0.45 inch = 56.444 mm (:data:`CMU_UNIT_MM`).  Human3.6M's world frame is different: it is
**z up** (millimetres, floor at z = 0).  :mod:`wildpose.mocap.sources` rotates both into one
canonical frame before they are used.

Bandai Namco's BVH files (``../shared/data/bandai-mocap``) are y up, in centimetres, 30 fps,
with 6 channels on every joint: see :data:`BANDAI_TO_H36M17`.  :func:`detect_skeleton` tells
the two skeletons apart by their joint names (:data:`BVH_SKELETONS`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..geometry import rotation_matrix
from ..skeleton import H36M17

__all__ = ["BVHError", "BVH", "parse_bvh", "read_bvh", "CMU_UNIT_MM", "CMU_TO_H36M17",
           "CMU_APPROXIMATE_JOINTS", "bvh_to_h36m17", "BANDAI_UNIT_MM", "BANDAI_TO_H36M17",
           "BANDAI_APPROXIMATE_JOINTS", "BANDAI_END_SITES", "BVHSkeleton", "BVH_SKELETONS",
           "detect_skeleton"]

#: CMU's ASF length unit in millimetres: 1 unit = 1/0.45 inch.
CMU_UNIT_MM = 25.4 / 0.45

_CHANNELS = ("xposition", "yposition", "zposition", "xrotation", "yrotation", "zrotation")
_AXES = {"x": 0, "y": 1, "z": 2}


class BVHError(ValueError):
    """A BVH file that does not parse, or a skeleton that cannot be mapped; the message
    names the file and, for syntax errors, the line (``file:line: what is wrong``)."""


@dataclass
class BVH:
    """A parsed BVH file.

    Attributes:
        names: joint names in hierarchy (depth-first) order; an end site is named
            ``"<parent>_End"``.
        parents: parent index per joint (-1 for the root); parents come before children.
        offsets: (J, 3) float64 offsets from the parent, in the file's unit.
        channels: per joint, the channel names as written (empty for end sites).
        end_site: (J,) bool, True for end sites.
        motion: (F, C) float64, one column per channel in hierarchy order.
        frame_time: seconds per frame.
        source: the file name (or ``"<string>"``) used in messages.
    """

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[list[str]]
    end_site: np.ndarray
    motion: np.ndarray
    frame_time: float
    source: str = "<string>"
    _first_channel: list[int] = field(default_factory=list, repr=False)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else float("nan")

    def local_transforms(self, frames: slice | np.ndarray | None = None):
        """Per-joint local rotations (F, J, 3, 3) and translations (F, J, 3), file units."""
        motion = self.motion if frames is None else self.motion[frames]
        n = motion.shape[0]
        rots = np.broadcast_to(np.eye(3), (n, self.num_joints, 3, 3)).copy()
        trans = np.broadcast_to(self.offsets, (n, self.num_joints, 3)).copy()
        for j, chans in enumerate(self.channels):
            for i, ch in enumerate(chans):
                axis = _AXES[ch[0].lower()]
                values = motion[:, self._first_channel[j] + i]
                if ch.lower().endswith("position"):
                    trans[:, j, axis] = values
                else:
                    vec = np.zeros((n, 3))
                    vec[:, axis] = np.deg2rad(values)
                    rots[:, j] = rots[:, j] @ rotation_matrix(vec)
        return rots, trans

    def forward_kinematics(self, frames: slice | np.ndarray | None = None) -> np.ndarray:
        """World positions of every joint (end sites included).

        Args:
            frames: optional slice or index array of frames (default: all).
        Returns:
            (F, J, 3) float64 positions in the file's unit and axes, ``names`` order.
        """
        rots, trans = self.local_transforms(frames)
        n = rots.shape[0]
        world_rot = np.empty_like(rots)
        world_pos = np.empty((n, self.num_joints, 3))
        for j, p in enumerate(self.parents):
            if p < 0:
                world_rot[:, j] = rots[:, j]
                world_pos[:, j] = trans[:, j]
            else:
                world_rot[:, j] = world_rot[:, p] @ rots[:, j]
                world_pos[:, j] = world_pos[:, p] + (world_rot[:, p]
                                                     @ trans[:, j, :, None])[..., 0]
        return world_pos


# ----------------------------------------------------------------------------- parsing
class _Tokens:
    """Whitespace tokens with their 1-based line numbers."""

    def __init__(self, lines: list[str], source: str, start: int = 0, stop: int | None = None):
        self.items: list[tuple[str, int]] = [
            (tok, ln + 1) for ln in range(start, len(lines) if stop is None else stop)
            for tok in lines[ln].replace("{", " { ").replace("}", " } ").split()]
        self.pos = 0
        self.source = source
        self.last_line = (stop if stop is not None else len(lines)) or 1

    def error(self, msg: str, line: int | None = None) -> BVHError:
        if line is None:
            line = self.items[self.pos][1] if self.pos < len(self.items) else self.last_line
        return BVHError(f"{self.source}:{line}: {msg}")

    def peek(self) -> str | None:
        return self.items[self.pos][0] if self.pos < len(self.items) else None

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            raise self.error(f"unexpected end of the hierarchy, expected {what}")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok.lower() != word.lower():
            raise self.error(f"expected {word!r}, found {tok!r}", line)
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise self.error(f"expected a number for {what}, found {tok!r}", line) from None


def _parse_joint(tk: _Tokens, name: str, parent: int, out: dict, end_site: bool) -> None:
    index = len(out["names"])
    out["names"].append(name)
    out["parents"].append(parent)
    out["end"].append(end_site)
    tk.expect("{")
    offset = None
    chans: list[str] = []
    children_started = False
    while True:
        tok = tk.peek()
        if tok is None:
            raise tk.error(f"joint {name!r} is not closed by '}}'")
        low = tok.lower()
        if low == "}":
            tk.next("'}'")
            break
        if low == "offset":
            line = tk.next("OFFSET")[1]
            if offset is not None:
                raise tk.error(f"joint {name!r} has two OFFSET lines", line)
            if children_started:
                raise tk.error(f"OFFSET of joint {name!r} comes after its children", line)
            offset = [tk.number(f"OFFSET of {name!r}") for _ in range(3)]
        elif low == "channels":
            line = tk.next("CHANNELS")[1]
            if end_site:
                raise tk.error(f"an End Site cannot have CHANNELS (in {out['names'][parent]!r})",
                               line)
            if chans:
                raise tk.error(f"joint {name!r} has two CHANNELS lines", line)
            count_tok, cline = tk.next("the channel count")
            try:
                count = int(count_tok)
            except ValueError:
                raise tk.error(f"expected the channel count, found {count_tok!r}", cline) from None
            if not 0 <= count <= 6:
                raise tk.error(f"joint {name!r} declares {count} channels (at most 6)", cline)
            for _ in range(count):
                ch, chline = tk.next("a channel name")
                if ch.lower() not in _CHANNELS:
                    raise tk.error(f"unknown channel {ch!r} for joint {name!r} (expected "
                                   f"{count} of Xposition Yposition Zposition Xrotation "
                                   f"Yrotation Zrotation)", chline)
                if ch.lower() in (c.lower() for c in chans):
                    raise tk.error(f"channel {ch!r} repeated for joint {name!r}", chline)
                chans.append(ch)
        elif low == "joint":
            line = tk.next("JOINT")[1]
            if end_site:
                raise tk.error("an End Site cannot have child joints", line)
            if offset is None:
                raise tk.error(f"joint {name!r} has no OFFSET before its children", line)
            children_started = True
            child, cline = tk.next("a joint name")
            if child in ("{", "}"):
                raise tk.error("JOINT without a name", cline)
            if child in out["names"]:
                raise tk.error(f"duplicate joint name {child!r}", cline)
            _parse_joint(tk, child, index, out, end_site=False)
        elif low == "end":
            line = tk.next("End")[1]
            if end_site:
                raise tk.error("an End Site cannot have children", line)
            tk.expect("Site")
            children_started = True
            _parse_joint(tk, f"{name}_End", index, out, end_site=True)
        else:
            raise tk.error(f"unexpected {tok!r} in joint {name!r} (expected OFFSET, "
                           f"CHANNELS, JOINT, End Site or '}}')")
    if offset is None:
        raise tk.error(f"{'End Site of ' if end_site else 'joint '}"
                       f"{out['names'][parent] if end_site else name!r} has no OFFSET")
    # Children are appended before their parent's block closes: store by joint index.
    out["by_index"][index] = (offset, chans)


def parse_bvh(text: str, source: str = "<string>") -> BVH:
    """Parse BVH text.

    Args:
        text: the whole file.
        source: a name for error messages (the file path).
    Returns:
        :class:`BVH`.  Raises :class:`BVHError` naming ``source`` and the line.
    """
    lines = text.splitlines()
    motion_line = next((i for i, ln in enumerate(lines) if ln.strip().upper() == "MOTION"
                        or ln.strip().upper().startswith("MOTION ")), None)
    tk = _Tokens(lines, source, 0, motion_line)
    tok = tk.peek()
    if tok is None or tok.upper() != "HIERARCHY":
        raise tk.error(f"expected 'HIERARCHY' at the start of the file, found "
                       f"{tok if tok is None else repr(tok)}")
    tk.next("HIERARCHY")
    tk.expect("ROOT")
    root, line = tk.next("the root joint's name")
    if root in ("{", "}"):
        raise tk.error("ROOT without a name", line)
    out: dict = {"names": [], "parents": [], "end": [], "by_index": {}}
    _parse_joint(tk, root, -1, out, end_site=False)
    if tk.peek() is not None:
        tok, line = tk.next("end of hierarchy")
        if tok.upper() == "ROOT":
            raise tk.error("more than one ROOT is not supported", line)
        raise tk.error(f"unexpected {tok!r} after the hierarchy (expected MOTION)", line)
    if motion_line is None:
        raise BVHError(f"{source}:{len(lines) or 1}: no MOTION section")

    n = len(out["names"])
    offsets = np.array([out["by_index"][j][0] for j in range(n)], np.float64)
    channels = [out["by_index"][j][1] for j in range(n)]
    first = [sum(len(c) for c in channels[:j]) for j in range(n)]
    total = sum(len(c) for c in channels)

    # MOTION: "Frames: F", "Frame Time: dt", then F lines of `total` numbers.
    i = motion_line + 1
    header = {}
    for key in ("frames", "frame time"):
        while i < len(lines) and not lines[i].strip():
            i += 1
        if i >= len(lines):
            raise BVHError(f"{source}:{len(lines)}: unexpected end of file, expected "
                           f"'{key.title()}:'")
        head, _, value = lines[i].partition(":")
        if head.strip().lower() != key:
            raise BVHError(f"{source}:{i + 1}: expected '{key.title()}: ...', found "
                           f"{lines[i].strip()!r}")
        try:
            header[key] = int(value) if key == "frames" else float(value)
        except ValueError:
            raise BVHError(f"{source}:{i + 1}: cannot read the {key} value "
                           f"{value.strip()!r}") from None
        i += 1
    frames, frame_time = header["frames"], header["frame time"]
    if frames < 0:
        raise BVHError(f"{source}:{i}: negative frame count {frames}")
    rows: list[list[str]] = []
    row_lines: list[int] = []
    while i < len(lines) and len(rows) < frames:
        parts = lines[i].split()
        i += 1
        if not parts:
            continue
        if len(parts) != total:
            raise BVHError(f"{source}:{i}: frame {len(rows) + 1} has {len(parts)} values, "
                           f"expected {total} (one per channel)")
        rows.append(parts)
        row_lines.append(i)
    if len(rows) < frames:
        raise BVHError(f"{source}:{len(lines)}: the file ends after {len(rows)} of the "
                       f"{frames} frames declared by 'Frames:'")
    extra = next((k for k in range(i, len(lines)) if lines[k].strip()), None)
    if extra is not None:
        raise BVHError(f"{source}:{extra + 1}: more frame lines than the {frames} declared "
                       f"by 'Frames:'")
    try:
        motion = np.array(rows, dtype=np.float64).reshape(frames, total)
    except ValueError:
        r, bad = next((k, v) for k, parts in enumerate(rows) for v in parts if not _is_float(v))
        raise BVHError(f"{source}:{row_lines[r]}: frame {r + 1} has a value that is not a "
                       f"number: {bad!r}") from None
    if not np.isfinite(motion).all():
        r = int(np.flatnonzero(~np.isfinite(motion).all(1))[0])
        raise BVHError(f"{source}:{row_lines[r]}: frame {r + 1} holds a non-finite value")
    return BVH(out["names"], out["parents"], offsets, channels, np.array(out["end"], bool),
               motion, float(frame_time), source, first)


def _is_float(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def read_bvh(path: str | os.PathLike) -> BVH:
    """Read and parse a BVH file; errors name the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        raise BVHError(f"{path}: cannot read ({e.strerror or e})") from None
    return parse_bvh(text, str(path))


# ----------------------------------------------------------------------- CMU -> H36M17
#: How each Human3.6M-17 joint is made from CMU BVH joints (positions averaged).  ``"Head_End"``
#: is the end site of CMU's ``Head`` joint, the top of the skull.
CMU_TO_H36M17: dict[str, tuple[str, ...]] = {
    "Hip": ("LeftHip", "RightHip"),    # H36M's pelvis joint is exactly mid-hips
    "RHip": ("RightHip",), "RKnee": ("RightKnee",), "RFoot": ("RightAnkle",),
    "LHip": ("LeftHip",), "LKnee": ("LeftKnee",), "LFoot": ("LeftAnkle",),
    "Spine": ("Chest",),
    "Thorax": ("Neck",),
    "Neck/Nose": ("Head",),
    "Head": ("Head_End",),
    "LShoulder": ("LeftShoulder",), "LElbow": ("LeftElbow",), "LWrist": ("LeftWrist",),
    "RShoulder": ("RightShoulder",), "RElbow": ("RightElbow",), "RWrist": ("RightWrist",),
}

#: H36M17 joints that CMU's skeleton has no true counterpart for, and what stands in:
#: they are used for matching but excluded when scoring "the joints both share".
CMU_APPROXIMATE_JOINTS: dict[str, str] = {
    "Spine": "CMU 'Chest' (top of the lower-back segment, about 215 mm above the hips' "
             "midpoint; H36M's spine joint is about 230 mm above its pelvis)",
    "Thorax": "CMU 'Neck' (base of the neck, about 40 mm above the shoulder joints; H36M's "
              "thorax, the root of its shoulder bones, is about 75 mm above them)",
    "Neck/Nose": "CMU 'Head' (top of the neck, the skull's base); H36M's joint lies near the "
                 "nose, some 80-100 mm further forward",
    "Head": "the end site of CMU 'Head' (top of the skull); H36M's head joint is near the top "
            "of the head but placed by another marker model",
}


# -------------------------------------------------------------------- Bandai -> H36M17
#: Bandai Namco's length unit (centimetres) in millimetres.
BANDAI_UNIT_MM = 10.0

#: How each Human3.6M-17 joint is made from Bandai Namco BVH joints (positions averaged).
#: Copied: hips (``UpperLeg``), knees (``LowerLeg``), ankles (``Foot``), shoulders
#: (``UpperArm``, the ball joint; ``Shoulder`` is the collarbone's root), elbows
#: (``LowerArm``), wrists (``Hand``).  Synthesized: ``Hip`` = mid-hips (as in Human3.6M);
#: ``Spine`` = mid(Spine, Chest).  Stand-ins (:data:`BANDAI_APPROXIMATE_JOINTS`): Thorax,
#: Neck/Nose and Head.  Nothing is missing.
BANDAI_TO_H36M17: dict[str, tuple[str, ...]] = {
    "Hip": ("UpperLeg_L", "UpperLeg_R"),
    "RHip": ("UpperLeg_R",), "RKnee": ("LowerLeg_R",), "RFoot": ("Foot_R",),
    "LHip": ("UpperLeg_L",), "LKnee": ("LowerLeg_L",), "LFoot": ("Foot_L",),
    "Spine": ("Spine", "Chest"),
    "Thorax": ("Neck",),
    "Neck/Nose": ("Head",),
    "Head": ("Head_End",),
    "LShoulder": ("UpperArm_L",), "LElbow": ("LowerArm_L",), "LWrist": ("Hand_L",),
    "RShoulder": ("UpperArm_R",), "RElbow": ("LowerArm_R",), "RWrist": ("Hand_R",),
}

#: End sites that Bandai's files leave at zero length, given an offset (file units, the
#: parent's local axes; local x runs along the neck and head): the head top, 12 cm above the
#: ``Head`` joint (the skull's base), a typical adult distance from the skull's base to the
#: crown.  It turns with the head.
BANDAI_END_SITES: dict[str, tuple[float, float, float]] = {"Head_End": (12.0, 0.0, 0.0)}

#: H36M17 joints that Bandai's skeleton has no true counterpart for (excluded when scoring
#: "the joints both share").
BANDAI_APPROXIMATE_JOINTS: dict[str, str] = {
    "Spine": "mid(Spine, Chest): about 225 mm above the hips' midpoint, near H36M's spine "
             "joint (about 230 mm above its pelvis) but on another marker model",
    "Thorax": "Bandai 'Neck' (the neck's base, a little above the shoulder joints); H36M's "
              "thorax is the root of its shoulder bones",
    "Neck/Nose": "Bandai 'Head' (the skull's base, top of the neck); H36M's joint lies near "
                 "the nose, further forward",
    "Head": "a head top placed 12 cm above Bandai 'Head' along the head's axis "
            "(BANDAI_END_SITES): Bandai has no head-top joint",
}


@dataclass(frozen=True)
class BVHSkeleton:
    """A known BVH skeleton and how it becomes Human3.6M-17.

    Attributes:
        name: e.g. ``"cmu"``.
        mapping: {H36M17 joint: BVH joints averaged}.
        unit_mm: millimetres per file unit.
        approximate: {H36M17 joint: what stands in for it}; excluded from scoring.
        end_sites: offsets (file units) given to end sites the files leave at zero length.
        up: the files' up axis (see :mod:`wildpose.mocap.sources`).
    """

    name: str
    mapping: dict[str, tuple[str, ...]]
    unit_mm: float
    approximate: dict[str, str]
    end_sites: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    up: str = "+y"


#: The skeletons :func:`detect_skeleton` knows, by name.
BVH_SKELETONS: dict[str, BVHSkeleton] = {
    "cmu": BVHSkeleton("cmu", CMU_TO_H36M17, CMU_UNIT_MM, CMU_APPROXIMATE_JOINTS),
    "bandai": BVHSkeleton("bandai", BANDAI_TO_H36M17, BANDAI_UNIT_MM,
                          BANDAI_APPROXIMATE_JOINTS, BANDAI_END_SITES),
}


def _absent_joints(bvh: BVH, mapping: dict[str, tuple[str, ...]]) -> list[str]:
    needed = sorted({n for names in mapping.values() for n in names})
    return [n for n in needed if n not in bvh.names]


def detect_skeleton(bvh: BVH) -> BVHSkeleton:
    """The known skeleton (:data:`BVH_SKELETONS`) whose mapped joints the file all has.

    Raises:
        BVHError: naming the file and, per known skeleton, the joints it lacks.
    """
    lacks = {}
    for sk in BVH_SKELETONS.values():
        absent = _absent_joints(bvh, sk.mapping)
        if not absent:
            return sk
        lacks[sk.name] = absent
    detail = "; ".join(f"{k} needs {', '.join(v[:6])}{' ...' if len(v) > 6 else ''}"
                       for k, v in lacks.items())
    raise BVHError(f"{bvh.source}: this skeleton has no mapping to H36M17: it is none of the "
                   f"known skeletons ({detail}); it has {', '.join(bvh.names)}; pass a "
                   f"mapping for it")


def bvh_to_h36m17(bvh: BVH, mapping: dict[str, tuple[str, ...]] | None = None,
                  unit_mm: float | None = None,
                  frames: slice | np.ndarray | None = None,
                  end_sites: dict[str, tuple[float, float, float]] | None = None
                  ) -> np.ndarray:
    """H36M17 joint positions from a BVH file's forward kinematics.

    Args:
        bvh: a parsed file whose skeleton has every joint ``mapping`` names.
        mapping: {H36M17 joint: BVH joints to average}; None: the mapping of the skeleton
            :func:`detect_skeleton` finds (CMU's :data:`CMU_TO_H36M17` or Bandai's
            :data:`BANDAI_TO_H36M17`).
        unit_mm: millimetres per file unit; None: the detected skeleton's (CMU's 56.444,
            Bandai's 10), or CMU's when a mapping is given.
        frames: optional frame selection.
        end_sites: offsets given to end sites before the kinematics (file units); None: the
            detected skeleton's (none for a given mapping).
    Returns:
        (F, 17, 3) float64 positions in mm, in the file's axes (CMU and Bandai: y up), not
        root-centred.  Raises :class:`BVHError` naming the file and the missing joints if
        the skeleton has no mapping.
    """
    if mapping is None:
        sk = detect_skeleton(bvh)
        mapping = sk.mapping
        unit_mm = sk.unit_mm if unit_mm is None else unit_mm
        end_sites = sk.end_sites if end_sites is None else end_sites
    unit_mm = CMU_UNIT_MM if unit_mm is None else unit_mm
    missing_out = [j for j in H36M17.joints if j not in mapping]
    if missing_out:
        raise BVHError(f"{bvh.source}: the joint mapping gives no recipe for H36M17 joints "
                       f"{', '.join(missing_out)}")
    absent = _absent_joints(bvh, mapping)
    if absent:
        raise BVHError(f"{bvh.source}: this skeleton has no mapping to H36M17: it lacks the "
                       f"joints {', '.join(absent)} (it has {', '.join(bvh.names)}); "
                       f"pass a mapping for it")
    if end_sites:
        offsets = bvh.offsets.copy()
        for name, off in end_sites.items():
            if name in bvh.names:
                offsets[bvh.names.index(name)] = off
        bvh = replace(bvh, offsets=offsets)
    pos = bvh.forward_kinematics(frames)
    w = np.zeros((H36M17.num_joints, bvh.num_joints))
    for out_name, in_names in mapping.items():
        for n in in_names:
            w[H36M17.index(out_name), bvh.names.index(n)] += 1.0 / len(in_names)
    return np.einsum("oj,fjc->foc", w, pos) * unit_mm
