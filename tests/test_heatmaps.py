"""Heatmap utilities: rendering and decoding agree, conversions invert, loss masks, flips mirror.

Facts are checked against values computed independently here (closed-form Gaussians,
hand-mirrored coordinates, the H36M17 joint names), not against the functions themselves.
"""

from __future__ import annotations

import math

import pytest
import torch

from wildpose.heatmaps import (
    cells_to_pixels,
    decode_argmax,
    flip_coords,
    flip_images,
    flip_joints,
    heatmap_loss,
    pixels_to_cells,
    render_gaussian_heatmaps,
    soft_argmax,
)
from wildpose.skeleton import H36M17

# Sub-cell positions on a 32x32 map, away from the border and off the half-cell symmetry points.
POINTS = torch.tensor([[[10.3, 12.7], [15.0, 15.0], [20.45, 8.2], [7.8, 22.55]]])


def test_render_peak_value_and_shape():
    hm = render_gaussian_heatmaps(torch.tensor([[[4.0, 6.0]]]), (16, 20), sigma=1.5)
    assert hm.shape == (1, 1, 16, 20)
    assert hm[0, 0, 6, 4].item() == pytest.approx(1.0)                 # row y, column x
    # exp(-(dx^2 + dy^2) / (2 sigma^2)) at (x, y) = (5, 8): dx = 1, dy = 2
    assert hm[0, 0, 8, 5].item() == pytest.approx(math.exp(-5 / (2 * 1.5 ** 2)), rel=1e-5)


@pytest.mark.parametrize("sigma", [1.0, 2.0])
def test_soft_argmax_recovers_subpixel_location(sigma):
    hm = render_gaussian_heatmaps(POINTS, 32, sigma=sigma)
    xy, score = soft_argmax(hm)
    assert (xy - POINTS).abs().max().item() < 0.05
    assert score.min().item() > 0.6


def test_argmax_refined_recovers_subpixel_location():
    hm = render_gaussian_heatmaps(POINTS, 32, sigma=1.0)
    xy, _ = decode_argmax(hm)
    assert (xy - POINTS).abs().max().item() < 0.3
    plain, _ = decode_argmax(hm, refine=None)
    assert torch.equal(plain, POINTS.round())


def test_soft_argmax_is_differentiable():
    logits = torch.randn(2, 3, 8, 8, requires_grad=True)
    soft_argmax(logits.exp())[0].sum().backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0


def test_pixel_cell_conversion():
    px = torch.tensor([[0.0, 127.0], [1.5, 63.25], [-0.5, 127.5]])
    cells = pixels_to_cells(px, 128, 32)
    assert torch.allclose(cells_to_pixels(cells, 128, 32), px, atol=1e-6)
    # Integer = centre: cell 0 spans pixels [-0.5, 3.5), centred on pixel 1.5; the image
    # edges -0.5 and 127.5 are the map edges -0.5 and 31.5.
    assert pixels_to_cells(torch.tensor([1.5, -0.5, 127.5]), 128, 32).tolist() == [
        0.0, -0.5, 31.5]


def test_loss_zero_for_perfect_maps_and_ignores_missing_joints():
    target = render_gaussian_heatmaps(POINTS, 32)
    valid = torch.tensor([[True, True, False, True]])
    assert heatmap_loss(target, target, valid).item() == 0.0
    bad = target.clone()
    bad[0, 2] = torch.randn(32, 32) * 5            # only the missing joint is wrong
    assert heatmap_loss(bad, target).item() > 0    # counted when nobody masks it
    bad[0, 2, 0, 0] = float("nan")                 # even a NaN there must not leak in
    bad.requires_grad_(True)
    loss = heatmap_loss(bad, target, valid)
    loss.backward()
    assert loss.item() == 0.0
    assert torch.isfinite(bad.grad).all() and bad.grad[0, 2].abs().max() == 0
    # One valid joint off by 1 everywhere: per-map MSE 1, averaged over 3 valid joints.
    off = target.clone()
    off[0, 0] += 1.0
    assert heatmap_loss(off, target, valid).item() == pytest.approx(1 / 3)
    assert heatmap_loss([off, target], target, valid).item() == pytest.approx(1 / 3)


def test_missing_joints_render_zero_maps():
    pts = POINTS.clone()
    pts[0, 1] = float("nan")
    hm = render_gaussian_heatmaps(pts, 32, valid=torch.tensor([[True, True, True, False]]))
    assert hm[0, 1].abs().max() == 0 and hm[0, 3].abs().max() == 0
    assert hm[0, 0].max() > 0.5
    xy, _ = soft_argmax(hm)
    assert torch.isfinite(xy).all()


def test_flip_twice_is_identity():
    hm = torch.randn(2, 17, 8, 12)
    assert torch.equal(flip_joints(flip_joints(hm)), hm)
    img = torch.randn(2, 3, 16, 16)
    assert torch.equal(flip_images(flip_images(img)), img)


def test_flip_moves_left_peak_to_right_channel_at_mirrored_x():
    w = 32
    pts = torch.full((1, 17, 2), 16.0)
    lw, rw = H36M17.index("LWrist"), H36M17.index("RWrist")
    pts[0, lw] = torch.tensor([5.0, 9.0])
    flipped = flip_joints(flip_images(render_gaussian_heatmaps(pts, w)))
    xy, _ = decode_argmax(flipped, refine=None)
    assert xy[0, rw].tolist() == [w - 1 - 5.0, 9.0]
    # Same answer from mirroring the coordinates and rendering them.
    expected = render_gaussian_heatmaps(flip_coords(pts, w), w)
    assert torch.allclose(flipped, expected, atol=1e-6)

