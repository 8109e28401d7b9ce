"""Lifting users' keypoint files to 3D and writing the results: what ``wildpose lift`` does
for each input, as a function users can call."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.keypoint_files import read_keypoints
from .metrics import plausibility
from .skeleton import H36M17, joint_confidence
from .temporal import constant_bone_lengths

__all__ = ["lift_keypoint_file"]


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
    people = []
    for i in range(len(ks17)):
        kp = [[float(x), float(y), float(c)] if v else None for (x, y), c, v in
              zip(ks17.keypoints[i], ks17.confidence[i], ks17.valid[i])]
        lifted = bool(np.isfinite(pose[i]).all())
        people.append({"id": ks.ids[i], "image": ks.image_files[i], "keypoints_2d": kp,
                       "keypoints_3d": pose[i].round(2).tolist() if lifted else None,
                       "keypoints_3d_confidence":
                           confidence[i].round(3).tolist() if lifted else None,
                       "plausibility": round(float(score[i]), 4) if lifted else None})
    doc = {"source": str(path), "layout_2d": ks.layout.name, "layout_3d": "h36m17",
           "joints": list(H36M17.joints), "units_3d": "mm, root-relative camera coordinates",
           "model": lifter.info.get("name", ""),
           "confidence_3d": "per joint: the 2D confidence of the joint it was lifted from "
                            "(the least of several for a joint made from them), 0 where "
                            "the joint was not seen and is the model's guess",
           "plausibility": "per person, in [0, 1]: bone proportions against Human3.6M's "
                           "mean and left/right symmetry (wildpose.metrics.plausibility)",
           "people": people}
    (outdir / f"{stem}.json").write_text(json.dumps(doc, indent=1))
    np.savez_compressed(outdir / f"{stem}.npz", keypoints_2d=ks17.keypoints,
                        valid_2d=ks17.valid, pose_3d=pose, ids=np.array(ks.ids, dtype=str),
                        joints=np.array(H36M17.joints, dtype=str))
    if max_png > 0:
        from .visualize import save_pose_png  # matplotlib is slow to import: only if drawing
    for i in range(min(len(ks), max_png)):
        if not np.isfinite(pose[i]).all():
            continue
        img = None
        img_path = _find_image(path, ks.image_files[i])
        if img_path is not None:
            import matplotlib.image as mpimg

            try:
                img = mpimg.imread(img_path)
                if img.dtype != np.uint8:
                    img = (np.clip(img, 0, 1) * 255).astype(np.uint8)
                img = img[..., :3] if img.ndim == 3 else np.repeat(img[..., None], 3, -1)
            except Exception as e:  # the picture is a nicety; the numbers are written already
                print(f"{img_path}: could not read image ({e}); drawing without it",
                      file=sys.stderr)
                img = None
        name = f"{stem}.png" if len(ks) == 1 else f"{stem}_{i:03d}.png"
        save_pose_png(outdir / name, ks.keypoints[i], pose[i], ks.layout, ks.valid[i], img,
                      title=ks.ids[i])
    return len(ks) - len(unlifted)
