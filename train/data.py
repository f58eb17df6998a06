"""FER2013-style data sources -> one compact uint8 array per split.

A source is a folder or a .zip in the Kaggle layout (``<split>/<class>/<image>``,
optionally under ``images/`` or one top folder), the original ``fer2013.csv``, or an
``.npz`` of arrays (``<split>_images`` N x 48 x 48 uint8, ``<split>_labels`` in the
canonical class order), which is how ``scripts/device_run.py`` ships data to a GPU.
Whatever the source, a split is decoded once into ``images`` (N x 48 x 48 uint8) and
``labels`` (N int64, canonical order of ``fer.model.labels``) and cached on disk, keyed by
the source's content, so later runs start in seconds. The cache holds plain arrays in
an ``.npz`` read with ``allow_pickle=False``: nothing executable is ever loaded.

The cache lives under ``$FER_CACHE_DIR`` (default ``~/.cache/fer``) rather than next to
the source, because data sets are often on read-only or shared storage.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image
from tqdm import tqdm

from fer.model.labels import CLASS_NAMES, CSV_CODE_TO_INDEX, FACE_SIZE, NUM_CLASSES, class_index
from fer.pipeline.images import ImageError, open_image, to_gray
from fer.utils.atomic import atomic_write

SPLITS = ("train", "validation", "test")
# Folder names accepted for each split, in order of preference. A Kaggle download with
# only train/ and test/ uses test/ as its validation split.
SPLIT_DIR_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train", "training"),
    "validation": ("validation", "val", "valid", "publictest", "test"),
    "test": ("test", "privatetest"),
}
CSV_USAGE: dict[str, str] = {"train": "Training", "validation": "PublicTest", "test": "PrivateTest"}
CSV_COLUMNS = ("emotion", "pixels", "Usage")
CACHE_FORMAT_VERSION = "1"
SKIPPED_EXAMPLES = 5


@dataclass
class FerSplit:
    """One decoded split, plus what happened while decoding it."""

    images: np.ndarray  # N x 48 x 48, uint8
    labels: np.ndarray  # N, int64, canonical class indices
    source: str
    split: str
    skipped: int = 0  # corrupt / non-image entries left out
    skipped_examples: list[str] = field(default_factory=list)
    converted: int = 0  # images that were not 48x48 grayscale and were converted

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> list[int]:
        return np.bincount(self.labels, minlength=NUM_CLASSES).tolist()

    def summary(self) -> str:
        """One line a user reads at the start of a run."""
        counts = ", ".join(f"{n} {c}" for n, c in zip(CLASS_NAMES, self.class_counts(), strict=False))
        text = f"{self.split}: {len(self)} images ({counts})"
        if self.converted:
            text += f"; {self.converted} converted to 48x48 grayscale"
        if self.skipped:
            text += f"; {self.skipped} unreadable files skipped (e.g. {', '.join(self.skipped_examples)})"
        return text


def load_split(source: str | Path, split: str, cache_dir: str | Path | None = None, progress: bool = True) -> FerSplit:
    """Decode ``split`` ('train', 'validation' or 'test') of ``source``, using the cache.

    Raises FileNotFoundError for a missing source and ValueError (with a sentence naming
    the problem) for a source whose layout or columns are not recognised.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data source {str(path)!r} does not exist")
    cache_file = _cache_path(path, split, cache_dir)
    if cache_file.exists():
        try:
            return _read_cache(cache_file, str(path), split)
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            # Written without fsync, a cache can be left torn by a crash: decode the source again.
            warnings.warn(f"the cached decode {cache_file} is damaged; decoding {path} [{split}] again", stacklevel=2)
    decoded = _decode(path, split, progress)
    _warn_about(decoded)
    _write_cache(cache_file, decoded)
    return decoded


def subsample(data: FerSplit, count: int, seed: int = 0) -> FerSplit:
    """A class-stratified random subset of ``count`` images (for quick runs and tests)."""
    if count >= len(data):
        return data
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(data))
    # Stable sort by label keeps the random order within each class; taking every k-th
    # element of that then keeps class proportions.
    by_class = order[np.argsort(data.labels[order], kind="stable")]
    picks = np.sort(by_class[np.linspace(0, len(data) - 1, count).round().astype(int)])
    return FerSplit(data.images[picks], data.labels[picks], data.source, data.split)


# --- decoding -----------------------------------------------------------------------


def _decode(path: Path, split: str, progress: bool) -> FerSplit:
    if path.is_file() and path.suffix.lower() == ".csv":
        return _decode_csv(path, split, progress)
    if path.is_file() and path.suffix.lower() == ".npz":
        return _decode_arrays(path, split)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            return _decode_tree(names, archive.read, str(path), split, progress, class_dirs=set())
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.is_file()]
        names = [p.relative_to(path).as_posix() for p in files]
        dirs = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_dir()}
        return _decode_tree(names, lambda n: (path / n).read_bytes(), str(path), split, progress, class_dirs=dirs)
    raise ValueError(f"{str(path)!r} is neither a folder, a .zip archive, a fer2013 .csv nor an .npz of arrays")


def _decode_arrays(path: Path, split: str) -> FerSplit:
    """``<split>_images`` / ``<split>_labels`` from an .npz (plain arrays; pickles refused)."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            keys = set(arrays.files)
            wanted = (f"{split}_images", f"{split}_labels")
            if not set(wanted) <= keys:
                raise ValueError(f"{str(path)!r} has no {wanted[0]}/{wanted[1]} arrays; it holds {sorted(keys)}")
            images, labels = arrays[wanted[0]], arrays[wanted[1]]
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npz of arrays ({exc})") from exc
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (FACE_SIZE, FACE_SIZE):
        raise ValueError(
            f"{str(path)!r}: {split}_images must be N x {FACE_SIZE} x {FACE_SIZE} uint8, "
            f"not {images.shape} {images.dtype}"
        )
    if len(labels) != len(images) or labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"{str(path)!r}: {split}_labels must hold one integer label per image")
    if len(labels) and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(f"{str(path)!r}: {split}_labels must lie in 0..{NUM_CLASSES - 1} ({', '.join(CLASS_NAMES)})")
    return FerSplit(np.ascontiguousarray(images), labels.astype(np.int64), str(path), split)


def _is_hidden(parts: tuple[str, ...]) -> bool:
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _find_split_dir(names: list[str], dirs: set[str], source: str, split: str) -> str:
    """The folder (posix path inside the source) that holds ``split``'s class folders.

    A split folder is the grandparent of an image (``<split>/<class>/<image>``) or the
    parent of a class folder, at most two folders deep (``images/``, a top folder).
    """
    candidates: dict[str, str] = {}  # lower-cased split-folder path -> actual path
    parents = [PurePosixPath(n).parent.parent for n in names] + [PurePosixPath(d).parent for d in dirs]
    for folder in parents:
        if folder.name and len(folder.parts) <= 3 and not _is_hidden(folder.parts):
            candidates.setdefault(folder.as_posix().lower(), folder.as_posix())
    for wanted in SPLIT_DIR_NAMES[split]:
        matches = [actual for low, actual in candidates.items() if PurePosixPath(low).name == wanted]
        if matches:
            return min(matches, key=lambda m: len(PurePosixPath(m).parts))
    found = sorted({PurePosixPath(a).name for a in candidates.values()})
    raise ValueError(
        f"no {split!r} split in {source!r}: expected a folder named one of "
        f"{', '.join(SPLIT_DIR_NAMES[split])} holding one folder per class; found folders {found[:12]}"
    )


def _decode_tree(
    names: list[str],
    read: Callable[[str], bytes],
    source: str,
    split: str,
    progress: bool,
    class_dirs: set[str],
) -> FerSplit:
    """Decode ``<split>/<class>/<image>`` entries; every class folder name is validated."""
    split_dir = PurePosixPath(_find_split_dir(names, class_dirs, source, split))
    for folder in class_dirs:  # catches unknown class folders even when they are empty
        if PurePosixPath(folder).parent == split_dir and not _is_hidden(PurePosixPath(folder).parts):
            class_index(PurePosixPath(folder).name)
    entries = [
        (name, class_index(PurePosixPath(name).parent.name))
        for name in sorted(names)
        if PurePosixPath(name).parent.parent == split_dir and not _is_hidden(PurePosixPath(name).parts)
    ]
    images, labels, stats = _decode_entries(
        ((label, lambda n=name: read(n), name) for name, label in entries), len(entries), split, progress
    )
    return FerSplit(images, labels, source, split, *stats)


def _decode_entries(
    entries: Iterator[tuple[int, Callable[[], bytes], str]], total: int, split: str, progress: bool
) -> tuple[np.ndarray, np.ndarray, tuple[int, list[str], int]]:
    images = np.empty((total, FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    labels = np.empty(total, dtype=np.int64)
    count = skipped = converted = 0
    examples: list[str] = []
    for label, read, name in tqdm(entries, total=total, desc=f"decoding {split}", disable=not progress, unit="img"):
        try:
            pixels, was_converted = decode_face(read())
        except ImageError:
            skipped += 1
            if len(examples) < SKIPPED_EXAMPLES:
                examples.append(name)
            continue
        images[count], labels[count] = pixels, label
        converted += was_converted
        count += 1
    return images[:count].copy(), labels[:count].copy(), (skipped, examples, converted)


def decode_face(data: bytes) -> tuple[np.ndarray, bool]:
    """Encoded image -> (48x48 uint8 grayscale, whether it had to be converted)."""
    img = open_image(data)
    converted = img.mode != "L" or img.size != (FACE_SIZE, FACE_SIZE)
    img = to_gray(img)
    if img.size != (FACE_SIZE, FACE_SIZE):
        img = img.resize((FACE_SIZE, FACE_SIZE), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8), converted


def _decode_csv(path: Path, split: str, progress: bool) -> FerSplit:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"{str(path)!r} is not a fer2013 CSV: missing column(s) {missing}; "
                f"expected {', '.join(CSV_COLUMNS)}, found {header}"
            )
        emotion_col, pixels_col, usage_col = (header.index(c) for c in CSV_COLUMNS)
        usage = CSV_USAGE[split]
        rows = [(n, r) for n, r in enumerate(reader, start=2) if len(r) == len(header) and r[usage_col] == usage]
    images = np.empty((len(rows), FACE_SIZE, FACE_SIZE), dtype=np.uint8)
    labels = np.empty(len(rows), dtype=np.int64)
    count = skipped = 0
    examples: list[str] = []
    for line, row in tqdm(rows, desc=f"decoding {split}", disable=not progress, unit="img"):
        try:
            pixels = np.array(row[pixels_col].split(), dtype=np.int64)
            label = CSV_CODE_TO_INDEX[int(row[emotion_col])]
            if pixels.size != FACE_SIZE * FACE_SIZE or pixels.min() < 0 or pixels.max() > 255:
                raise ValueError("bad pixel count or range")
        except (ValueError, KeyError):
            skipped += 1
            if len(examples) < SKIPPED_EXAMPLES:
                examples.append(f"line {line}")
            continue
        images[count], labels[count] = pixels.reshape(FACE_SIZE, FACE_SIZE), label
        count += 1
    return FerSplit(images[:count].copy(), labels[:count].copy(), str(path), split, skipped, examples, 0)


def _warn_about(data: FerSplit) -> None:
    """Say once, at decode time, what was skipped, converted or missing."""
    if data.skipped:
        warnings.warn(
            f"{data.source} [{data.split}]: skipped {data.skipped} unreadable file(s), e.g. "
            f"{', '.join(data.skipped_examples)}",
            stacklevel=3,
        )
    if data.converted:
        warnings.warn(
            f"{data.source} [{data.split}]: converted {data.converted} image(s) to 48x48 grayscale", stacklevel=3
        )
    empty = [name for name, n in zip(CLASS_NAMES, data.class_counts(), strict=False) if n == 0]
    if empty:
        warnings.warn(f"{data.source} [{data.split}]: no images for class(es) {', '.join(empty)}", stacklevel=3)


# --- cache --------------------------------------------------------------------------


def default_cache_dir() -> Path:
    return Path(os.environ.get("FER_CACHE_DIR", Path.home() / ".cache" / "fer"))


def source_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, or of a folder's file list with sizes and mtimes."""
    digest = hashlib.sha256()
    if path.is_file():
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    else:
        for file in sorted(p for p in path.rglob("*")):
            stat = file.stat()
            digest.update(f"{file.relative_to(path).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_path(path: Path, split: str, cache_dir: str | Path | None) -> Path:
    key = hashlib.sha256(f"{CACHE_FORMAT_VERSION}:{source_fingerprint(path)}".encode()).hexdigest()[:16]
    return Path(cache_dir or default_cache_dir()) / f"{path.stem}-{split}-{key}.npz"


def _write_cache(cache_file: Path, data: FerSplit) -> None:
    """Store a decoded split; a cache is rebuilt from its source if lost, so no fsync."""

    def write(tmp: str) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                images=data.images,
                labels=data.labels,
                skipped=np.int64(data.skipped),
                converted=np.int64(data.converted),
                skipped_examples=np.array(data.skipped_examples, dtype=np.str_),
            )

    atomic_write(cache_file, write, durable=False)


def _read_cache(cache_file: Path, source: str, split: str) -> FerSplit:
    with np.load(cache_file, allow_pickle=False) as z:
        return FerSplit(
            z["images"],
            z["labels"],
            source,
            split,
            int(z["skipped"]),
            [str(s) for s in z["skipped_examples"]],
            int(z["converted"]),
        )
