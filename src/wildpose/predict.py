"""Photos, folders of photos and videos to 3D poses of everyone in them, written to files.

>>> import wildpose
>>> est = wildpose.Estimator()                  # NanoDet-g + MoveNet Thunder, the default lifter
>>> result = est.predict("photo.jpg")           # wildpose.estimator.PredictionResult
>>> wildpose.predict_path("clip.mp4", "out/")   # files, see below

The per-image work is :class:`~wildpose.estimator.Estimator`'s (re-exported here with
:class:`Person` and :class:`PredictionResult`); this module runs it over files:

* per image: ``<stem>.json`` = ``{"image", "width", "height", "people": [{"keypoints_2d",
  "keypoints_3d", "root_translation"}]}`` (every person found, largest first;
  ``keypoints_3d`` null for a person seen too little to lift, a missing joint's 2D position
  null), ``<stem>.png`` (the photo with everyone's skeleton, 3D views beside it) and with
  ``bvh`` ``<stem>_<person>.bvh``; one ``.npz`` with every result.
* per video: ``<stem>/<stem>_<frame:06d>.json`` per frame (each person with its
  ``track_id``), ``<stem>.npz``, ``<stem>.mp4`` (H.264, the skeletons drawn over the frames)
  and with ``bvh`` ``<stem>_<track>.bvh`` per track, from the track's first frame to its last.

People keep their identity from frame to frame (:class:`~wildpose.tracking.PoseTracker`);
``smooth`` filters each track's 2D keypoints (One-Euro) before lifting.

Failures (a photo or video that cannot be read, frames that fail, outputs that cannot be
written) are reported one line each and skipped; the returned :class:`PredictSummary` says
what was written and what failed (``summary.ok``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from .estimator import Estimator, Person, PredictionResult
from .export import write_bvh
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Mp4Writer, VideoReader, one_line, \
    read_image
from .outputs import PredictSummary, fail, not_onto, report_stderr, save_npz, unique_stems, \
    unused_name, write_json
from .tracking import PoseTracker

__all__ = [
    "Person", "PredictionResult", "Estimator", "PredictSummary", "read_image", "predict_path",
    "predict_images", "predict_video", "unique_stems", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS",
]

_KEYPOINT_EXTENSIONS = (".npy", ".npz", ".json")


def _write_bvh(path: Path, poses: np.ndarray, fps: float, roots: np.ndarray | None,
               summary: PredictSummary, report: Callable[[str], None]) -> None:
    try:
        summary.outputs.append(write_bvh(path, poses, fps=fps, root_translation=roots))
    except (OSError, ValueError) as e:
        fail(summary, report, str(path), f"cannot write its BVH ({one_line(e)})")


def predict_images(files: list[Path], outdir: str | os.PathLike, estimator: Estimator, *,
                   npz_name: str | None = None, png: bool = True, bvh: bool = False,
                   progress: bool = True, report: Callable[[str], None] = report_stderr,
                   taken: set[str] | None = None) -> PredictSummary:
    """Predict every image file: ``<stem>.json`` (+ ``<stem>.png``, ``<stem>_<i>.bvh`` per
    lifted person) each, and ``<npz_name>.npz`` with all results (default: the single image's
    stem, or "predictions").  A file that fails is reported and skipped; a photo with nobody
    found or lifted in it is reported as failed (its JSON is still written).  ``taken``:
    output names already used in this run, which these files' names avoid
    (:func:`unique_stems`)."""
    from .visualize import save_people_png  # matplotlib is slow to import: not at start-up

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    summary = PredictSummary()
    sources = {f.resolve() for f in files}
    results: list[PredictionResult] = []
    taken = set() if taken is None else taken
    stems = unique_stems(files, taken)
    bar = tqdm(list(zip(files, stems)), desc="images", unit="image", disable=not progress,
               file=sys.stderr, leave=False)
    for path, stem in bar:
        try:
            image = read_image(path)
            result = estimator.predict(image, name=path.name)
        except Exception as e:  # one bad file must not stop the others
            fail(summary, report, str(path), one_line(e))
            continue
        for note in result.notes:
            report(f"wildpose: {path}: {note}")
        # Nobody found (or none lifted) is a failed input, though its JSON is still written.
        if not result.people:
            fail(summary, report, str(path), "nobody found")
        elif not any(p.lifted for p in result.people):
            fail(summary, report, str(path), f"nobody lifted ({len(result.people)} found, "
                 "none with enough sure joints and a torso)")
        try:
            summary.written.append(write_json(outdir / f"{stem}.json", result))
            summary.outputs.append(summary.written[-1])
        except OSError as e:
            fail(summary, report, str(path), f"cannot write its JSON ({one_line(e)})")
            continue
        results.append(result)
        summary.people += len(result.people)
        if png:
            try:
                summary.outputs.append(save_people_png(
                    not_onto(outdir / f"{stem}.png", sources, "_pose"), image, result.people,
                    estimator.min_confidence))
            except Exception as e:
                fail(summary, report, str(path), f"cannot draw its PNG ({one_line(e)})")
        if bvh:
            for i, p in enumerate(result.people):
                if p.lifted:
                    _write_bvh(outdir / f"{stem}_{i}.bvh", p.keypoints_3d[None], 30.0, None,
                               summary, report)
    bar.close()
    if results:
        name = stems[0] if len(files) == 1 and not npz_name else \
            unused_name(npz_name or "predictions", taken)
        try:
            summary.outputs.append(save_npz(outdir / f"{name}.npz", results))
        except OSError as e:
            fail(summary, report, str(outdir / f"{name}.npz"), f"cannot write ({one_line(e)})")
    return summary


def predict_video(path: str | os.PathLike, outdir: str | os.PathLike, estimator: Estimator, *,
                  smooth: bool = False, bvh: bool = False, mp4: bool = True,
                  progress: bool = True, max_frames: int | None = None,
                  report: Callable[[str], None] = report_stderr,
                  taken: set[str] | None = None) -> PredictSummary:
    """Predict every frame of a video (``taken``: as for :func:`predict_images`).

    Writes ``OUTDIR/<stem>/<stem>_<frame:06d>.json`` per frame, ``OUTDIR/<stem>.npz`` (all
    frames; ``frame`` holds the frame indices, ``fps`` the frame rate, ``track_id`` each
    person's track), ``OUTDIR/<stem>.mp4`` (``<stem>_pose.mp4`` if that is the input; H.264)
    with the skeletons drawn over the frames, and with ``bvh`` ``OUTDIR/<stem>_<track>.bvh``
    per track (from its first frame to its last; frames where it is unseen repeat the nearest
    seen one).  ``smooth`` runs a One-Euro filter (min cut-off 1 Hz, beta 5 per image height
    per second) over each track's 2D keypoints before lifting, so the 3D poses and root
    translations are smoothed with them.
    """
    from .visualize import draw_people  # matplotlib is slow to import: not at start-up

    path, outdir = Path(path), Path(outdir)
    summary = PredictSummary()
    try:
        reader = VideoReader(path)
    except ValueError as e:
        fail(summary, report, str(path), one_line(e))
        return summary
    total = reader.expected_frames
    if max_frames is not None:
        total = min(total, max_frames) if total > 0 else max_frames
    stem = unique_stems([path], taken)[0]
    frame_dir = outdir / stem
    frame_dir.mkdir(parents=True, exist_ok=True)
    estimator.reset()
    tracker = PoseTracker(reader.fps, smooth=smooth)
    mp4_path = not_onto(outdir / f"{stem}.mp4", {path.resolve()}, "_pose")
    writer = Mp4Writer(mp4_path, reader.fps) if mp4 else None
    results: list[PredictionResult] = []
    frames: list[int] = []
    bar = tqdm(total=total or None, desc=path.name, unit="frame", disable=not progress,
               file=sys.stderr, leave=False)
    index = 0
    try:
        for frame in reader:
            if max_frames is not None and index >= max_frames:
                break
            bar.update(1)
            try:
                result = estimator.predict_frame(frame, name=f"{path.name}#{index}",
                                                 tracker=tracker)
                summary.written.append(write_json(frame_dir / f"{stem}_{index:06d}.json",
                                                  result))
                summary.outputs.append(summary.written[-1])
                results.append(result)
                frames.append(index)
                summary.people += len(result.people)
            except Exception as e:  # a bad frame is skipped, the video goes on
                fail(summary, report, f"{path} frame {index}", one_line(e))
                result = None
            if writer is not None:
                try:
                    writer.write(frame if result is None else
                                 draw_people(frame, result.people, estimator.min_confidence))
                except (OSError, ValueError, BrokenPipeError) as e:
                    fail(summary, report, str(mp4_path), f"cannot write ({one_line(e)})")
                    writer.close()
                    writer = None
            index += 1
    finally:
        bar.close()
        damaged = reader.decode_errors() if index else []
        reader.close()
        if writer is not None:
            try:
                writer.close()
                summary.outputs.append(mp4_path)
            except (OSError, RuntimeError) as e:
                fail(summary, report, str(mp4_path), f"cannot write ({one_line(e)})")
    if index == 0:
        fail(summary, report, str(path), "no frame could be decoded"
             + (f" ({reader.error})" if reader.error else ""))
        return summary
    problems = []                            # one line for the video, however it broke
    if reader.error:
        problems.append(f"decoding stopped at frame {index} ({reader.error})")
    elif max_frames is None and total and index < total - 1:
        # containers round their duration; more than one frame short means frames were lost
        problems.append(f"only {index} of about {total} frames could be decoded")
    if damaged:
        problems.append(f"ffmpeg reported {len(damaged)} decoding error(s) (first: "
                        f"{damaged[0]}), so some frames are damaged")
    if problems:
        fail(summary, report, str(path), "; ".join(problems) + "; every frame read was written")
    if results and not any(p.lifted for r in results for p in r.people):
        fail(summary, report, str(path), f"nobody found or lifted in any of its {index} frames")
    if results:
        try:
            summary.outputs.append(save_npz(outdir / f"{stem}.npz", results,
                                            frame=np.array(frames, np.int32),
                                            fps=np.float32(reader.fps)))
        except OSError as e:
            fail(summary, report, str(outdir / f"{stem}.npz"), f"cannot write ({one_line(e)})")
    if bvh:
        _write_track_bvhs(outdir, stem, frames, results, reader.fps, summary, report)
    return summary


def _write_track_bvhs(outdir: Path, stem: str, frames: list[int],
                      results: list[PredictionResult], fps: float, summary: PredictSummary,
                      report: Callable[[str], None]) -> None:
    """``<stem>_<track>.bvh`` for each track with a lifted pose, over its span of frames."""
    seen: dict[int, list[tuple[int, Person]]] = {}
    for f, r in zip(frames, results):
        for p in r.people:
            if p.track_id is not None and p.lifted:
                seen.setdefault(p.track_id, []).append((f, p))
    for track, rows in sorted(seen.items()):
        first, last = rows[0][0], rows[-1][0]
        poses = np.full((last - first + 1, 17, 3), np.nan)
        roots = np.full((last - first + 1, 3), np.nan)
        for f, p in rows:
            poses[f - first] = p.keypoints_3d
            if p.root_translation is not None:
                roots[f - first] = p.root_translation
        _write_bvh(outdir / f"{stem}_{track}.bvh", poses, fps, roots, summary, report)


def predict_path(path: str | os.PathLike, outdir: str | os.PathLike = "out",
                 estimator: Estimator | None = None, *, png: bool = True, bvh: bool = False,
                 smooth: bool = False, progress: bool = True,
                 report: Callable[[str], None] = report_stderr,
                 taken: set[str] | None = None) -> PredictSummary:
    """Predict an image file, a folder of images (not recursive) or a video file.

    Args:
        path: the input.
        outdir: output folder (created).
        estimator: an :class:`Estimator` (default: a new one with the default detector and
            lifter).
        png: draw a PNG per image.
        bvh: also write BVH motion (per person of each image; per track of a video).
        smooth: temporal smoothing for videos (ignored for images).
        progress: show a progress bar on stderr.
        report: where one-line failure messages go (default: stderr).
        taken: output names already used in this run (several inputs into one folder):
            this input's names avoid them, and are added (:func:`unique_stems`).
    Returns:
        a :class:`PredictSummary`; ``summary.ok`` is False if anything failed.
    """
    path = Path(path)
    summary = PredictSummary()
    if Path(outdir).exists() and not Path(outdir).is_dir():
        fail(summary, report, str(outdir), "is a file, not an output folder")
        return summary
    if not path.exists():
        fail(summary, report, str(path), "no such file or folder")
        return summary
    if path.is_file() and path.suffix.lower() in _KEYPOINT_EXTENSIONS:
        fail(summary, report, str(path), "a keypoint file, not an image: lift it with "
             "`wildpose lift`")
        return summary
    if estimator is None:
        estimator = Estimator()
    if path.is_dir():
        files = sorted(p for p in path.iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            fail(summary, report, str(path), "folder holds no images (looked for "
                 f"{', '.join(IMAGE_EXTENSIONS)})")
            return summary
        return predict_images(files, outdir, estimator, npz_name=path.resolve().name or
                              "predictions", png=png, bvh=bvh, progress=progress,
                              report=report, taken=taken)
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return predict_video(path, outdir, estimator, smooth=smooth, bvh=bvh,
                             progress=progress, report=report, taken=taken)
    return predict_images([path], outdir, estimator, png=png, bvh=bvh, progress=progress,
                          report=report, taken=taken)
