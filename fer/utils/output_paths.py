"""Where a command will write, checked before its work starts.

A training run, a batch over a collection or a teachers' pass can take hours; an ``--out`` that
names a file where a folder is wanted (or the reverse), or a place that cannot be written, must be
one sentence at the start, not a traceback at the end with the work lost.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


class OutputPathError(ValueError):
    """One sentence: why a command cannot write where it was told to."""


def writable_folder(path: str | Path) -> Path:
    """``path`` as a folder that exists and can be written into (made, with its parents, if needed)."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):  # the path, or a folder on the way to it, is a file
        blocking = next((part for part in [*reversed(path.parents), path] if part.exists() and not part.is_dir()), path)
        raise OutputPathError(f"cannot write into {path}: {blocking} is a file, not a folder") from None
    except OSError as exc:
        raise OutputPathError(f"cannot make the folder {path}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputPathError(f"cannot write into {path}: permission denied")
    return path


def writable_file(path: str | Path) -> Path:
    """``path`` as a file that can be written: not a folder, in a folder that exists and can be written."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"cannot write {path}: it is a folder; name a file")
    writable_folder(path.parent)
    return path


def writable_file_argument(text: str) -> Path:
    """``writable_file`` as an argparse ``type``: a bad ``--out`` is a usage error before any work."""
    try:
        return writable_file(text)
    except OutputPathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
