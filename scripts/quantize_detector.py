"""Build the int8 CenterFace the app detects with: ``fer/pipeline/centerface_int8.onnx``.

    python scripts/quantize_detector.py --data ../shared/data/fer2013.zip

The detector's float32 convolutions are 95% of a photo's time; static int8 quantisation
(onnxruntime, QDQ, per-channel weights; the four output heads kept in float32 for the
landmarks' precision) makes them about 1.4x faster. What it is calibrated on
decides whether small faces survive: min-max ranges lost 8-25% of the 64 px faces, and the
five example photos alone lost 5-9% of the 48-64 px ones, so the ranges are the 99.99th
percentiles over the examples and scenes of real FER2013 training faces pasted at 40-200 px
on plain backgrounds. The graph built takes uint8 pixels as they are (``read_pixels``) and does
its additions in float32 (``float_adds``), so the browser's onnxruntime-web computes what the
server's onnxruntime does, to the bit. ``scripts/bench_app.py`` measures the result against
float32, ``scripts/bench_detector_file.py`` against the file it replaces.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.pipeline.faces import INT8_GRAPH, OUTPUTS, PIXELS_INPUT, centerface_graph  # noqa: E402
from train.data import load_split, subsample  # noqa: E402

if TYPE_CHECKING:
    import onnx

SCENE = (640, 480)
# The example photos calibrated on, named rather than globbed: a photo added to examples/
# later would change the ranges, and the landmarks with them (the tilted astronaut's aligned
# crop matched its upright one at 0.92 instead of 0.97 with all seven photos).
CALIBRATION_PHOTOS = ("four_faces.jpg", "no_face.jpg", "older_face.jpg", "one_face.jpg", "tilted_face.jpg")


def calibration_scenes(data: str, faces: int = 48, seed: int = 1) -> list[np.ndarray]:
    """The calibration photos and scenes of two training faces each, all 640x480 RGB."""
    rng = np.random.default_rng(seed)
    scenes = []
    for name in CALIBRATION_PHOTOS:
        photo = Image.open(ROOT / "examples" / name).convert("RGB")
        photo.thumbnail(SCENE)
        canvas = Image.new("RGB", SCENE, "white")
        canvas.paste(photo, (0, 0))
        scenes.append(np.asarray(canvas))
    images = subsample(load_split(data, "train", progress=False), faces, seed=seed).images
    for pair in range(0, len(images), 2):
        scene = Image.new("RGB", SCENE, tuple(int(v) for v in rng.integers(30, 220, 3)))
        for face in images[pair : pair + 2]:
            side = int(rng.integers(40, 200))
            corner = int(rng.integers(0, SCENE[0] - side)), int(rng.integers(0, SCENE[1] - side))
            scene.paste(Image.fromarray(face).resize((side, side), Image.BICUBIC).convert("RGB"), corner)
        scenes.append(np.asarray(scene))
    return scenes


def quantize(scenes: list[np.ndarray], dest: Path) -> Path:
    """CenterFace's graph at opset 13 (per-channel quantisation needs it), quantised on ``scenes``."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Scenes(CalibrationDataReader):
        def __init__(self) -> None:
            self.blobs = iter([{"input.1": scene.transpose(2, 0, 1)[None].astype(np.float32)} for scene in scenes])

        def get_next(self) -> dict | None:
            return next(self.blobs, None)

    with tempfile.TemporaryDirectory() as tmp:
        opset13, prepared = Path(tmp) / "opset13.onnx", Path(tmp) / "prepared.onnx"
        onnx.save(version_converter.convert_version(onnx.load_from_string(centerface_graph()), 13), opset13)
        quant_pre_process(str(opset13), str(prepared), skip_symbolic_shape=True)
        heads = output_heads(prepared)
        quantize_static(
            str(prepared),
            str(dest),
            Scenes(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.Percentile,
            extra_options={"CalibPercentile": 99.99},
            nodes_to_exclude=heads,
        )
    onnx.save(float_adds(read_pixels(onnx.load(str(dest)))), str(dest))
    return dest


def output_heads(graph_path: Path) -> list[str]:
    """Name every node of the graph (in place) and return those of the output heads: their
    merged convolution, the Split into the four outputs and the heatmap's Sigmoid.

    The heads stay float32: quantised, the landmarks moved enough to tilt the aligned crop
    (the astronaut turned 15 degrees matched its upright crop at 0.93 instead of 0.995), for
    1.6 ms saved out of 14.
    """
    import onnx

    model = onnx.load(str(graph_path))
    for index, node in enumerate(model.graph.node):
        node.name = node.name or f"node_{index}"
    onnx.save(model, str(graph_path))
    producer = {output: node for node in model.graph.node for output in node.output}
    sigmoid, split = producer[OUTPUTS[0]], producer[OUTPUTS[1]]
    return [sigmoid.name, split.name, producer[split.input[0]].name]


def read_pixels(model: onnx.ModelProto) -> onnx.ModelProto:
    """The quantised graph, made to take uint8 pixels (B x H x W x 3) instead of float32 ones
    (B x 3 x H x W): its first node quantised the float pixels to uint8 at a calibrated scale
    of about 1 (0.9995), so that node goes and its dequantisation reads the pixels themselves at
    scale 1. A transpose to channels-first cancels against onnxruntime's own to channels-last.
    Scale 1 is exact for uint8 pixels, whatever the calibration found.
    Saves the caller's cast and transpose and the graph's quantisation: 1.2 ms of 15."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    float_input = graph.input[0].name
    [quantise] = [node for node in graph.node if node.op_type == "QuantizeLinear" and node.input[0] == float_input]
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(1.0, np.float32), "pixels_scale"),
            numpy_helper.from_array(np.array(0, np.uint8), "pixels_zero_point"),
        ]
    )
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] == quantise.output[0]:
            node.input[:] = ["pixels_channels_first", "pixels_scale", "pixels_zero_point"]
    graph.node.remove(quantise)
    graph.node.insert(0, helper.make_node("Transpose", [PIXELS_INPUT], ["pixels_channels_first"], perm=[0, 3, 1, 2]))
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info(PIXELS_INPUT, TensorProto.UINT8, ["B", "H", "W", 3]))
    return model


def float_adds(model: onnx.ModelProto) -> onnx.ModelProto:
    """The quantised graph with its Adds (residuals and the neck's merges) written as two-input Sums.

    onnxruntime fuses dequantise -> Add -> quantise into one QLinearAdd, and its x86 kernel rounds
    a few outputs (2 in 150,000 on a 640x480 photo) one step away from its WebAssembly kernel; later
    layers grow the step until the browser's boxes move by pixels. It fuses no Sum, so both add in
    float32 and quantise alike, and the browser's outputs equal the server's bit for bit
    (tests/test_web.py). The convolutions, which are the time, stay fused.
    """
    for node in model.graph.node:
        if node.op_type == "Add":
            node.op_type = "Sum"
    return model


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="../shared/data/fer2013.zip", help="FER2013 archive (its train split)")
    p.add_argument("--out", default=str(INT8_GRAPH), help="where to write the int8 graph")
    args = p.parse_args(argv)
    try:
        scenes = calibration_scenes(args.data)
    except (FileNotFoundError, ValueError) as exc:  # load_split's one sentence for a missing or odd archive
        sys.exit(f"error: {exc}")
    dest = quantize(scenes, Path(args.out))
    print(f"calibrated on {len(scenes)} scenes -> {dest} ({dest.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
