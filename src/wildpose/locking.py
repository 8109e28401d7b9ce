"""A cross-process file lock for caches that several processes may build at once.

Every rank of a ``torchrun`` job prepares its own data; with :func:`exclusive` around the
"build the cache unless it exists" step, one process builds while the others wait and then
read what it wrote, instead of all of them writing the same files.  Used by the real-image
crops (:func:`wildpose.datasets.images.materialize`) and the synthetic renders
(:func:`wildpose.methods.zhou_image.render_image_set`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # not POSIX: single-process use only
    fcntl = None

__all__ = ["exclusive"]


@contextmanager
def exclusive(lock_path: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` (POSIX ``flock``; no-op where unavailable).

    The lock file is created if needed and left in place (deleting it could let a third
    process lock a new file while a second still holds the old one).  Waiting has no
    timeout, unlike a collective barrier, so a long build never aborts the waiters.  Each
    ``open`` is its own lock holder, so threads of one process exclude each other too.
    """
    if fcntl is None:
        yield
        return
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
