"""Model files: save/load round trips (torch and numpy) and one-line errors for bad files.

Small models (width 64) are written to tmp_path; nothing here needs the shipped weights.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.zoo import (
    available_models,
    load_model,
    load_numpy_model,
    model_path,
    read_model_info,
    save_model,
)


def small_model(seed: int = 0, blocks: int = 1, **config) -> ResidualMLPLifter:
    """A width-64 lifter with non-trivial BatchNorm and output statistics; ``config``: more
    LifterConfig options (e.g. window, window_step)."""
    torch.manual_seed(seed)
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=blocks, **config))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        model.out_mean.copy_(torch.randn(model.out_mean.numel(), generator=g) * 100)
        model.out_std.copy_(torch.rand(model.out_std.numel(), generator=g) * 50 + 10)
    return model.eval()


def inputs(b: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    kp = rng.normal(size=(b, 17, 2)).astype(np.float32)
    valid = rng.random((b, 17)) > 0.1
    kp[:, 0], valid[:, 0] = 0, True
    return kp * valid[..., None], valid


def torch_predict(model, kp, valid) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(kp), torch.from_numpy(valid)).numpy()


def assert_one_line_naming(exc: pytest.ExceptionInfo, path) -> None:
    msg = str(exc.value)
    assert "\n" not in msg, msg
    assert str(path) in msg, msg


def test_round_trip_torch_and_numpy(tmp_path):
    model = small_model(blocks=2)
    kp, valid = inputs()
    ref = torch_predict(model, kp, valid)
    path = save_model(tmp_path / "sub" / "m.safetensors", model, {"name": "tiny", "inputs": "gt"})
    assert path.is_file()

    info = read_model_info(path)
    assert info["name"] == "tiny" and info["architecture"] == "residual_mlp"
    assert info["config"] == {"num_joints": 17, "width": 64, "blocks": 2, "dropout": 0.25,
                              "window": 1, "window_step": 1}

    loaded = load_model(path)
    assert not loaded.training and loaded.info["name"] == "tiny"
    out_t = torch_predict(loaded, kp, valid)
    out_n = load_numpy_model(path)(kp, valid)
    span = np.abs(ref).max()
    # Matrices are stored in float16 (~3 significant digits): predictions move by far less
    # than 1% of their range.
    assert np.abs(out_t - ref).max() < 5e-3 * span
    # torch and numpy evaluate the same (fp16-rounded) weights: float32 agreement.
    np.testing.assert_allclose(out_n, out_t, rtol=1e-4, atol=1e-5 * span)
    assert out_n.shape == (16, 17, 3) and (out_n[:, 0] == 0).all()


def test_full_precision_round_trip_is_exact(tmp_path):
    model = small_model()
    kp, valid = inputs()
    path = save_model(tmp_path / "m.safetensors", model, {}, half=False)
    np.testing.assert_array_equal(torch_predict(load_model(path), kp, valid),
                                  torch_predict(model, kp, valid))


def test_checkpoint_round_trip_and_truncated_checkpoint(tmp_path):
    model = small_model()
    kp, valid = inputs()
    pt = tmp_path / "last.pt"
    torch.save({"model": model.state_dict(),
                "model_info": {"architecture": "residual_mlp", "config": model.config.to_dict()}},
               pt)
    np.testing.assert_array_equal(torch_predict(load_model(pt), kp, valid),
                                  torch_predict(model, kp, valid))
    data = pt.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as exc:
        load_model(bad)
    assert_one_line_naming(exc, bad)


def test_corrupt_safetensors_raises_one_line_value_error(tmp_path):
    bad = tmp_path / "random.safetensors"
    bad.write_bytes(np.random.default_rng(0).bytes(512))
    for fn in (read_model_info, load_model, load_numpy_model):
        with pytest.raises(ValueError) as exc:
            fn(bad)
        assert_one_line_naming(exc, bad)


def test_truncated_safetensors_raises(tmp_path):
    good = save_model(tmp_path / "m.safetensors", small_model(), {})
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(good.read_bytes()[:-100])
    for fn in (load_model, load_numpy_model):
        with pytest.raises(ValueError) as exc:
            fn(bad)
        assert_one_line_naming(exc, bad)


def test_safetensors_without_wildpose_metadata_raises(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in small_model().state_dict().items()}, str(path))
    for fn in (read_model_info, load_model, load_numpy_model):
        with pytest.raises(ValueError, match="wildpose") as exc:
            fn(path)
        assert_one_line_naming(exc, path)


@pytest.mark.parametrize("meta", [
    "{not json",
    "[1, 2]",
    json.dumps({"format": 1, "architecture": "residual_mlp"}),
    json.dumps({"format": 1, "architecture": "residual_mlp",
                "config": {"width": 64, "blocks": 1, "no_such_option": 3}}),
    json.dumps({"format": 1, "architecture": "residual_mlp",
                "config": {"width": 64, "blocks": 0}}),      # weights hold one block more
    json.dumps({"format": 1, "architecture": "residual_mlp",
                "config": {"width": 32, "blocks": 1}}),      # weights are 64 wide
    json.dumps({"format": 1, "architecture": "transformer", "config": {}}),
], ids=["bad-json", "not-a-dict", "no-config", "unknown-option", "blocks-mismatch",
        "width-mismatch", "unknown-architecture"])
def test_bad_wildpose_metadata_raises_one_line_value_error(tmp_path, meta):
    """A model whose description does not fit its weights must fail loudly on both backends,
    never load silently with part of the network ignored."""
    path = tmp_path / "odd.safetensors"
    state = {k: v.contiguous() for k, v in small_model(blocks=1).state_dict().items()}
    save_file(state, str(path), metadata={"wildpose": meta})
    for fn in (load_model, load_numpy_model):
        with pytest.raises(ValueError) as exc:
            fn(path)
        assert_one_line_naming(exc, path)


def test_unknown_model_name_lists_shipped_models():
    with pytest.raises(ValueError) as exc:
        model_path("no-such-model-xyz")
    msg = str(exc.value)
    assert "no-such-model-xyz" in msg and "\n" not in msg
    shipped = available_models()
    for name in shipped:
        assert name in msg
    if not shipped:
        assert "none" in msg
    with pytest.raises(ValueError):
        load_model("no-such-model-xyz")
    with pytest.raises(ValueError):
        load_numpy_model("no-such-model-xyz")


def test_missing_model_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_model(tmp_path / "absent.safetensors")


def test_numpy_backend_refuses_checkpoints(tmp_path):
    pt = tmp_path / "c.pt"
    pt.write_bytes(b"")
    with pytest.raises(ValueError, match="safetensors"):
        load_numpy_model(pt)


def test_shipped_models_load_and_describe_themselves():
    from wildpose.zoo import _architectures

    for name in available_models():
        info = read_model_info(name)
        assert info["architecture"] in _architectures(), name
        assert info.get("name") == name and os.path.isfile(model_path(name))


@pytest.mark.slow
def test_shipped_models_lift_a_standing_person_upright():
    """Every shipped model, fed the 2D of a person standing 4 m in front of a camera, answers
    an upright body with human bone lengths (independent facts, not the model's output)."""
    from wildpose.api import Lifter
    from wildpose.skeleton import H36M17

    # Standing, camera axes (x right, y down, z away), mm; H36M17 order.
    stand = np.array([[0, 0, 0], [-130, 0, 0], [-130, 440, 0], [-130, 880, 0],
                      [130, 0, 0], [130, 440, 0], [130, 880, 0], [0, -230, 0], [0, -480, 0],
                      [0, -580, -70], [0, -690, -10], [150, -450, 0], [170, -170, 0],
                      [180, 80, 0], [-150, -450, 0], [-170, -170, 0], [-180, 80, 0]], float)
    cam = stand + np.array([0.0, 0.0, 4000.0])
    px = 1100.0 * cam[:, :2] / cam[:, 2:] + 500.0
    j = H36M17.index
    for name in available_models():
        if read_model_info(name)["architecture"] == "zhou_image":
            with pytest.raises(ValueError, match="image network"):  # pixels in, not 2D
                Lifter(name)
            continue
        pose = Lifter(name, backend="auto").lift(px)
        assert pose.shape == (17, 3) and np.isfinite(pose).all(), name
        assert pose[j("Head"), 1] < pose[j("Thorax"), 1] < pose[j("Hip"), 1] \
            < pose[j("RKnee"), 1] < pose[j("RFoot"), 1], name
        thigh = np.linalg.norm(pose[j("RKnee")] - pose[j("RHip")])
        assert 300.0 < thigh < 600.0, (name, thigh)


def test_a_folder_given_as_a_model_or_a_file_as_data_says_what_it_is(tmp_path):
    from wildpose.datasets.h36m import load_cameras
    from wildpose.zoo import model_path

    with pytest.raises(ValueError, match="is a folder, not a model file"):
        model_path(tmp_path)
    data_file = tmp_path / "poses.npy"
    data_file.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="is a file, not a folder"):
        load_cameras(data_file)


def test_a_model_with_nan_weights_is_refused_by_name(tmp_path):
    """NaN weights would give NaN poses that look like bad input; the file is named instead."""
    model = small_model()
    with torch.no_grad():
        model.out.weight[0, 0] = float("nan")
    bad = save_model(tmp_path / "nan.safetensors", model, {})
    for fn in (load_model, load_numpy_model):
        with pytest.raises(ValueError, match="non-finite weights in out.weight") as exc:
            fn(bad)
        assert_one_line_naming(exc, bad)


def test_an_infinite_half_precision_weight_is_refused_too(tmp_path):
    """Matrices are stored as float16 (save_model's half=True): +-inf there is caught, and
    the largest finite half (65504) is not taken for one."""
    model = small_model()
    with torch.no_grad():
        model.out.weight[0, 0] = 65504.0
    ok = save_model(tmp_path / "big.safetensors", model, {})
    load_model(ok), load_numpy_model(ok)
    with torch.no_grad():
        model.out.weight[0, 0] = -float("inf")
    bad = save_model(tmp_path / "inf.safetensors", model, {})
    for fn in (load_model, load_numpy_model):
        with pytest.raises(ValueError, match="non-finite weights in out.weight"):
            fn(bad)
