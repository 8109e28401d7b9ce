"""Tests of the synthetic renderer (wildpose.methods.zhou_image.synthetic) against facts
that do not depend on its own code paths: pinhole geometry, depth order, mirror symmetry,
style statistics and the split rules."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.camera import camera_to_pixels
from wildpose.methods.zhou_image.synthetic import SyntheticPoseDataset, build_splits, prerender
from wildpose.methods.zhou_image.synthetic_render import (draw_capsules, render_camera_frame,
                                                          render_pose)
from wildpose.methods.zhou_image.synthetic_scene import (make_background, pinhole_camera,
                                                         sample_appearance)
from wildpose.geometry import rotation_from_euler
from wildpose.skeleton import H36M17, flip_pose

# A hand-made standing pose in the canonical body frame (x = subject's left, y down, the
# subject facing -z), mm, H36M17 order.
STANDING = np.array([
    [0, 0, 0], [-130, 0, 0], [-120, 440, 20], [-110, 880, 60],          # Hip, R leg
    [130, 0, 0], [120, 440, 20], [110, 880, 60],                        # L leg
    [0, -230, 20], [0, -490, 30], [0, -590, -40], [0, -680, 40],       # spine .. head
    [150, -440, 30], [220, -180, 60], [260, 60, 40],                    # L arm
    [-150, -440, 30], [-220, -180, 60], [-260, 60, 40],                 # R arm
], np.float64)


def _poses(n: int = 6, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) varied poses: the standing pose with random limb swings, mm."""
    rng = np.random.default_rng(seed)
    out = np.repeat(STANDING[None], n, 0)
    out[:, [12, 13, 15, 16, 2, 3, 5, 6]] += rng.normal(0, 80, (n, 8, 3))
    return out


def test_joint_on_optical_axis_projects_to_principal_point():
    cam = pinhole_camera(np.eye(3), np.array([0.0, 0.0, 4000.0]), 250.0, 128)
    r = render_pose(STANDING, 0, 128, "lab", camera=cam)
    # The root sits on the optical axis; the principal point is the image centre.
    np.testing.assert_allclose(cam.c, [63.5, 63.5])
    np.testing.assert_allclose(r.joints_2d[H36M17.root], cam.c, atol=1e-4)
    np.testing.assert_allclose(r.joints_3d[H36M17.root], [0, 0, 4000], atol=1e-3)


@pytest.mark.parametrize("style", ["lab", "wild"])
def test_labels_are_the_camera_projection_of_the_3d_joints(style):
    for i, pose in enumerate(_poses(4)):
        r = render_pose(pose, i, 96, style)
        cam = r.camera
        np.testing.assert_allclose(r.joints_2d, cam.project(r.joints_3d.astype(np.float64),
                                                            distortion=False), atol=1e-3)
        # The camera maps the root-centred canonical pose to the returned 3D joints.
        np.testing.assert_allclose(cam.world_to_camera(pose - pose[0]), r.joints_3d, atol=1e-2)
        np.testing.assert_allclose(r.t, -cam.R @ cam.T, atol=1e-9)
        # Every limb joint lies inside a drawn volume, so the body covers its pixel.
        limbs = [H36M17.index(j) for j in ("RKnee", "LKnee", "RElbow", "LElbow", "Hip",
                                            "Thorax", "RShoulder", "LShoulder")]
        uv = np.round(r.joints_2d[limbs]).astype(int)
        inside = r.visible[limbs]
        assert r.mask[uv[inside, 1], uv[inside, 0]].all()


def test_deterministic_per_seed_and_sample_and_different_across_seeds():
    poses = _poses(3)
    a = SyntheticPoseDataset(poses, "wild", 64, seed=7)
    b = SyntheticPoseDataset(poses, "wild", 64, seed=7)
    c = SyntheticPoseDataset(poses, "wild", 64, seed=8)
    for i in range(3):
        x, y, z = a[i], b[i], c[i]
        np.testing.assert_array_equal(x["image"], y["image"])
        np.testing.assert_array_equal(x["joints_2d"], y["joints_2d"])
        assert not np.array_equal(x["image"], z["image"])
        assert not np.allclose(x["joints_2d"], z["joints_2d"])
    assert not np.array_equal(a[0]["image"], a[1]["image"])


def test_nearer_limb_occludes_farther_one_whatever_the_drawing_order():
    f, c = np.array([200.0, 200.0]), np.array([31.5, 31.5])
    near = (np.array([-400.0, 0, 2000]), np.array([400.0, 0, 2000]), 60.0, (250, 0, 0))
    far = (np.array([0.0, -400, 3000]), np.array([0.0, 400, 3000]), 90.0, (0, 0, 250))
    light = np.array([0.0, 0.0, -1.0])
    for order in ((near, far), (far, near)):
        img = np.zeros((64, 64, 3), np.float32)
        depth = np.full((64, 64), np.inf, np.float32)
        for a, b, r, col in order:           # separate calls: the depth buffer decides
            draw_capsules(img, depth, a[None], b[None], np.array([r]), np.array([col]), f, c,
                          light, 0.3)
        centre = img[32, 32]
        assert centre[0] > 100 and centre[2] < 1, centre      # red, the nearer limb
        assert 1900 < depth[32, 32] < 2000
        assert img[10, 32, 2] > 100                           # blue above, unoccluded
    # Both at once in one call.
    img = np.zeros((64, 64, 3), np.float32)
    depth = np.full((64, 64), np.inf, np.float32)
    draw_capsules(img, depth, np.stack([far[0], near[0]]), np.stack([far[1], near[1]]),
                  np.array([90.0, 60.0]), np.array([far[3], near[3]]), f, c, light, 0.3)
    assert img[32, 32, 0] > 100 and img[32, 32, 2] < 1


def test_mirrored_image_matches_mirrored_pose_with_flip_permutation():
    size = 96
    rng = np.random.default_rng(3)
    cam = pinhole_camera(rotation_from_euler(0.7, 0.2), np.array([30.0, -20.0, 3200.0]),
                         180.0, size)
    pose = _poses(1, seed=5)[0]
    app = sample_appearance(rng, "lab")
    bg = np.zeros((size, size, 3), np.float32)
    r = render_pose(pose, 0, size, "lab", camera=cam, appearance=app, background=bg)
    perm = H36M17.flip_permutation()
    flipped_image = r.image[:, ::-1]
    flipped_label = r.joints_2d[perm].copy()
    flipped_label[:, 0] = size - 1 - flipped_label[:, 0]
    # The mirror of the 3D scene (x -> -x about the optical axis, left <-> right) ...
    mirrored = flip_pose(r.joints_3d.astype(np.float64))
    np.testing.assert_allclose(camera_to_pixels(mirrored, cam.f, cam.c), flipped_label,
                               atol=1e-3)
    # ... renders to the mirrored silhouette.
    img2, depth2 = render_camera_frame(mirrored, cam.f, cam.c, bg, app)
    agree = (np.isfinite(depth2) == r.mask[:, ::-1]).mean()
    assert agree > 0.998, agree
    assert r.mask.mean() > 0.08
    # The labels of the flipped image name the joints seen at those places: pixels under
    # the flipped limb joints are body pixels of the flipped image.
    limbs = [H36M17.index(j) for j in ("RKnee", "LKnee", "RElbow", "LElbow")]
    uv = np.round(flipped_label[limbs]).astype(int)
    assert (flipped_image[uv[:, 1], uv[:, 0]].sum(-1) > 0).all()


def test_left_and_right_clothes_differ():
    for style in ("lab", "wild"):
        for seed in range(5):
            c = sample_appearance(np.random.default_rng(seed), style).colors
            assert np.abs(c["left sleeve"] - c["right sleeve"]).sum() > 5
            assert np.abs(c["left thigh"] - c["right thigh"]).sum() > 5


def test_lab_background_is_near_uniform_and_wild_is_not():
    lab = [make_background(64, np.random.default_rng(s), "lab") for s in range(20)]
    wild = [make_background(64, np.random.default_rng(s), "wild") for s in range(20)]
    lab_std = np.array([b.std() for b in lab])
    wild_std = np.array([b.std() for b in wild])
    assert lab_std.max() < 6, lab_std
    assert np.median(wild_std) > 25, wild_std
    # Also in full renders: lab pixels off the body are close to their median.
    r = render_pose(STANDING, 1, 64, "lab")
    off = r.image[~r.mask].astype(float)
    assert np.abs(off - np.median(off, 0)).mean() < 6


@pytest.mark.parametrize("size", [64, 128])
def test_sizes(size):
    ds = SyntheticPoseDataset(_poses(2), "wild", size, seed=1)
    s = ds[0]
    assert s["image"].shape == (size, size, 3) and s["image"].dtype == np.uint8
    assert s["joints_2d"].shape == (17, 2) and s["joints_3d"].shape == (17, 3)
    assert s["visible"].dtype == bool and s["visible"].sum() >= 12
    r = SyntheticPoseDataset(_poses(2), "lab", size, seed=1).render(1)
    rows, cols = np.nonzero(r.mask)
    assert max(np.ptp(rows), np.ptp(cols)) > 0.5 * size      # the body fills the image
    assert r.visible.all()


def test_withheld_3d_and_prerender_resumes(tmp_path):
    ds = SyntheticPoseDataset(_poses(3), "wild", 64, seed=2, keep_3d=False, length=5)
    assert np.isnan(ds[0]["joints_3d"]).all() and not ds[0]["has_3d"]
    assert np.isfinite(ds[0]["joints_2d"]).all()

    class Interrupted(SyntheticPoseDataset):
        def __getitem__(self, i):
            if i == 3:
                raise KeyboardInterrupt
            return super().__getitem__(i)

    bad = Interrupted(_poses(3), "wild", 64, seed=2, keep_3d=False, length=5)
    with pytest.raises(KeyboardInterrupt):
        prerender(bad, tmp_path / "w.npz", chunk=2, progress=False)
    assert (tmp_path / "w.npz.parts" / "000000000.npz").exists()
    out = prerender(ds, tmp_path / "w.npz", chunk=2, progress=False)
    assert not (tmp_path / "w.npz.parts").exists()
    z = np.load(out)
    assert z["image"].shape == (5, 64, 64, 3) and z["image"].dtype == np.uint8
    assert z["joints_2d"].dtype == np.float32 and np.isnan(z["joints_3d"]).all()
    for i in range(5):
        np.testing.assert_array_equal(z["image"][i], ds[i]["image"])
    np.testing.assert_array_equal(z["pose_index"], [0, 1, 2, 0, 1])


def test_missing_data_folder_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere") as e:
        build_splits(missing)
    assert "\n" not in str(e.value)
    with pytest.raises(FileNotFoundError, match="cameras.h5"):
        build_splits(tmp_path)


def test_splits_from_human36m(h36m_dir):
    cmu = sorted((h36m_dir.parent / "cmu-mocap").glob("*.bvh"))[:1]
    splits = build_splits(h36m_dir, size=64, seed=0, stride=400, actions=("Walking",),
                          cmu=cmu or None, include_cmu=bool(cmu))
    lab, wild, test = splits["lab"], splits["wild"], splits["test"]
    assert (lab.style, wild.style, test.style) == ("lab", "wild", "wild")
    assert np.isfinite(lab[0]["joints_3d"]).all() and lab[0]["has_3d"]
    assert np.isnan(wild[0]["joints_3d"]).all() and not wild[0]["has_3d"]
    assert np.isfinite(wild[0]["joints_2d"]).all()
    assert np.isfinite(test[0]["joints_3d"]).all()
    assert len({lab.seed, wild.seed, test.seed}) == 3
