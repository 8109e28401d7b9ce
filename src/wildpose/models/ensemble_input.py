"""What the members of a lifter ensemble read: one input, of which each takes its frames.

Members must agree on the joints.  Their windows may differ: the ensemble then reads one
window that holds each member's frames (e.g. 17 frames 4 apart and 17 frames 8 apart: 33
frames 4 apart), and each member takes its own from it (:func:`member_frames`).

Kept free of torch so that numpy inference can check an ensemble file without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import gcd
from typing import Any

__all__ = ["EnsembleConfig", "shared_input_config", "member_frames"]


@dataclass
class EnsembleConfig:
    """The input all members of a :class:`LifterEnsemble` read (see ``LifterConfig``): the
    architecture options that decide what input a lifter reads, with their defaults."""

    num_joints: int = 17
    window: int = 1
    window_step: int = 1

    def to_dict(self) -> dict:
        return asdict(self)


def _input(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg.get(k, default) for k, default in asdict(EnsembleConfig()).items()}


def _half_span(cfg: dict[str, Any]) -> int:
    """Frames from a window's middle to its last frame."""
    return (cfg["window"] - 1) // 2 * cfg["window_step"]


def shared_input_config(member_configs: list[dict[str, Any]], names: list[str]) -> EnsembleConfig:
    """The input that holds what every member reads, or ValueError naming the first member
    that cannot share it.

    Members with the same window read it as it is.  Members with different windows get one
    window whose step is the greatest common divisor
    of theirs and whose span is the longest of theirs; each member's frames lie on it.

    Args:
        member_configs: each member's architecture config (``LifterConfig.to_dict()``).
        names: each member's name, for the error message.
    """
    if not member_configs:
        raise ValueError("an ensemble needs at least one member")
    configs = [_input(c) for c in member_configs]
    first = configs[0]
    for cfg, name in zip(configs[1:], names[1:]):
        if cfg["num_joints"] != first["num_joints"]:
            raise ValueError(f"ensemble member {name} reads a different input: num_joints "
                             f"{cfg['num_joints']!r}, not {first['num_joints']!r} like "
                             f"{names[0]}")
    # A single frame has no step: (1, 1) whatever its config says.
    windows = [(c["window"], c["window_step"] if c["window"] > 1 else 1) for c in configs]
    if len(set(windows)) == 1:
        return EnsembleConfig(**first)
    step = gcd(*(c["window_step"] for c in configs if c["window"] > 1))
    half = max(_half_span(c) for c in configs)
    return EnsembleConfig(**{**first, "window": 2 * (half // step) + 1, "window_step": step})


def member_frames(member_config: dict[str, Any], ensemble: EnsembleConfig
                  ) -> list[int] | None:
    """Positions of a member's frames within the ensemble's window, in time order, or None
    when the member reads the whole window.

    E.g. a member reading 17 frames 8 apart in an ensemble window of 33 frames 4 apart
    takes positions 0, 2, ..., 32; a single-frame member takes the middle one, [16].
    """
    cfg = _input(member_config)
    if cfg["window"] == ensemble.window and (cfg["window"] == 1 or
                                             cfg["window_step"] == ensemble.window_step):
        return None
    middle = ensemble.window // 2
    if cfg["window"] == 1:
        return [middle]
    stride, rem = divmod(cfg["window_step"], ensemble.window_step)
    reach = (cfg["window"] - 1) // 2
    if rem or reach * stride > middle:
        raise ValueError(f"a member reading {cfg['window']} frames {cfg['window_step']} apart "
                         f"does not fit the ensemble's window of {ensemble.window} frames "
                         f"{ensemble.window_step} apart")
    return [middle + k * stride for k in range(-reach, reach + 1)]
