"""What the experiment scripts share: their command line, the rows of their tables (which to
run, which are done) and one markdown table writer."""

from __future__ import annotations

import argparse
import inspect
import json
import math
import sys
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Sequence

from wildpose.settings import flat_keys

__all__ = ["markdown_table", "fmt", "check_experiment_options", "select_rows", "finished_row",
           "save_row", "run_row", "write_results", "json_default", "main"]


def markdown_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """The lines of a markdown table: ``head`` then ``rows`` (cells as text); the first column
    left-aligned, the others (figures) right-aligned."""
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def fmt(v: Any, digits: int = 1) -> str:
    """A figure to ``digits`` decimals, or "-" when there is none (None, NaN)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return f"{v:.{digits}f}"
    return "-"


def check_experiment_options(settings: dict[str, Any], cls: type,
                             own: tuple[str, ...] = ("out_dir", "name")) -> None:
    """An experiment's settings must all be fields of its training config ``cls`` (or flat
    names of its sections' fields, :func:`wildpose.settings.flat_keys`), except those the
    experiment sets itself (``own``): one-line ValueError naming the others."""
    known = {f.name for f in fields(cls)} | set(flat_keys(cls))
    unknown = set(settings) - (known - set(own))
    if unknown:
        raise ValueError(f"unknown experiment option(s): {', '.join(sorted(unknown))}")


def select_rows(all_rows: list[tuple], rows: Any = None) -> list[tuple]:
    """The rows of an experiment table (tuples whose first item is the label) named by
    ``rows`` (None: all), in the table's order; unknown labels are a one-line ValueError."""
    chosen = [r for r in all_rows if rows is None or r[0] in rows]
    if rows is not None and len(chosen) != len(set(rows)):
        raise ValueError(f"unknown row(s) {sorted(set(rows) - {r[0] for r in all_rows})};"
                         f" rows: {', '.join(r[0] for r in all_rows)}")
    return chosen


def finished_row(eval_path: Path, key: dict[str, Any], resume: bool = True
                 ) -> dict[str, Any] | None:
    """The result an experiment row stored in ``eval_path`` (see :func:`save_row`), if it
    was made with exactly ``key`` (its config and scoring settings); else None."""
    if not (resume and eval_path.is_file()):
        return None
    done = json.loads(eval_path.read_text())
    return done["result"] if all(done.get(k) == v for k, v in key.items()) else None


def save_row(eval_path: Path, key: dict[str, Any], result: dict[str, Any]) -> None:
    """Store an experiment row's result with the ``key`` it was made with."""
    eval_path.write_text(json.dumps({**key, "result": result}, indent=2))


def run_row(label: str, name: str, eval_path: Path, key: dict[str, Any], resume: bool,
            train: Callable[[], Path], evaluate: Callable[[Path], dict[str, Any]],
            describe: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """One row of an experiment table, resumable.

    A row finished with exactly ``key`` (see :func:`finished_row`) is read back; otherwise
    ``train()`` writes its model file, ``evaluate(model_file)`` scores it and the result
    (``row``, ``model``, ``model_file``, training ``minutes`` and the scores) is stored with
    ``key``.  Prints one line as the row starts (or is found done) and ``describe(result)``
    after it.
    """
    done = finished_row(eval_path, key, resume)
    if done is not None:
        print(f"{label}: done already ({eval_path})", flush=True)
        return done
    print(f"== {label} ({name})", flush=True)
    t_row = time.time()
    path = train()
    res = {"row": label, "model": name, "model_file": str(path),
           "minutes": round((time.time() - t_row) / 60, 1)}
    res.update(evaluate(path))
    save_row(eval_path, key, res)
    print(f"{label}: {describe(res)}", flush=True)
    return res


def write_results(out: Path, summary: dict[str, Any], table: str) -> dict[str, Any]:
    """Write an experiment's ``results.json`` (``summary``) and ``results.md`` (``table``) to
    ``out``, print the table and return ``summary``."""
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    (out / "results.md").write_text(table + "\n")
    print(table, flush=True)
    return summary


def json_default(o: Any) -> Any:
    """JSON for numpy scalars and tuples (``json.dumps(..., default=json_default)``)."""
    if hasattr(o, "item") and callable(o.item):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def main(run: Callable[..., Any], argv: Sequence[str] | None, default_out: str,
         data_option: str = "data_dir") -> int:
    """The command line of an experiment script: ``--data-dir``, ``--out-dir``, ``--quick``
    and ``--config`` (a JSON object of ``run``'s keyword options; a training config's
    ``data_root``/``data_dir`` and ``out_dir`` are taken too, the flags win)."""
    p = argparse.ArgumentParser(description=(run.__doc__ or "").split("\n")[0])
    p.add_argument("--data-dir", default=None, help="the data folder")
    p.add_argument("--out-dir", default=None, help=f"(default {default_out})")
    p.add_argument("--config", default=None, help="JSON of experiment options")
    p.add_argument("--quick", action="store_true", help="a tiny smoke-test version")
    args = p.parse_args(argv)
    try:
        opts: dict[str, Any] = {}
        if args.config:
            opts = json.loads(Path(args.config).read_text())
            if not isinstance(opts, dict):
                raise ValueError(f"experiment config {args.config}: not a JSON object")
        data = opts.pop("data_root", None) or opts.pop("data_dir", None)
        out = opts.pop("out_dir", None)
        opts.pop("method", None)
        params = inspect.signature(run).parameters
        known = set(params) - {data_option, "out_dir", "quick", "progress"}
        unknown = sorted(set(opts) - known)
        # A run taking **options checks them itself (against its training config).
        if unknown and not any(q.kind is q.VAR_KEYWORD for q in params.values()):
            raise ValueError(f"experiment config {args.config}: unknown experiment "
                             f"option(s): {', '.join(unknown)}")
        run(args.data_dir or data, args.out_dir or out or default_out, quick=args.quick,
            progress=True, **opts)
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # finished rows are kept; a rerun skips them
        return 130
    return 0
