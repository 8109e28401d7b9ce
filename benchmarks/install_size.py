"""Download size of the README's first set-up command, measured in a fresh virtual environment.

    python benchmarks/install_size.py [--requirement torch==2.13.0] [--on-disk torch]

A new venv (in a temporary folder) runs ``pip download --no-cache-dir`` of the given
requirements and of this repository (``.``), the same resolution as ``pip install torch==2.13.0
-e .``; every wheel it gathers is counted, and the packages named by ``--on-disk`` (the torch CPU
wheel is already on the project's machines) are reported apart.  pip's output is searched for
backtracking ("looking at multiple versions" / "backtracking").

The result is written to ``benchmarks/results/install_size_*.json``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

import _common


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requirement", nargs="*", default=["torch==2.13.0"],
                   help="requirements named on the command line besides the repository "
                        "(default: %(default)s)")
    p.add_argument("--on-disk", nargs="*", default=["torch"],
                   help="packages not downloaded on the project's machines (default: "
                        "%(default)s)")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/install_size_<date>.json)")
    return p.parse_args(argv)


def _package(wheel: str) -> str:
    return re.split(r"-\d", wheel, maxsplit=1)[0].lower().replace("_", "-")


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    with tempfile.TemporaryDirectory(prefix="wildpose_install_") as tmp:
        env_dir, dest = Path(tmp) / "venv", Path(tmp) / "wheels"
        venv.create(env_dir, with_pip=True)
        out = subprocess.run([str(env_dir / "bin" / "pip"), "download", "--no-cache-dir",
                              "-d", str(dest), *args.requirement, "."],
                             cwd=_common.REPO_ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"pip download failed: {out.stderr.strip()[-500:]}")
        log = (out.stdout + out.stderr).lower()
        files = {f.name: f.stat().st_size for f in dest.iterdir()}
    on_disk = {n for n in files if _package(n) in {p.lower() for p in args.on_disk}}
    mb = lambda names: sum(files[n] for n in names) / 1e6  # noqa: E731
    results = {
        "files": len(files),
        "total_mb": mb(files),
        "downloaded_mb": mb(set(files) - on_disk),
        "on_disk": {n: files[n] / 1e6 for n in sorted(on_disk)},
        "largest_mb": dict(sorted(((n, s / 1e6) for n, s in files.items() if n not in on_disk),
                                  key=lambda t: -t[1])[:6]),
        "backtracking": "backtracking" in log or "looking at multiple versions" in log,
    }
    record = _common.make_record("install_size", {"requirement": args.requirement,
                                                  "on_disk": args.on_disk}, results, started)
    path = _common.write_record(record, args.out)
    print(f"{results['files']} files: {results['downloaded_mb']:.1f} MB downloaded besides "
          f"{', '.join(args.on_disk)} ({results['total_mb']:.1f} MB with it); backtracking: "
          f"{results['backtracking']}; written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("install_size", lambda: run(args),
                                        (ValueError, RuntimeError))


if __name__ == "__main__":
    sys.exit(main())
