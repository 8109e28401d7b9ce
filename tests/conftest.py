"""Shared test helpers: where the (optional, read-only) real data lives.

The data is never part of the repository.  It is looked up, in order, at

1. ``$WILDPOSE_DATA`` (either the data folder holding ``h36m/`` or the ``h36m`` folder itself);
2. ``<repository root>/../shared/data`` (the development layout).

Tests that need it request the ``h36m_dir`` fixture, which skips them with a clear reason on a
fresh clone without the data.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_data_root() -> Path:
    """The folder expected to hold the data sets (``h36m/``, ``coco-mini/``, ...)."""
    env = os.environ.get("WILDPOSE_DATA")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data"


def find_h36m_dir() -> Path | None:
    """The Human3.6M folder (the one holding ``cameras.h5``), or None if there is none."""
    root = find_data_root()
    for candidate in (root / "h36m", root):
        if (candidate / "cameras.h5").is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data folder; skips the test when it does not exist."""
    root = find_data_root()
    if not root.is_dir():
        pytest.skip(f"test data not found at {root} (set WILDPOSE_DATA to the data folder)")
    return root


@pytest.fixture(scope="session")
def h36m_dir() -> Path:
    """The Human3.6M folder in the 3d-pose-baseline layout; skips the test when absent."""
    path = find_h36m_dir()
    if path is None:
        pytest.skip(f"Human3.6M data not found: no cameras.h5 in {find_data_root()} or its "
                    f"h36m/ subfolder (set WILDPOSE_DATA to the folder holding h36m/)")
    return path


def run_two_ranks(script: str, out_dir: Path, timeout: float = 240.0):
    """Run ``python script out_dir`` as two CPU ranks under ``torch.distributed.run`` (gloo,
    a free localhost port, one thread each); returns the CompletedProcess."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)   # a surrounding torchrun must not leak into the child ranks
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1",
           "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port),
           script, str(out_dir)]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny networks train fastest, and bit-reproducibly, on one thread; with two threads on
    a busy 2-core machine, synchronization makes a 1 s run take 15 s.  Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def video_codec(path: str | os.PathLike) -> str | None:
    """The codec name of a video file's first video stream (e.g. ``"h264"``), read from
    ffmpeg's description of the file; None if ffmpeg finds no video stream."""
    import imageio_ffmpeg  # only the video tests need it

    out = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)],
                         capture_output=True, text=True).stderr
    m = re.search(r"Stream #\S+.*?: Video: (\w+)", out)
    return m.group(1) if m else None


def sure_joints_in_box(detection, margin: float, gate: float = 0.3) -> tuple[int, bool]:
    """How many of a detection's joints reach confidence ``gate``, and whether all of those
    lie inside its box grown by ``margin`` pixels on every side."""
    x0, y0, x1, y1 = detection.box
    kp = detection.keypoints[detection.confidence >= gate]
    inside = ((kp[:, 0] >= x0 - margin) & (kp[:, 0] <= x1 + margin)
              & (kp[:, 1] >= y0 - margin) & (kp[:, 1] <= y1 + margin))
    return len(kp), bool(inside.all())
