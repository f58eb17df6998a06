"""FER2013 packed to travel with the checkout (64 MiB in all): lossless and compact.

Each image is stored as the residuals of a median-edge predictor (LOCO-I), which xz
compresses far better than raw pixels.
"""

from __future__ import annotations

import io
import lzma
import subprocess
from pathlib import Path

import numpy as np

from gpu import ROOT
from train.data import load_split, subsample

PACKED = ROOT / ".devdata" / "fer2013.xz"


def _med_prediction(left: np.ndarray, up: np.ndarray, up_left: np.ndarray) -> np.ndarray:
    """LOCO-I/JPEG-LS's median edge detector: predicts a pixel from three neighbours."""
    low, high = np.minimum(left, up), np.maximum(left, up)
    return np.where(up_left >= high, low, np.where(up_left <= low, high, left + up - up_left))


def encode_residuals(images: np.ndarray) -> np.ndarray:
    """uint8 images -> prediction residuals (mod 256), which compress to ~80% of raw."""
    a = images.astype(np.int16)
    padded = np.pad(a, ((0, 0), (1, 0), (1, 0)))
    predicted = _med_prediction(padded[:, 1:, :-1], padded[:, :-1, 1:], padded[:, :-1, :-1])
    return ((a - predicted) % 256).astype(np.uint8)


def decode_residuals(residuals: np.ndarray) -> np.ndarray:
    """Inverse of ``encode_residuals``: row by row, pixel by pixel, vectorised over images."""
    n, h, w = residuals.shape
    out = np.zeros((n, h + 1, w + 1), dtype=np.int16)
    res = residuals.astype(np.int16)
    for y in range(1, h + 1):
        for x in range(1, w + 1):
            predicted = _med_prediction(out[:, y, x - 1], out[:, y - 1, x], out[:, y - 1, x - 1])
            out[:, y, x] = (predicted + res[:, y - 1, x - 1]) % 256
    return out[:, 1:, 1:].astype(np.uint8)


def pack(data: str, dest: Path = PACKED, limit: int = 0) -> Path:
    """Train and validation splits of ``data`` as residual arrays in one xz file."""
    arrays = {}
    for split in ("train", "validation"):
        decoded = load_split(data, split)
        if limit:
            decoded = subsample(decoded, limit)
        images, labels = decoded.images, decoded.labels
        arrays[f"{split}_residuals"] = encode_residuals(images)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(lzma.compress(buffer.getvalue(), preset=9 | lzma.PRESET_EXTREME))
    return dest


# The device tool carries the checkout plus carried paths up to 64 MiB, by a count a little
# above the files' bytes: it refused 63.95 MiB by ours (2026-11-26), so keep half a MiB spare.
TRAVEL_LIMIT = int(63.5 * 2**20)


def travelling_bytes(carried: Path) -> int:
    """What a device call carries: tracked and untracked-not-ignored files, plus every file in the
    ``carried`` folder (the packed data, and stored soft targets beside it)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    files += list(carried.rglob("*"))
    return sum(f.stat().st_size for f in files if f.is_file())


def unpack(source: Path, dest: Path) -> Path:
    """The packed file as an .npz of plain arrays that ``--data`` reads."""
    with np.load(io.BytesIO(lzma.decompress(source.read_bytes())), allow_pickle=False) as packed:
        arrays = {}
        for split in ("train", "validation"):
            arrays[f"{split}_images"] = decode_residuals(packed[f"{split}_residuals"])
            arrays[f"{split}_labels"] = packed[f"{split}_labels"].astype(np.int64)
    dest.parent.mkdir(parents=True, exist_ok=True)
    np.savez(dest, **arrays)
    return dest
