"""The COCO person-keypoints parser against a hand-written file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wildpose.datasets.coco import parse_coco_people
from wildpose.datasets.image_readers import read_coco_keypoints
from wildpose.datasets.keypoint_files import load_coco_2d, read_keypoints


def _kps(labelled: dict[int, tuple[float, float, float]]) -> list[float]:
    out: list[float] = []
    for j in range(17):
        out += list(labelled.get(j, (0, 0, 0)))
    return out


# Hand-written: two images, one full person with a box, one crowd, one person with a detector
# score and no box, and three malformed entries.
DOC = {
    "images": [{"id": 7, "file_name": "a.jpg"}, {"id": 8, "file_name": "b.jpg"}],
    "annotations": [
        {"id": 1, "image_id": 7, "iscrowd": 0, "num_keypoints": 2, "bbox": [10, 20, 30, 40],
         "keypoints": _kps({11: (50.0, 60.0, 2), 12: (70.0, 64.0, 1)})},
        {"id": 2, "image_id": 8, "iscrowd": 1, "num_keypoints": 0, "bbox": [0, 0, 5, 5],
         "keypoints": _kps({})},
        {"id": 3, "image_id": 9, "keypoints": _kps({0: (1.5, 2.5, 0.25)})},
        "not an annotation",
        {"id": 5, "image_id": 7, "keypoints": [1, 2, 2]},
        {"id": 6, "image_id": 7, "keypoints": [True] * 51},
    ],
}


def test_parse_values_boxes_and_malformed_entries():
    people = parse_coco_people(DOC, "hand.json")
    assert len(people) == 3 and people.source == "hand.json"
    # joint 11 of person 0 is (50, 60), v 2; joint 12 (70, 64), v 1; the rest unlabelled.
    np.testing.assert_array_equal(people.keypoints[0, 11], [50, 60])
    np.testing.assert_array_equal(people.keypoints[0, 12], [70, 64])
    assert people.visibility[0, 11] == 2 and people.visibility[0, 12] == 1
    assert people.labelled()[0].sum() == 2 and people.labelled()[0, [11, 12]].all()
    assert people.visibility[2, 0] == 0.25 and people.labelled()[2].sum() == 1
    # bbox [x, y, w, h] = [10, 20, 30, 40] -> (10, 20, 40, 60); absent -> NaN.
    np.testing.assert_array_equal(people.boxes[0], [10, 20, 40, 60])
    assert np.isnan(people.boxes[2]).all()
    assert people.crowd.tolist() == [False, True, False]
    np.testing.assert_array_equal(people.num_keypoints[:2], [2, 0])
    assert np.isnan(people.num_keypoints[2])
    assert people.positions.tolist() == [0, 1, 2]
    assert people.image_files == ["a.jpg", "b.jpg", None]   # image 9 is not in 'images'
    assert people.describe(0) == "image 7 / ann 1"
    assert [(i, problem.split()[0]) for i, _, problem in people.skipped] == [
        (3, "not"), (4, "3"), (5, "non-numeric")]


def test_the_three_forms_and_structural_errors():
    ann = DOC["annotations"][0]
    assert len(parse_coco_people([ann, ann], "r.json")) == 2          # results file
    one = parse_coco_people(ann, "one.json")                            # one annotation
    assert len(one) == 1 and one.image_files == [None]
    empty = parse_coco_people({"annotations": []}, "e.json")
    assert len(empty) == 0 and empty.keypoints.shape == (0, 17, 2)
    with pytest.raises(ValueError, match=r"^x\.json: 'annotations' is not a list$"):
        parse_coco_people({"annotations": {}}, "x.json")
    with pytest.raises(ValueError, match=r"^y\.json: not a COCO keypoint file"):
        parse_coco_people({"persons": []}, "y.json")
    with pytest.raises(ValueError, match=r"^z\.json: .*top level is a str"):
        parse_coco_people("text", "z.json")


def test_the_readers_keep_their_own_rules_on_the_same_file(tmp_path):
    path = tmp_path / "hand.json"
    path.write_text(json.dumps(DOC))
    ks = read_keypoints(path)           # drops num_keypoints 0 and the malformed entries
    assert ks.ids == ["image 7 / ann 1", "image 9 / ann 3"]
    np.testing.assert_allclose(ks.confidence[1, 0], 0.25)
    assert len(ks.skipped) == 4
    with pytest.raises(ValueError, match="no usable person"), pytest.warns(UserWarning):
        load_coco_2d(path)               # only two labelled joints each
    (tmp_path / "im").mkdir()
    photos = read_coco_keypoints(path, tmp_path / "im", min_keypoints=1)
    assert len(photos) == 0 and photos.skipped == {"malformed": 4, "crowd": 1,
                                                   "missing_image": 1}
