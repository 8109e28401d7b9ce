"""Video lifters: the windowed residual MLP, its augmentation, and Lifter.lift on sequences
(the windows themselves, wildpose.temporal.window_indices, are tested in test_temporal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wildpose.api import Lifter
from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.skeleton import COCO17, H36M17, convert_layout
from wildpose.zoo import load_numpy_model, save_model

J = 17


@pytest.mark.parametrize("window, step", [(2, 1), (0, 1), (3, 0)])
def test_bad_windows_are_refused(window, step):
    with pytest.raises(ValueError, match="window"):
        LifterConfig(window=window, window_step=step)


# ----------------------------------------------------------------- the windowed network
def _single_and_reader(offset_slot: int, window: int = 3, seed: int = 0, step: int = 1):
    """A random single-frame lifter, and a window lifter (frames ``step`` apart) whose input
    layer reads only the frame in ``offset_slot`` of its window with the single lifter's
    weights."""
    torch.manual_seed(seed)
    single = ResidualMLPLifter(LifterConfig(width=32, blocks=1)).eval()
    video = ResidualMLPLifter(LifterConfig(width=32, blocks=1, window=window,
                                           window_step=step)).eval()
    video.load_state_dict({k: v for k, v in single.state_dict().items()
                           if not k.startswith("inp.0.")}, strict=False)
    w, b = single.inp[0].weight.detach(), single.inp[0].bias.detach()
    wv = torch.zeros(32, J * 3 * window)
    # Input order: all frames' keypoints (frame-major, x/y per joint), then all validity flags.
    wv[:, offset_slot * 2 * J:(offset_slot + 1) * 2 * J] = w[:, :2 * J]
    wv[:, 2 * J * window + offset_slot * J:2 * J * window + (offset_slot + 1) * J] = w[:, 2 * J:]
    with torch.no_grad():
        video.inp[0].weight.copy_(wv)
        video.inp[0].bias.copy_(b)
    return single, video


def _poses(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, J, 2)) * 40 + 300).astype(np.float32)


def test_window_lifter_reading_one_slot_is_that_frames_single_lifter():
    single, video = _single_and_reader(offset_slot=2)   # window 3: the slot of frame t + 1
    kp = _poses(10)
    frame_single = Lifter(single, flip_test=False).lift(kp)
    out = Lifter(video, flip_test=False).lift(kp)       # the rows are one video, in order
    np.testing.assert_allclose(out[:-1], frame_single[1:], atol=1e-4)
    np.testing.assert_allclose(out[-1], frame_single[-1], atol=1e-4)  # edge: t + 1 clamped


def test_window_lifter_follows_sequence_labels_and_frame_numbers():
    single, video = _single_and_reader(offset_slot=0)   # reads frame t - 1
    kp = _poses(12)
    seq = np.array([0] * 6 + [1] * 6)
    frame = np.r_[np.arange(6), np.arange(6)]
    perm = np.random.default_rng(3).permutation(12)
    out = Lifter(video, flip_test=True).lift(kp[perm], sequence=seq[perm], frame=frame[perm])
    ref = Lifter(single, flip_test=True).lift(kp)
    prev = np.r_[0, np.arange(5), 6, np.arange(6, 11)]  # each sequence's previous row
    np.testing.assert_allclose(out, ref[prev][perm], atol=1e-4)
    with pytest.raises(ValueError, match="one entry per pose"):
        Lifter(video).lift(kp, sequence=seq[:3])


def test_saved_window_lifter_runs_the_same_in_numpy(tmp_path):
    _, video = _single_and_reader(offset_slot=1, window=5)
    path = save_model(tmp_path / "v.safetensors", video, {"name": "v"}, half=False)
    kp = _poses(7)
    a = Lifter(str(path), backend="torch", flip_test=True).lift(kp)
    b = Lifter(str(path), backend="numpy", flip_test=True).lift(kp)
    assert Lifter(str(path), backend="numpy").window == (5, 1)
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-3)
    assert load_numpy_model(path).info["config"]["window"] == 5


# ------------------------------------------------------------------ test-time window steps
@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_window_steps_read_the_frames_that_many_apart_and_average(backend, tmp_path):
    """The slot-0 reader lifts frame t - step; read at steps 1 and 3 it must give the mean
    of the single lifter's poses of frames t - 1 and t - 3 (clamped at the clip's start)."""
    single, video = _single_and_reader(offset_slot=0)
    path = save_model(tmp_path / "v.safetensors", video, {"name": "v"}, half=False)
    kp = _poses(9)
    ref = Lifter(single, flip_test=True).lift(kp)
    t = np.arange(9)
    want = 0.5 * (ref[np.maximum(t - 1, 0)] + ref[np.maximum(t - 3, 0)])
    both = Lifter(str(path), backend=backend, window_steps=[1, 3])
    assert both.window_steps == (1, 3)
    np.testing.assert_allclose(both.lift(kp), want, rtol=1e-4, atol=1e-3)
    # A model file can carry the steps as its default reading.
    rec = save_model(tmp_path / "rec.safetensors", video,
                     {"name": "rec", "test_window_steps": [1, 3]}, half=False)
    np.testing.assert_allclose(Lifter(str(rec), backend=backend).lift(kp), want,
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(Lifter(str(rec), backend=backend, window_steps=[2]).lift(kp),
                               ref[np.maximum(t - 2, 0)], rtol=1e-4, atol=1e-3)
    assert Lifter(str(path), backend=backend).window_steps == (1,)   # its own step


def test_window_steps_scale_every_member_of_an_ensemble_alike(tmp_path):
    """Members trained 1 and 2 frames apart share a window 1 apart; read 2 apart, the
    first reads frame t - 2 and the second frame t - 4."""
    from wildpose.zoo import save_ensemble

    single_a, reader_a = _single_and_reader(offset_slot=0, seed=1)
    single_b, reader_b = _single_and_reader(offset_slot=0, seed=2, step=2)
    paths = [save_model(tmp_path / f"{n}.safetensors", m, {"name": n}, half=False)
             for n, m in (("a", reader_a), ("b", reader_b))]
    ens = save_ensemble(tmp_path / "ab.safetensors", paths)
    kp = _poses(10, seed=6)
    ref_a = Lifter(single_a).lift(kp)
    ref_b = Lifter(single_b).lift(kp)
    t = np.arange(10)
    lifter = Lifter(str(ens), window_steps=[2])
    assert lifter.window == (5, 1)
    np.testing.assert_allclose(lifter.lift(kp), 0.5 * (ref_a[np.maximum(t - 2, 0)]
                                                        + ref_b[np.maximum(t - 4, 0)]),
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("steps", [[0], [2.5], [], "x", [float("nan")]])
def test_bad_window_steps_are_refused(steps):
    _, video = _single_and_reader(offset_slot=0)
    with pytest.raises(ValueError, match="window_steps"):
        Lifter(video, window_steps=steps)


def test_window_steps_need_a_video_lifter():
    single, _ = _single_and_reader(offset_slot=0)
    with pytest.raises(ValueError, match="video lifter"):
        Lifter(single, window_steps=[2, 3])
    assert Lifter(single).window_steps == (1,)


# ----------------------------------------------------------------------- augmentation


def test_photo_prediction_refuses_a_video_lifter():
    from wildpose.predict import Estimator

    _, video = _single_and_reader(offset_slot=1)
    with pytest.raises(ValueError, match="video lifter"):
        Estimator(detector=object(), lifter=Lifter(video))


@pytest.mark.slow
def test_lift_command_reads_arrays_as_clips_and_coco_people_one_by_one(tmp_path):
    import json

    from wildpose.cli import main

    single, video = _single_and_reader(offset_slot=2)   # reads frame t + 1
    path = save_model(tmp_path / "v.safetensors", video, {"name": "v"}, half=False)
    kp = _poses(2)                                      # H36M17 pixels, two people
    ref = Lifter(single).lift(kp)
    # As a COCO file (two photos, one person each): every person is a clip of one frame.
    coco17 = np.zeros((2, 17, 3))
    as_coco, ok = convert_layout(kp, H36M17, COCO17)
    coco17[..., :2], coco17[..., 2] = np.where(ok[..., None], as_coco, 0), 2 * ok
    doc = {"images": [{"id": i, "file_name": f"{i}.jpg", "width": 640, "height": 480}
                      for i in range(2)],
           "annotations": [{"id": 10 + i, "image_id": i, "category_id": 1,
                            "num_keypoints": int(ok[i].sum()),
                            "keypoints": coco17[i].ravel().tolist()} for i in range(2)],
           "categories": [{"id": 1, "name": "person"}]}
    (tmp_path / "people.json").write_text(json.dumps(doc))
    np.save(tmp_path / "clip.npy", kp)
    for name in ("people.json", "clip.npy"):
        assert main(["lift", str(tmp_path / name), "-o", str(tmp_path / "out"), "--model",
                     str(path)]) == 0
    with np.load(tmp_path / "out" / "people.npz") as f:
        coco_ref = Lifter(single).lift(as_coco, "coco17", valid=ok)
        np.testing.assert_allclose(f["pose_3d"], coco_ref, atol=1e-3)
    with np.load(tmp_path / "out" / "clip.npz") as f:
        np.testing.assert_allclose(f["pose_3d"], ref[[1, 1]], atol=1e-3)


@pytest.mark.slow
def test_scoring_every_nth_frame_keeps_the_video_lifters_window_in_frames(h36m_dir, tmp_path,
                                                                          monkeypatch):
    import wildpose.evaluation
    from wildpose.evaluation import evaluate_h36m, load_predictions

    # One take (Eating, camera 1) of S9 instead of all 120: the check is per row, and the
    # whole subject at every frame took minutes.  The stride evaluate_h36m asks for is kept.
    load_all = wildpose.evaluation.load_h36m

    def load_one_take(data_dir, subjects, stride, load_sh):
        return load_all(data_dir, subjects=subjects, actions=("Eating",), cameras=(1,),
                        stride=stride, load_sh=load_sh)

    monkeypatch.setattr(wildpose.evaluation, "load_h36m", load_one_take)
    _, video = _single_and_reader(offset_slot=2, window=3)
    video.config.window_step = 4                     # reads frame t + 4 (80 ms at 50 fps)
    lifter = Lifter(video, flip_test=False)
    args = dict(inputs="gt", subjects=(9,), device="cpu")
    evaluate_h36m(lifter, h36m_dir, stride=1, save_predictions_to=tmp_path / "all.npz", **args)
    evaluate_h36m(lifter, h36m_dir, stride=5, save_predictions_to=tmp_path / "5.npz", **args)
    every, fifth = load_predictions(tmp_path / "all.npz"), load_predictions(tmp_path / "5.npz")
    keep = every["frame"] % 5 == 0
    np.testing.assert_array_equal(fifth["frame"], every["frame"][keep])
    np.testing.assert_allclose(fifth["pred"], every["pred"][keep], atol=1e-4)


def test_window_step_counts_video_frames_whatever_the_training_stride():
    from wildpose.training import TrainConfig, _window_rows

    # 4 frames apart at 50 fps: every row at stride 1, every 2nd row at stride 2.
    assert _window_rows(TrainConfig(window=17, window_step=4, stride=1)) == 4
    assert _window_rows(TrainConfig(window=17, window_step=4, stride=2)) == 2
    assert _window_rows(TrainConfig(window=1, window_step=1, stride=5)) == 1
    with pytest.raises(ValueError, match="multiple of stride"):
        _window_rows(TrainConfig(window=9, window_step=3, stride=2))


# ------------------------------------------------------------------ new body proportions


@pytest.mark.slow
def test_unchanged_bodies_project_to_each_rows_own_2d(h36m_dir):
    # The new bodies of TrainConfig.bone_scale are seen through each row's own camera: with
    # every factor 1 they must land on the dataset's 2D, whichever subject and camera.
    from wildpose.augment import rescale_bones
    from wildpose.camera import camera_to_pixels
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import h36m_intrinsics

    data = load_h36m(h36m_dir, subjects=(1, 5), stride=200)
    assert len({(s, c) for s, c in zip(data.subject, data.camera)}) == 8
    lens = h36m_intrinsics(data)
    body = rescale_bones(data.pose_3d, np.ones(len(H36M17.edges)))
    px = camera_to_pixels(body, lens["f"], lens["c"], lens["k"], lens["p"])
    np.testing.assert_allclose(px, data.pose_2d, atol=0.01)
    # The trainer's float32 tensors land there too.
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)                 # noqa: E731
    body = rescale_bones(f32(data.pose_3d), f32(np.ones(len(H36M17.edges))))
    px = camera_to_pixels(body, *(f32(lens[key]) for key in ("f", "c", "k", "p")))
    np.testing.assert_allclose(px.numpy(), data.pose_2d, atol=0.01)


def test_speed_steps_count_video_frames_and_need_a_video_lifter():
    from wildpose.training import TrainConfig, _speed_rows

    # 3, 4 and 5 frames at 50 fps are 3, 4 and 5 rows at stride 1; 6, 8, 10 frames are
    # 3, 4, 5 rows at stride 2; odd frames cannot be read from every other frame.
    def cfg(**opts) -> TrainConfig:
        return TrainConfig.from_dict(opts)

    assert _speed_rows(cfg(window=17, window_step=4, speed_steps=(3, 4, 5))) == (3, 4, 5)
    assert _speed_rows(cfg(window=17, window_step=8, stride=2, speed_steps=(6, 8, 10))
                       ) == (3, 4, 5)
    assert _speed_rows(cfg(window=17, window_step=4)) == ()
    with pytest.raises(ValueError, match="multiples of stride"):
        _speed_rows(cfg(window=17, window_step=4, stride=2, speed_steps=(3, 4, 5)))
    with pytest.raises(ValueError, match="speed_steps needs a video lifter"):
        _speed_rows(cfg(speed_steps=(1, 2)))
    with pytest.raises(ValueError, match="augment.speed_steps must be steps >= 1"):
        cfg(window=5, speed_steps=(0, 4))


@pytest.mark.slow
def test_training_with_speed_steps_exports_a_lifter_reading_its_own_step(h36m_dir, tmp_path):
    from test_training import tiny_config

    from wildpose.training import train
    from wildpose.zoo import load_model, read_model_info

    cfg = tiny_config(h36m_dir, tmp_path / "run", window=5, window_step=400, epochs=1,
                      speed_steps=(400, 800, 1200), noise_max=0.0)
    path = train(cfg, progress=False)
    model = load_model(path)
    assert model.config.window == 5 and model.config.window_step == 400
    assert read_model_info(path)["train_config"]["augment"]["speed_steps"] == [400, 800, 1200]
