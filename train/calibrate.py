"""Choose the app's "uncertain" threshold for a checkpoint, on the validation split.

    python -m train.calibrate checkpoints/fernet_s --data ../shared/data/fer2013.zip

Classifies every validation face with the classifier the app serves (onnxruntime when the
checkpoint has an export) and writes ``uncertainty.json`` (see ``fer.pipeline.uncertainty``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fer.model.checkpoint_info import CheckpointError
from fer.pipeline.predict import Predictor
from fer.pipeline.uncertainty import UNCERTAINTY_FILE, check_uncertainty, choose_threshold
from train.data import load_split
from train.evaluate import model_targets


def calibrate(folder: str | Path, data: str | Path) -> dict:
    """Measure the threshold and write it; CheckpointError (and no file) when there is none to
    state, as when the model is right more often than not at every confidence."""
    predictor = Predictor(Path(folder))
    validation = load_split(data, "validation", progress=False)
    keep, targets = model_targets(validation.labels, predictor.label_names)
    probabilities = predictor.classify(validation.images[keep])
    result = {
        **choose_threshold(probabilities.max(axis=1), probabilities.argmax(axis=1) == targets),
        "split": "validation",
        "served_with": predictor.serving,
    }
    path = Path(folder) / UNCERTAINTY_FILE
    try:
        check_uncertainty(result)  # only what the app's reader accepts is written
    except CheckpointError as exc:
        path.unlink(missing_ok=True)  # a stale threshold must not outlive the model it was measured for
        raise CheckpointError(f"no uncertainty threshold written: {exc}") from exc
    path.write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.calibrate", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint folder")
    p.add_argument("--data", required=True, help="FER2013 zip/folder (its validation split is used)")
    args = p.parse_args(argv)
    try:
        result = calibrate(args.checkpoint, args.data)
    except (CheckpointError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
