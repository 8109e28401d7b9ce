"""Zhou et al. 2017's end-to-end image network: training, evaluation and inference.

The network is :class:`~wildpose.models.hourglass.ZhouImageNet` (stacked hourglass + depth
regression).  It is trained, as in the paper, on batches that mix

* 3D-labelled images ("lab" renders): heatmap L2 against Gaussians at the 2D labels, plus
  ``lambda_reg * mean (d - d_gt)^2`` on the per-joint depth;
* 2D-only images ("wild" renders): heatmap L2, plus ``lambda_geo * L_geo`` on
  ``[normalized ground-truth Y2D, predicted depth]`` (:func:`wildpose.losses.geo_loss`, the
  one geometric loss wildpose has),

in three stages (:func:`stage_of`, :func:`stage_weights`): stage 1 trains the heatmaps only
(the depth terms have weight 0), stage 2 adds the depth loss on 3D samples, stage 3 adds
L_geo on the 2D-only samples.  The authors' weights (0.1, 0.01) are the defaults.

Units: depth is root-relative, in the normalized units of the pose's 2D
(:func:`wildpose.normalization.normalize_2d`: root-centred, unit RMS distance), exactly as for
the keypoint depth lifter (:func:`wildpose.geometry.depth_targets` makes the targets).
Millimetres come from the depth lifter's convention: the pose ``[normalize_2d(Y2D), Ydep]``
is scaled so that its total bone length equals the canonical (mean lab) skeleton's total in mm
(:func:`pose_to_mm`, which runs ``DepthLifter.to_mm``).

Augmentation (:func:`augment_crops`): horizontal flips that swap left and right joints,
in-plane rotation and scale jitter about the image centre; depth targets are invariant to
rotation and scale and are only permuted by a flip.

Training runs on :func:`wildpose.engine.run_training` (run folder, ``last.pt`` resume,
``log.jsonl``, ``model.safetensors``) and is distributed-aware: under ``torchrun`` each rank
trains on its shard of every epoch (:func:`wildpose.distributed.shard_indices`) with
DistributedDataParallel, and only rank 0 writes files.

The paper's ablation on the synthetic renders is ``experiments/zhou_image_ablation.py``;
:class:`ZhouImagePredictor` runs a trained model on a
person crop (``wildpose predict --model <zhou_image model>``).

Modules: ``config`` (options and stages), ``data`` (the images of a run), ``synthetic``
with ``synthetic_scene`` and ``synthetic_render`` (mocap bodies rendered as shaded limb
volumes: the images this CPU can train on), ``train`` (augmentation, losses, the run),
``predictor`` (inference and scoring).
"""

from ...datasets.image_set import ImageSet
from .config import (ImageAugmentConfig, ImageNetworkConfig, ZhouImageTrainConfig, stage_of,
                     stage_weights)
from .data import ImageData, group_holdout, prepare_image_data, render_image_set
from .predictor import (ZhouImagePredictor, evaluate_image_model, pose_to_mm, predict_batch,
                        trained_crop_margin)
from .train import augment_crops, train_zhou_image, zhou_image_losses

__all__ = ["ZhouImageTrainConfig", "ImageNetworkConfig", "ImageAugmentConfig", "ImageSet",
           "ImageData", "stage_of", "stage_weights", "augment_crops", "zhou_image_losses",
           "prepare_image_data", "group_holdout", "render_image_set", "train_zhou_image",
           "pose_to_mm", "predict_batch", "evaluate_image_model", "ZhouImagePredictor",
           "trained_crop_margin"]
