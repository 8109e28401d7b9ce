"""Lifter ensembles: the output is the members' mean, one file round-trips through torch and
numpy, members reading different windows each get their own frames, members that cannot
share an input are refused, and the validation split is shared.

Small models (width 64) are written to tmp_path; nothing here needs the shipped weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from test_zoo import assert_one_line_naming, inputs, small_model, torch_predict

from wildpose.api import Lifter
from wildpose.cli import main
from wildpose.models.ensemble_input import member_frames, shared_input_config
from wildpose.models.lifter import LifterConfig
from wildpose.zoo import (
    load_model,
    load_numpy_model,
    read_model_info,
    save_ensemble,
    save_model,
    validation_split,
)


def _members(tmp_path, n: int = 2, **info):
    paths = []
    for i in range(n):
        model = small_model(seed=i + 1, blocks=i + 1)
        paths.append(save_model(tmp_path / f"m{i}.safetensors", model,
                                {"name": f"m{i}", "inputs": "sh", "train_minutes": 10.0 + i,
                                 **info}, half=False))
    return paths


def test_ensemble_is_the_mean_of_its_members_in_torch_and_numpy(tmp_path):
    paths = _members(tmp_path, 3)
    kp, valid = inputs()
    each = [torch_predict(load_model(p), kp, valid) for p in paths]
    out = save_ensemble(tmp_path / "ens.safetensors", paths, description="three tiny lifters")

    mean = (each[0] + each[1] + each[2]) / 3
    span = np.abs(mean).max()
    # Matrices are stored in float16 in the ensemble file (the members were full precision).
    np.testing.assert_allclose(torch_predict(load_model(out), kp, valid), mean,
                               atol=5e-3 * span)
    np.testing.assert_allclose(load_numpy_model(out)(kp, valid),
                               torch_predict(load_model(out), kp, valid), rtol=1e-4,
                               atol=1e-5 * span)


def test_ensemble_of_one_model_twice_is_that_model(tmp_path):
    (path,) = _members(tmp_path, 1)
    kp, valid = inputs(seed=3)
    out = save_ensemble(tmp_path / "twice.safetensors", [path, path])
    single = save_model(tmp_path / "single.safetensors", load_model(path), {})
    np.testing.assert_allclose(torch_predict(load_model(out), kp, valid),
                               torch_predict(load_model(single), kp, valid), rtol=1e-6,
                               atol=1e-4)


def test_ensemble_description(tmp_path):
    paths = _members(tmp_path, 2, train_subjects=[1, 5])
    out = save_ensemble(tmp_path / "e.safetensors", paths)
    info = read_model_info(out)
    assert info["architecture"] == "ensemble" and info["name"] == "e"
    assert info["train_minutes"] == 21.0          # 10 + 11: every member is trained
    assert info["inputs"] == "sh" and info["train_subjects"] == [1, 5]  # agreed by both
    assert [m["name"] for m in info["members"]] == ["m0", "m1"]
    assert info["config"] == {"num_joints": 17, "window": 1, "window_step": 1}


def test_lifter_lifts_through_an_ensemble_with_both_backends(tmp_path):
    out = save_ensemble(tmp_path / "e.safetensors", _members(tmp_path, 2))
    rng = np.random.default_rng(0)
    px = rng.uniform(200, 800, size=(5, 17, 2))
    a = Lifter(out, backend="torch").lift(px)
    b = Lifter(out, backend="auto").lift(px)
    assert Lifter(out, backend="auto").backend == "numpy"
    np.testing.assert_allclose(a, b, atol=1e-2)
    assert a.shape == (5, 17, 3) and (a[:, 0] == 0).all()


def _video_member(tmp_path, name: str, window: int, step: int, seed: int):
    """A tiny lifter reading ``window`` frames ``step`` apart, saved as ``name``."""
    model = small_model(seed=seed, window=window, window_step=step)
    return save_model(tmp_path / f"{name}.safetensors", model, {"name": name})


def test_member_frames_by_hand():
    steps_4_and_8 = [{"window": 17, "window_step": 4}, {"window": 17, "window_step": 8}]
    shared = shared_input_config(steps_4_and_8, ["a", "b"])
    assert (shared.window, shared.window_step) == (33, 4)   # 64 frames either side, 4 apart
    assert member_frames(steps_4_and_8[0], shared) == list(range(8, 25))
    assert member_frames(steps_4_and_8[1], shared) == list(range(0, 33, 2))
    mixed = [{"window": 5, "window_step": 2}, {"window": 3, "window_step": 3}, {"window": 1}]
    shared = shared_input_config(mixed, ["a", "b", "c"])
    assert (shared.window, shared.window_step) == (9, 1)    # steps 2 and 3: every frame
    assert member_frames(mixed[0], shared) == [0, 2, 4, 6, 8]
    assert member_frames(mixed[1], shared) == [1, 4, 7]
    assert member_frames(mixed[2], shared) == [4]
    same = shared_input_config([mixed[0], mixed[0]], ["a", "b"])
    assert (same.window, same.window_step) == (5, 2) and member_frames(mixed[0], same) is None


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_members_reading_different_windows_lift_as_each_does_alone(tmp_path, backend):
    paths = [_video_member(tmp_path, "w5s1", 5, 1, seed=1),
             _video_member(tmp_path, "w3s3", 3, 3, seed=2),
             _video_member(tmp_path, "single", 1, 1, seed=3)]
    ens = save_ensemble(tmp_path / "mixed.safetensors", paths)
    config = read_model_info(ens)["config"]
    assert (config["window"], config["window_step"]) == (7, 1)
    # Two clips of 9 and 6 frames with their rows shuffled: windows reach both clip ends.
    rng = np.random.default_rng(0)
    px = rng.uniform(200, 800, size=(15, 17, 2)).astype(np.float32)
    seq = np.r_[np.zeros(9), np.ones(6)].astype(int)
    frame = np.r_[np.arange(9), np.arange(6)]
    order = rng.permutation(15)
    px, seq, frame = px[order], seq[order], frame[order]
    alone = [Lifter(p, backend=backend).lift(px, sequence=seq, frame=frame) for p in paths]
    together = Lifter(ens, backend=backend)
    assert together.window == (7, 1)
    np.testing.assert_allclose(together.lift(px, sequence=seq, frame=frame), sum(alone) / 3,
                               rtol=1e-5, atol=1e-3)


def test_members_that_cannot_share_an_input_are_refused():
    with pytest.raises(ValueError, match="member b reads a different input: num_joints 16"):
        shared_input_config([{"num_joints": 17}, {"num_joints": 16}], ["a", "b"])


def test_only_residual_mlp_members(tmp_path):
    from wildpose.models.depth_lifter import DepthLifter

    depth = save_model(tmp_path / "d.safetensors", DepthLifter(LifterConfig(width=64, blocks=1)),
                       {"name": "depth"})
    with pytest.raises(ValueError, match="residual_mlp"):
        save_ensemble(tmp_path / "bad.safetensors", [depth, depth])


def _rewrite(path, out, meta_change=None, drop=None, add=None):
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = dict(f.metadata())
    tensors = load_file(str(path))
    info = json.loads(meta["wildpose"])
    if meta_change:
        meta_change(info)
    for k in drop or ():
        tensors.pop(k)
    tensors.update(add or {})
    save_file(tensors, str(out), metadata={"wildpose": json.dumps(info)})
    return out


@pytest.mark.parametrize("case", ["no members", "stray weights", "missing weights",
                                  "member window differs"])
def test_corrupt_ensemble_files_raise_one_line_errors(tmp_path, case):
    good = save_ensemble(tmp_path / "e.safetensors", _members(tmp_path, 2))
    bad = tmp_path / "bad.safetensors"
    if case == "no members":
        _rewrite(good, bad, meta_change=lambda i: i.pop("members"))
    elif case == "stray weights":
        _rewrite(good, bad, add={"members.2.out.bias": torch.zeros(48)})
    elif case == "missing weights":
        _rewrite(good, bad, drop=["members.1.out.weight"])
    else:
        _rewrite(good, bad, meta_change=lambda i: i["members"][1]["config"].update(window=3))
    for load in (load_model, load_numpy_model):
        with pytest.raises(ValueError) as exc:
            load(bad)
        assert_one_line_naming(exc, bad)


def test_validation_split_is_shared_or_refused(tmp_path):
    cfg = {"val_fraction": 0.04, "seed": 0, "subjects": [1, 5, 6, 7, 8]}
    assert validation_split({"train_config": cfg}) == (0.04, 0, ())
    assert validation_split({}) == (0.04, 0, ())                     # recorded defaults
    same = {"members": [{"train_config": cfg}, {"train_config": dict(cfg, stride=2)}]}
    assert validation_split(same) == (0.04, 0, ())
    # Members trained with other seeds hold out the same sequences when val_seed says so.
    reseeded = {"members": [{"train_config": cfg},
                            {"train_config": dict(cfg, seed=7, val_seed=0)}]}
    assert validation_split(reseeded) == (0.04, 0, ())
    assert validation_split({"train_config": dict(cfg, val_seed=None)}) == (0.04, 0, ())
    other = {"name": "e", "members": [{"train_config": cfg},
                                      {"train_config": dict(cfg, seed=1)}]}
    with pytest.raises(ValueError, match="different validation sequences"):
        validation_split(other)
    # A subject held out whole is part of the split, and members must agree on it too.
    held = dict(cfg, val_subjects=[8])
    assert validation_split({"train_config": held}) == (0.04, 0, (8,))
    assert validation_split({"train_config": held}).subjects == (8,)
    with pytest.raises(ValueError, match="different validation sequences"):
        validation_split({"members": [{"train_config": cfg}, {"train_config": held}]})


def test_cli_ensemble(tmp_path, capsys):
    paths = _members(tmp_path, 2)
    out = tmp_path / "cli.safetensors"
    assert main(["ensemble", *map(str, paths), "-o", str(out), "--name", "pair"]) == 0
    assert "21.0 min" in capsys.readouterr().out
    assert read_model_info(out)["name"] == "pair"
    missing = tmp_path / "nope.safetensors"
    assert main(["ensemble", str(paths[0]), str(missing), "-o", str(tmp_path / "x.safetensors")]
                ) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(missing) in err
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert main(["ensemble", *map(str, paths), "-o", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{folder}: is a folder" in err
    npy = tmp_path / "pair.npy"
    assert main(["ensemble", *map(str, paths), "-o", str(npy)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"{npy}: a model file" in err and "pair.safetensors" in err
    assert not npy.exists()


def test_ensemble_command_records_the_window_steps_lifter_reads_by_default(tmp_path):
    paths = [_video_member(tmp_path, "w3s1", 3, 1, seed=1),
             _video_member(tmp_path, "w3s2", 3, 2, seed=2)]
    out = tmp_path / "steps.safetensors"
    assert main(["ensemble", *map(str, paths), "-o", str(out), "--window-steps", "1", "2"]) == 0
    assert read_model_info(out)["test_window_steps"] == [1, 2]
    # Its default reading is the mean of the readings at steps 1 and 2.
    rng = np.random.default_rng(1)
    px = rng.uniform(200, 800, size=(8, 17, 2)).astype(np.float32)
    plain = tmp_path / "plain.safetensors"
    save_ensemble(plain, paths)
    one, two = (Lifter(plain, window_steps=[s]).lift(px) for s in (1, 2))
    np.testing.assert_allclose(Lifter(out).lift(px), (one + two) / 2, rtol=1e-5, atol=1e-3)
    single = _members(tmp_path, 2)
    with pytest.raises(ValueError, match="needs video lifters"):
        save_ensemble(tmp_path / "bad.safetensors", single, test_window_steps=[2])
    with pytest.raises(ValueError, match="whole numbers"):
        save_ensemble(tmp_path / "bad.safetensors", paths, test_window_steps=[0])
