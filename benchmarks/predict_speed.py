"""End-to-end speed of image -> 3D prediction on this CPU (model loaded).

    python benchmarks/predict_speed.py [--model NAME|PATH] [--images 50] [--frames 90]
                                       [--detector topdown|movenet] [--refine]
                                       [--second-look never|empty]
                                       [--detector-option KEY=VALUE ...]
                                       [--png-images 3] [--image examples/motorcyclist.jpg]

The test image is --image scaled to 640 px wide and centre-cropped (or padded) to 640x480.

(a) ``Estimator.predict`` on that array, called --images times after 2 warm-up calls:
    images/s end to end (2D detection, H36M-17 conversion, lifting, root translation), and
    the same split into the detector alone and lifting + root fit alone; also the detector
    alone on a blank (grey) 640x480 image, where nobody is found.
(b) The file pipeline ``predict_path`` on a folder of --images copies of the JPEG: without
    PNGs (read + predict + JSON + the NPZ) and with a PNG per image, images/s each.
(c) Video: a 640x480 30 fps H.264 MP4 of --frames frames made at run time (never committed):
    640x480 crops moving across the photo scaled to 800 px, so the person moves and changes
    size.  ``predict_video`` (decode, detect, track, lift, per-frame JSON, NPZ, overlay MP4)
    frames/s, and ``Estimator.predict_frame`` with a tracker alone, frames/s.

The machine is shared: the record keeps the 1-minute load average before and after the run
and ``--note`` (e.g. "other jobs were loading the CPU").

The result is written to ``benchmarks/results/predict_speed_*.json``.  Model loading and
detector start-up are timed separately and excluded from the rates.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="lifter: shipped model name or model file "
                   "(default: the shipped default model)")
    p.add_argument("--image", default="examples/motorcyclist.jpg",
                   help="source photo, relative to the repository root or absolute (default: "
                        "the repository's example)")
    p.add_argument("--images", type=int, default=50, help="timed images (default 50)")
    p.add_argument("--png-images", type=int, default=50, help="images timed with a PNG "
                   "each (default 50; 0 skips)")
    p.add_argument("--frames", type=int, default=90, help="frames of the synthetic video "
                   "(default 90; 0 skips the video)")
    p.add_argument("--detector", choices=("topdown", "movenet"), default="topdown",
                   help="the 2D detector (wildpose.detectors.make_detector; default "
                        "%(default)s)")
    p.add_argument("--refine", action="store_true",
                   help="also MultiPose's person boxes (make_detector(..., refine=True))")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a further keyword of make_detector, VALUE as JSON (e.g. threads=1); "
                        "repeatable")
    p.add_argument("--second-look", default=None, choices=("never", "empty"),
                   help="when MultiPose looks again at 512 px (default: the detector's own)")
    p.add_argument("--note", default="", help="a note kept in the record (e.g. the load)")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/predict_speed_<date>.json)")
    args = p.parse_args(argv)
    if args.images < 1:
        p.error("--images must be at least 1")
    return args


def test_image(path: str) -> np.ndarray:
    """(480, 640, 3) uint8: the photo scaled to 640 wide, centre-cropped/padded to 480 high."""
    from PIL import Image

    from wildpose.predict import read_image

    img = read_image(path)
    h, w = img.shape[:2]
    new_h = round(h * 640 / w)
    img = np.asarray(Image.fromarray(img).resize((640, new_h), Image.BILINEAR))
    out = np.zeros((480, 640, 3), np.uint8)
    if new_h >= 480:
        top = (new_h - 480) // 2
        out[:] = img[top:top + 480]
    else:
        top = (480 - new_h) // 2
        out[top:top + new_h] = img
    return out


def rate(fn, n: int) -> dict:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    total = sum(times)
    return {"per_s": n / total, "calls": n, "seconds": total,
            "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times)}


def write_video(path: Path, photo: np.ndarray, frames: int, fps: float = 30.0) -> None:
    """An H.264 MP4 of 640x480 crops moving across ``photo`` scaled to 800 px on its
    shorter side: left to right and back, and up and down once."""
    from PIL import Image

    from wildpose.media import Mp4Writer

    h, w = photo.shape[:2]
    s = 800 / min(h, w)
    big = np.asarray(Image.fromarray(photo).resize((round(w * s), round(h * s)),
                                                   Image.BILINEAR))
    bh, bw = big.shape[:2]
    with Mp4Writer(path, fps) as writer:
        for i in range(frames):
            phase = i / max(frames - 1, 1)
            x = round((bw - 640) * 0.5 * (1 - np.cos(2 * np.pi * phase)))
            y = round((bh - 480) * 0.5 * (1 - np.cos(np.pi * phase)))
            writer.write(big[y:y + 480, x:x + 640])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("predict_speed", lambda: run(args),
                                        (ValueError, FileNotFoundError, ImportError, RuntimeError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    from PIL import Image

    from wildpose.predict import Estimator, predict_path, predict_video, read_image

    load_before = os.getloadavg()[0]
    args.image = str(_common.REPO_ROOT / args.image)   # an absolute path stays as it is
    image = test_image(args.image)
    t = time.perf_counter()
    from wildpose.detectors import make_detector

    options = {"refine": True} if args.refine else {}
    options.update(dict(_common.detector_option(o) for o in args.detector_option))
    if args.second_look is not None:
        options["second_look"] = args.second_look
    est = Estimator(detector=make_detector(args.detector, **options), lifter=args.model)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    est.predict(image)                      # detector graph start-up and first inference
    first_s = time.perf_counter() - t
    est.predict(image)
    results: dict = {"model_load_seconds": load_s, "first_image_seconds": first_s}

    people = len(est.predict(image).people)
    results["people_in_test_image"] = people
    results["predict"] = rate(lambda: est.predict(image), args.images)
    results["detect_only"] = rate(lambda: est.detector.detect(image), args.images)
    blank = np.full_like(image, 128)
    results["detect_only_nobody"] = rate(lambda: est.detector.detect(blank), args.images)
    dets = est.detector.detect(image)
    results["lift_and_root_only"] = rate(lambda: est.from_detections(dets, 640, 480),
                                         args.images)

    tmp = Path(tempfile.mkdtemp(prefix="wildpose_speed_"))
    try:
        folder = tmp / "images"
        folder.mkdir()
        Image.fromarray(image).save(folder / "img_0000.jpg", quality=92)
        for i in range(1, args.images):
            shutil.copyfile(folder / "img_0000.jpg", folder / f"img_{i:04d}.jpg")
        t = time.perf_counter()
        s = predict_path(folder, tmp / "out", est, png=False, progress=False)
        dt = time.perf_counter() - t
        results["files_no_png"] = {"per_s": args.images / dt, "images": args.images,
                                   "seconds": dt, "failed": len(s.failed)}
        if args.png_images > 0:
            sub = tmp / "png"
            sub.mkdir()
            for i in range(args.png_images):
                shutil.copyfile(folder / "img_0000.jpg", sub / f"img_{i:04d}.jpg")
            t = time.perf_counter()
            predict_path(sub, tmp / "out_png", est, png=True, progress=False)
            dt = time.perf_counter() - t
            per = dt / args.png_images
            results["files_with_png"] = {"per_s": 1 / per, "images": args.png_images,
                                         "seconds": dt,
                                         "png_seconds_per_image":
                                             per - 1 / results["files_no_png"]["per_s"]}
        if args.frames > 0:
            from wildpose.media import VideoReader
            from wildpose.tracking import PoseTracker

            video = tmp / "moving_crops.mp4"
            write_video(video, read_image(args.image), args.frames)
            t = time.perf_counter()
            s = predict_video(video, tmp / "out_video", est, progress=False)
            dt = time.perf_counter() - t
            results["video_pipeline"] = {"per_s": args.frames / dt, "frames": args.frames,
                                         "seconds": dt, "failed": len(s.failed),
                                         "frames_with_a_person": s.people}
            with VideoReader(video) as reader:
                frames = [f.copy() for f in reader]
            est.reset()
            tracker = PoseTracker(30.0)
            it = iter(frames)
            results["video_tracking_only"] = rate(
                lambda: est.predict_frame(next(it), tracker=tracker), len(frames))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    est.close()

    results["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    params = {"model": _common.model_identity(args.model) if args.model
              else est.lifter.info.get("name"), "note": args.note,
              "image": os.path.relpath(args.image, _common.REPO_ROOT), "size": [640, 480],
              "images": args.images, "png_images": args.png_images, "frames": args.frames,
              "detector": est.detector.name, "refine": args.refine,
              "detector_options": dict(_common.detector_option(o)
                                       for o in args.detector_option),
              "second_look": getattr(est.detector, "second_look", None),
              "lifter_backend": getattr(est.lifter, "backend", None),
              "flip_test": getattr(est.lifter, "flip_test", None)}
    record = _common.make_record("predict_speed", params, results, started)
    out = _common.write_record(record, args.out)
    print(f"640x480, model loaded: {results['predict']['per_s']:.1f} images/s end to end "
          f"(detector alone {results['detect_only']['per_s']:.1f}/s, on a blank image "
          f"{results['detect_only_nobody']['per_s']:.1f}/s, lifting + root "
          f"{results['lift_and_root_only']['per_s']:.0f}/s); files without PNG "
          f"{results['files_no_png']['per_s']:.1f} images/s")
    if "files_with_png" in results:
        print(f"files with a PNG each: {results['files_with_png']['per_s']:.1f} images/s")
    if "video_pipeline" in results:
        print(f"video: {results['video_pipeline']['per_s']:.1f} frames/s with outputs, "
              f"{results['video_tracking_only']['per_s']:.1f} frames/s tracking alone")
    print(f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
