"""Accuracy of image -> 3D prediction on real photos (COCO val2017 subset, coco-mini).

    python benchmarks/predict_accuracy.py [--model NAME|PATH] [--data-dir DIR] [--limit N]
                                          [--min-confidence 0.3] [--h36m-dir DIR]
                                          [--retry tiles|none] [--detector blazepose|yolo]

Images: the *single-person* coco-mini photos, i.e. those with exactly one person annotation,
and that annotation has at least one labelled keypoint.

(a) 2D: PCK@0.1 of the detector's keypoints (``wildpose.Estimator``'s 2D output, H36M-17
    converted back to COCO joints) against COCO's annotation, over the 13 joints COCO and
    Human3.6M share (nose = H36M "Neck/Nose", shoulders, elbows, wrists, hips, knees,
    ankles = H36M feet) and only where COCO labels the joint (v > 0).  A joint is correct if
    it lies within 0.1 x max(width, height) of the annotated person box.  A photo where the
    detector finds nobody counts every labelled joint as wrong.  Reported pooled over all
    labelled joints (the headline figure), per joint and per image; also the same restricted
    to joints the detector is confident about (>= --min-confidence) with their coverage.
(b) 3D plausibility of the lifted poses: bone symmetry error (``metrics.bone_symmetry_error``:
    |left - right| length of upper/lower arms and legs, mm) and each bone's length divided by
    its mean length in Human3.6M's training subjects (read from --h36m-dir; skipped if absent).
(c) Time: total wall time and per image (model loading excluded).

The result is written to ``benchmarks/results/predict_accuracy_*.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import _common

#: The 13 joints COCO and Human3.6M-17 share: (COCO name, H36M17 name).
SHARED = (("nose", "Neck/Nose"), ("left_shoulder", "LShoulder"),
          ("right_shoulder", "RShoulder"), ("left_elbow", "LElbow"), ("right_elbow", "RElbow"),
          ("left_wrist", "LWrist"), ("right_wrist", "RWrist"), ("left_hip", "LHip"),
          ("right_hip", "RHip"), ("left_knee", "LKnee"), ("right_knee", "RKnee"),
          ("left_ankle", "LFoot"), ("right_ankle", "RFoot"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="lifter: shipped model name or model file "
                   "(default: the shipped default model)")
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/coco-mini",
                   help="coco-mini folder (default: %(default)s)")
    p.add_argument("--h36m-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m",
                   help="Human3.6M folder for the reference bone lengths (default: "
                        "%(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.3,
                   help="joints below it are missing for the lifter (default 0.3)")
    p.add_argument("--detection-threshold", type=float, default=None,
                   help="the detector's person threshold (default: the detector's own)")
    p.add_argument("--detector", choices=("blazepose", "yolo"), default="blazepose",
                   help="the 2D detector (wildpose.detectors.make_detector; default "
                        "%(default)s)")
    p.add_argument("--retry", choices=("tiles", "none"), default=None,
                   help="the detector's second look when the whole image shows nobody "
                        "(MediaPipePoseDetector's retry option; default: the detector's own)")
    p.add_argument("--threshold", type=float, default=0.1,
                   help="PCK threshold as a fraction of the box's longer side (default 0.1)")
    p.add_argument("--limit", type=int, default=None, help="first N images only (testing)")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/predict_accuracy_<date>.json)")
    return p.parse_args(argv)


def single_person_images(data_dir: Path) -> list[tuple[dict, dict]]:
    """(image record, its one person annotation) for the single-person images."""
    ann_file = data_dir / "annotations" / "person_keypoints_val2017.json"
    doc = json.loads(ann_file.read_text())
    by_image: dict[int, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    out = []
    for img in sorted(doc["images"], key=lambda r: r["file_name"]):
        anns = by_image.get(img["id"], [])
        if len(anns) == 1 and anns[0].get("num_keypoints", 0) > 0 \
                and not anns[0].get("iscrowd", 0):
            out.append((img, anns[0]))
    return out


def h36m_mean_bone_lengths(h36m_dir: Path) -> np.ndarray | None:
    """(16,) mean H36M17 bone lengths (mm) of the training subjects, from a few frames of
    each subject's "Directions" sequences (a subject's bones do not change length)."""
    from wildpose.datasets.h36m import load_h36m
    from wildpose.skeleton import H36M17

    try:
        d = load_h36m(h36m_dir, subjects=(1, 5, 6, 7, 8), actions=("Directions",),
                      cameras=(1,), stride=100, load_sh=False)
    except (FileNotFoundError, OSError, ValueError):
        return None
    per_subject = [H36M17.bone_lengths(d.pose_3d[d.subject == s].astype(np.float64)).mean(0)
                   for s in np.unique(d.subject)]
    return np.mean(per_subject, axis=0)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("predict_accuracy", lambda: run(args),
                                        (ValueError, FileNotFoundError, ImportError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    from wildpose.metrics import bone_symmetry_error
    from wildpose.predict import Estimator, read_image
    from wildpose.skeleton import COCO17, H36M17

    data_dir = Path(args.data_dir)
    items = single_person_images(data_dir)
    if args.limit is not None:
        items = items[:args.limit]
    if not items:
        raise ValueError(f"no single-person images in {data_dir}")

    t0 = time.perf_counter()
    detector = None
    options = {}
    if args.detection_threshold is not None:
        options["min_confidence"] = args.detection_threshold
    if args.retry is not None:
        options["retry"] = None if args.retry == "none" else args.retry
    if options or args.detector != "blazepose":
        from wildpose.detectors import make_detector

        detector = make_detector(args.detector, **options)
    est = Estimator(detector=detector, lifter=args.model, min_confidence=args.min_confidence)
    load_s = time.perf_counter() - t0

    coco_idx = [COCO17.index(c) for c, _ in SHARED]
    h36m_idx = [H36M17.index(h) for _, h in SHARED]
    per_image, poses = [], []
    hits_all = np.zeros(len(SHARED))
    labelled_all = np.zeros(len(SHARED))
    conf_hits = conf_labelled = 0
    t_run = 0.0
    for img_rec, ann in items:
        path = data_dir / "val2017" / img_rec["file_name"]
        image = read_image(path)
        t = time.perf_counter()
        res = est.predict(image, name=path.name)
        t_run += time.perf_counter() - t
        gt = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)[coco_idx]
        labelled = gt[:, 2] > 0
        thr = args.threshold * max(ann["bbox"][2], ann["bbox"][3])
        hit = np.zeros(len(SHARED), bool)
        confident = np.zeros(len(SHARED), bool)
        if res.people:
            p = res.people[0]
            pred = p.keypoints_2d[h36m_idx]
            hit = np.linalg.norm(pred[:, :2] - gt[:, :2], axis=1) <= thr
            confident = pred[:, 2] >= args.min_confidence
            if p.lifted:  # people seen too little to lift have 2D only
                poses.append(p.keypoints_3d)
        hits_all += hit & labelled
        labelled_all += labelled
        conf_hits += int((hit & labelled & confident).sum())
        conf_labelled += int((labelled & confident).sum())
        per_image.append({"image": img_rec["file_name"], "people_found": len(res.people),
                          "lifted": bool(res.people and res.people[0].lifted),
                          "found_by_retry": getattr(est.detector, "last_view", None) is not None,
                          "labelled": int(labelled.sum()), "correct": int((hit & labelled).sum()),
                          "pck": float((hit & labelled).sum() / labelled.sum())})
    est.close()

    results: dict = {
        "images": len(items),
        "images_with_a_detection": sum(r["people_found"] > 0 for r in per_image),
        "images_lifted": sum(r["lifted"] for r in per_image),
        "labelled_joints": int(labelled_all.sum()),
        "pck": float(hits_all.sum() / labelled_all.sum()),
        "pck_per_joint": {h: (float(hits_all[i] / labelled_all[i]) if labelled_all[i] else None)
                          for i, (_, h) in enumerate(SHARED)},
        "pck_confident_joints": conf_hits / conf_labelled if conf_labelled else None,
        "confident_joint_coverage": conf_labelled / labelled_all.sum(),
        "per_image": per_image,
        "seconds_total": t_run,
        "seconds_per_image": t_run / len(items),
        "model_load_seconds": load_s,
    }
    if poses:
        P = np.asarray(poses, np.float64)
        sym = bone_symmetry_error(P)
        results["bone_symmetry_mm"] = {k: float(v.mean()) for k, v in sym.items()}
        ref = h36m_mean_bone_lengths(Path(args.h36m_dir))
        if ref is not None:
            ratio = H36M17.bone_lengths(P) / ref
            results["bone_length_ratio_to_h36m"] = {
                name: float(ratio[:, i].mean()) for i, name in enumerate(H36M17.bone_names)}
            results["bone_length_ratio_mean_abs_deviation"] = float(np.abs(ratio - 1).mean())
            results["h36m_mean_bone_lengths_mm"] = {
                name: float(ref[i]) for i, name in enumerate(H36M17.bone_names)}
    from wildpose.zoo import DEFAULT_MODEL

    params = {"model": _common.model_identity(args.model or DEFAULT_MODEL),
              "data_dir": str(data_dir), "h36m_dir": args.h36m_dir,
              "min_confidence": args.min_confidence, "threshold": args.threshold,
              "limit": args.limit, "detector": est.detector.name,
              "detection_threshold": getattr(est.detector, "min_confidence", None),
              "detector_retry": getattr(est.detector, "retry", None),
              "focal_length": "55 deg across the longer side"}
    record = _common.make_record("predict_accuracy", params, results, started)
    out = _common.write_record(record, args.out)
    print(f"{len(items)} single-person images, {results['labelled_joints']} labelled joints: "
          f"PCK@{args.threshold:g} = {results['pck']:.3f} (confident joints: "
          f"{results['pck_confident_joints'] or float('nan'):.3f}, coverage "
          f"{results['confident_joint_coverage']:.2f}); "
          f"{results['seconds_per_image'] * 1000:.0f} ms/image")
    if "bone_symmetry_mm" in results:
        print(f"bone symmetry error {results['bone_symmetry_mm']['mean']:.1f} mm; bone length / "
              f"H36M mean: mean |ratio - 1| = "
              f"{results.get('bone_length_ratio_mean_abs_deviation', float('nan')):.3f}")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
