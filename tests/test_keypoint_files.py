"""Tests for wildpose.datasets.keypoint_files: every format, validity rules and errors."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from conftest import find_data_root

from wildpose.datasets.keypoint_files import KeypointSet, read_keypoints
from wildpose.skeleton import COCO17, H36M17, MPII16

DATA = find_data_root()


def _poses(n: int, j: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(10, 600, size=(n, j, 2)).astype(np.float32)


# ----------------------------------------------------------------------------- .npy
def test_npy_n_j_2(tmp_path):
    kp = _poses(3, 17)
    p = tmp_path / "people.npy"
    np.save(p, kp)
    ks = read_keypoints(p)
    assert isinstance(ks, KeypointSet)
    assert ks.keypoints.shape == (3, 17, 2) and ks.keypoints.dtype == np.float32
    np.testing.assert_array_equal(ks.keypoints, kp)
    assert ks.valid.all() and ks.valid.dtype == bool
    np.testing.assert_array_equal(ks.confidence, np.ones((3, 17), np.float32))
    assert ks.layout is H36M17                      # 17 joints default to h36m17
    assert ks.ids == ["people#0", "people#1", "people#2"]
    assert ks.source == str(p) and ks.skipped == [] and len(ks) == 3


def test_npy_17_joints_layout_argument(tmp_path):
    p = tmp_path / "c.npy"
    np.save(p, _poses(1, 17))
    assert read_keypoints(p, layout="coco17").layout is COCO17
    assert read_keypoints(p, layout="COCO").layout is COCO17   # alias, case-insensitive


def test_npy_n_j_3_confidence(tmp_path):
    kp = _poses(2, 16)
    conf = np.array([[0.5] * 16, [0.9] * 15 + [0.0]], np.float32)
    p = tmp_path / "sh.npy"
    np.save(p, np.concatenate([kp, conf[..., None]], -1))
    ks = read_keypoints(p)
    assert ks.layout is MPII16
    np.testing.assert_array_equal(ks.keypoints[0], kp[0])
    np.testing.assert_allclose(ks.confidence[0], 0.5)
    np.testing.assert_allclose(ks.confidence[1, :15], 0.9)
    # confidence 0 -> invalid, coordinates zeroed
    assert not ks.valid[1, 15] and ks.valid[1, :15].all() and ks.valid[0].all()
    np.testing.assert_array_equal(ks.keypoints[1, 15], [0, 0])


def test_npy_single_pose_j_2(tmp_path):
    kp = _poses(1, 17)[0]
    p = tmp_path / "one.npy"
    np.save(p, kp)
    ks = read_keypoints(p)
    assert ks.keypoints.shape == (1, 17, 2)
    np.testing.assert_array_equal(ks.keypoints[0], kp)


def test_npy_flat_rows_interleaved(tmp_path):
    # (N, 2J): x0, y0, x1, y1, ... as in the wild/*.npy files
    row = np.arange(34, dtype=np.float32)
    p = tmp_path / "flat.npy"
    np.save(p, row[None])
    ks = read_keypoints(p)
    assert ks.keypoints.shape == (1, 17, 2)
    np.testing.assert_array_equal(ks.keypoints[0, 0], [0, 1])
    np.testing.assert_array_equal(ks.keypoints[0, 16], [32, 33])


def test_npy_flat_rows_with_confidence(tmp_path):
    # (N, 3J): x, y, c per joint
    a = np.zeros((2, 48), np.float32)
    a[:, 0::3], a[:, 1::3], a[:, 2::3] = 7.0, 8.0, 0.25
    p = tmp_path / "flat3.npy"
    np.save(p, a)
    ks = read_keypoints(p)
    assert ks.layout is MPII16 and ks.keypoints.shape == (2, 16, 2)
    np.testing.assert_array_equal(ks.keypoints[..., 0], 7.0)
    np.testing.assert_array_equal(ks.keypoints[..., 1], 8.0)
    np.testing.assert_allclose(ks.confidence, 0.25)


def test_npy_nan_coordinates_are_invalid(tmp_path):
    kp = _poses(1, 17).astype(np.float64)
    kp[0, 3, 0] = np.nan
    kp[0, 5] = np.inf
    p = tmp_path / "nan.npy"
    np.save(p, kp)
    ks = read_keypoints(p)
    assert not ks.valid[0, 3] and not ks.valid[0, 5]
    assert ks.valid[0].sum() == 15
    assert np.isfinite(ks.keypoints).all()
    assert ks.confidence[0, 3] == 0 and ks.confidence[0, 0] == 1


def test_npy_integer_dtype(tmp_path):
    p = tmp_path / "int.npy"
    np.save(p, np.full((1, 16, 2), 12, np.int16))
    ks = read_keypoints(p)
    assert ks.keypoints.dtype == np.float32
    np.testing.assert_array_equal(ks.keypoints, 12.0)


# ----------------------------------------------------------------------------- .npz
def test_npz_with_layout_and_ids(tmp_path):
    kp = _poses(2, 17, seed=3)
    p = tmp_path / "pack.npz"
    np.savez(p, keypoints=kp, layout=np.array("coco17"), ids=np.array(["a", "b"]))
    ks = read_keypoints(p)
    assert ks.layout is COCO17 and ks.ids == ["a", "b"]
    np.testing.assert_array_equal(ks.keypoints, kp)


def test_npz_only_array_is_used(tmp_path):
    kp = _poses(1, 16)
    p = tmp_path / "only.npz"
    np.savez(p, poses=kp)
    ks = read_keypoints(p)
    assert ks.layout is MPII16 and ks.ids == ["only#0"]
    np.testing.assert_array_equal(ks.keypoints, kp)


def test_npz_confidence_entry(tmp_path):
    kp = _poses(1, 17)
    conf = np.linspace(0.1, 1.0, 17, dtype=np.float32)[None]
    p = tmp_path / "conf.npz"
    np.savez(p, keypoints=kp, confidence=conf)
    np.testing.assert_allclose(read_keypoints(p).confidence, conf)


def test_npz_layout_conflict_and_unknown(tmp_path):
    p = tmp_path / "c.npz"
    np.savez(p, keypoints=_poses(1, 17), layout=np.array("coco17"))
    with pytest.raises(ValueError, match="c.npz.*coco17"):
        read_keypoints(p, layout="h36m17")
    q = tmp_path / "u.npz"
    np.savez(q, keypoints=_poses(1, 17), layout=np.array("openpose25"))
    with pytest.raises(ValueError, match=r"u\.npz.*openpose25.*known: h36m17"):
        read_keypoints(q)


def test_npz_several_arrays_without_keypoints(tmp_path):
    p = tmp_path / "two.npz"
    np.savez(p, a=_poses(1, 17), b=_poses(1, 17))
    with pytest.raises(ValueError, match=r"two\.npz.*'keypoints'"):
        read_keypoints(p)


# ----------------------------------------------------------------------------- COCO json
def _coco_kps(points: dict[int, tuple[float, float, int]]) -> list[float]:
    """51 numbers; joints not in ``points`` are (0, 0, 0)."""
    out: list[float] = []
    for j in range(17):
        out += list(points.get(j, (0, 0, 0)))
    return out


@pytest.fixture
def coco_file(tmp_path):
    # person 1: all joints labelled except left_eye (1) and right_wrist (10)
    pts1 = {j: (100.0 + j, 200.0 + 2 * j, 2) for j in range(17) if j not in (1, 10)}
    pts1[3] = (103.0, 206.0, 1)            # labelled but occluded: still valid
    # person 2: only hips and shoulders
    pts2 = {5: (10, 20, 2), 6: (30, 20, 2), 11: (12, 60, 2), 12: (28, 64, 2)}
    doc = {
        "images": [{"id": 7, "file_name": "000007.jpg"}, {"id": 8, "file_name": "000008.jpg"}],
        "annotations": [
            {"id": 1, "image_id": 7, "num_keypoints": 15, "keypoints": _coco_kps(pts1)},
            {"id": 2, "image_id": 7, "num_keypoints": 0, "keypoints": _coco_kps({})},
            {"id": 3, "image_id": 8, "num_keypoints": 4, "keypoints": _coco_kps(pts2)},
            {"id": 4, "image_id": 8, "num_keypoints": 3, "keypoints": [1, 2, 2]},
            {"id": 5, "image_id": 8, "num_keypoints": 17, "keypoints": ["x"] * 51},
            {"id": 6, "image_id": 8, "keypoints": _coco_kps({})},     # all v = 0
        ],
        "categories": [{"id": 1, "name": "person"}],
    }
    p = tmp_path / "coco.json"
    p.write_text(json.dumps(doc))
    return p


def test_coco_values_validity_and_skips(coco_file):
    ks = read_keypoints(coco_file)
    assert ks.layout is COCO17
    assert len(ks) == 2
    assert ks.ids == ["image 7 / ann 1", "image 8 / ann 3"]
    assert ks.image_files == ["000007.jpg", "000008.jpg"]
    # values as written
    np.testing.assert_array_equal(ks.keypoints[0, 0], [100, 200])
    np.testing.assert_array_equal(ks.keypoints[0, 16], [116, 232])
    np.testing.assert_array_equal(ks.keypoints[1, 12], [28, 64])
    # v = 0 -> invalid; v = 1 and v = 2 -> valid with confidence 1
    assert not ks.valid[0, 1] and not ks.valid[0, 10]
    assert ks.valid[0].sum() == 15 and ks.valid[0, 3]
    assert ks.confidence[0, 3] == 1.0 and ks.confidence[0, 1] == 0.0
    assert ks.valid[1].sum() == 4
    # skipped: num_keypoints 0, wrong length, non-numeric, all v = 0 -- each with a reason
    assert len(ks.skipped) == 4
    text = "\n".join(ks.skipped)
    assert "ann 2" in text and "num_keypoints 0" in text
    assert "ann 4" in text and "3 keypoint numbers" in text
    assert "ann 5" in text and "non-numeric" in text
    assert "ann 6" in text and "v is 0" in text


def test_coco_to_h36m17_hip_is_midpoint(coco_file):
    ks = read_keypoints(coco_file)
    h = ks.to_layout("h36m17")
    assert h.layout is H36M17 and h.keypoints.shape == (2, 17, 2)
    # person 2: left_hip (12, 60), right_hip (28, 64) -> Hip (20, 62)
    np.testing.assert_allclose(h.keypoints[1, H36M17.index("Hip")], [20.0, 62.0])
    # Thorax = mid shoulders (10, 20), (30, 20) -> (20, 20)
    np.testing.assert_allclose(h.keypoints[1, H36M17.index("Thorax")], [20.0, 20.0])
    assert h.valid[1, H36M17.index("Hip")] and h.confidence[1, H36M17.index("Hip")] == 1.0
    # person 2 has no knees: RKnee invalid, confidence 0
    assert not h.valid[1, H36M17.index("RKnee")] and h.confidence[1, H36M17.index("RKnee")] == 0
    # person 1: right_wrist missing -> RWrist invalid; Hip = mid of joints 11 and 12
    assert not h.valid[0, H36M17.index("RWrist")]
    np.testing.assert_allclose(h.keypoints[0, 0], [(111 + 112) / 2, (222 + 224) / 2])
    assert h.ids == ks.ids and h.skipped == ks.skipped


def test_to_layout_confidence_is_min_of_sources(tmp_path):
    a = np.zeros((1, 17, 3), np.float32)
    a[..., :2] = 50.0
    a[..., 2] = 1.0
    a[0, COCO17.index("left_hip"), 2] = 0.3
    a[0, COCO17.index("right_hip"), 2] = 0.8
    p = tmp_path / "scored.npy"
    np.save(p, a)
    h = read_keypoints(p, layout="coco17").to_layout("h36m17")
    assert h.confidence[0, H36M17.index("Hip")] == pytest.approx(0.3)
    assert h.confidence[0, H36M17.index("RHip")] == pytest.approx(0.8)
    assert h.confidence[0, H36M17.index("Spine")] == pytest.approx(0.3)
    assert h.confidence[0, H36M17.index("Thorax")] == pytest.approx(1.0)


def test_coco_annotation_list_and_scores(tmp_path):
    anns = [{"image_id": 5, "category_id": 1, "score": 0.9,
             "keypoints": _coco_kps({j: (float(j), 1.0, 0.5) for j in range(17)})}]
    p = tmp_path / "results.json"
    p.write_text(json.dumps(anns))
    ks = read_keypoints(p)
    assert ks.ids == ["image 5 / ann #0"] and ks.valid.all()
    np.testing.assert_allclose(ks.confidence, 0.5)
    assert ks.image_files == [None]


def test_coco_no_persons(tmp_path):
    p = tmp_path / "empty.json"
    p.write_text(json.dumps({"images": [], "annotations": [
        {"id": 9, "image_id": 1, "num_keypoints": 0, "keypoints": _coco_kps({})}]}))
    with pytest.raises(ValueError, match=r"empty\.json.*no person") as e:
        read_keypoints(p)
    assert "\n" not in str(e.value)
    q = tmp_path / "none.json"
    q.write_text(json.dumps({"annotations": []}))
    with pytest.raises(ValueError, match=r"none\.json.*no person"):
        read_keypoints(q)


def test_coco_wrong_layout_argument(coco_file):
    with pytest.raises(ValueError, match=r"coco\.json.*coco17"):
        read_keypoints(coco_file, layout="h36m17")


# ----------------------------------------------------------------------------- wildpose json
def test_wildpose_json(tmp_path):
    kp = _poses(2, 17, seed=5).astype(float).round(2)
    lst = kp.tolist()
    lst[1][4] = [None, None]
    p = tmp_path / "wp.json"
    p.write_text(json.dumps({"layout": "coco17", "keypoints": lst, "ids": ["x", "y"]}))
    ks = read_keypoints(p)
    assert ks.layout is COCO17 and ks.ids == ["x", "y"]
    np.testing.assert_allclose(ks.keypoints[0], kp[0], rtol=1e-6)
    assert not ks.valid[1, 4] and ks.valid.sum() == 33


def test_wildpose_json_default_layout(tmp_path):
    p = tmp_path / "wp16.json"
    p.write_text(json.dumps({"keypoints": _poses(1, 16).tolist()}))
    assert read_keypoints(p).layout is MPII16


def test_wildpose_json_unknown_layout(tmp_path):
    p = tmp_path / "bad_layout.json"
    p.write_text(json.dumps({"layout": "body25", "keypoints": _poses(1, 17).tolist()}))
    with pytest.raises(ValueError) as e:
        read_keypoints(p)
    msg = str(e.value)
    assert "bad_layout.json" in msg and "body25" in msg
    assert "h36m17" in msg and "coco17" in msg and "mpii16" in msg


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("shape", [(1, 18, 2), (17, 4), (2, 35), (3, 17, 2, 1), (40,)])
def test_wrong_shape_names_file_and_shapes(tmp_path, shape):
    p = tmp_path / "badshape.npy"
    np.save(p, np.zeros(shape, np.float32))
    with pytest.raises(ValueError) as e:
        read_keypoints(p)
    msg = str(e.value)
    assert "badshape.npy" in msg and str(shape) in msg and "(N, J, 2)" in msg
    assert "\n" not in msg


def test_shape_must_match_given_layout(tmp_path):
    p = tmp_path / "sixteen.npy"
    np.save(p, _poses(1, 16))
    with pytest.raises(ValueError, match=r"sixteen\.npy.*\(1, 16, 2\)"):
        read_keypoints(p, layout="h36m17")


def test_unknown_extension(tmp_path):
    p = tmp_path / "keypoints.csv"
    p.write_text("1,2\n")
    with pytest.raises(ValueError, match=r"keypoints\.csv.*extension.*\.npy"):
        read_keypoints(p)


def test_missing_file(tmp_path):
    p = tmp_path / "nothere.npy"
    with pytest.raises(FileNotFoundError, match="nothere.npy"):
        read_keypoints(p)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
def test_a_pipe_is_refused_without_reading_it(tmp_path):
    """Opening a FIFO with no writer blocks forever; it is refused before it is opened."""
    p = tmp_path / "pipe.npy"
    os.mkfifo(p)
    with pytest.raises(ValueError, match=r"pipe\.npy: is not a regular file") as exc:
        read_keypoints(p)
    assert "\n" not in str(exc.value)


def test_unknown_layout_argument(tmp_path):
    p = tmp_path / "k.npy"
    np.save(p, _poses(1, 17))
    with pytest.raises(ValueError, match=r"k\.npy.*'smpl24'.*known: h36m17, mpii16, coco17"):
        read_keypoints(p, layout="smpl24")


@pytest.mark.parametrize("content", [b"", b"not a numpy file at all\n\nreally",
                                     b"\x93NUMPY\x01\x00\x76\x00{'descr': '<f4', 'fortran_order'"])
def test_corrupt_npy_one_line_error(tmp_path, content):
    p = tmp_path / "corrupt.npy"
    p.write_bytes(content)
    with pytest.raises(ValueError) as e:
        read_keypoints(p)
    msg = str(e.value)
    assert "corrupt.npy" in msg and "\n" not in msg


def test_truncated_npy(tmp_path):
    p = tmp_path / "trunc.npy"
    np.save(p, _poses(10, 17))
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"trunc\.npy") as e:
        read_keypoints(p)
    assert "\n" not in str(e.value)


def test_corrupt_npz_and_json(tmp_path):
    z = tmp_path / "bad.npz"
    z.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(ValueError, match=r"bad\.npz"):
        read_keypoints(z)
    j = tmp_path / "bad.json"
    j.write_text('{"annotations": [1, 2,')
    with pytest.raises(ValueError, match=r"bad\.json.*not valid JSON"):
        read_keypoints(j)
    o = tmp_path / "obj.json"
    o.write_text('{"persons": []}')
    with pytest.raises(ValueError, match=r"obj\.json.*'annotations'"):
        read_keypoints(o)


def test_object_array_npy_is_rejected(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"obj\.npy"):
        read_keypoints(p)


# ----------------------------------------------------------------------------- shared data
def test_wild_running_npy():
    path = DATA / "wild" / "running.npy"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path} (set WILDPOSE_DATA)")
    ks = read_keypoints(path)
    assert ks.keypoints.shape == (1, 17, 2)
    assert ks.layout is H36M17 and ks.valid.all() and ks.ids == ["running#0"]
    raw = np.load(path).reshape(1, 17, 2)
    np.testing.assert_array_equal(ks.keypoints, raw)


def test_coco_mini_annotations():
    path = DATA / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    if not path.is_file():
        pytest.skip(f"shared data not found at {path} (set WILDPOSE_DATA)")
    ks = read_keypoints(path)
    assert len(ks) + len(ks.skipped) == 93      # README: 93 annotations
    assert len(ks) > 0 and ks.valid.any(1).all()
    assert all(f is not None and f.endswith(".jpg") for f in ks.image_files)
