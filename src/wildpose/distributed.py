"""Data-parallel training across processes (``torchrun``), and mixed precision on GPUs.

Launch a training script with ``torchrun --nproc_per_node N script.py`` (one process per GPU,
or several CPU processes); torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``.  In the script::

    env = init_distributed()                     # process group: nccl on CUDA, gloo on CPU
    model = wrap_model(model.to(env.device), env)  # DistributedDataParallel if world > 1
    for epoch in ...:
        idx = shard_indices(n, epoch, seed, env)   # this rank's share of a global shuffle
        ...
        logged = average_metrics({"loss": loss}, env)      # the same numbers on every rank
        if env.is_main: write the checkpoint / log, from the unwrapped model
    cleanup()

Without torchrun (no ``WORLD_SIZE`` or ``WORLD_SIZE=1``) every function is a no-op: one
process, the whole data, the model unwrapped.

DDP averages gradients over ranks, so a step on N shards of b samples equals a single-process
step on the union batch of N b samples with a mean loss (``tests/test_distributed.py`` checks
this).  BatchNorm statistics stay per rank.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Iterator, Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from .device import autocast_dtype, resolve_device

__all__ = ["DistEnv", "init_distributed", "cleanup", "wrap_model", "shard_indices",
           "average_metrics", "barrier", "gpu_autocast", "exit_distributed"]


@dataclass(frozen=True)
class DistEnv:
    """Where this process sits in the job.

    Attributes:
        rank: global rank, 0 .. world_size - 1.
        world_size: number of processes (1 without torchrun).
        local_rank: rank on this machine (selects the GPU).
        device: this process's device.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes checkpoints and logs."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def init_distributed(device: str | torch.device = "auto") -> DistEnv:
    """Join the process group that torchrun set up, or describe a single process.

    Args:
        device: "auto" picks GPU ``LOCAL_RANK`` when CUDA is available, else the CPU; an
            explicit ``"cpu"`` forces gloo even on a GPU machine.
    Returns:
        this process's :class:`DistEnv`.  Calling it again returns the same description.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", local)
    if world <= 1:
        return DistEnv(0, 1, 0, dev)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo", init_method="env://",
                                rank=rank, world_size=world)
    return DistEnv(rank, world, local, dev)


def cleanup() -> None:
    """Leave the process group (no-op when there is none)."""
    if dist.is_available() and dist.is_initialized():
        # Every rank reaches this point before any tears its connections down: a rank that
        # left early made gloo abort the other one at exit ("terminate called without an
        # active exception") now and then.
        dist.barrier()
        dist.destroy_process_group()


def exit_distributed(code: int = 0) -> None:
    """End a process that joined a process group: leave it, flush, and exit at once.

    With gloo on CPU (torch 2.13) a process that has left its group cleanly still aborts
    now and then while the interpreter finalizes ("terminate called without an active
    exception", SIGABRT), which makes torchrun report a failed run after all work was
    written.  ``os._exit`` skips that finalization.  Outside a process group it returns
    and the caller exits normally.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return
    cleanup()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def wrap_model(model: torch.nn.Module, env: DistEnv) -> torch.nn.Module:
    """The model (already on ``env.device``) wrapped in DistributedDataParallel when
    distributed; ``model`` itself on a single process."""
    if not env.distributed:
        return model
    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard_indices(n: int, epoch: int, seed: int, env: DistEnv | None = None) -> np.ndarray:
    """This rank's sample indices for one epoch.

    Every rank draws the same permutation of ``range(n)`` from (seed, epoch) and takes every
    ``world_size``-th entry from position ``rank``, so the shards are disjoint, cover the
    data, and are reproducible for any number of processes.  Ranks must run equally many
    steps (DDP would wait forever otherwise), so shards have equal length: the permutation
    is padded by wrapping around (a few samples seen twice per epoch).

    Returns:
        (ceil(n / world),) int64 indices.
    """
    env = env or DistEnv()
    idx = np.random.default_rng([seed, epoch]).permutation(n)
    world = env.world_size
    if n % world:
        idx = np.concatenate([idx, np.resize(idx, world - n % world)])
    return idx[env.rank::world].astype(np.int64)


def average_metrics(metrics: Mapping[str, float | torch.Tensor], env: DistEnv | None = None
                    ) -> dict[str, float]:
    """Average scalar metrics over ranks (one all-reduce for all of them): {name: scalar} of
    this rank -> {name: mean over ranks} as floats, identical on every rank."""
    env = env or DistEnv()
    names = sorted(metrics)
    values = torch.tensor([float(metrics[k]) for k in names], dtype=torch.float64)
    if env.distributed:
        # nccl reduces only CUDA tensors; gloo takes CPU tensors.
        t = values.to(env.device)
        dist.all_reduce(t)
        values = t.cpu()
    return {k: values[i].item() / env.world_size for i, k in enumerate(names)}


def barrier(env: DistEnv | None = None) -> None:
    """Wait for every rank (no-op on a single process), e.g. before reading a file that
    rank 0 wrote."""
    if env is not None and env.distributed:
        if env.device.type == "cuda":
            dist.barrier(device_ids=[env.device.index])
        else:
            dist.barrier()


# ---------------------------------------------------------------------- mixed precision
@contextlib.contextmanager
def gpu_autocast(device: torch.device, precision: str = "auto") -> Iterator[None]:
    """Autocast on GPUs only: bf16 (or fp16 where bf16 is unsupported) per
    :func:`wildpose.device.autocast_dtype`; plain float32 on the CPU and for ``"fp32"``.

    Convolution-heavy networks such as the hourglass gain little from CPU autocast and lose
    accuracy in BatchNorm statistics, hence GPU only (the lifters' trainers choose their own).
    """
    dtype = autocast_dtype(precision, device)
    if device.type != "cuda" or dtype is None:
        yield
        return
    with torch.autocast("cuda", dtype=dtype):
        yield

