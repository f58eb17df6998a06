"""What the command's INPUT names: folders (searched through), globs, text files of paths, files."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}
LIST_SUFFIXES = {".txt", ".lst"}


@dataclass(frozen=True)
class Source:
    name: str  # how rows name it: relative to the folder it was found in, else as given
    path: Path

    @property
    def is_video(self) -> bool:
        return self.path.suffix.lower() in VIDEO_SUFFIXES


def find_sources(inputs: list[str], output: Path | None = None) -> list[Source]:
    """Every file the inputs name, each once, in a stable order; ValueError naming an input that
    names nothing. Files at or under ``output`` are left out: a run writing into a folder it reads
    (``photos/ --out photos/results``) must not read its own results when started again."""
    found: dict[str, Source] = {}
    ours = Path(os.path.abspath(output)) if output else None  # no syscalls: a million files stay cheap
    for given in inputs:
        sources = _expand(given)
        if not sources:
            raise ValueError(f"{given} names no file")
        for source in sources:
            if ours and Path(os.path.abspath(source.path)).is_relative_to(ours):
                continue
            found.setdefault(source.name, source)
    return sorted(found.values(), key=lambda source: source.name)


def _expand(given: str) -> list[Source]:
    path = Path(given)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
        return [Source(str(p.relative_to(path)), p) for p in files]
    if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
        lines = [line.strip() for line in path.read_text().splitlines()]
        return [Source(line, path.parent / line) for line in lines if line and not line.startswith("#")]
    if path.is_file():
        return [Source(path.name, path)]
    return [Source(match, Path(match)) for match in sorted(glob.glob(given, recursive=True)) if Path(match).is_file()]
