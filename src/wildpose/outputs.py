"""What `wildpose predict` and `wildpose lift` write: the run summary, JSON, NPZ and PNG
files, and output names that never collide (several inputs into one folder) or overwrite an
input.

``wildpose predict``: JSON, one file per image or video frame
(:meth:`~wildpose.estimator.PredictionResult.to_json`); NPZ, every result of one photo folder
or video in one file (:func:`save_npz`).

``wildpose lift``: per keypoint file, one JSON of everyone (:func:`write_lift_json`), one NPZ
(:func:`save_lift_npz`) and PNG figures (:func:`save_lift_pngs`).  A person's fields carry
the names of predict's (``keypoints_2d`` as [x, y, confidence], ``keypoints_3d`` in mm,
``keypoints_3d_confidence``, ``plausibility``; null where not lifted).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from tqdm import tqdm

from .datasets.keypoint_files import KeypointSet
from .estimator import PredictionResult
from .media import read_image
from .skeleton import H36M17

__all__ = ["PredictSummary", "report_stderr", "fail", "write_json", "save_npz", "unique_stems",
           "unused_name", "not_onto", "write_lift_json", "save_lift_npz", "save_lift_pngs"]


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


def report_stderr(msg: str) -> None:
    """Print a one-line message on stderr without breaking a progress bar."""
    tqdm.write(msg, file=sys.stderr)


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


def write_lift_json(path: Path, keypoints: KeypointSet, keypoints_17: KeypointSet,
                    pose_3d: np.ndarray, confidence_3d: np.ndarray, plausibility: np.ndarray,
                    model: str) -> Path:
    """``wildpose lift``'s JSON of one keypoint file.

    Args:
        keypoints: the file as read (its source and layout are recorded);
            keypoints_17: the same people in H36M17 (N of them).
        pose_3d: (N, 17, 3) mm, root-relative camera axes, NaN for a person not lifted;
            confidence_3d: (N, 17) in [0, 1]; plausibility: (N,) in [0, 1].
        model: the lifter's name.
    Returns:
        ``path``; per person ``id``, ``image``, ``keypoints_2d`` ([x, y, confidence] pixels or
        null per joint), ``keypoints_3d`` (0.01 mm), ``keypoints_3d_confidence`` and
        ``plausibility`` (null when not lifted).
    """
    ks17 = keypoints_17
    people = []
    for i in range(len(ks17)):
        kp = [[float(x), float(y), float(c)] if v else None for (x, y), c, v in
              zip(ks17.keypoints[i], ks17.confidence[i], ks17.valid[i])]
        lifted = bool(np.isfinite(pose_3d[i]).all())
        people.append({"id": ks17.ids[i], "image": ks17.image_files[i], "keypoints_2d": kp,
                       "keypoints_3d": pose_3d[i].round(2).tolist() if lifted else None,
                       "keypoints_3d_confidence":
                           confidence_3d[i].round(3).tolist() if lifted else None,
                       "plausibility": round(float(plausibility[i]), 4) if lifted else None})
    doc = {"source": keypoints.source, "layout_2d": keypoints.layout.name,
           "layout_3d": "h36m17",
           "joints": list(H36M17.joints), "units_3d": "mm, root-relative camera coordinates",
           "model": model,
           "confidence_3d": "per joint: the 2D confidence of the joint it was lifted from "
                            "(the least of several for a joint made from them), 0 where "
                            "the joint was not seen and is the model's guess",
           "plausibility": "per person, in [0, 1]: bone proportions against Human3.6M's "
                           "mean and left/right symmetry (wildpose.metrics.plausibility)",
           "people": people}
    path.write_text(json.dumps(doc, indent=1))
    return path


def save_lift_npz(path: Path, keypoints_17: KeypointSet, pose_3d: np.ndarray) -> Path:
    """``wildpose lift``'s NPZ: ``keypoints_2d`` (N, 17, 2) pixels, ``valid_2d`` (N, 17),
    ``pose_3d`` (N, 17, 3) mm (NaN where not lifted), ``ids`` (N,) and ``joints`` (17,)."""
    np.savez_compressed(path, keypoints_2d=keypoints_17.keypoints, valid_2d=keypoints_17.valid,
                        pose_3d=pose_3d, ids=np.array(keypoints_17.ids, dtype=str),
                        joints=np.array(H36M17.joints, dtype=str))
    return path


def _find_image(src: Path, image_file: str | None) -> Path | None:
    """An image to draw under the keypoints: the file a COCO json names, or one with the
    input's stem beside it (running.npy -> running.jpg)."""
    if image_file:
        for cand in (src.parent / image_file, src.parent.parent / "val2017" / image_file):
            if cand.is_file():
                return cand
    for ext in (".jpg", ".jpeg", ".png"):
        cand = src.with_suffix(ext)
        if cand.is_file():
            return cand
    return None


def save_lift_pngs(outdir: Path, stem: str, keypoints: KeypointSet, pose_3d: np.ndarray,
                   max_png: int, report: Callable[[str], None] = report_stderr
                   ) -> list[Path]:
    """``wildpose lift``'s figures: the first ``max_png`` lifted people, each as 2D keypoints
    (over the photo a COCO file names, or one beside the input with its stem) and 3D views.

    Named ``<stem>.png`` for a file of one person, else ``<stem>_<i:03d>.png``; an image that
    cannot be read is reported through ``report`` and the figure drawn without it.
    """
    if max_png <= 0:
        return []
    from .visualize import save_pose_png  # matplotlib is slow to import: only if drawing

    src, ks, written = Path(keypoints.source), keypoints, []
    for i in range(min(len(ks), max_png)):
        if not np.isfinite(pose_3d[i]).all():
            continue
        img = None
        img_path = _find_image(src, ks.image_files[i])
        if img_path is not None:
            try:
                img = read_image(img_path)
            except ValueError as e:  # the picture is a nicety; the numbers are written already
                report(f"{e}; drawing without it")
        name = f"{stem}.png" if len(ks) == 1 else f"{stem}_{i:03d}.png"
        written.append(save_pose_png(outdir / name, ks.keypoints[i], pose_3d[i], ks.layout,
                                     ks.valid[i], img, title=ks.ids[i]))
    return written


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
