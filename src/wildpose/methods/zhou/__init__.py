"""Zhou et al. 2017, "Towards 3D Human Pose Estimation in the Wild: a Weakly-supervised
Approach", brought to the keypoint lifter.

One network (:class:`~wildpose.models.depth_lifter.DepthLifter`) predicts per-joint depth in
the units of the normalized 2D input, so a pose is ``[2D, depth]`` (weak perspective).  It is
trained on batches that mix

* 3D-labelled samples ("lab"): an L2 loss on depth, ``lambda_reg * mean (d - d_gt)^2``;
* 2D-only samples ("wild"): Zhou et al.'s geometric loss ``lambda_geo * L_geo`` on
  ``[ground-truth 2D, predicted depth]`` (:func:`wildpose.losses.geo_loss`), optionally also
  on the 3D-labelled samples (``geo_on_3d``),

with the paper's staged schedule: ``stage1_epochs`` of depth regression only, then L_geo
switched on.  Joints dropped by augmentation keep their known 2D as a target for the
network's fill-in x, y (``lambda_fill``; see the depth lifter's docs), on both kinds of sample.

Depth targets: for each 3D sample the weak-perspective scale s (mm per normalized unit) is
fitted by least squares between the root-relative 3D X, Y (mm) and the normalized 2D, and the
target depth is ``(Z - Z_root) / s`` (:func:`wildpose.geometry.depth_targets`).

2D-only sources: Human3.6M subjects whose 3D is withheld (their projected ground-truth 2D, or
stacked-hourglass detections) and COCO-format keypoint files
(:func:`wildpose.datasets.keypoint_files.load_coco_2d`).

The paper's transfer experiment is ``experiments/zhou_transfer.py``; :class:`ZhouLifter`
lifts pixels to mm with a trained model (what ``evaluate_h36m`` needs).

Modules: ``config``, ``data`` (the samples of a run), ``train`` (losses, the run, the
lifter).
"""

from ...geometry import depth_targets, weak_perspective_scale
from .config import ZhouConfig
from .data import (SampleSet, ZhouData, lab_samples, prepare_zhou_data, wild_samples,
                   wild_samples_from_keypoints)
from .train import ZhouLifter, train_zhou, zhou_losses

__all__ = ["ZhouConfig", "SampleSet", "ZhouData", "weak_perspective_scale", "depth_targets",
           "lab_samples", "wild_samples", "wild_samples_from_keypoints", "prepare_zhou_data",
           "zhou_losses", "train_zhou", "ZhouLifter"]
