"""Lifting speed and memory of a model.

    python benchmarks/speed.py --model NAME|PATH [--batch-sizes 1024 8192] [--min-seconds 3]
                               [--precisions fp32 bf16] [--cli-runs 5]
                               [--cli-input ../shared/data/wild/running.npy]

(a) Batched throughput, poses/s, of ``wildpose.Lifter(...).lift(...)`` for the numpy and the
    torch backend (CPU; torch in each of --precisions), flip test on and off, at each batch
    size: one batch per ``lift`` call (``Lifter(batch_size=B)`` on B poses), so each figure
    includes the layout conversion and 2D normalization a user pays for, not just the
    network.  Inputs are
    synthetic H36M17 poses in pixels: a fixed standing pose, randomly scaled, rotated,
    shifted and jittered per joint (fixed seed).  One warm-up call, then calls are timed
    until at least --min-seconds have passed.
(b) Wall-clock time of the command ``wildpose lift INPUT -o TMPDIR --model MODEL`` (the
    venv's executable, as a subprocess; median of --cli-runs runs after one untimed warm-up),
    and the same with ``--max-png 0`` to separate the cost of drawing the PNG.
(c) Peak RSS of this process (after the numpy phase, which never imports torch, and at the
    end) and of the largest ``wildpose lift`` child process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _common

# A standing person facing the camera, H36M17 order, pixels (x right, y down): subject's
# right side on the image's left.  Hand-written; only needs to be plausible.
BASE_POSE = np.array([
    [500, 500],                           # Hip
    [470, 502], [466, 600], [462, 700],   # RHip, RKnee, RFoot
    [530, 502], [536, 600], [540, 700],   # LHip, LKnee, LFoot
    [500, 440], [500, 382],               # Spine, Thorax
    [501, 352], [500, 318],               # Neck/Nose, Head
    [540, 386], [560, 446], [570, 502],   # LShoulder, LElbow, LWrist
    [460, 386], [440, 446], [430, 502],   # RShoulder, RElbow, RWrist
], dtype=np.float32)


def synthetic_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 17, 2) float32 pixel poses: BASE_POSE scaled 0.5-2x, rotated within +-20 degrees
    about the hip, shifted within +-300 px, with 6 px of per-joint noise."""
    rng = np.random.default_rng(seed)
    centred = BASE_POSE - BASE_POSE[0]
    scale = rng.uniform(0.5, 2.0, (n, 1, 1))
    ang = np.deg2rad(rng.uniform(-20, 20, n))
    rot = np.stack([np.stack([np.cos(ang), -np.sin(ang)], -1),
                    np.stack([np.sin(ang), np.cos(ang)], -1)], -2)     # (n, 2, 2)
    pts = np.einsum("nij,kj->nki", rot, centred) * scale
    pts += BASE_POSE[0] + rng.uniform(-300, 300, (n, 1, 2))
    pts += rng.normal(0, 6, pts.shape)
    return pts.astype(np.float32)


def time_lift(lifter, poses: np.ndarray, min_seconds: float) -> dict:
    """Warm up once, then call ``lifter.lift(poses)`` until ``min_seconds`` have passed."""
    lifter.lift(poses)
    times = []
    start = time.perf_counter()
    while True:
        t = time.perf_counter()
        out = lifter.lift(poses)
        times.append(time.perf_counter() - t)
        if time.perf_counter() - start >= min_seconds:
            break
    total = sum(times)
    if not np.isfinite(out).all():
        raise RuntimeError("the lifter returned non-finite poses for the synthetic inputs")
    return {"poses_per_s": len(poses) * len(times) / total, "calls": len(times),
            "timed_s": total, "median_call_ms": 1000 * statistics.median(times),
            "min_call_ms": 1000 * min(times)}


def wildpose_executable() -> str:
    """The venv's ``wildpose`` (beside this interpreter), else the one on PATH."""
    exe = Path(sys.prefix) / "bin" / "wildpose"
    if exe.is_file():
        return str(exe)
    found = shutil.which("wildpose")
    if found is None:
        raise FileNotFoundError("no wildpose executable: pip install -e . in the venv")
    return found


def time_cli(cmd: list[str], runs: int, workdir: Path) -> dict:
    """Median wall time of ``cmd + ["-o", <fresh folder>]`` over ``runs`` runs, after one
    untimed warm-up run (so every timed run sees warm file caches)."""
    times = []
    for i in range(runs + 1):
        out = workdir / f"run{i}"
        t = time.perf_counter()
        proc = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True)
        dt = time.perf_counter() - t
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                               f"{proc.stderr.strip()[-2000:]}")
        if i > 0:
            times.append(dt)
        shutil.rmtree(out, ignore_errors=True)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs_s": times, "warmup_runs": 1}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="shipped model name or .safetensors file")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1024, 8192])
    p.add_argument("--min-seconds", type=float, default=3.0,
                   help="time each throughput setting for at least this long (default 3)")
    p.add_argument("--backends", nargs="+", choices=("numpy", "torch"),
                   default=["numpy", "torch"])
    p.add_argument("--precisions", nargs="+", choices=("fp32", "bf16"),
                   default=["fp32", "bf16"],
                   help="what the torch backend computes in (the numpy backend: fp32 only)")
    p.add_argument("--cli-input", default=f"{_common.DEFAULT_DATA_ROOT}/wild/running.npy",
                   help="keypoint file for the wildpose lift timing (default: %(default)s)")
    p.add_argument("--cli-runs", type=int, default=5, help="timed runs per command (default 5)")
    p.add_argument("--skip-cli", action="store_true", help="skip the command-line timing (b)")
    p.add_argument("--torch-threads", type=int, default=None,
                   help="torch.set_num_threads for the torch backend (default: torch's own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic poses")
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/speed_<model>_<date>.json)")
    args = p.parse_args(argv)
    if min(args.batch_sizes) < 1 or args.cli_runs < 1 or args.min_seconds < 0:
        p.error("batch sizes and --cli-runs must be positive, --min-seconds non-negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("speed", lambda: run(args),
                                        (ValueError, FileNotFoundError))


def run(args: argparse.Namespace) -> int:
    started = _common.utc_now()
    load = os.getloadavg()[0]
    if load >= 0.5:
        print(f"warning: the machine is busy (1-minute load average {load:.2f}): timings "
              f"will be slower than on an idle machine", file=sys.stderr)
    from wildpose.api import Lifter

    model_id = _common.model_identity(args.model)
    poses = synthetic_poses(max(args.batch_sizes), args.seed)
    results: dict = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()],
                     "throughput": [], "peak_rss_mib": {}}
    threads = {}
    # numpy first: its peak RSS is then measured before torch is ever imported.
    for backend in sorted(args.backends, key=("numpy", "torch").index):
        if backend == "torch":
            import torch
            if args.torch_threads:
                torch.set_num_threads(args.torch_threads)
            threads = {"torch_num_threads": torch.get_num_threads(),
                       "torch_num_interop_threads": torch.get_num_interop_threads()}
        precisions = args.precisions if backend == "torch" else ["fp32"]
        for precision in precisions:
            for flip in (False, True):
                for bs in args.batch_sizes:
                    lifter = Lifter(args.model, device="cpu", flip_test=flip, batch_size=bs,
                                    backend=backend, precision=precision)
                    row = {"backend": backend, "precision": precision, "flip_test": flip,
                           "batch_size": bs, **time_lift(lifter, poses[:bs], args.min_seconds)}
                    results["throughput"].append(row)
                    print(f"{backend:5s}  {precision}  flip {'on ' if flip else 'off'}  batch "
                          f"{bs:6d}: {row['poses_per_s']:10.0f} poses/s  ({row['calls']} calls "
                          f"in {row['timed_s']:.1f} s, median call "
                          f"{row['median_call_ms']:.1f} ms)", flush=True)
        results["peak_rss_mib"][f"self_after_{backend}"] = _common.peak_rss_mib()

    if not args.skip_cli:
        exe = wildpose_executable()
        cli_input = Path(args.cli_input)
        if not cli_input.is_file():
            raise FileNotFoundError(f"--cli-input {cli_input} does not exist")
        base = [exe, "lift", str(cli_input), "--model", args.model]
        with tempfile.TemporaryDirectory(prefix="wildpose-speed-") as tmp:
            cli = {"executable": exe, "input": str(cli_input.resolve())}
            for key, extra in (("default", []), ("max_png_0", ["--max-png", "0"])):
                r = time_cli(base + extra, args.cli_runs, Path(tmp))
                r["command"] = " ".join(["wildpose", "lift", str(cli_input), "-o", "TMPDIR",
                                         "--model", args.model, *extra])
                cli[key] = r
                print(f"{r['command']}: median {r['median_s']:.3f} s over {args.cli_runs} runs "
                      f"(min {r['min_s']:.3f}, max {r['max_s']:.3f})", flush=True)
            cli["png_cost_s"] = cli["default"]["median_s"] - cli["max_png_0"]["median_s"]
            results["cli_lift"] = cli
        results["peak_rss_mib"]["largest_wildpose_lift_child"] = _common.children_peak_rss_mib()
    results["peak_rss_mib"]["self"] = _common.peak_rss_mib()

    params = {"model": model_id, "batch_sizes": args.batch_sizes,
              "min_seconds": args.min_seconds, "backends": args.backends,
              "precisions": args.precisions, "device": "cpu",
              "inputs": f"synthetic H36M17 pixel poses, seed {args.seed}",
              "cli_runs": None if args.skip_cli else args.cli_runs,
              "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"), **threads}
    record = _common.make_record("speed", params, results, started)
    path = _common.write_record(record, args.out, tag=Path(args.model).stem)

    rss = results["peak_rss_mib"]
    print("peak RSS: " + ", ".join(f"{k} {v:.0f} MiB" for k, v in rss.items()))
    if "cli_lift" in results:
        print(f"PNG drawing costs {results['cli_lift']['png_cost_s']:.3f} s per lift command")
    print(f"load average at the end {record['machine']['load_average_1_5_15min']} on "
          f"{record['machine']['cpu_count']} CPUs; commit {record['commit']}")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
