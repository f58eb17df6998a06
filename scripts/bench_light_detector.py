"""A lighter face detector for Live, measured against CenterFace before anyone chooses it.

    python scripts/bench_light_detector.py --out bench/light_detector.json [--faces 400]

Device Live misses the issue's "15 ms of inference a frame" because CenterFace takes about 110 ms
a 320 px frame in WebAssembly here (``bench/web.json``). The candidate is MediaPipe's BlazeFace
short-range model (128x128 input, 0.1M parameters), taken from the ``mediapipe`` wheel at a pinned
version and converted to ONNX with ``tflite2onnx``. Both are timed natively (onnxruntime, one
thread) and in Debian's headless Chromium (onnxruntime-web, one thread, the static page's runtime),
and both are run on FER2013 validation faces pasted at 32-160 px into Live's 320x240 frames: the
share found, the accuracy of the crops found, and how closely BlazeFace's crops match CenterFace's
(its eye points are not CenterFace's, and the crop's framing follows the eyes). The decoding
follows MediaPipe's ``face_detection_short_range`` graph (SSD anchors, sigmoid scores >= 0.5),
with our NMS.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from app_bench.common import median_ms  # noqa: E402
from app_bench.detector_sides import bench_sides_on_validation_faces, validation_sample  # noqa: E402

from fer.model.onnx_sessions import session_options  # noqa: E402
from fer.pipeline.faces import CenterFaceDetector, Face, _nms  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import write_report  # noqa: E402

MEDIAPIPE = "mediapipe==0.10.14"
CONVERTER = ("tflite2onnx==0.4.1", "tflite==2.18.0", "flatbuffers==25.12.19")
TFLITE = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
SIDE = 128  # BlazeFace's input
LIVE_FRAME = (320, 240)


def blazeface_onnx(scratch: Path) -> Path:
    """The short-range BlazeFace from the pinned wheel, as ONNX (float32; its weights are float16)."""
    pip = [sys.executable, "-m", "pip", "-q"]
    subprocess.run([*pip, "download", "--no-deps", "-d", str(scratch), MEDIAPIPE], check=True)
    with zipfile.ZipFile(next(scratch.glob("mediapipe-*.whl"))) as wheel:
        (scratch / "blazeface.tflite").write_bytes(wheel.read(TFLITE))
    subprocess.run([*pip, "install", "--no-deps", "--target", str(scratch / "converter"), *CONVERTER], check=True)
    convert = "import sys, tflite2onnx; tflite2onnx.convert(sys.argv[1], sys.argv[2])"
    out = scratch / "blazeface.onnx"
    env = {**os.environ, "PYTHONPATH": str(scratch / "converter")}
    subprocess.run([sys.executable, "-c", convert, str(scratch / "blazeface.tflite"), str(out)], check=True, env=env)
    return out


def anchors() -> np.ndarray:
    """MediaPipe's SSD anchors for this model: 16x16 cells with 2 anchors, 8x8 cells with 6."""
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.asarray(centres, np.float32)


class BlazeFaceDetector:
    """A FaceDetector: the frame letterboxed to 128x128, decoded as MediaPipe does; the eyes are its
    first two key points, the mouth centre stands in for both mouth corners."""

    def __init__(self, path: Path, threshold: float = 0.5, iou_threshold: float = 0.3) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
        self.anchors, self.threshold, self.iou_threshold = anchors(), threshold, iou_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        height, width = rgb.shape[:2]
        scale = SIDE / max(width, height)
        resized = round(width * scale), round(height * scale)
        left, top = (SIDE - resized[0]) // 2, (SIDE - resized[1]) // 2
        square = Image.new("RGB", (SIDE, SIDE))
        square.paste(Image.fromarray(rgb).resize(resized, Image.BILINEAR), (left, top))
        pixels = (np.asarray(square, np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]
        regressors, logits = self.session.run(None, {"input": pixels})
        scores = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        keep = np.flatnonzero(scores >= self.threshold)
        raw, centre = regressors[0, keep] / SIDE, self.anchors[keep]
        x, y = raw[:, 0] + centre[:, 0], raw[:, 1] + centre[:, 1]
        boxes = np.stack([x - raw[:, 2] / 2, y - raw[:, 3] / 2, x + raw[:, 2] / 2, y + raw[:, 3] / 2], 1) * SIDE
        boxes = (boxes - [left, top, left, top]) / scale
        points = ((raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None]) * SIDE - [left, top]) / scale
        faces = []
        for i in _nms(boxes, scores[keep], self.iou_threshold):
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            eyes_nose_mouth = points[i, [0, 1, 2, 3, 3]].astype(np.float32)
            faces.append(Face((x0, y0, x1 - x0, y1 - y0), float(scores[keep][i]), eyes_nose_mouth))
        return faces


TIME_IN_PAGE = """async ({ models, calls }) => {
    const { loadRuntime, loadSession } = await import("./fer/runtime.js");
    const { runtime } = await (await fetch("config.json")).json();
    const absolute = (url) => new URL(url, location.href).href;
    const ort = await loadRuntime({ ...runtime, module: absolute(runtime.module), wasm: absolute(runtime.wasm) });
    const result = {};
    for (const { name, url, input, dims, type } of models) {
        const session = await loadSession(ort, url, name, input, null);
        const size = dims.reduce((a, b) => a * b, 1);
        const data = type === "uint8" ? new Uint8Array(size).fill(128) : new Float32Array(size).fill(0.1);
        const feeds = { [input]: new ort.Tensor(type, data, dims) };
        for (let i = 0; i < 5; i++) await session.run(feeds);
        const times = [];
        for (let i = 0; i < calls; i++) {
            const started = performance.now();
            await session.run(feeds);
            times.push(performance.now() - started);
        }
        times.sort((a, b) => a - b);
        result[name] = Math.round(times[times.length >> 1] * 100) / 100;
    }
    return result;
}"""


def chromium_ms(blazeface: Path, scratch: Path, calls: int) -> dict:
    """Milliseconds a call in headless Chromium, one WebAssembly thread (the app's Live), on the
    static page's runtime: CenterFace at Live's 320x256 input, BlazeFace at 128x128."""
    from playwright.sync_api import sync_playwright

    from scripts.build_web import main as build_web
    from tests.chromium import launch
    from tests.web_parity import serve_folder

    site = scratch / "site"
    build_web([str(site)])
    (site / "models" / "blazeface.onnx").write_bytes(blazeface.read_bytes())
    models = [
        {
            "name": "centerface_320",
            "url": "models/centerface_int8.onnx",
            "input": "pixels",
            "dims": [1, 256, 320, 3],
            "type": "uint8",
        },
        {
            "name": "blazeface",
            "url": "models/blazeface.onnx",
            "input": "input",
            "dims": [1, 3, SIDE, SIDE],
            "type": "float32",
        },
    ]
    server, url = serve_folder(site)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page()
        page.goto(url, wait_until="domcontentloaded")
        timings = page.evaluate(TIME_IN_PAGE, {"models": models, "calls": calls})
        browser.close()
    server.shutdown()
    server.server_close()
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/light_detector.json"))
    parser.add_argument("--faces", type=int, default=400, help="class-stratified validation faces per face size")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per model in Chromium")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        model = blazeface_onnx(scratch)
        detectors = {
            "centerface_320": CenterFaceDetector(max_side=320, threads=1),
            "blazeface": BlazeFaceDetector(model),
        }
        frame = np.asarray(Image.open(ROOT / "examples" / "one_face.jpg").convert("RGB").resize(LIVE_FRAME))
        report: dict = {
            "candidate": f"BlazeFace short-range from {MEDIAPIPE} ({TFLITE}), converted by {CONVERTER[0]}",
            "model_bytes": {
                "centerface_int8": (ROOT / "fer/pipeline/centerface_int8.onnx").stat().st_size,
                "blazeface_onnx": model.stat().st_size,
            },
            "native_ms_per_320x240_frame_one_thread": {
                name: median_ms(lambda d=d: d.detect(frame), 200) for name, d in detectors.items()
            },
            "chromium_wasm_ms_per_call_one_thread": chromium_ms(model, scratch, args.calls),
        }
        faces, direct = validation_sample(ROOT.parent / "shared" / "data" / "fer2013.zip", args.faces)
        report["accuracy_on_the_crops_themselves"] = direct
        found = bench_sides_on_validation_faces(
            faces, detectors, scene=LIVE_FRAME, face_sides=(32, 48, 96, 160), float32="centerface_320"
        )
        for by_detector in found.values():  # its reference here is CenterFace at 320, not float32
            for row in by_detector.values() if isinstance(by_detector, dict) else ():
                row["crop_correlation_with_centerface"] = row.pop("crop_correlation_with_float32")
        report["live_frames_320x240"] = found
    write_report(report, args.out)


if __name__ == "__main__":
    main()
