"""Resumable chunk-by-chunk writing of large derived arrays (renders, person crops).

Building a cache of tens of thousands of images takes minutes to hours; a killed run must
not lose what it finished.  :func:`write_chunks` writes rows ``[start, start + chunk)`` to
``<parts>/<start>.npz`` one chunk at a time, each file appearing whole or not at all, and
skips the chunks that already exist when called again with the same settings.  The caller
then assembles the chunks into its own final layout and removes ``parts``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
from tqdm import tqdm

__all__ = ["write_chunks"]


def write_chunks(parts: Path, settings: dict[str, Any], n: int, chunk: int,
                 make: Callable[[int, int], dict[str, np.ndarray]], desc: str,
                 progress: bool = True) -> list[Path]:
    """Write rows 0..n-1 in chunks, resuming an interrupted run.

    Args:
        parts: the chunk folder (created).
        settings: JSON-serializable description of what is written; chunks left by a run
            with other settings are refused rather than mixed in.
        n, chunk: number of rows and rows per chunk (> 0).
        make: ``make(start, stop)`` -> arrays of the rows ``start..stop-1`` (any keys).
        desc: progress-bar label.
    Returns:
        the chunk files in row order.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1 row, got {chunk}")
    parts.mkdir(parents=True, exist_ok=True)
    meta = parts / "settings.json"
    if meta.exists() and json.loads(meta.read_text()) != settings:
        raise ValueError(f"{parts} holds chunks of other samples or settings "
                         f"({meta.read_text()}); delete it or choose another path")
    meta.write_text(json.dumps(settings))
    files = []
    with tqdm(total=n, desc=desc, unit="img", disable=not progress) as bar:
        for start in range(0, n, chunk):
            part = parts / f"{start:09d}.npz"
            stop = min(start + chunk, n)
            if not part.exists():
                tmp = parts / f"{start:09d}.tmp.npz"
                np.savez(tmp, **make(start, stop))
                os.replace(tmp, part)  # a chunk exists whole or not at all
            files.append(part)
            bar.update(stop - start)
    return files
