"""End-to-end speed of image -> 3D prediction on this CPU (model loaded).

    python benchmarks/predict_speed.py [--model NAME|PATH] [--images 50] [--frames 90]
                                       [--png-images 3] [--image examples/motorcyclist.jpg]

The test image is --image scaled to 640 px wide and centre-cropped (or padded) to 640x480.

(a) ``Estimator.predict`` on that array, called --images times after 2 warm-up calls:
    images/s end to end (2D detection, H36M-17 conversion, lifting with the flip test, root
    translation), and the same split into the detector alone and lifting + root fit alone.
(b) The file pipeline ``predict_path`` on a folder of --images copies of the JPEG, without
    PNGs (read + predict + JSON + the NPZ), images/s; and the extra seconds per PNG figure,
    timed on --png-images images.
(c) Video: a synthetic 640x480 30 fps MP4 of --frames frames (the test image drifting
    sideways and zooming slowly), written with OpenCV: ``predict_video`` (decode, track,
    lift, per-frame JSON, NPZ, overlay MP4) frames/s, and ``Estimator.predict_frame`` alone
    (tracking mode) frames/s.

The result is written to ``benchmarks/results/predict_speed_*.json``.  Model loading and
detector start-up are timed separately and excluded from the rates.
"""

from __future__ import annotations

import argparse
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
    p.add_argument("--image", default=str(_common.REPO_ROOT / "examples" / "motorcyclist.jpg"),
                   help="source photo (default: the repository's example)")
    p.add_argument("--images", type=int, default=50, help="timed images (default 50)")
    p.add_argument("--png-images", type=int, default=3, help="images timed with PNG "
                   "drawing (default 3; 0 skips)")
    p.add_argument("--frames", type=int, default=90, help="frames of the synthetic video "
                   "(default 90; 0 skips the video)")
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


def write_video(path: Path, image: np.ndarray, frames: int, fps: float = 30.0) -> None:
    import cv2

    h, w = image.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError("this OpenCV build cannot write mp4v video")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    for i in range(frames):
        s = 1.0 + 0.1 * i / max(frames - 1, 1)                  # slow zoom in
        dx = 40 * np.sin(2 * np.pi * i / max(frames, 1))        # drift sideways
        m = np.array([[s, 0, (1 - s) * w / 2 + dx], [0, s, (1 - s) * h / 2]], np.float64)
        writer.write(cv2.warpAffine(bgr, m, (w, h), borderMode=cv2.BORDER_REFLECT))
    writer.release()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("predict_speed", lambda: run(args),
                                        (ValueError, FileNotFoundError, ImportError, RuntimeError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    from PIL import Image

    from wildpose.predict import Estimator, predict_path, predict_video
    from wildpose.zoo import DEFAULT_MODEL

    image = test_image(args.image)
    t = time.perf_counter()
    est = Estimator(lifter=args.model)
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
            import cv2

            video = tmp / "synthetic.mp4"
            write_video(video, image, args.frames)
            t = time.perf_counter()
            s = predict_video(video, tmp / "out_video", est, progress=False)
            dt = time.perf_counter() - t
            results["video_pipeline"] = {"per_s": args.frames / dt, "frames": args.frames,
                                         "seconds": dt, "failed": len(s.failed),
                                         "frames_with_a_person": s.people}
            cap = cv2.VideoCapture(str(video))
            frames = []
            while True:
                ok, fr = cap.read()
                if not ok:
                    break
                frames.append(cv2.cvtColor(fr, cv2.COLOR_BGR2RGB))
            cap.release()
            est.reset()
            it = iter(frames)
            results["video_tracking_only"] = rate(lambda: est.predict_frame(next(it)),
                                                  len(frames))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    est.close()

    params = {"model": _common.model_identity(args.model or DEFAULT_MODEL),
              "image": args.image, "size": [640, 480], "images": args.images,
              "png_images": args.png_images, "frames": args.frames,
              "detector": est.detector.name, "lifter_backend": est.lifter.backend,
              "flip_test": est.lifter.flip_test}
    record = _common.make_record("predict_speed", params, results, started)
    out = _common.write_record(record, args.out)
    print(f"640x480, model loaded: {results['predict']['per_s']:.1f} images/s end to end "
          f"(detector alone {results['detect_only']['per_s']:.1f}/s, lifting + root "
          f"{results['lift_and_root_only']['per_s']:.0f}/s); files without PNG "
          f"{results['files_no_png']['per_s']:.1f} images/s")
    if "files_with_png" in results:
        print(f"PNG figure: +{results['files_with_png']['png_seconds_per_image']:.2f} s/image")
    if "video_pipeline" in results:
        print(f"video: {results['video_pipeline']['per_s']:.1f} frames/s with outputs, "
              f"{results['video_tracking_only']['per_s']:.1f} frames/s tracking alone")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
