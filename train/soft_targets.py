"""Teachers' softened predictions, computed once and stored: distillation without the teachers.

    python -m train.soft_targets --data ../shared/data/fer2013.zip --teacher T1 T2 T3 --out targets.npz
    python -m train.train --data ../shared/data/fer2013.zip --soft-targets targets.npz ...

Online distillation (``--teacher``) runs every teacher on every augmented batch. On 2 CPU
cores four fernet_m teachers make an epoch 3-4x slower, and their weights are too large to
travel to a lent GPU beside the data (64 MiB a call). Stored targets cost one pass of each
teacher over the training split and about 1 MB for FER2013; the student then learns each
image's stored distribution whatever view of it the augmentation shows. The teachers see each
face and its mirror image (flip TTA), so the targets do not depend on the flip augmentation;
the other augmentations (small shifts, rotations, photometric changes, erasing) keep the face
what it was. Mixup and cutmix blend two faces, so they are refused with stored targets.

Rows are keyed by a hash of each image's pixels, so they follow the images through any
subset, order or packing of the same data (``--train-subset``, ``scripts/device_run.py``'s
packed arrays); a training image with no row is refused rather than taught nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from fer.hub.client import HubError
from fer.model.checkpoint import CheckpointError
from fer.model.inference import class_probabilities
from fer.model.labels import CLASS_NAMES
from fer.utils.atomic import commit_file
from fer.utils.device import configure_backends
from fer.utils.output_paths import writable_file
from train.data import load_split
from train.distill import load_teacher


@dataclass
class StoredTargets:
    """Softened teacher probabilities, one row per distinct training image."""

    keys: np.ndarray  # N uint64: hash of each image's pixels
    probabilities: np.ndarray  # N x C float32, softened at ``temperature`` and averaged over teachers
    temperature: float
    teachers: list[str]

    def rows_for(self, images: np.ndarray, source: str) -> np.ndarray:
        """The rows of ``images`` (N x 48 x 48 uint8), in their order; every image must have one."""
        index = {int(key): row for row, key in enumerate(self.keys)}
        rows = np.array([index.get(int(key), -1) for key in image_keys(images)], dtype=np.int64)
        missing = int((rows < 0).sum())
        if missing:
            raise ValueError(
                f"{missing} of {len(images)} training images have no soft target in {source}; "
                "it was made for other data (make it again with python -m train.soft_targets)"
            )
        return self.probabilities[rows]


def image_keys(images: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each image's pixels: the same face has the same key in any data source."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(image.tobytes(), digest_size=8).digest(), "little") for image in images],
        dtype=np.uint64,
    )


def softened(probabilities: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / T) from softmax(logits): the same up to rounding, as log-probabilities
    differ from logits by one constant per row."""
    return (probabilities.clamp_min(1e-30).log() / temperature).softmax(dim=1)


def compute(
    teachers: list[str], data: str, temperature: float, tta: str = "flip", progress: bool = True
) -> StoredTargets:
    """Each teacher over the training split, softened, averaged: what ``--teacher`` would give
    for the faces themselves."""
    split = load_split(data, "train", progress=progress)
    unique, first = np.unique(image_keys(split.images), return_index=True)
    faces = torch.from_numpy(split.images[first])
    total = torch.zeros(len(faces), len(CLASS_NAMES))
    for reference in tqdm(teachers, desc="teachers", unit="model", disable=not progress):
        teacher = load_teacher(reference)
        probabilities = class_probabilities(teacher.model, faces, teacher.preprocess, tta=tta)
        total += softened(probabilities, temperature)
    return StoredTargets(unique, (total / len(teachers)).numpy(), temperature, list(teachers))


def save(targets: StoredTargets, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    with staged.open("wb") as f:  # np.savez would append .npz to a name without it
        np.savez(
            f,
            keys=targets.keys,
            probabilities=targets.probabilities.astype(np.float32),
            temperature=np.float64(targets.temperature),
            teachers=np.array(json.dumps(targets.teachers)),
            class_names=np.array(json.dumps(list(CLASS_NAMES))),
        )
    commit_file(staged, path)


def load(path: str | Path, temperature: float | None = None) -> StoredTargets:
    """A file written by ``save``, checked (softened at ``temperature``, if given); plain arrays
    only (never unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no soft-target file {path}")
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = json.loads(str(stored["class_names"]))
            targets = StoredTargets(
                keys=stored["keys"],
                probabilities=stored["probabilities"].astype(np.float32),
                temperature=float(stored["temperature"]),
                teachers=json.loads(str(stored["teachers"])),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"{path} is not a soft-target file made by python -m train.soft_targets") from exc
    if names != list(CLASS_NAMES) or targets.probabilities.shape != (len(targets.keys), len(CLASS_NAMES)):
        raise ValueError(f"{path} holds targets for {names}, not {list(CLASS_NAMES)}")
    if temperature is not None and targets.temperature != temperature:
        raise ValueError(
            f"{path} was softened at temperature {targets.temperature:g}; pass --kd-temperature {targets.temperature:g}"
        )
    return targets


def main(argv: list[str] | None = None) -> StoredTargets:
    p = argparse.ArgumentParser(prog="python -m train.soft_targets", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="the training data (its train split is used)")
    p.add_argument("--teacher", nargs="+", required=True, metavar="CKPT", help="checkpoint folders or Hub ids")
    p.add_argument("--out", required=True, type=Path, help="the .npz to write")
    p.add_argument("--temperature", type=float, default=4.0, help="the trainer's --kd-temperature")
    p.add_argument("--tta", default="flip", choices=["none", "flip"], help="views each teacher sees")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not args.temperature > 0:
        p.error(f"--temperature must be positive (got {args.temperature})")
    writable_file(args.out)  # before the teachers' pass, which may take hours
    if args.out.exists():
        try:
            load(args.out)  # an earlier file of targets may be replaced; the data set named by mistake not
        except ValueError:
            raise ValueError(f"{args.out} exists and holds no soft targets: choose another --out") from None
    configure_backends(torch.device("cpu"))  # the teachers run where they are loaded: on the CPU
    targets = compute(args.teacher, args.data, args.temperature, args.tta, progress=not args.no_progress)
    save(targets, args.out)
    print(f"{len(targets.keys)} images, {len(args.teacher)} teachers, T {args.temperature}: {args.out}")
    return targets


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, CheckpointError, HubError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
