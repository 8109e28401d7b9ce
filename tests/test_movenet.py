"""wildpose.detectors.movenet: the shipped MoveNet MultiPose model on real photos, its decoding
by hand, and the shipped files against the build script's manifest and the NOTICE."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket

import numpy as np
import pytest

from conftest import REPO_ROOT, find_data_root, sure_joints_in_box
from wildpose.detectors import MoveNetDetector, TopDownDetector, default_detector, make_detector
from wildpose.detectors.movenet import MODEL_FILE, decode_multipose, letterbox
from wildpose.predict import read_image
from wildpose.skeleton import COCO17

EXAMPLE = REPO_ROOT / "examples" / "motorcyclist.jpg"
J = COCO17.index


@pytest.fixture(scope="module")
def detector() -> MoveNetDetector:
    return MoveNetDetector()


@pytest.fixture(scope="module")
def example_image() -> np.ndarray:
    return read_image(EXAMPLE)


def build_script():
    spec = importlib.util.spec_from_file_location("build_movenet",
                                                  REPO_ROOT / "tools" / "build_movenet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)           # standard library only at import time
    return module


def test_shipped_files_match_the_manifest_and_the_notice():
    script = build_script()
    notice = (REPO_ROOT / "NOTICE").read_text()
    assert script.MODELS and set(script.MODELS.values()) == set(script.OUTPUT_SHA256)
    for name, digest in script.OUTPUT_SHA256.items():
        path = REPO_ROOT / "src" / "wildpose" / "weights" / name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
        assert f"File:      src/wildpose/weights/{name}\nsha256:    {digest}" in notice
    assert "Apache License, Version 2.0" in notice and "Copyright (c) 2021 Vladimir Mandic" \
        in notice and f"{script.NPM_PACKAGE} {script.NPM_VERSION}" in notice
    assert MODEL_FILE.name in script.OUTPUT_SHA256


def test_default_detector_is_top_down_and_loads_without_network(monkeypatch, example_image):
    def no_network(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    det = default_detector()
    assert isinstance(det, TopDownDetector) and det.multipose is None   # round 5's rule 10
    assert isinstance(make_detector(), TopDownDetector)
    assert isinstance(make_detector("movenet"), MoveNetDetector)
    assert len(det.detect(example_image)) >= 1
    with pytest.raises(ValueError, match="unknown detector"):
        make_detector("openpose")


def test_letterbox_keeps_the_aspect_and_pads_to_multiples_of_32():
    tensor, scale = letterbox(np.full((480, 640, 3), 7, np.uint8))
    assert tensor.shape == (1, 192, 256, 3) and tensor.dtype == np.int32
    assert scale == pytest.approx((0.4, 0.4))
    tensor, scale = letterbox(np.full((100, 50, 3), 7, np.uint8))
    assert tensor.shape == (1, 256, 128, 3) and scale == pytest.approx((2.56, 2.56))
    assert (tensor[0, :, :128] == 7).all()
    # 427 x 640: the resized height is round(170.8) = 171 rows, so rows scale by 171 / 427
    tensor, scale = letterbox(np.full((427, 640, 3), 7, np.uint8))
    assert tensor.shape == (1, 192, 256, 3) and (tensor[0, 170] == 7).all()
    assert (tensor[0, 171] == 0).all() and scale == pytest.approx((171 / 427, 0.4))


def test_decoding_maps_the_resized_content_edge_to_the_image_edge():
    """TFJS un-pads with the rounded resized size: the bottom edge of the 171 resized rows of a
    427 x 640 image (normalized y = 171 / 192) is the image's bottom edge, pixel-centre
    coordinate 426.5; a scale of exactly 0.4 would put it at 427.0."""
    raw = np.zeros((1, 6, 56))
    raw[0, 0, :51] = np.tile([171 / 192, 0.5, 0.8], 17)
    raw[0, 0, 51:56] = [0.0, 0.0, 171 / 192, 1.0, 0.9]
    (d,) = decode_multipose(raw, (192, 256), (171 / 427, 0.4), (427, 640), min_score=0.25)
    assert d.keypoints[0, 1] == pytest.approx(426.5) and d.box[3] == pytest.approx(426.5)


def test_decoding_by_hand():
    """A 470 x 640 image is scaled by 0.4 to 188 x 256 and padded to 192 x 256: normalized
    (y, x) = (0.5, 0.25) is input edge-coordinate (96, 64), image (240, 160), pixel centre
    (239.5, 159.5); y = 0.99 is image row 474.7, in the padding below the image."""
    raw = np.zeros((1, 6, 56))
    raw[0, 0, :51] = np.tile([0.5, 0.25, 0.8], 17)
    raw[0, 0, 3 * J("left_ankle"):3 * J("left_ankle") + 3] = [0.99, 0.25, 0.7]
    raw[0, 0, 51:56] = [0.25, 0.125, 0.75, 0.375, 0.6]       # box, score
    raw[0, 1, 51:56] = [0.0, 0.5, 1.0, 1.0, 0.9]            # a larger person, listed first
    raw[0, 2, 51:56] = [0.0, 0.0, 0.5, 0.5, 0.1]            # below the threshold
    dets = decode_multipose(raw, (192, 256), (0.4, 0.4), (470, 640), min_score=0.25)
    assert [round(d.score, 3) for d in dets] == [0.9, 0.6]
    d = dets[1]
    np.testing.assert_allclose(d.keypoints[J("nose")], [159.5, 239.5])
    assert d.confidence[J("nose")] == pytest.approx(0.8)
    assert np.isnan(d.keypoints[J("left_ankle")]).all() and d.confidence[J("left_ankle")] == 0
    np.testing.assert_allclose(d.box, [79.5, 119.5, 239.5, 359.5])
    assert dets[0].box[2] == pytest.approx(639.5) and dets[0].box[3] == pytest.approx(469.5)


def test_finds_the_rider_with_joints_in_the_box_and_sides_right(detector, example_image):
    (d,) = detector.detect(example_image)
    assert d.layout is COCO17 and d.score >= 0.25
    sure, inside = sure_joints_in_box(d, margin=5)
    assert sure >= 10 and inside
    # The rider faces the camera: their left shoulder and hip are on the image's right.
    for side in ("shoulder", "hip"):
        assert d.keypoints[J(f"left_{side}"), 0] > d.keypoints[J(f"right_{side}"), 0] + 20
    assert d.keypoints[J("nose"), 1] < d.keypoints[J("left_hip"), 1]


def test_matches_the_coco_annotation_of_the_example(detector, example_image):
    """PCK@0.1 of the person box, on the 12 body joints (COCO image 165518)."""
    ann_file = find_data_root() / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    if not ann_file.is_file():
        pytest.skip(f"COCO annotations not found at {ann_file}")
    (ann,) = [a for a in json.loads(ann_file.read_text())["annotations"]
              if a["image_id"] == 165518]
    gt = np.array(ann["keypoints"], float).reshape(17, 3)
    body = [j for j in range(5, 17) if gt[j, 2] > 0]
    (d,) = detector.detect(example_image)
    hit = np.linalg.norm(d.keypoints[body] - gt[body, :2], axis=1) <= 0.1 * max(ann["bbox"][2:])
    assert hit.mean() >= 0.75


def test_mirrored_photo_gives_mirrored_keypoints(detector, example_image):
    (d,) = detector.detect(example_image)
    (m,) = detector.detect(np.ascontiguousarray(example_image[:, ::-1]))
    w = example_image.shape[1]
    swap = list(range(17))
    for a, b in COCO17.flip_pairs:
        swap[a], swap[b] = b, a
    back = m.keypoints[swap].copy()
    back[:, 0] = w - 1 - back[:, 0]
    sure = (d.confidence >= 0.5) & (m.confidence[swap] >= 0.5)
    assert sure.sum() >= 8
    size = max(d.box[2] - d.box[0], d.box[3] - d.box[1])
    assert np.linalg.norm(back[sure] - d.keypoints[sure], axis=1).max() <= 0.06 * size


def test_blank_and_tiny_images_have_nobody(detector):
    assert detector.detect(np.full((480, 640, 3), 127, np.uint8)) == []
    assert detector.detect(np.zeros((8, 8, 3), np.uint8)) == []
    with pytest.raises(ValueError, match="uint8"):
        detector.detect(np.zeros((8, 8, 3), np.float32))


def test_options_are_checked():
    with pytest.raises(ValueError, match="min_confidence"):
        MoveNetDetector(min_confidence=2)
    with pytest.raises(ValueError, match="multiple of 32"):
        MoveNetDetector(input_size=100)
    with pytest.raises(FileNotFoundError, match="missing"):
        MoveNetDetector(model="nowhere.onnx")


def small_rider(example_image: np.ndarray) -> np.ndarray:
    """The example photo scaled to 320 x 320 and pasted at (200, 100) into a grey 1280 x 1706
    image: at a longer side of 256 px the rider is about 20 px tall."""
    from PIL import Image

    small = np.asarray(Image.fromarray(example_image).resize((320, 320), Image.BILINEAR))
    canvas = np.full((1280, 1706, 3), 128, np.uint8)
    canvas[100:420, 200:520] = small
    return canvas


def test_a_small_person_is_found_by_the_second_look_only(example_image):
    canvas = small_rider(example_image)
    assert MoveNetDetector(second_look="never").detect(canvas) == []
    (d,) = MoveNetDetector().detect(canvas)            # the default looks again at 512 px
    x0, y0, x1, y1 = d.box
    assert 200 <= x0 < x1 <= 520 and 100 <= y0 < y1 <= 420 and d.score >= 0.25
    # in videos an empty frame is ordinary: tracking does not look again
    assert MoveNetDetector().track(canvas) == []


def test_second_look_must_be_known():
    with pytest.raises(ValueError, match="second_look"):
        MoveNetDetector(second_look="sometimes")
