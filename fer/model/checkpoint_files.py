"""Reading a checkpoint's files as untrusted input: inside its folder, bounded, parsed with limits.

A checkpoint may come from a stranger's Hub repo, so every file it supplies (config, weights,
ONNX, metrics, uncertainty, export report) is opened through ``checked_file``: the path is
resolved, symlinks included, and refused outside the checkpoint's folder (for a Hub snapshot,
outside that repo's part of the Hub cache, where its files link into ``blobs/``), and the file's
size is checked against a cap for its kind before a byte is read. JSON is parsed by
``read_json`` with a depth limit and refusals in one sentence instead of tracebacks.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

# What a checkpoint's files may weigh. JSON files are a few KB; the weights and ONNX caps sit
# well above our largest model (fernet_m: 27 MB), and below what would strain a small server.
MAX_JSON_BYTES = 256 * 1024
MAX_WEIGHTS_BYTES = 256 * 2**20
MAX_ONNX_BYTES = 256 * 2**20
MAX_JSON_DEPTH = 8


class CheckpointError(ValueError):
    """A folder or repo that is not a usable FER checkpoint; the message says why in one sentence."""


def shown_name(folder: Path) -> str:
    """How a checkpoint is named to a visitor: its repo id for a Hub snapshot, else the folder's
    last component; never a server path (the log keeps that)."""
    root = containing_root(folder)
    if root != Path(folder).resolve() and root.name.startswith("models--"):
        return root.name.removeprefix("models--").replace("--", "/")
    return Path(folder).name


def containing_root(folder: Path) -> Path:
    """The folder nothing of this checkpoint may be read outside of: the checkpoint folder, or for
    a Hub snapshot (``models--user--repo/snapshots/<revision>``) the repo's cache folder."""
    folder = Path(folder).resolve()
    if folder.parent.name == "snapshots" and (folder.parent.parent / "blobs").is_dir():
        return folder.parent.parent
    return folder


def checked_file(folder: Path, name: str, max_bytes: int) -> Path | None:
    """``folder / name`` resolved, or None if there is no such file; CheckpointError if it lies
    outside the checkpoint, is not a regular file, or is larger than ``max_bytes``."""
    path = Path(folder) / name
    if not os.path.lexists(path):
        return None
    try:
        resolved = path.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a dangling link, or links in a loop
        raise CheckpointError(f"{name} is a link that leads to no file") from exc
    if not resolved.is_relative_to(containing_root(folder)):
        raise CheckpointError(f"{name} points outside the checkpoint's folder")
    if not resolved.is_file():
        raise CheckpointError(f"{name} is not a regular file")
    size = resolved.stat().st_size
    if size > max_bytes:
        raise CheckpointError(f"{name} is {size / 2**20:.1f} MB, over the {max_bytes / 2**20:.1f} MB allowed")
    return resolved


def read_weights_header(weights: Path) -> dict:
    """The safetensors header of ``weights`` (tensor name -> entry), checked against the file's size
    without torch: a file that is not safetensors, or was cut short, is refused in one sentence
    before any tensor is read. Whether the tensors fit a model is the caller's question."""
    name, size = weights.name, weights.stat().st_size
    with weights.open("rb") as handle:
        head = handle.read(8)
        length = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < length <= min(MAX_JSON_BYTES * 16, size - 8):
            raise CheckpointError(f"{name} is not a safetensors file")
        try:
            header = json.loads(handle.read(length))
        except (ValueError, RecursionError) as exc:
            raise CheckpointError(f"{name} has an unreadable header") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} has an unreadable header")
    header.pop("__metadata__", None)
    end = 0
    for entry in header.values():
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise CheckpointError(f"{name} has an unreadable header")
        end = max(end, *offsets)
    if 8 + length + end != size:
        raise CheckpointError(f"{name} is damaged: its header and its size disagree")
    return header


def read_json(folder: Path, name: str) -> object | None:
    """The parsed ``folder / name``, or None if there is none; CheckpointError with one sentence for
    a file outside the folder, too large, not UTF-8, not JSON, nested too deeply or holding a
    number Python will not convert."""
    path = checked_file(folder, name, MAX_JSON_BYTES)
    if path is None:
        return None
    with path.open("rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)  # the cap holds even if the file grew since it was checked
    if len(data) > MAX_JSON_BYTES:
        raise CheckpointError(f"{name} is over the {MAX_JSON_BYTES / 2**20:.1f} MB allowed")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError as exc:
        raise CheckpointError(f"{name} is not UTF-8 text") from exc
    except RecursionError as exc:
        raise CheckpointError(f"{name} is nested too deeply") from exc
    except ValueError as exc:  # JSONDecodeError, a non-finite constant, or an integer of thousands of digits
        raise CheckpointError(f"{name} is not valid JSON ({_first_line(exc)})") from exc
    if _depth(value) > MAX_JSON_DEPTH:
        raise CheckpointError(f"{name} is nested too deeply")
    return value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:120]


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def is_fraction(value: object) -> bool:
    """A finite number from 0 to 1 (an accuracy or a share), not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1
