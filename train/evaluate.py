"""Evaluate a checkpoint on a split: metrics JSON, text report and confusion matrix.

    python -m train.evaluate runs/exp1 --data ../shared/data/fer2013.zip --split validation
    python -m train.evaluate runs/exp1 --data ... --tta            # + horizontal-flip TTA
    python -m train.evaluate runs/exp1 --data ... --tta tencrop    # + ten-crop TTA (corners, centre, flips)
    python -m train.evaluate runs/exp1 --data ... --corruptions    # + accuracy under corruptions
    python -m train.evaluate runs/a runs/b runs/c --data ...       # ensemble: averaged probabilities

Uses the same forward path as the trainer's validation (``fer.model.inference``), so it
reproduces the accuracy logged for the saved epoch exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from fer.hub.client import HubError
from fer.hub.resolve import load_model
from fer.model.checkpoint import CheckpointError, LoadedModel
from fer.model.inference import class_probabilities
from fer.model.labels import class_index
from fer.model.transforms import TTA_MODES
from fer.utils.device import configure_backends, resolve_device
from fer.utils.output_paths import writable_folder
from train.corruptions import CORRUPTIONS
from train.data import SPLITS, load_split
from train.metrics import classification_report, confusion_matrix, summarize
from train.plots import plot_confusion

# Result file names: eval_validation.json, eval_validation_tta.json (flip, as before), ..._tencrop.json
TTA_SUFFIX = {"none": "", "flip": "_tta", "tencrop": "_tencrop"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", help="checkpoint folder(s) or hf-hub:user/repo; several = ensemble")
    p.add_argument("--revision", default=None, help="Hub branch, tag or commit (with a Hub id)")
    p.add_argument("--data", required=True, help="folder, .zip (Kaggle layout) or fer2013.csv")
    p.add_argument("--split", default="validation", choices=SPLITS)
    p.add_argument(
        "--tta",
        nargs="?",
        const="flip",
        default="none",
        choices=TTA_MODES,
        help="test-time augmentation: flip (the default of a bare --tta) or tencrop",
    )
    p.add_argument("--corruptions", action="store_true", help="also report accuracy under common corruptions")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--out",
        default=None,
        help="results folder (default: the checkpoint folder; ./eval for Hub ids and ensembles)",
    )
    p.add_argument("--device", default="auto")
    return p


def model_targets(labels: np.ndarray, label_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the images whose class the model knows, and their index in its label order.

    Data labels are canonical FER indices; a fine-tuned model may order (or subset) its
    classes differently.
    """
    model_index = {}
    for i, name in enumerate(label_names):
        try:
            model_index[class_index(name)] = i
        except ValueError:
            continue
    keep = np.array([i for i, label in enumerate(labels) if int(label) in model_index], dtype=np.int64)
    return keep, np.array([model_index[int(labels[i])] for i in keep], dtype=np.int64)


def ensemble_probabilities(models: list[LoadedModel], faces: np.ndarray, tta: str, batch_size: int) -> torch.Tensor:
    """Average of the members' class probabilities (each with its own preprocessing)."""
    tensor = torch.from_numpy(faces)
    total = sum(class_probabilities(m.model, tensor, m.preprocess, batch_size=batch_size, tta=tta) for m in models)
    return total / len(models)


def evaluate(
    models: LoadedModel | list[LoadedModel],
    data: str | Path,
    split: str,
    tta: str = "none",
    batch_size: int = 256,
    corruptions: bool = False,
) -> dict:
    """Metrics of a model (or the ensemble of several) on ``split`` of ``data``."""
    models = models if isinstance(models, list) else [models]
    label_names = models[0].label_names
    if any(m.label_names != label_names for m in models):
        raise ValueError("ensemble members must have the same label_names in the same order")
    dataset = load_split(data, split)
    keep, targets = model_targets(dataset.labels, label_names)
    faces = dataset.images[keep]
    probs = ensemble_probabilities(models, faces, tta, batch_size)
    summary = summarize(confusion_matrix(targets, probs.argmax(1).numpy(), len(label_names)), label_names)
    result = {
        "split": split,
        "tta": tta,
        "architecture": "+".join(m.architecture for m in models),
        "members": [str(m.folder) for m in models] if len(models) > 1 else None,
        "data": str(data),
        **summary,
    }
    if corruptions:
        result["corruptions"] = {}
        for name, corrupt in CORRUPTIONS.items():
            damaged = ensemble_probabilities(models, corrupt(faces), tta, batch_size)
            result["corruptions"][name] = float((damaged.argmax(1).numpy() == targets).mean())
    return result


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    configure_backends(device)
    models = [load_model(ref, revision=args.revision) for ref in args.checkpoints]
    for loaded in models:
        loaded.model.to(device)
    single_folder = len(models) == 1 and Path(args.checkpoints[0]).is_dir()
    out = writable_folder(args.out or (models[0].folder if single_folder else "eval"))
    result = evaluate(models, args.data, args.split, args.tta, args.batch_size, args.corruptions)
    stem = f"eval_{args.split}{TTA_SUFFIX[args.tta]}{'_ensemble' if len(models) > 1 else ''}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    tta_words = f" + {args.tta} TTA" if args.tta != "none" else ""
    what = f"{args.split}{tta_words}{f', ensemble of {len(models)}' if len(models) > 1 else ''}"
    plot_confusion(
        result["confusion_matrix"],
        models[0].label_names,
        out / f"{stem}_confusion.png",
        title=f"{what}: accuracy {result['accuracy']:.4f}",
    )
    print(classification_report(result), end="")
    for name, accuracy in result.get("corruptions", {}).items():
        print(f"  under {name:<22} accuracy {accuracy:.4f}")
    print(
        f"{what}: accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
        f"({result['count']} images) -> {out / (stem + '.json')}"
    )
    return result


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, CheckpointError, HubError) as exc:
        sys.exit(f"error: {exc}")
