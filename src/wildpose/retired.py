"""Options tried, rejected and removed from wildpose (the git history keeps their code).

A model or config file written before their removal may still name them.  With the value
that meant "off" the option is dropped as the file is read, so every shipped model and recipe
loads as before; with any other value the file needs the removed code, and reading it is
refused with a one-line error.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MODEL_OPTIONS", "drop_retired"]

#: Architecture options of lifters: windows normalized as a whole, reading windows reversed.
MODEL_OPTIONS: dict[str, Any] = {"window_norm": "frame", "time_reversal": False}


def drop_retired(options: dict[str, Any], retired: dict[str, Any], what: str) -> dict[str, Any]:
    """``options`` without the ``retired`` ones (name -> the value that meant off).

    Raises:
        ValueError naming ``what`` (the file or config) if a retired option is on.
    """
    out = dict(options)
    for name, off in retired.items():
        if name in out and out.pop(name) != off:
            raise ValueError(f"{what}: option {name}={options[name]!r} was removed from "
                             f"wildpose (a rejected experiment); only {off!r} can be read")
    return out
