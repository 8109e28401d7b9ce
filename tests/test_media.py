"""wildpose.media: H.264 MP4 writing that browsers play, reading it back, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import video_codec

from wildpose.media import Mp4Writer, VideoReader


def test_odd_sized_frames_are_padded_not_scaled(tmp_path):
    frame = np.zeros((31, 45, 3), np.uint8)
    frame[:, :20] = (200, 30, 30)                     # a red left part, grey right part
    frame[:, 20:] = 128
    with Mp4Writer(tmp_path / "odd.mp4", fps=12, crf=10) as w:
        for _ in range(4):
            w.write(frame)
    assert video_codec(tmp_path / "odd.mp4") == "h264"
    with VideoReader(tmp_path / "odd.mp4") as r:
        frames = list(r)
        assert (r.width, r.height) == (46, 32) and r.fps == pytest.approx(12)
        assert r.decode_errors() == []
    assert len(frames) == 4
    back = frames[0].astype(int)
    # the picture keeps its place and scale: compression moves colours a little, not pixels
    assert np.abs(back[5:25, 3:17] - [200, 30, 30]).max() < 25
    assert np.abs(back[5:25, 24:42] - 128).max() < 25


def test_frames_of_another_size_are_refused(tmp_path):
    with Mp4Writer(tmp_path / "a.mp4", fps=10) as w:
        w.write(np.zeros((20, 20, 3), np.uint8))
        with pytest.raises(ValueError, match="20x20"):
            w.write(np.zeros((40, 40, 3), np.uint8))


def test_reader_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("not a video at all\n")
    with pytest.raises(ValueError) as e:
        VideoReader(tmp_path / "text.mp4")
    assert "text.mp4" in str(e.value) and "\n" not in str(e.value)
