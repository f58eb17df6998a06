"""Evaluate a checkpoint on a split: metrics JSON, text report and confusion matrix.

    python -m train.evaluate runs/exp1 --data ../shared/data/fer2013.zip --split validation
    python -m train.evaluate runs/exp1 --data ... --tta            # + horizontal-flip TTA

Uses the same forward path as the trainer's validation (``fer.inference``), so it
reproduces the accuracy logged for the saved epoch exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from fer.checkpoint import CheckpointError, LoadedModel
from fer.data import SPLITS, load_split
from fer.hub import HubError
from fer.inference import class_probabilities
from fer.labels import class_index
from fer.metrics import classification_report, confusion_matrix, summarize
from fer.plots import plot_confusion
from fer.predict import load_model


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="checkpoint folder, or hf-hub:user/repo")
    p.add_argument("--revision", default=None, help="Hub branch, tag or commit (with a Hub id)")
    p.add_argument("--data", required=True, help="folder, .zip (Kaggle layout) or fer2013.csv")
    p.add_argument("--split", default="validation", choices=SPLITS)
    p.add_argument("--tta", action="store_true", help="average with the horizontally flipped face")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument(
        "--out", default=None, help="folder for eval_<split>.json and confusion PNG (default: the checkpoint)"
    )
    p.add_argument("--device", default="auto")
    return p


def evaluate(loaded: LoadedModel, data: str | Path, split: str, tta: bool = False, batch_size: int = 256) -> dict:
    """Metrics of ``loaded`` on ``split`` of ``data``, in the model's own label order."""
    dataset = load_split(data, split)
    # Data labels are canonical FER indices; a fine-tuned model may order (or subset) its
    # classes differently, so map each image's class to the model's index.
    model_index = {}
    for i, name in enumerate(loaded.label_names):
        try:
            model_index[class_index(name)] = i
        except ValueError:
            continue
    keep = [i for i, label in enumerate(dataset.labels) if int(label) in model_index]
    targets = [model_index[int(dataset.labels[i])] for i in keep]
    faces = torch.from_numpy(dataset.images[keep])
    probs = class_probabilities(loaded.model, faces, loaded.preprocess, batch_size=batch_size, flip_tta=tta)
    matrix = confusion_matrix(targets, probs.argmax(1).numpy(), len(loaded.label_names))
    summary = summarize(matrix, loaded.label_names)
    return {"split": split, "tta": tta, "architecture": loaded.architecture, "data": str(data), **summary}


def main(argv: list[str] | None = None) -> dict:
    args = build_parser().parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    loaded = load_model(args.checkpoint, revision=args.revision)
    loaded.model.to(device)
    result = evaluate(loaded, args.data, args.split, tta=args.tta, batch_size=args.batch_size)
    out = Path(args.out or loaded.folder if Path(args.checkpoint).is_dir() or args.out else "eval")
    out.mkdir(parents=True, exist_ok=True)
    stem = f"eval_{args.split}{'_tta' if args.tta else ''}"
    (out / f"{stem}.json").write_text(json.dumps(result, indent=2))
    plot_confusion(
        result["confusion_matrix"],
        loaded.label_names,
        out / f"{stem}_confusion.png",
        title=f"{args.split}{' + flip TTA' if args.tta else ''}: accuracy {result['accuracy']:.4f}",
    )
    print(classification_report(result), end="")
    print(
        f"{args.split} accuracy {result['accuracy']:.4f}  macro-F1 {result['macro_f1']:.4f}  "
        f"({result['count']} images{', flip TTA' if args.tta else ''}) -> {out / (stem + '.json')}"
    )
    return result


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, CheckpointError, HubError) as exc:
        sys.exit(f"error: {exc}")
