"""Shared pieces of the benchmark scripts: provenance (command, commit, machine, date) and
writing a result record as JSON under ``benchmarks/results/``.

Every result file is one JSON object::

    {"benchmark": "accuracy" | "speed" | "training_curve",
     "command": "python benchmarks/<script>.py ...",   # exactly what produced it
     "commit": "abc1234" or "abc1234-dirty" or "unknown",
     "dirty_paths": [...],                             # what made it dirty, if anything
     "machine": {...}, "date": "2024-...Z",
     "params": {...},                                  # the parsed arguments, resolved
     "results": {...}}                                 # the measured figures

Nothing here imports torch (so a speed measurement of the numpy backend is not charged for
it); the torch version is read from the installed package's metadata.
"""

from __future__ import annotations

import json
import math
import os
import platform
import re
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_DATA_ROOT = "../shared/data"   # relative to the working directory, as the CLI's

__all__ = ["BENCH_DIR", "REPO_ROOT", "RESULTS_DIR", "DEFAULT_DATA_ROOT", "command_line",
           "git_commit", "machine_info", "utc_now", "make_record", "write_record",
           "peak_rss_mib", "children_peak_rss_mib", "model_identity", "run_reporting_errors"]


def run_reporting_errors(name: str, run: Callable[[], int],
                         errors: tuple[type[BaseException], ...] = (ValueError,
                                                                     FileNotFoundError)
                         ) -> int:
    """A script's exit status: ``run()``'s, or 2 after one line ``<name>: error: ...`` on
    stderr when it raises one of ``errors`` (bad input or data: no traceback, no record)."""
    try:
        return run()
    except errors as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, as ``python benchmarks/<script>.py ARGS`` (arguments
    shell-quoted, so the line can be pasted back into a shell from the repository root)."""
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).name
    return shlex.join(["python", f"benchmarks/{script}", *argv[1:]])


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def git_commit() -> tuple[str, list[str]]:
    """``git rev-parse --short HEAD``, plus "-dirty" if ``git status --porcelain`` lists
    anything outside ``benchmarks/results/``, and the list of paths it lists.

    Result files are excluded from the dirty check: otherwise the first result written would
    mark every later run "-dirty" although no code changed.  The paths are returned so the
    record says what was modified.  Read-only: ``--no-optional-locks`` keeps ``git status``
    from rewriting the index.  ("unknown", []) outside a git checkout.
    """
    head = _git("rev-parse", "--short", "HEAD")
    if head is None:
        return "unknown", []
    status = _git("--no-optional-locks", "status", "--porcelain") or ""
    paths = []
    for line in status.splitlines():
        path = line[3:].strip()
        if " -> " in path:          # a rename: "old -> new"
            path = path.split(" -> ", 1)[1]
        path = path.strip('"')
        if not path.startswith("benchmarks/results/"):
            paths.append(path)
    return head.strip() + ("-dirty" if paths else ""), paths


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        m = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
        return round(int(m.group(1)) / 2**20, 1) if m else None
    except OSError:
        return None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """CPU model, core count, memory, library versions and the load at the time (a busy
    machine makes slower timings: the 1-minute load average says how busy it was)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = None
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": usable,
        "memory_gib": _mem_total_gib(),
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "wildpose": _version("wildpose"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1_5_15min": load,
    }


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far, MiB (ru_maxrss is KiB on Linux)."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def children_peak_rss_mib() -> float:
    """Peak resident memory of the largest finished child process, MiB."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 2**20


def _clean(x: Any) -> Any:
    """JSON-safe: tuples -> lists, Paths -> str, NaN/inf -> None (never a made-up number)."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if hasattr(x, "item") and callable(x.item):   # numpy scalars
        return _clean(x.item())
    return x


def make_record(benchmark: str, params: dict[str, Any], results: dict[str, Any],
                started: str | None = None) -> dict[str, Any]:
    """The full record: provenance plus ``params`` and ``results``.  ``started``: the UTC
    date the measurement began (default: now)."""
    commit, dirty = git_commit()
    return _clean({
        "benchmark": benchmark,
        "command": command_line(),
        "commit": commit,
        "dirty_paths": dirty,
        "machine": machine_info(),
        "date": started or utc_now(),
        "params": params,
        "results": results,
    })


def write_record(record: dict[str, Any], out: str | Path | None = None,
                 tag: str = "") -> Path:
    """Write ``record`` as JSON to ``out``, or by default to
    ``benchmarks/results/<benchmark>[_<tag>]_<UTC date>.json`` (never overwriting)."""
    if out is None:
        stamp = record["date"].replace(":", "").replace("-", "")
        safe_tag = re.sub(r"[^A-Za-z0-9_.-]+", "-", tag).strip("-.")
        name = "_".join(p for p in (record["benchmark"], safe_tag, stamp) if p)
        path = RESULTS_DIR / f"{name}.json"
        n = 2
        while path.exists():
            path = RESULTS_DIR / f"{name}_{n}.json"
            n += 1
    else:
        path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return path


def detector_option(text: str) -> tuple[str, Any]:
    """``--detector-option KEY=VALUE`` -> ``(KEY, VALUE)``, VALUE read as JSON (``true``,
    ``0.5``) or else kept as a string; passed to ``wildpose.detectors.make_detector``."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise ValueError(f"--detector-option {text!r}: expected KEY=VALUE")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def model_identity(model: str) -> dict[str, Any]:
    """What a ``--model`` argument resolved to: the file, its size and SHA-256 (so a result
    names the exact weights even when the file is later replaced) and its description name."""
    import hashlib

    from wildpose.zoo import model_path, read_model_info

    path = model_path(model)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    info: dict[str, Any] = {}
    if path.suffix == ".safetensors":
        info = read_model_info(path)
    return {"argument": model, "path": str(path.resolve()), "bytes": path.stat().st_size,
            "sha256": digest, "name": info.get("name") or None,
            "config": info.get("config"), "train_minutes": info.get("train_minutes")}

