"""The options of a Ronchi training run (:class:`RonchiConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...datasets.h36m import TRAIN_SUBJECTS, default_data_dir
from ...settings import AugmentConfig, NetworkConfig, RunConfig, at_least, require

__all__ = ["RonchiConfig"]


@dataclass
class RonchiConfig(RunConfig):
    """Everything a Ronchi training run depends on (saved as the run's ``config.json``).

    The fields shared with :class:`wildpose.TrainConfig` mean the same (the sections
    ``optim``, ``network`` and ``augment`` too); the others:

    * ``supervision``: ``"relative"`` (relative labels; 3D only for ``fraction_3d`` of the
      samples) or ``"3d"`` (every sample supervised in 3D: the reference).
    * ``fraction_3d``: fraction of training samples that keep their 3D (mixed training).
    * ``pairs_per_sample`` ("1", "5", ..., or "all"), ``tau_mm``, ``label_noise`` ("none" or
      "crowd"), ``label_seed``: how labels are generated from the training 3D
      (:func:`wildpose.relative_depth.generate_relative_labels`).
    * ``labels_file``: a JSON of (human) labels keyed ``S<s>/<action>/<camera>/<frame>``,
      used instead of generated ones; training samples without labels (nor 3D) are left out.
    * ``w_*``: loss weights (see the module docstring); ``w_symmetry`` weighs the symmetry
      term inside the limb prior; ``rank_multiplier`` the sharpness of the ranking loss.

    The defaults suit relative supervision.  They were chosen on short runs (P2 on every 20th
    or 200th frame of S9/S11; differences under ~1.5 mm are within run-to-run noise):

    * without the scale prior a relative-only model drifts to deep, xy-shrunken poses (P2 no
      better than lifting to a flat pose); ``w_scale`` 1-3 fixes it;
    * ``w_reproj`` 2-3 beats 1 (xy error twice the supervised model's) and 5-10;
    * ``w_limb`` 0.25-0.5 beats 0 and 1-3; ``rank_multiplier`` 2 beats 0.5, 1 and 3;
    * ``dropout`` 0 beats 0.1 and 0.25 for relative labels (1 pair + crowd noise, 0.7M
      samples: 47.8 / 50.1 mm, and ~54 at 0.25 with w_reproj 5), while the 3D-supervised
      reference prefers 0.1 (2.1M samples: 31.1 mm against 32.2 at 0).

    For ``supervision="3d"`` use ``w_reproj = w_limb = w_scale = 0`` and ``dropout`` 0.1
    (``configs/ronchi-supervised.json``): the 3D loss alone is best, and reprojecting
    orthographically costs the supervised model 12 mm P2, Human3.6M's 2D being perspective.
    """

    data_dir: str = field(default_factory=lambda: str(default_data_dir()))  # as TrainConfig
    out_dir: str = "runs/ronchi"
    inputs: str = "gt"
    subjects: tuple[int, ...] = TRAIN_SUBJECTS
    stride: int = 1
    val_fraction: float = 0.04
    supervision: str = "relative"
    fraction_3d: float = 0.0
    pairs_per_sample: str = "1"
    tau_mm: float = 0.0
    label_noise: str = "none"
    label_seed: int = 0
    labels_file: str = ""
    epochs: int = 2
    batch_size: int = 512
    network: NetworkConfig = field(default_factory=lambda: NetworkConfig(dropout=0.0))
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    w_rank: float = 1.0
    w_reproj: float = 3.0
    w_limb: float = 0.5
    w_symmetry: float = 1.0
    w_scale: float = 3.0
    w_3d: float = 1.0
    rank_multiplier: float = 2.0
    val_stride: int = 5
    name: str = ""

    METHOD: ClassVar[str] = "ronchi"
    RETIRED: ClassVar[dict[str, Any]] = {"rank_norm": "pairs"}

    def __post_init__(self) -> None:
        super().__post_init__()
        self.subjects = tuple(int(s) for s in self.subjects)
        require(self, subjects=(len(self.subjects) > 0, "at least one subject"),
                val_fraction=(0 <= self.val_fraction < 1, "in [0, 1)"),
                tau_mm=(self.tau_mm >= 0, ">= 0 mm"),
                rank_multiplier=(self.rank_multiplier > 0, "> 0"),
                **at_least(self, 1, "stride", "batch_size", "epochs", "val_stride"),
                **at_least(self, 0, "w_rank", "w_reproj", "w_limb", "w_symmetry", "w_scale",
                           "w_3d"))
        self.pairs_per_sample = str(self.pairs_per_sample).strip().lower()
        if self.supervision not in ("relative", "3d"):
            raise ValueError(f"supervision must be 'relative' or '3d', not {self.supervision!r}")
        if not 0.0 <= self.fraction_3d <= 1.0:
            raise ValueError(f"fraction_3d must be in [0, 1], got {self.fraction_3d}")
        if self.label_noise not in ("none", "crowd"):
            raise ValueError(f"label_noise must be 'none' or 'crowd', not {self.label_noise!r}")
        if self.pairs_per_sample != "all" and not (self.pairs_per_sample.isdigit()
                                                   and 1 <= int(self.pairs_per_sample) <= 136):
            raise ValueError(f"pairs_per_sample must be 1..136 or 'all', not "
                             f"{self.pairs_per_sample!r}")
        if self.inputs not in ("gt", "sh"):
            raise ValueError(f"inputs must be 'gt' or 'sh', not {self.inputs!r}")
