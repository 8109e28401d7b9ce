"""Motion capture sources: BVH files (with forward kinematics and the CMU and Bandai Namco ->
Human3.6M-17 mappings), Human3.6M's 3D poses and plain arrays, and the wild lifter's
train / unseen-motion test split of the BVH clips."""

from .bvh import (BANDAI_APPROXIMATE_JOINTS, BANDAI_TO_H36M17, BANDAI_UNIT_MM, BVH,
                  BVH_SKELETONS, BVHError, BVHSkeleton, CMU_APPROXIMATE_JOINTS, CMU_TO_H36M17,
                  CMU_UNIT_MM, bvh_to_h36m17, detect_skeleton, parse_bvh, read_bvh)
from .sources import (MocapPoses, concatenate, load_array_mocap, load_bvh_mocap,
                      load_h36m_mocap, load_mocap, normalize_scale, remove_near_duplicates,
                      wild_mocap_split)

__all__ = ["BVH", "BVHError", "parse_bvh", "read_bvh", "bvh_to_h36m17", "CMU_TO_H36M17",
           "CMU_APPROXIMATE_JOINTS", "CMU_UNIT_MM", "BANDAI_TO_H36M17",
           "BANDAI_APPROXIMATE_JOINTS", "BANDAI_UNIT_MM", "BVHSkeleton", "BVH_SKELETONS",
           "detect_skeleton", "wild_mocap_split", "MocapPoses", "load_mocap", "load_h36m_mocap",
           "load_bvh_mocap", "load_array_mocap", "concatenate", "normalize_scale",
           "remove_near_duplicates"]
