"""Export a checkpoint to ONNX, for onnxruntime on servers, in browsers and on phones.

    python -m train.export checkpoints/fernet_s                     # model.onnx beside the weights
    python -m train.export checkpoints/fernet_s --data ../shared/data/fer2013.zip          # + parity
    python -m train.export checkpoints/fernet_s --data ../shared/data/fer2013.zip --int8   # + int8

``model.onnx`` takes ``faces`` (N x C x H x W float32: pixels scaled to 0..1, then
(x - mean) / std) and returns ``logits`` (N x classes), with a dynamic batch. Its metadata
holds the preprocessing constants and the label names, so it is usable without this
project. With ``--data`` the export is checked on the whole validation split: the largest
difference from the torch logits and both accuracies go to ``export.json``. ``--int8`` adds
a statically quantised copy (QDQ, per-channel weights, calibrated on training faces) as
``model_int8.onnx``, kept only if it costs at most 0.3 points of validation accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from fer.model.checkpoint import CheckpointError, LoadedModel, load_checkpoint
from fer.model.onnx_classifier import INT8_FILE, ONNX_FILE, REPORT_FILE
from fer.model.onnx_export import OPSET, export_onnx, onnx_metadata_of
from fer.model.onnx_sessions import session_options
from fer.model.transforms import to_model_input
from fer.utils.atomic import atomic_write
from fer.utils.device import configure_backends, contiguous_copy
from train.data import load_split, subsample
from train.evaluate import model_targets

INT8_MAX_LOSS = 0.003  # the validation accuracy int8 may cost (a fraction) and still be kept
# Training faces, stratified, that set the int8 activation ranges: MinMax over more faces widens
# the ranges, which these models like; 8,192 cost the least accuracy (docs/benchmarks.md, int8).
CALIBRATION_FACES = 8192


def model_inputs(loaded: LoadedModel, faces: np.ndarray) -> np.ndarray:
    """uint8 faces (N x H x W) -> the float array the .onnx takes."""
    return to_model_input(torch.from_numpy(faces), loaded.preprocess).numpy()


def onnx_logits(path: Path, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    chunks = range(0, len(inputs), batch_size)
    return np.concatenate([session.run(None, {"faces": inputs[i : i + batch_size]})[0] for i in chunks])


def torch_logits(loaded: LoadedModel, inputs: np.ndarray, batch_size: int = 512) -> np.ndarray:
    model = contiguous_copy(loaded.model).float().eval()
    with torch.inference_mode():
        chunks = range(0, len(inputs), batch_size)
        return np.concatenate([model(torch.from_numpy(inputs[i : i + batch_size])).numpy() for i in chunks])


class _Calibration:
    """onnxruntime's CalibrationDataReader protocol over a fixed array of inputs."""

    def __init__(self, inputs: np.ndarray, batch_size: int = 64):
        self.batches = iter([{"faces": inputs[i : i + batch_size]} for i in range(0, len(inputs), batch_size)])

    def get_next(self) -> dict | None:
        return next(self.batches, None)


def quantize_int8(source: Path, target: Path, calibration: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel weights), the form onnxruntime runs fastest on x86."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared))
        quantized = Path(scratch) / "int8.onnx"
        quantize_static(
            str(prepared),
            str(quantized),
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
        proto = onnx.load(str(quantized))
    onnx.helper.set_model_props(proto, {**onnx_metadata_of(source), "quantization": "int8 static QDQ"})
    atomic_write(target, lambda tmp: onnx.save(proto, tmp))


def accuracy(logits: np.ndarray, targets: np.ndarray) -> float:
    return float((logits.argmax(1) == targets).mean())


def export(folder: str | Path, data: str | Path | None = None, int8: bool = False) -> dict:
    """Export ``folder``'s checkpoint; with ``data``, check it (and decide on int8) on validation."""
    if int8 and data is None:
        raise ValueError("--int8 needs --data: training faces calibrate it, validation faces decide whether it is kept")
    folder = Path(folder)
    loaded = load_checkpoint(folder)
    onnx_path = export_onnx(loaded, folder / ONNX_FILE)
    report: dict = {"onnx": ONNX_FILE, "opset": OPSET, "onnxruntime": ort.__version__}
    report["bytes"] = onnx_path.stat().st_size
    if data is not None:
        validation = load_split(data, "validation", progress=False)
        keep, targets = model_targets(validation.labels, loaded.label_names)
        inputs = model_inputs(loaded, validation.images[keep])
        reference, exported = torch_logits(loaded, inputs), onnx_logits(onnx_path, inputs)
        report["validation"] = {
            "images": len(targets),
            "torch_accuracy": accuracy(reference, targets),
            "onnx_accuracy": accuracy(exported, targets),
            "max_abs_logit_difference": float(np.abs(reference - exported).max()),
        }
    if int8:
        calibration = subsample(load_split(data, "train", progress=False), CALIBRATION_FACES).images
        int8_path = folder / INT8_FILE
        quantize_int8(onnx_path, int8_path, model_inputs(loaded, calibration))
        report["int8"] = keep_int8_if_accurate(int8_path, inputs, targets, report["validation"]["onnx_accuracy"])
        report["int8"]["calibration_faces"] = len(calibration)
    (folder / REPORT_FILE).write_text(json.dumps(report, indent=2))
    return report


def keep_int8_if_accurate(int8_path: Path, inputs: np.ndarray, targets: np.ndarray, fp32_accuracy: float) -> dict:
    """Measure the int8 model on validation; delete it if it costs more than INT8_MAX_LOSS."""
    int8_accuracy = accuracy(onnx_logits(int8_path, inputs), targets)
    kept = fp32_accuracy - int8_accuracy <= INT8_MAX_LOSS
    result = {
        "accuracy": int8_accuracy,
        "accuracy_change": int8_accuracy - fp32_accuracy,
        "kept": kept,
        "bytes": int8_path.stat().st_size,
    }
    if not kept:
        int8_path.unlink()
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.export", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="a checkpoint folder (config.json + model.safetensors)")
    p.add_argument("--data", default=None, help="FER2013 zip/folder: check the export on its validation split")
    p.add_argument("--int8", action="store_true", help="also write model_int8.onnx if it costs <= 0.3 points")
    args = p.parse_args(argv)
    configure_backends(torch.device("cpu"))  # the export and its checks run on the CPU
    try:
        report = export(args.checkpoint, args.data, args.int8)
    except (ValueError, CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
