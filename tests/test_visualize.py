"""Tests for wildpose.visualize: PNG output, orientation conventions, no pyplot state."""

from __future__ import annotations

import struct
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from wildpose.skeleton import COCO17, H36M17
from wildpose.visualize import camera_to_plot, draw_pose_figure, save_pose_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _pose_3d() -> np.ndarray:
    """A rough standing H36M17 pose in camera mm (y down), 4.5 m in front of the camera."""
    p = np.array([
        [0, 0, 0], [-130, 0, 0], [-130, 450, 20], [-130, 880, 0],         # hip, right leg
        [130, 0, 0], [130, 450, 20], [130, 880, 0],                       # left leg
        [0, -230, 0], [0, -480, 0], [0, -560, -40], [0, -680, 0],         # spine .. head
        [170, -450, 0], [200, -200, 0], [210, 30, -30],                   # left arm
        [-170, -450, 0], [-200, -200, 0], [-210, 30, -30],                # right arm
    ], dtype=np.float64)
    return p + [0, 0, 4500]


def _keypoints_2d(pose: np.ndarray) -> np.ndarray:
    f, c = 1100.0, np.array([320.0, 240.0])
    return pose[:, :2] / pose[:, 2:] * f + c


def _png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_save_png_without_image(tmp_path):
    pose = _pose_3d()
    out = save_pose_png(tmp_path / "pose.png", _keypoints_2d(pose), pose, "h36m17",
                        title="no image")
    assert out == tmp_path / "pose.png"
    assert out.stat().st_size > 5_000
    assert _png_size(out) == (1200, 400)          # 12 x 4 inches at 100 dpi


def test_save_png_with_image(tmp_path):
    pose = _pose_3d()
    img = np.random.default_rng(0).integers(0, 256, size=(480, 640, 3), dtype=np.uint8)
    out = save_pose_png(tmp_path / "sub" / "pose_img.png", _keypoints_2d(pose), pose,
                        H36M17, image=img, dpi=80)
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 20_000    # the noise image is in it
    w, h = _png_size(out)
    assert (w, h) == (960, 320)


def test_coco_input_draws_only_the_bones_and_joints_it_was_given(tmp_path):
    kp = np.random.default_rng(1).uniform(100, 400, size=(17, 2))
    valid = np.ones(17, bool)
    valid[[1, 2, 10]] = False
    kp[5] = np.nan                                   # a NaN joint is as missing as an invalid one
    missing = {1, 2, 5, 10}
    fig = draw_pose_figure(kp, _pose_3d(), COCO17, valid_2d=valid)
    ax2d = fig.axes[0]
    kept = [(a, b) for a, b in COCO17.edges if a not in missing and b not in missing]
    assert len(kept) < len(COCO17.edges)
    assert len(ax2d.get_lines()) == len(kept)         # one line per bone with both ends seen
    drawn = {tuple(np.round(line.get_xydata(), 6).ravel()) for line in ax2d.get_lines()}
    assert drawn == {tuple(np.round(kp[[a, b]], 6).ravel()) for a, b in kept}
    assert sum(len(c.get_offsets()) for c in ax2d.collections) == 17 - len(missing)
    out = save_pose_png(tmp_path / "coco.png", kp, _pose_3d(), COCO17, valid_2d=valid)
    assert out.read_bytes()[:8] == PNG_MAGIC


def test_figure_layout_and_conventions():
    pose = _pose_3d()
    fig = draw_pose_figure(_keypoints_2d(pose), pose, "h36m17", title="t")
    assert isinstance(fig, Figure)
    ax2d, front, side = fig.axes
    assert ax2d.yaxis_inverted()                      # image convention: y down
    # the front view spans x (mm), the side view depth: 90 degrees apart about the vertical
    assert "x" in front.get_xlabel() and "depth" in side.get_xlabel()
    assert "up" in front.get_ylabel() and "up" in side.get_ylabel()
    # equal scale: both views share one span on both axes
    spans = [np.diff(lim)[0] for ax in (front, side) for lim in (ax.get_xlim(), ax.get_ylim())]
    assert spans == pytest.approx([spans[0]] * 4)
    # left and right limbs in distinct colours
    colours = {tuple(l.get_color()) if not isinstance(l.get_color(), str) else l.get_color()
               for l in ax2d.get_lines()}
    assert len(colours) >= 3


def test_camera_to_plot_is_upright():
    pose = _pose_3d()
    P = camera_to_plot(pose)
    head, foot = P[H36M17.index("Head")], P[H36M17.index("RFoot")]
    assert head[2] > foot[2]                          # up = -y
    assert P[H36M17.index("LShoulder"), 0] > P[H36M17.index("RShoulder"), 0]   # x kept
    assert P[0, 1] == pytest.approx(4500)             # depth on the plot's y axis


def test_bad_shapes_raise():
    pose = _pose_3d()
    with pytest.raises(ValueError, match="keypoints_2d"):
        draw_pose_figure(np.zeros((16, 2)), pose, "h36m17")
    with pytest.raises(ValueError, match="pose_3d"):
        draw_pose_figure(np.zeros((17, 2)), pose[:, :2], "h36m17")
    with pytest.raises(ValueError, match="image"):
        draw_pose_figure(np.zeros((17, 2)), pose, "h36m17", image=np.zeros((4, 4, 5)))


@pytest.mark.slow
def test_does_not_touch_pyplot():
    code = ("import sys, numpy as np\n"
            "import matplotlib\n"
            "from wildpose.visualize import draw_pose_figure\n"
            "fig = draw_pose_figure(np.random.rand(17, 2) * 100, "
            "np.random.rand(17, 3) * 500 + [0, 0, 4000], 'h36m17')\n"
            "fig.canvas.draw()\n"
            "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot was imported'\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# ------------------------------------------------------------ skeletons on photos (Pillow)
class _P:
    """A person as wildpose.predict reports one: (17, 3) [x, y, confidence], 3D in mm."""

    def __init__(self, kp2, kp3, track_id=None):
        self.keypoints_2d, self.keypoints_3d, self.track_id = kp2, kp3, track_id


def _standing_2d(cx: float = 100.0) -> np.ndarray:
    """Human3.6M-17 in pixels: a figure facing the camera (its left on the image's right)."""
    xy = {"Hip": (0, 0), "RHip": (-20, 0), "RKnee": (-20, 60), "RFoot": (-20, 120),
          "LHip": (20, 0), "LKnee": (20, 60), "LFoot": (20, 120), "Spine": (0, -40),
          "Thorax": (0, -80), "Neck/Nose": (0, -95), "Head": (0, -110),
          "LShoulder": (30, -80), "LElbow": (60, -80), "LWrist": (90, -80),
          "RShoulder": (-30, -80), "RElbow": (-60, -80), "RWrist": (-90, -80)}
    kp = np.zeros((17, 3))
    for name, (x, y) in xy.items():
        kp[H36M17.index(name)] = (cx + x, 130 + y, 0.9)
    return kp


def test_draw_people_colours_sides_and_skips_missing_joints():
    from wildpose.visualize import LEFT_COLOR, RIGHT_COLOR, draw_people

    img = np.zeros((280, 200, 3), np.uint8)
    kp = _standing_2d()
    kp[H36M17.index("RFoot"), 2] = 0.1                   # below the confidence threshold
    out = draw_people(img, [_P(kp, np.full((17, 3), np.nan))], min_confidence=0.3,
                      labels=False)
    assert img.max() == 0 and out.shape == img.shape      # the input is not drawn on

    def colour_at(a: str, b: str) -> np.ndarray:
        p = (kp[H36M17.index(a), :2] + kp[H36M17.index(b), :2]) / 2
        return out[int(round(p[1])), int(round(p[0]))].astype(int)

    hex_rgb = lambda h: np.array([int(h[i:i + 2], 16) for i in (1, 3, 5)])  # noqa: E731
    np.testing.assert_array_equal(colour_at("LElbow", "LWrist"), hex_rgb(LEFT_COLOR))
    np.testing.assert_array_equal(colour_at("RElbow", "RWrist"), hex_rgb(RIGHT_COLOR))
    # the right shin (knee -> a foot below the threshold) is not drawn
    assert colour_at("RKnee", "RFoot").max() == 0
    # the left limbs are on the image's right (x > centre): sides are not swapped
    blue = (out[..., 2] > 150) & (out[..., 0] < 60)
    assert np.flatnonzero(blue.any(0)).min() > 100


def test_people_figure_gives_the_photo_most_of_the_picture():
    from wildpose.visualize import people_figure

    photo = np.full((480, 640, 3), 60, np.uint8)
    pose = np.zeros((17, 3))
    pose[:, 1] = np.linspace(-800, 800, 17)
    people = [_P(_standing_2d(150), pose, 0), _P(_standing_2d(400), pose, 3)]
    fig = people_figure(photo, people)
    assert fig.shape[0] == 480 and 640 / fig.shape[1] >= 0.6
    np.testing.assert_array_equal(fig[:480, :640][0, 0], photo[0, 0])   # photo unscaled
    # nobody lifted: just the photo with the 2D drawn
    flat = [_P(_standing_2d(150), np.full((17, 3), np.nan))]
    assert people_figure(photo, flat).shape == photo.shape
    big = np.full((2000, 3000, 3), 60, np.uint8)
    assert max(people_figure(big, []).shape[:2]) == 1600            # large photos scaled
