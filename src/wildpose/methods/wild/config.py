"""Options of a ``wild`` training run (saved as the run's ``config.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from ...datasets.h36m import TRAIN_SUBJECTS, default_data_root
from ...settings import AugmentConfig, NetworkConfig, RunConfig, require

__all__ = ["WildConfig"]


@dataclass
class WildConfig(RunConfig):
    """Everything a ``wild`` run depends on.

    Units: angles in degrees, distances in mm, focal lengths in pixels; detector noise as a
    fraction of the person's size; loss weights multiply unitless losses added to a 3D
    error in mm.
    """

    METHOD: ClassVar[str] = "wild"

    # The shared data folder (h36m/, cmu-mocap/, bandai-mocap/, mpii-2d/, lsp-2d/).
    data_root: str = field(default_factory=lambda: str(default_data_root()))
    out_dir: str = "runs/wild"
    name: str = "wild"
    # --- 3D: the mocap pool
    h36m_subjects: tuple[int, ...] = TRAIN_SUBJECTS
    # Training subjects held out whole for validation (screens: 8), scored on their
    # ground-truth 2D and stacked-hourglass detections; never trained on.
    val_subjects: tuple[int, ...] = ()
    cmu: bool = True                       # CMU training clips (wild_mocap_split)
    bandai: bool = True                    # Bandai training clips (wild_mocap_split)
    bvh_dirs: tuple[str, ...] = ()         # a user's own BVH folders (CMU skeleton)
    # Every n-th training clip of CMU and Bandai (sorted by name) is held out for
    # validation through virtual cameras; 0 = none.
    val_clip_every: int = 8
    tolerance_mm: float = 20.0             # near-duplicate tolerance of the pool
    # Share of each 3D batch drawn from the Human3.6M training subjects' own frames, seen
    # by their real cameras, in Human3.6M's joint definitions, with light 2D noise (up to
    # h36m_noise_max of the person's size); every h36m_stride-th frame is loaded.
    h36m_share: float = 0.0
    h36m_noise_max: float = 0.01
    # Share of those views reported by the simulated detector instead (its joint
    # definitions, layouts, border and errors; sampling.real_camera_batch).
    h36m_detector: float = 0.0
    h36m_stride: int = 5
    # --- bodies and virtual cameras
    bone_scale: float = 0.2
    elevation_min: float = -30.0
    elevation_max: float = 75.0
    roll_max: float = 15.0
    distance_min: float = 2500.0
    distance_max: float = 10000.0
    focal_min: float = 500.0
    focal_max: float = 2000.0
    off_centre: float = 0.3                # root up to this fraction of the distance aside
    # --- the simulated detector (wildpose.augment.DetectorModel)
    definitions: float = 1.0
    # Ankles moved up the shin by up to this fraction (augment.move_joint_definitions).
    ankle_definitions: float = 0.0
    jitter_mm: float = 15.0
    outlier_prob: float = 0.01
    swap_prob: float = 0.03
    cut_prob: float = 0.1
    # the mirror, and the detector's noise and missed joints and limbs
    augment: AugmentConfig = field(default_factory=lambda: AugmentConfig(
        noise_max=0.02, drop_prob=0.02, drop_limb_prob=0.1))
    mpii_style: float = 0.3                # share of samples read through mpii16 -> h36m17
    # Those samples carry the MPII layout's slot meanings (augment.mpii_slot_meanings):
    # its "Spine" slot is the thorax and its "Thorax" slot the upper neck.
    mpii_slots: bool = False
    coco_style: float = 0.3                # share read through coco17 -> h36m17
    # --- 2D-only in-the-wild poses (Zhou et al.'s weak supervision)
    mpii: bool = True
    lsp: bool = True
    coco_files: tuple[str, ...] = ()
    batch_2d: int = 128                    # 2D-only samples per step (0 = none)
    lambda_geo: float = 100.0
    lambda_2d: float = 200.0
    # L_geo also on the 3D-labelled samples' predictions (a row of Zhou et al.'s table,
    # "3D/w geo", when batch_2d is 0).
    geo_on_3d: bool = False
    # --- network and schedule
    network: NetworkConfig = field(default_factory=lambda: NetworkConfig(dropout=0.1))
    batch_size: int = 512                  # 3D-labelled samples per step
    steps_per_epoch: int = 1000
    epochs: int = 30
    val_stride: int = 10                   # validation frames of held-out subjects

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, h36m_subjects=(len(set(self.h36m_subjects) - set(self.val_subjects))
                                      > 0 or self.cmu or self.bandai or bool(self.bvh_dirs),
                                      "a source of 3D poses"),
                 val_clip_every=(self.val_clip_every >= 0, ">= 0"),
                 tolerance_mm=(self.tolerance_mm >= 0, ">= 0"),
                 h36m_share=(0 <= self.h36m_share <= 1, "in [0, 1]"),
                 h36m_noise_max=(self.h36m_noise_max >= 0, ">= 0"),
                 h36m_detector=(0 <= self.h36m_detector <= 1, "in [0, 1]"),
                 h36m_stride=(self.h36m_stride >= 1, ">= 1"),
                 ankle_definitions=(0 <= self.ankle_definitions <= 1, "in [0, 1]"),
                 bone_scale=(0 <= self.bone_scale < 1, "in [0, 1)"),
                 elevation_max=(-90 < self.elevation_min <= self.elevation_max < 90,
                                "within (-90, 90) and >= elevation_min"),
                 roll_max=(0 <= self.roll_max <= 180, "in [0, 180]"),
                 distance_max=(0 < self.distance_min <= self.distance_max,
                               "positive and >= distance_min"),
                 focal_max=(0 < self.focal_min <= self.focal_max, "positive and >= focal_min"),
                 off_centre=(0 <= self.off_centre < 1, "in [0, 1)"),
                 coco_style=(0 <= self.mpii_style and 0 <= self.coco_style
                             and self.mpii_style + self.coco_style <= 1,
                             ">= 0 with mpii_style + coco_style <= 1"),
                 batch_2d=(self.batch_2d >= 0, ">= 0"),
                 lambda_geo=(self.lambda_geo >= 0, ">= 0"),
                 lambda_2d=(self.lambda_2d >= 0, ">= 0"),
                 batch_size=(self.batch_size >= 1, ">= 1"),
                 steps_per_epoch=(self.steps_per_epoch >= 1, ">= 1"),
                 epochs=(self.epochs >= 1, ">= 1"), val_stride=(self.val_stride >= 1, ">= 1"))
        outside = sorted(set(self.val_subjects) - set(self.h36m_subjects))
        if outside:
            raise ValueError(f"val_subjects {outside} are not among h36m_subjects "
                             f"{sorted(self.h36m_subjects)}")

    @property
    def has_2d_only(self) -> bool:
        return self.batch_2d > 0 and (self.mpii or self.lsp or bool(self.coco_files))
