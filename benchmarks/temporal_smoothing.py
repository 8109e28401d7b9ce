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
validation decides whether that is used too.  ``--try-symmetric-bones`` also scores the
variant whose left and right bones of a pair take the mean of the pair's medians
(``constant_bone_lengths(..., symmetric=True)``).

``--try-window-steps 4 3,4,5`` (a video lifter) also scores every setting with the window
read at each listed set of steps, averaged (``wildpose.Lifter`` ``window_steps``), and the
validation chooses among them too.
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
                   help="also score consistent bones with left and right alike; validation "
                        "chooses")
    p.add_argument("--try-window-steps", nargs="+", default=None, metavar="STEPS",
                   help="sets of window steps to try, each comma-separated (e.g. 4 3,4,5); "
                        "validation chooses (default: the model's own reading only)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    return _common.run_reporting_errors("temporal_smoothing", lambda: run(args),
                                        (ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    t0 = time.perf_counter()
    from wildpose.api import Lifter
    from wildpose.datasets.h36m import load_h36m
    from wildpose.evaluation import evaluate_h36m
    from wildpose.training import split_validation
    from wildpose.zoo import read_model_info, validation_split

    step_sets = [None] if not args.try_window_steps else [
        tuple(int(s) for s in text.split(",")) for text in args.try_window_steps]
    lifters = {steps: Lifter(args.model, window_steps=steps) for steps in step_sets}
    val_fraction, seed, val_subjects = validation_split(read_model_info(args.model))
    train = load_h36m(args.data_dir, subjects=TRAIN_SUBJECTS, stride=1,
                      load_sh=args.inputs == "sh")
    _, val_rows = split_validation(train, val_fraction, seed, val_subjects)
    val = train.select(val_rows)
    sequences = sorted({f"S{s} {a}" for s, a in zip(val.subject, val.action)})
    print(f"validation: {len(val)} frames of {len(sequences)} held-out sequences "
          f"({', '.join(sequences)})", flush=True)
    # (consistent bones, symmetric) settings to try
    bone_modes = [(False, False)] + [(True, False)] * args.try_consistent_bones \
        + [(True, True)] * args.try_symmetric_bones
    sweep = []
    for steps, lifter in lifters.items():
        for sigma in args.sigmas:
            for bones, symmetric in bone_modes:
                r = evaluate_h36m(lifter, inputs=args.inputs, data=val, smooth_2d=sigma,
                                  consistent_bones=bones, symmetric_bones=symmetric)
                sweep.append({"sigma": sigma, "consistent_bones": bones,
                              "symmetric_bones": symmetric,
                              "window_steps": list(lifter.window_steps), "P1_mm": r["P1"],
                              "P2_mm": r["P2"]})
                print(f"  sigma {sigma:g}{_bones_text(bones, symmetric, ', ')}"
                      f"{_steps_text(lifter)}: validation P1 {r['P1']:.2f} mm, "
                      f"P2 {r['P2']:.2f} mm", flush=True)
    chosen = min(sweep, key=lambda s: s["P1_mm"])
    best, best_bones = chosen["sigma"], chosen["consistent_bones"]
    best_symmetric = chosen["symmetric_bones"]
    lifter = next(li for li in lifters.values()
                  if list(li.window_steps) == chosen["window_steps"])
    test = load_h36m(args.data_dir, subjects=TEST_SUBJECTS, stride=1,
                     load_sh=args.inputs == "sh")
    tests = {}
    for sigma, bones, symmetric in sorted({(0.0, False, False),
                                           (float(best), best_bones, best_symmetric)}):
        r = evaluate_h36m(lifter, inputs=args.inputs, data=test, smooth_2d=sigma,
                          consistent_bones=bones, symmetric_bones=symmetric)
        key = f"{sigma:g}" + _bones_text(bones, symmetric, " + ") + (
            _steps_text(lifter) if args.try_window_steps else "")
        tests[key] = {"P1_mm": r["P1"], "P2_mm": r["P2"],
                      "bone_symmetry_mm": r["bone_symmetry"]["mean"],
                      "num_samples": r["num_samples"]}
        print(f"test S9+S11, sigma {key}: P1 {r['P1']:.2f} mm, P2 {r['P2']:.2f} mm",
              flush=True)
    results = {"validation_sequences": sequences, "validation_frames": len(val),
               "validation_sweep": sweep, "chosen_sigma": best,
               "chosen_consistent_bones": best_bones, "chosen_symmetric_bones": best_symmetric,
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


def _bones_text(consistent: bool, symmetric: bool, sep: str) -> str:
    """"<sep>consistent bones" (", left and right alike" when symmetric), or ""."""
    if not consistent:
        return ""
    return f"{sep}consistent bones" + (", left and right alike" if symmetric else "")


def _steps_text(lifter) -> str:
    """", window steps 3,4,5" for a video lifter, "" for a single-image one."""
    if lifter.window[0] == 1:
        return ""
    return f", window steps {','.join(map(str, lifter.window_steps))}"


if __name__ == "__main__":
    sys.exit(main())
