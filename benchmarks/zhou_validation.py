"""Gather the validation runs of Zhou et al.'s transfer experiment into one record.

    for c in experiments/configs/zhou-validation/*.json; do n=$(basename $c .json)
      python -m experiments.zhou_transfer --data-dir ../shared/data/h36m \\
          --config $c --out-dir runs/zhou-validation/$n; done
    python benchmarks/zhou_validation.py runs/zhou-validation/*/results.json

Settings are compared without the test subjects: S8 is held out entirely (its 3D only
scores), S5-S7 are the 2D-only data and S1 the 3D-labelled data.  Like
``experiment_record.py`` this script does not train anything: it copies each run's figures
(P1, P2, mean bone symmetry error, minutes) and settings, untouched, into
``benchmarks/results/zhou_validation_*.json`` with the command that made each run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import _common

COMMAND = ("python -m experiments.zhou_transfer --data-dir ../shared/data/h36m --config "
           "experiments/configs/zhou-validation/{name}.json --out-dir runs/zhou-validation/{name}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="results.json of each validation run")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    runs = []
    for path in map(Path, args.results):
        try:
            res = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"zhou_validation: error: {path}: {e}", file=sys.stderr)
            return 2
        settings = res.get("settings") or {}
        if res.get("experiment") != "zhou-transfer" or 9 in settings.get("test_subjects", [9]) \
                or 11 in settings.get("test_subjects", [11]):
            print(f"zhou_validation: error: {path} is not a zhou-transfer run scored away from "
                  f"S9/S11", file=sys.stderr)
            return 2
        name = path.parent.name
        runs.append({"name": name, "produced_by": COMMAND.format(name=name),
                     "results_file": str(path), "settings": settings,
                     "minutes": res.get("minutes"),
                     "rows": [{"row": r["row"], "P1_mm": r["gt"]["P1"], "P2_mm": r["gt"]["P2"],
                               "bone_symmetry_mm": r["gt"]["bone_symmetry"]["mean"],
                               "minutes": r.get("minutes")} for r in res["rows"]]})
    record = _common.make_record("zhou_validation", {"runs": [r["name"] for r in runs]},
                                 {"runs": runs})
    path = _common.write_record(record, args.out)
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
