"""Training throughput, memory per image and FLOPs of Zhou et al.'s image network, and the
projected time of one Human3.6M + MPII epoch on one GPU.

    python benchmarks/zhou_image_speed.py [--config configs/zhou-image.json] [--threads N]
        [--batch 32] [--steps 30] [--warmup 3] [--memory-batches 16 64]
        [--paper-size 256 --paper-stacks 2 --paper-width 256 --paper-depth 4]
        [--gpu-name ... --gpu-peak-tflops 125 --gpu-utilization 0.3]

(a) Throughput: full training steps of :class:`wildpose.models.hourglass.ZhouImageNet` built
    from the config (flags override its image size, stacks, width, hourglass depth), done
    the way ``wildpose.methods.zhou_image.train_zhou_image`` does them: per-step generator
    and seed, uint8 -> float conversion, ``augment_crops`` (flip, rotation, scale), forward,
    ``zhou_image_losses`` at stage-3 weights (heatmaps + depth L2 on the 3D rows + L_geo on
    the 2D-only rows) on a mixed batch split as the config's batch_3d : batch_2d, backward,
    AdamW step, and the ``.item()`` of the logged losses.  Inputs are random uint8 images
    with plausible labels (a hand-made standing pose with random limb swings, turned about
    the vertical axis and projected into the image; depth targets and canonical bone
    lengths computed from them as the trainer does).  Data loading -- drawing the batch
    from the rendered arrays -- is EXCLUDED.  ``--warmup`` untimed steps, then ``--steps``
    timed steps: images/s is the batch size over the median step time.  CPU, float32 (the
    trainer uses autocast on GPUs only).
(b) Memory: a fresh subprocess per batch size of ``--memory-batches`` builds the same
    network and optimizer, resets its peak RSS (``/proc/self/clear_refs``), runs a few
    training steps and reads the peak (``VmHWM`` of ``/proc/self/status``).  The growth of
    the peak over the RSS before the first step, fitted as a line in the batch size, gives
    MiB per image (slope) and the fixed part of a step (intercept: gradients, AdamW state,
    allocator overhead); the RSS before the first step (Python, torch, the model) is
    recorded separately.
(c) FLOPs per image: ``torch.utils.flop_counter.FlopCounterMode`` (matrix multiplications
    and convolutions, 2 per multiply-add; BatchNorm, ReLU, pooling and the optimizer are not
    counted) of a forward pass and of forward + backward, counted on the ``meta`` device
    (shapes only, nothing is computed) for the configured network and for the paper-scale
    one (``--paper-*``: 256 px, 2 stacks of width 256, hourglass depth 4, Newell et al.'s
    2-stack network that Zhou et al. build on).  For the configured network, one real CPU
    training step (with the losses) is counted too, as a check.
(d) Projection: images per epoch (:data:`H36M_TRAIN_IMAGES` + :data:`MPII_TRAIN_PERSONS`)
    x training FLOPs per image / (GPU peak FLOP/s x utilization), for both networks; the
    GPU assumption is a flag and is recorded.  Also the epoch time on this CPU at the
    measured images/s (configured network), and the paper network's CPU time at the FLOP
    rate this CPU achieved on the configured one (``--paper-steps`` > 0 also times a few
    real paper-scale steps at ``--paper-batch`` as a check; slow on a CPU).

Writes ``benchmarks/results/zhou_image_speed_<S>px_<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import _common

# --------------------------------------------------------------------------- epoch sizes
#: Human3.6M training images per epoch: subjects S1, S5, S6, S7, S8, all 4 cameras, every
#: 5th frame of the 50 fps videos (10 fps), the subsampling usual for image-based training
#: (Zhou et al. 2017, Sun et al. 2018 and others).  Counted here from the 146 training
#: sequences of ../shared/data/h36m (``S*/MyPoses/3D_positions/*.h5``, 366,100 frames at
#: 50 fps): sum over sequences of ceil(frames / 5) = 73,279 frames, x 4 cameras = 293,116
#: images -- the row count of ``wildpose.datasets.h36m.load_h36m(subjects=(1, 5, 6, 7, 8),
#: stride=5)``.  (Every frame: 1,464,400 images.)
H36M_TRAIN_IMAGES = 293_116
#: MPII training person annotations: the 25,925 of the Tompson et al. 2015 train/validation
#: split as used by Newell et al.'s hourglass training code (and the CPM genJSON.m json; a
#: stricter split with no image shared with validation has 22,246: see
#: github.com/bearpaw/pytorch-pose issue #80).  MPII: ~25k images, ~40k people in all.
MPII_TRAIN_PERSONS = 25_925

# A standing person in the body frame (x = subject's left, y down, z away from the camera),
# mm, H36M17 order: pelvis, right leg (hip, knee, foot), left leg, spine, thorax, neck,
# head, left arm (shoulder, elbow, wrist), right arm.
_BODY = np.array([
    [0, 0, 0],
    [-125, 5, 0], [-115, 450, 25], [-105, 890, 55],
    [125, 5, 0], [115, 450, 25], [105, 890, 55],
    [0, -220, 15], [0, -480, 25], [0, -580, -35], [0, -690, 30],
    [160, -450, 25], [215, -190, 55], [250, 55, 35],
    [-160, -450, 25], [-215, -190, 55], [-250, 55, 35],
], np.float64)
_LIMB_ENDS = [2, 3, 5, 6, 12, 13, 15, 16]   # knees, feet, elbows, wrists


def synthetic_batch(n: int, n3: int, size: int, seed: int = 0):
    """A training batch as ``batch_of`` in the trainer returns it, before augmentation.

    Returns:
        ``(images, joints_2d, depth, has_3d, canonical_norm)``: (n, S, S, 3) uint8 noise,
        (n, 17, 2) float32 pixels, (n, 17) float32 depth targets (0 on the n - n3 2D-only
        rows, as the trainer fills them), (n,) bool and the canonical bone lengths in
        normalized units of the 3D rows.
    """
    import torch

    from wildpose.losses import canonical_bone_lengths
    from wildpose.methods.zhou import depth_targets
    from wildpose.normalization import normalize_2d

    rng = np.random.default_rng(seed)
    pose = np.repeat(_BODY[None], n, 0)
    pose[:, _LIMB_ENDS] += rng.normal(0, 70, (n, len(_LIMB_ENDS), 3))
    yaw = rng.uniform(-np.pi, np.pi, n)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    cam = np.einsum("nij,nkj->nki", rot, pose)
    cam[..., 2] += 4500.0                                      # 4.5 m from the camera
    # Focal length so that a ~1.8 m person spans ~70 % of the image at 4.5 m.
    f = 0.7 * size * 4500.0 / 1800.0
    centre = (size - 1) / 2.0 + rng.uniform(-0.05, 0.05, (n, 1, 2)) * size
    kp = f * cam[..., :2] / cam[..., 2:3]
    kp = kp - kp.mean(1, keepdims=True) + centre
    rel = cam - cam[:, :1]
    valid = np.ones((n, 17), bool)
    norm, _, _ = normalize_2d(kp, valid)
    depth, _ = depth_targets(rel, norm, valid)
    canon = canonical_bone_lengths(np.concatenate([norm[:n3], depth[:n3, :, None]], -1))
    depth[n3:] = 0.0
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return (images, torch.from_numpy(kp.astype(np.float32)),
            torch.from_numpy(depth.astype(np.float32)), torch.arange(n) < n3,
            torch.as_tensor(canon, dtype=torch.float32))


# ---------------------------------------------------------------------------- the step
class TrainStep:
    """One training step of ``train_zhou_image`` (its ``step_loss`` + ``run_training``'s
    loop body) on a fixed synthetic batch, with the trainer's own functions."""

    def __init__(self, cfg, batch: int, seed: int = 0):
        import torch

        from wildpose.methods.zhou_image import stage_of, stage_weights
        from wildpose.models.hourglass import ZhouImageNet

        if batch < 2:
            raise ValueError("the batch needs at least 2 images (3D and 2D-only rows)")
        self.cfg = cfg
        # Stage 3 (every loss term on): the first epoch of stage 3.
        wcfg = replace(cfg, stage3_epochs=max(cfg.stage3_epochs, 1))
        epoch3 = wcfg.stage1_epochs + wcfg.stage2_epochs
        assert stage_of(wcfg, epoch3) == 3
        self.weights = stage_weights(wcfg, epoch3)
        share = cfg.batch_3d / max(cfg.batch_3d + cfg.batch_2d, 1)
        self.n3 = min(max(int(round(batch * share)), 1), batch - 1)
        self.batch = batch
        (self.images, self.kp, self.depth, self.has3,
         self.canon) = synthetic_batch(batch, self.n3, cfg.network.image_size, seed)
        torch.manual_seed(cfg.seed)
        self.model = ZhouImageNet(cfg.net_config())
        self.model.train()
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.optim.lr,
                                     weight_decay=cfg.optim.weight_decay)
        self.count = 0

    def __call__(self) -> dict[str, float]:
        import torch

        from wildpose.methods.zhou_image.predictor import _to_tensor
        from wildpose.methods.zhou_image.train import augment_crops, zhou_image_losses

        cfg = self.cfg
        step_seed = hash((cfg.seed, 0, self.count)) & 0x7FFFFFFF
        self.count += 1
        gen = torch.Generator().manual_seed(step_seed)
        torch.manual_seed(step_seed)
        for g in self.opt.param_groups:
            g["lr"] = cfg.optim.lr
        imgs, kp, dep = augment_crops(_to_tensor(self.images), self.kp, self.depth, gen,
                                      cfg.augment)
        out = self.model(imgs)
        losses = zhou_image_losses(out, kp, dep, self.has3, self.canon, self.weights,
                                   cfg.geo_on_3d, cfg.network.sigma)
        self.opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        self.opt.step()
        return {k: v.item() for k, v in losses.items()}


def time_steps(step: TrainStep, steps: int, warmup: int) -> dict[str, Any]:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        logged = step()
        times.append(time.perf_counter() - t)
    if not all(np.isfinite(v) for v in logged.values()):
        raise RuntimeError(f"non-finite losses on the synthetic batch: {logged}")
    med = statistics.median(times)
    return {"batch": step.batch, "batch_3d_rows": step.n3,
            "batch_2d_only_rows": step.batch - step.n3, "warmup_steps": warmup,
            "timed_steps": steps, "median_step_s": med, "min_step_s": min(times),
            "max_step_s": max(times), "mean_step_s": sum(times) / len(times),
            "images_per_s": step.batch / med, "step_s": times, "last_losses": logged}


# ------------------------------------------------------------------------------ memory
def _proc_status_mib(key: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024     # kB
    except (OSError, ValueError, IndexError):
        pass
    return None


def memory_probe(cfg, batch: int, steps: int) -> dict[str, Any]:
    """Run in a fresh process: RSS before the first step, and the peak over ``steps``
    training steps after the peak was reset (if the kernel allows)."""
    step = TrainStep(cfg, batch)
    rss_before = _proc_status_mib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")     # reset VmHWM to the current RSS
        reset = True
    except OSError:
        reset = False
    hwm_before = _proc_status_mib("VmHWM")
    for _ in range(steps):
        step()
    return {"batch": batch, "steps": steps, "rss_before_steps_mib": rss_before,
            "hwm_before_steps_mib": hwm_before, "peak_reset": reset,
            "peak_rss_mib": _proc_status_mib("VmHWM"),
            "rss_after_steps_mib": _proc_status_mib("VmRSS")}


def run_memory_probes(args, batches: list[int]) -> dict[str, Any]:
    rows = []
    for b in batches:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--config", args.config,
               "--threads", str(args.threads), "--memory-probe", str(b),
               "--memory-steps", str(args.memory_steps)]
        for flag in ("image_size", "stacks", "width", "depth"):
            v = getattr(args, flag)
            if v is not None:
                cmd += [f"--{flag.replace('_', '-')}", str(v)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"memory probe at batch {b} failed ({proc.returncode}): "
                               f"{proc.stderr.strip()[-2000:]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        row["growth_mib"] = row["peak_rss_mib"] - row["rss_before_steps_mib"]
        rows.append(row)
        print(f"memory: batch {b:4d}: RSS before the steps {row['rss_before_steps_mib']:.0f} "
              f"MiB, peak {row['peak_rss_mib']:.0f} MiB (+{row['growth_mib']:.0f})", flush=True)
    x = np.array([r["batch"] for r in rows], float)
    y = np.array([r["growth_mib"] for r in rows], float)
    slope, intercept = np.polyfit(x, y, 1) if len(set(x)) > 1 else (float("nan"),) * 2
    return {"probes": rows, "mib_per_image": float(slope), "mib_fixed_per_step":
            float(intercept), "process_rss_before_steps_mib":
            float(np.median([r["rss_before_steps_mib"] for r in rows])),
            "method": "peak RSS (VmHWM, reset via /proc/self/clear_refs) minus RSS before the"
                      " first step, one fresh process per batch size, line fitted in the "
                      "batch size"}


# ------------------------------------------------------------------------------- FLOPs
def count_flops_meta(net_cfg, batch: int = 2) -> dict[str, float]:
    """FLOPs per image of a forward and of a forward + backward pass, on the meta device
    (the loss is the sum of the outputs: its own cost is negligible and not counted)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from wildpose.models.hourglass import ZhouImageNet

    with torch.device("meta"):
        model = ZhouImageNet(net_cfg)
        x = torch.empty(batch, net_cfg.in_channels, net_cfg.input_size, net_cfg.input_size)
    model.train()
    fwd = FlopCounterMode(display=False)
    with fwd:
        model(x)
    both = FlopCounterMode(display=False)
    with both:
        out = model(x)
        (sum(h.sum() for h in out.heatmaps) + out.depth.sum()).backward()
    f, t = fwd.get_total_flops() / batch, both.get_total_flops() / batch
    return {"forward_gflops_per_image": f / 1e9, "train_step_gflops_per_image": t / 1e9,
            "train_to_forward_ratio": t / f,
            "parameters": sum(p.numel() for p in model.parameters())}


def count_flops_real_step(step: TrainStep) -> float:
    """GFLOPs per image of one real training step on the CPU (losses and backward
    included; the optimizer's element-wise updates are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops() / step.batch / 1e9


# ---------------------------------------------------------------------------- arguments
def load_config(args):
    from wildpose.methods.zhou_image import ZhouImageTrainConfig

    cfg = ZhouImageTrainConfig.from_dict(json.loads(Path(args.config).read_text()))
    over = {"image_size": args.image_size, "stacks": args.stacks, "width": args.width,
            "hourglass_depth": args.depth}
    # replace() checks the sizes (ValueError)
    network = replace(cfg.network, **{k: v for k, v in over.items() if v is not None})
    return replace(cfg, network=network, device="cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(_common.REPO_ROOT / "configs" / "zhou-image.json"),
                   help="zhou-image training config (default: configs/zhou-image.json)")
    p.add_argument("--image-size", type=int, default=None, help="override the config's")
    p.add_argument("--stacks", type=int, default=None, help="override the config's")
    p.add_argument("--width", type=int, default=None, help="override the config's")
    p.add_argument("--depth", type=int, default=None,
                   help="override the config's hourglass_depth")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: the config's num_threads; 0: torch's own)")
    p.add_argument("--batch", type=int, default=None,
                   help="images per step (default: the config's batch_3d + batch_2d); split "
                        "3D / 2D-only as batch_3d : batch_2d")
    p.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--memory-batches", type=int, nargs="*", default=[16, 64],
                   help="batch sizes of the memory probes (default 16 64; none: skip)")
    p.add_argument("--memory-steps", type=int, default=3,
                   help="training steps per memory probe (default 3)")
    p.add_argument("--paper-size", type=int, default=256)
    p.add_argument("--paper-stacks", type=int, default=2)
    p.add_argument("--paper-width", type=int, default=256)
    p.add_argument("--paper-depth", type=int, default=4, help="hourglass depth (default 4)")
    p.add_argument("--paper-steps", type=int, default=0,
                   help="also time this many paper-scale CPU steps after one warm-up "
                        "(default 0: FLOPs only)")
    p.add_argument("--paper-batch", type=int, default=2)
    p.add_argument("--h36m-images", type=int, default=H36M_TRAIN_IMAGES,
                   help="Human3.6M training images per epoch (default %(default)s)")
    p.add_argument("--mpii-images", type=int, default=MPII_TRAIN_PERSONS,
                   help="MPII training person crops per epoch (default %(default)s)")
    p.add_argument("--gpu-name", default="NVIDIA V100 (SXM2, 16/32 GB), fp16 tensor cores",
                   help="the GPU the projection assumes (a label)")
    p.add_argument("--gpu-peak-tflops", type=float, default=125.0,
                   help="its peak, TFLOP/s (default 125: V100 fp16 tensor cores; fp32: 15.7)")
    p.add_argument("--gpu-utilization", type=float, default=0.3,
                   help="fraction of the peak a training step achieves (default 0.3)")
    p.add_argument("--out", default=None, help="result JSON path (default: benchmarks/"
                   "results/zhou_image_speed_<S>px_<date>.json)")
    p.add_argument("--memory-probe", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.memory_steps < 1 or args.paper_steps < 0:
        p.error("--steps and --memory-steps must be positive, --warmup and --paper-steps "
                "non-negative")
    if not (0 < args.gpu_utilization <= 1) or args.gpu_peak_tflops <= 0:
        p.error("--gpu-utilization must be in (0, 1] and --gpu-peak-tflops positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return _common.run_reporting_errors("zhou_image_speed", lambda: run(args),
                                        (ValueError, FileNotFoundError, RuntimeError))


def _epoch_minutes(images: int, gflops_per_image: float, flops_per_s: float) -> float:
    return images * gflops_per_image * 1e9 / flops_per_s / 60


def run(args: argparse.Namespace) -> int:
    import torch

    cfg = load_config(args)
    if args.threads is None:
        args.threads = cfg.num_threads
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.memory_probe is not None:                 # child process of (b)
        print(json.dumps(memory_probe(cfg, args.memory_probe, args.memory_steps)))
        return 0

    started = _common.utc_now()
    load = os.getloadavg()[0]
    if load >= 0.5:
        print(f"warning: the machine is busy (1-minute load average {load:.2f}): timings "
              f"will be slower than on an idle machine", file=sys.stderr)
    batch = args.batch or cfg.batch_3d + cfg.batch_2d
    results: dict[str, Any] = {"load_average_at_start": [round(x, 2) for x in os.getloadavg()]}

    # (a) throughput
    step = TrainStep(cfg, batch)
    thr = time_steps(step, args.steps, args.warmup)
    results["throughput"] = thr
    net = cfg.network
    print(f"{net.image_size} px, {net.stacks} stack(s) of width {net.width}, batch {batch} "
          f"({thr['batch_3d_rows']} 3D + {thr['batch_2d_only_rows']} 2D-only), "
          f"{torch.get_num_threads()} thread(s): {thr['images_per_s']:.1f} images/s, "
          f"median step {thr['median_step_s']:.3f} s over {args.steps} steps", flush=True)

    # (c) FLOPs
    paper_cfg = replace(cfg, network=replace(
        cfg.network, image_size=args.paper_size, stacks=args.paper_stacks,
        width=args.paper_width, hourglass_depth=args.paper_depth))
    small = count_flops_meta(cfg.net_config())
    small["train_step_gflops_per_image_real_step"] = count_flops_real_step(step)
    paper = count_flops_meta(paper_cfg.net_config())
    for name, f in (("configured", small), ("paper-scale", paper)):
        print(f"FLOPs, {name} network: {f['forward_gflops_per_image']:.3f} GFLOP forward, "
              f"{f['train_step_gflops_per_image']:.3f} GFLOP per training image "
              f"({f['train_to_forward_ratio']:.2f}x); {f['parameters']:,} parameters",
              flush=True)
    del step

    # (b) memory
    if args.memory_batches:
        results["memory"] = run_memory_probes(args, args.memory_batches)
        m = results["memory"]
        print(f"memory: {m['mib_fixed_per_step']:.1f} MiB fixed per step + "
              f"{m['mib_per_image']:.2f} MiB per image (process before the steps: "
              f"{m['process_rss_before_steps_mib']:.0f} MiB)", flush=True)

    # (d) projection
    images = args.h36m_images + args.mpii_images
    gpu_flops = args.gpu_peak_tflops * 1e12 * args.gpu_utilization
    cpu_flops = small["train_step_gflops_per_image"] * 1e9 * thr["images_per_s"]
    nets = {}
    for key, c, f in (("configured", cfg, small), ("paper", paper_cfg, paper)):
        nets[key] = {
            "image_size": c.network.image_size, "stacks": c.network.stacks,
            "width": c.network.width, "hourglass_depth": c.network.hourglass_depth,
            "depth_blocks": c.network.depth_blocks,
            **f,
            "gpu_epoch_minutes": _epoch_minutes(images, f["train_step_gflops_per_image"],
                                                gpu_flops),
            "gpu_images_per_s": gpu_flops / (f["train_step_gflops_per_image"] * 1e9),
            # configured: the measured images/s; paper: this CPU's measured FLOP rate.
            "cpu_epoch_hours":
                _epoch_minutes(images, f["train_step_gflops_per_image"], cpu_flops) / 60,
            "cpu_epoch_basis": "measured images/s" if key == "configured" else
                               "the configured network's measured FLOP rate"}
    if args.paper_steps:
        pstep = TrainStep(paper_cfg, args.paper_batch)
        pt = time_steps(pstep, args.paper_steps, 1)
        del pstep
        nets["paper"]["cpu_measured"] = pt
        nets["paper"]["cpu_epoch_hours_at_its_measured_images_per_s"] = \
            images / pt["images_per_s"] / 3600
        print(f"paper-scale network on the CPU: {pt['images_per_s']:.2f} images/s "
              f"(batch {args.paper_batch}, {args.paper_steps} step(s))", flush=True)
    results["networks"] = nets
    results["cpu_achieved_gflops_per_s"] = cpu_flops / 1e9
    results["epoch"] = {
        "images": images, "h36m_images": args.h36m_images, "mpii_images": args.mpii_images,
        "h36m_source": "S1, S5, S6, S7, S8; 4 cameras; every 5th frame (10 fps); counted from "
                       "the 146 training sequences of ../shared/data/h36m (load_h36m stride 5)",
        "mpii_source": "Tompson et al. 2015 train split as in Newell et al.'s hourglass code "
                       "(25,925 person annotations)"}
    results["gpu_assumption"] = {
        "name": args.gpu_name, "peak_tflops": args.gpu_peak_tflops,
        "utilization": args.gpu_utilization, "effective_tflops": gpu_flops / 1e12,
        "note": "time = epoch images x counted training FLOPs per image / (peak x "
                "utilization); data loading and element-wise layers (BatchNorm, ReLU: "
                "not in the FLOP count) assumed to hide inside the utilization; the small "
                "network would be launch-bound on a GPU, so its figure is a lower bound"}
    for key, n in nets.items():
        print(f"projected epoch ({images:,} images) on {args.gpu_name} at "
              f"{args.gpu_utilization:.0%} of {args.gpu_peak_tflops:g} TFLOP/s, {key} network:"
              f" {n['gpu_epoch_minutes']:.3g} min; on this CPU {n['cpu_epoch_hours']:.3g} h "
              f"(at {n['cpu_epoch_basis']})", flush=True)

    params = {"config_file": str(Path(args.config).resolve()),
              "train_config": cfg.to_dict(),
              "batch": batch, "steps": args.steps, "warmup": args.warmup,
              "memory_batches": args.memory_batches, "memory_steps": args.memory_steps,
              "paper_steps": args.paper_steps, "paper_batch": args.paper_batch,
              "device": "cpu", "precision": "float32",
              "torch_num_threads": torch.get_num_threads(),
              "torch_num_interop_threads": torch.get_num_interop_threads(),
              "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
              "inputs": "random uint8 images; labels from a hand-made standing pose with "
                        "random limb swings and yaw, projected; stage-3 loss weights",
              "excluded": "data loading (drawing the batch from the rendered arrays)"}
    record = _common.make_record("zhou_image_speed", params, results, started)
    path = _common.write_record(record, args.out, tag=f"{cfg.network.image_size}px")
    print(f"load average at the end {record['machine']['load_average_1_5_15min']} on "
          f"{record['machine']['cpu_count']} CPUs; commit {record['commit']}")
    print(f"result written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
