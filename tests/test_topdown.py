"""The top-down detector (the accuracy option): NanoDet-g person boxes (pre-processing,
decoding, NMS, mapping back) and MultiPose's, and MoveNet Thunder on a crop of each box."""

from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT, sure_joints_in_box
from wildpose.crop import crop_window
from wildpose.detectors import MoveNetDetector, TopDownDetector, make_detector
from wildpose.detectors.base import (Detection, box_iou, confident_person,
                                     front_labels_on_back_view, onnx_options)
from wildpose.detectors.movenet import thunder_keypoints
from wildpose.detectors.nanodet import (INPUT_SIZE, MEAN_BGR, REG_MAX, STD_BGR, STRIDES,
                                        decode_person_boxes, fit_square,
                                        nanodet_input, nms, to_image_boxes)
from wildpose.detectors.topdown import _relabel_back_view, union_boxes, whole_image_box
from wildpose.predict import read_image
from wildpose.skeleton import COCO17

EXAMPLE = REPO_ROOT / "examples" / "motorcyclist.jpg"
BINS = REG_MAX + 1


@pytest.fixture(scope="module")
def detector() -> TopDownDetector:
    return TopDownDetector()


def test_shipped_file_matches_the_manifest_and_the_notice():
    spec = importlib.util.spec_from_file_location(
        "build_person_detector", REPO_ROOT / "tools" / "build_person_detector.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)           # standard library only at import time
    notice = (REPO_ROOT / "NOTICE").read_text()
    assert set(script.MODELS.values()) == set(script.OUTPUT_SHA256) == {"nanodet-g.onnx"}
    for name, digest in script.OUTPUT_SHA256.items():
        path = REPO_ROOT / "src" / "wildpose" / "weights" / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert f"File:      src/wildpose/weights/{name}\nsha256:    {digest}" in notice
    assert "RangiLyu" in notice


def test_fit_square_by_hand():
    # 640 x 480 into 416: ratio 0.65, the 312 px tall content centred: 52 px above and below
    ratio, ox, oy = fit_square(480, 640)
    assert (ratio, ox, oy) == pytest.approx((0.65, 0.0, 52.0))
    ratio, ox, oy = fit_square(832, 416)        # tall: ratio 0.5, 104 px left and right
    assert (ratio, ox, oy) == pytest.approx((0.5, 104.0, 0.0))


def test_input_is_bgr_normalized_and_centred():
    rgb = (200, 100, 50)
    img = np.zeros((480, 640, 3), np.uint8)
    img[:] = rgb
    x, fit = nanodet_input(img)
    assert x.shape == (1, 3, INPUT_SIZE, INPUT_SIZE) and x.dtype == np.float32
    want = (np.array(rgb[::-1]) - MEAN_BGR) / STD_BGR     # BGR order
    np.testing.assert_allclose(x[0, :, 208, 208], want, rtol=1e-5)
    border = -np.asarray(MEAN_BGR) / STD_BGR             # zero pixels, normalized
    np.testing.assert_allclose(x[0, :, 10, 208], border, rtol=1e-5)   # above the content
    np.testing.assert_allclose(x[0, :, 400, 208], border, rtol=1e-5)  # below it
    np.testing.assert_allclose(x[0, :, 60, 208], want, rtol=1e-5)     # content: rows 52..363


def test_a_bright_pixel_lands_where_the_fit_says():
    img = np.zeros((480, 640, 3), np.uint8)
    img[200:206, 300:306] = 255                          # centre (302.5, 202.5)
    x, (ratio, ox, oy) = nanodet_input(img)
    brightness = x[0, 0] - x[0, 0].min()
    cy, cx = np.unravel_index(np.argmax(brightness), brightness.shape)
    assert cx == pytest.approx(302.5 * ratio + ox, abs=1.5)
    assert cy == pytest.approx(202.5 * ratio + oy, abs=1.5)


def peaked(bins_per_side: list[int]) -> np.ndarray:
    """44 logits whose softmax puts (almost) all mass on one bin per side."""
    logits = np.full((4, BINS), -50.0)
    for side, b in enumerate(bins_per_side):
        logits[side, b] = 50.0
    return logits.reshape(-1)


def empty_levels() -> tuple[list[np.ndarray], list[np.ndarray]]:
    scores = [np.zeros(((INPUT_SIZE // s) ** 2, 80)) for s in STRIDES]
    dists = [np.zeros(((INPUT_SIZE // s) ** 2, 4 * BINS)) for s in STRIDES]
    return scores, dists


def test_decoding_by_hand():
    scores, dists = empty_levels()
    n8 = INPUT_SIZE // 8                                 # 52 columns at stride 8
    i = 2 * n8 + 3                                       # row 2, column 3: centre (28, 20)
    scores[0][i, 0] = 0.9
    dists[0][i] = peaked([2, 1, 3, 4])                   # l, t, r, b in strides
    scores[0][i + 1, 5] = 0.95                           # a bus: not a person
    scores[0][i + 2, 0] = 0.1                            # below the threshold
    n32 = INPUT_SIZE // 32
    j = 1 * n32 + 1                                      # stride 32, centre (48, 48)
    scores[2][j, 0] = 0.5                                # uniform bins: 5 strides each side
    boxes, s = decode_person_boxes(scores, dists, min_score=0.2)
    np.testing.assert_allclose(s, [0.9, 0.5])
    np.testing.assert_allclose(boxes[0], [28 - 16, 20 - 8, 28 + 24, 20 + 32], atol=1e-6)
    np.testing.assert_allclose(boxes[1], [0, 0, 48 + 160, 48 + 160], atol=1e-6)  # clipped


def test_iou_and_nms_by_hand():
    assert box_iou(np.array([0, 0, 2, 2]), np.array([[1, 1, 3, 3]]))[0] == pytest.approx(1 / 7)
    assert box_iou(np.array([0, 0, 2, 2]), np.array([[5, 5, 6, 6]]))[0] == 0
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 20.0]])
    scores = np.array([0.5, 0.9, 0.3, 0.4])
    # box 1 wins over 0 (IoU 0.82) and box 3 (IoU 0.43 > 0.4); box 2 is apart
    assert nms(boxes, scores, iou=0.4).tolist() == [1, 2]
    assert nms(boxes, scores, iou=0.5).tolist() == [1, 3, 2]
    assert nms(boxes, scores, iou=0.5, max_boxes=2).tolist() == [1, 3]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_boxes_map_back_to_the_image():
    h, w = 480, 640
    fit = fit_square(h, w)
    ratio, ox, oy = fit
    edges = np.array([[100.0, 50.0, 300.0, 400.0]])     # COCO-style edges in the image
    input_boxes = edges * ratio + np.array([ox, oy, ox, oy])
    np.testing.assert_allclose(to_image_boxes(input_boxes, fit, h, w), edges - 0.5)
    whole = to_image_boxes(np.array([[0, 0, INPUT_SIZE, INPUT_SIZE]]), fit, h, w)
    np.testing.assert_allclose(whole, [[-0.5, -0.5, w - 0.5, h - 0.5]])


def test_union_adds_only_boxes_nobody_overlaps():
    boxes, scores = np.array([[0, 0, 10, 10.0]]), np.array([0.8])
    extra = np.array([[1, 0, 11, 10], [50, 50, 60, 60.0]])
    b, s = union_boxes(boxes, scores, extra, np.array([0.6, 0.3]))
    np.testing.assert_allclose(b, [[0, 0, 10, 10], [50, 50, 60, 60]])
    np.testing.assert_allclose(s, [0.8, 0.3])
    b, s = union_boxes(np.zeros((0, 4)), np.zeros(0), extra, np.array([0.6, 0.3]))
    assert len(b) == 2


class FakeThunder:
    """Stands in for the Thunder session: records the crop, returns fixed crop positions."""

    def __init__(self, yx: list[tuple[float, float]]):
        self.out = np.zeros((1, 1, 17, 3), np.float32)
        self.out[0, 0, :len(yx), :2] = yx
        self.out[0, 0, :, 2] = 0.9
        self.crop = None

    def get_inputs(self):
        return [type("Input", (), {"name": "input"})()]

    def run(self, _outputs, feed):
        self.crop = feed["input"]
        return [self.out]


def test_thunder_crop_round_trip():
    img = np.zeros((480, 640, 3), np.uint8)
    img[238:243, 318:323] = 255                          # a dot at the box centre (320, 240)
    box = (270.0, 140.0, 370.0, 340.0)                   # 100 x 200: crop side 250
    # crop centre, crop top-left corner (edge), a point a quarter in from the left and top
    fake = FakeThunder([(0.5, 0.5), (0.0, 0.0), (0.25, 0.25)])
    xy, conf = thunder_keypoints(fake, img, box)
    assert fake.crop.shape == (1, 256, 256, 3) and fake.crop.dtype == np.int32
    bright = np.argwhere(fake.crop[0, :, :, 0] > 100)
    np.testing.assert_allclose(bright.mean(0), [127.5, 127.5], atol=1.0)
    np.testing.assert_allclose(xy[0], [320, 240], atol=1e-6)
    np.testing.assert_allclose(xy[1], [320 - 125, 240 - 125], atol=1e-6)   # side 250
    np.testing.assert_allclose(xy[2], [320 - 62.5, 240 - 62.5], atol=1e-6)
    assert conf[:3] == pytest.approx([0.9, 0.9, 0.9])


def test_thunder_joints_outside_the_image_are_missing():
    img = np.zeros((100, 100, 3), np.uint8)
    fake = FakeThunder([(0.5, 0.5), (0.0, 0.0)])
    xy, conf = thunder_keypoints(fake, img, (0.0, 0.0, 60.0, 60.0))   # crop from -7.5
    assert np.isfinite(xy[0]).all() and conf[0] == pytest.approx(0.9)
    assert np.isnan(xy[1]).all() and conf[1] == 0


def test_finds_the_rider(detector):
    image = read_image(EXAMPLE)
    people = detector.detect(image)
    # NanoDet may box the rider twice (torso, whole body; IoU just under the NMS's 0.4)
    assert 1 <= len(people) <= 2
    d = max(people, key=lambda p: (p.confidence >= 0.3).sum())
    assert d.layout is COCO17 and 0.2 <= d.score <= 1
    sure, inside = sure_joints_in_box(d, margin=10)
    assert sure >= 10 and inside
    # The rider faces the camera: their left shoulder is on the image's right.
    J = COCO17.index
    assert d.keypoints[J("left_shoulder"), 0] > d.keypoints[J("right_shoulder"), 0] + 20
    assert len(detector.track(image)) == len(people)


def test_blank_image_and_bad_input(detector):
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    with pytest.raises(ValueError, match="shape"):
        detector.detect(np.zeros((4, 4, 5), np.uint8))
    with pytest.raises(ValueError, match="min_confidence"):
        TopDownDetector(min_confidence=2)
    with pytest.raises(ValueError, match="refine"):
        make_detector("yolo", refine=True)
    assert make_detector("topdown").multipose is None          # NanoDet's boxes alone
    assert make_detector("topdown", refine=True).multipose is not None


def test_refine_is_top_down_with_multipose_boxes_and_agrees_with_multipose():
    image = read_image(EXAMPLE)
    refined = make_detector("movenet", refine=True)
    assert isinstance(refined, TopDownDetector)
    (m,) = MoveNetDetector().detect(image)
    people = refined.detect(image)
    # the rider's best box: the one whose Thunder joints are surest
    r = max(people, key=lambda p: (p.confidence >= 0.3).sum())
    sure = (m.confidence >= 0.3) & (r.confidence >= 0.3)
    assert sure.sum() >= 8
    size = max(m.box[2] - m.box[0], m.box[3] - m.box[1])
    dist = np.linalg.norm(r.keypoints[sure] - m.keypoints[sure], axis=1)
    # two networks, one person: the crop maps Thunder's joints back onto MultiPose's
    assert np.median(dist) <= 0.03 * size and dist.max() <= 0.2 * size


def test_thunder_crop_from_a_pil_image_is_the_crop_from_the_array():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)
    box = (10.0, 20.0, 70.0, 110.0)
    fake_a, fake_b = FakeThunder([(0.5, 0.5), (0.1, 0.9)]), FakeThunder([(0.5, 0.5), (0.1, 0.9)])
    xy_a, conf_a = thunder_keypoints(fake_a, img, box)
    xy_b, conf_b = thunder_keypoints(fake_b, Image.fromarray(img), box)
    np.testing.assert_array_equal(fake_a.crop, fake_b.crop)
    np.testing.assert_array_equal(xy_a, xy_b)
    np.testing.assert_array_equal(conf_a, conf_b)


def test_onnx_options_say_what_was_asked():
    options = onnx_options(2, spinning=False)
    assert options.intra_op_num_threads == 2
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    default = onnx_options()
    assert default.intra_op_num_threads == 0              # onnxruntime's own choice
    with pytest.raises(RuntimeError):                     # not set: onnxruntime spins
        default.get_session_config_entry("session.intra_op.allow_spinning")


def test_nanodet_boxes_alone_are_a_subset_of_the_union(detector):
    """TD (``multipose_boxes=False``) runs no MultiPose; TD+MP only adds boxes, so every TD
    person is in TD+MP, the same box and the same Thunder joints."""
    alone = TopDownDetector(multipose_boxes=False)
    assert alone.multipose is None and alone.name != detector.name
    image = read_image(EXAMPLE)
    td, both = alone.detect(image), detector.detect(image)
    assert 1 <= len(td) <= len(both)
    for p in td:
        (q,) = [q for q in both if q.box == p.box]
        np.testing.assert_array_equal(p.keypoints, q.keypoints)
        np.testing.assert_array_equal(p.confidence, q.confidence)
    assert alone.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert len(alone.track(image)) == len(td)


def test_confidence_gate_is_the_median_by_hand():
    # 17 joints: the median is the 9th smallest, so 9 sure joints are a person, 8 are not
    assert confident_person([0.3] * 9 + [0.0] * 8, 0.3)
    assert not confident_person([0.9] * 8 + [0.29] * 9, 0.3)
    assert not confident_person([], 0.3)


def test_whole_image_crop_geometry_by_hand():
    # 640 x 480: the square of side 640 centred on the image, 80 px of zero above and below
    (left, top), side = crop_window(whole_image_box(480, 640), 1.0)
    assert (left, top, side) == pytest.approx((0.0, -80.0, 640.0))
    img = np.full((480, 640, 3), 255, np.uint8)
    fake = FakeThunder([(0.5, 0.5)])
    xy, _ = thunder_keypoints(fake, img, whole_image_box(480, 640), margin=1.0)
    # the crop's centre is the image's centre pixel position ((640 - 1) / 2, (480 - 1) / 2)
    np.testing.assert_allclose(xy[0], [319.5, 239.5])
    # 256 crop pixels span 640 image pixels: the 80 px of padding are 32 rows each side
    rows = fake.crop[0, :, 128, 0]
    assert (rows[:31] == 0).all() and (rows[33:223] == 255).all() and (rows[225:] == 0).all()


def fake_detector(conf: float, boxes, scores, **options) -> TopDownDetector:
    """A TopDownDetector whose NanoDet gives ``boxes``/``scores`` and whose Thunder puts
    17 joints on a 4 x 5 grid inside the crop, each with confidence ``conf``."""
    det = TopDownDetector(multipose_boxes=False, **options)
    grid = [(0.2 + 0.15 * (k // 4), 0.2 + 0.2 * (k % 4)) for k in range(17)]
    det.thunder = FakeThunder(grid)
    det.thunder.out[0, 0, :, 2] = conf
    det.boxes = lambda img: (np.asarray(boxes, float).reshape(-1, 4),
                             np.asarray(scores, float))
    return det


def test_whole_image_look_in_photos_only_and_gated():
    blank = np.zeros((480, 640, 3), np.uint8)
    sure = fake_detector(0.9, [], [])      # whole_image: on by default
    (p,) = sure.detect(blank)
    # grid x 0.2..0.8 of the 640 px square -> 127.5..511.5; y 0.2..0.8 -> 47.5..431.5
    assert p.box == pytest.approx((127.5, 47.5, 511.5, 431.5))
    assert p.score == pytest.approx(0.9)
    assert sure.track(blank) == []                    # a video frame with nobody stays empty
    assert fake_detector(0.29, [], []).detect(blank) == []
    assert fake_detector(0.9, [], [], whole_image=False).detect(blank) == []


def test_real_networks_find_nobody_on_plain_images():
    det = TopDownDetector(multipose_boxes=False)          # the whole-image look on
    for value in (0, 128, 255):
        assert det.detect(np.full((480, 640, 3), value, np.uint8)) == []


def _back_view_person() -> tuple[np.ndarray, np.ndarray]:
    """An upright person labelled as seen from the front (left shoulder and hip on the image's
    right), head seen (ears sure) but face not (nose and eyes unsure, inside the image)."""
    xy = np.zeros((17, 2))
    xy[0:5] = [[100, 40], [105, 35], [95, 35], [112, 40], [88, 40]]
    xy[5], xy[6] = [130, 80], [70, 80]          # left / right shoulder
    xy[11], xy[12] = [120, 180], [80, 180]      # left / right hip
    xy[7:11] = [[135, 130], [65, 130], [138, 170], [62, 170]]
    xy[13:17] = [[120, 250], [80, 250], [120, 320], [80, 320]]
    conf = np.full(17, 0.8)
    conf[0:3] = 0.1
    return xy, conf


def test_back_view_check_by_hand():
    xy, conf = _back_view_person()
    assert front_labels_on_back_view(xy, conf, 0.3)
    # labels that already say "from behind": the left side on the image's left
    mirrored = xy.copy()
    mirrored[:, 0] = 200 - mirrored[:, 0]
    assert not front_labels_on_back_view(mirrored, conf, 0.3)
    # in-plane rotation keeps the answer (90 and 180 degrees about an arbitrary point)
    for rot in (np.array([[0, -1], [1, 0]]), -np.eye(2)):
        turned = (xy - [37, 11]) @ rot.T
        assert front_labels_on_back_view(turned, conf, 0.3)
        assert not front_labels_on_back_view((mirrored - [37, 11]) @ rot.T, conf, 0.3)
    face_seen = conf.copy()
    face_seen[0] = 0.3                          # the threshold itself counts as sure
    no_ears = conf.copy()
    no_ears[3:5] = 0.29
    unsure_hip = conf.copy()
    unsure_hip[12] = 0.2
    for c in (face_seen, no_ears, unsure_hip):
        assert not front_labels_on_back_view(xy, c, 0.3)
    cut_face = xy.copy()
    cut_face[1] = np.nan                        # an eye outside the frame: face unknown
    assert not front_labels_on_back_view(cut_face, conf, 0.3)


def test_back_view_relabel_swaps_left_and_right_only_when_it_fires():
    xy, conf = _back_view_person()
    conf = conf + np.arange(17) / 100            # tell the joints apart
    person = Detection(xy.astype(np.float32), conf.astype(np.float32), COCO17,
                       (60.0, 30.0, 140.0, 330.0), 0.7)
    swapped = _relabel_back_view(person)
    names = list(COCO17.joints)
    for j, name in enumerate(names):
        other = names.index(name.replace("left", "@").replace("right", "left")
                            .replace("@", "right"))
        np.testing.assert_array_equal(swapped.keypoints[j], person.keypoints[other])
        assert swapped.confidence[j] == person.confidence[other]
    assert (swapped.box, swapped.score, swapped.layout) == (person.box, person.score, COCO17)
    # now labelled as seen from behind: left shoulder on the image's left, and it stays
    assert swapped.keypoints[5, 0] < swapped.keypoints[6, 0]
    assert _relabel_back_view(swapped) is swapped
