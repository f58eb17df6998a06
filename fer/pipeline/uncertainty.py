"""When to call a prediction uncertain: a top-1 confidence threshold chosen on validation.

A softmax score is not a probability of being right, so the app does not guess where
"uncertain" starts: ``python -m train.calibrate`` measures, on the validation split and
with the classifier as served, how often the model is right at each confidence, and
writes the threshold below which it is right less than half the time to
``uncertainty.json`` beside the weights. The app marks faces below it as uncertain and
states the figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.model.checkpoint_files import CheckpointError, is_fraction, read_json

UNCERTAINTY_FILE = "uncertainty.json"
BIN_WIDTH = 0.05
MIN_ACCURACY = 0.5  # a prediction right less often than this is shown as uncertain


def choose_threshold(confidence: np.ndarray, correct: np.ndarray) -> dict:
    """The lowest confidence from which every ``BIN_WIDTH`` bin is right at least ``MIN_ACCURACY``.

    Bins hold at least 20 faces (sparser ones are merged upwards), so a handful of
    faces cannot move the threshold. Returns it with the figures the page states.
    """
    edges = np.arange(0.0, 1.0 + BIN_WIDTH, BIN_WIDTH)
    threshold = 1.0
    for lo in edges[::-1]:
        in_bin = (confidence >= lo) & (confidence < threshold)
        if in_bin.sum() < 20:
            continue
        if correct[in_bin].mean() < MIN_ACCURACY:
            break
        threshold = float(lo)
    below = confidence < threshold
    return {
        "threshold": round(threshold, 4),
        "faces": int(len(confidence)),
        "fraction_below": float(below.mean()),
        "accuracy_below": float(correct[below].mean()) if below.any() else None,
        "accuracy_at_or_above": float(correct[~below].mean()) if (~below).any() else None,
    }


def check_uncertainty(figures: object) -> dict:
    """``figures`` if the app can state them: a threshold strictly between 0 and 1 (at 0 nothing
    would ever be uncertain) and the accuracies below and above it; CheckpointError if not."""
    if not isinstance(figures, dict):
        raise CheckpointError(f"{UNCERTAINTY_FILE} must hold a JSON object")
    threshold = figures.get("threshold")
    if not (is_fraction(threshold) and 0 < threshold < 1):
        raise CheckpointError(f"{UNCERTAINTY_FILE}: threshold must be a number between 0 and 1")
    for key in ("accuracy_below", "accuracy_at_or_above"):
        if not is_fraction(figures.get(key)):
            raise CheckpointError(f"{UNCERTAINTY_FILE}: {key} must be a number from 0 to 1")
    return figures


def read_uncertainty(folder: Path) -> dict | None:
    """The checkpoint's measured threshold and figures, or None if it was never calibrated;
    CheckpointError if its file is unusable."""
    figures = read_json(folder, UNCERTAINTY_FILE)
    return None if figures is None else check_uncertainty(figures)
