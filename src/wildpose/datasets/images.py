"""Real photographs for the image network: Human3.6M frames, MPII and COCO person crops.

Every reader turns one annotation layout into the same record, :class:`AnnotatedImage`
(image path, H36M17 joints in image pixels, which of them are visible, the root-relative
camera-frame pose in mm where the data set has one, and a person box).  A
:class:`PersonCrops` data set reads the images lazily and cuts one square ``S x S`` crop per
person; :func:`materialize` writes all crops to a resumable cache and returns the
:class:`~wildpose.datasets.image_set.ImageSet` the trainer eats.

Readers (:mod:`wildpose.datasets.image_readers`; each returns :class:`AnnotatedImages`, a
list that also counts what it skipped):

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
top-left edge in image edge coordinates; :mod:`wildpose.crop`, the one crop geometry, which
:meth:`wildpose.methods.zhou_image.ZhouImagePredictor.crop` uses too, with ``box_scale`` as
the margin).

Bad input never stops a run: a missing or unreadable image, an annotation entry that is
malformed, a box that is empty and a person with no labelled joint inside the image are
skipped, counted by reason (``skipped`` Counters, keys in :data:`SKIP_REASONS`) and logged on
the ``wildpose.datasets.image_readers`` and
``wildpose.datasets.images`` loggers, one line per item (routine filtering -- COCO crowd
boxes, people with too few keypoints -- is only counted), plus one summary line per source.
A missing annotation file or image folder is an error, not a skip.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from ..chunked import write_chunks
from ..crop import crop_window, image_to_crop
from ..locking import exclusive
from ..skeleton import H36M17
from .image_readers import (_IMAGE_ERRORS, DEFAULT_CROP_MARGIN, AnnotatedImage, SkipSample,
                            _skip, _summary, read_source)
from .image_set import ImageSet, image_set_from_renders
from .keypoint_files import one_line

__all__ = ["Crop", "PersonCrops", "DEFAULT_CROP_MARGIN", "crop_image", "crop_sample",
           "materialize", "load_image_sources"]


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
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated or corrupt file fails here, not mid-batch
            return im.convert("RGB")
    except FileNotFoundError:
        raise SkipSample("missing_image", path) from None
    except (*_IMAGE_ERRORS, Image.DecompressionBombError) as e:
        raise SkipSample("corrupt_image", f"{path}: {one_line(e)}") from None


#: A window larger than this many times the image's longer side is a broken annotation (and
#: would allocate a huge padded region).
_MAX_WINDOW = 8.0


def crop_sample(sample: AnnotatedImage, size: int, margin: float = DEFAULT_CROP_MARGIN
                ) -> Crop:
    """Read a sample's image and cut its person crop.

    Joints outside the image (``[-0.5, W - 0.5) x [-0.5, H - 0.5)``) are made invisible.

    Args:
        sample: the record; size: S, crop side in pixels; margin: see
            :func:`wildpose.crop.crop_window`.
    Returns:
        :class:`Crop`.
    Raises:
        SkipSample: missing or unreadable image, unusable box, or no visible joint inside the
            image (``reason`` says which).
    """
    try:
        origin, side = crop_window(sample.box, margin)
    except ValueError as e:
        raise SkipSample("bad_box", str(e)) from None
    img = _open_rgb(sample.image)
    w, h = img.size
    kp = np.asarray(sample.joints_2d, np.float64)
    inside = ((kp >= -0.5) & (kp < np.array([w, h]) - 0.5)).all(1)  # False for NaN too
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
        if size in self._fingerprints:
            return self._fingerprints[size]
        h = hashlib.sha1()
        h.update(json.dumps([1, size, self.margin, len(self)]).encode())
        for s in self.samples:
            pose = (np.full((H36M17.num_joints, 3), np.nan, np.float32) if s.pose_mm is None
                    else np.asarray(s.pose_mm, np.float32))
            h.update(s.image.encode())
            for a in (np.asarray(s.joints_2d, np.float32), np.asarray(s.visible, bool),
                      pose, np.asarray(s.box, np.float64)):
                h.update(np.ascontiguousarray(a).tobytes())
        self._fingerprints[size] = h.hexdigest()
        return self._fingerprints[size]


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
    out_set = image_set_from_renders({"image": arrays["image"], "joints_2d": arrays["joints_2d"],
                                      "joints_3d": arrays["pose_mm"]}, bool(arrays["has_3d"].all()))
    out_set.visible = np.asarray(arrays["visible"], bool)
    out_set.group = np.array([dataset.samples[i].split_group for i in arrays["index"]], str)
    return out_set


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
