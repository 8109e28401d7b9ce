"""Video protocol on Human3.6M: smooth each sequence's 2D along time before lifting.

    python benchmarks/temporal_smoothing.py --model h36m-sh --inputs sh

The smoothing width is chosen on validation sequences, never on the test subjects: the
sequences of S1, S5, S6, S7 and S8 that the model's own training held out
(``wildpose.training.split_validation`` with the model's recorded ``val_fraction``,
``seed`` and ``val_subjects``; an ensemble's members must share them,
``wildpose.zoo.validation_split``).
Every sigma of ``--sigmas`` is scored there (P1, every frame); the best one is then
measured once on S9 and S11, every frame, beside sigma 0 (the single-image protocol).
The record holds the validation sweep, the chosen sigma and both test results.

``--try-consistent-bones`` also scores every sigma with each frame's bones set to its
sequence's median predicted lengths (``wildpose.temporal.constant_bone_lengths``), and the
validation decides whether that is used too.  ``--try-symmetric-bones`` also tries those
bones with each left/right pair set to the mean of its two medians (``symmetric=True``).

``--try-window-steps 3 4 5`` (a video lifter) also lifts every sigma reading the window at
those steps and averaging (``wildpose.Lifter(window_steps=...)``), beside the model's own
reading; validation chooses.  Each reading is lifted once per sigma and the bone settings are
scored from the same predictions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common

TRAIN_SUBJECTS = (1, 5, 6, 7, 8)
TEST_SUBJECTS = (9, 11)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="shipped model name or model file")
    p.add_argument("--inputs", choices=("gt", "sh"), required=True)
    p.add_argument("--data-dir", default=f"{_common.DEFAULT_DATA_ROOT}/h36m")
    p.add_argument("--sigmas", type=float, nargs="+", default=[0, 1, 2, 3, 5, 8],
                   help="Gaussian standard deviations to try, frames at 50 fps")
    p.add_argument("--try-consistent-bones", action="store_true",
                   help="also score each sigma with bones set to the sequence's median "
                        "lengths; validation chooses")
    p.add_argument("--try-symmetric-bones", action="store_true",
                   help="also score consistent bones with each left/right pair alike "
                        "(implies --try-consistent-bones); validation chooses")
    p.add_argument("--try-window-steps", type=int, nargs="+", default=None, metavar="FRAMES",
                   help="a video lifter: also read the window at these steps and average; "
                        "validation chooses between this and the model's own reading")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    return _common.run_reporting_errors("temporal_smoothing", lambda: run(args),
                                        (ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    t0 = time.perf_counter()
    from wildpose.api import Lifter
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import lift_h36m, score_h36m
    from wildpose.training import split_validation
    from wildpose.zoo import read_model_info, validation_split

    lifter = Lifter(args.model)
    readings = {lifter.window_steps: lifter}
    if args.try_window_steps:
        other = Lifter(args.model, window_steps=args.try_window_steps)
        readings.setdefault(other.window_steps, other)
    bone_modes = ["as lifted"]
    if args.try_consistent_bones or args.try_symmetric_bones:
        bone_modes.append("consistent")
    if args.try_symmetric_bones:
        bone_modes.append("symmetric")
    val_fraction, seed, val_subjects = validation_split(read_model_info(args.model))
    train = load_h36m(args.data_dir, subjects=TRAIN_SUBJECTS, stride=1,
                      load_sh=args.inputs == "sh")
    _, val_rows = split_validation(train, val_fraction, seed, val_subjects)
    val = train.select(val_rows)
    sequences = sorted({f"S{s} {a}" for s, a in zip(val.subject, val.action)})
    print(f"validation: {len(val)} frames of {len(sequences)} held-out sequences "
          f"({', '.join(sequences)})", flush=True)

    def scores(reader, data, sigma: float, modes=tuple(bone_modes)):
        """{bone mode: result} of one lift of ``data`` at this sigma."""
        pred, have = lift_h36m(reader, data, args.inputs, smooth_2d=sigma)
        return {mode: score_h36m(data, pred, have, consistent_bones=mode != "as lifted",
                                 symmetric_bones=mode == "symmetric") for mode in modes}

    sweep = []
    for steps, reader in readings.items():
        for sigma in args.sigmas:
            for mode, r in scores(reader, val, sigma).items():
                sweep.append({"sigma": sigma, "window_steps": list(steps), "bones": mode,
                              "consistent_bones": mode != "as lifted",
                              "P1_mm": r["P1"], "P2_mm": r["P2"]})
                print(f"  sigma {sigma:g}, steps {list(steps)}, bones {mode}: validation P1 "
                      f"{r['P1']:.2f} mm, P2 {r['P2']:.2f} mm", flush=True)
    chosen = min(sweep, key=lambda s: s["P1_mm"])
    best, best_bones = chosen["sigma"], chosen["consistent_bones"]
    test = load_h36m(args.data_dir, subjects=TEST_SUBJECTS, stride=1,
                     load_sh=args.inputs == "sh")
    tests = {}
    own = next(iter(readings))
    for steps, sigma, mode in dict.fromkeys([(own, 0.0, "as lifted"),
                                             (tuple(chosen["window_steps"]), float(best),
                                              chosen["bones"])]):
        r = scores(readings[steps], test, sigma, (mode,))[mode]  # only the mode reported
        key = (f"{sigma:g}" + ("" if mode == "as lifted" else f" + {mode} bones")
               + ("" if steps == own else f" + steps {'-'.join(map(str, steps))}"))
        tests[key] = {"P1_mm": r["P1"], "P2_mm": r["P2"],
                      "bone_symmetry_mm": r["bone_symmetry"]["mean"],
                      "num_samples": r["num_samples"]}
        print(f"test S9+S11, sigma {key}: P1 {r['P1']:.2f} mm, P2 {r['P2']:.2f} mm",
              flush=True)
    results = {"validation_sequences": sequences, "validation_frames": len(val),
               "validation_sweep": sweep, "chosen_sigma": best,
               "chosen_consistent_bones": best_bones, "chosen_bones": chosen["bones"],
               "chosen_window_steps": chosen["window_steps"], "test": tests,
               "wall_time_s": time.perf_counter() - t0}
    params = {"model": _common.model_identity(args.model), "inputs": args.inputs,
              "data_dir": str(Path(args.data_dir).resolve()), "sigmas": args.sigmas,
              "try_consistent_bones": args.try_consistent_bones,
              "try_symmetric_bones": args.try_symmetric_bones,
              "try_window_steps": args.try_window_steps,
              "validation": f"split_validation(val_fraction={val_fraction}, seed={seed}, "
                            f"subjects={list(val_subjects)}) "
                            f"of S{', S'.join(map(str, TRAIN_SUBJECTS))}",
              "test_subjects": list(TEST_SUBJECTS), "stride": 1}
    record = _common.make_record("temporal_smoothing", params, results, started)
    path = _common.write_record(record, args.out,
                                tag=f"{Path(args.model).stem}_{args.inputs}")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
