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
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from fer.model.checkpoint_files import (
    MAX_JSON_BYTES,
    MAX_ONNX_BYTES,
    MAX_WEIGHTS_BYTES,
    CheckpointError,
    checked_file,
    is_fraction,
    read_json,
)
from fer.model.checkpoint_info import CONFIG_FILE, WEIGHTS_FILE
from fer.model.onnx_check import UnsafeGraphError, check_graph
from fer.model.onnx_sessions import session_options

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
REPORT_FILE = "export.json"
# A call of the classifier takes milliseconds; one that runs past this is stopped and refused,
# so a graph cannot hold a model slot. Loading runs a probe batch under the same limit.
CALL_LIMIT_S = float(os.environ.get("FER_MODEL_CALL_LIMIT_S", "10"))


class OnnxModelError(CheckpointError):
    """An ONNX file that breaks the checkpoint's contract, or a call of it that failed or ran too
    long; the message is one sentence, shown where any refusal of the model is."""


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
        return sum(_softmax(run_within(self.session, np.ascontiguousarray(v))) for v in views) / len(views)


def run_within(session: ort.InferenceSession, faces: np.ndarray, limit_s: float | None = None) -> np.ndarray:
    """The session's logits for ``faces``; OnnxModelError if the run takes longer than the limit
    (onnxruntime stops it between operators when told to terminate)."""
    options, limit_s = ort.RunOptions(), CALL_LIMIT_S if limit_s is None else limit_s
    key = _WATCHDOG.watch(options, limit_s)
    try:
        return session.run(None, {"faces": faces}, options)[0]
    except Exception as exc:  # onnxruntime raises its own, unexported error types
        if options.terminate:
            raise OnnxModelError(f"the model took over {limit_s:g} s for one call and was stopped") from exc
        raise OnnxModelError(f"the model failed on these faces ({type(exc).__name__})") from exc
    finally:
        _WATCHDOG.release(key)


class _Watchdog:
    """One thread for every call, waking a few times a second to stop runs past their deadline:
    a timer thread per call would cost more than the call itself."""

    TICK_S = 0.25

    def __init__(self) -> None:
        self._runs: dict[int, tuple[float, ort.RunOptions]] = {}
        self._lock = threading.Lock()
        self._keys = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, options: ort.RunOptions, limit_s: float) -> int:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="onnx-watchdog", daemon=True)
                self._thread.start()
            key = next(self._keys)
            self._runs[key] = (time.monotonic() + limit_s, options)
            return key

    def release(self, key: int) -> None:
        with self._lock:
            self._runs.pop(key, None)

    def _loop(self) -> None:
        while True:
            time.sleep(self.TICK_S)
            now = time.monotonic()
            with self._lock:
                for deadline, options in self._runs.values():
                    if deadline < now:
                        options.terminate = True


_WATCHDOG = _Watchdog()


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (shifted / shifted.sum(axis=1, keepdims=True)).astype(np.float32)


def export_report(folder: Path) -> dict:
    """The checkpoint's ``export.json`` (empty if none); CheckpointError if it is unusable."""
    report = read_json(folder, REPORT_FILE)
    if report is None:
        return {}
    if not isinstance(report, dict) or not all(isinstance(report.get(k, {}), dict) for k in ("int8", "validation")):
        raise CheckpointError(f"{REPORT_FILE} must hold a JSON object with int8 and validation objects")
    return report


def preferred_onnx_file(folder: Path) -> Path | None:
    """``model_int8.onnx`` when its export kept it, else ``model.onnx``, else None; each checked
    to lie inside the checkpoint and within the size cap (CheckpointError if not)."""
    int8 = checked_file(folder, INT8_FILE, MAX_ONNX_BYTES)
    if int8 and export_report(folder).get("int8", {}).get("kept") is True:
        return int8
    return checked_file(folder, ONNX_FILE, MAX_ONNX_BYTES)


def exported_copy_path(folder: Path) -> Path:
    """Where the app keeps the export it made on first load of a checkpoint that ships none.

    Outside the checkpoint (which may be read-only, or the Hub's cache), keyed by the
    checkpoint's content so that new weights are never served from an old export:
    ``$FER_ONNX_CACHE`` or ``~/.cache/fer/onnx``, then a digest of config and weights.
    """
    digest = hashlib.sha256()
    for name, cap in ((CONFIG_FILE, MAX_JSON_BYTES), (WEIGHTS_FILE, MAX_WEIGHTS_BYTES)):
        path = checked_file(folder, name, cap)
        if path is None:
            raise CheckpointError(f"there is no {name} to export")
        digest.update(path.read_bytes())
    default_root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fer" / "onnx"
    return Path(os.environ.get("FER_ONNX_CACHE", default_root)) / digest.hexdigest()[:20] / ONNX_FILE


def load_onnx_classifier(
    path: Path, label_names: list[str], size: int, mean: tuple[float, ...], std: tuple[float, ...], threads: int = 1
) -> OnnxClassifier:
    """Open ``path`` and check it against what the checkpoint promises; OnnxModelError if not.

    One thread by default: a few faces take under a millisecond, and a pool's threads
    spin-waiting after each run take the cores from the face detector (docs/benchmarks.md).
    """
    options = session_options(threads)
    if path.stat().st_size > MAX_ONNX_BYTES:
        raise OnnxModelError(f"{path.name} is over the {MAX_ONNX_BYTES // 2**20} MB an ONNX file may be")
    data = path.read_bytes()
    try:
        check_graph(data)
    except UnsafeGraphError as exc:
        raise OnnxModelError(f"{path.name} is not a usable ONNX model ({exc})") from exc
    try:  # from bytes: onnxruntime opens no other file on the graph's behalf
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
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
    if stored_labels is not None and _parsed(stored_labels) != list(label_names):
        raise OnnxModelError(f"{path.name} was exported with other labels than the checkpoint's")
    _probe(session, path, len(mean), size, len(label_names))
    shape = (1, len(mean), 1, 1)
    mean_array, std_array = np.asarray(mean, np.float32).reshape(shape), np.asarray(std, np.float32).reshape(shape)
    return OnnxClassifier(session, path, mean_array, std_array, size, _measured_accuracy(path))


def _parsed(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _probe(session: ort.InferenceSession, path: Path, channels: int, size: int, classes: int) -> None:
    """Two blank faces through the graph, under the call limit like every call: the output must be
    finite logits of the right shape."""
    logits = run_within(session, np.zeros((2, channels, size, size), np.float32))
    if logits.shape != (2, classes) or not np.isfinite(logits).all():
        raise OnnxModelError(f"{path.name} does not give {classes} finite scores per face")


def _measured_accuracy(path: Path) -> float | None:
    try:
        report = export_report(path.parent)
    except CheckpointError:
        return None  # the accuracy as served is an optional figure: left out with its file
    figure = (
        report.get("int8", {}).get("accuracy")
        if path.name == INT8_FILE
        else report.get("validation", {}).get("onnx_accuracy")
    )
    return figure if is_fraction(figure) else None
