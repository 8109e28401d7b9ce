"""The COCO person-keypoints JSON format, parsed in one place.

A COCO keypoint file is an object ``{"images": [...], "annotations": [...], ...}``; a COCO
results file is a bare list of annotations; a single annotation object is accepted too.  Each
annotation's ``"keypoints"`` is 51 numbers, ``(x, y, v)`` per COCO joint in
:data:`~wildpose.skeleton.COCO17` order, where ``v = 0`` marks an unlabelled joint, 1 an
occluded and 2 a visible one (a results file puts a detector score there).  ``"bbox"`` is
``[x, y, width, height]`` in pixels.

:func:`parse_coco_people` checks the structure and returns every well-formed person,
unfiltered (:class:`CocoPeople`); what a reader keeps -- crowds, people with few labelled
joints, people without a box or an image -- is its own rule:
:func:`wildpose.datasets.keypoint_files.read_keypoints` (a user's keypoint file),
:func:`wildpose.datasets.image_readers.read_coco_keypoints` (photos and people for the image
network) and, through the first, :func:`wildpose.datasets.keypoint_files.load_coco_2d`
(2D-only training poses).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from numbers import Real
from typing import Any

import numpy as np

from ..skeleton import COCO17

__all__ = ["CocoPeople", "parse_coco_people", "COCO_VALUES"]

#: Numbers in one annotation's ``"keypoints"``: (x, y, v) for each of the 17 COCO joints.
COCO_VALUES = 3 * COCO17.num_joints


@dataclass(frozen=True, eq=False)
class CocoPeople:
    """The well-formed person annotations of one COCO document (N of them).

    Attributes:
        keypoints: (N, 17, 2) float64 pixels in COCO17 order, as written (unlabelled joints
            keep the file's values, usually 0).
        visibility: (N, 17) float64, the file's ``v`` (or score) per joint.
        boxes: (N, 4) float64 ``(x0, y0, x1, y1)`` pixels from ``bbox``; a NaN row where the
            annotation has no ``bbox`` of 4 numbers.
        crowd: (N,) bool, the annotation's ``iscrowd``.
        num_keypoints: (N,) float64, the annotation's ``num_keypoints``; NaN where absent.
        positions: (N,) int, each person's position in the annotation list.
        ann_ids, image_ids: N values of the annotation's ``id`` and ``image_id`` (None where
            absent).
        image_files: N ``file_name`` of the annotation's image in ``images`` (None where the
            document names none).
        skipped: ``(position, description, problem)`` for every malformed annotation.
        source: the file the document came from (for messages).
    """

    keypoints: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    crowd: np.ndarray
    num_keypoints: np.ndarray
    positions: np.ndarray
    ann_ids: list[Any]
    image_ids: list[Any]
    image_files: list[str | None]
    skipped: list[tuple[int, str, str]]
    source: str

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    def labelled(self) -> np.ndarray:
        """(N, 17) bool: ``v > 0`` and finite coordinates."""
        v = np.nan_to_num(self.visibility, nan=0.0)
        return (v > 0) & np.isfinite(self.keypoints).all(-1)

    def describe(self, n: int) -> str:
        """Person ``n`` for messages and ids, e.g. ``"image 7 / ann 1"``."""
        return _describe(self.ann_ids[n], self.image_ids[n], int(self.positions[n]))


def _describe(ann_id: Any, image_id: Any, position: int) -> str:
    ann = f"ann {ann_id}" if ann_id is not None else f"ann #{position}"
    return f"image {image_id} / {ann}" if image_id is not None else ann


def _is_number(v: Any) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool)


def _keypoint_problem(kps: Any) -> str | None:
    """Why ``kps`` is not 51 numbers, or None if it is."""
    if kps is None:
        return "no 'keypoints'"
    if not isinstance(kps, list):
        return f"'keypoints' is a {type(kps).__name__}, not a list"
    if len(kps) != COCO_VALUES:
        return f"{len(kps)} keypoint numbers, expected {COCO_VALUES} (17 x (x, y, v))"
    bad = [v for v in kps if not _is_number(v)]
    return f"non-numeric keypoint value {bad[0]!r}" if bad else None


def _box(bbox: Any) -> tuple[float, float, float, float]:
    """``[x, y, w, h]`` -> ``(x0, y0, x1, y1)``; NaNs unless it is 4 numbers."""
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_number(v) for v in bbox)):
        return (np.nan,) * 4
    x, y, w, h = (float(v) for v in bbox)
    return (x, y, x + w, y + h)


def parse_coco_people(doc: Any, source: str | os.PathLike) -> CocoPeople:
    """The people of a loaded COCO keypoint document.

    Args:
        doc: the parsed JSON: a COCO object with ``"annotations"`` (and optionally
            ``"images"``), a list of annotations, or one annotation object.
        source: the file it came from; every message starts with it.
    Returns:
        :class:`CocoPeople` with every annotation whose ``"keypoints"`` are 51 numbers;
        the others (not an object, keypoints absent, of another length or not numeric) are
        listed in ``skipped``.
    Raises:
        ValueError: one line naming ``source`` when ``doc`` is none of the three forms.
    """
    src = str(source)
    images: Any = None
    if isinstance(doc, list):
        anns = doc
    elif isinstance(doc, dict) and "annotations" in doc:
        anns, images = doc["annotations"], doc.get("images")
        if not isinstance(anns, list):
            raise ValueError(f"{src}: 'annotations' is not a list")
    elif isinstance(doc, dict) and "keypoints" in doc:
        anns = [doc]
    else:
        what = (f"keys: {', '.join(list(doc)[:8]) or 'none'}" if isinstance(doc, dict)
                else f"top level is a {type(doc).__name__}")
        raise ValueError(f"{src}: not a COCO keypoint file: no 'annotations' list ({what})")
    names: dict[Any, str] = {}
    for im in images if isinstance(images, list) else ():
        if isinstance(im, dict) and "id" in im and isinstance(im.get("file_name"), str):
            names[im["id"]] = im["file_name"]
    kept: list[tuple[int, dict]] = []                      # (position, annotation)
    skipped: list[tuple[int, str, str]] = []
    for i, ann in enumerate(anns):
        if not isinstance(ann, dict):
            skipped.append((i, f"annotation #{i}", f"not an object ({type(ann).__name__})"))
            continue
        problem = _keypoint_problem(ann.get("keypoints"))
        if problem is not None:
            skipped.append((i, _describe(ann.get("id"), ann.get("image_id"), i), problem))
        else:
            kept.append((i, ann))

    def values(key: str) -> list[Any]:
        return [ann.get(key) for _, ann in kept]

    a = np.asarray(values("keypoints"), np.float64).reshape(len(kept), COCO17.num_joints, 3)
    counts = [float(v) if _is_number(v) else np.nan for v in values("num_keypoints")]
    files = [names.get(i) if isinstance(i, (int, str)) else None for i in values("image_id")]
    boxes = np.asarray([_box(b) for b in values("bbox")], np.float64).reshape(-1, 4)
    return CocoPeople(a[..., :2], a[..., 2], boxes,
                      np.asarray([bool(c) for c in values("iscrowd")], bool),
                      np.asarray(counts, np.float64), np.asarray([i for i, _ in kept], int),
                      values("id"), values("image_id"), files, skipped, src)
