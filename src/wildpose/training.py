"""Supervised training of the 2D-to-3D lifter on Human3.6M.

``train(TrainConfig(...))`` is what ``wildpose train`` runs.  A run folder holds
``config.json``, ``last.pt`` (a resumable checkpoint: model, optimizer, epoch and step),
``log.jsonl`` (validation error against minutes) and, at the end, ``model.safetensors``.
Randomness is derived from (seed, epoch, step), so a resumed run continues exactly as an
uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .datasets.h36m import TRAIN_SUBJECTS, H36MData, load_h36m
from .normalization import normalize_2d
from .skeleton import H36M17, convert_layout
from .zoo import save_model

# torch is imported inside the functions that train, so that the CLI and the numpy
# inference path can read TrainConfig without paying torch's start-up time.

__all__ = ["TrainConfig", "train", "prepare_inputs", "split_validation"]


@dataclass
class TrainConfig:
    """Everything a training run depends on (saved as the run's ``config.json``)."""

    data_dir: str = "../shared/data/h36m"
    out_dir: str = "runs/lifter"
    inputs: str = "gt"                    # "gt": projected ground truth; "sh": SH detections
    subjects: tuple[int, ...] = TRAIN_SUBJECTS
    stride: int = 1                       # keep every stride-th frame
    val_fraction: float = 0.04            # fraction of training sequences held out
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    lr_final: float = 1e-5
    weight_decay: float = 0.0
    width: int = 1024
    blocks: int = 2
    dropout: float = 0.25
    flip_prob: float = 0.5
    noise_max: float = 0.0
    drop_prob: float = 0.0
    drop_limb_prob: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"               # "auto": bf16 autocast on CPU/GPU when supported
    checkpoint_minutes: float = 2.0
    val_stride: int = 5
    name: str = ""                        # recorded in the exported model's description

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
        d = dict(d)
        if "subjects" in d:
            d["subjects"] = tuple(int(s) for s in d["subjects"])
        return cls(**d)

    @classmethod
    def from_file(cls, path: str | Path) -> "TrainConfig":
        try:
            return cls.from_dict(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"training config {path}: {e}") from None


def prepare_inputs(keypoints: np.ndarray, layout: str, valid: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Any-layout pixels -> normalized H36M17 keypoints and validity, as every lifter eats them.

    Args:
        keypoints: (N, J, 2) pixels in ``layout``; NaN marks a missing joint.
        valid: optional (N, J) bool.
    Returns:
        (N, 17, 2) float32 normalized keypoints and (N, 17) bool validity.
    """
    kp, ok = convert_layout(np.asarray(keypoints, np.float32), layout, H36M17, valid)
    norm, _, _ = normalize_2d(kp, ok, root=H36M17.root)
    return norm.astype(np.float32), ok


def split_validation(data: H36MData, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole sequences (all cameras) of the training subjects for validation.

    Returns:
        boolean row masks (train, val).  Whole sequences, so no validation frame has a
        near-identical neighbour in training.
    """
    keys = np.char.add(data.subject.astype(str), np.char.add("/", data.action))
    uniq = np.unique(keys)
    rng = np.random.default_rng(seed)
    n_val = int(round(fraction * len(uniq)))
    val_keys = set(rng.choice(uniq, size=n_val, replace=False)) if n_val else set()
    val = np.isin(keys, list(val_keys))
    return ~val, val


def _lr_at(cfg: TrainConfig, step: int, total: int) -> float:
    warm = min(500, total // 20 + 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * t))


def _validate(model, kp, valid, target, device, batch=8192) -> float:
    import torch

    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(kp), batch):
            pred = model(kp[i:i + batch].to(device), valid[i:i + batch].to(device))
            errs.append((pred - target[i:i + batch].to(device)).norm(dim=-1).mean(-1).cpu())
    model.train()
    return float(torch.cat(errs).mean())


def train(cfg: TrainConfig, resume: bool = True, progress: bool = True,
          max_steps: int | None = None) -> Path | None:
    """Train a lifter; returns the path of the exported ``model.safetensors``.

    If ``out_dir/last.pt`` exists and ``resume`` is true, training continues from it (the
    config must match).  Ctrl-C or SIGTERM saves a checkpoint before stopping.  ``max_steps``
    stops (with a checkpoint, returning None) after that many steps in this call, as an
    interruption would.
    """
    import torch
    from tqdm import tqdm

    from .augment import AugmentConfig, augment_batch
    from .device import autocast_dtype, resolve_device
    from .models.lifter import LifterConfig, ResidualMLPLifter

    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "last.pt"
    cfg_json = json.dumps(asdict(cfg), indent=2)
    if resume and ckpt_path.is_file():
        saved = json.loads((out / "config.json").read_text())
        if saved != json.loads(cfg_json):
            diff = sorted(k for k in saved if saved[k] != json.loads(cfg_json).get(k))
            raise ValueError(f"{out} holds a run with another config (differs in "
                             f"{', '.join(diff)}); choose another --out-dir or --no-resume")
    (out / "config.json").write_text(cfg_json)

    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)

    t0 = time.time()
    data = load_h36m(cfg.data_dir, subjects=cfg.subjects, stride=cfg.stride,
                     load_sh=cfg.inputs == "sh")
    kp2d, layout = data.inputs(cfg.inputs)
    have = np.isfinite(kp2d).all((1, 2))  # rows whose detections exist
    train_rows, val_rows = split_validation(data, cfg.val_fraction, cfg.seed)
    train_rows &= have
    val_rows &= have
    val_rows &= (data.frame % cfg.val_stride) == 0
    norm, valid = prepare_inputs(kp2d, layout)
    pose = data.pose_3d - data.pose_3d[:, :1]
    X, V, Y = (torch.from_numpy(norm[train_rows]), torch.from_numpy(valid[train_rows]),
               torch.from_numpy(pose[train_rows]))
    Xv, Vv, Yv = (torch.from_numpy(norm[val_rows]), torch.from_numpy(valid[val_rows]),
                  torch.from_numpy(pose[val_rows]))
    del data, norm, valid, pose, kp2d
    print(f"loaded {len(X)} training and {len(Xv)} validation samples "
          f"({cfg.inputs} inputs) in {time.time() - t0:.1f}s; device {device}, "
          f"precision {amp or 'fp32'}", flush=True)

    model = ResidualMLPLifter(LifterConfig(width=cfg.width, blocks=cfg.blocks,
                                           dropout=cfg.dropout)).to(device)
    model.set_output_stats(Y)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    aug = AugmentConfig(cfg.flip_prob, cfg.noise_max, cfg.drop_prob, cfg.drop_limb_prob)
    steps_per_epoch = len(X) // cfg.batch_size
    total = steps_per_epoch * cfg.epochs
    epoch, step, minutes_before, log = 0, 0, 0.0, []
    model_info = {"name": cfg.name, "inputs": cfg.inputs, "input_layout": "h36m17",
                  "train_subjects": list(cfg.subjects), "train_config": asdict(cfg)}
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        epoch, step, minutes_before, log = ck["epoch"], ck["step"], ck["minutes"], ck["log"]
        print(f"resumed from {ckpt_path}: epoch {epoch + 1}, step {step}", flush=True)

    stop = {"now": False}

    def _on_signal(signum, frame):  # finish the current step, then checkpoint and exit
        stop["now"] = True

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.time()

    def minutes() -> float:
        return minutes_before + (time.time() - t_start) / 60

    def save_checkpoint():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "epoch": epoch, "step": step, "minutes": minutes(), "log": log,
                    "model_info": {**model_info, "architecture": "residual_mlp",
                                   "config": model.config.to_dict()}}, tmp)
        tmp.replace(ckpt_path)

    model.train()
    last_save = time.time()
    steps_this_call = 0
    try:
        while epoch < cfg.epochs:
            perm = torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(X)))
            bar = tqdm(total=steps_per_epoch, initial=step, disable=not progress,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="step", mininterval=2)
            running = 0.0
            while step < steps_per_epoch:
                idx = perm[step * cfg.batch_size:(step + 1) * cfg.batch_size]
                # Every random draw of a step (augmentation, dropout) follows from
                # (seed, epoch, step), so a resumed run repeats the uninterrupted one exactly.
                step_seed = hash((cfg.seed, epoch, step)) & 0x7FFFFFFF
                gen = torch.Generator().manual_seed(step_seed)
                torch.manual_seed(step_seed)
                kp, vb, yb = augment_batch(X[idx], V[idx], Y[idx], aug, gen)
                kp, vb, yb = kp.to(device), vb.to(device), yb.to(device)
                for g in opt.param_groups:
                    g["lr"] = _lr_at(cfg, epoch * steps_per_epoch + step, total)
                with torch.autocast(device.type, dtype=amp or torch.float32,
                                    enabled=amp is not None):
                    pred = model(kp, vb)
                loss = (pred.float() - yb).norm(dim=-1).mean()  # MPJPE in mm
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                step += 1
                steps_this_call += 1
                running = 0.98 * running + 0.02 * loss.item() if running else loss.item()
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(mpjpe_mm=f"{running:.1f}")
                if max_steps is not None and steps_this_call >= max_steps:
                    save_checkpoint()
                    bar.close()
                    return None
                if stop["now"]:
                    save_checkpoint()
                    bar.close()
                    print(f"interrupted: checkpoint saved to {ckpt_path}; run the same "
                          f"command again to resume", flush=True)
                    raise KeyboardInterrupt
                if time.time() - last_save > cfg.checkpoint_minutes * 60:
                    save_checkpoint()
                    last_save = time.time()
            bar.close()
            val = _validate(model, Xv, Vv, Yv, device) if len(Xv) else float("nan")
            epoch, step = epoch + 1, 0
            log.append({"epoch": epoch, "minutes": round(minutes(), 2),
                        "train_mpjpe_mm": round(running, 2), "val_mpjpe_mm": round(val, 2)})
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(log[-1]) + "\n")
            print(f"epoch {epoch}: train {running:.1f} mm, validation MPJPE {val:.1f} mm, "
                  f"{minutes():.1f} min", flush=True)
            save_checkpoint()
            last_save = time.time()
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
    model_info.update({"validation_curve": log, "train_minutes": round(minutes(), 1)})
    path = save_model(out / "model.safetensors", model.cpu(), model_info)
    print(f"model written to {path}", flush=True)
    return path
