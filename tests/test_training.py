"""Training on a tiny slice of Human3.6M (skipped without the data).

A tiny config (subjects 1 and 5 at one frame in 8 s, a 64-wide network with one block, two
epochs of batch 64) trains in about a second, which is enough to check the run folder,
reproducibility and exact resumption.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from wildpose.datasets.h36m import load_h36m
from wildpose.settings import flatten_options
from wildpose.training import TrainConfig, train
from wildpose.zoo import load_model, read_model_info

# Tests needing the data take the h36m_dir fixture (directly or via baseline) and skip without it.

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_config(h36m_dir: Path, out_dir: Path, **overrides) -> TrainConfig:
    opts = dict(data_dir=str(h36m_dir), out_dir=str(out_dir), stride=400, width=64, blocks=1,
                epochs=2, batch_size=64, subjects=(1, 5), device="cpu", seed=0,
                noise_max=0.05, drop_prob=0.05, name="tiny")
    opts.update(overrides)
    return TrainConfig.from_dict(opts)


def checkpoint_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)["model"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def baseline(h36m_dir, tmp_path_factory) -> tuple[TrainConfig, Path]:
    """One uninterrupted tiny run, shared by the tests below."""
    out = tmp_path_factory.mktemp("run_a")
    cfg = tiny_config(h36m_dir, out)
    path = train(cfg, progress=False)
    return cfg, path


@pytest.mark.slow
def test_trains_to_a_model_file_and_log(baseline):
    cfg, path = baseline
    run = Path(cfg.out_dir)
    assert path == run / "model.safetensors" and path.is_file()
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]
    for e in log:
        assert np.isfinite(e["train_mpjpe_mm"]) and np.isfinite(e["val_mpjpe_mm"])
        # A lifter after a few dozen steps is far from perfect but not absurd (mm).
        assert 10 < e["val_mpjpe_mm"] < 2000
    assert json.loads((run / "config.json").read_text())["network"]["width"] == 64
    info = read_model_info(path)
    assert info["name"] == "tiny" and info["train_subjects"] == [1, 5]
    assert info["config"]["width"] == 64 and info["config"]["blocks"] == 1
    assert [e["epoch"] for e in info["validation_curve"]] == [1, 2]
    model = load_model(path)
    out = model(torch.zeros(2, 17, 2), torch.ones(2, 17, dtype=torch.bool))
    assert out.shape == (2, 17, 3)
    # The exported model holds the trained weights (fp16-rounded matrices).
    ck = checkpoint_weights(run)
    st = load_file(str(path))
    np.testing.assert_allclose(st["out.weight"].astype(np.float32), ck["out.weight"].numpy(),
                               rtol=2e-3, atol=1e-4)
    np.testing.assert_array_equal(st["out_mean"], ck["out_mean"].numpy())


def test_output_statistics_come_from_training_poses(baseline, h36m_dir):
    """out_mean is the mean root-relative training pose: a standing person's feet are ~0.8-1 m
    below the pelvis (camera y points down) and the head ~0.5-0.7 m above it."""
    cfg, _ = baseline
    mean = checkpoint_weights(Path(cfg.out_dir))["out_mean"].numpy().reshape(16, 3)
    y = dict(zip(("RFoot", "LFoot", "Head"), (mean[2, 1], mean[5, 1], mean[9, 1])))
    assert 600 < y["RFoot"] < 1000 and 600 < y["LFoot"] < 1000, y
    assert -800 < y["Head"] < -400, y


@pytest.mark.slow
def test_same_seed_gives_identical_weights(baseline, h36m_dir, tmp_path):
    cfg, _ = baseline
    again = tiny_config(h36m_dir, tmp_path / "run_b")
    train(again, progress=False)
    assert_same_weights(checkpoint_weights(Path(cfg.out_dir)),
                        checkpoint_weights(tmp_path / "run_b"))
    a = load_file(str(Path(cfg.out_dir) / "model.safetensors"))
    b = load_file(str(tmp_path / "run_b" / "model.safetensors"))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    # The comparison has teeth: another seed trains other weights.
    train(tiny_config(h36m_dir, tmp_path / "run_seed1", seed=1), progress=False)
    other = checkpoint_weights(tmp_path / "run_seed1")
    assert not torch.equal(other["out.weight"], checkpoint_weights(Path(cfg.out_dir))["out.weight"])


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_weights(baseline, h36m_dir, tmp_path):
    cfg, _ = baseline
    run = tmp_path / "run_c"
    c = tiny_config(h36m_dir, run)
    assert train(c, progress=False, max_steps=3) is None
    assert (run / "last.pt").is_file() and not (run / "model.safetensors").exists()
    ck = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert (ck["epoch"], ck["step"]) == (0, 3)
    # Stop again in the second epoch (an epoch is ~24 steps), then finish.
    assert train(c, progress=False, max_steps=30) is None
    ck = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    assert ck["epoch"] == 1 and ck["step"] > 0
    path = train(c, progress=False)
    assert path == run / "model.safetensors" and path.is_file()
    assert_same_weights(checkpoint_weights(Path(cfg.out_dir)), checkpoint_weights(run))
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in log] == [1, 2]


@pytest.mark.slow
def test_different_config_refuses_to_resume(h36m_dir, tmp_path):
    run = tmp_path / "run_d"
    assert train(tiny_config(h36m_dir, run), progress=False, max_steps=1) is None
    with pytest.raises(ValueError) as exc:
        train(tiny_config(h36m_dir, run, lr=5e-4, width=32), progress=False)
    msg = str(exc.value)
    assert str(run) in msg and "optim.lr" in msg and "network.width" in msg and "\n" not in msg
    # Nothing was overwritten: the saved config is still the original one.
    assert json.loads((run / "config.json").read_text())["network"]["width"] == 64
    # Starting afresh is allowed.
    assert train(tiny_config(h36m_dir, run, width=32), resume=False, progress=False,
                 max_steps=1) is None
    assert json.loads((run / "config.json").read_text())["network"]["width"] == 32


@pytest.mark.slow
def test_a_run_from_before_a_new_option_resumes_as_its_default(h36m_dir, tmp_path):
    """A run folder written before an option existed (its config.json lacks the field)
    trained as the option's default does, so it resumes; set otherwise, it refuses.  Its
    config.json may also be flat, as runs from before the config sections are."""
    run = tmp_path / "run_old"
    assert train(tiny_config(h36m_dir, run), progress=False, max_steps=1) is None
    saved = flatten_options(json.loads((run / "config.json").read_text()))
    assert saved["width"] == 64 and "network" not in saved
    del saved["val_subjects"], saved["speed_steps"]
    (run / "config.json").write_text(json.dumps(saved))
    assert train(tiny_config(h36m_dir, run), progress=False, max_steps=1) is None
    assert torch.load(run / "last.pt", map_location="cpu", weights_only=True)["step"] == 2
    (run / "config.json").write_text(json.dumps(saved))
    with pytest.raises(ValueError, match="differs in epochs"):   # the check still bites
        train(tiny_config(h36m_dir, run, epochs=3), progress=False)
    with pytest.raises(ValueError, match="differs in val_subjects"):
        train(tiny_config(h36m_dir, run, val_subjects=(5,)), progress=False)


def test_config_from_dict_rejects_unknown_options(tmp_path):
    with pytest.raises(ValueError, match="no_such_option"):
        TrainConfig.from_dict({"no_such_option": 1})
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"width": 64, "subjects": [1, 5]}))
    cfg = TrainConfig.from_file(p)
    assert cfg.network.width == 64 and cfg.subjects == (1, 5)
    p.write_text("{broken")
    with pytest.raises(ValueError, match="c.json"):
        TrainConfig.from_file(p)


@pytest.mark.slow
def test_video_lifter_trains_resumes_and_is_scored_on_sequences(h36m_dir, tmp_path):
    from wildpose.evaluation import evaluate_h36m

    cfg = tiny_config(h36m_dir, tmp_path / "a", window=3, window_step=800, epochs=1)
    path = train(cfg, progress=False)
    assert read_model_info(path)["config"]["window"] == 3
    # window_step counts 50 fps frames: at stride 400 the window takes every 2nd row.
    # Interrupted after 2 steps, then resumed: the same weights as the uninterrupted run.
    cfg_b = tiny_config(h36m_dir, tmp_path / "b", window=3, window_step=800, epochs=1)
    assert train(cfg_b, progress=False, max_steps=2) is None
    train(cfg_b, progress=False)
    assert_same_weights(checkpoint_weights(tmp_path / "a"), checkpoint_weights(tmp_path / "b"))
    # Scored on every 400th frame, reading each take at every frame (one take keeps it short).
    take = load_h36m(h36m_dir, subjects=(9,), actions=("Eating",), cameras=(1,), stride=1,
                     load_sh=False)
    res = evaluate_h36m(str(path), inputs="gt", stride=400, device="cpu", data=take)
    assert res["num_samples"] == (take.frame % 400 == 0).sum() > 0
    assert 10 < res["P1"] < 2000


def test_bone_scale_needs_inputs_made_from_ground_truth(tmp_path):
    with pytest.raises(ValueError, match="error_transplant"):
        train(TrainConfig.from_dict(dict(out_dir=str(tmp_path), data_dir=str(tmp_path),
                                         inputs="sh", bone_scale=0.1)), progress=False)
    with pytest.raises(ValueError, match="bone_scale"):
        train(TrainConfig.from_dict(dict(out_dir=str(tmp_path), data_dir=str(tmp_path),
                                         bone_scale=1.0)), progress=False)


@pytest.mark.parametrize("opts, option", [
    (dict(bone_scale=0.2), "bone_scale"),
    (dict(inputs="sh", error_transplant=0.5, bone_scale=0.2, window=3, window_step=800),
     "bone_scale")])
@pytest.mark.slow
def test_new_bodies_train_and_resume_to_the_same_weights(opts, option, h36m_dir, tmp_path):
    a = tiny_config(h36m_dir, tmp_path / "a", epochs=1, **opts)
    train(a, progress=False)
    b = tiny_config(h36m_dir, tmp_path / "b", epochs=1, **opts)
    assert train(b, progress=False, max_steps=3) is None
    train(b, progress=False)
    assert_same_weights(checkpoint_weights(tmp_path / "a"), checkpoint_weights(tmp_path / "b"))
    # The draws change the weights: not the run without the option.
    c = tiny_config(h36m_dir, tmp_path / "c", epochs=1, **{**opts, option: 0.0})
    train(c, progress=False)
    w_a, w_c = checkpoint_weights(tmp_path / "a"), checkpoint_weights(tmp_path / "c")
    assert any(not torch.equal(w_a[k], w_c[k]) for k in w_a)


@pytest.mark.slow
def test_val_seed_holds_out_the_same_sequences_under_another_seed(h36m_dir, tmp_path):
    """The output statistics are the training poses' mean, so equal means say the same rows
    were held out (ensemble members trained with other seeds share validation sequences)."""
    means = {}
    for name, opts in {"seed0": {}, "seed1_val0": {"seed": 1, "val_seed": 0},
                       "seed1": {"seed": 1}}.items():
        train(tiny_config(h36m_dir, tmp_path / name, **opts), progress=False, max_steps=1)
        means[name] = checkpoint_weights(tmp_path / name)["out_mean"]
    assert torch.equal(means["seed0"], means["seed1_val0"])
    assert not torch.equal(means["seed0"], means["seed1"])


@pytest.mark.slow
def test_split_validation_holds_out_named_subjects_whole(h36m_dir):
    from wildpose.training import split_validation

    data = load_h36m(h36m_dir, subjects=(1, 5), stride=400)
    s1_sequences = {a for s, a in zip(data.subject, data.action) if s == 1}
    train_rows, val_rows = split_validation(data, 0.5, 0, subjects=(5,))
    assert (train_rows == ~val_rows).all()
    assert val_rows[data.subject == 5].all()                 # S5 held out whole
    # S1 keeps its share: half its sequences, each held out with all its rows.
    held = {a for s, a, v in zip(data.subject, data.action, val_rows) if s == 1 and v}
    assert len(held) == round(0.5 * len(s1_sequences))
    for a in s1_sequences:
        rows = (data.subject == 1) & (data.action == a)
        assert val_rows[rows].all() if a in held else train_rows[rows].all()
    # Holding S5 out draws S1's sequences as a split of S1 alone does.
    alone = load_h36m(h36m_dir, subjects=(1,), stride=400)
    _, val_alone = split_validation(alone, 0.5, 0)
    assert held == set(alone.action[val_alone])


def test_val_subjects_are_checked_before_loading(tmp_path):
    with pytest.raises(ValueError, match=r"val_subjects \[9\] are not among"):
        train(TrainConfig(out_dir=str(tmp_path), data_dir=str(tmp_path), subjects=(1, 5),
                          val_subjects=(9,)), progress=False)
    with pytest.raises(ValueError, match="every training subject"):
        train(TrainConfig(out_dir=str(tmp_path), data_dir=str(tmp_path), subjects=(1, 5),
                          val_subjects=(5, 1)), progress=False)
    assert TrainConfig.from_dict({"val_subjects": [8]}).val_subjects == (8,)


@pytest.mark.slow
def test_a_held_out_subject_is_not_trained_on(h36m_dir, tmp_path):
    """The output statistics are the training poses' mean: holding S5 out of (S1, S5) must
    give those of a run on S1 alone, and the model says it trained on S1 only."""
    held = train(tiny_config(h36m_dir, tmp_path / "held", val_subjects=(5,)),
                 progress=False, max_steps=1)
    assert held is None  # stopped after one step, as an interruption would
    train(tiny_config(h36m_dir, tmp_path / "s1", subjects=(1,)), progress=False, max_steps=1)
    both = train(tiny_config(h36m_dir, tmp_path / "both", epochs=1), progress=False)
    stats = {k: checkpoint_weights(tmp_path / k)["out_mean"] for k in ("held", "s1", "both")}
    assert torch.equal(stats["held"], stats["s1"])
    assert not torch.equal(stats["held"], stats["both"])
    path = train(tiny_config(h36m_dir, tmp_path / "held", val_subjects=(5,)), progress=False)
    assert read_model_info(path)["train_subjects"] == [1]
    assert read_model_info(both)["train_subjects"] == [1, 5]


def test_training_configs_read_the_data_folder_from_wildpose_data(tmp_path, monkeypatch):
    """Like `wildpose evaluate`, training finds the data through $WILDPOSE_DATA, named as
    the folder holding h36m/ or as the h36m folder itself; else ../shared/data."""
    from wildpose.methods.ronchi import RonchiConfig
    from wildpose.methods.zhou import ZhouConfig
    from wildpose.methods.zhou_image import ZhouImageTrainConfig

    (tmp_path / "h36m").mkdir()
    (tmp_path / "h36m" / "cameras.h5").touch()
    for named in (tmp_path, tmp_path / "h36m"):
        monkeypatch.setenv("WILDPOSE_DATA", str(named))
        for cfg in (TrainConfig(), RonchiConfig(), ZhouConfig()):
            assert cfg.data_dir == str(tmp_path / "h36m")
        assert ZhouImageTrainConfig().data_root == str(tmp_path)
    assert TrainConfig(data_dir="/mine").data_dir == "/mine"      # an explicit folder wins
    monkeypatch.delenv("WILDPOSE_DATA")
    assert TrainConfig().data_dir == str(Path("../shared/data/h36m"))
    assert ZhouImageTrainConfig().data_root == str(Path("../shared/data"))


@pytest.mark.parametrize("options, message", [
    ({"epochs": "ten"}, "epochs must be an integer, got 'ten'"),
    ({"epochs": 1.7}, "epochs must be an integer"),
    ({"epochs": True}, "epochs must be an integer"),
    ({"lr": "fast"}, "lr must be a number"),
    ({"subjects": "15"}, "subjects must be a list of integers"),     # not subjects 1 and 5
    ({"subjects": 5}, "subjects must be a list of integers"),
    ({"val_subjects": 1}, "val_subjects must be a list of integers"),
    ({"flip_prob": [1]}, "flip_prob must be a number"),
    ({"width": None}, "width must be an integer"),
    ({"batch_size": 0}, "batch_size must be >= 1, got 0"),
    ({"epochs": 0}, "epochs must be >= 1"),
    ({"width": 0}, "width must be >= 1"),
    ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
    ({"flip_prob": 2.0}, r"flip_prob must be in \[0, 1\]"),
    ({"lr": -1}, "lr must be > 0"),
    ({"window": 4}, "window must be odd"),
    ({"subjects": []}, "subjects must be at least one subject"),
    ({"val_stride": 0}, "val_stride must be >= 1"),
])
def test_config_values_of_the_wrong_type_or_range_are_one_line_errors(options, message):
    with pytest.raises(ValueError, match=message) as exc:
        TrainConfig.from_dict(options)
    assert "\n" not in str(exc.value)


def test_config_values_are_converted_to_their_field_types():
    cfg = TrainConfig.from_dict({"epochs": 3.0, "lr": 1, "subjects": [1, 5], "val_seed": None})
    assert (cfg.epochs, cfg.optim.lr, cfg.subjects, cfg.val_seed) == (3, 1.0, (1, 5), None)
    assert type(cfg.epochs) is int and type(cfg.optim.lr) is float
    with pytest.raises(ValueError, match="must be a JSON object"):
        TrainConfig.from_dict([1])


def test_zhou_and_ronchi_configs_check_their_values_too():
    from wildpose.methods.ronchi import RonchiConfig
    from wildpose.methods.zhou import ZhouConfig

    with pytest.raises(ValueError, match="lambda_geo must be a number"):
        ZhouConfig.from_dict({"lambda_geo": "abc"})
    with pytest.raises(ValueError, match="batch_3d must be >= 1"):
        ZhouConfig.from_dict({"batch_3d": 0})
    with pytest.raises(ValueError, match="coco_files must be a list of strings"):
        ZhouConfig.from_dict({"coco_files": "/one/file.json"})
    with pytest.raises(ValueError, match="lr must be > 0"):
        RonchiConfig.from_dict({"lr": 0})
    assert RonchiConfig.from_dict({"pairs_per_sample": 8}).pairs_per_sample == "8"


@pytest.mark.parametrize("options, message", [
    ({"batch_2d": 0}, "batch_2d must be >= 1, got 0"),
    ({"sigma": 0}, "sigma must be > 0"),
    ({"stage1_epochs": -1}, "stage1_epochs must be >= 0"),
    ({"stage1_epochs": 0, "stage2_epochs": 0, "stage3_epochs": 0}, "must be >= 1, got 0"),
    ({"scale_jitter": 1.0}, r"scale_jitter must be in \[0, 1\)"),
    ({"rotate_deg": 270}, r"rotate_deg must be in \[0, 180\]"),
    ({"lab_samples": 0}, "lab_samples must be >= 1"),
    # 60 px is not 4 x a multiple of 2^3: the hourglass could not halve its heatmaps 3 times
    ({"image_size": 60}, "zhou-image network options: input_size 60 must be 4"),
    ({"width": 15}, "zhou-image network options: width must be even"),
])
def test_zhou_image_config_ranges_are_one_line_errors(options, message):
    from wildpose.methods.zhou_image import ZhouImageTrainConfig

    with pytest.raises(ValueError, match=message) as exc:
        ZhouImageTrainConfig.from_dict(options)
    assert "\n" not in str(exc.value)
    ZhouImageTrainConfig.from_dict({"stage1_epochs": 0, "stage3_epochs": 0})  # stage 2 only


def test_training_lists_the_data_files_it_could_not_read(h36m_dir, tmp_path, capsys):
    """A truncated sequence file is left out of training and named, as evaluate does."""
    root = tmp_path / "h36m"
    poses = root / "S1" / "MyPoses" / "3D_positions"
    poses.mkdir(parents=True)
    (root / "cameras.h5").symlink_to(h36m_dir / "cameras.h5")
    for f in (h36m_dir / "S1" / "MyPoses" / "3D_positions").iterdir():
        (poses / f.name).symlink_to(f)
    bad = poses / "Directions 1.h5"
    bad.unlink()
    bad.write_bytes((h36m_dir / "S1" / "MyPoses" / "3D_positions" / "Directions 1.h5"
                     ).read_bytes()[:1000])
    train(tiny_config(h36m_dir, tmp_path / "run", data_dir=str(root), subjects=(1,)),
          progress=False, max_steps=1)
    err = capsys.readouterr().err
    assert "skipped" in err and "Directions 1" in err
