"""What the members of a lifter ensemble must share: the input they read.

Kept free of torch so that numpy inference can check an ensemble file without importing it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["EnsembleConfig", "INPUT_FIELDS", "shared_input_config"]

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


def shared_input_config(member_configs: list[dict[str, Any]], names: list[str]) -> EnsembleConfig:
    """The input options every member shares, or ValueError naming the first that differs.

    Args:
        member_configs: each member's architecture config (``LifterConfig.to_dict()``).
        names: each member's name, for the error message.
    """
    if not member_configs:
        raise ValueError("an ensemble needs at least one member")
    first = {k: member_configs[0].get(k, _INPUT_DEFAULTS[k]) for k in INPUT_FIELDS}
    for cfg, name in zip(member_configs[1:], names[1:]):
        for k in INPUT_FIELDS:
            if cfg.get(k, _INPUT_DEFAULTS[k]) != first[k]:
                raise ValueError(f"ensemble member {name} reads a different input: {k} "
                                 f"{cfg.get(k, _INPUT_DEFAULTS[k])!r}, not {first[k]!r} "
                                 f"like {names[0]}")
    return EnsembleConfig(**first)
