"""Reading photos and videos, writing MP4 files that browsers play.

* Photos: Pillow (:func:`read_image`), upright (EXIF orientation applied), (H, W, 3) uint8 RGB.
* Videos: the ffmpeg binary inside the ``imageio-ffmpeg`` wheel, so no system ffmpeg or
  OpenCV is needed.  :class:`VideoReader` decodes frames as RGB (ffmpeg conceals damaged
  frames rather than dropping them, so a second ffmpeg decodes the file alongside and reports
  its decoding errors: :meth:`VideoReader.decode_errors`); :class:`Mp4Writer` encodes
  H.264 (``libx264``, ``yuv420p``, ``+faststart``), the one video format every browser plays.
  H.264 in 4:2:0 needs even frame sizes, so an odd-sized frame gets one more row or column
  copied from its edge (the picture is never scaled).

Every error is a ValueError whose message is one line naming the file.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "read_image", "VideoReader", "Mp4Writer",
           "one_line"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".3gp")


def one_line(e: BaseException | str) -> str:
    """An exception's message on one line (its type name if it has none)."""
    text = " ".join(str(e).split())
    return text or type(e).__name__


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    Raises ValueError with a one-line reason for a missing, unreadable, truncated or
    non-image file.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()                       # decodes everything: truncation raises here
            im = ImageOps.exif_transpose(im)
            rgb = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ValueError(f"{path}: cannot read image ({one_line(e)})") from None
    if rgb.ndim != 3 or rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"{path}: empty image")
    return np.ascontiguousarray(rgb)


class VideoReader:
    """The frames of a video file, decoded by imageio-ffmpeg's ffmpeg.

    Attributes (known once opened):
        fps: frames per second (30 if the file does not say).
        width, height: frame size in pixels.
        expected_frames: the frame count the container announces (duration x fps), or 0.
        frames_read: frames decoded so far.
        error: after iteration, a one-line reason if decoding stopped on an error, else None.

    Opening raises ValueError (one line) for a missing file or one ffmpeg cannot read.
    """

    def __init__(self, path: str | os.PathLike):
        import imageio_ffmpeg  # only for video: photos and keypoint files do not need ffmpeg

        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"{self.path}: no such file")
        self._gen = imageio_ffmpeg.read_frames(str(self.path), pix_fmt="rgb24")
        try:
            meta = next(self._gen)
        except (OSError, RuntimeError, StopIteration, ValueError) as e:
            self.close()
            raise ValueError(f"{self.path}: cannot open video ({_ffmpeg_reason(e)})") from None
        self.width, self.height = (int(v) for v in meta["size"])
        fps = meta.get("fps") or 0
        self.fps = float(fps) if np.isfinite(fps) and 0 < fps < 1000 else 30.0
        duration = meta.get("duration") or 0
        self.expected_frames = int(round(duration * self.fps)) if np.isfinite(duration) else 0
        self.frames_read = 0
        self.error: str | None = None
        # decodes the file once more, to the null muxer, only to hear ffmpeg's errors
        self._check = subprocess.Popen(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", "-i", str(self.path),
             "-map", "0:v:0", "-f", "null", "-"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def __iter__(self) -> Iterator[np.ndarray]:
        """(H, W, 3) uint8 RGB frames, in order."""
        size = self.width * self.height * 3
        while True:
            try:
                data = next(self._gen)
            except StopIteration:
                return
            except (OSError, RuntimeError, ValueError) as e:
                self.error = _ffmpeg_reason(e)
                return
            if len(data) != size:
                self.error = f"frame {self.frames_read} is incomplete"
                return
            self.frames_read += 1
            yield np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)

    def decode_errors(self, timeout: float = 60.0) -> list[str]:
        """The error lines ffmpeg printed while decoding the whole file (damaged frames are
        concealed, not dropped, so this is where they show); waits for that decode."""
        if self._check is None:
            return []
        try:
            _, err = self._check.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._check.kill()
            _, err = self._check.communicate()
        self._check = None
        return [ln.strip() for ln in err.decode(errors="replace").splitlines() if ln.strip()]

    def close(self) -> None:
        try:
            self._gen.close()
        except Exception:  # ffmpeg may already be gone
            pass
        check = getattr(self, "_check", None)
        if check is not None and check.poll() is None:
            check.kill()
            check.communicate()
        self._check = None

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _ffmpeg_reason(e: BaseException) -> str:
    """The informative line of an imageio-ffmpeg error (its messages quote ffmpeg's log)."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    for ln in reversed(lines):
        if any(k in ln.lower() for k in ("invalid", "error", "no such", "not", "moov")):
            return one_line(ln)
    return one_line(lines[0] if lines else e)


class Mp4Writer:
    """Write RGB frames to an H.264 MP4 that browsers play.

    Args:
        path: the .mp4 file.
        fps: frame rate.
        crf: x264 quality (lower = better and bigger; 23 is x264's default).
    """

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 23):
        self.path, self.fps, self.crf = Path(path), float(fps), int(crf)
        self._gen = None
        self._size: tuple[int, int] | None = None

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame; every frame must have the first one's size."""
        frame = np.asarray(frame, np.uint8)
        h, w = frame.shape[:2]
        if h % 2 or w % 2:
            frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self._gen is None:
            import imageio_ffmpeg  # only for video, as in VideoReader

            self._size = (frame.shape[1], frame.shape[0])
            self._gen = imageio_ffmpeg.write_frames(
                str(self.path), self._size, fps=self.fps, codec="libx264",
                pix_fmt_in="rgb24", pix_fmt_out="yuv420p", macro_block_size=1,
                ffmpeg_log_level="error",
                output_params=["-preset", "veryfast", "-crf", str(self.crf),
                               "-movflags", "+faststart"])
            self._gen.send(None)
        if (frame.shape[1], frame.shape[0]) != self._size:
            raise ValueError(f"{self.path}: frame of size {frame.shape[1]}x{frame.shape[0]}, "
                             f"the video is {self._size[0]}x{self._size[1]}")
        self._gen.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __enter__(self) -> "Mp4Writer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

