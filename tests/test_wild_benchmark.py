"""Test (c) of benchmarks/wild_accuracy.py: its camera grid is the one it states."""

import importlib.util
from pathlib import Path

import numpy as np

from wildpose.camera import virtual_camera_view

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "wild_accuracy.py"


def _script():
    import sys

    sys.path.insert(0, str(_SCRIPT.parent))          # for its `import _common`
    try:
        spec = importlib.util.spec_from_file_location("wild_accuracy", _SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(_SCRIPT.parent))
    return module


def test_camera_grid_covers_the_stated_elevations_and_azimuths():
    wa = _script()
    grid = wa.camera_grid(7)
    assert grid["elevation"].shape == (40, 7)
    assert sorted(set(grid["elevation"].ravel())) == [-20, 0, 20, 40, 60]
    assert sorted(set(grid["azimuth"].ravel())) == list(range(0, 360, 45))
    # every (elevation, azimuth) pair once per pose
    pairs = {(e, a) for e, a in zip(grid["elevation"][:, 0], grid["azimuth"][:, 0])}
    assert len(pairs) == 40
    assert (grid["distance"] >= 4000).all() and (grid["distance"] <= 6000).all()
    np.testing.assert_array_equal(wa.camera_grid(7)["distance"], grid["distance"])  # seeded

    # The camera really sees the body from that elevation: a point straight above the root
    # (canonical frame: up is -y) leans towards the camera by sin(elevation) of its height.
    pose = np.zeros((40, 2, 3))
    pose[:, 1, 1] = -1000.0
    cam, _ = virtual_camera_view(pose, grid["azimuth"][:, 0], grid["elevation"][:, 0],
                                 distance_mm=grid["distance"][:, 0])
    up = cam[:, 1] - cam[:, 0]
    seen = np.degrees(np.arcsin(-up[:, 2] / 1000.0))
    np.testing.assert_allclose(seen, grid["elevation"][:, 0], atol=1e-6)
