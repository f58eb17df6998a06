"""The classifier in onnxruntime: how the app serves a checkpoint that has an ONNX export.

``python -m train.export`` writes ``model.onnx`` beside a checkpoint's weights, and
``model_int8.onnx`` when int8 costs at most 0.3 points of validation accuracy (its
``export.json`` says so). Served this way a face costs a fraction of torch's time
(bench/app.json, ratio_classifier_torch_vs_served), with the same numbers as torch up to
rounding. This module needs numpy and onnxruntime only; every file is checked against the checkpoint's
contract (labels, input size, class count) before it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from fer.model.checkpoint_info import CONFIG_FILE, WEIGHTS_FILE

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
REPORT_FILE = "export.json"


class OnnxModelError(ValueError):
    """An ONNX file that breaks the checkpoint's contract; the message is one sentence."""


@dataclass
class OnnxClassifier:
    session: ort.InferenceSession
    path: Path
    mean: np.ndarray  # per channel, shaped to broadcast over N x C x H x W
    std: np.ndarray
    size: int
    validation_accuracy: float | None  # as measured by ``train.export``, when it was given --data

    @property
    def precision(self) -> str:
        return "int8" if self.path.name == INT8_FILE else "fp32"

    def probabilities(self, faces: np.ndarray, flip: bool = False) -> np.ndarray:
        """uint8 faces (N x size x size) -> softmax probabilities (N x C), float32.

        The same arithmetic as ``fer.model.transforms.to_model_input`` then softmax, so the
        numbers match the torch path; ``flip`` averages with the mirrored faces.
        """
        x = (faces[:, None].astype(np.float32) / 255.0 - self.mean) / self.std
        views = [x, x[..., ::-1]] if flip else [x]
        return sum(_softmax(self.session.run(None, {"faces": np.ascontiguousarray(v)})[0]) for v in views) / len(views)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def preferred_onnx_file(folder: Path) -> Path | None:
    """``model_int8.onnx`` when its export kept it, else ``model.onnx``, else None."""
    report = folder / REPORT_FILE
    kept_int8 = report.is_file() and json.loads(report.read_text()).get("int8", {}).get("kept", False)
    if kept_int8 and (folder / INT8_FILE).is_file():
        return folder / INT8_FILE
    return folder / ONNX_FILE if (folder / ONNX_FILE).is_file() else None


def exported_copy_path(folder: Path) -> Path:
    """Where the app keeps the export it made on first load of a checkpoint that ships none.

    Outside the checkpoint (which may be read-only, or the Hub's cache), keyed by the
    checkpoint's content so that new weights are never served from an old export:
    ``$FER_ONNX_CACHE`` or ``~/.cache/fer/onnx``, then a digest of config and weights.
    """
    digest = hashlib.sha256()
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        digest.update((folder / name).read_bytes())
    default_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fer" / "onnx"
    return Path(os.environ.get("FER_ONNX_CACHE", default_root)) / digest.hexdigest()[:20] / ONNX_FILE


def load_onnx_classifier(
    path: Path, label_names: list[str], size: int, mean: tuple[float, ...], std: tuple[float, ...], threads: int = 1
) -> OnnxClassifier:
    """Open ``path`` and check it against what the checkpoint promises; OnnxModelError if not.

    One thread by default: a few faces take under a millisecond, and a pool's threads
    spin-waiting after each run take the cores from the face detector (docs/benchmarks.md).
    """
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own, unexported error types
        raise OnnxModelError(f"{path.name} is not a usable ONNX model ({type(exc).__name__})") from exc
    inputs, outputs = session.get_inputs(), session.get_outputs()
    expected = [len(mean), size, size]
    if len(inputs) != 1 or inputs[0].name != "faces" or list(inputs[0].shape[1:]) != expected:
        got = [(i.name, i.shape) for i in inputs]
        raise OnnxModelError(f"{path.name} takes {got}, not one input 'faces' of N x {' x '.join(map(str, expected))}")
    classes = outputs[0].shape[-1]
    if len(outputs) != 1 or classes != len(label_names):
        raise OnnxModelError(f"{path.name} gives {classes} classes, not the checkpoint's {len(label_names)}")
    stored_labels = session.get_modelmeta().custom_metadata_map.get("label_names")
    if stored_labels is not None and json.loads(stored_labels) != list(label_names):
        raise OnnxModelError(f"{path.name} was exported with other labels than the checkpoint's")
    shape = (1, len(mean), 1, 1)
    mean_array, std_array = np.asarray(mean, np.float32).reshape(shape), np.asarray(std, np.float32).reshape(shape)
    return OnnxClassifier(session, path, mean_array, std_array, size, _measured_accuracy(path))


def _measured_accuracy(path: Path) -> float | None:
    report_path = path.parent / REPORT_FILE
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    if path.name == INT8_FILE:
        return report.get("int8", {}).get("accuracy")
    return report.get("validation", {}).get("onnx_accuracy")
