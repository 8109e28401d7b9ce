"""Relative depth labels (Ronchi et al. 2018): for a few joint pairs per sample, which joint is
closer to the camera.

Sign convention (used everywhere in wildpose)::

    label +1  joint i is closer to the camera than joint j   (z_i < z_j, camera z in mm)
    label -1  joint j is closer to the camera than joint i   (z_j < z_i)
    label  0  "same": the two joints are at about the same depth

"Closer" means a smaller camera-frame z (z points away from the camera; see
:mod:`wildpose.camera`).

Labels are data, stored as flat arrays (one entry per labelled pair) plus the key of each
sample, so that they can be generated from 3D (:func:`generate_relative_labels`) or read from
human annotations (:meth:`RelativeDepthLabels.load`) and matched to any data set by key
(:meth:`RelativeDepthLabels.align`).  Human3.6M samples are keyed ``S<s>/<action>/<c>/<f>``
(subject, the 3D file's action name, camera 1..4, 50 fps frame), e.g. ``"S9/Walking 1/2/150"``
(:func:`h36m_sample_keys`); a user's own photos by any string, e.g. an image id.

The JSON file format (joint NAMES, so people can write it by hand)::

    {"format": "wildpose.relative_depth", "version": 1, "layout": "h36m17",
     "convention": "...",
     "samples": {"S9/Walking 1/2/150": [["RWrist", "LFoot", 1], ["Head", "Hip", 0]],
                 "img_000123": [["LElbow", "RElbow", -1]]}}
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .skeleton import H36M17, Skeleton, get_layout

__all__ = [
    "RelativeDepthLabels",
    "generate_relative_labels",
    "crowd_flip_probability",
    "all_joint_pairs",
    "h36m_sample_keys",
    "LABEL_CONVENTION",
]

LABEL_CONVENTION = ("label +1: joint i is closer to the camera than joint j (smaller camera z); "
                    "-1: joint j is closer; 0: same depth")
_FORMAT = "wildpose.relative_depth"


def all_joint_pairs(num_joints: int = 17) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of distinct joints, as (i, j) index arrays with i < j.

    17 joints give 17 * 16 / 2 = 136 pairs.
    """
    i, j = np.triu_indices(num_joints, 1)
    return i.astype(np.int16), j.astype(np.int16)


def crowd_flip_probability(dz_mm: Any) -> np.ndarray:
    """Probability that a crowd worker flips an order label, the noise model of Ronchi et al.'s
    released code: ``1 - min(1.25 * |dz| / 10 + 50, 100) / 100`` for a depth difference ``dz``
    in mm -- 0.5 for joints at equal depth, falling linearly to 0 at 400 mm and beyond."""
    dz = np.abs(np.asarray(dz_mm, np.float64))
    return 1.0 - np.minimum(1.25 * dz / 10.0 + 50.0, 100.0) / 100.0


def h36m_sample_keys(data: Any) -> np.ndarray:
    """Sample keys ``S<subject>/<action>/<camera>/<frame>`` of :class:`H36MData` rows."""
    parts = [np.char.add("S", np.asarray(data.subject).astype(str)),
             np.asarray(data.action).astype(str), np.asarray(data.camera).astype(str),
             np.asarray(data.frame).astype(str)]
    return functools.reduce(lambda a, b: np.char.add(np.char.add(a, "/"), b), parts)


@dataclass
class RelativeDepthLabels:
    """Relative depth labels of many samples, one array entry per labelled pair.

    Attributes:
        keys: (N,) str, the key of each sample.
        sample_index: (M,) int64 row of ``keys`` each pair belongs to (non-decreasing when
            made by this module).
        i, j: (M,) int16 joint indices in ``layout``.
        label: (M,) int8, +1 (i closer), -1 (j closer) or 0 (same); see the module docstring.
        layout: joint layout name of ``i`` and ``j`` (default ``"h36m17"``).
        skipped: counts of what :meth:`load` or :meth:`align` left out (e.g.
            ``{"empty_samples": 3}``); empty when nothing was.
    """

    keys: np.ndarray
    sample_index: np.ndarray
    i: np.ndarray
    j: np.ndarray
    label: np.ndarray
    layout: str = "h36m17"
    skipped: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.keys = np.asarray(self.keys).astype(str)
        self.sample_index = np.asarray(self.sample_index, np.int64)
        self.i = np.asarray(self.i, np.int16)
        self.j = np.asarray(self.j, np.int16)
        self.label = np.asarray(self.label, np.int8)
        m = len(self.sample_index)
        if not (len(self.i) == len(self.j) == len(self.label) == m):
            raise ValueError(f"sample_index, i, j and label must have one length; got "
                             f"{m}, {len(self.i)}, {len(self.j)}, {len(self.label)}")
        if m and (self.sample_index.min() < 0 or self.sample_index.max() >= len(self.keys)):
            raise ValueError(f"sample_index must index the {len(self.keys)} keys")
        if m and not np.isin(self.label, (-1, 0, 1)).all():
            raise ValueError("labels must be +1, -1 or 0")

    def __len__(self) -> int:
        return len(self.label)

    @property
    def num_samples(self) -> int:
        return len(self.keys)

    @property
    def skeleton(self) -> Skeleton:
        return get_layout(self.layout)

    def counts(self) -> dict[str, int]:
        """How many pairs say i closer, j closer and same."""
        return {"i_closer": int((self.label == 1).sum()), "j_closer": int((self.label == -1).sum()),
                "same": int((self.label == 0).sum()), "pairs": len(self),
                "samples": self.num_samples}

    def offsets(self) -> np.ndarray:
        """(N + 1,) int64 CSR offsets: the pairs of sample ``k`` are entries
        ``offsets[k]:offsets[k + 1]``.  Requires ``sample_index`` sorted (it is when made by
        this module)."""
        if len(self) and np.any(np.diff(self.sample_index) < 0):
            raise ValueError("sample_index is not sorted; call .sorted() first")
        return np.searchsorted(self.sample_index, np.arange(self.num_samples + 1)).astype(np.int64)

    def sorted(self) -> "RelativeDepthLabels":
        """The same labels with pairs ordered by sample (stable)."""
        order = np.argsort(self.sample_index, kind="stable")
        return RelativeDepthLabels(self.keys, self.sample_index[order], self.i[order],
                                   self.j[order], self.label[order], self.layout,
                                   dict(self.skipped))

    def pairs_of(self, key: str) -> list[tuple[str, str, int]]:
        """The labelled pairs of one sample, with joint names: [(name_i, name_j, label)]."""
        rows = np.flatnonzero(self.keys == key)
        if not len(rows):
            raise KeyError(f"no sample with key {key!r}")
        names = self.skeleton.joints
        sel = np.flatnonzero(self.sample_index == rows[0])
        return [(names[self.i[k]], names[self.j[k]], int(self.label[k])) for k in sel]

    def align(self, keys: Any) -> tuple["RelativeDepthLabels", np.ndarray]:
        """Re-index the labels to another sample order, e.g. the rows of a data set.

        Args:
            keys: (N_data,) str sample keys of the data set, unique.
        Returns:
            ``(labels, has_labels)``: labels whose ``keys`` are exactly ``keys`` (pairs sorted
            by row) and the (N_data,) bool mask of rows that have at least one pair.  Pairs of
            samples not among ``keys`` are dropped; their number of samples is counted in
            ``skipped["samples_not_in_data"]``.
        """
        keys = np.asarray(keys).astype(str)
        order = np.argsort(keys, kind="stable")
        sk = keys[order]
        if len(sk) > 1 and np.any(sk[1:] == sk[:-1]):
            raise ValueError("align: the data set's sample keys are not unique")
        pos = np.searchsorted(sk, self.keys)
        pos_c = np.minimum(pos, max(len(sk) - 1, 0))
        found = (pos < len(sk)) & (sk[pos_c] == self.keys) if len(sk) else \
            np.zeros(len(self.keys), bool)
        row_of_sample = np.where(found, order[pos_c] if len(sk) else 0, -1)
        rows = row_of_sample[self.sample_index]
        keep = rows >= 0
        skipped = dict(self.skipped)
        lost = int((~found).sum())
        if lost:
            skipped["samples_not_in_data"] = skipped.get("samples_not_in_data", 0) + lost
        out = RelativeDepthLabels(keys, rows[keep], self.i[keep], self.j[keep], self.label[keep],
                                  self.layout, skipped).sorted()
        has = np.zeros(len(keys), bool)
        has[out.sample_index] = True
        return out, has

    # ------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see the module docstring); samples without pairs are left out."""
        lab = self.sorted()
        names = lab.skeleton.joints
        off = lab.offsets()
        samples: dict[str, list] = {}
        for k in np.flatnonzero(np.diff(off) > 0):
            a, b = off[k], off[k + 1]
            samples[str(lab.keys[k])] = [[names[x], names[y], int(r)] for x, y, r in
                                         zip(lab.i[a:b], lab.j[a:b], lab.label[a:b])]
        return {"format": _FORMAT, "version": 1, "layout": self.layout,
                "convention": LABEL_CONVENTION, "samples": samples}

    def save(self, path: str | Path) -> Path:
        """Write the labels as JSON (see the module docstring)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "RelativeDepthLabels":
        """Read labels from JSON (see :meth:`from_dict` for the checks)."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"relative depth labels {path}: {e}") from None
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc: Any, source: str = "labels") -> "RelativeDepthLabels":
        """Build labels from a JSON document, checking every pair.

        Pairs are stored as given, except that (i, j) is put in layout order (i < j), negating
        the label when the two joints swap -- so ``["LFoot", "Hip", 1]`` and
        ``["Hip", "LFoot", -1]`` are the same pair.

        A one-line ValueError naming the file, the sample and the pair for a joint name that
        is not in the layout, a joint paired with itself, a label other than 1, -1 or 0, a
        malformed entry, or the same pair with two different labels.  Exact duplicates of a
        pair are kept once (counted in ``skipped`` as ``duplicate_pairs``), and samples with
        no pairs are left out (counted as ``empty_samples``).
        """
        if not isinstance(doc, dict) or not isinstance(doc.get("samples"), dict):
            raise ValueError(f"{source}: not a relative depth label file (expected a JSON "
                             f"object with a 'samples' object)")
        if doc.get("format", _FORMAT) != _FORMAT:
            raise ValueError(f"{source}: format {doc.get('format')!r} is not {_FORMAT!r}")
        try:
            skel = get_layout(doc.get("layout", "h36m17"))
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None
        index = {n: k for k, n in enumerate(skel.joints)}
        skipped: dict[str, int] = {}

        def problem(key: str, msg: str) -> ValueError:
            return ValueError(f"{source}: sample {key!r}: {msg}")

        keys, s_idx, ii, jj, ll = [], [], [], [], []
        for key, pairs in doc["samples"].items():
            if not isinstance(pairs, list):
                raise problem(key, f"expected a list of [joint_i, joint_j, label] entries, got "
                                   f"{type(pairs).__name__}")
            seen: dict[tuple[int, int], int] = {}
            for entry in pairs:
                if (not isinstance(entry, (list, tuple)) or len(entry) != 3
                        or not all(isinstance(n, str) for n in entry[:2])):
                    raise problem(key, f"entry {entry!r} is not [joint_i, joint_j, label]")
                a, b, r = entry
                unknown = [n for n in (a, b) if n not in index]
                if unknown:
                    raise problem(key, f"unknown joint {unknown[0]!r} (layout {skel.name} has "
                                       f"{', '.join(skel.joints)})")
                if a == b:
                    raise problem(key, f"joint {a!r} is paired with itself")
                if isinstance(r, bool) or r not in (1, -1, 0):
                    raise problem(key, f"pair ({a}, {b}) has label {r!r}; use 1 ({a} closer), "
                                       f"-1 ({b} closer) or 0 (same)")
                x, y, r = index[a], index[b], int(r)
                if x > y:
                    x, y, r = y, x, -r
                if seen.get((x, y), r) != r:
                    raise problem(key, f"pair ({skel.joints[x]}, {skel.joints[y]}) has "
                                       f"contradictory labels")
                if (x, y) in seen:
                    skipped["duplicate_pairs"] = skipped.get("duplicate_pairs", 0) + 1
                seen[(x, y)] = r
            kept = [(x, y, r) for (x, y), r in seen.items()]
            if not kept:
                skipped["empty_samples"] = skipped.get("empty_samples", 0) + 1
                continue
            s_idx += [len(keys)] * len(kept)
            keys.append(str(key))
            for column, values in zip((ii, jj, ll), zip(*kept)):
                column.extend(values)
        return cls(np.array(keys, dtype=str), np.array(s_idx, np.int64), np.array(ii, np.int16),
                   np.array(jj, np.int16), np.array(ll, np.int8), skel.name, skipped)


def generate_relative_labels(pose_3d: Any, pairs_per_sample: int | str = 1, tau_mm: float = 0.0,
                             noise: str = "none", seed: int = 0, keys: Any = None,
                             layout: str | Skeleton = H36M17, chunk: int = 65536
                             ) -> RelativeDepthLabels:
    """Relative depth labels of 3D poses, as a simulated annotator would give them.

    Args:
        pose_3d: (N, J, 3) camera-frame positions in mm (only z is used; root-relative or not).
        pairs_per_sample: pairs per sample, drawn uniformly without replacement from the
            J(J-1)/2 distinct pairs (136 for 17 joints); ``"all"`` (or that number) labels
            every pair.
        tau_mm: depth tolerance: a pair with ``|z_i - z_j| < tau_mm`` is labelled 0 ("same").
            Exact ties (``z_i == z_j``) are "same" whatever ``tau_mm`` is.
        noise: ``"none"`` or ``"crowd"``: each order label (+1/-1) is flipped with probability
            :func:`crowd_flip_probability` of its depth difference (50 % at equal depth, 0 from
            400 mm).  "Same" labels are left as they are: the crowd model describes which joint
            a worker picks as closer, and a "same" answer has no order to flip.
        seed: the labels are a deterministic function of the inputs and the seed.
        keys: (N,) sample keys (default ``"0"``, ``"1"``, ...).
        layout: the joint layout of ``pose_3d`` (default H36M17).
        chunk: samples drawn at a time (bounds memory for k pairs out of 136).
    Returns:
        :class:`RelativeDepthLabels`, pairs sorted by sample and, within a sample, by pair.
    """
    skel = get_layout(layout)
    z = np.asarray(pose_3d, np.float64)
    if z.ndim != 3 or z.shape[1:] != (skel.num_joints, 3):
        raise ValueError(f"pose_3d must have shape (N, {skel.num_joints}, 3); got {z.shape}")
    z = z[..., 2]
    if not np.isfinite(z).all():
        raise ValueError("pose_3d has non-finite depths")
    n = len(z)
    pi, pj = all_joint_pairs(skel.num_joints)
    n_pairs = len(pi)
    if isinstance(pairs_per_sample, str):
        if pairs_per_sample.strip().lower() == "all":
            k = n_pairs
        elif pairs_per_sample.strip().isdigit():
            k = int(pairs_per_sample)
        else:
            raise ValueError(f"pairs_per_sample must be a positive integer or 'all', not "
                             f"{pairs_per_sample!r}")
    else:
        k = int(pairs_per_sample)
    if not 1 <= k <= n_pairs:
        raise ValueError(f"pairs_per_sample must be between 1 and {n_pairs} (or 'all'), "
                         f"got {pairs_per_sample!r}")
    if tau_mm < 0:
        raise ValueError(f"tau_mm must be >= 0, got {tau_mm}")
    if noise not in ("none", "crowd"):
        raise ValueError(f"unknown label noise {noise!r}: use 'none' or 'crowd'")
    if keys is None:
        keys = np.arange(n).astype(str)
    keys = np.asarray(keys).astype(str)
    if keys.shape != (n,):
        raise ValueError(f"keys must have shape ({n},); got {keys.shape}")

    rng = np.random.default_rng(seed)
    if k == n_pairs:
        pair = np.tile(np.arange(n_pairs, dtype=np.int16), n)
    elif k == 1:
        pair = rng.integers(n_pairs, size=n).astype(np.int16)
    else:
        parts = []
        for a in range(0, n, chunk):
            keys_r = rng.random((min(chunk, n - a), n_pairs))
            parts.append(np.sort(np.argpartition(keys_r, k - 1, axis=1)[:, :k], axis=1))
        pair = np.concatenate(parts).reshape(-1).astype(np.int16) if parts else \
            np.zeros(0, np.int16)
    sample = np.repeat(np.arange(n, dtype=np.int64), k)
    i, j = pi[pair], pj[pair]
    dz = z[sample, j] - z[sample, i]                     # > 0 when joint i is closer
    label = np.sign(dz).astype(np.int8)
    label[np.abs(dz) < tau_mm] = 0
    if noise == "crowd":
        flip = rng.random(len(dz)) < crowd_flip_probability(dz)
        label = np.where(flip, -label, label).astype(np.int8)  # -0 == 0: "same" stays
    return RelativeDepthLabels(keys, sample, i, j, label, skel.name)
