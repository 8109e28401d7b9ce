"""Zhou et al.'s image network: shapes, gradients, config checks and the zoo round trip.

Networks here are tiny (width 8-16) so the whole file runs in a few seconds on a CPU.
"""

from __future__ import annotations

import pytest
import torch

from wildpose.heatmaps import heatmap_loss, render_gaussian_heatmaps
from wildpose.models.hourglass import HourglassConfig, HourglassNet, ZhouImageConfig, ZhouImageNet
from wildpose.zoo import load_model, read_model_info, save_model


def tiny(**kw) -> ZhouImageConfig:
    base = dict(stacks=2, width=16, depth=2, input_size=32, depth_blocks=1, depth_pool=2)
    return ZhouImageConfig(**{**base, **kw})


@pytest.mark.parametrize("cfg", [
    tiny(),
    tiny(stacks=1, width=8, depth=1, input_size=16, depth_blocks=1, depth_pool=1),
    tiny(stacks=3, depth=3, input_size=64, num_joints=5, in_channels=1, root_joint=-1),
    tiny(stacks=1, depth=4, input_size=64, depth_blocks=2),
])
def test_output_shapes(cfg):
    torch.manual_seed(0)
    model = ZhouImageNet(cfg)
    b, s, hs = 2, cfg.input_size, cfg.input_size // 4
    out = model(torch.rand(b, cfg.in_channels, s, s))
    assert len(out.heatmaps) == len(out.features) == cfg.stacks
    for h, f in zip(out.heatmaps, out.features):
        assert h.shape == (b, cfg.num_joints, hs, hs)
        assert f.shape == (b, cfg.width, hs, hs)
    assert out.depth.shape == (b, cfg.num_joints)
    if cfg.root_joint >= 0:
        assert (out.depth[:, cfg.root_joint] == 0).all()


def test_hourglass_alone_and_input_check():
    cfg = HourglassConfig(stacks=2, width=8, depth=2, input_size=32)
    heatmaps, features = HourglassNet(cfg)(torch.rand(1, 3, 32, 32))
    assert heatmaps[-1].shape == (1, 17, 8, 8) and features[0].shape == (1, 8, 8, 8)
    with pytest.raises(ValueError, match="shape"):
        HourglassNet(cfg)(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="2\\^depth"):
        HourglassConfig(depth=4, input_size=32)   # 8x8 maps cannot be halved 4 times


def test_depth_loss_trains_depth_head_and_heatmap_loss_does_not():
    torch.manual_seed(0)
    model = ZhouImageNet(tiny())
    out = model(torch.rand(2, 3, 32, 32))
    ((out.depth - torch.randn(2, 17)) ** 2).mean().backward()
    head = [p.grad for p in model.depth_head.parameters()]
    assert all(g is not None for g in head) and sum(g.abs().sum() for g in head) > 0
    # Depth is fed by the image features, so its loss reaches the hourglass too.
    assert model.hourglass.stem[0].weight.grad.abs().sum() > 0

    model.zero_grad(set_to_none=True)
    out = model(torch.rand(2, 3, 32, 32))
    target = render_gaussian_heatmaps(torch.rand(2, 17, 2) * 7, 8)
    heatmap_loss(out.heatmaps, target).backward()
    assert all(p.grad is None for p in model.depth_head.parameters())
    assert model.hourglass.heads[0].weight.grad.abs().sum() > 0   # intermediate supervision


def _randomize_batchnorm(model: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.2)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)


def test_zoo_round_trip_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    cfg = tiny(root_joint=3)
    model = ZhouImageNet(cfg)
    _randomize_batchnorm(model)
    model.eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref = model(images)
    path = save_model(tmp_path / "img.safetensors", model, {"note": "test"}, half=False)
    assert read_model_info(path)["architecture"] == "zhou_image"
    loaded = load_model(path)
    assert isinstance(loaded, ZhouImageNet) and loaded.config == cfg
    with torch.no_grad():
        got = loaded(images)
    for a, b in zip(ref.heatmaps + ref.features + [ref.depth],
                    got.heatmaps + got.features + [got.depth]):
        assert torch.equal(a, b)
    # The default half-precision file changes outputs only slightly.
    half = load_model(save_model(tmp_path / "half.safetensors", model, {}))
    with torch.no_grad():
        got = half(images)
    assert torch.allclose(got.heatmaps[-1], ref.heatmaps[-1], atol=5e-2)
