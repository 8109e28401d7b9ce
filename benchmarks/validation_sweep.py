"""Compare `wildpose train` runs by their validation error, to choose a setting.

    for c in experiments/configs/h36m-sh-window-sweep/*.json; do wildpose train --config $c; done
    python benchmarks/validation_sweep.py runs/h36m-sh-window-sweep/* --name h36m-sh-window

The validation sequences are held out of the training subjects (``val_fraction``), so a
setting is chosen without looking at S9/S11.  Like ``zhou_validation.py`` this script trains
nothing: it reads each RUN_DIR's config.json and log.jsonl (as ``training_curve.py`` does)
and copies, untouched, the config fields in which the runs differ, the validation MPJPE of
every epoch and the training minutes into ``benchmarks/results/validation_sweep_<name>_*.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _common
from training_curve import read_run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="wildpose train folders")
    p.add_argument("--name", required=True, help="the sweep's name (in the record's file name)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    started = _common.utc_now()
    runs = []
    for run in map(Path, args.run_dirs):
        try:
            config, curve, notes = read_run(run)
        except ValueError as e:
            print(f"validation_sweep: error: {e}", file=sys.stderr)
            return 2
        runs.append({"run_dir": str(run), "config": config, "curve": curve,
                     "log_notes": notes})
    keys = sorted({k for r in runs for k in r["config"]}
                  - {"out_dir", "name"})
    varied = [k for k in keys if len({json.dumps(r["config"].get(k)) for r in runs}) > 1]
    results = {
        "varied": varied,
        "common": {k: runs[0]["config"].get(k) for k in keys if k not in varied},
        "runs": [{"run_dir": r["run_dir"],
                  "setting": {k: r["config"].get(k) for k in varied},
                  "epochs_logged": r["curve"][-1]["epoch"],
                  "minutes": r["curve"][-1]["minutes"],
                  "val_mpjpe_mm": [e["val_mpjpe_mm"] for e in r["curve"]],
                  "final_val_mpjpe_mm": r["curve"][-1]["val_mpjpe_mm"],
                  "log_notes": r["log_notes"]} for r in runs],
    }
    record = _common.make_record("validation_sweep", {"name": args.name,
                                                      "run_dirs": args.run_dirs},
                                 results, started)
    path = _common.write_record(record, args.out, tag=args.name)
    for r in results["runs"]:
        print(f"{r['setting']}: validation MPJPE {r['final_val_mpjpe_mm']} mm after "
              f"{r['epochs_logged']} epochs, {r['minutes']} min")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
