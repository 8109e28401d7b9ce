"""Cross-dataset tests of a lifter (issue 28): how it does beyond Human3.6M's lab.

    python benchmarks/wild_accuracy.py --model NAME|PATH [--tests a b c d] [--data-dir DIR]
                                       [--stride 1] [--mocap-stride 1]

(a) Human3.6M S9, S11, projected ground-truth 2D, every frame (``--stride`` for a quick look):
    ``wildpose.evaluation.evaluate_h36m`` with inputs "gt".
(b) S9, S11 stacked-hourglass detections, one frame at a time, no smoothing: inputs "sh".
(c) Unseen motion: the held-out BVH clips of ``wildpose.mocap.wild_mocap_split`` (every
    Bandai Namco clip of the contents dance-short, kick and slash, all styles; every clip of
    the held-out CMU subjects), loaded by ``load_bvh_mocap`` (canonical body frame, scaled to
    Human3.6M's mean bone-length sum, near-duplicate frames within 20 mm dropped), each pose
    seen by the 40 virtual cameras of :data:`ELEVATIONS_DEG` x :data:`AZIMUTHS_DEG`, at a
    distance drawn uniformly in [4, 6] m per pose and view (seed :data:`SEED`), focal 1000
    px, no roll, the person centred (``wildpose.camera.virtual_camera_view``).  The lifter
    gets the exact projection in layout h36m17 (row "exact") and the projection plus
    detector-like noise (row "noisy": i.i.d. Gaussian pixel noise on every joint, standard
    deviation :data:`NOISE_SHARE` of the pose's 2D height).  P1 and P2 (mm) on the joints
    both skeletons share with Human3.6M-17: Hip, both hips, knees, ankles, shoulders,
    elbows, wrists (13); the joints a source only approximates (CMU and Bandai: Spine,
    Thorax, Neck/Nose, Head; ``MocapPoses.shared_joints``) are left out of its score.
    Per source, pooled over both (every pose and view alike), and per elevation.
(d) Plausibility of the people of the coco-mini photos: COCO's annotated keypoints (every
    annotation with keypoints) converted to h36m17 and lifted; the lifter refuses people
    without a torso or with fewer than 6 joints.  Share refused; over the people lifted:
    ``wildpose.metrics.plausibility``, its two parts (bone-proportion and left/right log
    errors), Zhou et al.'s bone symmetry error (mm), and each bone's share of the body
    against its share in Human3.6M's training subjects (ratio, median over people).

Writes ``benchmarks/results/wild_accuracy_<model>_<tests>_<date>.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import _common

TESTS = ("a", "b", "c", "d")
#: Test (c)'s virtual cameras: every elevation with every azimuth (degrees).
ELEVATIONS_DEG = (-20.0, 0.0, 20.0, 40.0, 60.0)
AZIMUTHS_DEG = tuple(float(a) for a in range(0, 360, 45))
DISTANCE_MM = (4000.0, 6000.0)
FOCAL_PX = 1000.0
NOISE_SHARE = 0.02
SEED = 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="shipped model name or model file")
    p.add_argument("--tests", nargs="+", choices=TESTS, default=list(TESTS),
                   help="which tests to run (default: all)")
    p.add_argument("--data-dir", default=_common.DEFAULT_DATA_ROOT,
                   help="the data folder holding h36m/, bandai-mocap/, cmu-mocap/, "
                        "coco-mini/ (default: %(default)s)")
    p.add_argument("--stride", type=int, default=1,
                   help="tests (a), (b): score every N-th frame (default 1, the protocol)")
    p.add_argument("--mocap-stride", type=int, default=1,
                   help="test (c): keep every N-th BVH frame before near-duplicate removal")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=None, help="result JSON path")
    args = p.parse_args(argv)
    if args.stride < 1 or args.mocap_stride < 1:
        p.error("--stride and --mocap-stride must be at least 1")
    return args


def camera_grid(num_poses: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Test (c)'s views of ``num_poses`` poses: (V, N) arrays "azimuth", "elevation"
    (degrees, the full grid, V = 40) and "distance" (mm, uniform in DISTANCE_MM)."""
    elev, azim = np.meshgrid(ELEVATIONS_DEG, AZIMUTHS_DEG, indexing="ij")
    views = elev.size
    rng = np.random.default_rng(seed)
    return {"elevation": np.repeat(elev.reshape(-1, 1), num_poses, 1),
            "azimuth": np.repeat(azim.reshape(-1, 1), num_poses, 1),
            "distance": rng.uniform(*DISTANCE_MM, size=(views, num_poses))}


def _h36m_tests(lifter, args, tests) -> dict:
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import evaluate_h36m

    data = load_h36m(Path(args.data_dir) / "h36m", subjects=(9, 11), stride=args.stride,
                     load_sh="b" in tests)
    out = {}
    for name, inputs in (("a", "gt"), ("b", "sh")):
        if name in tests:
            res = evaluate_h36m(lifter, inputs=inputs, stride=args.stride, data=data)
            out[name] = {"inputs": inputs, "P1_mm": res["P1"], "P2_mm": res["P2"],
                         "N-MPJPE_mm": res["N-MPJPE"], "num_samples": res["num_samples"],
                         "num_skipped_samples": res["num_skipped_samples"],
                         "per_action": res["per_action"]}
    return out


def _score_views(lifter, poses: np.ndarray, shared: np.ndarray, noise: bool,
                 rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-(view, pose) P1, P2 of one source's canonical poses seen by the camera grid."""
    from wildpose.camera import virtual_camera_view
    from wildpose.metrics import mpjpe, p_mpjpe

    grid = camera_grid(len(poses))
    p1, p2 = [], []
    for v in range(grid["elevation"].shape[0]):
        cam, px = virtual_camera_view(poses, grid["azimuth"][v], grid["elevation"][v],
                                      distance_mm=grid["distance"][v], focal_px=FOCAL_PX)
        if noise:
            height = px[..., 1].max(-1) - px[..., 1].min(-1)
            px = px + rng.normal(size=px.shape) * (NOISE_SHARE * height)[:, None, None]
        pred = lifter.lift(px.astype(np.float32), "h36m17")
        target = cam - cam[:, :1]
        p1.append(mpjpe(pred, target, shared))
        p2.append(p_mpjpe(pred, target, shared))
    return {"P1": np.stack(p1), "P2": np.stack(p2), "elevation": grid["elevation"]}


def _mocap_test(lifter, args) -> dict:
    from wildpose.mocap.sources import load_bvh_mocap, wild_mocap_split
    from wildpose.skeleton import H36M17

    split = wild_mocap_split(args.data_dir)
    sources = {"bandai": split["test_bandai"], "cmu": split["test_cmu"]}
    out: dict = {"clips": {k: [p.name for p in v] for k, v in sources.items()}}
    for row, noise in (("exact", False), ("noisy", True)):
        rng = np.random.default_rng(SEED + 1)
        scores, table = {}, {}
        for name, files in sources.items():
            m = load_bvh_mocap(files, stride=args.mocap_stride)
            shared = np.asarray(m.shared_joints, bool)
            scores[name] = _score_views(lifter, m.poses, shared, noise, rng)
            table[name] = {"P1_mm": float(scores[name]["P1"].mean()),
                           "P2_mm": float(scores[name]["P2"].mean()),
                           "num_poses": len(m), "num_views": int(scores[name]["P1"].shape[0]),
                           "scored_joints": [j for j, s in zip(H36M17.joints, shared) if s]}
        pooled = {k: np.concatenate([s[k].ravel() for s in scores.values()])
                  for k in ("P1", "P2", "elevation")}
        table["pooled"] = {"P1_mm": float(pooled["P1"].mean()),
                           "P2_mm": float(pooled["P2"].mean()),
                           "num_samples": int(pooled["P1"].size)}
        table["pooled_by_elevation"] = {
            f"{e:g}": {"P1_mm": float(pooled["P1"][pooled["elevation"] == e].mean()),
                       "P2_mm": float(pooled["P2"][pooled["elevation"] == e].mean())}
            for e in ELEVATIONS_DEG}
        out[row] = table
    return out


def _coco_test(lifter, args) -> dict:
    import warnings

    from wildpose.datasets.keypoint_files import read_keypoints
    from wildpose.metrics import (H36M_BONE_LENGTHS_MM, bone_ratio_error, bone_symmetry_error,
                                  plausibility, symmetry_log_error)
    from wildpose.skeleton import H36M17

    path = Path(args.data_dir) / "coco-mini" / "annotations" / "person_keypoints_val2017.json"
    ks = read_keypoints(path)
    ks17 = ks.to_layout(H36M17)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        pose = lifter.lift(ks17.keypoints, "h36m17", valid=ks17.valid)
    lifted = np.isfinite(pose).all((1, 2))
    p = pose[lifted].astype(np.float64)
    lengths = H36M17.bone_lengths(p)
    ref = np.asarray(H36M_BONE_LENGTHS_MM)
    share = (lengths / lengths.sum(-1, keepdims=True)) / (ref / ref.sum())
    return {
        "num_people": len(ks), "num_skipped_by_reader": len(ks.skipped),
        "num_lifted": int(lifted.sum()), "share_refused": float(1 - lifted.mean()),
        "refusals": [str(w.message) for w in said],
        "plausibility_mean": float(plausibility(p).mean()),
        "plausibility_median": float(np.median(plausibility(p))),
        "bone_ratio_log_error_mean": float(bone_ratio_error(p).mean()),
        "symmetry_log_error_mean": float(symmetry_log_error(p).mean()),
        "bone_symmetry_mm": {k: float(v.mean()) for k, v in bone_symmetry_error(p).items()},
        "bone_share_ratio_median": dict(zip(H36M17.bone_names,
                                            np.median(share, 0).round(4).tolist())),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("wild_accuracy", lambda: run(args),
                                        (ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> int:
    from wildpose.api import Lifter

    started = _common.utc_now()
    model_id = _common.model_identity(args.model)
    tests = sorted(set(args.tests))
    lifter = Lifter(args.model, device=args.device)
    results: dict = {}
    t0 = time.perf_counter()
    if {"a", "b"} & set(tests):
        results.update(_h36m_tests(lifter, args, tests))
    if "c" in tests:
        results["c"] = _mocap_test(lifter, args)
    if "d" in tests:
        results["d"] = _coco_test(lifter, args)
    results["wall_time_s"] = time.perf_counter() - t0
    params = {"model": model_id, "tests": tests, "data_dir": str(Path(args.data_dir).resolve()),
              "stride": args.stride, "mocap_stride": args.mocap_stride,
              "elevations_deg": list(ELEVATIONS_DEG), "azimuths_deg": list(AZIMUTHS_DEG),
              "distance_mm": list(DISTANCE_MM), "focal_px": FOCAL_PX,
              "noise_share_of_height": NOISE_SHARE, "seed": SEED,
              "flip_test": lifter.flip_test, "device": str(lifter.device)}
    record = _common.make_record("wild_accuracy", params, results, started)
    tag = f"{Path(args.model).stem}_{''.join(tests)}" + (
        f"_stride{args.stride}" if args.stride != 1 and {"a", "b"} & set(tests) else "")
    path = _common.write_record(record, args.out, tag=tag)
    for name in ("a", "b"):
        if name in results:
            r = results[name]
            print(f"({name}) Human3.6M S9/S11 {r['inputs']}: P1 {r['P1_mm']:.1f} mm, "
                  f"P2 {r['P2_mm']:.1f} mm ({r['num_samples']} samples)")
    if "c" in results:
        for row in ("exact", "noisy"):
            r = results["c"][row]
            parts = ", ".join(f"{k} P1 {r[k]['P1_mm']:.1f} / P2 {r[k]['P2_mm']:.1f}"
                              for k in ("bandai", "cmu", "pooled"))
            print(f"(c) unseen motion, {row} 2D: {parts} mm")
    if "d" in results:
        r = results["d"]
        print(f"(d) coco-mini: {r['num_lifted']} of {r['num_people']} lifted (refused "
              f"{100 * r['share_refused']:.1f} %), plausibility mean "
              f"{r['plausibility_mean']:.3f}, bone symmetry {r['bone_symmetry_mm']['mean']:.1f}"
              f" mm, bone-ratio log error {r['bone_ratio_log_error_mean']:.3f}")
    print(f"wall time {results['wall_time_s']:.1f} s; commit {record['commit']}; "
          f"result written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
