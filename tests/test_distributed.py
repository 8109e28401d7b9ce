"""Distributed training helpers: a real two-process DDP step on CPU (gloo), and the
single-process no-op path.

The two-process test runs this very file under ``python -m torch.distributed.run`` (its
``__main__`` block is the worker).  The independent fact it checks: one DDP step on two
disjoint shards leaves both ranks with identical weights, equal to one single-process SGD
step on the union batch with a mean loss.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_two_ranks

from wildpose.distributed import (
    DistEnv,
    average_metrics,
    cleanup,
    exit_distributed,
    gpu_autocast,
    init_distributed,
    shard_indices,
    wrap_model,
)

N_SAMPLES, SEED, LR = 8, 3, 0.1


def _data() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(N_SAMPLES, 4, generator=g), torch.randn(N_SAMPLES, 2, generator=g)


def _model() -> torch.nn.Module:
    # No BatchNorm: its per-rank batch statistics would legitimately differ from the union's.
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))


def _sgd_step(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss = ((model(x) - y) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach()


def _worker(out_dir: Path) -> None:
    """One rank: a DDP step on its shard; saves weights, shard and averaged metrics."""
    env = init_distributed("cpu")
    assert env.world_size == 2, env
    x, y = _data()
    model = wrap_model(_model(), env)
    idx = shard_indices(N_SAMPLES, epoch=0, seed=SEED, env=env)
    loss = _sgd_step(model, x[idx], y[idx])
    metrics = average_metrics({"loss": loss, "rank": float(env.rank)}, env)
    torch.save({"state": model.module.state_dict(), "idx": torch.as_tensor(idx),
                "loss": loss.item(), "metrics": metrics}, out_dir / f"rank{env.rank}.pt")
    # Leave the group and end here: gloo can abort a process while the interpreter
    # finalizes, which torchrun reports as a failed run (see exit_distributed).
    exit_distributed(0)


@pytest.mark.slow
def test_two_process_ddp_step_equals_single_process_union_step(tmp_path):
    proc = run_two_ranks(__file__, tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]

    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    shards = [r["idx"].tolist() for r in ranks]
    assert set(shards[0]).isdisjoint(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(N_SAMPLES))

    x, y = _data()
    reference = _model()
    before = {k: v.clone() for k, v in reference.state_dict().items()}
    full_loss = _sgd_step(reference, x, y)
    for k, v in reference.state_dict().items():
        assert not torch.allclose(v, before[k])          # the step really moved the weights
        for r in ranks:
            torch.testing.assert_close(r["state"][k], v, rtol=0, atol=1e-6)

    # Without gradient averaging a rank would have stepped on its shard alone: far off.
    alone = _model()
    _sgd_step(alone, x[shards[0]], y[shards[0]])
    assert max((alone.state_dict()[k] - v).abs().max().item()
               for k, v in reference.state_dict().items()) > 1e-3

    # Metrics: the same mean on both ranks; equal shards -> mean of shard losses = full loss.
    assert ranks[0]["metrics"] == ranks[1]["metrics"]
    assert ranks[0]["metrics"]["rank"] == pytest.approx(0.5)
    assert ranks[0]["metrics"]["loss"] == pytest.approx(
        (ranks[0]["loss"] + ranks[1]["loss"]) / 2, abs=1e-9)
    assert ranks[0]["metrics"]["loss"] == pytest.approx(full_loss.item(), abs=1e-6)


def test_single_process_is_a_no_op(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    env = init_distributed("cpu")
    assert (env.rank, env.world_size, env.is_main, env.distributed) == (0, 1, True, False)
    model = _model()
    assert wrap_model(model, env) is model
    exit_distributed(0)                 # no process group: returns, nothing ends
    idx = shard_indices(10, epoch=2, seed=SEED, env=env)
    assert sorted(idx.tolist()) == list(range(10))
    assert average_metrics({"a": 2.0, "b": torch.tensor(3.0)}, env) == {"a": 2.0, "b": 3.0}
    cleanup()


def test_shards_are_deterministic_disjoint_and_equal_length():
    a = shard_indices(10, epoch=1, seed=SEED, env=DistEnv(rank=0, world_size=3))
    assert np.array_equal(a, shard_indices(10, 1, SEED, DistEnv(rank=0, world_size=3)))
    assert not np.array_equal(shard_indices(10, 1, SEED), shard_indices(10, 2, SEED))
    shards = [shard_indices(10, 1, SEED, DistEnv(rank=r, world_size=3)) for r in range(3)]
    assert {len(s) for s in shards} == {4}                    # 10 padded to 12
    assert set(np.concatenate(shards).tolist()) == set(range(10))
    # The same global permutation whatever the number of processes.
    one = shard_indices(10, 1, SEED)
    assert np.array_equal(np.stack(shards, 1).ravel()[:10], one)


def test_mixed_precision_helpers_are_plain_fp32_on_cpu():
    dev = torch.device("cpu")
    with gpu_autocast(dev, "bf16"):
        out = torch.randn(4, 4, device=dev) @ torch.randn(4, 4, device=dev)
    assert out.dtype == torch.float32


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
