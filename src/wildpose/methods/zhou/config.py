"""The options of a Zhou training run (:class:`ZhouConfig`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ...datasets.h36m import default_data_dir
from ...settings import AugmentConfig, NetworkConfig, RunConfig, at_least, require

__all__ = ["ZhouConfig"]


@dataclass
class ZhouConfig(RunConfig):
    """Everything one Zhou-style training run depends on (saved as its ``config.json``).

    The sections ``optim``, ``network`` and ``augment`` mean what they mean in
    :class:`wildpose.TrainConfig`."""

    data_dir: str = field(default_factory=lambda: str(default_data_dir()))  # as TrainConfig
    out_dir: str = "runs/zhou"
    name: str = ""                              # recorded in the exported model
    lab_subjects: tuple[int, ...] = (1,)        # 3D-labelled Human3.6M subjects
    lab_stride: int = 1
    wild_subjects: tuple[int, ...] = (5, 6, 7, 8)  # 2D-only Human3.6M subjects (3D withheld)
    wild_stride: int = 4
    wild_inputs: str = "gt"                     # their 2D: "gt" labels or "sh" detections
    coco_files: tuple[str, ...] = ()            # extra 2D-only COCO keypoint files
    val_fraction: float = 0.04                  # lab sequences held out for validation
    val_stride: int = 5
    epochs: int = 15                            # passes over the 3D-labelled samples
    stage1_epochs: int = 5                      # depth regression only; then L_geo is on
    batch_3d: int = 256                         # 3D-labelled samples per batch
    batch_2d: int = 256                         # 2D-only samples per batch (if there are any)
    lambda_reg: float = 1.0
    lambda_geo: float = 0.3                     # see run_zhou_transfer's notes
    lambda_fill: float = 1.0
    geo_on_3d: bool = False                     # also apply L_geo to the 3D-labelled samples
    network: NetworkConfig = field(default_factory=NetworkConfig)
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        noise_max=0.01, drop_prob=0.01, drop_limb_prob=0.1))

    METHOD: ClassVar[str] = "zhou"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, lab_subjects=(len(self.lab_subjects) > 0, "at least one subject"),
                val_fraction=(0 <= self.val_fraction < 1, "in [0, 1)"),
                **at_least(self, 1, "lab_stride", "wild_stride", "batch_3d", "batch_2d",
                           "epochs", "val_stride"),
                **at_least(self, 0, "stage1_epochs", "lambda_reg", "lambda_geo", "lambda_fill"))
        if self.stage1_epochs > self.epochs:
            raise ValueError(f"stage1_epochs ({self.stage1_epochs}) exceeds epochs "
                             f"({self.epochs})")
        if self.wild_inputs not in ("gt", "sh"):
            raise ValueError(f"wild_inputs must be 'gt' or 'sh', not {self.wild_inputs!r}")

    @property
    def has_2d_only(self) -> bool:
        return bool(self.wild_subjects) or bool(self.coco_files)
