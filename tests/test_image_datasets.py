"""Real-image adapters (wildpose.datasets.images) on tiny hand-made fixtures.

Images are small PNG/JPEG files with known content (a bright dot or block at a known pixel);
annotation files are written by hand in each layout; the Human3.6M fixture is a
3d-pose-baseline folder with one hand-made pinhole camera (no distortion), so every expected
pixel is worked out on paper.  One test also projects with the real cameras.h5 when the
shared data is present (skipped otherwise).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image

import wildpose.datasets.images as images_mod
from wildpose.datasets.image_readers import (H36M_FRAME_PATTERN, AnnotatedImage,
                                             read_coco_keypoints, read_h36m_frames, read_mpii,
                                             read_source)
from wildpose.crop import crop_to_image, crop_window, image_to_crop
from wildpose.datasets.images import PersonCrops, crop_sample, materialize
from wildpose.methods.zhou_image import (
    ImageAugmentConfig,
    ZhouImageTrainConfig,
    augment_crops,
    group_holdout,
    prepare_image_data,
    train_zhou_image,
    zhou_image_losses,
)
from wildpose.models.hourglass import ZhouImageOutput
from wildpose.skeleton import H36M17, H36M32_TO_17

J = H36M17.num_joints
IDX = {name: H36M17.index(name) for name in H36M17.joints}
LOGGER = "wildpose.datasets"  # its readers and crops log under it


def write_image(path: Path, w: int, h: int, dots=(), fill: int = 0, fmt: str | None = None
                ) -> Path:
    """An RGB image of ``fill`` gray with 255 at the (x, y) pixels in ``dots``."""
    a = np.full((h, w, 3), fill, np.uint8)
    for x, y in dots:
        a[y, x] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(path, format=fmt)
    return path


def sample(path: Path, box, joints=None, visible=None, pose=None) -> AnnotatedImage:
    kp = np.zeros((J, 2), np.float32) if joints is None else np.asarray(joints, np.float32)
    vis = np.ones(J, bool) if visible is None else np.asarray(visible, bool)
    return AnnotatedImage(str(path), kp, vis, pose, tuple(float(v) for v in box), path.name)


# ----------------------------------------------------------------------------- cropping
def test_crop_at_unit_scale_copies_pixels_to_the_hand_computed_place(tmp_path):
    # Box x, y in [10, 29] (pixel centres), margin 20/19: a 20 px window centred on pixel
    # edge 30, i.e. image edges [10, 30): crop pixel k is image pixel 10 + k.
    img = write_image(tmp_path / "a.png", 40, 40, dots=[(23, 17)])
    joints = np.full((J, 2), 20.0, np.float32)
    joints[IDX["Head"]] = (23, 17)
    c = crop_sample(sample(img, (10, 10, 29, 29), joints), size=20, margin=20 / 19)
    assert c.image.shape == (20, 20, 3) and c.image.dtype == np.uint8
    assert np.argwhere(c.image[..., 0] > 0).tolist() == [[7, 13]]        # row y, column x
    assert c.image[7, 13].tolist() == [255, 255, 255]
    np.testing.assert_allclose(c.joints_2d[IDX["Head"]], (13, 7), atol=1e-5)
    np.testing.assert_allclose(c.origin, (10, 10))
    assert c.step == pytest.approx(1.0)


def test_crop_at_half_scale_lands_a_block_on_its_crop_pixel(tmp_path):
    # Box [10, 49], margin 40/39: window edges [10, 50), 2 image px per crop px.  The 2x2
    # block at image pixels x 24-25, y 16-17 (edges [24, 26) x [16, 18)) is crop pixel (7, 3).
    img = write_image(tmp_path / "b.png", 80, 80, dots=[(24, 16), (25, 16), (24, 17), (25, 17)])
    joints = np.full((J, 2), 30.0, np.float32)
    joints[IDX["Hip"]] = (24.5, 16.5)                                     # the block's centre
    c = crop_sample(sample(img, (10, 10, 49, 49), joints), size=20, margin=40 / 39)
    y, x = np.unravel_index(np.argmax(c.image[..., 0]), (20, 20))
    assert (x, y) == (7, 3)
    np.testing.assert_allclose(c.joints_2d[IDX["Hip"]], (7, 3), atol=1e-5)
    assert c.step == pytest.approx(2.0)


def test_crop_outside_the_image_is_black_and_joints_there_invisible(tmp_path):
    img = write_image(tmp_path / "c.png", 30, 30, fill=100)
    joints = np.full((J, 2), 5.0, np.float32)
    joints[IDX["LWrist"]] = (-3.0, 4.0)                                  # left of the image
    # Window edges [-10, 10) both ways at unit scale: crop pixel k is image pixel k - 10.
    c = crop_sample(sample(img, (-10, -10, 9, 9), joints), size=20, margin=20 / 19)
    assert (c.image[:9, :9] == 0).all() and (c.image[11:, 11:] == 100).all()
    assert not c.visible[IDX["LWrist"]] and c.visible.sum() == J - 1
    np.testing.assert_allclose(c.joints_2d[IDX["LWrist"]], (7, 14), atol=1e-5)


def test_crop_window_maps_image_points_to_the_crop_and_back():
    # Box x [10, 29], y [0, 39]: longer side 39, margin 40/39 -> a 40 px window centred on
    # edge (20, 20), i.e. image edges [0, 40) both ways; 20 crop px -> 2 image px each.
    origin, side = crop_window((10, 0, 29, 39), 40 / 39)
    np.testing.assert_allclose(origin, (0, 0), atol=1e-12)
    assert side == pytest.approx(40.0)
    # image pixel (24.5, 16.5) -> crop ((24.5 + 0.5) / 2 - 0.5, (16.5 + 0.5) / 2 - 0.5)
    np.testing.assert_allclose(image_to_crop((24.5, 16.5), origin, side / 20), (12, 8))
    np.testing.assert_allclose(crop_to_image((12, 8), origin, side / 20), (24.5, 16.5))
    pts = np.random.default_rng(0).uniform(-50, 90, (5, 17, 2))
    origin, side = crop_window((3.2, -7.5, 61.0, 44.4), 1.3)
    np.testing.assert_allclose(crop_to_image(image_to_crop(pts, origin, side / 64), origin,
                                             side / 64), pts, atol=1e-9)
    # A point-like box has no window, unless a minimum side is given.
    with pytest.raises(ValueError):
        crop_window((5, 5, 5, 5), 2.0)
    origin, side = crop_window((5, 5, 5, 5), 2.0, min_side=1.0)
    assert side == 2.0 and origin.tolist() == [4.5, 4.5]


# --------------------------------------------------------------------------------- MPII
# One MPII person, 1-based coordinates in MPII's order (r ankle, r knee, r hip, l hip,
# l knee, l ankle, pelvis, thorax, upper neck, head top, r wrist, r elbow, r shoulder,
# l shoulder, l elbow, l wrist); the left wrist is not labelled.
MPII_JOINTS = [[41, 91], [42, 71], [43, 51], [57, 51], [58, 71], [59, 91], [50, 51],
               [50, 31], [50, 21], [50, 11], [31, 51], [33, 41], [36, 31], [64, 31],
               [67, 41], [-1, -1]]
MPII_VIS = [1] * 15 + [0]


def mpii_entry(image: str, joints=MPII_JOINTS, vis=MPII_VIS) -> dict:
    return {"image": image, "joints": joints, "joints_vis": vis, "center": [51, 51],
            "scale": 0.5}


def test_mpii_joints_reach_their_h36m17_places(tmp_path):
    write_image(tmp_path / "im" / "p.jpg", 100, 100)
    ann = tmp_path / "train.json"
    ann.write_text(json.dumps([mpii_entry("p.jpg")]))
    (s,) = read_mpii(ann, tmp_path / "im")
    # Expected positions by H36M17 name, worked out from the MPII order above (minus 1):
    expect = {"RFoot": (40, 90), "RKnee": (41, 70), "RHip": (42, 50), "LHip": (56, 50),
              "LKnee": (57, 70), "LFoot": (58, 90), "Hip": (49, 50), "Spine": (49, 30),
              "Thorax": (49, 20), "Head": (49, 10), "RWrist": (30, 50), "RElbow": (32, 40),
              "RShoulder": (35, 30), "LShoulder": (63, 30), "LElbow": (66, 40)}
    for name, xy in expect.items():
        assert s.visible[IDX[name]], name
        np.testing.assert_allclose(s.joints_2d[IDX[name]], xy, err_msg=name)
    # MPII has no nose, and this person's left wrist is not labelled.
    assert not s.visible[IDX["Neck/Nose"]] and not s.visible[IDX["LWrist"]]
    # 100 px square about the centre (50, 50) moved down 15 * scale = 7.5 px.
    np.testing.assert_allclose(s.box, (0, 7.5, 100, 107.5))
    (raw,) = read_mpii(ann, tmp_path / "im", one_based=False, center_shift=0.0)
    np.testing.assert_allclose(raw.joints_2d[IDX["RFoot"]], (41, 91))
    np.testing.assert_allclose(raw.box, (1, 1, 101, 101))


def corrupt_fixture(tmp_path: Path) -> tuple[Path, Path]:
    """An MPII file of 7 entries: 2 good (one with a joint off the image), one whose image
    is missing, one of random bytes, one truncated JPEG, one with every joint off the
    image, and one malformed entry."""
    d = tmp_path / "mpii"
    write_image(d / "good.png", 100, 100, dots=[(49, 50)])
    write_image(d / "good2.jpg", 100, 100, fmt="JPEG")
    (d / "random.jpg").write_bytes(np.random.default_rng(0).integers(0, 256, 500,
                                                                     np.uint8).tobytes())
    write_image(d / "full.jpg", 100, 100, fill=80, fmt="JPEG")
    data = (d / "full.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[:len(data) // 2])
    off_image = [[x + 500, y] for x, y in MPII_JOINTS]
    one_off = [list(p) for p in MPII_JOINTS]
    one_off[0] = [150, 91]                                     # right ankle beyond x = 100
    entries = [mpii_entry("good.png"), mpii_entry("good2.jpg", one_off),
               mpii_entry("absent.jpg"), mpii_entry("random.jpg"),
               mpii_entry("truncated.jpg"), mpii_entry("good.png", off_image),
               {"image": "good.png", "joints": [[1, 2]] * 3, "joints_vis": [1] * 3,
                "center": [5, 5], "scale": 1.0}]
    ann = tmp_path / "mpii.json"
    ann.write_text(json.dumps(entries))
    return ann, d


def test_bad_input_is_skipped_counted_and_logged_while_the_rest_loads(tmp_path, caplog):
    ann, d = corrupt_fixture(tmp_path)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        samples = read_mpii(ann, d)
        assert samples.skipped == {"missing_image": 1, "malformed": 1}
        crops = PersonCrops(samples, size=16, name="mpii")
        s = materialize(crops, None, progress=False)
    assert len(s) == 2 and s.images.shape == (2, 16, 16, 3) and s.pose_mm is None
    assert crops.skipped == {"missing_image": 1, "malformed": 1, "corrupt_image": 2,
                             "outside_image": 1}
    assert s.visible.shape == (2, J)
    assert not s.visible[1, IDX["RFoot"]] and s.visible[1, IDX["RKnee"]]
    text = caplog.text
    for needle in ("absent.jpg", "random.jpg", "truncated.jpg", "entry #5", "entry #6",
                   "2 crop(s) kept"):
        assert needle in text, needle
    # The same samples through __getitem__: None for a bad one, reason counted.
    lazy = PersonCrops(samples, size=16)
    assert lazy[0] is not None and lazy[2] is None and lazy.load_skipped == {
        "corrupt_image": 1}


def test_missing_annotation_file_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        read_mpii(tmp_path / "nope.json", tmp_path)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        read_coco_keypoints(tmp_path / "bad.json", tmp_path)


# --------------------------------------------------------------------------------- COCO
def coco_keypoints(points: dict[str, tuple[float, float]]) -> list[float]:
    from wildpose.skeleton import COCO17

    out = []
    for name in COCO17.joints:
        x, y = points.get(name, (0, 0))
        out += [x, y, 2 if name in points else 0]
    return out


def test_coco_people_convert_and_crowds_and_sparse_people_are_skipped(tmp_path):
    write_image(tmp_path / "im" / "000001.jpg", 120, 100)
    pts = {"nose": (60, 10), "left_eye": (62, 8), "right_eye": (58, 8),
           "left_shoulder": (70, 30), "right_shoulder": (50, 30), "left_elbow": (75, 45),
           "right_elbow": (45, 45), "left_wrist": (78, 60), "right_wrist": (42, 60),
           "left_hip": (66, 60), "right_hip": (54, 60), "left_knee": (67, 75),
           "right_knee": (53, 75), "left_ankle": (68, 90), "right_ankle": (52, 90)}
    anns = [{"id": 1, "image_id": 7, "iscrowd": 0, "bbox": [40, 5, 40, 90],
             "keypoints": coco_keypoints(pts), "num_keypoints": len(pts)},
            {"id": 2, "image_id": 7, "iscrowd": 1, "bbox": [0, 0, 10, 10],
             "keypoints": coco_keypoints({}), "num_keypoints": 0},
            {"id": 3, "image_id": 7, "iscrowd": 0, "bbox": [0, 0, 10, 10],
             "keypoints": coco_keypoints({"nose": (5, 5)}), "num_keypoints": 1}]
    doc = {"images": [{"id": 7, "file_name": "000001.jpg", "width": 120, "height": 100}],
           "annotations": anns}
    (tmp_path / "kp.json").write_text(json.dumps(doc))
    out = read_coco_keypoints(tmp_path / "kp.json", tmp_path / "im")
    assert len(out) == 1 and out.skipped == {"crowd": 1, "few_keypoints": 1}
    s = out[0]
    np.testing.assert_allclose(s.joints_2d[IDX["Hip"]], (60, 60))           # mid-hips
    np.testing.assert_allclose(s.joints_2d[IDX["Thorax"]], (60, 30))        # mid-shoulders
    np.testing.assert_allclose(s.joints_2d[IDX["Spine"]], (60, 45))         # torso corners
    np.testing.assert_allclose(s.joints_2d[IDX["Neck/Nose"]], (60, 10))
    np.testing.assert_allclose(s.joints_2d[IDX["LFoot"]], (68, 90))
    assert not s.visible[IDX["Head"]]                 # the mid-ears: no ear is labelled
    assert s.visible.sum() == J - 1
    assert s.box == (40, 5, 80, 95)


# --------------------------------------------------------------------------- materialize
def test_materialize_resumes_after_an_interruption_with_identical_arrays(tmp_path,
                                                                         monkeypatch):
    samples = []
    for i in range(7):
        img = write_image(tmp_path / f"{i}.png", 40, 40, dots=[(10 + 3 * i, 20)])
        joints = np.full((J, 2), 20.0, np.float32)
        joints[0] = (10 + 3 * i, 20)
        samples.append(sample(img, (5, 5, 35, 35), joints))
    samples[3] = sample(tmp_path / "gone.png", (5, 5, 35, 35))              # skipped
    whole = materialize(PersonCrops(samples, 12), tmp_path / "whole", progress=False,
                        chunk=2)

    calls = []
    real = images_mod.crop_sample

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt  # killed while cropping the third chunk
        return real(*a, **k)

    monkeypatch.setattr(images_mod, "crop_sample", flaky)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        materialize(PersonCrops(samples, 12), cache, progress=False, chunk=2)
    assert sorted(p.name for p in (tmp_path / "cache.parts").glob("*.npz")) == [
        "000000000.npz", "000000002.npz"]
    calls.clear()
    crops = PersonCrops(samples, 12)
    again = materialize(crops, cache, progress=False, chunk=2)
    assert len(calls) == 3                           # samples 4, 5, 6 only
    assert crops.skipped == {"missing_image": 1}     # counted though cropped last time
    for key in ("images", "joints_2d", "visible"):
        np.testing.assert_array_equal(getattr(again, key), getattr(whole, key))
    assert len(again) == 6 and not (tmp_path / "cache.parts").exists()
    # A finished cache is read, not re-cropped; other settings on it are refused.
    calls.clear()
    materialize(PersonCrops(samples, 12), cache, progress=False, chunk=2)
    assert calls == []
    with pytest.raises(ValueError, match="other samples or settings"):
        materialize(PersonCrops(samples, 16), cache, progress=False, chunk=2)


def test_processes_sharing_a_cache_crop_once(tmp_path, monkeypatch):
    """Ranks of a torchrun job all prepare their data: one crops, the others read."""
    import threading

    samples = [sample(write_image(tmp_path / f"{i}.png", 30, 30, dots=[(i, 9)]),
                      (0, 0, 29, 29), np.full((J, 2), 9.0)) for i in range(6)]
    calls = []
    real = images_mod.crop_sample
    monkeypatch.setattr(images_mod, "crop_sample",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    results = [None, None]

    def rank(r: int) -> None:
        results[r] = materialize(PersonCrops(samples, 10), tmp_path / "shared", progress=False,
                                 chunk=2)

    threads = [threading.Thread(target=rank, args=(r,)) for r in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 6
    np.testing.assert_array_equal(results[0].images, results[1].images)


# ---------------------------------------------------------------------------- Human3.6M
CAM_ID = "54138969"
# World z up; the camera at (0, -5000, 1000) looks along world +y:
# camera x = world x, camera y = -world z (down), camera z = world y.
R_W2C = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
CAM_T = np.array([0.0, -5000.0, 1000.0])
F, C = 100.0, (100.0, 90.0)


def world_pose(shift_x: float = 0.0) -> np.ndarray:
    """(17, 3) world mm, z up: pelvis at (100 + shift_x, 0, 1000), head 600 mm above."""
    p = np.zeros((J, 3))
    p[:] = (100 + shift_x, 0, 1000)
    offsets = {"RHip": (-130, 0, 0), "RKnee": (-120, 0, -440), "RFoot": (-110, 0, -880),
               "LHip": (130, 0, 0), "LKnee": (120, 0, -440), "LFoot": (110, 0, -880),
               "Spine": (0, 0, 230), "Thorax": (0, 0, 490), "Neck/Nose": (0, -40, 560),
               "Head": (0, 0, 600), "LShoulder": (150, 0, 440), "LElbow": (220, 0, 180),
               "LWrist": (260, 0, -60), "RShoulder": (-150, 0, 440),
               "RElbow": (-220, 0, 180), "RWrist": (-260, 0, -60)}
    for name, off in offsets.items():
        p[IDX[name]] += off
    return p


def make_h36m(root: Path, n_frames: int, actions: tuple[str, ...] = ("Directions 1",)
              ) -> np.ndarray:
    """A 3d-pose-baseline folder: cameras.h5 with S1 camera 1 (a pinhole, no distortion)
    and S1 sequences ``actions`` (default "Directions 1") of ``n_frames`` frames each,
    moving 10 mm right per frame."""
    root.mkdir(parents=True)
    with h5py.File(root / "cameras.h5", "w") as f:
        g = f.create_group("subject1/camera1")
        g["R"] = R_W2C.T                             # the file stores R transposed
        g["T"] = CAM_T.reshape(3, 1)
        g["f"] = np.full((2, 1), F)
        g["c"] = np.array(C).reshape(2, 1)
        g["k"] = np.zeros((3, 1))
        g["p"] = np.zeros((2, 1))
        g["Name"] = np.array([ord(ch) for ch in CAM_ID], np.uint8)
    poses = np.stack([world_pose(10.0 * i) for i in range(n_frames)])
    full = np.zeros((n_frames, 32, 3))
    full[:, list(H36M32_TO_17)] = poses
    d = root / "S1" / "MyPoses" / "3D_positions"
    d.mkdir(parents=True)
    for action in actions:
        with h5py.File(d / f"{action}.h5", "w") as f:
            f["3D_positions"] = full.reshape(n_frames, 96).T
    return poses


def frame_path(frames: Path, frame_number: int, action: str = "Directions 1") -> Path:
    return frames / H36M_FRAME_PATTERN.format(subject=1, action_=action.replace(" ", "_"),
                                              camera_id=CAM_ID, frame=frame_number)


def test_h36m_frames_project_where_a_pinhole_camera_says(tmp_path):
    make_h36m(tmp_path / "h36m", 3)
    frames = tmp_path / "frames"
    # Frame 0: pelvis at world (100, 0, 1000) -> camera (100, 0, 5000) -> pixel
    # (100 * 100 / 5000 + 100, 0 + 90) = (102, 90); head camera (100, -600, 5000) -> (102, 78).
    write_image(frame_path(frames, 1), 200, 200, dots=[(102, 90)])
    write_image(frame_path(frames, 3), 200, 200)                 # frame 2 (file 2) absent
    out = read_h36m_frames(frames, tmp_path / "h36m", subjects=[1], cameras=[1], stride=1)
    assert len(out) == 2 and out.skipped == {"missing_image": 1}
    s = out[0]
    assert s.image == str(frame_path(frames, 1))
    np.testing.assert_allclose(s.joints_2d[IDX["Hip"]], (102, 90), atol=1e-4)
    np.testing.assert_allclose(s.joints_2d[IDX["Head"]], (102, 78), atol=1e-4)
    # Root-relative camera-frame mm: the head is 600 mm up = -600 on camera y.
    np.testing.assert_allclose(s.pose_mm[IDX["Hip"]], 0, atol=1e-4)
    np.testing.assert_allclose(s.pose_mm[IDX["Head"]], (0, -600, 0), atol=1e-3)
    np.testing.assert_allclose(s.pose_mm[IDX["LWrist"]], (260, 60, 0), atol=1e-3)
    # Frame 2 (file 3) moved 20 mm right: 0.4 px at 5 m.
    np.testing.assert_allclose(out[1].joints_2d[IDX["Hip"]], (102.4, 90), atol=1e-4)
    # The box is the tight box of the projected joints: feet 880 mm down -> y 107.6.
    assert s.box[3] == pytest.approx(90 + 880 * F / 5000, abs=1e-4)
    # Cropped at unit-ish scale, the dot is within a pixel of the crop's pelvis label.
    c = crop_sample(s, size=32, margin=1.2)
    y, x = np.unravel_index(np.argmax(c.image[..., 0]), (32, 32))
    assert np.hypot(x - c.joints_2d[IDX["Hip"], 0], y - c.joints_2d[IDX["Hip"], 1]) <= 1.0


def test_h36m_frame_pattern_and_base_are_configurable(tmp_path):
    make_h36m(tmp_path / "h36m", 2)
    frames = tmp_path / "fetch"
    pattern = "S{subject}/{action}/imageSequence/{camera_id}/img_{frame:06d}.jpg"
    write_image(frames / "S1" / "Directions 1" / "imageSequence" / CAM_ID / "img_000000.jpg",
                200, 200)
    out = read_h36m_frames(frames, tmp_path / "h36m", [1], [1], stride=1, pattern=pattern,
                           frame_base=0)
    assert len(out) == 1 and out.skipped == {"missing_image": 1}
    with pytest.raises(ValueError, match="frame pattern"):
        read_h36m_frames(frames, tmp_path / "h36m", [1], [1], pattern="{frame_no}.jpg")


def test_h36m_frames_with_the_real_cameras_match_the_distortion_formula(tmp_path, h36m_dir):
    """With the shared cameras.h5: the adapter's 2D of S1 camera 1 equal Human3.6M's
    ProjectPointRadial written out here from the raw file (R stored transposed)."""
    from wildpose.datasets.h36m import load_h36m

    data = load_h36m(h36m_dir, subjects=(1,), actions=("Directions",), cameras=(1,),
                     stride=500, load_sh=False)
    frames = tmp_path / "frames"
    cam_id = data.cameras[(1, 1)].name
    for a, f in zip(data.action, data.frame):
        rel = H36M_FRAME_PATTERN.format(subject=1, action_=a.replace(" ", "_"),
                                        camera_id=cam_id, frame=int(f) + 1)
        write_image(frames / rel, 8, 8)
    out = read_h36m_frames(frames, h36m_dir, [1], [1], stride=500, actions=["Directions"])
    assert len(out) == len(data) > 0
    with h5py.File(h36m_dir / "cameras.h5", "r") as f:
        g = f["subject1/camera1"]
        R, T = g["R"][()].T, g["T"][()].ravel()
        fo, co, k, p = (g[n][()].ravel() for n in ("f", "c", "k", "p"))
    a = str(data.action[0])
    with h5py.File(h36m_dir / "S1" / "MyPoses" / "3D_positions" / f"{a}.h5", "r") as f:
        world = f["3D_positions"][()].T.reshape(-1, 32, 3)[int(data.frame[0]),
                                                            list(H36M32_TO_17)]
    cam = (world - T) @ R.T
    x, y = cam[:, 0] / cam[:, 2], cam[:, 1] / cam[:, 2]
    r2 = x * x + y * y
    radial = 1 + k[0] * r2 + k[1] * r2 ** 2 + k[2] * r2 ** 3
    tan = p[0] * y + p[1] * x
    u = fo[0] * (x * (radial + tan) + p[1] * r2) + co[0]
    v = fo[1] * (y * (radial + tan) + p[0] * r2) + co[1]
    first = next(s for s in out if s.id == f"S1 {a} camera {cam_id} frame {data.frame[0]}")
    np.testing.assert_allclose(first.joints_2d, np.stack([u, v], 1), atol=1e-2)
    np.testing.assert_allclose(first.pose_mm, cam - cam[0], atol=1e-2)


# -------------------------------------------------------------------------- training hook
def training_fixture(tmp_path: Path, n_frames: int = 10,
                     actions: tuple[str, ...] = ("Directions 1",)) -> tuple[dict, dict]:
    """Source dicts: S1 camera 1 frames of ``actions`` (lab), the corrupt MPII file (wild)."""
    make_h36m(tmp_path / "h36m", n_frames, actions)
    frames = tmp_path / "frames"
    for a in actions:
        for i in range(n_frames):
            write_image(frame_path(frames, i + 1, a), 200, 200, dots=[(102, 90)])
    ann, d = corrupt_fixture(tmp_path)
    lab = {"format": "h36m-frames", "frames_dir": str(frames),
           "h36m_dir": str(tmp_path / "h36m"), "subjects": [1], "cameras": [1], "stride": 1}
    wild = {"format": "mpii", "annotation_json": str(ann), "images_dir": str(d),
            "margin": 1.5}
    return lab, wild


def real_config(tmp_path: Path, lab: dict, wild: dict, **kw) -> ZhouImageTrainConfig:
    opts = dict(data_root=str(tmp_path / "no-such-data"), out_dir=str(tmp_path / "run"),
                image_size=32, width=16, hourglass_depth=1, depth_blocks=1, val_samples=2,
                batch_3d=4, batch_2d=2, stage1_epochs=1, stage2_epochs=1, stage3_epochs=1,
                device="cpu", name="real", lab_sources=[lab], wild_sources=[wild])
    opts.update(kw)
    return ZhouImageTrainConfig.from_dict(opts)


def test_prepare_image_data_builds_lab_and_wild_sets_from_sources(tmp_path, monkeypatch):
    lab, wild = training_fixture(tmp_path)
    cfg = real_config(tmp_path, lab, wild)
    assert isinstance(cfg.lab_sources, tuple)
    # data_root does not exist: reading the renders' mocap would fail, so none is read.
    data = prepare_image_data(cfg, cache_dir=tmp_path / "renders")
    assert len(data.lab) == 8 and len(data.val) == 2
    assert data.lab.images.shape == (8, 32, 32, 3)
    assert data.lab.depth.shape == (8, J) and data.lab.pose_mm.shape == (8, J, 3)
    assert np.allclose(data.lab.depth[:, H36M17.root], 0)
    assert data.val.visible.shape == (2, J)
    assert len(data.wild) == 2 and data.wild.pose_mm is None and data.wild.depth is None
    assert data.canonical_mm.shape == (len(H36M17.edges),)
    assert any("lab source #0 (h36m-frames): 10 crops" in n for n in data.notes)
    assert sorted(p.name.split("-")[0] for p in (tmp_path / "renders").iterdir()
                  if p.is_dir()) == ["lab0", "wild0"]
    # Unchanged sources come from the cache without reading an image.
    def fail(*a, **k):
        raise AssertionError("re-cropped a cached source")

    monkeypatch.setattr(images_mod, "crop_sample", fail)
    again = prepare_image_data(cfg, cache_dir=tmp_path / "renders")
    np.testing.assert_array_equal(again.lab.images, data.lab.images)
    np.testing.assert_array_equal(again.wild.joints_2d, data.wild.joints_2d)


def test_a_3d_source_may_serve_as_2d_only_wild_data(tmp_path):
    lab, _ = training_fixture(tmp_path, 6)
    data = prepare_image_data(real_config(tmp_path, lab, lab, val_samples=1))
    assert len(data.wild) == 6 and data.wild.pose_mm is None and data.wild.depth is None


def test_source_dicts_are_checked_and_the_example_config_loads(tmp_path):
    with pytest.raises(ValueError, match="unknown format 'lsp'"):
        read_source({"format": "lsp"}, what="wild source #0")
    with pytest.raises(ValueError, match=r"wild source #1 \(mpii\): unknown option"):
        read_source({"format": "mpii", "annotation": "x"}, what="wild source #1")
    with pytest.raises(ValueError, match="missing option.*images_dir"):
        read_source({"format": "mpii", "annotation_json": "x"})
    _, wild = training_fixture(tmp_path, 6)
    with pytest.raises(ValueError, match=r"lab source #0 \(mpii\): has no 3D"):
        prepare_image_data(real_config(tmp_path, wild, wild, batch_3d=1))
    with pytest.raises(ValueError, match="lab_sources must be a list"):
        ZhouImageTrainConfig.from_dict({"lab_sources": {"format": "mpii"}})
    example = (Path(__file__).resolve().parents[1] / "experiments" / "configs"
               / "zhou-image-real.example.json")
    cfg = ZhouImageTrainConfig.from_dict(json.loads(example.read_text()))
    assert [s["format"] for s in cfg.lab_sources] == ["h36m-frames"]
    assert [s["format"] for s in cfg.wild_sources] == ["mpii"]


def test_real_lab_validation_holds_out_whole_sequences(tmp_path):
    """Human3.6M frames validate by whole (subject, action) sequences, MPII by image."""
    actions = ("Directions 1", "Eating 1", "Greeting 1", "Phoning 1", "Posing 1",
               "Walking 1")
    lab, wild = training_fixture(tmp_path, 8, actions)
    data = prepare_image_data(real_config(tmp_path, lab, wild, val_samples=10),
                              cache_dir=tmp_path / "renders")
    assert set(data.lab.group) | set(data.val.group) == {f"S1/{a}" for a in actions}
    assert set(data.lab.group).isdisjoint(data.val.group)
    # 10 wanted: two sequences of 8 are held out, 10 of their 16 frames validate.
    assert len(data.val) == 10 and len(set(data.val.group)) == 2 and len(data.lab) == 32
    assert any("2 of 6 held out, 6 of their crops unused" in n for n in data.notes)
    # Sources without sequences group by image file.
    assert sorted(Path(g).name for g in data.wild.group) == ["good.png", "good2.jpg"]


@pytest.mark.parametrize("seed", range(5))
def test_group_holdout_keeps_groups_whole_and_hits_the_count(seed):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, 40)
    groups = np.repeat([f"seq{i}" for i in range(40)], sizes)
    rng.shuffle(groups)                                   # rows of a group need not be adjacent
    for count in (1, 25, 100):
        is_val, is_train = group_holdout(groups, count, seed)
        assert not (is_val & is_train).any()
        assert set(groups[is_val]).isdisjoint(groups[is_train])
        assert is_val.sum() == count
        # Groups are held out only until the count is reached: the unused rest is less
        # than one group.
        assert (~is_train).sum() - count < sizes.max()
    # Asking for more than there is leaves one group to train on.
    is_val, is_train = group_holdout(groups, len(groups), seed)
    assert len(set(groups[is_train])) == 1 and is_val.sum() == (~is_train).sum()


def test_invisible_joints_get_no_heatmap_target_and_stay_out_of_l_geo():
    torch.manual_seed(0)
    hm = torch.rand(2, J, 8, 8)
    out = ZhouImageOutput([hm], [], torch.randn(2, J))
    kp = torch.full((2, J, 2), 10.0) + torch.rand(2, J, 2) * 8
    canon = torch.ones(len(H36M17.edges))
    w = {"heatmap": 1.0, "reg": 0.0, "geo": 1.0}
    has3 = torch.tensor([True, False])
    hidden = kp.clone()
    hidden[1, IDX["LWrist"]] = float("nan")
    base = zhou_image_losses(out, hidden, torch.zeros(2, J), has3, canon, w)
    assert torch.isfinite(base["total"])
    # Whatever the network predicts for the hidden joint changes no loss.
    hm2 = hm.clone()
    hm2[1, IDX["LWrist"]] = 5.0
    depth2 = out.depth.clone()
    depth2[1, IDX["LWrist"]] = 100.0
    moved = zhou_image_losses(ZhouImageOutput([hm2], [], depth2), hidden, torch.zeros(2, J),
                              has3, canon, w)
    assert moved["heatmap"].item() == pytest.approx(base["heatmap"].item())
    assert moved["geo"].item() == pytest.approx(base["geo"].item())
    # ... but it does when the joint is labelled.
    seen = zhou_image_losses(ZhouImageOutput([hm2], [], depth2), kp, torch.zeros(2, J), has3,
                             canon, w)
    assert seen["heatmap"].item() != pytest.approx(base["heatmap"].item())
    # A flip carries the NaN to the mirrored joint's slot.
    aug = ImageAugmentConfig(flip_prob=1.0, rotate_deg=10.0, scale_jitter=0.1)
    _, a_kp, _ = augment_crops(torch.zeros(2, 3, 32, 32), hidden, torch.zeros(2, J),
                               torch.Generator().manual_seed(0), aug)
    assert torch.isnan(a_kp[1]).any(-1).nonzero().ravel().tolist() == [IDX["RWrist"]]


@pytest.mark.slow
def test_a_run_on_real_sources_trains_a_few_steps(tmp_path):
    lab, wild = training_fixture(tmp_path)
    cfg = real_config(tmp_path, lab, wild, stage1_epochs=0, stage2_epochs=0,
                      stage3_epochs=1, num_threads=1)
    before = torch.get_num_threads()
    try:
        # Stage 3: heatmaps, depth and L_geo on the MPII rows with their invisible joints.
        assert train_zhou_image(cfg, progress=False, max_steps=1) is None
    finally:
        torch.set_num_threads(before)
    state = torch.load(tmp_path / "run" / "last.pt", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model"].values()
               if v.is_floating_point())
    assert (tmp_path / "run" / "renders").is_dir()       # the crops are cached in the run


def test_coco_example_config_reads_the_shared_coco_photos():
    """experiments/configs/zhou-image-coco.example.json: lab renders for 3D, COCO photos as 2D-only data."""
    repo = Path(__file__).resolve().parents[1]
    cfg = ZhouImageTrainConfig.from_dict(
        json.loads((repo / "experiments" / "configs" / "zhou-image-coco.example.json").read_text()))
    assert cfg.lab_sources == () and [s["format"] for s in cfg.wild_sources] == ["coco"]
    source = dict(cfg.wild_sources[0])
    for key in ("annotation_json", "images_dir"):  # relative to the repository
        source[key] = str(repo / source[key])
    if not Path(source["annotation_json"]).is_file():
        pytest.skip(f"shared COCO photos absent ({source['annotation_json']})")
    people, _ = read_source(source, what="wild source #0")
    assert len(people) > 0
    crop = PersonCrops(people, size=32)[0]
    assert crop is not None and crop.image.shape == (32, 32, 3)
    assert all(p.pose_mm is None for p in people)          # 2D only
    # COCO has no pelvis: it is synthesized from the hips wherever both are labelled.
    from wildpose.skeleton import H36M17

    j = H36M17.index
    for p in people:
        assert p.visible[j("Hip")] == (p.visible[j("RHip")] and p.visible[j("LHip")])
        if p.visible[j("Hip")]:
            np.testing.assert_allclose(p.joints_2d[j("Hip")],
                                       (p.joints_2d[j("RHip")] + p.joints_2d[j("LHip")]) / 2,
                                       atol=1e-3)
