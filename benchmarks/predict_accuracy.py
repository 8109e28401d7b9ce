"""Accuracy of `wildpose predict`'s 2D on real photos (COCO val2017 subset, coco-mini), with the
people-finding figures of issue 26.

    python benchmarks/predict_accuracy.py [--detector topdown|movenet|blazepose|yolo]
                                          [--refine]
                                          [--second-look never|empty]
                                          [--detector-option KEY=VALUE ...]
                                          [--model NAME|PATH]
                                          [--data-dir DIR] [--h36m-dir DIR] [--limit N]

Joints: the 12 joints COCO and Human3.6M-17 share (shoulders, elbows, wrists, hips, knees,
ankles = H36M feet), compared where COCO labels them (v > 0).  A joint is correct if the
prediction lies within 0.1 x max(width, height) of the annotated person box (PCK@0.1); a
missing predicted joint (null) is wrong, and so is every joint of a photo where nobody is
found.  The prediction is ``wildpose.Estimator``'s H36M-17 2D output, as written to the JSON.

Figures (each both ways the unknown scorer may pick the predicted person: the *best-matching*
one, i.e. the one with the most correct joints for that annotation, and the *first-listed* one,
i.e. the largest, ``people[0]``):

1. ``one_annotation``: the photos with exactly one person annotation (14); PCK pooled over
   their labelled joints (the headline), and the mean of per-photo PCKs.
2. ``one_keypoint_person``: the photos with exactly one keypoint-annotated person (19;
   annotations without keypoints, e.g. bystanders, are allowed); as (1).
3. ``recall``: over all photos, the annotated people with >= 8 labelled shared joints (38);
   one is *found* if some predicted person has at least half of that person's labelled shared
   joints correct.  (First-listed: only ``people[0]`` may count, one annotation per photo.)

Also (b) 3D plausibility of the lifted poses of set (2): bone symmetry error
(``metrics.bone_symmetry_error``, mm) and each bone's length over Human3.6M's training mean
(read from --h36m-dir; skipped if absent), and (c) time per photo (model loading excluded).

Nothing is chosen on these photos: the detector's settings follow the rules written in
``benchmarks/PREDICT_DECISIONS.md`` before any figure was measured.
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

#: The 12 joints COCO and Human3.6M-17 share: (COCO name, H36M17 name).
SHARED = (("left_shoulder", "LShoulder"), ("right_shoulder", "RShoulder"),
          ("left_elbow", "LElbow"), ("right_elbow", "RElbow"), ("left_wrist", "LWrist"),
          ("right_wrist", "RWrist"), ("left_hip", "LHip"), ("right_hip", "RHip"),
          ("left_knee", "LKnee"), ("right_knee", "RKnee"), ("left_ankle", "LFoot"),
          ("right_ankle", "RFoot"))
#: Labelled shared joints an annotated person needs to count in the recall.
MIN_JOINTS_FOR_RECALL = 8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=None, help="lifter: shipped model name or model file "
                   "(default: wildpose.load_lifter()'s)")
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/coco-mini",
                   help="coco-mini folder (default: %(default)s)")
    p.add_argument("--h36m-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m",
                   help="Human3.6M folder for the reference bone lengths (default: "
                        "%(default)s)")
    p.add_argument("--min-confidence", type=float, default=0.3,
                   help="joints below it are missing for the lifter (default 0.3)")
    p.add_argument("--detection-threshold", type=float, default=None,
                   help="the detector's person threshold (default: the detector's own)")
    p.add_argument("--detector", choices=("topdown", "movenet", "blazepose", "yolo"),
                   default="topdown",
                   help="the 2D detector (wildpose.detectors.make_detector; default "
                        "%(default)s)")
    p.add_argument("--refine", action="store_true",
                   help="topdown/movenet: also MultiPose's person boxes (make_detector(..., "
                        "refine=True))")
    p.add_argument("--detector-option", action="append", default=[], metavar="KEY=VALUE",
                   help="a further keyword of make_detector, VALUE as JSON (e.g. threads=1); "
                        "repeatable")
    p.add_argument("--second-look", default=None, choices=("never", "empty"),
                   help="MoveNet only: when MultiPose looks again at 512 px (default: the "
                        "detector's own)")
    p.add_argument("--threshold", type=float, default=0.1,
                   help="PCK threshold as a fraction of the box's longer side (default 0.1)")
    p.add_argument("--limit", type=int, default=None, help="first N photos only (testing)")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/predict_accuracy_<date>.json)")
    return p.parse_args(argv)


def load_annotations(data_dir: Path) -> list[tuple[dict, list[dict]]]:
    """(image record, its annotations) for every photo, by file name."""
    ann_file = data_dir / "annotations" / "person_keypoints_val2017.json"
    doc = json.loads(ann_file.read_text())
    by_image: dict[int, list[dict]] = {}
    for a in doc["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    return [(img, by_image.get(img["id"], []))
            for img in sorted(doc["images"], key=lambda r: r["file_name"])]


def correct_joints(pred_2d: np.ndarray, ann: dict, h36m_idx: list[int], coco_idx: list[int],
                   threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(correct, labelled): (12,) bools of one predicted person ((17, 3) H36M17 [x, y, c],
    NaN = missing) against one COCO annotation."""
    gt = np.asarray(ann["keypoints"], np.float64).reshape(17, 3)[coco_idx]
    labelled = gt[:, 2] > 0
    thr = threshold * max(ann["bbox"][2], ann["bbox"][3])
    d = np.linalg.norm(np.asarray(pred_2d, np.float64)[h36m_idx, :2] - gt[:, :2], axis=1)
    return labelled & (d <= thr), labelled     # NaN distance compares False: wrong


def score_set(rows: list[dict]) -> dict:
    """Pooled and per-photo PCK of a photo set, best-matching and first-listed."""
    out: dict = {"photos": len(rows), "photos_with_someone_found":
                 sum(r["people_found"] > 0 for r in rows),
                 "labelled_joints": int(sum(r["labelled"] for r in rows))}
    for way in ("best", "first"):
        correct = sum(r[f"correct_{way}"] for r in rows)
        out[f"pck_{way}"] = correct / out["labelled_joints"] if out["labelled_joints"] else None
        # a photo whose person has none of the 12 joints labelled has no per-photo PCK
        per_photo = [r[f"correct_{way}"] / r["labelled"] for r in rows if r["labelled"]]
        out[f"pck_{way}_mean_per_photo"] = float(np.mean(per_photo)) if per_photo else None
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("predict_accuracy", lambda: run(args),
                                        (ValueError, FileNotFoundError, ImportError))


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


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    from wildpose.detectors import make_detector
    from wildpose.metrics import bone_symmetry_error
    from wildpose.predict import Estimator, read_image
    from wildpose.skeleton import COCO17, H36M17

    data_dir = Path(args.data_dir)
    photos = load_annotations(data_dir)
    if args.limit is not None:
        photos = photos[:args.limit]
    if not photos:
        raise ValueError(f"no photos in {data_dir}")

    t0 = time.perf_counter()
    options = {} if args.detection_threshold is None else \
        {"min_confidence": args.detection_threshold}
    if args.refine:
        options["refine"] = True
    options.update(dict(_common.detector_option(o) for o in args.detector_option))
    if args.second_look is not None:
        options["second_look"] = args.second_look
    est = Estimator(detector=make_detector(args.detector, **options), lifter=args.model,
                    min_confidence=args.min_confidence)
    load_s = time.perf_counter() - t0

    coco_idx = [COCO17.index(c) for c, _ in SHARED]
    h36m_idx = [H36M17.index(h) for _, h in SHARED]
    sets: dict[str, list[dict]] = {"one_annotation": [], "one_keypoint_person": []}
    recall_rows, poses, per_photo = [], [], []
    t_run = 0.0
    for img_rec, anns in photos:
        image = read_image(data_dir / "val2017" / img_rec["file_name"])
        t = time.perf_counter()
        res = est.predict(image, name=img_rec["file_name"])
        t_run += time.perf_counter() - t
        preds = [p.keypoints_2d for p in res.people]
        per_photo.append({"image": img_rec["file_name"], "people_found": len(res.people),
                          "annotations": len(anns)})
        for ann in anns:
            scored = [correct_joints(p, ann, h36m_idx, coco_idx, args.threshold)
                      for p in preds]
            labelled = (np.asarray(ann["keypoints"]).reshape(17, 3)[coco_idx, 2] > 0)
            n_correct = [int(c.sum()) for c, _ in scored]
            best = int(np.argmax(n_correct)) if scored else None
            row = {"image": img_rec["file_name"], "annotation": ann["id"],
                   "people_found": len(res.people), "labelled": int(labelled.sum()),
                   "correct_best": max(n_correct, default=0),
                   "correct_first": n_correct[0] if scored else 0, "best_index": best}
            if labelled.sum() >= MIN_JOINTS_FOR_RECALL:
                half = labelled.sum() / 2
                recall_rows.append({**row, "found_best": row["correct_best"] >= half,
                                    "found_first": row["correct_first"] >= half})
            if len(anns) == 1:
                sets["one_annotation"].append(row)
            keypoint_people = [a for a in anns if a.get("num_keypoints", 0) > 0]
            if len(keypoint_people) == 1 and keypoint_people[0] is ann:
                sets["one_keypoint_person"].append(row)
                if best is not None and res.people[best].lifted:
                    poses.append(res.people[best].keypoints_3d)
    est.close()

    results: dict = {name: score_set(rows) for name, rows in sets.items()}
    results["recall"] = {
        "people": len(recall_rows),
        "found_best": sum(r["found_best"] for r in recall_rows),
        "found_first_listed": sum(r["found_first"] for r in recall_rows),
        "recall_best": (sum(r["found_best"] for r in recall_rows) / len(recall_rows))
        if recall_rows else None,
        "recall_first_listed": (sum(r["found_first"] for r in recall_rows) / len(recall_rows))
        if recall_rows else None,
    }
    results.update({"photos": len(photos), "per_photo": per_photo,
                    "per_annotation": {name: rows for name, rows in sets.items()},
                    "recall_people": recall_rows, "seconds_total": t_run,
                    "seconds_per_photo": t_run / len(photos), "model_load_seconds": load_s})
    if poses:
        P = np.asarray(poses, np.float64)
        results["bone_symmetry_mm"] = {k: float(v.mean())
                                       for k, v in bone_symmetry_error(P).items()}
        ref = h36m_mean_bone_lengths(Path(args.h36m_dir))
        if ref is not None:
            ratio = H36M17.bone_lengths(P) / ref
            results["bone_length_ratio_mean_abs_deviation"] = float(np.abs(ratio - 1).mean())
    lifter_name = getattr(est.lifter, "info", {}).get("name") if est.image_model is None \
        else None
    params = {"model": _common.model_identity(args.model) if args.model else lifter_name,
              "data_dir": str(data_dir), "h36m_dir": args.h36m_dir,
              "min_confidence": args.min_confidence, "threshold": args.threshold,
              "limit": args.limit, "detector": est.detector.name,
              "detection_threshold": getattr(est.detector, "min_confidence", None),
              "joints": [h for _, h in SHARED], "refine": args.refine,
              "detector_options": dict(_common.detector_option(o)
                                       for o in args.detector_option),
              "second_look": getattr(est.detector, "second_look", None),
              "focal_length": "55 deg across the longer side"}
    record = _common.make_record("predict_accuracy", params, results, started)
    out = _common.write_record(record, args.out)
    for name in sets:
        r = results[name]
        print(f"{name}: {r['photos']} photos, someone found in {r['photos_with_someone_found']}"
              f", PCK@{args.threshold:g} best-matching {r['pck_best']:.3f}, first-listed "
              f"{r['pck_first']:.3f} (per-photo mean {r['pck_best_mean_per_photo']:.3f} / "
              f"{r['pck_first_mean_per_photo']:.3f})")
    r = results["recall"]
    if r["people"]:
        print(f"recall: {r['found_best']} of {r['people']} people found ({r['recall_best']:.3f})"
              f"; first-listed only: {r['found_first_listed']} ({r['recall_first_listed']:.3f})")
    print(f"{results['seconds_per_photo'] * 1000:.0f} ms/photo; written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
