"""The images of a run: lab (3D-labelled) and wild (2D-only) renders or real crops, the
validation hold-out and the canonical skeleton."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...datasets.image_set import ImageSet, image_set_from_renders
from ...datasets.images import load_image_sources
from ...locking import exclusive
from ...losses import canonical_bone_lengths
from .config import ZhouImageTrainConfig
from .synthetic import SyntheticPoseDataset, build_splits, prerender

__all__ = ["ImageData", "prepare_image_data", "group_holdout", "render_image_set"]


@dataclass
class ImageData:
    """The renders of one run: lab training and validation sets, 2D-only renders (or None)
    and the canonical skeleton of the lab training set in mm and in normalized units."""

    lab: ImageSet
    val: ImageSet
    wild: ImageSet | None
    canonical_mm: np.ndarray
    canonical_norm: np.ndarray
    notes: list[str] = field(default_factory=list)


def _subset(dataset, n: int, name: str):
    """A dataset of ``n`` evenly spaced poses of ``dataset`` (all of them if fewer)."""
    poses = dataset._poses
    pick = np.linspace(0, len(poses) - 1, min(n, len(poses))).round().astype(int)
    return SyntheticPoseDataset(poses[pick], dataset.style, dataset.size, dataset.seed,
                                dataset.keep_3d, name=name)


def render_image_set(dataset, cache_dir: str | Path | None = None,
                     progress: bool = False) -> ImageSet:
    """Render every sample of a :class:`.synthetic.SyntheticPoseDataset`.

    With ``cache_dir`` the renders go through :func:`.synthetic.prerender`
    to ``<cache_dir>/<name>-<settings hash>.npz`` (resumable, and reused by later runs with
    the same poses and settings); without it they are rendered in memory.  Processes
    sharing a cache path take turns (a ``<file>.lock`` file), so ranks of one job render
    once.
    """
    n = len(dataset)
    if cache_dir is None:
        return image_set_from_renders(dataset.arrays(0, n), dataset.keep_3d)
    key = json.dumps([dataset.style, dataset.size, dataset.seed, dataset.keep_3d, n,
                      float(np.float64(dataset._poses.sum()).round(3))])
    path = Path(cache_dir) / f"{dataset.name}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.npz"
    if not path.is_file():
        # Ranks of a torchrun job share the cache: one renders, the others wait and load.
        with exclusive(path.with_name(path.name + ".lock")):
            if not path.is_file():  # another process may have finished meanwhile
                prerender(dataset, path, n, chunk=500, progress=progress)
    with np.load(path) as z:
        return image_set_from_renders({k: z[k] for k in ("image", "joints_2d", "joints_3d")},
                          dataset.keep_3d)


def _evenly_spaced(n: int, count: int) -> np.ndarray:
    """(n,) bool: every ``n // count``-th row (at least every 2nd), at most ``count`` rows.

    The renders' validation rule: each render has its own random camera, so neighbours are
    no closer to each other than any two renders of similar poses.
    """
    period = max(n // max(count, 1), 2)
    pick = (np.arange(n) % period == period - 1) if count else np.zeros(n, bool)
    return pick & (np.cumsum(pick) <= count)


def group_holdout(groups: np.ndarray, count: int, seed: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole groups (sequences, images) for about ``count`` validation rows.

    Groups are drawn in a seeded random order until they hold ``count`` rows (never all
    groups, so something is left to train on); ``count`` of their rows, evenly spaced in row
    order, become the validation set, and the rest of the held-out groups is used by neither
    side -- in training they would be near-duplicates of validation frames.

    Args:
        groups: (N,) group key of each row; count: validation rows wanted; seed: the draw.
    Returns:
        ``(is_val, is_train)``: (N,) bool masks; a group has rows on one side at most.
    """
    n = len(groups)
    if count <= 0 or n == 0:
        return np.zeros(n, bool), np.ones(n, bool)
    names, inverse, sizes = np.unique(groups, return_inverse=True, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(names))
    enough = np.cumsum(sizes[order]) >= count
    taken = int(np.argmax(enough)) + 1 if enough.any() else len(names)
    held = np.isin(inverse, order[:min(taken, len(names) - 1)])
    rows = np.flatnonzero(held)
    # floor of a linspace with steps >= 1: distinct rows, spread over every held-out group
    pick = rows[np.linspace(0, len(rows), min(count, len(rows)), endpoint=False).astype(int)]
    is_val = np.zeros(n, bool)
    is_val[pick] = True
    return is_val, ~held


def _validation_split(data: ImageSet, count: int, seed: int
                      ) -> tuple[np.ndarray, np.ndarray, str]:
    """``(is_val, is_train, note)`` for the lab set: whole groups (:func:`group_holdout`)
    where ``data.group`` says which samples belong together, else evenly spaced rows
    (:func:`_evenly_spaced`, the renders).  ``note`` is appended to the run's notes."""
    n = len(data)
    if data.group is None or count <= 0:
        is_val = _evenly_spaced(n, count)
        return is_val, ~is_val, ""
    n_groups = len(np.unique(data.group))
    if n_groups < 2:
        # Nothing to hold out whole without emptying the training set.
        is_val = _evenly_spaced(n, count)
        return is_val, ~is_val, (" (one sequence/image only: evenly spaced, so validation "
                                 "frames have near-identical training neighbours)")
    is_val, is_train = group_holdout(data.group, count, seed)
    held = data.group[~is_train]
    return is_val, is_train, (f" (whole sequences/images: {len(np.unique(held))} of "
                              f"{n_groups} held out, {len(held) - int(is_val.sum())} of "
                              f"their crops unused)")


def prepare_image_data(cfg: ZhouImageTrainConfig, splits: dict | None = None,
                       cache_dir: str | Path | None = None, progress: bool = False
                       ) -> ImageData:
    """Render (or load from ``cache_dir``) the lab, validation and wild samples of a run.

    With ``cfg.lab_sources`` the lab samples are crops of real 3D-labelled photographs and
    with ``cfg.wild_sources`` the wild ones crops of 2D-labelled photographs
    (:func:`wildpose.datasets.images.load_image_sources`, cached in ``cache_dir`` when
    given), each in place of its renders.  Real lab crops are held in memory
    (N x S x S x 3 bytes); real wild crops stay memory-mapped from the cache.

    Validation: ``cfg.val_samples`` lab samples.  Renders are taken evenly spaced; real crops
    by whole Human3.6M (subject, action) sequences, all cameras (images for sources without
    sequences), so that no validation frame has a near-identical twin in training
    (:func:`group_holdout`; the rest of the held-out sequences is left unused).

    Args:
        splits: ``{"lab", "wild"(, "test")}`` datasets; default
            :func:`.synthetic.build_splits` of ``cfg.data_root`` at
            ``cfg.network.image_size`` (read only if some renders are needed).
    """
    want_wild = cfg.use_2d_only and (bool(cfg.wild_sources) or cfg.wild_samples > 0)
    if splits is None and (not cfg.lab_sources or (want_wild and not cfg.wild_sources)):
        splits = build_splits(cfg.data_root, cfg.network.image_size, cfg.seed, cfg.mocap_stride,
                              include_cmu=cfg.include_cmu)
    source_notes: list[str] = []
    if cfg.lab_sources:
        rendered, source_notes = load_image_sources(cfg.lab_sources, cfg.network.image_size,
                                                    cache_dir, "lab", True, cfg.data_root,
                                                    progress)
    else:
        both = _subset(splits["lab"], cfg.lab_samples + cfg.val_samples, "lab")
        rendered = render_image_set(both, cache_dir, progress)
    is_val, is_train, split_note = _validation_split(rendered, cfg.val_samples, cfg.seed)

    def take(rows):
        opt = lambda a: None if a is None else a[rows]  # noqa: E731
        return ImageSet(rendered.images[rows], rendered.joints_2d[rows],
                        rendered.pose_mm[rows], rendered.depth[rows], opt(rendered.visible),
                        opt(rendered.group))

    lab, val = take(is_train), take(is_val)
    kind = "crops" if cfg.lab_sources else "renders"
    if len(lab) < cfg.batch_3d:
        raise ValueError(f"only {len(lab)} 3D-labelled training {kind}, fewer than one "
                         f"batch (batch_3d {cfg.batch_3d})")
    wild = None
    notes = source_notes + [f"{len(lab)} lab {kind} with 3D, {len(val)} held out for "
                            f"validation{split_note}"]
    if want_wild and cfg.wild_sources:
        wild, wild_notes = load_image_sources(cfg.wild_sources, cfg.network.image_size, cache_dir,
                                              "wild", False, cfg.data_root, progress)
        notes += wild_notes + [f"{len(wild)} wild crops, 2D only"]
    elif want_wild:
        wild = render_image_set(_subset(splits["wild"], cfg.wild_samples, "wild"), cache_dir,
                                progress)
        notes.append(f"{len(wild)} wild renders, 2D only")
    return ImageData(lab, val, wild, canonical_bone_lengths(lab.pose_mm),
                     canonical_bone_lengths(lab.pose_norm()), notes)
