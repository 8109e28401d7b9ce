"""What `wildpose predict` writes: the run summary, JSON and NPZ files, and output names that
never collide (several inputs into one folder) or overwrite an input.

JSON: one file per image or video frame, :meth:`~wildpose.estimator.PredictionResult.to_json`.
NPZ: every result of one photo folder or video in one file (:func:`save_npz`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .estimator import PredictionResult
from .skeleton import H36M17

__all__ = ["PredictSummary", "report_stderr", "fail", "write_json", "save_npz", "unique_stems",
           "unused_name", "not_onto"]


@dataclass
class PredictSummary:
    """What :func:`predict_path` did.

    Attributes:
        written: JSON files written (one per image or video frame).
        failed: (source, one-line reason) per failed file, frame or output.
        people: people found in total.
        outputs: every file written (JSON, NPZ, PNG, MP4, BVH).
    """

    written: list[Path] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    people: int = 0
    outputs: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def merge(self, other: "PredictSummary") -> "PredictSummary":
        self.written += other.written
        self.failed += other.failed
        self.people += other.people
        self.outputs += other.outputs
        return self


def report_stderr(msg: str) -> None:
    """Print a one-line message on stderr without breaking a progress bar."""
    try:
        from tqdm import tqdm

        tqdm.write(msg, file=sys.stderr)
    except ImportError:  # pragma: no cover - tqdm is a dependency
        print(msg, file=sys.stderr)


def fail(summary: PredictSummary, report: Callable[[str], None], source: str,
         reason: str) -> None:
    """Record a failure in ``summary`` and report it as one line."""
    reason = " ".join(str(reason).split())
    summary.failed.append((source, reason))
    report(f"wildpose: {source}: {reason}" if not reason.startswith(source)
           else f"wildpose: {reason}")


def write_json(path: Path, result: PredictionResult) -> Path:
    """Write ``result.to_json()`` to ``path``."""
    path.write_text(result.to_json())
    return path


def save_npz(path: Path, results: list[PredictionResult], **extra: Any) -> Path:
    """One NPZ for many images/frames: per-image rows (``images``, ``width``, ``height``,
    ``focal_length``, ``num_people``) and per-person rows (``person_image`` = the row's image
    index, ``keypoints_2d``, ``keypoints_3d``, ``root_translation``, ``track_id`` = -1 outside
    videos); ``extra`` arrays are stored as given."""
    rows = [(i, p) for i, r in enumerate(results) for p in r.people]
    m = len(rows)
    kp2 = np.array([p.keypoints_2d for _, p in rows], np.float32).reshape(m, 17, 3)
    kp3 = np.array([p.keypoints_3d for _, p in rows], np.float32).reshape(m, 17, 3)
    rt = np.array([p.root_translation if p.root_translation is not None
                   else np.full(3, np.nan) for _, p in rows], np.float32).reshape(m, 3)
    np.savez_compressed(
        path,
        images=np.array([r.image for r in results], dtype=str),
        width=np.array([r.width for r in results], np.int32),
        height=np.array([r.height for r in results], np.int32),
        focal_length=np.array([r.focal_length for r in results], np.float32),
        num_people=np.array([len(r.people) for r in results], np.int32),
        person_image=np.array([i for i, _ in rows], np.int32),
        keypoints_2d=kp2, keypoints_3d=kp3, root_translation=rt,
        track_id=np.array([-1 if p.track_id is None else p.track_id for _, p in rows],
                          np.int32),
        joints=np.array(H36M17.joints, dtype=str), **extra)
    return path


def unique_stems(files: Iterable[str | os.PathLike], taken: set[str] | None = None
                 ) -> list[str]:
    """Output names for ``files`` written into one folder, none the same: the file stems,
    a.jpg and a.png becoming a_jpg and a_png, and a stem already in ``taken`` (names used
    earlier in the same run, e.g. one folder's a.jpg and another's) getting _2, _3, ...
    The names returned are added to ``taken``."""
    files = [Path(f) for f in files]
    taken = set() if taken is None else taken
    stems = [f.stem for f in files]
    kinds = [(f.stem, f.suffix.lower()) for f in files]

    def base(f: Path) -> str:  # the extension tells same-stem files apart where it can
        if stems.count(f.stem) > 1 and kinds.count((f.stem, f.suffix.lower())) == 1:
            return f"{f.stem}_{f.suffix.lstrip('.').lower()}"
        return f.stem

    return [unused_name(base(f), taken) for f in files]


def unused_name(base: str, taken: set[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... if taken; the name is then taken."""
    name, k = base, 2
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


def not_onto(path: Path, sources: set[Path], suffix: str) -> Path:
    """``path``, or ``<stem><suffix>`` beside it if ``path`` is one of the input files."""
    try:
        if path.resolve() in sources:
            return path.with_name(path.stem + suffix + path.suffix)
    except OSError:
        pass
    return path
