"""Motion capture sources for the dual-source method: BVH files (with forward kinematics and
the CMU -> Human3.6M-17 mapping), Human3.6M's 3D poses and plain arrays."""

from .bvh import (BVH, BVHError, CMU_APPROXIMATE_JOINTS, CMU_TO_H36M17, CMU_UNIT_MM,
                  bvh_to_h36m17, parse_bvh, read_bvh)
from .sources import (MocapPoses, concatenate, load_array_mocap, load_bvh_mocap,
                      load_h36m_mocap, load_mocap, normalize_scale, remove_near_duplicates)

__all__ = [
    "BVH", "BVHError", "parse_bvh", "read_bvh", "bvh_to_h36m17", "CMU_TO_H36M17",
    "CMU_APPROXIMATE_JOINTS", "CMU_UNIT_MM",
    "MocapPoses", "load_mocap", "load_h36m_mocap", "load_bvh_mocap", "load_array_mocap",
    "concatenate", "normalize_scale", "remove_near_duplicates",
]
