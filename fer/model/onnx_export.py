"""A checkpoint's torch network as an ONNX file: the one export every caller shares.

``python -m train.export`` writes it beside the weights and checks it on validation; the
app writes it on first load for a checkpoint that has none (``fer.pipeline.predict``), so that
the next start serves it with onnxruntime alone. The file takes ``faces`` (N x C x H x W
float32: pixels scaled to 0..1, then (x - mean) / std) and returns ``logits``, with a
dynamic batch; its metadata holds the labels and the preprocessing constants.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from fer.model.checkpoint import LoadedModel
from fer.model.onnx_sessions import session_options
from fer.utils.atomic import atomic_write
from fer.utils.device import contiguous_copy

OPSET = 18
INPUT_DESCRIPTION = "faces: N x C x H x W float32, pixels scaled to 0..1 then (x - mean) / std"
PARITY_TOLERANCE = 1e-3  # largest logit difference from torch accepted for an export made on first load


def onnx_metadata(loaded: LoadedModel) -> dict[str, str]:
    """What a user of the .onnx alone needs to feed it and read it (ONNX metadata is text)."""
    pre = loaded.preprocess
    return {
        "architecture": loaded.architecture,
        "label_names": json.dumps(loaded.label_names),
        "input_size": json.dumps([len(pre.mean), pre.size, pre.size]),
        "mean": json.dumps(list(pre.mean)),
        "std": json.dumps(list(pre.std)),
        "input": INPUT_DESCRIPTION,
        "opset": str(OPSET),
    }


def export_onnx(loaded: LoadedModel, path: Path) -> Path:
    """Write ``loaded``'s network as ONNX (fp32, NCHW, dynamic batch) to ``path``, atomically."""
    model = contiguous_copy(loaded.model).float().eval()
    pre = loaded.preprocess
    example = torch.zeros(2, len(pre.mean), pre.size, pre.size)
    program = torch.onnx.export(
        model,
        (example,),
        input_names=["faces"],
        output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=65536)},),
        opset_version=OPSET,
        dynamo=True,
        verbose=False,
    )
    proto = program.model_proto
    for node in proto.graph.node:
        # The exporter's debugging notes (stack traces, module paths) name files on the
        # machine that exported it: nothing a user of the model needs.
        del node.metadata_props[:]
    onnx.helper.set_model_props(proto, onnx_metadata(loaded))
    atomic_write(path, lambda tmp: onnx.save(proto, tmp))
    return path


def onnx_metadata_of(path: Path) -> dict[str, str]:
    return {prop.key: prop.value for prop in onnx.load(str(path), load_external_data=False).metadata_props}


def export_checked(loaded: LoadedModel, path: Path, faces: int = 16) -> Path:
    """``export_onnx``, then compare with torch on random inputs; delete and raise if they differ.

    For exports nobody reviews (the app's first load): a wrong file is never served.
    """
    export_onnx(loaded, path)
    pre = loaded.preprocess
    inputs = np.random.default_rng(0).standard_normal((faces, len(pre.mean), pre.size, pre.size), dtype=np.float32)
    session = ort.InferenceSession(str(path), session_options(), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        reference = contiguous_copy(loaded.model).float().eval()(torch.from_numpy(inputs)).numpy()
    difference = float(np.abs(session.run(None, {"faces": inputs})[0] - reference).max())
    if difference > PARITY_TOLERANCE:
        path.unlink()
        raise ValueError(f"the ONNX export differs from torch by {difference:.2g} (more than {PARITY_TOLERANCE})")
    return path
