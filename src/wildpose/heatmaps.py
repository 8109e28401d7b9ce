"""Joint heatmaps: Gaussian targets, decoding, coordinate conversions, loss and flips.

Coordinate convention (both for input-image pixels and for heatmap cells): a coordinate is
continuous and **integer values are the centres** of pixels (cells); pixel ``i`` covers
``[i - 0.5, i + 0.5)``.  A heatmap of size ``w`` over an image of width ``W`` has stride
``s = W / w``, and cell ``c`` covers exactly the pixels ``[s c - 0.5, s (c + 1) - 0.5)``, so

    pixel + 0.5 = s * (cell + 0.5)

(with ``s = 4``: the centre of cell 0 is pixel 1.5).  Horizontal mirroring maps ``x`` to
``W - 1 - x`` in pixels and ``c`` to ``w - 1 - c`` in cells, which are the same mirror, so
mirrored training images need no one-pixel shift.

Coordinates are ``(x, y)`` in the last dimension; heatmaps are ``(B, J, H, W)`` with rows
along y.  Everything is batched torch, device-agnostic and differentiable where a gradient
makes sense (rendering, soft-argmax, loss).
"""

from __future__ import annotations

from typing import Sequence

import torch

from .skeleton import H36M17, Skeleton

__all__ = ["pixels_to_cells", "cells_to_pixels", "render_gaussian_heatmaps",
           "decode_argmax", "soft_argmax", "heatmap_loss", "flip_images", "flip_joints",
           "flip_coords"]


# ------------------------------------------------------------------ coordinate conversion
def _stride(image_size: float, heatmap_size: float) -> float:
    if heatmap_size <= 0 or image_size <= 0:
        raise ValueError(f"sizes must be positive (image {image_size}, heatmap {heatmap_size})")
    return float(image_size) / float(heatmap_size)


def pixels_to_cells(xy: torch.Tensor, image_size: float, heatmap_size: float) -> torch.Tensor:
    """(..., 2) input-image pixels -> (..., 2) heatmap cells (integer = centre convention).

    ``image_size`` and ``heatmap_size`` are side lengths of square images/maps (e.g. 128 and
    32); pass the widths for non-square ones with equal stride along both axes.
    """
    s = _stride(image_size, heatmap_size)
    return (xy + 0.5) / s - 0.5


def cells_to_pixels(xy: torch.Tensor, image_size: float, heatmap_size: float) -> torch.Tensor:
    """(..., 2) heatmap cells -> (..., 2) input-image pixels; inverse of :func:`pixels_to_cells`."""
    s = _stride(image_size, heatmap_size)
    return (xy + 0.5) * s - 0.5


# ------------------------------------------------------------------------------ targets
def render_gaussian_heatmaps(coords: torch.Tensor, size: int | tuple[int, int],
                             valid: torch.Tensor | None = None, sigma: float = 1.0
                             ) -> torch.Tensor:
    """Unnormalized Gaussian target maps ``exp(-d^2 / (2 sigma^2))``, peak 1 at each joint.

    Args:
        coords: (B, J, 2) joint positions in heatmap cells (sub-cell positions are rendered
            exactly, not rounded); non-finite entries count as missing.
        size: heatmap side ``H = W`` or ``(H, W)`` in cells.
        valid: optional (B, J) bool; missing joints get all-zero maps.
        sigma: Gaussian standard deviation in cells (1 cell on a 64x64 map is the usual
            stacked-hourglass choice).
    Returns:
        (B, J, H, W) float tensor on ``coords``' device.
    """
    h, w = (size, size) if isinstance(size, int) else size
    coords = coords.float()
    ok = torch.isfinite(coords).all(-1)
    if valid is not None:
        ok = ok & valid.bool()
    c = torch.where(ok[..., None], coords, torch.zeros_like(coords))
    xs = torch.arange(w, device=coords.device, dtype=coords.dtype)
    ys = torch.arange(h, device=coords.device, dtype=coords.dtype)
    # Separable: exp(-(dx^2 + dy^2)/2s^2) = gx(x) * gy(y), so (B,J,H,W) is one outer product.
    gx = torch.exp(-(xs - c[..., :1]) ** 2 / (2 * sigma ** 2))              # (B, J, W)
    gy = torch.exp(-(ys - c[..., 1:]) ** 2 / (2 * sigma ** 2))              # (B, J, H)
    maps = gy[..., :, None] * gx[..., None, :]
    return maps * ok[..., None, None].to(maps.dtype)


# ----------------------------------------------------------------------------- decoding
def decode_argmax(heatmaps: torch.Tensor, refine: str | None = "quarter"
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Peak position of each map, with optional sub-cell refinement (not differentiable).

    Args:
        heatmaps: (B, J, H, W).
        refine: ``"quarter"`` moves the integer peak a quarter cell towards the higher
            neighbour along each axis (error at most ~0.25 cell; peaks on the border are not
            moved along that axis); None keeps the integer cell.
    Returns:
        ``(coords, score)``: (B, J, 2) cells ``(x, y)`` and (B, J) peak values.
    """
    if refine not in (None, "quarter"):
        raise ValueError(f"unknown refine {refine!r}: use None or 'quarter'")
    b, j, h, w = heatmaps.shape
    hm = heatmaps.detach().float()
    score, idx = hm.reshape(b, j, -1).max(-1)
    px, py = idx % w, idx // w
    coords = torch.stack([px, py], -1).float()
    if refine is None:
        return coords, score
    pad = torch.nn.functional.pad(hm, (1, 1, 1, 1), mode="replicate")  # neighbours at borders

    def at(dx: int, dy: int) -> torch.Tensor:
        flat = pad.reshape(b, j, -1)
        return flat.gather(-1, ((py + 1 + dy) * (w + 2) + px + 1 + dx)[..., None])[..., 0]

    offsets = []
    for (lo, hi), pos, n in (((at(-1, 0), at(1, 0)), px, w), ((at(0, -1), at(0, 1)), py, h)):
        d = 0.25 * torch.sign(hi - lo)
        offsets.append(torch.where((pos > 0) & (pos < n - 1), d, torch.zeros_like(d)))
    return coords + torch.stack(offsets, -1), score


def soft_argmax(heatmaps: torch.Tensor, beta: float | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable expected peak position of each map.

    Args:
        heatmaps: (B, J, H, W).
        beta: None weights cells by the map itself clipped at 0 (right for maps regressed
            onto Gaussians: a rendered Gaussian of sigma 1 decodes to its centre within
            1e-5 cell; the map's border cuts off a tail and pulls the estimate inwards,
            e.g. by 0.02 cell for sigma 2 at 3 sigma from the border); a number uses
            ``softmax(beta * map)`` instead (for maps trained as logits).
    Returns:
        ``(coords, score)``: (B, J, 2) cells ``(x, y)`` and (B, J) peak values.  An all-zero
        map (a missing joint) gives finite coordinates (the origin) rather than NaN.
    """
    b, j, h, w = heatmaps.shape
    flat = heatmaps.float().reshape(b, j, -1)
    if beta is None:
        wts = flat.clamp_min(0)
        wts = wts / wts.sum(-1, keepdim=True).clamp_min(1e-12)
    else:
        wts = torch.softmax(beta * flat, -1)
    wts = wts.view(b, j, h, w)
    xs = torch.arange(w, device=heatmaps.device, dtype=wts.dtype)
    ys = torch.arange(h, device=heatmaps.device, dtype=wts.dtype)
    x = (wts.sum(2) * xs).sum(-1)
    y = (wts.sum(3) * ys).sum(-1)
    return torch.stack([x, y], -1), flat.amax(-1)


# --------------------------------------------------------------------------------- loss
def heatmap_loss(pred: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor,
                 valid: torch.Tensor | None = None) -> torch.Tensor:
    """Masked heatmap L2: mean squared error per map, averaged over the valid joints.

    Args:
        pred: (B, J, H, W) heatmaps, or a sequence of them (one per hourglass stack:
            intermediate supervision), whose losses are summed.
        target: (B, J, H, W) Gaussian targets (:func:`render_gaussian_heatmaps`).
        valid: optional (B, J) bool; missing joints have zero weight, whatever their
            predicted or target maps hold.
    Returns:
        scalar (squared heatmap units); 0 (still attached to ``pred``) if no joint is valid.
    """
    preds = [pred] if isinstance(pred, torch.Tensor) else list(pred)
    b, j = target.shape[:2]
    v = (torch.ones(b, j, dtype=torch.bool, device=target.device) if valid is None
         else valid.bool())
    count = v.sum().clamp_min(1).float()
    total = preds[0].new_zeros((), dtype=torch.float32)
    t = target.float()
    for p in preds:
        # Missing joints' predictions are replaced by their targets before the difference
        # (rather than multiplied by 0), so a NaN there leaks into neither loss nor gradient.
        p = torch.where(v[..., None, None], p.float(), t)
        total = total + ((p - t) ** 2).mean((-2, -1)).sum() / count
    return total


# -------------------------------------------------------------------------------- flips
def _perm(skeleton: Skeleton | Sequence[int] | None, device: torch.device) -> torch.Tensor:
    perm = (skeleton or H36M17)
    perm = perm.flip_permutation() if isinstance(perm, Skeleton) else perm
    return torch.as_tensor(perm, dtype=torch.long, device=device)


def flip_images(images: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> the same images mirrored left-right."""
    return images.flip(-1)


def flip_joints(values: torch.Tensor, skeleton: Skeleton | Sequence[int] | None = None
                ) -> torch.Tensor:
    """(B, J, ...) per-joint values -> the same values with left and right joints swapped
    (``skeleton``: a layout, default H36M17, or a flip permutation)."""
    return values.index_select(1, _perm(skeleton, values.device))


def flip_coords(xy: torch.Tensor, width: float,
                skeleton: Skeleton | Sequence[int] | None = None) -> torch.Tensor:
    """(B, J, 2) joint positions -> those in the mirrored image: ``x -> width - 1 - x`` and
    left/right joints swapped.  ``width`` is in the unit of ``xy`` (pixels or cells)."""
    out = torch.stack([width - 1 - xy[..., 0], xy[..., 1]], -1)
    return flip_joints(out, skeleton)

