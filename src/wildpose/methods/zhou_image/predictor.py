"""A trained image network at work: batched prediction, millimetres, scoring on an image set,
and :class:`ZhouImagePredictor` for person crops of photos."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...datasets.image_set import ImageSet
from ...crop import crop_to_image, crop_window
from ...datasets.images import DEFAULT_CROP_MARGIN
from ...heatmaps import cells_to_pixels, decode_argmax
from ...metrics import bone_symmetry_error, mpjpe, p_mpjpe
from ...models.depth_lifter import DepthLifter
from ...models.hourglass import ZhouImageNet
from ...normalization import normalize_2d
from ...zoo import load_model

__all__ = ["pose_to_mm", "predict_batch", "evaluate_image_model", "ZhouImagePredictor",
           "trained_crop_margin"]


def _to_tensor(images: np.ndarray):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 in [0, 1]."""
    # Memory-mapped caches and decoded photos may be read-only; torch wants writable memory.
    images = np.require(images, requirements=["C", "W"])
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0


def pose_to_mm(pose_norm, total_bone_mm: float, total_bone_norm: float):
    """(B, J, 3) ``[normalized 2D, depth]`` -> mm, the depth lifter's way: each pose is
    scaled so that its total bone length is the canonical skeleton's ``total_bone_mm``
    (a degenerate pose takes the mean scale ``total_bone_mm / total_bone_norm``).

    This runs :meth:`wildpose.models.depth_lifter.DepthLifter.to_mm` itself, on the two
    totals, so both networks share one definition of millimetres.
    """
    totals = SimpleNamespace(total_bone_mm=torch.tensor([float(total_bone_mm)]),
                             total_bone_norm=torch.tensor([float(total_bone_norm)]))
    return DepthLifter.to_mm(totals, torch.as_tensor(pose_norm).float())


def predict_batch(model, images, batch: int = 64, device: Any = "cpu"):
    """Run the network on (N, S, S, 3) uint8 images (or (N, 3, S, S) floats in [0, 1]).

    Returns:
        ``(xy, score, depth)``: (N, J, 2) pixels (argmax with quarter-cell refinement of the
        last stack's heatmaps), (N, J) heatmap peak values and (N, J) normalized depth; numpy.
    """
    model.eval()
    c, outputs = model.config, []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            chunk = images[i:i + batch]
            t = _to_tensor(chunk) if isinstance(chunk, np.ndarray) else chunk.float()
            out = model(t.to(device))
            cells, score = decode_argmax(out.heatmaps[-1])
            outputs.append((cells_to_pixels(cells, c.input_size, c.heatmap_size).cpu(),
                            score.cpu(), out.depth.float().cpu()))
    return tuple(torch.cat(a).numpy() for a in zip(*outputs))


def evaluate_image_model(model, test: ImageSet, total_bone_mm: float,
                         total_bone_norm: float, batch: int = 64, device: Any = "cpu"
                         ) -> dict[str, Any]:
    """Score an image network on rendered test samples with 3D.

    * ``PCK@0.1`` (fraction): a predicted joint is correct within 0.1 x max(width, height)
      of the tight box of the ground-truth 2D joints (the person box), over all 17 joints
      (the visible ones where ``test.visible`` is given);
    * ``P1`` / ``P2`` (mm): MPJPE and Procrustes-aligned MPJPE of the root-relative pose,
      the prediction ``[normalize_2d(Y2D), Ydep]`` put in mm by :func:`pose_to_mm`
      (canonical total bone length), the ground truth in camera mm;
    * ``bone_symmetry`` (mm): mean |left - right| length per bone type
      (:func:`wildpose.metrics.bone_symmetry_error`) of the mm predictions.
    """
    xy, _, depth = predict_batch(model, test.images, batch, device)
    gt = test.joints_2d
    size = (gt.max(1) - gt.min(1)).max(-1)                                 # (N,)
    hit = np.linalg.norm(xy - gt, axis=-1) <= 0.1 * size[:, None]
    # Real crops: only joints visible in the image are scored (the renders: all of them).
    seen = np.ones(hit.shape, bool) if test.visible is None else np.asarray(test.visible)
    pck = float(hit[seen].mean()) if seen.any() else float("nan")
    norm, _, _ = normalize_2d(xy, np.ones(xy.shape[:2], bool))
    pose = pose_to_mm(np.concatenate([norm, depth[..., None]], -1), total_bone_mm,
                      total_bone_norm).numpy()
    sym = {k: float(v.mean()) for k, v in bone_symmetry_error(pose).items()}
    return {"PCK@0.1": pck, "P1": float(mpjpe(pose, test.pose_mm).mean()),
            "P2": float(p_mpjpe(pose, test.pose_mm).mean()), "bone_symmetry": sym,
            "num_samples": len(test)}


def trained_crop_margin(info: dict[str, Any]) -> float | None:
    """The crop margin a model's real training crops had, from its description.

    ``train_zhou_image`` records its whole config as ``info["train_config"]``: the margin of
    each lab / wild source dict (:data:`~wildpose.datasets.images.DEFAULT_CROP_MARGIN` where
    the dict gives none, as :func:`~wildpose.datasets.images.read_source` reads it).

    Returns:
        the margin (box side multiple), the median if the sources differ; None for a model
        trained on the synthetic renders only (they are whole images, not crops) or of
        unknown origin.
    """
    cfg = info.get("train_config") or {}
    sources = [*(cfg.get("lab_sources") or ()), *(cfg.get("wild_sources") or ())]
    margins = [float(s.get("margin", DEFAULT_CROP_MARGIN)) for s in sources
               if isinstance(s, dict)]
    return float(np.median(margins)) if margins else None


class ZhouImagePredictor:
    """A trained image network on photos: a person box in, 2D keypoints and a 3D pose out.

    Args:
        model: a loaded ``zhou_image`` model (``wildpose.zoo.load_model``) or a model name /
            file of one.
        box_scale: the square crop's side is this times the longer side of the person box.
            Default: the margin of the model's training crops (:func:`trained_crop_margin`),
            else :data:`~wildpose.datasets.images.DEFAULT_CROP_MARGIN` (also for models
            trained on the renders only, which frame the body in 55-95 % of the image).
    """

    def __init__(self, model: Any, device: str = "cpu", box_scale: float | None = None):
        if not isinstance(model, ZhouImageNet):
            model = load_model(model, device=device)
        if not isinstance(model, ZhouImageNet):
            raise ValueError(f"model {getattr(model, 'info', {}).get('name', '')!s} is not a "
                             f"zhou_image network")
        info = getattr(model, "info", {})
        if "canonical_bone_lengths_mm" not in info:
            raise ValueError("this zhou_image model has no canonical bone lengths in its "
                             "description: it was not trained by wildpose")
        if box_scale is None:
            box_scale = trained_crop_margin(info) or DEFAULT_CROP_MARGIN
        self.model, self.device, self.box_scale = model.eval(), device, float(box_scale)
        self.info = info
        self.total_mm = float(np.sum(info["canonical_bone_lengths_mm"]))
        self.total_norm = float(np.sum(info["canonical_bone_lengths_norm"]))
        self.min_valid_joints = 0  # the network always outputs every joint

    def crop(self, image: np.ndarray, box: tuple | None):
        """The square crop of a box, resized to the input size: the window of
        :func:`~wildpose.crop.crop_window` (margin :attr:`box_scale`), sampled
        bilinearly without antialiasing.

        Args:
            image: (H, W, 3) uint8; box: (x0, y0, x1, y1) pixels, or None for the whole
                image (its longer side, centred).
        Returns:
            ``(crop, origin, step)``: (1, 3, S, S) float in [0, 1]; crop pixel ``k`` has its
            centre at image pixel ``origin + step * (k + 0.5) - 0.5`` per axis.
        """
        h, w = image.shape[:2]
        s = self.model.config.input_size
        if box is None:                                   # the whole image, longer side
            origin, side = crop_window((-0.5, -0.5, w - 0.5, h - 0.5), 1.0)
        else:
            origin, side = crop_window(box, self.box_scale, min_side=1.0)
        step = side / s
        # Edge coordinate e of crop pixel centres, as grid_sample's [-1, 1] coordinates of
        # the whole image (align_corners=False: -1 and 1 are the outer pixel edges).
        ks = torch.arange(s, dtype=torch.float32) + 0.5
        gx = (origin[0] + step * ks) * 2 / w - 1
        gy = (origin[1] + step * ks) * 2 / h - 1
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1)[None]
        img = _to_tensor(image[None])
        out = F.grid_sample(img, grid.float(), mode="bilinear", padding_mode="zeros",
                            align_corners=False)
        return out, origin, step

    def predict(self, image: np.ndarray, box: tuple | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One person: ``(keypoints_2d (17, 2) image pixels, confidence (17,) in [0, 1]
        (heatmap peak, clipped), pose_3d (17, 3) mm root-relative camera axes)``."""
        crop, origin, step = self.crop(image, box)
        xy, score, depth = predict_batch(self.model, crop, 1, self.device)
        kp = crop_to_image(xy[0], origin, step)
        norm, _, _ = normalize_2d(xy, np.ones(xy.shape[:2], bool))
        pose = pose_to_mm(np.concatenate([norm, depth[..., None]], -1), self.total_mm,
                          self.total_norm).numpy()[0]
        return kp, np.clip(score[0], 0.0, 1.0), pose
