"""When to call a prediction uncertain: a top-1 confidence threshold chosen on validation.

A softmax score is not a probability of being right, so the app does not guess where
"uncertain" starts: ``python -m train.calibrate`` measures, on the validation split and
with the classifier as served, how often the model is right at each confidence, and
writes the threshold below which it is right less than half the time to
``uncertainty.json`` beside the weights. The app marks faces below it as uncertain and
states the figures.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

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


def read_uncertainty(folder: Path) -> dict | None:
    """The checkpoint's measured threshold and figures, or None if it was never calibrated."""
    path = folder / UNCERTAINTY_FILE
    return json.loads(path.read_text()) if path.is_file() else None
