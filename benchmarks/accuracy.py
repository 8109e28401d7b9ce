"""Human3.6M accuracy of a lifter: the standard protocol on S9 and S11, every frame by default.

    python benchmarks/accuracy.py --model NAME|PATH --inputs gt|sh [--data-dir DIR] [--stride 1]
                                  [--subjects 9 11]

``--subjects`` scores other subjects than the test ones, e.g. a training subject held out
of a diagnostic model's training (never to tune anything on S9/S11).

Runs ``wildpose.evaluation.evaluate_h36m`` and records P1, P2, N-MPJPE, PCK@150, AUC, bone
symmetry, the per-action table, the number of samples and the wall time (split into model
loading, data loading, and lifting + scoring) in ``benchmarks/results/accuracy_*.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common

SUBJECTS = (9, 11)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="shipped model name or model file "
                   "(.safetensors or .pt checkpoint)")
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m",
                   help="Human3.6M folder (default: %(default)s)")
    p.add_argument("--inputs", choices=("gt", "sh"), required=True,
                   help="gt: projected ground-truth 2D; sh: stacked-hourglass detections")
    p.add_argument("--stride", type=int, default=1,
                   help="score every N-th frame (default 1: every frame, the protocol)")
    p.add_argument("--subjects", type=int, nargs="+", default=list(SUBJECTS),
                   help="subjects to score (default: the test subjects 9 11)")
    p.add_argument("--device", default="auto",
                   help="auto (default, as wildpose evaluate), cpu, cuda, ...")
    p.add_argument("--no-flip-test", action="store_true",
                   help="do not average with the mirrored pose (default: flip test on)")
    p.add_argument("--window-steps", type=int, nargs="+", default=None, metavar="FRAMES",
                   help="a video lifter reads its window at each of these steps and "
                        "averages (wildpose.Lifter window_steps; default: the model's own)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="what the lifter computes in (wildpose.Lifter precision; bf16 runs "
                        "on the torch backend)")
    p.add_argument("--consistent-bones", action="store_true",
                   help="video protocol: each frame's bones set to its sequence's median "
                        "predicted lengths (wildpose.temporal.constant_bone_lengths)")
    p.add_argument("--symmetric-bones", action="store_true",
                   help="as --consistent-bones, and each left/right pair of bones takes the "
                        "mean of its two median lengths (constant_bone_lengths symmetric)")
    p.add_argument("--occlude", type=float, default=0.0, metavar="FRACTION",
                   help="robustness check, not the protocol: this share of the frames lose "
                        "a lower limb (elbow and wrist, or knee and ankle; "
                        "wildpose.evaluation.occlude_limbs, seed 0) before lifting")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/accuracy_<model>_<inputs>_<date>.json)")
    args = p.parse_args(argv)
    if args.stride < 1:
        p.error("--stride must be at least 1")
    if not 0 <= args.occlude <= 1:
        p.error("--occlude must be in [0, 1]")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("accuracy", lambda: run(args),
                                        (ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()

    from wildpose.api import Lifter
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import evaluate_h36m

    model_id = _common.model_identity(args.model)
    t0 = time.perf_counter()
    lifter = Lifter(args.model, device=args.device, flip_test=not args.no_flip_test,
                    precision=args.precision, window_steps=args.window_steps)
    t1 = time.perf_counter()
    # A video lifter reads every frame (its window is in 50 fps frames); evaluate_h36m then
    # scores every stride-th one.
    video = lifter.window[0] > 1
    data = load_h36m(args.data_dir, subjects=tuple(args.subjects),
                     stride=1 if video else args.stride, load_sh=args.inputs == "sh")
    t2 = time.perf_counter()
    # evaluate_h36m with the loaded data: it lifts every row that has inputs and scores it.
    res = evaluate_h36m(lifter, inputs=args.inputs, stride=args.stride, data=data,
                        consistent_bones=args.consistent_bones, occlude=args.occlude,
                        symmetric_bones=args.symmetric_bones)
    t3 = time.perf_counter()

    results = {
        "P1_mm": res["P1"],
        "P2_mm": res["P2"],
        "N-MPJPE_mm": res["N-MPJPE"],
        "PCK@150_percent": res["PCK@150"],
        "AUC_percent": res["AUC"],
        "bone_symmetry_mm": res["bone_symmetry"],
        "per_action": res["per_action"],
        "num_samples": res["num_samples"],
        "num_skipped_samples": res["num_skipped_samples"],
        "skipped": res["skipped"],
        "subjects": res["subjects"],
        "wall_time_s": t3 - t0,
        "wall_time_split_s": {"load_model": t1 - t0, "load_data": t2 - t1,
                              "lift_and_score": t3 - t2},
        "peak_rss_mib": _common.peak_rss_mib(),
    }
    params = {"model": model_id, "data_dir": str(Path(args.data_dir).resolve()),
              "inputs": args.inputs, "stride": args.stride,
              "device": str(lifter.device), "flip_test": not args.no_flip_test,
              "window_steps": list(lifter.window_steps),
              "batch_size": lifter.batch_size, "consistent_bones": res["consistent_bones"],
              "symmetric_bones": args.symmetric_bones,
              "occlude": args.occlude, "precision": args.precision}
    record = _common.make_record("accuracy", params, results, started)
    tag = f"{Path(args.model).stem}_{args.inputs}" + (f"_stride{args.stride}"
                                                       if args.stride != 1 else "")
    if tuple(args.subjects) != SUBJECTS:
        tag += "_S" + "-".join(map(str, args.subjects))
    if args.symmetric_bones:
        tag += "_symbones"
    elif args.consistent_bones:
        tag += "_bones"
    if args.occlude > 0:
        tag += f"_occlude{args.occlude:g}"
    if args.precision != "fp32":
        tag += f"_{args.precision}"
    if args.window_steps is not None and video:
        tag += "_steps" + "-".join(map(str, lifter.window_steps))
    path = _common.write_record(record, args.out, tag=tag)

    print(f"model {args.model} ({model_id['sha256'][:12]}), inputs {args.inputs}, "
          f"subjects {res['subjects']}, stride {args.stride}, flip test "
          f"{'on' if not args.no_flip_test else 'off'}, device {lifter.device}")
    print(f"{res['num_samples']} samples scored, {res['num_skipped_samples']} without inputs")
    for note in res["skipped"]:
        print(f"skipped: {note}")
    print(res["table"])
    print(f"P1 {res['P1']:.1f} mm   P2 {res['P2']:.1f} mm   N-MPJPE {res['N-MPJPE']:.1f} mm   "
          f"PCK@150 {res['PCK@150']:.1f} %   AUC {res['AUC']:.1f} %   "
          f"bone symmetry {res['bone_symmetry']['mean']:.1f} mm")
    split = results["wall_time_split_s"]
    print(f"wall time {results['wall_time_s']:.1f} s (model {split['load_model']:.1f} s, data "
          f"{split['load_data']:.1f} s, lift + score {split['lift_and_score']:.1f} s); "
          f"commit {record['commit']}")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
