"""Human3.6M reader for the 3d-pose-baseline layout.

Layout expected under ``data_dir`` (``../shared/data/h36m`` or a user's own copy of
3d-pose-baseline's ``h36m.zip``)::

    cameras.h5                                   subject<s>/camera<c>/{R,T,f,c,k,p,Name}
    S<s>/MyPoses/3D_positions/<Action>[ <n>].h5  dataset 3D_positions, (96, N) world mm, 50 fps
    S<s>/StackedHourglass/<Action>[_<n>].<camera id>.h5   dataset poses, (N, 16, 2) pixels

Sequences that are absent are skipped (they are listed in ``H36MData.skipped``), never assumed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..camera import Camera
from ..skeleton import H36M32_TO_17
from ..temporal import smooth_sequences

__all__ = ["TRAIN_SUBJECTS", "TEST_SUBJECTS", "ACTIONS", "h36m_intrinsics", "normalize_action",
           "H36MData", "load_cameras", "load_h36m", "default_data_dir"]

TRAIN_SUBJECTS = (1, 5, 6, 7, 8)
TEST_SUBJECTS = (9, 11)

#: The 15 Human3.6M actions, by their normalized names.
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
           "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
           "WalkTogether")

_ACTION_ALIASES = {"takingphoto": "Photo", "walkingdog": "WalkDog",
                   "walkingtogether": "WalkTogether"}
_ACTION_KEYS = {a.lower(): a for a in ACTIONS}


def normalize_action(name: str) -> str:
    """One action name for every file-naming style.

    ``"Directions 1"``, ``"Directions_1"``, ``"directions"`` -> ``"Directions"``;
    ``"TakingPhoto_1"`` -> ``"Photo"``, ``"WalkingDog 1"`` -> ``"WalkDog"``.
    Raises ValueError for a name that is no Human3.6M action.
    """
    base = re.sub(r"[ _]\d+$", "", name.strip()).replace(" ", "").replace("_", "").lower()
    if base in _ACTION_KEYS:
        return _ACTION_KEYS[base]
    if base in _ACTION_ALIASES:
        return _ACTION_ALIASES[base]
    raise ValueError(f"{name!r} is not a Human3.6M action (known: {', '.join(ACTIONS)})")


def default_data_dir() -> Path:
    """``$WILDPOSE_DATA/h36m`` if set, else ``../shared/data/h36m`` from the current folder."""
    root = os.environ.get("WILDPOSE_DATA")
    if root:
        p = Path(root)
        return p / "h36m" if (p / "h36m").is_dir() else p
    return Path("../shared/data/h36m")


def default_data_root() -> Path:
    """The shared data folder (holding ``h36m/``, ``cmu-mocap/``, ...): ``$WILDPOSE_DATA``
    if set (its parent if it names the ``h36m`` folder itself), else ``../shared/data``."""
    root = os.environ.get("WILDPOSE_DATA")
    if root:
        p = Path(root)
        return p.parent if (p / "cameras.h5").is_file() else p
    return Path("../shared/data")


def _h36m_root(data_dir: str | os.PathLike | None) -> Path:
    """Accept either the h36m folder itself or its parent data folder."""
    p = Path(data_dir) if data_dir is not None else default_data_dir()
    if not (p / "cameras.h5").is_file() and (p / "h36m" / "cameras.h5").is_file():
        p = p / "h36m"
    if not p.is_dir():
        problem = "is a file, not a folder" if p.exists() else "does not exist"
        raise FileNotFoundError(f"Human3.6M data directory {p} {problem} "
                                f"(set --data-dir or WILDPOSE_DATA)")
    if not (p / "cameras.h5").is_file():
        raise FileNotFoundError(f"{p} has no cameras.h5: not a Human3.6M directory in the "
                                f"3d-pose-baseline layout")
    return p


def load_cameras(data_dir: str | os.PathLike | None = None) -> dict[tuple[int, int], Camera]:
    """Read ``cameras.h5``.

    Returns:
        {(subject, camera index 1..4): Camera}, R converted to world-to-camera (the file
        stores it transposed) and T the camera centre in world mm.
    """
    import h5py  # slow to import: only reading the Human3.6M files needs it

    path = _h36m_root(data_dir) / "cameras.h5"
    cams: dict[tuple[int, int], Camera] = {}
    with h5py.File(path, "r") as f:
        for key in f:
            m = re.fullmatch(r"subject(\d+)", key)
            if not m:
                continue
            for ckey in f[key]:
                cm = re.fullmatch(r"camera(\d+)", ckey)
                if not cm:
                    continue
                g = f[key][ckey]
                name = "".join(chr(int(v)) for v in np.asarray(g["Name"][()]).ravel())
                cams[(int(m.group(1)), int(cm.group(1)))] = Camera(
                    R=np.asarray(g["R"][()], np.float64).T, name=name,
                    **{k: np.asarray(g[k][()], np.float64).ravel() for k in "Tfckp"})
    if not cams:
        raise ValueError(f"{path}: no subject<s>/camera<c> groups found")
    return cams


@dataclass
class H36MData:
    """Aligned Human3.6M samples, one row per (sequence, camera, frame).

    Attributes:
        pose_3d: (N, 17, 3) float32 camera-frame positions, mm, H36M17 order (not root-relative).
        pose_2d: (N, 17, 2) float32 pixels: ``pose_3d`` projected with the full camera model.
        pose_2d_sh: (N, 16, 2) float32 stacked-hourglass detections in pixels (MPII16 order),
            NaN where the detection file is absent; None if not loaded.
        subject, camera, frame: (N,) int arrays (camera is 1..4 in cameras.h5 order,
            frame the 50 fps index within the sequence).
        action: (N,) str array, the 3D file's base name, e.g. ``"Directions 1"``.
        cameras: {(subject, camera): Camera}.
        skipped: human-readable notes on absent sequences or detection files.
    """

    pose_3d: np.ndarray
    pose_2d: np.ndarray
    pose_2d_sh: np.ndarray | None
    subject: np.ndarray
    action: np.ndarray
    camera: np.ndarray
    frame: np.ndarray
    cameras: dict[tuple[int, int], Camera]
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.subject)

    @property
    def action_name(self) -> np.ndarray:
        """(N,) normalized action names (one of :data:`ACTIONS`)."""
        names = {a: normalize_action(a) for a in np.unique(self.action)}
        return np.array([names[a] for a in self.action])

    @property
    def sequence(self) -> np.ndarray:
        """(N,) str label of each row's video, ``"subject/action/camera"``: the unit of
        temporal smoothing and of a video lifter's windows (with ``frame`` as time)."""
        return np.char.add(np.char.add(self.subject.astype(str), "/"),
                           np.char.add(np.char.add(self.action.astype(str), "/"),
                                       self.camera.astype(str)))

    def select(self, rows: np.ndarray) -> "H36MData":
        """A subset by boolean mask or index array (cameras and notes are shared)."""
        sh = None if self.pose_2d_sh is None else self.pose_2d_sh[rows]
        return H36MData(self.pose_3d[rows], self.pose_2d[rows], sh, self.subject[rows],
                        self.action[rows], self.camera[rows], self.frame[rows], self.cameras,
                        self.skipped)

    def inputs(self, kind: str, smooth_2d: float = 0.0) -> tuple[np.ndarray, str]:
        """2D inputs of a kind: ``"gt"`` -> (pose_2d, "h36m17"); ``"sh"`` -> (pose_2d_sh, "mpii16").

        ``smooth_2d`` > 0 smooths each (subject, action, camera) sequence along time with a
        Gaussian of that many loaded frames (:func:`wildpose.temporal.smooth_sequences`; 50
        fps at stride 1): the video protocol.
        """
        if kind == "gt":
            kp, layout = self.pose_2d, "h36m17"
        elif kind == "sh":
            if self.pose_2d_sh is None:
                raise ValueError("stacked-hourglass detections were not loaded (load_sh=False)")
            kp, layout = self.pose_2d_sh, "mpii16"
        else:
            raise ValueError(f"unknown input kind {kind!r}: use 'gt' or 'sh'")
        if smooth_2d > 0:
            kp = smooth_sequences(kp, self.sequence, self.frame, smooth_2d)
        return kp, layout


def _sequences(root: Path, subject: int) -> list[str]:
    d = root / f"S{subject}" / "MyPoses" / "3D_positions"
    if not d.is_dir():
        return []
    return sorted(p.stem for p in d.glob("*.h5"))


def load_h36m(data_dir: str | os.PathLike | None = None,
              subjects: tuple[int, ...] | list[int] = TRAIN_SUBJECTS,
              actions: tuple[str, ...] | list[str] | None = None,
              cameras: tuple[int, ...] | list[int] = (1, 2, 3, 4),
              stride: int = 1, load_sh: bool = True) -> H36MData:
    """Load aligned (2D pixels, 3D camera mm) samples.

    Args:
        data_dir: the h36m folder (or its parent); default :func:`default_data_dir`.
        subjects: subject numbers, e.g. (1, 5, 6, 7, 8).
        actions: normalized action names to keep (default: all 15).
        cameras: camera indices 1..4 to keep.
        stride: keep every ``stride``-th frame (frame numbers stay 50 fps indices).
        load_sh: also read the stacked-hourglass detections.
    Returns:
        :class:`H36MData`.  Raises FileNotFoundError if a subject has no sequences at all.
    """
    import h5py  # slow to import: only reading the Human3.6M files needs it

    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    root = _h36m_root(data_dir)
    cams = load_cameras(root)
    keep_actions = None if actions is None else {normalize_action(a) for a in actions}
    parts: dict[str, list] = {k: [] for k in ("p3", "p2", "sh", "subj", "act", "cam", "frame")}
    skipped: list[str] = []
    for s in subjects:
        seqs = _sequences(root, s)
        if not seqs:
            raise FileNotFoundError(f"{root}/S{s}/MyPoses/3D_positions has no sequences "
                                    f"(subject {s} absent?)")
        for seq in seqs:
            if keep_actions is not None and normalize_action(seq) not in keep_actions:
                continue
            path = root / f"S{s}" / "MyPoses" / "3D_positions" / f"{seq}.h5"
            try:
                with h5py.File(path, "r") as f:
                    raw = np.asarray(f["3D_positions"][()], np.float32)
            except (OSError, KeyError) as e:
                skipped.append(f"{path}: unreadable ({e})")
                continue
            if raw.ndim != 2 or raw.shape[0] != 96:
                skipped.append(f"{path}: expected shape (96, N), got {raw.shape}")
                continue
            world = raw.T.reshape(-1, 32, 3)[:, H36M32_TO_17][::stride]
            frames = np.arange(0, raw.shape[1], stride)
            for ci in cameras:
                if (s, ci) not in cams:
                    skipped.append(f"S{s} camera {ci}: not in cameras.h5")
                    continue
                cam = cams[(s, ci)]
                p3 = cam.world_to_camera(world.astype(np.float64))
                p2 = cam.project(p3)
                parts["p3"].append(p3.astype(np.float32))
                parts["p2"].append(p2.astype(np.float32))
                if load_sh:
                    parts["sh"].append(_read_sh(root, s, seq, cam.name, raw.shape[1],
                                                stride, skipped))
                n = len(frames)
                parts["subj"].append(np.full(n, s, np.int32))
                parts["act"].append(np.full(n, seq, dtype=object))
                parts["cam"].append(np.full(n, ci, np.int32))
                parts["frame"].append(frames.astype(np.int32))
    if not parts["p3"]:
        raise FileNotFoundError(f"no Human3.6M sequences matched in {root} "
                                f"(subjects {list(subjects)}, actions {actions})")
    cat = {k: np.concatenate(v) for k, v in parts.items() if v}
    return H36MData(cat["p3"], cat["p2"], cat["sh"] if load_sh else None, cat["subj"],
                    cat["act"].astype(str), cat["cam"], cat["frame"], cams, skipped)


def _read_sh(root: Path, subject: int, seq: str, cam_name: str, n_frames: int, stride: int,
             skipped: list[str]) -> np.ndarray:
    """Stacked-hourglass detections of one sequence and camera, NaN if absent or misaligned."""
    import h5py  # slow to import: only reading the Human3.6M files needs it

    out = np.full((len(range(0, n_frames, stride)), 16, 2), np.nan, np.float32)
    path = root / f"S{subject}" / "StackedHourglass" / f"{seq.replace(' ', '_')}.{cam_name}.h5"
    if not path.is_file():
        skipped.append(f"{path}: absent (those frames have no detections)")
        return out
    try:
        with h5py.File(path, "r") as f:
            poses = np.asarray(f["poses"][()], np.float32)  # int16 or float64 on disk
    except (OSError, KeyError) as e:
        skipped.append(f"{path}: unreadable ({e})")
        return out
    if poses.shape != (n_frames, 16, 2):
        skipped.append(f"{path}: shape {poses.shape} does not match the 3D file's "
                       f"{n_frames} frames")
        return out
    return poses[::stride]


def h36m_intrinsics(data: H36MData) -> dict[str, np.ndarray]:
    """Per-row camera intrinsics of Human3.6M samples: ``f``, ``c`` (N, 2) pixels and the
    distortion ``k`` (N, 3), ``p`` (N, 2)."""
    out = {key: np.empty((len(data), n)) for key, n in (("f", 2), ("c", 2), ("k", 3),
                                                        ("p", 2))}
    for cam, rows in _cameras_and_rows(data):
        for key in out:
            out[key][rows] = np.asarray(getattr(cam, key), float).ravel()
    return out


def _cameras_and_rows(data: H36MData):
    """Each (subject, camera) pair's :class:`Camera` and the (N,) bool mask of its rows."""
    for s, c in {(int(a), int(b)) for a, b in zip(data.subject, data.camera)}:
        yield data.cameras[(s, c)], (data.subject == s) & (data.camera == c)
