"""The learning curve of a ``wildpose train`` run: validation error against training minutes.

    python benchmarks/training_curve.py RUN_DIR

Reads RUN_DIR/log.jsonl (one line per finished epoch: epoch, minutes, train_mpjpe_mm,
val_mpjpe_mm) and RUN_DIR/config.json, prints a markdown table and records the curve, the
total training minutes and the run's configuration in
``benchmarks/results/training_curve_<run>_<date>.json``.

log.jsonl is only ever appended to, so a run restarted with --no-resume, or resumed from a
checkpoint older than its last log line, leaves stale lines: a line for epoch k replaces
every earlier line for epoch k or later, and each replacement is reported.  "minutes" is the
run's own cumulative training time (data loading excluded, resumed sessions included), as
training.py logs it, to 0.01 min.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import _common

from wildpose.settings import flatten_options

FIELDS = ("epoch", "minutes", "train_mpjpe_mm", "val_mpjpe_mm")


def read_log(path: Path) -> tuple[list[dict], list[str]]:
    """The run's curve, one entry per epoch in order, and notes on what was dropped."""
    curve: list[dict] = []
    notes: list[str] = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{n}: not JSON ({e})") from None
        missing = [f for f in FIELDS if f not in entry]
        if missing:
            raise ValueError(f"{path}:{n}: missing {', '.join(missing)}")
        stale = [e for e in curve if e["epoch"] >= entry["epoch"]]
        if stale:
            notes.append(f"line {n} (epoch {entry['epoch']}) replaces {len(stale)} earlier "
                         f"line(s) for epochs {stale[0]['epoch']}-{stale[-1]['epoch']}")
            curve = [e for e in curve if e["epoch"] < entry["epoch"]]
        row = {f: entry[f] for f in FIELDS}
        for f in ("train_mpjpe_mm", "val_mpjpe_mm"):   # NaN: no validation set
            if isinstance(row[f], float) and not math.isfinite(row[f]):
                row[f] = None
        curve.append(row)
    return curve, notes


def read_run(run_dir: Path) -> tuple[dict, list[dict], list[str]]:
    """A run folder's config.json, its curve and the log's notes (see :func:`read_log`);
    ValueError if either file is unreadable or no epoch has finished."""
    try:
        # flat, as runs from before the config sections wrote it (width, not network.width)
        config = flatten_options(json.loads((run_dir / "config.json").read_text()))
        curve, notes = read_log(run_dir / "log.jsonl")
    except (OSError, ValueError) as e:
        raise ValueError(str(e)) from None
    if not curve:
        raise ValueError(f"{run_dir / 'log.jsonl'} has no finished epoch")
    return config, curve, notes


def exported_model_info(run_dir: Path) -> dict | None:
    """The description stored in RUN_DIR/model.safetensors (written when a run finishes)."""
    path = run_dir / "model.safetensors"
    if not path.is_file():
        return None
    from wildpose.zoo import read_model_info

    info = read_model_info(path)
    return {"path": str(path.resolve()), "train_minutes": info.get("train_minutes"),
            "name": info.get("name") or None}


def markdown_table(curve: list[dict]) -> str:
    lines = ["| Epoch | Minutes | Train MPJPE (mm) | Val MPJPE (mm) |",
             "|---:|---:|---:|---:|"]
    for e in curve:
        cells = [str(e["epoch"]), f"{e['minutes']:.2f}"] + [
            "n/a" if e[k] is None else f"{e[k]:.1f}" for k in ("train_mpjpe_mm", "val_mpjpe_mm")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", metavar="RUN_DIR", help="a wildpose train output folder")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/training_curve_<run>_<date>.json)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = _common.utc_now()
    run = Path(args.run_dir)
    try:
        config, curve, notes = read_run(run)
    except ValueError as e:
        print(f"training_curve: error: {e}", file=sys.stderr)
        return 2
    model = exported_model_info(run)
    vals = [(e["val_mpjpe_mm"], e["epoch"]) for e in curve if e["val_mpjpe_mm"] is not None]
    best = min(vals) if vals else (None, None)
    results = {
        "curve": curve,
        "total_minutes": curve[-1]["minutes"],
        "epochs_logged": curve[-1]["epoch"],
        "epochs_configured": config.get("epochs"),
        "finished": model is not None,
        "exported_model": model,
        "final_val_mpjpe_mm": curve[-1]["val_mpjpe_mm"],
        "best_val_mpjpe_mm": best[0],
        "best_epoch": best[1],
        "log_notes": notes,
    }
    params = {"run_dir": str(run.resolve()), "config": config}
    record = _common.make_record("training_curve", params, results, started)
    path = _common.write_record(record, args.out, tag=run.resolve().name)

    print(f"run {run} ({config.get('inputs')} inputs, width {config.get('width')}, blocks "
          f"{config.get('blocks')}, batch {config.get('batch_size')}, "
          f"{curve[-1]['epoch']}/{config.get('epochs')} epochs"
          f"{'' if model else ', not finished: no model.safetensors yet'})")
    for note in notes:
        print(f"note: {note}")
    print(markdown_table(curve))
    best_txt = "n/a" if best[0] is None else f"{best[0]:.1f} mm (epoch {best[1]})"
    final_txt = "n/a" if curve[-1]["val_mpjpe_mm"] is None else \
        f"{curve[-1]['val_mpjpe_mm']:.1f} mm"
    print(f"total training time {curve[-1]['minutes']:.2f} min; final validation MPJPE "
          f"{final_txt}; best {best_txt}; commit {record['commit']}")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
