"""The ``wild`` lifter (issue 28): a single-frame lifter for any detector's keypoints.

Training samples are synthesized on every step from a pool of mocap poses (Human3.6M's
training subjects, CMU and Bandai BVH clips, a user's BVH folders) with random body
proportions, virtual cameras and a simulated detector (:mod:`.sampling`), and mixed with
2D-only in-the-wild poses (MPII, LSP, COCO files) held by Zhou et al.'s geometric loss and
a 2D consistency loss (:mod:`.train`).
"""

from .config import WildConfig
from .train import train_wild

__all__ = ["WildConfig", "train_wild"]
