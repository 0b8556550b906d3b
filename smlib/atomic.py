"""Atomic file writes: write beside the target, then rename over it. A crash, a full disk or a concurrent reader
never sees a half-written file, and a failed write leaves the previous version in place.

    with atomic_path("runs/latents/cache.npz") as tmp:
        np.savez(tmp, features=feats)
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s folder (created if needed); when the block ends without an exception
    it replaces ``path`` (``os.replace``, atomic on POSIX), otherwise it is deleted and the exception propagates.

    The temporary name keeps ``path``'s suffix (``np.save``/``np.savez`` would append one otherwise) and holds the
    process id, so two processes writing the same cache do not share a temporary file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


__all__ = ["atomic_path"]
