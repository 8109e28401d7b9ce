"""The ``wildpose`` command, called in-process through ``wildpose.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from wildpose.cli import main
from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.skeleton import H36M17
from wildpose.zoo import available_models, save_model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=1)).eval()
    with torch.no_grad():
        model.out_std.fill_(100.0)
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", model,
                      {"name": "tiny-cli"})


def a_pose() -> np.ndarray:
    """One standing person, H36M17 order, pixels (y down)."""
    return np.array([
        [320, 300], [300, 300], [298, 380], [296, 460], [340, 300], [342, 380], [344, 460],
        [320, 250], [320, 200], [320, 185], [320, 165], [345, 205], [360, 250], [370, 295],
        [295, 205], [280, 250], [270, 295]], np.float32)


def test_lift_writes_json_npz_png(tmp_path, model_file, capsys):
    src = tmp_path / "person.npy"
    np.save(src, a_pose().reshape(1, 34))  # the (1, 34) shape of the wild/*.npy files
    out = tmp_path / "out"
    rc = main(["lift", str(src), "-o", str(out), "--model", str(model_file)])
    assert rc == 0
    assert "lifted 1 pose" in capsys.readouterr().out
    doc = json.loads((out / "person.json").read_text())
    assert doc["joints"] == list(H36M17.joints) and doc["model"] == "tiny-cli"
    assert len(doc["people"]) == 1
    p3 = np.array(doc["people"][0]["keypoints_3d"])
    assert p3.shape == (17, 3) and np.isfinite(p3).all()
    np.testing.assert_array_equal(p3[0], 0.0)
    kp2 = doc["people"][0]["keypoints_2d"]
    assert len(kp2) == 17 and kp2[3][:2] == [296.0, 460.0]
    with np.load(out / "person.npz", allow_pickle=False) as z:
        assert z["pose_3d"].shape == (1, 17, 3)
        assert list(z["joints"]) == list(H36M17.joints)
        np.testing.assert_allclose(z["pose_3d"][0], p3, atol=0.01)  # json rounds to 0.01 mm
    png = (out / "person.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000


def _lifted_pose(src, out, model_file, *flags) -> np.ndarray:
    """``wildpose lift SRC -o OUT --model MODEL_FILE --max-png 0 FLAGS``: the written pose."""
    assert main(["lift", str(src), "-o", str(out), "--model", str(model_file),
                 "--max-png", "0", *flags]) == 0
    assert not (out / "p.png").exists()  # --max-png 0
    with np.load(out / "p.npz") as z:
        return z["pose_3d"]


def test_backends_write_the_same_pose(tmp_path, model_file):
    src = tmp_path / "p.npy"
    np.save(src, a_pose())
    poses = {b: _lifted_pose(src, tmp_path / b, model_file, "--backend", b, "--device", "cpu")
             for b in ("numpy", "torch")}
    np.testing.assert_allclose(poses["numpy"], poses["torch"], rtol=1e-4, atol=1e-3)


def test_bf16_lift_writes_a_pose_near_the_fp32_one(tmp_path, model_file, capsys):
    src = tmp_path / "p.npy"
    np.save(src, a_pose())
    poses = {p: _lifted_pose(src, tmp_path / p, model_file, "--precision", p)
             for p in ("fp32", "bf16")}
    scale = np.abs(poses["fp32"]).mean()
    assert np.abs(poses["bf16"] - poses["fp32"]).mean() < 0.02 * scale
    # The numpy backend cannot: one line, exit 2, nothing written.
    rc = main(["lift", str(src), "-o", str(tmp_path / "np"), "--model", str(model_file),
               "--backend", "numpy", "--precision", "bf16"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and "float32" in lines[0]
    assert not (tmp_path / "np").exists()


def test_one_corrupt_input_fails_alone(tmp_path, model_file, capsys):
    good = tmp_path / "good.npy"
    np.save(good, a_pose()[None])
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"\x93NUMPY garbage that is not an array")
    out = tmp_path / "out"
    rc = main(["lift", str(bad), str(good), "-o", str(out), "--model", str(model_file),
               "--max-png", "0"])
    assert rc == 1
    err = capsys.readouterr().err
    assert str(bad) in err
    assert str(good) not in err
    assert (out / "good.json").is_file() and (out / "good.npz").is_file()
    assert not (out / "bad.json").exists()


def test_missing_input_file_fails_alone(tmp_path, model_file, capsys):
    good = tmp_path / "good.npy"
    np.save(good, a_pose()[None])
    rc = main(["lift", str(good), str(tmp_path / "absent.npy"), "-o", str(tmp_path / "o"),
               "--model", str(model_file), "--max-png", "0"])
    assert rc == 1
    assert "absent.npy" in capsys.readouterr().err
    assert (tmp_path / "o" / "good.json").is_file()


def test_unknown_model_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "p.npy"
    np.save(src, a_pose())
    for backend in ("auto", "torch"):
        rc = main(["lift", str(src), "--model", "no-such-model-xyz", "--backend", backend])
        assert rc == 2
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith("wildpose: error:") and "no-such-model-xyz" in lines[0]
    assert not (tmp_path / "out").exists()


def test_models_command(capsys):
    assert main(["models"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == len(available_models())
    for name, line in zip(available_models(), lines):
        assert line.startswith(name)


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["lift"])  # no input
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_train_dispatches_on_method(tmp_path, capsys):
    """`wildpose train --method ronchi` trains a Ronchi model from a config plus --set
    overrides; a config for one method refuses another."""
    from conftest import find_h36m_dir

    cfg = Path(__file__).resolve().parents[1] / "configs" / "ronchi-relative.json"
    rc = main(["train", "--method", "lifter", "--config", str(cfg)])
    assert rc == 2 and "ronchi" in capsys.readouterr().err
    rc = main(["train", "--config", str(cfg), "--set", "bogus_option=1"])
    assert rc == 2 and "bogus_option" in capsys.readouterr().err
    h36m = find_h36m_dir()
    if h36m is None:
        pytest.skip("Human3.6M data not found (set WILDPOSE_DATA): the training half is skipped")
    out = tmp_path / "run"
    rc = main(["train", "--config", str(cfg), "--data-dir", str(h36m), "--out-dir", str(out),
               "--subjects", "1", "--epochs", "1", "--device", "cpu",
               "--set", "stride=2000", "width=16", "blocks=1", "batch_size=32"])
    assert rc == 0
    from wildpose.zoo import read_model_info

    info = read_model_info(out / "model.safetensors")
    assert info["method"] == "ronchi" and info["train_config"]["network"]["width"] == 16


def test_consistent_bones_give_a_clip_one_set_of_bones(tmp_path, model_file):
    rng = np.random.default_rng(0)
    # One person's clip: the arms and legs move, so the lifter's bone lengths vary.
    clip = np.stack([a_pose() + rng.normal(0, 15, (17, 2)) for _ in range(9)])
    src = tmp_path / "clip.npy"
    np.save(src, clip.astype(np.float32))
    lengths = {}
    for flag in ([], ["--consistent-bones"], ["--symmetric-bones"]):
        out = tmp_path / (flag[0][2:] if flag else "plain")
        assert main(["lift", str(src), "-o", str(out), "--model", str(model_file),
                     "--max-png", "0", *flag]) == 0
        with np.load(out / "clip.npz") as z:
            lengths[flag[0] if flag else None] = H36M17.bone_lengths(
                z["pose_3d"].astype(np.float64))
    plain, fixed = lengths[None], lengths["--consistent-bones"]
    assert plain.std(0).max() > 1.0                          # mm: bones vary frame to frame
    assert fixed.std(0).max() < 1e-3                         # one length per bone
    np.testing.assert_allclose(fixed[0], np.median(plain, 0), rtol=1e-4)
    # Left and right alike: both upper arms take the mean of their two medians.
    sym, names = lengths["--symmetric-bones"], list(H36M17.bone_names)
    left, right = names.index("left upper arm"), names.index("right upper arm")
    assert sym.std(0).max() < 1e-3
    assert abs(fixed[0, left] - fixed[0, right]) > 0.1       # the lifter's arms differ
    np.testing.assert_allclose(sym[0, [left, right]], (fixed[0, left] + fixed[0, right]) / 2,
                               rtol=1e-4)


def test_inputs_of_one_name_keep_both_results(tmp_path, model_file, capsys):
    """a/p.npy and b/p.npy lifted into one folder: neither overwrites the other."""
    first, second = a_pose(), a_pose() * 1.5 + 10   # two different people
    for sub, kp in (("a", first), ("b", second)):
        (tmp_path / sub).mkdir()
        np.save(tmp_path / sub / "p.npy", kp)
    out = tmp_path / "out"
    assert main(["lift", str(tmp_path / "a" / "p.npy"), str(tmp_path / "b" / "p.npy"),
                 "-o", str(out), "--model", str(model_file), "--max-png", "0"]) == 0
    for name, kp in (("p", first), ("p_2", second)):
        doc = json.loads((out / f"{name}.json").read_text())
        assert np.array(doc["people"][0]["keypoints_2d"])[:, :2].tolist() == kp.tolist()


def test_an_output_path_that_is_a_file_is_refused(tmp_path, model_file, capsys):
    src = tmp_path / "p.npy"
    np.save(src, a_pose())
    taken = tmp_path / "out"
    taken.write_text("not a folder")
    assert main(["lift", str(src), "-o", str(taken), "--model", str(model_file)]) == 2
    err = capsys.readouterr().err
    assert str(taken) in err and "not an output folder" in err and err.count("\n") == 1
    assert taken.read_text() == "not a folder"


def test_window_steps_are_refused_where_no_window_is_read(tmp_path, model_file, capsys):
    src = tmp_path / "pose.npy"
    np.save(src, a_pose().astype(np.float32))
    # A single-frame model, and the dual-source method, read no window.
    assert main(["lift", str(src), "-o", str(tmp_path / "o"), "--model", str(model_file),
                 "--window-steps", "3", "4"]) == 2
    err = capsys.readouterr().err
    assert "video lifter" in err and len(err.strip().splitlines()) == 1
    assert main(["lift", str(src), "-o", str(tmp_path / "o"), "--method", "dual-source",
                 "--index", str(tmp_path / "none"), "--window-steps", "3"]) == 2
    assert "--method dual-source lifts each pose alone" in capsys.readouterr().err


def test_train_takes_several_speed_steps_and_refuses_them_for_a_single_frame_lifter(
        tmp_path, capsys):
    # The steps reach the config as a tuple: its check, made before any data is read,
    # names the option (a single-frame lifter has no speed to change).
    rc = main(["train", "--speed-steps", "3", "4", "5", "--window", "1",
               "--out-dir", str(tmp_path / "run"), "--data-dir", str(tmp_path / "none")])
    assert rc != 0
    assert "speed_steps needs a video lifter" in capsys.readouterr().err


def test_lift_writes_confidence_and_plausibility_and_refuses_no_torso(tmp_path, model_file,
                                                                       capsys):
    """COCO people: one whole, one with a guessed (unlabelled) leg, one head and arms
    only.  The unlabelled ankle reads confidence 0; the headless-torso person is refused."""
    def coco(pose_h36m, drop=()):
        from wildpose.skeleton import convert_layout

        kp, _ = convert_layout(pose_h36m, "h36m17", "coco17")
        flat = [[float(x), float(y), 2] for x, y in kp]
        flat[0][:2] = [320.0, 180.0]                 # a nose (H36M's "Neck/Nose" is none)
        for j in range(1, 5):
            flat[j][:2] = [315.0 + 3 * j, 170.0]     # eyes and ears
        for j in drop:
            flat[j] = [0.0, 0.0, 0]
        return {"image_id": 1, "keypoints": [v for row in flat for v in row],
                "num_keypoints": 17 - len(drop)}

    anns = [coco(a_pose()), coco(a_pose(), drop=(16,)),            # right ankle unlabelled
            coco(a_pose(), drop=(11, 12, 13, 14, 15, 16))]          # no hips, no legs
    for i, a in enumerate(anns):
        a["id"] = i + 1
    src = tmp_path / "people.json"
    src.write_text(json.dumps({"annotations": anns}))
    out = tmp_path / "o"
    assert main(["lift", str(src), "-o", str(out), "--model", str(model_file),
                 "--max-png", "0"]) == 0
    err = capsys.readouterr().err
    assert "1 pose(s) have no torso" in err and "ann 3" in err
    people = json.loads((out / "people.json").read_text())["people"]
    whole, guessed_leg, refused = people
    assert whole["keypoints_3d_confidence"] == [1.0] * 17
    conf = guessed_leg["keypoints_3d_confidence"]
    assert conf[H36M17.index("RFoot")] == 0 and conf[H36M17.index("LFoot")] == 1
    assert 0 <= whole["plausibility"] <= 1
    assert refused["keypoints_3d"] is None and refused["plausibility"] is None

    # Nobody lifted: the file is still written, the exit status is 1, with a reason.
    src.write_text(json.dumps({"annotations": anns[2:]}))
    assert main(["lift", str(src), "-o", str(out), "--model", str(model_file),
                 "--max-png", "0"]) == 1
    assert "no pose was lifted" in capsys.readouterr().err
    assert json.loads((out / "people.json").read_text())["people"][0]["keypoints_3d"] is None


def test_train_help_lists_the_chosen_methods_options_only(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--method", "zhou", "--help"])
    zhou = capsys.readouterr().out
    assert "--lambda-geo" in zhou and "--stride " not in zhou and "--window" not in zhou
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    lifter = capsys.readouterr().out
    assert "--window" in lifter and "--lambda-geo" not in lifter
    # an option of another method is refused in one line
    assert main(["train", "--method", "zhou", "--stride", "2"]) == 2
    err = capsys.readouterr().err
    assert "--stride" in err and "zhou" in err and err.count("\n") == 1
