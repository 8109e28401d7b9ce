"""A top-down 2D detector, wildpose's default (``wildpose predict``): person boxes first
(NanoDet-g, :mod:`wildpose.detectors.nanodet`), then MoveNet SinglePose Thunder on a square
crop around each box
(:func:`wildpose.detectors.movenet.thunder_keypoints`).

A bottom-up detector (MultiPose) must see a person's joints to find the person; a box detector
finds people from their whole appearance, so small and partly hidden people are found more
often, and each person then gets a single-person network of 256 x 256 pixels to themselves.
The cost is one Thunder run per person.

With ``multipose_boxes=True`` (``wildpose predict --refine``), MultiPose's people boxes
(:class:`~wildpose.detectors.movenet.MoveNetDetector`) that overlap no NanoDet box (IoU below
the NMS threshold) are added, so that a person only MultiPose finds is kept: one more person
found on the benchmark photos, at the cost of a MultiPose run per image.  The variants and the
rules that picked them are in ``benchmarks/PREDICT_DECISIONS.md`` (rounds 3-8).

In a photo where no box is found (:meth:`TopDownDetector.detect`, not the per-frame
``track``: in a video a frame with nobody is ordinary), Thunder looks at the whole image
(:func:`whole_image_box`) and its person is kept only if at least half of the joints are sure
(:func:`~wildpose.detectors.base.confident_person`), so that a photo with nobody in it still
gives nobody (round 8).

With ``back_view=True`` (the default) a person whose head is seen but not the face, and
whose torso is labelled as if seen from the front, gets its left and right joints swapped
(:func:`~wildpose.detectors.base.front_labels_on_back_view`, round 9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..skeleton import COCO17
from .base import (Detection, Detector, box_iou, check_image, confident_person,
                   front_labels_on_back_view, joints_box, onnx_options)
from .movenet import THUNDER_FILE, MoveNetDetector, thunder_keypoints
from .nanodet import MAX_BOXES, MIN_BOX_SCORE, NMS_IOU, NanoDetPersons

__all__ = ["TopDownDetector", "union_boxes", "whole_image_box", "GATE_CONFIDENCE"]

#: Whether the three graphs' idle onnxruntime threads busy-wait
#: (:func:`~wildpose.detectors.base.onnx_options`): off, or one graph's idle threads spin on
#: the cores the next graph needs (round 4 of ``benchmarks/PREDICT_DECISIONS.md``).
SPINNING = False
#: The whole-image look's person is kept only if the median of its 17 joint confidences
#: reaches this: the gate of ``Estimator.from_image``'s whole-image fallback (its
#: ``min_confidence`` default, 0.3).
GATE_CONFIDENCE = 0.3


def whole_image_box(height: int, width: int) -> tuple[float, float, float, float]:
    """The box of a whole ``height`` x ``width`` image in pixel-centre coordinates,
    (-0.5, -0.5, width - 0.5, height - 0.5); its crop with margin 1 is the centred square of
    side max(width, height), zero-padded (MoveNet SinglePose's own first-frame crop)."""
    return (-0.5, -0.5, width - 0.5, height - 0.5)


def union_boxes(boxes: np.ndarray, scores: np.ndarray, extra_boxes: np.ndarray,
                extra_scores: np.ndarray, iou: float = NMS_IOU
                ) -> tuple[np.ndarray, np.ndarray]:
    """``boxes`` plus each of ``extra_boxes`` whose IoU with every one of ``boxes`` is below
    ``iou`` (a person the first detector did not box).  (K, 4) / (K,) arrays in, the same out."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    scores = np.asarray(scores, np.float64).reshape(-1)
    extra_boxes = np.asarray(extra_boxes, np.float64).reshape(-1, 4)
    add = [i for i, b in enumerate(extra_boxes)
           if len(boxes) == 0 or box_iou(b, boxes).max() < iou]
    return (np.concatenate([boxes, extra_boxes[add]]),
            np.concatenate([scores, np.asarray(extra_scores, np.float64).reshape(-1)[add]]))


class TopDownDetector(Detector):
    """NanoDet-g's and MultiPose's person boxes, then MoveNet Thunder on each: everyone in the
    image, COCO-17.

    Args:
        min_confidence: NanoDet's person box score threshold (default 0.2).
        max_people: keep at most this many (the largest boxes); None = all (NanoDet keeps at
            most 10 boxes).
        multipose_boxes: also take MultiPose's people boxes that overlap no NanoDet box (TD+MP,
            ``--refine``); False = NanoDet's boxes alone (TD, no MultiPose run; wildpose's
            default detector, :func:`~wildpose.detectors.default_detector`).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        model: the NanoDet ONNX file (default: the shipped one).
        whole_image: in photos where no box is found, Thunder on the whole image
            (:func:`whole_image_box`, margin 1), kept only if
            :func:`~wildpose.detectors.base.confident_person`
            (default on; off = boxes only).
        back_view: swap left and right of a person seen from behind but labelled as seen from
            the front (:func:`~wildpose.detectors.base.front_labels_on_back_view` at
            :data:`GATE_CONFIDENCE`; default on, round 9's rule 14).
    """

    name = "nanodet-g+multipose+movenet-thunder"

    def __init__(self, min_confidence: float = MIN_BOX_SCORE, max_people: int | None = None,
                 multipose_boxes: bool = True, threads: int | None = None,
                 model: str | Path | None = None, whole_image: bool = True,
                 back_view: bool = True):
        # onnxruntime is a dependency, imported here so that `import wildpose` stays fast
        import onnxruntime as ort

        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        options = onnx_options(threads, spinning=SPINNING)
        self.boxes = NanoDetPersons(min_confidence, NMS_IOU, MAX_BOXES, model, options)
        self.whole_image = bool(whole_image)
        self.back_view = bool(back_view)
        self.thunder = ort.InferenceSession(str(THUNDER_FILE), options,
                                            providers=["CPUExecutionProvider"])
        self.multipose = MoveNetDetector(options=options) if multipose_boxes else None
        if not multipose_boxes:
            self.name = "nanodet-g+movenet-thunder"
        self.min_confidence = float(min_confidence)
        self.max_people = None if max_people is None else int(max_people)

    def detect(self, image: Any) -> list[Detection]:
        img = check_image(image)
        return self._people(img, self.multipose.detect(img) if self.multipose else [], True)

    def track(self, image: Any) -> list[Detection]:
        """:meth:`detect` for a video frame (MultiPose, if used, without its second look; no
        whole-image look: in a video a frame with nobody is ordinary)."""
        img = check_image(image)
        return self._people(img, self.multipose.track(img) if self.multipose else [], False)

    def _people(self, img: np.ndarray, multipose: list[Detection], photo: bool
                ) -> list[Detection]:
        boxes, scores = self.boxes(img)
        if multipose:
            boxes, scores = union_boxes(boxes, scores, [d.box for d in multipose],
                                        [d.score for d in multipose])
        pil = Image.fromarray(img)              # once per image, not once per crop
        people = []
        for box, score in zip(boxes, scores):
            box = tuple(float(v) for v in box)
            if box[2] <= box[0] or box[3] <= box[1]:
                continue
            xy, conf = thunder_keypoints(self.thunder, pil, box)
            people.append(Detection(xy, conf, COCO17, box, float(score)))
        if photo and self.whole_image and not people:
            people = self._whole_image(pil)
        if self.back_view:
            people = [_relabel_back_view(d) for d in people]
        people.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
        return people[:self.max_people]

    def _whole_image(self, pil: Image.Image) -> list[Detection]:
        """Thunder on the whole image: the person, if :func:`.base.confident_person`, with the
        box of its joints of confidence >= :data:`GATE_CONFIDENCE` and that median as score."""
        xy, conf = thunder_keypoints(self.thunder, pil, whole_image_box(pil.height, pil.width),
                                     margin=1.0)
        if not confident_person(conf, GATE_CONFIDENCE):
            return []
        return [Detection(xy, conf, COCO17, joints_box(xy, conf >= GATE_CONFIDENCE),
                          float(np.median(conf)))]


def _relabel_back_view(person: Detection) -> Detection:
    """``person`` with left and right swapped if it is seen from behind but labelled as from
    the front (:func:`~wildpose.detectors.base.front_labels_on_back_view`), else itself."""
    if not front_labels_on_back_view(person.keypoints, person.confidence, GATE_CONFIDENCE):
        return person
    perm = COCO17.flip_permutation()
    return Detection(person.keypoints[perm], person.confidence[perm], person.layout,
                     person.box, person.score)
