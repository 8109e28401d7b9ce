"""Ronchi et al. 2018 ("It's all Relative", arXiv 1805.06880): a 2D-to-3D lifter trained from
relative depth labels -- for a few joint pairs per sample, which joint is closer -- with no 3D.

The network (:class:`~wildpose.models.ronchi_net.RonchiNet`) is the residual MLP of
:mod:`wildpose.models.lifter` (its layers are reused, not copied) with two changes that make it
trainable without 3D:

* its 3D output is in *normalized units*: the pose is root-centred and rescaled so that its 16
  bones sum to 16 (mean bone length 1).  A relative-only model has no metric scale, and this
  fixes the one it has.  It is built as a residual on the 2D input, ``(x, y, 0) + delta``,
  so no 3D statistics are needed to standardize outputs;
* it also predicts a positive scale ``s`` per pose: the scaled-orthographic camera
  ``x_2d = s * (X, Y)`` of the reprojection loss (2D in the units of
  :func:`wildpose.normalization.normalize_2d`).

Training (:func:`~wildpose.methods.ronchi.train.train_ronchi`, the body of ``wildpose train
--method ronchi``) combines the losses of :mod:`wildpose.losses` (Ronchi section)::

    w_rank * ranking(depths, relative labels)          samples with relative labels
  + w_3d * MPJPE(normalized 3D)                        samples with 3D (mixed / supervised)
  + w_reproj * reprojection(pose, s, 2D input)         every sample
  + w_limb * limb prior (bone ratios + symmetry)       every sample
  + w_scale * max(0, log(s / s_flat))                  every sample: the scale prior

The scale prior is needed because relative labels, reprojection and bone *ratios* leave one
degree of freedom per pose: how deep it is.  A larger camera scale ``s`` shrinks the pose's xy
(``xy = kp / s``) and leaves more of each bone's length to depth, and the ranking loss always
gains from deeper poses (wider margins), so without a prior training drifts to poses whose
bones all point along the optical axis.  ``s_flat`` (:func:`feasible_scale`) is the smallest
scale at which the limbs of a skeleton with the mean bone ratios fit the 2D -- the flattest
pose the 2D allows (Taylor's minimal-depth choice); the prior forbids deeper ones.  It uses
only the 2D and the limb prior's mean ratios.  (The root loss of :mod:`wildpose.losses` is
not used: this network pins the root at the origin.)

With ``supervision="relative"`` nothing of the training 3D is used but (a) the relative labels
generated from it (standing in for human annotations, or read from ``labels_file``) and (b) the
mean normalized bone lengths of the limb prior -- Human3.6M training means, as in the paper.
``fraction_3d`` > 0 gives the mixed setting (3D for that fraction of samples, relative labels
for the rest); ``supervision="3d"`` is the fully supervised reference of the same network.

Output in mm: the model's ``forward`` multiplies the normalized pose by ``mm_per_unit``, the
Human3.6M training mean of the total bone length divided by 16.  Every pose therefore comes
out with the mean skeleton's total bone length (a relative-only model's scale is arbitrary);
P2 and N-MPJPE, which fit the scale, do not depend on this choice.  Because ``forward`` takes
normalized 2D and returns mm like every wildpose lifter, :class:`wildpose.Lifter` (and so
:func:`wildpose.evaluate_h36m` and ``wildpose evaluate --model``) serves these models as they are.

This package: ``config`` (:class:`RonchiConfig`), ``data`` (labels, limb prior and the
training arrays), ``train`` (the scale prior, the loss and the run on
:func:`wildpose.engine.run_training`).
"""

from ...models.ronchi_net import RonchiNet, RonchiNetConfig, normalize_to_units
from .config import RonchiConfig
from .data import REPROJECTION_EXCLUDED, limb_statistics
from .train import feasible_scale, train_ronchi

__all__ = ["RonchiNetConfig", "RonchiNet", "RonchiConfig", "feasible_scale", "limb_statistics",
           "normalize_to_units", "train_ronchi", "REPROJECTION_EXCLUDED"]
