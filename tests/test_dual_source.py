"""The dual-source method (retrieval + reconstruction) on small libraries (its mocap sources:
test_sources).

The library tests use synthetic poses written here (no data needed); the few tests that read
Human3.6M files skip when the data is absent.  Expected values are facts of the set-up
(a library member seen from its own camera, hand-written rotations), never the code's output.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("faiss", reason="the dual-source method needs faiss-cpu")

from test_sources import STAND  # noqa: E402

from wildpose.metrics import mpjpe, p_mpjpe
from wildpose.methods.dual_source import (DualSourceLifter, LayoutMismatchError, build_index,
                                          load_index)
from wildpose.mocap.sources import MocapPoses
from wildpose.skeleton import H36M17, convert_layout

J = H36M17.index

LIMBS = [J(n) for n in ("RKnee", "RFoot", "LKnee", "LFoot", "LElbow", "LWrist", "RElbow",
                        "RWrist", "Neck/Nose", "Head")]


def synthetic_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 3) varied canonical-frame poses: the standing pose with limbs moved about."""
    rng = np.random.default_rng(seed)
    poses = np.repeat(STAND[None], n, 0)
    poses[:, LIMBS] += rng.normal(0, 120, (n, len(LIMBS), 3))
    return poses


def as_mocap(poses: np.ndarray) -> MocapPoses:
    n = len(poses)
    return MocapPoses(poses.astype(np.float32), np.arange(n, dtype=np.int32),
                      np.zeros(n, np.int32), [f"p{i}" for i in range(n)], np.ones(17, bool))


def ry(deg: float) -> np.ndarray:
    """Rotation by ``deg`` about y (right-hand rule), written out by hand."""
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rx(deg: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


AZIMUTHS = tuple(range(0, 360, 30))
ELEVATIONS = (0.0, 20.0)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    poses = synthetic_poses(150)
    path = build_index(as_mocap(poses), tmp_path_factory.mktemp("lib") / "index",
                       AZIMUTHS, ELEVATIONS, jitter=False, progress=False)
    return poses, load_index(path)


def entry_of(lib, pose_index: int, az: float, el: float) -> int:
    """The library entry for a pose and a grid camera, found from the stored metadata."""
    cam = np.asarray(lib.entry_camera)
    hit = np.flatnonzero((np.asarray(lib.entry_pose) == pose_index)
                         & np.isclose(cam[:, 0], np.deg2rad(az), atol=1e-5)
                         & np.isclose(cam[:, 1], np.deg2rad(el), atol=1e-5))
    assert len(hit) == 1
    return int(hit[0])


def view(pose: np.ndarray, rot: np.ndarray, scale: float = 0.4,
         centre=(480.0, 300.0)) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame pose and its weak-perspective pixels (x right, y down)."""
    cam = pose @ rot.T
    return cam, cam[:, :2] * scale + np.asarray(centre)


# ---------------------------------------------------------------------------- retrieval
def test_library_files_are_memory_mapped(library):
    _, lib = library
    assert len(lib) == 150 * len(AZIMUTHS) * len(ELEVATIONS)
    assert lib.meta["index_type"] == "flat"
    for arr in (lib.features, lib.poses_3d, lib.entry_pose, lib.entry_camera):
        assert isinstance(arr, np.memmap)


@pytest.mark.parametrize("pose_index, az, el", [(7, 90.0, 0.0), (42, 210.0, 20.0)])
def test_exact_member_is_retrieved_from_its_own_projection(library, pose_index, az, el):
    poses, lib = library
    _, px = view(poses[pose_index], rx(el) @ ry(az))
    ids, dist = lib.search(px[None], k=3)
    assert ids[0, 0] == entry_of(lib, pose_index, az, el)
    assert dist[0, 0] < 1e-9
    assert dist[0, 1] > 1e-4


def test_masked_joints_do_not_change_retrieval_of_an_exact_member(library):
    poses, lib = library
    _, px = view(poses[42], rx(20.0) @ ry(210.0))
    target = entry_of(lib, 42, 210.0, 20.0)
    masked = px.copy()
    masked[[J("LWrist"), J("RFoot"), J("Head")]] = np.nan
    ids, dist = lib.search(masked[None], k=3)
    assert ids[0, 0] == target and dist[0, 0] < 1e-9
    valid = np.ones((1, 17), bool)
    valid[0, [J("Hip"), J("RElbow")]] = False          # even without the root
    ids, dist = lib.search(px[None], valid=valid, k=3)
    assert ids[0, 0] == target and dist[0, 0] < 1e-9
    # Stacked-hourglass layout (MPII16 has no Neck/Nose).
    sh, _ = convert_layout(px[None], "h36m17", "mpii16")
    ids, dist = lib.search(sh, layout="mpii16", k=3)
    assert ids[0, 0] == target and dist[0, 0] < 1e-9


# ----------------------------------------------------------------------- reconstruction
def test_reconstruction_recovers_a_pose_seen_from_a_known_camera(library):
    poses, lib = library
    rot = rx(20.0) @ ry(90.0)
    cam, px = view(poses[7], rot)
    lifter = DualSourceLifter(lib)
    out = lifter.lift(px[None])
    assert out.shape == (1, 17, 3) and out.dtype == np.float32
    assert p_mpjpe(out, cam[None])[0] < 15.0
    # Camera frame and scale too: without any alignment the error stays small.
    assert mpjpe(out, cam[None])[0] < 30.0
    # A nearest-neighbour-only lifter returns the member itself.
    near = DualSourceLifter(lib, mode="nearest").lift(px)
    np.testing.assert_allclose(near, cam, atol=0.05)


def test_reconstruction_with_masked_joints_and_other_layouts(library):
    poses, lib = library
    cam, px = view(poses[42], rx(20.0) @ ry(210.0))
    lifter = DualSourceLifter(lib)
    sh, _ = convert_layout(px[None], "h36m17", "mpii16")
    out = lifter.lift(sh, layout="mpii16")
    assert p_mpjpe(out, cam[None])[0] < 25.0


def perspective_view(pose: np.ndarray, rot: np.ndarray, trans, f=1000.0, c=(500.0, 500.0)):
    """Camera-frame pose (root-relative), its root position and its pinhole pixels."""
    cam = pose @ rot.T + np.asarray(trans, float)
    px = f * cam[:, :2] / cam[:, 2:] + np.asarray(c)
    return cam - cam[:1], cam[0], px


def test_perspective_fit_recovers_pose_and_root_translation(library):
    _, lib = library
    member = np.asarray(lib.poses_3d[11], float)      # as stored: the library's own scale
    rot = rx(20.0) @ ry(60.0)
    truth, root, px = perspective_view(member, rot, (150.0, -80.0, 2600.0))
    lifter = DualSourceLifter(lib)
    res = lifter.lift_detailed(px[None], intrinsics={"f": [1000.0, 1000.0],
                                                      "c": [500.0, 500.0]})
    assert mpjpe(res.pose, truth[None])[0] < 20.0
    # The depth of a known-size body 2.6 m away, to within 3 %, and its sideways offset.
    np.testing.assert_allclose(res.root_translation[0], root, rtol=0.03, atol=20.0)
    # Weak perspective cannot explain a body this close as well as the pinhole model.
    weak = lifter.lift(px)
    assert mpjpe(res.pose, truth[None])[0] < mpjpe(weak[None], truth[None])[0]
    # Shared (2,) intrinsics, per-pose (N, 2) intrinsics and a Camera-like dict agree.
    per_pose = lifter.lift(np.stack([px, px]), intrinsics={"f": np.full((2, 2), 1000.0),
                                                            "c": np.full((2, 2), 500.0)})
    np.testing.assert_allclose(per_pose[0], res.pose[0], atol=1e-3)
    with pytest.raises(ValueError, match="'f'"):
        lifter.lift(px, intrinsics={"c": [500.0, 500.0]})
    with pytest.raises(ValueError, match="positive"):
        lifter.lift(px, intrinsics={"f": [-1.0, 1000.0], "c": [500.0, 500.0]})


class _FixedLifter:
    """A stand-in learned lifter that answers a given pose (root-relative, mm)."""

    def __init__(self, pose):
        self.pose = np.asarray(pose, float)

    def lift(self, keypoints, layout="h36m17", valid=None):
        return np.repeat(self.pose[None], len(keypoints), 0)


def test_learned_lifter_as_initialization(library):
    poses, lib = library
    # A pose that is not in the library: the retrieval alone cannot reach it exactly.
    outsider = synthetic_poses(1, seed=99)[0]
    outsider *= float(np.linalg.norm(np.asarray(lib.poses_3d[0])[1:] - 0, axis=-1).mean()
                      / np.linalg.norm(outsider[1:], axis=-1).mean())
    rot = rx(15.0) @ ry(120.0)
    cam, px = view(outsider, rot)
    alone = DualSourceLifter(lib).lift(px)
    # An oracle initialization kept as the whole prior reproduces the truth ...
    oracle = DualSourceLifter(lib, init=_FixedLifter(cam), init_weight=1.0).lift(px)
    assert p_mpjpe(oracle[None], cam[None])[0] < 1.0
    assert p_mpjpe(oracle[None], cam[None])[0] < p_mpjpe(alone[None], cam[None])[0]
    # ... and weight 0 ignores the initialization: the retrieval-only answer.
    ignored = DualSourceLifter(lib, init=_FixedLifter(-cam), init_weight=0.0).lift(px)
    np.testing.assert_allclose(ignored, alone, atol=1.0)
    with pytest.raises(ValueError, match="init"):
        DualSourceLifter(lib, init=object())


def test_too_few_visible_joints_gives_nan_rows_and_a_message(library):
    poses, lib = library
    _, good = view(poses[7], ry(90.0))
    bad = good.copy()
    bad[4:] = np.nan                                   # 4 visible joints
    lifter = DualSourceLifter(lib, min_valid_joints=6)
    with pytest.warns(UserWarning, match=r"1 pose\(s\) have fewer than 6 visible joints.*"
                                         r"rows \[1\]"):
        out = lifter.lift(np.stack([good, bad, good]))
    assert np.isnan(out[1]).all()
    assert np.isfinite(out[[0, 2]]).all()


def test_index_for_another_layout_is_rejected(tmp_path):
    path = build_index(as_mocap(synthetic_poses(20)), tmp_path / "sh-index", (0, 90, 180, 270),
                       (0,), layout="mpii16", progress=False)
    with pytest.raises(LayoutMismatchError, match=r"built for joint layout mpii16 but h36m17"):
        load_index(path, layout="h36m17")
    with pytest.raises(LayoutMismatchError, match="mpii16"):
        DualSourceLifter(path, layout="h36m17")
    # Used as what it is, it lifts H36M17 inputs (converted to its layout).
    lib = load_index(path, layout="mpii16")
    assert lib.features.shape[1] == 32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = DualSourceLifter(lib).lift(view(STAND, ry(90.0))[1])
    assert out.shape == (17, 3) and np.isfinite(out).all()


def test_not_a_library_and_existing_output(tmp_path, library):
    with pytest.raises(FileNotFoundError, match="not a wildpose dual-source library"):
        load_index(tmp_path)
    with pytest.raises(FileExistsError):
        build_index(as_mocap(synthetic_poses(5)), library[1].root, progress=False)


def test_approximate_index_finds_the_same_exact_member(tmp_path):
    poses = synthetic_poses(400, seed=3)
    path = build_index(as_mocap(poses), tmp_path / "ivf", AZIMUTHS, ELEVATIONS,
                       index_type="ivf", jitter=False, progress=False)
    lib = load_index(path)
    assert lib.meta["index_type"] == "ivf"
    _, px = view(poses[11], rx(20.0) @ ry(300.0))
    ids, dist = lib.search(px[None], k=2)
    assert ids[0, 0] == entry_of(lib, 11, 300.0, 20.0) and dist[0, 0] < 1e-9


def test_evaluate_h36m_accepts_the_lifter(library, h36m_dir):
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import evaluate_h36m

    data = load_h36m(h36m_dir, subjects=(9,), actions=("Directions",), stride=100,
                     load_sh=False)
    res = evaluate_h36m(DualSourceLifter(library[1]), inputs="gt", data=data)
    assert res["num_samples"] == len(data) and np.isfinite(res["P2"])
    assert res["model"].startswith("dual-source")


def test_perspective_evaluation_uses_each_samples_own_camera(library, h36m_dir):
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import evaluate_h36m, h36m_intrinsics

    data = load_h36m(h36m_dir, subjects=(9,), actions=("Directions",), stride=100,
                     load_sh=False)
    intr = h36m_intrinsics(data)
    for row in (0, len(data) - 1):
        cam = data.cameras[(int(data.subject[row]), int(data.camera[row]))]
        np.testing.assert_array_equal(intr["f"][row], np.ravel(cam.f))
        np.testing.assert_array_equal(intr["k"][row], np.ravel(cam.k))
    res = evaluate_h36m(DualSourceLifter(library[1], perspective=True), inputs="gt", data=data)
    assert res["num_samples"] == len(data) and np.isfinite(res["P2"])
