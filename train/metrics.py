"""Classification metrics from a confusion matrix: one source of truth for every number.

Everything (accuracy, per-class precision / recall / F1, macro-F1, the text report) is
derived from the confusion matrix, so numbers computed on several processes can be
summed as matrices first and agree exactly with a single-process run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(
    targets: Sequence[int] | np.ndarray, preds: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Rows are true classes, columns predicted classes."""
    targets, preds = np.asarray(targets, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    if targets.shape != preds.shape:
        raise ValueError(f"targets {targets.shape} and predictions {preds.shape} differ in shape")
    flat = targets * num_classes + preds
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den with 0 where den is 0 (a class never predicted has precision 0, as in sklearn)."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)


def summarize(matrix: np.ndarray, class_names: Sequence[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support from a confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.int64)
    true_pos = np.diag(matrix).astype(np.float64)
    support = matrix.sum(axis=1)
    predicted = matrix.sum(axis=0)
    precision = _safe_divide(true_pos, predicted.astype(np.float64))
    recall = _safe_divide(true_pos, support.astype(np.float64))
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    total = int(matrix.sum())
    return {
        "accuracy": float(true_pos.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "count": total,
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(class_names)
        },
        "confusion_matrix": matrix.tolist(),
    }


def classification_report(summary: dict) -> str:
    """A fixed-width text table, like sklearn's, from ``summarize``'s output."""
    names = list(summary["per_class"])
    width = max(12, *(len(n) for n in names))
    lines = [f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>9}", ""]
    for name in names:
        c = summary["per_class"][name]
        lines.append(f"{name:>{width}} {c['precision']:9.4f} {c['recall']:9.4f} {c['f1']:9.4f} {c['support']:9d}")
    lines += [
        "",
        f"{'accuracy':>{width}} {'':>9} {'':>9} {summary['accuracy']:9.4f} {summary['count']:9d}",
        f"{'macro f1':>{width}} {'':>9} {'':>9} {summary['macro_f1']:9.4f} {summary['count']:9d}",
    ]
    return "\n".join(lines) + "\n"
