"""wildpose.predict (Estimator, file/folder/video outputs, bad input); the BVH writer itself
is tested in test_export.py, root fitting and the default focal length in test_camera, the
One-Euro filter in test_temporal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, video_codec
from test_camera import POSE_3D

from wildpose.camera import camera_to_pixels, fit_root_translation
from wildpose.detectors import Detection, Detector
from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
from wildpose.media import Mp4Writer, VideoReader
from wildpose.predict import Estimator, PredictionResult, predict_path, predict_video, \
    read_image
from wildpose.skeleton import H36M17
from wildpose.zoo import save_model

EXAMPLE = REPO_ROOT / "examples" / "motorcyclist.jpg"



@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = ResidualMLPLifter(LifterConfig(width=64, blocks=1)).eval()
    with torch.no_grad():
        model.out_std.fill_(100.0)
        model.out_mean.copy_(torch.as_tensor(POSE_3D[1:].reshape(-1), dtype=torch.float32))
    return save_model(tmp_path_factory.mktemp("model") / "tiny.safetensors", model,
                      {"name": "tiny-predict"})


class StandingPersonDetector(Detector):
    """Finds one standing person (POSE_3D 4 m away, f = 500) in any image that is not of
    (nearly) a single colour; a uniform image has nobody."""

    name = "fake"

    def detect(self, image):
        img = np.asarray(image)
        if img.std() < 5:           # uniform, up to video compression noise
            return []
        h, w = img.shape[:2]
        kp = camera_to_pixels(POSE_3D + [0, 0, 4000], np.array([500.0, 500.0]),
                              np.array([(w - 1) / 2, (h - 1) / 2]))
        conf = np.full(17, 0.9)
        conf[H36M17.index("Head")] = 0.1          # below min_confidence: missing
        return [Detection(kp, conf, H36M17, (kp[:, 0].min(), kp[:, 1].min(),
                                             kp[:, 0].max(), kp[:, 1].max()), 0.9)]


@pytest.fixture(scope="module")
def estimator(tiny_model) -> Estimator:
    return Estimator(detector=StandingPersonDetector(), lifter=tiny_model, focal_length=500.0)


def _photo(path: Path, w: int = 320, h: int = 240) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


# ------------------------------------------------------------------------------ estimator
def test_estimator_predict_returns_typed_result(estimator):
    img = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    res = estimator.predict(img, name="x.jpg")
    assert isinstance(res, PredictionResult)
    assert (res.image, res.width, res.height) == ("x.jpg", 640, 480)
    assert len(res.people) == 1
    p = res.people[0]
    assert p.keypoints_2d.shape == (17, 3) and p.keypoints_3d.shape == (17, 3)
    np.testing.assert_array_equal(p.keypoints_3d[0], 0.0)
    assert p.keypoints_2d[H36M17.index("Head"), 2] == pytest.approx(0.1)
    assert p.root_translation is not None and p.root_translation.shape == (3,)
    assert p.root_translation[2] > 0
    # the translation is the least-squares fit of the lifted pose to the confident joints
    conf = p.keypoints_2d[:, 2]
    t = fit_root_translation(p.keypoints_3d, p.keypoints_2d[:, :2], 500.0,
                             [319.5, 239.5], weights=np.where(conf >= 0.3, conf, 0))
    np.testing.assert_allclose(p.root_translation, t, rtol=1e-4)
    assert estimator.predict(np.zeros((48, 64, 3), np.uint8)).people == []


def test_estimator_drops_people_with_too_few_joints(tiny_model):
    class Faint(Detector):
        def detect(self, image):
            return [Detection(np.zeros((17, 2)) + 10, np.full(17, 0.05), H36M17,
                              (0, 0, 20, 20), 0.1)]

    est = Estimator(detector=Faint(), lifter=tiny_model)
    res = est.predict(np.ones((20, 30, 3), np.uint8))
    assert res.people == [] and "left out" in res.notes[0]


def test_a_person_too_faint_to_lift_keeps_its_2d(tiny_model, tmp_path):
    class Glimpse(Detector):  # three confident joints: a foot and a knee in the corner
        def detect(self, image):
            conf = np.full(17, 0.05)
            conf[[1, 2, 3]] = 0.9
            return [Detection(np.arange(34, dtype=float).reshape(17, 2), conf, H36M17,
                              (0, 0, 20, 30), 0.8)]

    est = Estimator(detector=Glimpse(), lifter=tiny_model)
    res = est.predict(np.ones((40, 40, 3), np.uint8))
    (p,) = res.people
    assert not p.lifted and np.isnan(p.keypoints_3d).all() and p.root_translation is None
    np.testing.assert_allclose(p.keypoints_2d[:, :2], np.arange(34).reshape(17, 2))
    assert "2D only" in res.notes[0]
    doc = p.to_dict()
    assert doc["keypoints_3d"] is None and doc["root_translation"] is None
    assert doc["keypoints_2d"][2] == [4.0, 5.0, 0.9]
    # Written out: JSON null, NaN rows in the NPZ, a PNG with the 2D, no BVH.
    img = _photo(tmp_path / "glimpse.jpg")
    summary = predict_path(img, tmp_path / "out", est, bvh=True, progress=False)
    assert [reason for _, reason in summary.failed] == [
        "nobody lifted (1 found, none with enough sure joints and a torso)"]
    assert json.loads((tmp_path / "out" / "glimpse.json").read_text())["people"][0][
        "keypoints_3d"] is None
    with np.load(tmp_path / "out" / "glimpse.npz") as f:
        assert np.isnan(f["keypoints_3d"]).all() and f["num_people"][0] == 1
    assert (tmp_path / "out" / "glimpse.png").is_file()
    assert not list((tmp_path / "out").glob("*.bvh"))


def test_a_guessed_leg_reads_confidence_zero_and_seen_joints_their_2d_confidence(tiny_model):
    class Occluded(Detector):  # a whole body whose left knee and foot the detector missed
        def detect(self, image):
            conf = np.full(17, 0.8)
            conf[[H36M17.index("LKnee"), H36M17.index("LFoot")]] = 0.1
            kp = np.stack([np.linspace(5, 30, 17), np.linspace(2, 38, 17)], 1)
            return [Detection(kp, conf, H36M17, (5, 2, 30, 38), 0.9)]

    res = Estimator(detector=Occluded(), lifter=tiny_model).predict(
        np.ones((40, 40, 3), np.uint8))
    (p,) = res.people
    assert p.lifted
    expected = np.full(17, 0.8, np.float32)
    expected[[H36M17.index("LKnee"), H36M17.index("LFoot")]] = 0   # below min_confidence
    np.testing.assert_allclose(p.confidence_3d, expected)
    doc = p.to_dict()
    assert doc["keypoints_3d_confidence"][H36M17.index("LFoot")] == 0
    assert 0 <= doc["plausibility"] <= 1


def test_json_schema_is_exactly_the_issues(estimator, tmp_path):
    img = _photo(tmp_path / "photo.jpg")
    summary = predict_path(img, tmp_path / "out", estimator, bvh=True, progress=False)
    assert summary.ok and summary.people == 1
    doc = json.loads((tmp_path / "out" / "photo.json").read_text())
    assert list(doc) == ["image", "width", "height", "people"]
    assert doc["image"] == "photo.jpg" and (doc["width"], doc["height"]) == (320, 240)
    assert isinstance(doc["width"], int) and isinstance(doc["height"], int)
    (person,) = doc["people"]
    assert list(person) == ["keypoints_2d", "keypoints_3d", "root_translation",
                            "keypoints_3d_confidence", "plausibility"]
    assert len(person["keypoints_3d_confidence"]) == 17 and 0 <= person["plausibility"] <= 1
    for key in ("keypoints_2d", "keypoints_3d"):
        rows = person[key]
        assert len(rows) == 17 and all(len(r) == 3 for r in rows)
        assert all(isinstance(v, float) for r in rows for v in r)
    assert len(person["root_translation"]) == 3
    assert 0 <= min(r[2] for r in person["keypoints_2d"]) <= 1
    assert (tmp_path / "out" / "photo.png").read_bytes()[:4] == b"\x89PNG"
    with np.load(tmp_path / "out" / "photo.npz") as z:
        assert list(z["images"]) == ["photo.jpg"] and z["keypoints_3d"].shape == (1, 17, 3)
        np.testing.assert_allclose(z["keypoints_3d"][0], person["keypoints_3d"], atol=0.051)
        assert list(z["joints"]) == list(H36M17.joints)
    bvh_mod = pytest.importorskip("wildpose.mocap.bvh", reason="wildpose.mocap.bvh is absent")
    assert bvh_mod.read_bvh(tmp_path / "out" / "photo_0.bvh").num_frames == 1
    # the Python API gives the same numbers as the file, from an array or a path
    res = estimator.predict(img)
    assert res.image == "photo.jpg"
    np.testing.assert_allclose(res.people[0].keypoints_3d, person["keypoints_3d"], atol=0.051)


def test_image_with_nobody_writes_empty_people(estimator, tmp_path):
    from PIL import Image

    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(tmp_path / "empty.png")
    summary = predict_path(tmp_path / "empty.png", tmp_path / "out", estimator, progress=False)
    assert not summary.ok and summary.people == 0     # a failed input: the exit status says so
    assert summary.failed == [(str(tmp_path / "empty.png"), "nobody found")]
    doc = json.loads((tmp_path / "out" / "empty.json").read_text())
    assert doc == {"image": "empty.png", "width": 40, "height": 30, "people": []}
    lines: list[str] = []
    predict_path(tmp_path / "empty.png", tmp_path / "out2", estimator, progress=False,
                 report=lines.append)
    assert lines == [f"wildpose: {tmp_path / 'empty.png'}: nobody found"]


def test_bad_files_are_reported_and_the_good_one_written(estimator, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    good = _photo(folder / "good.jpg")
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    (folder / "notes.jpg").write_text("this is not a picture\n")
    (folder / "readme.txt").write_text("ignored: not an image extension\n")
    lines: list[str] = []
    out = tmp_path / "out"
    summary = predict_path(folder, out, estimator, progress=False, report=lines.append)
    assert not summary.ok
    assert sorted(Path(s).name for s, _ in summary.failed) == ["notes.jpg", "truncated.jpg"]
    assert len(lines) == 2 and all("\n" not in m for m in lines)
    assert any("notes.jpg" in m and "not an image" in m for m in lines)
    assert any("truncated.jpg" in m and "truncated" in m for m in lines)
    assert [p.name for p in summary.written] == ["good.json"]
    assert (out / "good.png").is_file() and not (out / "notes.json").exists()
    with np.load(out / "photos.npz") as z:
        assert list(z["images"]) == ["good.jpg"]


def test_missing_paths_empty_folders_and_keypoint_files_fail_in_one_line(estimator, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "kp.npy").write_bytes(b"")
    for path, words in ((tmp_path / "nope.jpg", "no such"), (tmp_path / "empty", "no images"),
                        (tmp_path / "kp.npy", "wildpose lift")):
        lines: list[str] = []
        summary = predict_path(path, tmp_path / "out", estimator, progress=False,
                               report=lines.append)
        assert not summary.ok and not summary.written
        assert len(lines) == 1 and words in lines[0] and str(path) in lines[0]


def test_read_image_errors(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("text")
    with pytest.raises(ValueError, match="not an image"):
        read_image(tmp_path / "t.png")


# ----------------------------------------------------------------------------------- video
def _write_video(path: Path, frames: int = 6, size=(160, 120), fps: float = 10.0) -> Path:
    w, h = size
    rng = np.random.default_rng(0)
    with Mp4Writer(path, fps) as out:
        for i in range(frames):
            out.write(rng.integers(0, 255, (h, w, 3), dtype=np.uint8) if i != 2 else
                      np.zeros((h, w, 3), np.uint8))          # frame 2: nobody
    return path


def test_video_writes_frames_npz_h264_mp4_and_a_bvh_per_track(estimator, tmp_path):
    video = _write_video(tmp_path / "clip.mp4")
    out = tmp_path / "out"
    summary = predict_path(video, out, estimator, smooth=True, bvh=True, progress=False)
    assert summary.ok, summary.failed
    assert [p.name for p in summary.written] == [f"clip_{i:06d}.json" for i in range(6)]
    doc = json.loads((out / "clip" / "clip_000002.json").read_text())
    assert doc["image"] == "clip.mp4#2" and doc["people"] == []
    (person,) = json.loads((out / "clip" / "clip_000003.json").read_text())["people"]
    assert person["track_id"] == 0             # the same person after a frame without them
    with np.load(out / "clip.npz") as z:
        assert list(z["frame"]) == list(range(6)) and float(z["fps"]) == pytest.approx(10)
        assert list(z["num_people"]) == [1, 1, 0, 1, 1, 1]
        assert list(z["track_id"]) == [0] * 5
    assert video_codec(out / "clip.mp4") == "h264"
    with VideoReader(out / "clip.mp4") as r:
        assert (r.width, r.height) == (160, 120) and len(list(r)) == 6
    bvh = pytest.importorskip("wildpose.mocap.bvh").read_bvh(out / "clip_0.bvh")
    assert bvh.num_frames == 6 and bvh.frame_rate == pytest.approx(10)


def test_unopenable_video_fails_in_one_line(estimator, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    lines: list[str] = []
    summary = predict_video(bad, tmp_path / "out", estimator, progress=False,
                            report=lines.append)
    assert not summary.ok and len(lines) == 1 and "broken.mp4" in lines[0]
    assert "\n" not in lines[0]


def test_video_cut_short_keeps_the_frames_read_and_fails(estimator, tmp_path):
    video = _write_video(tmp_path / "clip.mp4", frames=30)
    data = video.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    lines: list[str] = []
    summary = predict_video(tmp_path / "cut.mp4", tmp_path / "out", estimator,
                            progress=False, report=lines.append)
    # an MP4 cut short loses its index or its last frames: either way a one-line failure
    assert not summary.ok and len(lines) == 1 and "cut.mp4" in lines[0]


def test_video_with_damaged_frames_writes_every_frame_and_fails_in_one_line(estimator,
                                                                            tmp_path):
    data = bytearray(_write_video(tmp_path / "clip.mp4", frames=20).read_bytes())
    rng = np.random.default_rng(1)
    for start in range(len(data) // 3, len(data) // 3 + 8000, 997):   # garble the middle
        data[start:start + 200] = rng.integers(0, 255, 200, dtype=np.uint8).tobytes()
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    lines: list[str] = []
    summary = predict_video(tmp_path / "damaged.mp4", tmp_path / "out", estimator,
                            progress=False, report=lines.append)
    assert not summary.ok and len(lines) == 1 and "damaged.mp4" in lines[0]
    assert "decoding error" in lines[0] and "\n" not in lines[0]
    assert len(summary.written) == 20                     # the damaged frames are kept


def test_joints_outside_the_image_are_missing_not_invented(tiny_model):
    class CutOff(Detector):     # the person's feet and knees are below the frame
        def detect(self, image):
            kp = camera_to_pixels(POSE_3D + [0, 0, 3000], np.array([500.0, 500.0]),
                                  np.array([60.0, 85.0]))
            return [Detection(kp, np.full(17, 0.9), H36M17, (0, 0, 119, 99), 0.9)]

    res = Estimator(detector=CutOff(), lifter=tiny_model).predict(
        np.full((100, 120, 3), 90, np.uint8))
    (p,) = res.people
    below = [H36M17.index(j) for j in ("RKnee", "RFoot", "LKnee", "LFoot")]
    assert np.isnan(p.keypoints_2d[below, :2]).all() and (p.keypoints_2d[below, 2] == 0).all()
    inside = [H36M17.index(j) for j in ("Thorax", "LShoulder", "RShoulder", "Hip")]
    assert np.isfinite(p.keypoints_2d[inside]).all()
    rows = p.to_dict()["keypoints_2d"]
    assert all(rows[j][:2] == [None, None] and rows[j][2] == 0.0 for j in below)


def test_cli_corrupt_photo_one_line_others_written_nonzero_exit(tmp_path, capsys):
    from wildpose.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(EXAMPLE.read_bytes())
    (folder / "b.jpg").write_bytes(EXAMPLE.read_bytes()[:2000])        # truncated
    code = main(["predict", str(folder), "-o", str(tmp_path / "out"), "--no-png",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert len([ln for ln in err.splitlines() if "b.jpg" in ln]) == 1
    assert (tmp_path / "out" / "a.json").is_file() and not (tmp_path / "out" / "b.json").exists()


# ------------------------------------------------------------------- the real detector
def test_example_photo_end_to_end_with_the_default_detector(tiny_model, tmp_path):
    with Estimator(lifter=tiny_model) as est:
        summary = predict_path(EXAMPLE, tmp_path, est, progress=False)
    # one rider; the top-down default may box them twice (upper body and whole body)
    assert summary.ok and 1 <= summary.people <= 2
    doc = json.loads((tmp_path / "motorcyclist.json").read_text())
    assert (doc["width"], doc["height"]) == (612, 612) and len(doc["people"]) == summary.people
    for person in doc["people"]:
        kp = np.array(person["keypoints_2d"], float)
        seen = ~np.isnan(kp[:, 0])
        assert seen.sum() >= 8 and ((kp[seen, :2] >= 0) & (kp[seen, :2] < 612)).all()
    from PIL import Image

    with Image.open(tmp_path / "motorcyclist.png") as im:   # the photo is most of the figure
        assert im.size[1] == 612 and 612 / im.size[0] > 0.6


def test_max_people_keeps_the_largest(tiny_model):
    class Crowd(Detector):
        def detect(self, image):
            out = []
            for k, size in enumerate((10, 40, 20)):
                kp = np.tile([[5.0 + 30 * k, 5.0]], (17, 1)) + \
                    np.linspace(0, size, 17)[:, None] * [0.3, 1.0]
                out.append(Detection(kp, np.ones(17), H36M17,
                                     (kp[:, 0].min(), kp[:, 1].min(), kp[:, 0].max(),
                                      kp[:, 1].max()), 0.9))
            return out

    img = np.full((80, 120, 3), 90, np.uint8)
    res = Estimator(detector=Crowd(), lifter=tiny_model).predict(img)
    heights = [p.box[3] - p.box[1] for p in res.people]
    assert heights == sorted(heights, reverse=True) and len(heights) == 3
    res2 = Estimator(detector=Crowd(), lifter=tiny_model, max_people=2).predict(img)
    assert [p.box for p in res2.people] == [p.box for p in res.people[:2]]


def test_two_inputs_of_one_name_write_two_results(estimator, tmp_path):
    """Photos named alike in two folders, given as separate inputs of one run, get their own
    files (the names an earlier input used are passed on in ``taken``)."""
    from PIL import Image

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _photo(tmp_path / "a" / "photo.jpg")
    Image.fromarray(np.full((30, 40, 3), 200, np.uint8)).save(tmp_path / "b" / "photo.jpg")
    out, taken = tmp_path / "out", set()
    assert predict_path(first, out, estimator, progress=False, taken=taken).ok
    blank = predict_path(tmp_path / "b" / "photo.jpg", out, estimator, progress=False,
                         taken=taken)
    assert [reason for _, reason in blank.failed] == ["nobody found"]
    assert len(json.loads((out / "photo.json").read_text())["people"]) == 1
    assert json.loads((out / "photo_2.json").read_text())["people"] == []   # the blank one
    lines: list[str] = []
    (tmp_path / "file").write_text("x")
    summary = predict_path(first, tmp_path / "file", estimator, progress=False,
                           report=lines.append)
    assert not summary.ok and "not an output folder" in lines[0]
