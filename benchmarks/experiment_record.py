"""Record the result of a paper experiment (``experiments/``) with its provenance.

    python -m experiments.ronchi_table --data-dir ../shared/data/h36m --out-dir runs/ronchi
    python benchmarks/experiment_record.py runs/ronchi/ronchi.json \
        --produced-by "python -m experiments.ronchi_table --data-dir ../shared/data/h36m --out-dir runs/ronchi"

The experiments (``experiments/ronchi_table.py``, ``zhou_transfer.py`` and
``zhou_image_ablation.py``) train many models for an hour or more, resumably; this script
copies the JSON they write (every figure as the experiment measured it, untouched) into a
record under ``benchmarks/results/experiment_<name>_*.json`` together with the command that
produced it, the commit, the machine and the file's date, for ``report.py``.  A result from
a quick (smoke-test) run is refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import _common


#: The experiments of ``experiments/``, by the name their results JSON gives.
KNOWN = ("ronchi", "zhou-transfer", "zhou-image")


def experiment_name(results: dict) -> str:
    """Which experiment wrote ``results``: its "experiment" key, else the keys only it
    writes (Ronchi's results before the key existed)."""
    name = results.get("experiment")
    if name is None and {"results", "eval_stride", "rows"} <= set(results):
        name = "ronchi"
    if name not in KNOWN:
        raise ValueError(f"not the result of a known experiment ({', '.join(KNOWN)})")
    return name


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="the experiment's JSON (ronchi.json or results.json)")
    p.add_argument("--produced-by", required=True,
                   help="the exact command that ran the experiment")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    path = Path(args.results)
    try:
        results = json.loads(path.read_text())
        name = experiment_name(results)
    except (OSError, json.JSONDecodeError, ValueError) as e:
        print(f"experiment_record: error: {path}: {e}", file=sys.stderr)
        return 2
    if results.get("quick") or (results.get("settings") or {}).get("quick"):
        print(f"experiment_record: error: {path} is a quick (smoke-test) run", file=sys.stderr)
        return 2
    md = path.with_suffix(".md")
    written = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
    params = {"experiment": name, "produced_by": args.produced_by, "results_file": str(path),
              "results_file_written": written.isoformat(timespec="seconds")}
    record = _common.make_record(f"experiment_{name}", params,
                                 {"experiment": results,
                                  "markdown": md.read_text() if md.is_file() else None},
                                 started=written.isoformat(timespec="seconds").replace(
                                     "+00:00", "Z"))
    out = _common.write_record(record, args.out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
