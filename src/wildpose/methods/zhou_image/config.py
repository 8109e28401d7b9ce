"""The options of an image-network training run (:class:`ZhouImageTrainConfig`) and its three
stages' loss weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...datasets.h36m import default_data_root
from ...settings import RunConfig, at_least, checked_options, require
from ...models.hourglass import ZhouImageConfig
from ...skeleton import H36M17

__all__ = ["ImageNetworkConfig", "ImageAugmentConfig", "ZhouImageTrainConfig", "stage_of",
           "stage_weights"]


@dataclass
class ImageNetworkConfig:
    """The stacked-hourglass network (:class:`~wildpose.models.hourglass.ZhouImageConfig`)
    and its heatmap targets."""

    image_size: int = 64                        # S, px (heatmaps S/4)
    stacks: int = 1
    width: int = 64
    hourglass_depth: int = 3
    depth_blocks: int = 2
    depth_pool: int = 2
    sigma: float = 1.0                          # heatmap Gaussian, cells

    SECTION: ClassVar[str] = "network"

    def __post_init__(self) -> None:
        require(self, sigma=(self.sigma > 0, "> 0 cells"),
                depth_blocks=(self.depth_blocks >= 0, ">= 0"),
                depth_pool=(self.depth_pool >= 1, ">= 1"))
        try:  # the network's own sizes (image_size, stacks, width, hourglass_depth, ...)
            self.net_config()
        except ValueError as e:
            raise ValueError(f"zhou-image network options: {e}") from None

    def net_config(self) -> ZhouImageConfig:
        """The :class:`~wildpose.models.hourglass.ZhouImageConfig` of these options."""
        return ZhouImageConfig(num_joints=H36M17.num_joints, stacks=self.stacks,
                               width=self.width, depth=self.hourglass_depth,
                               input_size=self.image_size, depth_blocks=self.depth_blocks,
                               depth_pool=self.depth_pool, root_joint=H36M17.root)


@dataclass
class ImageAugmentConfig:
    """Augmentation of the training crops: a mirror, a rotation and a scale."""

    flip_prob: float = 0.5
    rotate_deg: float = 20.0                    # uniform in +- this
    scale_jitter: float = 0.15                  # scale uniform in 1 +- this

    SECTION: ClassVar[str] = "augment"

    def __post_init__(self) -> None:
        require(self, flip_prob=(0 <= self.flip_prob <= 1, "in [0, 1]"),
                rotate_deg=(0 <= self.rotate_deg <= 180, "in [0, 180] degrees"),
                scale_jitter=(0 <= self.scale_jitter < 1, "in [0, 1)"))


@dataclass
class ZhouImageTrainConfig(RunConfig):
    """Everything one image-network training run depends on (saved as its ``config.json``).

    The ``network`` section becomes a :class:`~wildpose.models.hourglass.ZhouImageConfig`
    (:meth:`net_config`).  Sample counts pick evenly spaced poses of each split of
    :func:`.synthetic.build_splits`; ``val_samples`` lab poses are held out of training for
    the validation curve.  ``epochs`` is the sum of the three stages.
    ``lab_sources`` / ``wild_sources`` train on real photographs instead
    (:func:`prepare_image_data`, ``experiments/configs/zhou-image-real.example.json``).
    """

    # holds h36m/ and cmu-mocap/: $WILDPOSE_DATA if that is set, else ../shared/data
    data_root: str = field(default_factory=lambda: str(default_data_root()))
    out_dir: str = "runs/zhou-image"
    name: str = ""                              # recorded in the exported model
    network: ImageNetworkConfig = field(default_factory=ImageNetworkConfig)
    # data
    mocap_stride: int = 10                      # frames of the mocap read (50 fps -> 5 fps)
    include_cmu: bool = True                    # CMU BVH poses in the wild split
    lab_samples: int = 4000                     # 3D-labelled training renders (S1, S5, S6)
    val_samples: int = 200                      # held-out lab renders (validation curve)
    wild_samples: int = 4000                    # 2D-only renders (S7, S8, CMU)
    use_2d_only: bool = True                    # False: the "3D" rows (no 2D-only images)
    # Real photographs instead of the renders (wildpose.datasets.images.read_source dicts,
    # e.g. {"format": "h36m-frames", "frames_dir": ...} or {"format": "mpii", ...}).  Given,
    # they replace the lab (3D) / wild (2D-only) renders, every sample of them is used
    # (lab_samples / wild_samples apply to the renders only) and about val_samples lab
    # crops of whole held-out sequences validate; the crops are cached under renders/.
    lab_sources: tuple = ()
    wild_sources: tuple = ()
    # schedule (epochs are passes over the lab renders)
    stage1_epochs: int = 2                      # heatmaps only
    stage2_epochs: int = 2                      # + depth L2 on 3D samples
    stage3_epochs: int = 2                      # + L_geo on 2D-only samples
    batch_3d: int = 16
    batch_2d: int = 16
    lambda_reg: float = 0.1                     # the authors' weights
    lambda_geo: float = 0.01
    geo_on_3d: bool = False                     # also L_geo on 3D samples (row "3D/w geo")
    augment: ImageAugmentConfig = field(default_factory=ImageAugmentConfig)
    num_threads: int = 0                        # CPU threads per process; 0: torch's default

    METHOD: ClassVar[str] = "zhou-image"

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self,
                **at_least(self, 1, "mocap_stride", "lab_samples", "batch_3d", "batch_2d"),
                **at_least(self, 0, "val_samples", "wild_samples", "stage1_epochs",
                           "stage2_epochs", "stage3_epochs", "lambda_reg", "lambda_geo",
                           "num_threads"))
        if self.epochs < 1:
            raise ValueError("training options stage1_epochs + stage2_epochs + stage3_epochs "
                             "must be >= 1, got 0")

    @property
    def epochs(self) -> int:
        """Total epochs of the three stages (what :func:`run_training` runs)."""
        return self.stage1_epochs + self.stage2_epochs + self.stage3_epochs

    def net_config(self) -> ZhouImageConfig:
        """The :class:`~wildpose.models.hourglass.ZhouImageConfig` of this run."""
        return self.network.net_config()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ZhouImageTrainConfig":
        opts = checked_options(cls, d, cls.METHOD)
        for key in ("lab_sources", "wild_sources"):  # JSON lists -> tuples of dicts
            if key in opts:
                if not isinstance(opts[key], (list, tuple)):
                    raise ValueError(f"{key} must be a list of source objects, not "
                                     f"{type(opts[key]).__name__}")
                opts[key] = tuple(opts[key])
        return cls(**opts)


def stage_of(cfg: ZhouImageTrainConfig, epoch: int) -> int:
    """The stage (1, 2 or 3) of a 0-based epoch."""
    if epoch < cfg.stage1_epochs:
        return 1
    return 2 if epoch < cfg.stage1_epochs + cfg.stage2_epochs else 3


def stage_weights(cfg: ZhouImageTrainConfig, epoch: int) -> dict[str, float]:
    """Loss weights of an epoch: ``{"heatmap": 1, "reg": 0 or lambda_reg, "geo": 0 or
    lambda_geo}``.  Stage 1: heatmaps only; stage 2: + depth; stage 3: + geometry."""
    s = stage_of(cfg, epoch)
    return {"heatmap": 1.0, "reg": cfg.lambda_reg if s >= 2 else 0.0,
            "geo": cfg.lambda_geo if s == 3 else 0.0}
