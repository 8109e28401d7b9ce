"""Lifting users' keypoint files to 3D and writing the results: what ``wildpose lift`` does
for each input, as a function users can call."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.keypoint_files import read_keypoints
from .metrics import plausibility
from .outputs import save_lift_npz, save_lift_pngs, write_lift_json
from .skeleton import H36M17, joint_confidence
from .temporal import constant_bone_lengths

__all__ = ["lift_keypoint_file"]


def lift_keypoint_file(lifter: Any, path: Path, outdir: Path, layout: str | None = None,
                       max_png: int = 1, consistent_bones: bool = False,
                       stem: str | None = None, symmetric_bones: bool = False) -> int:
    """Lift one keypoint file (COCO JSON, ``.npy``, ``.npz``) and write its results.

    Writes ``<stem>.json`` (per person: ``keypoints_2d`` as [x, y, confidence] pixels or null,
    ``keypoints_3d`` in mm, root-relative camera axes, ``keypoints_3d_confidence`` and
    ``plausibility``), ``<stem>.npz`` and up to ``max_png`` PNG figures into ``outdir``.
    Reader notes, the lifter's refusals and people left unlifted are reported on stderr as
    one line each, prefixed with the file name.

    Args:
        lifter: a :class:`wildpose.Lifter` (or anything with its ``lift`` and ``info``).
        path: the keypoint file; layout: its joint layout if the file does not say.
        consistent_bones / symmetric_bones: an array file is one person's clip: give every
            frame the clip's median bone lengths (left and right alike with ``symmetric``).
    Returns:
        The number of people lifted (0: nothing was lifted).
    """
    ks = read_keypoints(path, layout=layout)
    for note in ks.skipped:
        print(f"{path}: skipped {note}", file=sys.stderr)
    ks17 = ks.to_layout(H36M17)
    clips = {}
    if getattr(lifter, "window", (1, 1))[0] > 1 and any(ks.image_files):
        # A video lifter reads an array file's rows as the frames of one clip; people of a
        # file that names its photos (COCO) are each a clip of one frame.
        clips = {"sequence": np.arange(len(ks17))}
    with warnings.catch_warnings(record=True) as said:  # repeated below with the file name
        warnings.simplefilter("always")
        pose = lifter.lift(ks17.keypoints, "h36m17", valid=ks17.valid, **clips)
    for w in said:
        print(f"{path}: {w.message}", file=sys.stderr)
    if consistent_bones or symmetric_bones:
        if any(ks.image_files):
            print(f"{path}: consistent bones not applied: the people of a keypoint file "
                  f"that names photos are not one clip", file=sys.stderr)
        else:  # an array file is one person's clip: one set of bones for all its frames
            pose = constant_bone_lengths(pose, np.zeros(len(pose), int),
                                         symmetric=symmetric_bones)
    unlifted = [ks.ids[i] for i in np.flatnonzero(~np.isfinite(pose).all((1, 2)))]
    if unlifted:
        print(f"{path}: {len(unlifted)} of {len(ks)} pose(s) were not lifted (keypoints_3d "
              f"null; reasons above): {'; '.join(unlifted[:5])}"
              f"{' ...' if len(unlifted) > 5 else ''}", file=sys.stderr)
    # A joint the detector saw keeps its confidence, one made from several the least of
    # theirs, one it could not see 0: a guessed leg reads 0, a seen one its score.
    confidence = joint_confidence(ks.confidence, ks.layout, H36M17, ks.valid)
    score = plausibility(pose)
    stem = stem or path.stem
    outdir.mkdir(parents=True, exist_ok=True)
    write_lift_json(outdir / f"{stem}.json", ks, ks17, pose, confidence, score,
                    lifter.info.get("name", ""))
    save_lift_npz(outdir / f"{stem}.npz", ks17, pose)
    save_lift_pngs(outdir, stem, ks, pose, max_png)
    return len(ks) - len(unlifted)
