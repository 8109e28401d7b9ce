"""Supervised training of the 2D-to-3D lifter on Human3.6M.

``train(TrainConfig(...))`` is what ``wildpose train`` runs, on the shared engine
(:mod:`wildpose.engine`: the run folder, resume, signals, checkpoints and logs).  This module
also holds what every keypoint trainer prepares its data with: :func:`prepare_inputs` and
:func:`split_validation`.
"""

from __future__ import annotations

import functools
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np

from .camera import camera_to_pixels
from .datasets.h36m import TRAIN_SUBJECTS, H36MData, default_data_dir, h36m_intrinsics, load_h36m
from .engine import (EpochStats, RunSpec, make_optimizer, mean_joint_error, open_run,
                     report_skipped, run_training)
from .settings import AugmentConfig, NetworkConfig, RunConfig, require
from .normalization import normalize_2d
from .skeleton import H36M17, convert_layout
from .temporal import window_indices

# torch is imported inside the functions that train, so that the CLI and the numpy
# inference path can read TrainConfig without paying torch's start-up time.

__all__ = ["TrainConfig", "LifterAugmentConfig", "train", "prepare_inputs",
           "split_validation"]


@dataclass
class LifterAugmentConfig(AugmentConfig):
    """The lifter's augmentation: :class:`~wildpose.settings.AugmentConfig`'s mirror, noise
    and dropped joints, and:

    * ``error_transplant`` (inputs "sh" only): with this probability a training sample's
      input becomes its ground-truth 2D plus the detection error (detections minus ground
      truth, normalized units) of another random training sample, so that detector errors
      are seen on other people and poses than the ones they were made on.
    * ``bone_scale``: a sample whose input is made from ground truth (every sample with
      inputs "gt"; a transplanted one with "sh") first gets new bone lengths, each bone (and
      its mirror image) scaled by a random factor in [1 - b, 1 + b]; its 2D is the new body
      seen through the sample's own camera.  0 = off.
    * ``speed_steps`` (video lifters): each training window is read at one of these steps
      (frames of the 50 fps video, multiples of stride), drawn uniformly, as if the motion
      were slower or faster; validation and the exported model read at window_step.  It
      matches the test-time reading of wildpose.Lifter(window_steps=...).  () = off.
    """

    error_transplant: float = 0.0
    bone_scale: float = 0.0
    speed_steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.speed_steps = tuple(int(st) for st in self.speed_steps)
        require(self, error_transplant=(0 <= self.error_transplant <= 1, "in [0, 1]"),
                bone_scale=(0 <= self.bone_scale < 1, "in [0, 1)"),
                speed_steps=(all(st >= 1 for st in self.speed_steps), "steps >= 1"))


@dataclass
class TrainConfig(RunConfig):
    """Everything a training run depends on (saved as the run's ``config.json``).

    Sections: ``optim`` (:class:`~wildpose.settings.OptimConfig`), ``network``
    (:class:`~wildpose.settings.NetworkConfig`) and ``augment``
    (:class:`LifterAugmentConfig`).
    """

    # The Human3.6M folder: $WILDPOSE_DATA/h36m if that is set, else ../shared/data/h36m.
    data_dir: str = field(default_factory=lambda: str(default_data_dir()))
    out_dir: str = "runs/lifter"
    inputs: str = "gt"                    # "gt": projected ground truth; "sh": SH detections
    subjects: tuple[int, ...] = TRAIN_SUBJECTS
    stride: int = 1                       # keep every stride-th frame
    val_fraction: float = 0.04            # fraction of training sequences held out
    # Seed of that hold-out (None: `seed`).  Ensemble members trained with different seeds
    # set one val_seed, so that all of them hold out the same sequences.
    val_seed: int | None = None
    # Training subjects held out whole: every frame of theirs is a validation frame and none
    # is trained on (besides val_fraction of the other subjects' sequences).  An unseen
    # person is the stricter check: held-out sequences of the training people have ranked
    # candidate models unlike unseen subjects did (BENCHMARKS.md, issue 3).
    val_subjects: tuple[int, ...] = ()
    epochs: int = 20
    batch_size: int = 256
    network: NetworkConfig = field(default_factory=NetworkConfig)
    augment: LifterAugmentConfig = field(default_factory=LifterAugmentConfig)
    # Video lifter: the network reads `window` frames, `window_step` frames of the 50 fps
    # video apart (a multiple of `stride`), around the frame it lifts (LifterConfig.window).
    # 1 = a single-image lifter.
    window: int = 1
    window_step: int = 1
    val_stride: int = 5
    name: str = ""                        # recorded in the exported model's description

    RETIRED: ClassVar[dict[str, Any]] = {"smooth_2d": 0.0, "window_norm": "frame",
                                         "turn_deg": 0.0, "reverse_prob": 0.0,
                                         "window_targets": 0.0}

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, subjects=(len(self.subjects) > 0, "at least one subject"),
                stride=(self.stride >= 1, ">= 1"), batch_size=(self.batch_size >= 1, ">= 1"),
                epochs=(self.epochs >= 1, ">= 1"),
                val_fraction=(0 <= self.val_fraction < 1, "in [0, 1)"),
                val_stride=(self.val_stride >= 1, ">= 1"),
                window=(self.window >= 1 and self.window % 2 == 1, "odd and >= 1"),
                window_step=(self.window_step >= 1, ">= 1"))
        if self.inputs not in ("gt", "sh"):
            raise ValueError(f"training option inputs must be 'gt' or 'sh', got {self.inputs!r}")
        aug = self.augment
        if aug.error_transplant > 0 and self.inputs != "sh":
            raise ValueError("error_transplant needs inputs 'sh' (detections to take errors "
                             "from)")
        if aug.bone_scale > 0 and self.inputs == "sh" and not aug.error_transplant > 0:
            raise ValueError("bone_scale with inputs 'sh' needs error_transplant > 0: only a "
                             "transplanted sample's input is made from its new body")
        _window_rows(self)
        _speed_rows(self)
        _check_val_subjects(self.subjects, self.val_subjects)


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


def split_validation(data: H36MData, fraction: float, seed: int,
                     subjects: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Hold out whole sequences (all cameras) of the training subjects for validation.

    Args:
        data: the loaded training subjects.
        fraction: share of the sequences of the subjects not in ``subjects`` to hold out,
            drawn with ``seed``.
        subjects: subjects held out whole (every row of theirs is a validation row).
    Returns:
        boolean row masks (train, val).  Whole sequences, so no validation frame has a
        near-identical neighbour in training.
    """
    whole = np.isin(data.subject, np.asarray(subjects, dtype=data.subject.dtype))
    keys = np.char.add(data.subject.astype(str), np.char.add("/", data.action))
    uniq = np.unique(keys[~whole])
    rng = np.random.default_rng(seed)
    n_val = int(round(fraction * len(uniq)))
    val_keys = set(rng.choice(uniq, size=n_val, replace=False)) if n_val else set()
    val = np.isin(keys, list(val_keys)) | whole
    return ~val, val


def _check_val_subjects(subjects: Sequence[int], val_subjects: Sequence[int]) -> None:
    """One-line ValueError unless ``val_subjects`` are among ``subjects`` and leave at least
    one subject to train on."""
    outside = sorted(set(val_subjects) - set(subjects))
    if outside:
        raise ValueError(f"val_subjects {outside} are not among the training subjects "
                         f"{sorted(subjects)}: a validation subject must be loaded to be "
                         f"held out")
    if set(subjects) <= set(val_subjects):
        raise ValueError(f"val_subjects {sorted(val_subjects)} hold out every training "
                         f"subject; leave at least one to train on")



def _speed_rows(cfg: TrainConfig) -> tuple[int, ...]:
    """Rows of the loaded data between a window's frames at each of
    ``cfg.augment.speed_steps`` (checked as :func:`_window_rows` checks ``window_step``); ()
    without speed steps."""
    speed_steps = cfg.augment.speed_steps
    if not speed_steps:
        return ()
    if cfg.window == 1:
        raise ValueError("speed_steps needs a video lifter (window > 1): a single frame "
                         "has no speed to change")
    bad = [st for st in speed_steps if st % cfg.stride]
    if bad:
        raise ValueError(f"speed_steps {bad} (frames) must be multiples of stride "
                         f"({cfg.stride}), so that the loaded rows hold the windows")
    return tuple(st // cfg.stride for st in speed_steps)


def _window_rows(cfg: TrainConfig) -> int:
    """Rows of the loaded data between a window's frames.

    ``window_step`` counts frames of the source video (50 fps), as the exported model states
    and as inference reads it; data loaded at ``stride`` holds every stride-th frame, so the
    step in rows is ``window_step / stride``.  (Counting rows instead trained a model at
    stride 2 on windows twice as wide as the ones it was later given.)
    """
    if cfg.window == 1:
        return 1
    if cfg.window_step % cfg.stride:
        raise ValueError(f"window_step ({cfg.window_step} frames) must be a multiple of "
                         f"stride ({cfg.stride}), so that the loaded rows hold the window")
    return cfg.window_step // cfg.stride


# ----------------------------------------------------------------------------- training
def train(cfg: TrainConfig, resume: bool = True, progress: bool = True,
          max_steps: int | None = None) -> Path | None:
    """Train a lifter; returns the path of the exported ``model.safetensors``.

    If ``out_dir/last.pt`` exists and ``resume`` is true, training continues from it (the
    config must match).  Ctrl-C or SIGTERM saves a checkpoint before stopping.  ``max_steps``
    stops (with a checkpoint, returning None) after that many steps in this call, as an
    interruption would.
    """
    # torch and the modules built on it load when training starts (see the module top).
    import torch

    from .augment import augment_batch, random_bone_factors, rescale_bones, transplant_errors
    from .device import autocast_dtype, resolve_device
    from .models.lifter import LifterConfig, ResidualMLPLifter

    step_rows, speed_rows = _window_rows(cfg), _speed_rows(cfg)
    net_config = LifterConfig(**asdict(cfg.network), window=cfg.window,
                              window_step=cfg.window_step)
    aug = cfg.augment
    new_body = aug.bone_scale > 0
    out, _ = open_run(cfg, resume, hint="--out-dir or --no-resume")
    device = resolve_device(cfg.device)
    amp = autocast_dtype(cfg.precision, device)
    torch.manual_seed(cfg.seed)

    t0 = time.time()
    data = report_skipped(load_h36m(cfg.data_dir, subjects=cfg.subjects, stride=cfg.stride,
                                    load_sh=cfg.inputs == "sh"))
    kp2d, layout = data.inputs(cfg.inputs)
    have = np.isfinite(kp2d).all((1, 2))  # rows whose detections exist
    train_rows, val_rows = split_validation(
        data, cfg.val_fraction, cfg.seed if cfg.val_seed is None else cfg.val_seed,
        cfg.val_subjects)
    train_rows &= have
    val_rows &= have
    val_rows &= (data.frame % cfg.val_stride) == 0
    norm, valid = prepare_inputs(kp2d, layout)
    if aug.error_transplant > 0:
        gt_norm, gt_valid = prepare_inputs(data.pose_2d, "h36m17")
        Xg, Vg = torch.from_numpy(gt_norm), torch.from_numpy(gt_valid)
    pose = data.pose_3d - data.pose_3d[:, :1]
    if new_body:  # new bodies are projected with each row's own camera
        # float32 tensors: new bodies are made on every step, where float64 numpy had been
        # the largest cost outside the network; float32 keeps the projected pixels within
        # 0.01 px of the dataset's (tests/test_video_lifter.py).
        def f32(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.asarray(a, np.float32))

        body_3d = f32(data.pose_3d)
        lens = {key: f32(v) for key, v in h36m_intrinsics(data).items()}
    # Row indices of each sample's frames: (N, 1) for a single-image lifter, else the window
    # around it within its own sequence.
    window = window_indices(data.sequence, data.frame, cfg.window, step_rows)
    X, V = torch.from_numpy(norm), torch.from_numpy(valid)  # all rows: windows reach out
    rows_t, rows_v = np.flatnonzero(train_rows), np.flatnonzero(val_rows)
    W, Y = torch.from_numpy(window[rows_t]), torch.from_numpy(pose[rows_t])
    Wv, Yv = torch.from_numpy(window[rows_v]), torch.from_numpy(pose[rows_v])
    # (N, S, window): each training sample's window at each speed step (speed_steps)
    Ws = torch.from_numpy(np.stack([window_indices(data.sequence, data.frame, cfg.window,
                                                   rows)[rows_t] for rows in speed_rows], 1)
                          ) if speed_rows else None
    del data, norm, valid, pose, kp2d, window

    def gather(win: torch.Tensor, src=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, W) row indices -> keypoints (B, J, 2) and validity, or (B, W, J, ...)."""
        kp, ok = (X, V) if src is None else src
        kp, ok = kp[win], ok[win]
        if cfg.window == 1:
            return kp[:, 0], ok[:, 0]
        return kp, ok

    def new_bodies(win: torch.Tensor, gen):
        """The samples' bodies with random bone lengths (TrainConfig.bone_scale): their
        normalized 2D and validity as :func:`gather` gives them, and the (B, J, 3) mm
        root-relative 3D of the frame each lifts."""
        body = rescale_bones(body_3d[win],                              # (B, W, J, 3)
                             random_bone_factors(len(win), aug.bone_scale, gen)[:, None])
        px = camera_to_pixels(body, *(lens[a][win] for a in ("f", "c", "k", "p")))
        ok = torch.ones(px.shape[:-1], dtype=torch.bool)
        if cfg.window == 1:
            px, ok = px[:, 0], ok[:, 0]
        mid = body[:, cfg.window // 2]
        return (normalize_2d(px, ok, root=H36M17.root)[0], ok), mid - mid[:, :1]

    def transplant(win: torch.Tensor, kp, ok, target, gen):
        """Swap some samples' inputs for their ground truth (a new body, if bone_scale) plus
        another sample's error; returns inputs, validity and targets."""
        hit = torch.rand(len(win), generator=gen) < aug.error_transplant
        donor = W[torch.randint(len(W), (len(win),), generator=gen)]
        if new_body:
            # Only the transplanted samples' truth is read, and they get new bodies.
            rows = torch.nonzero(hit)[:, 0]
            (new_kp, new_ok), new_target = new_bodies(win[rows], gen)
            truth = (torch.zeros_like(kp).index_copy(0, rows, new_kp),
                     torch.zeros_like(ok).index_copy(0, rows, new_ok))
            target = target.index_copy(0, rows, new_target)
        else:
            truth = gather(win, (Xg, Vg))
        kp, ok = transplant_errors(kp, ok, truth, gather(donor), gather(donor, (Xg, Vg)), hit)
        return kp, ok, target

    Xv, Vv = gather(Wv)
    print(f"loaded {len(W)} training and {len(Xv)} validation samples "
          f"({cfg.inputs} inputs) in {time.time() - t0:.1f}s; device {device}, "
          f"precision {amp or 'fp32'}", flush=True)

    model = ResidualMLPLifter(net_config).to(device)
    model.set_output_stats(Y)
    opt = make_optimizer(model, cfg, device)
    model_info = {"name": cfg.name, "inputs": cfg.inputs, "input_layout": "h36m17",
                  "train_subjects": [s for s in cfg.subjects if s not in cfg.val_subjects],
                  "train_config": cfg.to_dict()}

    @functools.lru_cache(maxsize=1)
    def permutation(epoch: int):
        return torch.from_numpy(np.random.default_rng([cfg.seed, epoch]).permutation(len(W)))

    def step_loss(epoch: int, step: int, gen):
        idx = permutation(epoch)[step * cfg.batch_size:(step + 1) * cfg.batch_size]
        if Ws is None:
            win = W[idx]
        else:  # each window read at a random one of the speed steps
            win = Ws[idx, torch.randint(Ws.shape[1], (len(idx),), generator=gen)]
        kp, vb = gather(win)
        yb = Y[idx]
        if aug.error_transplant > 0:
            kp, vb, yb = transplant(win, kp, vb, yb, gen)
        elif new_body:  # ground-truth inputs: every sample gets a new body
            (kp, vb), yb = new_bodies(win, gen)
        kp, vb, yb = augment_batch(kp, vb, yb, aug, gen)
        kp, vb, yb = kp.to(device), vb.to(device), yb.to(device)
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            pred = model(kp, vb)
        loss = (pred.float() - yb).norm(dim=-1).mean()  # MPJPE in mm
        return loss, {"mpjpe_mm": loss}

    def summarize(epoch: int, stats: EpochStats):
        running = stats.ema("mpjpe_mm")
        return {"train_mpjpe_mm": round(running, 2)}, f"train {running:.1f} mm"

    return run_training(
        RunSpec(out, cfg, "residual_mlp", model_info), model, opt,
        steps_per_epoch=len(W) // cfg.batch_size, step_loss=step_loss,
        validate=lambda: mean_joint_error(model, Xv, Vv, Yv, device) if len(Xv) else float("nan"),
        summarize=summarize, resume=resume, progress=progress, max_steps=max_steps,
        postfix=lambda stats: {"mpjpe_mm": f"{stats.ema('mpjpe_mm'):.1f}"})
