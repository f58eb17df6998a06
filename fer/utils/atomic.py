"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

Every file this project writes that something later trusts (checkpoints, training state,
the decoded-data cache) goes through here, so "killed mid-write" has one answer.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def commit_file(staged: str | Path, path: str | Path, durable: bool = True) -> None:
    """Move a fully written ``staged`` file onto ``path`` (same file system) in one rename.

    ``durable`` fsyncs first, so that after a power cut the rename never points at data
    that was not yet on disk.
    """
    if durable:
        with open(staged, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(staged, path)


def atomic_write(path: str | Path, write: Callable[[str], object], durable: bool = True) -> None:
    """Call ``write(tmp_name)`` on a temporary file beside ``path``, then commit it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes files only their owner can read; checkpoints are to share
        commit_file(tmp, path, durable)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
