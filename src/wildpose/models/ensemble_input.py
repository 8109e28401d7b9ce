"""What the members of a lifter ensemble read: one input, of which each takes its frames.

Members must agree on the joints, on how a window is normalized and on reading it reversed
in time.  Their windows may differ when every frame is normalized on its own: the ensemble
then reads one window that holds each member's frames (e.g. 17 frames 4 apart and 17 frames
8 apart: 33 frames 4 apart), and each member takes its own from it
(:func:`member_frames`).

Kept free of torch so that numpy inference can check an ensemble file without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import gcd
from typing import Any

__all__ = ["EnsembleConfig", "INPUT_FIELDS", "shared_input_config", "member_frames"]

#: The architecture options that decide what input a lifter reads.
#: ``time_reversal`` is among them because the ensemble is read both ways or not at all.
INPUT_FIELDS = ("num_joints", "window", "window_step", "window_norm", "time_reversal")
_INPUT_DEFAULTS = {"num_joints": 17, "window": 1, "window_step": 1, "window_norm": "frame",
                   "time_reversal": False}


@dataclass
class EnsembleConfig:
    """The input all members of a :class:`LifterEnsemble` read, and whether it is also read
    reversed in time (see ``LifterConfig``)."""

    num_joints: int = 17
    window: int = 1
    window_step: int = 1
    window_norm: str = "frame"
    time_reversal: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _input(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: cfg.get(k, _INPUT_DEFAULTS[k]) for k in INPUT_FIELDS}


def _half_span(cfg: dict[str, Any]) -> int:
    """Frames from a window's middle to its last frame."""
    return (cfg["window"] - 1) // 2 * cfg["window_step"]


def shared_input_config(member_configs: list[dict[str, Any]], names: list[str]) -> EnsembleConfig:
    """The input that holds what every member reads, or ValueError naming the first member
    that cannot share it.

    Members with the same window read it as it is.  Members with different windows (only
    with ``window_norm`` "frame") get one window whose step is the greatest common divisor
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
        for k in ("num_joints", "window_norm", "time_reversal"):
            if cfg[k] != first[k]:
                raise ValueError(f"ensemble member {name} reads a different input: {k} "
                                 f"{cfg[k]!r}, not {first[k]!r} like {names[0]}")
    # A single frame has no step: (1, 1) whatever its config says.
    windows = [(c["window"], c["window_step"] if c["window"] > 1 else 1) for c in configs]
    if len(set(windows)) == 1:
        return EnsembleConfig(**first)
    if first["window_norm"] != "frame":
        i = next(i for i, w in enumerate(windows) if w != windows[0])
        raise ValueError(f"ensemble member {names[i]} reads a different window "
                         f"({windows[i][0]} frames {windows[i][1]} apart, not "
                         f"{windows[0][0]} frames {windows[0][1]} apart like {names[0]}), and "
                         f"windows normalized as a whole (window_norm 'window') must be the "
                         f"same")
    step = 0
    for c in configs:
        if c["window"] > 1:
            step = gcd(step, c["window_step"])
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
