"""BlazePose GHUM's landmark step on a crop (the top-down detector's ``keypoints="blazepose-*"``):
the replicated-border sampler, MediaPipe's heatmap refinement and the crop round trip."""

from __future__ import annotations

import numpy as np
import pytest

from wildpose.crop import crop_window, sample_window
from wildpose.detectors.blazepose import COCO_FROM_BLAZEPOSE, refine_from_heatmap
from wildpose.detectors.mediapipe_pose import BLAZEPOSE33
from wildpose.skeleton import COCO17


def test_sampler_reads_pixel_centres_and_repeats_the_border():
    # a ramp: value = 10 x column; a window of side 4 from edge 0 at 4 samples hits the
    # pixel centres 0..3 exactly, so it copies the pixels
    img = np.tile(np.arange(6, dtype=np.float32) * 10, (5, 1))[..., None]
    out = sample_window(img, np.array([0.0, 0.0]), 4.0, 4)
    np.testing.assert_allclose(out[0, :, 0], [0, 10, 20, 30])
    # half-pixel steps interpolate: centres at -0.25, 0.25, 0.75, ... of side 3 at 6 samples
    out = sample_window(img, np.array([0.0, 0.0]), 3.0, 6)
    np.testing.assert_allclose(out[0, :, 0], [0, 2.5, 7.5, 12.5, 17.5, 22.5])
    # left of the image and beyond its right edge: the border columns repeat (0 and 50)
    out = sample_window(img, np.array([-3.0, 0.0]), 12.0, 12)
    np.testing.assert_allclose(out[0, :, 0], [0, 0, 0, 0, 10, 20, 30, 40, 50, 50, 50, 50])


def test_heatmap_refinement_by_hand():
    heat = np.full((64, 64, 2), -20.0)           # sigmoid ~ 0 everywhere
    heat[10, 20, 0] = heat[10, 22, 0] = 20.0     # two equal peaks: their mean, column 21
    xy = np.array([[21.4 / 64, 10.9 / 64], [0.5, 0.5]])
    out = refine_from_heatmap(xy, heat)
    np.testing.assert_allclose(out[0], [21 / 64, 10 / 64], atol=1e-6)
    np.testing.assert_allclose(out[1], [0.5, 0.5])   # no peak >= 0.5 in its window: kept
    # a peak outside the 7 x 7 window around the landmark does not pull it
    far = refine_from_heatmap(np.array([[30 / 64, 10 / 64], [0.5, 0.5]]), heat)
    np.testing.assert_allclose(far[0], [30 / 64, 10 / 64])
    # a landmark off the map is left alone
    off = refine_from_heatmap(np.array([[-0.1, 0.5], [0.5, 1.2]]), heat)
    np.testing.assert_allclose(off, [[-0.1, 0.5], [0.5, 1.2]])


def test_coco_joints_are_the_same_named_blazepose_landmarks():
    names = [BLAZEPOSE33.joints[i] for i in COCO_FROM_BLAZEPOSE]
    assert names == list(COCO17.joints)


def test_sampler_and_window_agree_on_where_a_pixel_lands():
    # a bright pixel at (x=37, y=12) of a 50 x 80 image lands, in the crop of a box around
    # it, at the crop pixel crop_window's geometry predicts
    img = np.zeros((50, 80, 1), np.float32)
    img[12, 37] = 1.0
    origin, side = crop_window((30.0, 5.0, 45.0, 20.0), 1.25)
    size = int(round(side))                      # one crop pixel per image pixel
    out = sample_window(img, origin, float(size), size)
    row, col = np.unravel_index(np.argmax(out[..., 0]), out.shape[:2])
    assert (col, row) == pytest.approx(np.array([37, 12]) + 0.5 - origin - 0.5, abs=0.5)
