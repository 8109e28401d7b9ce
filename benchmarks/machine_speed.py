"""How fast this machine trains the lifter today: the time of one optimizer step.

    python benchmarks/machine_speed.py [--steps 30] [--precisions bf16 fp32]

The training-time target ("at most 60 minutes on this 2-core machine") is wall-clock time,
and the same deterministic run has logged 8.61 and 18.22 minutes for the same 4 epochs on
two sessions of this machine.  A training record alone cannot say whether a slow run was a
costlier model or a slower host; this reading can.  Run it just before and after a
training, on an idle machine, and quote it beside the training's minutes.

It times forward + backward + the trainers' optimizer (``wildpose.training.make_optimizer``:
fused AdamW) for the network the shipped video lifters use:
``ResidualMLPLifter`` width 1024, 2 blocks, dropout 0.1, a 17-frame window of 17 joints,
batch 512, on random inputs (what is computed does not depend on the values), on the CPU
with torch's default threads.  bf16 is what ``wildpose train`` computes in by default
(precision "auto").
Five untimed warm-up steps, then the median and the fastest of ``--steps`` timed steps, ms.
Data loading and augmentation are not included: they change with the code, not the host,
and this measures the host.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import _common

WIDTH, BLOCKS, WINDOW, JOINTS, BATCH = 1024, 2, 17, 17, 512


def step_times_ms(precision: str, steps: int) -> list[float]:
    """Wall-clock ms of ``steps`` training steps (after 5 warm-up steps)."""
    import torch

    from wildpose.device import autocast_dtype
    from wildpose.models.lifter import LifterConfig, ResidualMLPLifter
    from wildpose.training import TrainConfig, make_optimizer

    torch.manual_seed(0)
    cpu = torch.device("cpu")
    amp = autocast_dtype(precision, cpu)   # as `wildpose train` maps its precision setting
    model = ResidualMLPLifter(LifterConfig(width=WIDTH, blocks=BLOCKS, dropout=0.1,
                                           window=WINDOW, window_step=4))
    opt = make_optimizer(model, TrainConfig(), cpu)
    kp = torch.randn(BATCH, WINDOW, JOINTS, 2)
    valid = torch.ones(BATCH, WINDOW, JOINTS, dtype=torch.bool)
    target = torch.randn(BATCH, JOINTS, 3)
    times = []
    for i in range(5 + steps):
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=amp or torch.float32, enabled=amp is not None):
            pred = model(kp, valid)
        loss = (pred.float() - target).norm(dim=-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 5:
            times.append((time.perf_counter() - t) * 1000)
    return times


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30, help="timed steps per precision")
    p.add_argument("--precisions", nargs="+", choices=("bf16", "fp32"), default=["bf16", "fp32"])
    p.add_argument("--out", default=None, help="result JSON path (default: "
                   "benchmarks/results/machine_speed_<date>.json)")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be at least 1")
    return args


def run(args: argparse.Namespace) -> int:
    import torch

    started = _common.utc_now()
    results = {"torch_threads": torch.get_num_threads()}
    for precision in args.precisions:
        times = step_times_ms(precision, args.steps)
        results[precision] = {"median_step_ms": statistics.median(times),
                              "fastest_step_ms": min(times)}
        print(f"{precision}: median {statistics.median(times):.2f} ms/step, fastest "
              f"{min(times):.2f} ms", flush=True)
    params = {"steps": args.steps, "precisions": args.precisions, "width": WIDTH,
              "blocks": BLOCKS, "window": WINDOW, "joints": JOINTS, "batch_size": BATCH}
    record = _common.make_record("machine_speed", params, results, started)
    print(f"record written to {_common.write_record(record, args.out)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return _common.run_reporting_errors("machine_speed", lambda: run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
