"""The residual MLP lifter: output contract, BatchNorm folding, output de-standardization.

The numpy forward pass (BatchNorm folded into the Linear layers) and the torch module are two
independent implementations of the same function; agreeing on a model whose BatchNorm layers
all have non-trivial statistics checks the folding algebra.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.models.lifter_numpy import fold_batchnorm, numpy_forward


def randomized_lifter(width: int = 64, blocks: int = 2, seed: int = 0) -> ResidualMLPLifter:
    """A lifter with random weights, BatchNorm affine parameters, running statistics and
    output statistics, in eval mode."""
    torch.manual_seed(seed)
    model = ResidualMLPLifter(LifterConfig(width=width, blocks=blocks, dropout=0.3))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
                m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
                m.weight.copy_(torch.rand(n, generator=g) + 0.5)
                m.bias.copy_(torch.randn(n, generator=g) * 0.2)
        n_out = model.out_mean.numel()
        model.out_mean.copy_(torch.randn(n_out, generator=g) * 200)
        model.out_std.copy_(torch.rand(n_out, generator=g) * 100 + 20)
    return model.eval()


def random_inputs(b: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    kp = rng.normal(size=(b, 17, 2)).astype(np.float32)
    valid = rng.random((b, 17)) > 0.15
    kp[:, 0] = 0
    valid[:, 0] = True
    kp *= valid[..., None]
    return kp, valid


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_output_shape_and_root_exactly_zero(mode):
    model = randomized_lifter()
    model.train(mode == "train")
    kp, valid = random_inputs(5)
    out = model(torch.from_numpy(kp), torch.from_numpy(valid))
    assert out.shape == (5, 17, 3)
    assert out.dtype == torch.float32
    assert torch.equal(out[:, 0], torch.zeros(5, 3))
    assert torch.isfinite(out).all()
    assert out[:, 1:].abs().sum() > 0


def test_numpy_forward_of_folded_batchnorm_matches_torch_eval():
    model = randomized_lifter(width=64, blocks=2)
    kp, valid = random_inputs(32, seed=5)
    with torch.no_grad():
        ref = model(torch.from_numpy(kp), torch.from_numpy(valid)).numpy()
    state = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    layers = fold_batchnorm(state, blocks=2)
    assert len(layers) == 1 + 2 * 2 + 1
    out = numpy_forward(layers, kp, valid)
    assert out.shape == (32, 17, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], 0.0)
    # Outputs are hundreds of mm: agree to float32 accuracy.
    scale = np.abs(ref).max()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5 * scale)
    # And the check has teeth: without the running statistics the answers differ.
    bad = dict(state)
    bad["inp.1.running_mean"] = np.zeros_like(state["inp.1.running_mean"])
    assert np.abs(numpy_forward(fold_batchnorm(bad, 2), kp, valid) - ref).max() > 1.0


def test_fold_accepts_float16_state():
    model = randomized_lifter(blocks=1)
    kp, valid = random_inputs(4)
    state16 = {k: (v.half() if v.is_floating_point() else v).numpy()
               for k, v in model.state_dict().items()}
    layers = fold_batchnorm(state16, blocks=1)
    assert all(w.dtype == np.float32 and b.dtype == np.float32 for w, b in layers)
    with torch.no_grad():
        ref = model(torch.from_numpy(kp), torch.from_numpy(valid)).numpy()
    # fp16 weights: within a few tenths of a percent of the output range.
    assert np.abs(numpy_forward(layers, kp, valid) - ref).max() < 5e-3 * np.abs(ref).max()


def test_set_output_stats_destandardizes_outputs():
    rng = np.random.default_rng(3)
    n = 50
    poses = rng.normal(size=(n, 17, 3)) * rng.uniform(10, 300, size=(1, 17, 3)) \
        + rng.uniform(-500, 500, size=(1, 17, 3))
    poses[:, 0] = 0
    poses[:, 5, 2] = 123.0  # a constant coordinate: its std is clamped, not zero
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=1)).eval()
    model.set_output_stats(torch.from_numpy(poses))
    mean = poses[:, 1:].reshape(n, -1).mean(0)
    std = poses[:, 1:].reshape(n, -1).std(0, ddof=1)
    std[(5 - 1) * 3 + 2] = 1e-3
    np.testing.assert_allclose(model.out_mean.numpy(), mean, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(model.out_std.numpy(), std, rtol=1e-5)

    kp, valid = random_inputs(7)
    with torch.no_grad():
        model.out.weight.zero_()
        model.out.bias.zero_()
        out0 = model(torch.from_numpy(kp), torch.from_numpy(valid)).numpy()
        model.out.bias.fill_(1.0)  # one standard deviation above the mean everywhere
        out1 = model(torch.from_numpy(kp), torch.from_numpy(valid)).numpy()
    # A zero output layer predicts the training mean pose for every input ...
    np.testing.assert_allclose(out0[:, 1:], np.broadcast_to(poses[:, 1:].mean(0), (7, 16, 3)),
                               rtol=1e-5, atol=1e-3)
    # ... and a unit bias the mean plus one standard deviation.
    expect = poses[:, 1:].mean(0) + poses[:, 1:].std(0, ddof=1)
    expect[4, 2] = 123.0 + 1e-3
    np.testing.assert_allclose(out1[:, 1:], np.broadcast_to(expect, (7, 16, 3)), rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_array_equal(out0[:, 0], 0.0)
    # The numpy path folds the same de-standardization in.
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    np.testing.assert_allclose(numpy_forward(fold_batchnorm(state, 1), kp, valid), out1,
                               rtol=1e-5, atol=1e-3)


def test_validity_flags_are_an_input():
    model = randomized_lifter()
    kp, valid = random_inputs(3)
    v2 = valid.copy()
    v2[:, 7] = ~v2[:, 7]
    with torch.no_grad():
        a = model(torch.from_numpy(kp), torch.from_numpy(valid))
        b = model(torch.from_numpy(kp), torch.from_numpy(v2))
    assert not torch.allclose(a, b)


def test_cheap_dropout_drops_p_and_keeps_the_mean():
    from wildpose.models.lifter import Dropout

    torch.manual_seed(0)
    layer = Dropout(0.1).train()
    x = torch.ones(1000, 1001)                        # an element count not a multiple of 3
    y = layer(x)
    dropped = (y == 0).float()
    assert abs(dropped.mean().item() - 0.1) < 0.002   # 1e6 draws: sd 0.0003
    assert abs(y.mean().item() - 1.0) < 0.005
    np.testing.assert_allclose(y[y != 0].numpy(), 1 / (1 - 6554 / 65536), rtol=1e-6)
    # neighbours are independent (each 64-bit word feeds three of them)
    d = dropped.view(-1).numpy()
    assert abs(np.corrcoef(d[:-1], d[1:])[0, 1]) < 0.01
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    assert torch.equal(a, layer(x))                   # the global generator: reproducible
    assert torch.equal(layer.eval()(x), x)
    with pytest.raises(ValueError, match="dropout"):
        Dropout(1.0)
