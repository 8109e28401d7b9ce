"""The training engine every wildpose trainer runs on (lifter, Zhou, Ronchi, image network).

* the configs live in :mod:`wildpose.settings`: :class:`~wildpose.settings.RunConfig`, the base
  of every method's config, with its nested sections, typed parsing and checks.
* :func:`make_optimizer` and :func:`lr_at`: the one optimizer (AdamW) and schedule (linear
  warm-up, cosine decay from ``lr`` to ``lr_final``).
* :func:`open_run` and :func:`run_training`: the run folder (``config.json``, a resumable
  ``last.pt``, ``log.jsonl``, the exported ``model.safetensors``), Ctrl-C/SIGTERM
  checkpoints, and randomness derived from (seed, epoch, step), so that a resumed run
  continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from tqdm import tqdm

from .settings import OptimConfig, RunConfig
from .zoo import save_model

if TYPE_CHECKING:
    from .datasets.h36m import H36MData

# torch (and tqdm) are imported inside the functions that train, so that the CLI and the
# numpy inference path can build and check configs without paying torch's start-up time.

__all__ = ["report_skipped", "make_optimizer", "lr_at", "mean_joint_error", "open_run",
           "RunSpec", "EpochStats", "run_training"]


def report_skipped(data: H36MData) -> H36MData:
    """Print (to stderr) each absent or unreadable sequence the load left out, as
    ``wildpose evaluate`` does, so that a training run never drops data silently."""
    for note in data.skipped:
        print(f"skipped: {note}", file=sys.stderr)
    return data


def _optim(cfg: RunConfig | OptimConfig) -> OptimConfig:
    """The optimizer options of a config: its ``optim`` section, or ``cfg`` itself if it
    is an OptimConfig."""
    return cfg.optim if isinstance(cfg, RunConfig) else cfg


def make_optimizer(model: Any, cfg: RunConfig | OptimConfig, device: Any) -> Any:
    """AdamW over ``model``'s parameters with the config's ``lr`` and ``weight_decay``
    (``cfg.optim``), every trainer's optimizer.  Fused on CPUs and CUDA GPUs: the same
    update in one kernel rather than a pass over memory per operation, which matters for
    the small networks trained here, where the update is a sizeable part of a step."""
    import torch  # optional at start-up: `import wildpose` and the CLI's --help skip it

    opt = _optim(cfg)
    fused = getattr(device, "type", str(device)) in ("cpu", "cuda")
    return torch.optim.AdamW(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay,
                             fused=fused or None)


def lr_at(cfg: RunConfig | OptimConfig, step: int, total: int) -> float:
    """The learning rate of optimizer step ``step`` of ``total``: a linear warm-up over the
    first ``min(500, total / 20)`` steps to ``lr``, then a cosine decay to ``lr_final`` at
    the last step (the config's ``optim`` options)."""
    cfg = _optim(cfg)
    warm = min(500, total // 20 + 1)
    if step < warm:
        return cfg.lr * (step + 1) / warm
    t = (step - warm) / max(1, total - warm)
    return cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * t))


def mean_joint_error(model, kp, valid, target, device, batch=8192, predict=None) -> float:
    """Mean per-joint error (mm) of ``predict`` (default: ``model``) against ``target``;
    ``model`` is put in eval mode for it."""
    import torch  # optional at start-up: see make_optimizer

    predict = model if predict is None else predict
    model.eval()
    errs = []
    with torch.no_grad():
        for i in range(0, len(kp), batch):
            pred = predict(kp[i:i + batch].to(device), valid[i:i + batch].to(device))
            errs.append((pred - target[i:i + batch].to(device)).norm(dim=-1).mean(-1).cpu())
    model.train()
    return float(torch.cat(errs).mean())


# ------------------------------------------------------------------ the resumable loop
def open_run(cfg: Any, resume: bool, hint: str) -> tuple[Path, dict[str, Any]]:
    """Create ``cfg.out_dir`` and write its ``config.json`` (the config as a JSON dict).

    If the folder holds a resumable run (``last.pt``) and ``resume`` is true, its config must
    equal ``cfg``; else a ValueError names the differing fields and suggests ``hint``.
    """
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg_dict = cfg.to_dict()
    if resume and (out / "last.pt").is_file():
        # Read as the method reads configs: a run from before a field existed trained as
        # that field's default does, and one from before the sections has flat keys.
        try:
            saved = type(cfg).from_dict(json.loads((out / "config.json").read_text())
                                        ).to_dict()
        except (OSError, ValueError) as e:
            raise ValueError(f"{out} holds a run whose config.json cannot be read as a "
                             f"{cfg.METHOD} config ({e}); choose another {hint}") from None
        if saved != cfg_dict:
            a, b = _leaves(saved), _leaves(cfg_dict)
            diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            raise ValueError(f"{out} holds a run with another config (differs in "
                             f"{', '.join(diff)}); choose another {hint}")
    (out / "config.json").write_text(json.dumps(cfg_dict, indent=2))
    return out, cfg_dict


def _leaves(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict's values by dotted name (``network.width``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


@dataclass
class RunSpec:
    """A run folder (prepared by :func:`open_run`) and what its checkpoints and export hold.

    ``cfg`` needs ``seed``, ``epochs``, ``checkpoint_minutes`` and the optimizer options
    (:func:`lr_at`);
    ``model_info`` is the exported model's description (the checkpoint adds
    ``architecture`` and the model's ``config``).
    """

    out: Path
    cfg: Any
    architecture: str
    model_info: dict[str, Any]


class EpochStats:
    """The values a training step logged, over the steps of one epoch run in this call."""

    def __init__(self) -> None:
        self.steps = 0
        self._sums: dict[str, float] = {}
        self._ema: dict[str, float] = {}

    def add(self, values: dict[str, float]) -> None:
        self.steps += 1
        for k, v in values.items():
            self._sums[k] = self._sums.get(k, 0.0) + v
            r = self._ema.get(k, 0.0)
            self._ema[k] = 0.98 * r + 0.02 * v if r else v

    def mean(self, key: str) -> float:
        return self._sums.get(key, 0.0) / max(self.steps, 1)

    def ema(self, key: str) -> float:
        """Running average with decay 0.98 (0 before the first step)."""
        return self._ema.get(key, 0.0)


def run_training(run: RunSpec, model, optimizer, steps_per_epoch: int,
                 step_loss: Callable[[int, int, Any], tuple[Any, dict[str, Any]]],
                 validate: Callable[[], float | dict[str, float]],
                 summarize: Callable[[int, EpochStats], tuple[dict[str, Any], str]],
                 resume: bool = True, progress: bool = True, max_steps: int | None = None,
                 epoch_desc: Callable[[int], str] | None = None,
                 postfix: Callable[[EpochStats], dict[str, str]] | None = None,
                 is_main: bool = True) -> Path | None:
    """The resumable training loop shared by every trainer; returns the exported model.

    Args:
        run: the run folder, config and model description.
        steps_per_epoch: optimizer steps per epoch.
        step_loss: ``(epoch, step, generator) -> (loss, logged)``: draw the batch of
            (epoch, step), augment it with ``generator`` and return the loss to minimize and
            the scalar tensors to log (``loss`` may be among them).  The generator and torch's
            global RNG are seeded from (seed, epoch, step) and the learning rate is set
            before the call, so a resumed run repeats an uninterrupted one exactly.
        validate: the validation error in mm (called at each epoch's end), logged as
            ``val_mpjpe_mm``; or a dict of named validation figures (mm), logged as they are.
        summarize: ``(epoch index, stats) -> (log fields, text)``: the fields of the epoch's
            ``log.jsonl`` entry between "minutes" and "val_mpjpe_mm", and the start of its
            printed summary.
        epoch_desc: suffix of an epoch's progress-bar label; postfix: the bar's postfix.
        is_main: False on the non-zero ranks of a distributed run: they train, resume from
            ``last.pt`` and run ``summarize`` (which may average across ranks) like rank 0,
            but write nothing (no checkpoint, log, printout or model file), skip
            ``validate`` and return None.

    ``last.pt`` is resumed from if ``resume`` (else ``log.jsonl`` is cleared), written every
    ``cfg.checkpoint_minutes``, at each epoch's end, after ``max_steps`` steps in this call
    (returning None) and on Ctrl-C/SIGTERM (then KeyboardInterrupt is raised).  At the end
    the model is exported to ``model.safetensors`` with its validation curve.
    """
    import torch  # torch is imported in the functions that train: see make_optimizer

    cfg, out, model_info = run.cfg, run.out, run.model_info
    ckpt_path = out / "last.pt"
    total = steps_per_epoch * cfg.epochs
    epoch, step, minutes_before, log = 0, 0, 0.0, []
    if resume and ckpt_path.is_file():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        epoch, step, minutes_before, log = ck["epoch"], ck["step"], ck["minutes"], ck["log"]
        if is_main:
            print(f"resumed from {ckpt_path}: epoch {epoch + 1}, step {step}", flush=True)
    elif is_main:
        (out / "log.jsonl").write_text("")  # a fresh run: no stale epochs in the log

    stop = {"now": False}

    def _on_signal(signum, frame):  # finish the current step, then checkpoint and exit
        stop["now"] = True

    old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    t_start = time.time()

    def minutes() -> float:
        return minutes_before + (time.time() - t_start) / 60

    def save_checkpoint():
        if not is_main:  # rank 0 holds the same weights and writes them
            return
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": epoch, "step": step, "minutes": minutes(), "log": log,
                    "model_info": {**model_info, "architecture": run.architecture,
                                   "config": model.config.to_dict()}}, tmp)
        tmp.replace(ckpt_path)

    model.train()
    last_save = time.time()
    steps_this_call = 0
    try:
        while epoch < cfg.epochs:
            bar = tqdm(total=steps_per_epoch, initial=step, disable=not progress,
                       desc=f"epoch {epoch + 1}/{cfg.epochs}"
                            f"{epoch_desc(epoch) if epoch_desc else ''}",
                       unit="step", mininterval=2)
            stats = EpochStats()
            while step < steps_per_epoch:
                # Every random draw of a step (augmentation, dropout) follows from
                # (seed, epoch, step), so a resumed run repeats the uninterrupted one exactly.
                step_seed = hash((cfg.seed, epoch, step)) & 0x7FFFFFFF
                gen = torch.Generator().manual_seed(step_seed)
                torch.manual_seed(step_seed)
                for g in optimizer.param_groups:
                    g["lr"] = lr_at(cfg, epoch * steps_per_epoch + step, total)
                loss, logged = step_loss(epoch, step, gen)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                steps_this_call += 1
                stats.add({k: v.item() for k, v in logged.items()})
                bar.update(1)
                if step % 50 == 0 and postfix is not None:
                    bar.set_postfix(**postfix(stats))
                if max_steps is not None and steps_this_call >= max_steps:
                    save_checkpoint()
                    bar.close()
                    return None
                if stop["now"]:
                    save_checkpoint()
                    bar.close()
                    if is_main:
                        print(f"interrupted: checkpoint saved to {ckpt_path}; run the "
                              f"same command again to resume", flush=True)
                    raise KeyboardInterrupt
                if time.time() - last_save > cfg.checkpoint_minutes * 60:
                    save_checkpoint()
                    last_save = time.time()
            bar.close()
            val = validate() if is_main else float("nan")
            if not isinstance(val, dict):
                val = {"val_mpjpe_mm": val}
            val = {k: round(float(v), 2) for k, v in val.items()}
            fields_, text = summarize(epoch, stats)
            epoch, step = epoch + 1, 0
            log.append({"epoch": epoch, "minutes": round(minutes(), 2), **fields_, **val})
            if is_main:
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(log[-1]) + "\n")
                shown = ", ".join(f"{k.removeprefix('val_').removesuffix('_mm').upper()} "
                                  f"{v:.1f} mm" for k, v in val.items())
                print(f"epoch {epoch}: {text}, validation {shown}, {minutes():.1f} min",
                      flush=True)
            save_checkpoint()
            last_save = time.time()
    finally:
        for s, h in old_handlers.items():
            signal.signal(s, h)
    if not is_main:
        return None
    model_info.update({"validation_curve": log, "train_minutes": round(minutes(), 1)})
    path = save_model(out / "model.safetensors", model.cpu(), model_info)
    print(f"model written to {path}", flush=True)
    return path

