"""Lighter face detectors for Live, measured against CenterFace before anyone chooses one.

    python scripts/bench_light_detector.py --out bench/light_detector.json [--faces 400]

Device Live misses the issue's "15 ms of inference a frame" because CenterFace takes about 100 ms
a 320 px frame in WebAssembly here (``bench/web.json``). The candidates are MediaPipe's two
BlazeFace models: short-range (128x128 input, faces within about 2 m), from the ``mediapipe``
wheel at a pinned version, and full-range (192x192, faces within about 5 m), from MediaPipe's npm
package at a pinned version, the one release that ships it dense (the wheel's copy is sparse,
which ``tflite2onnx`` cannot convert). Both are converted to ONNX with ``tflite2onnx``. Each is
timed natively (onnxruntime, one thread) and in Debian's headless Chromium (onnxruntime-web, one
thread, the static page's runtime), and run on FER2013 validation faces pasted at 32-160 px into
Live's 320x240 frames: the share found, the accuracy of the crops found, and how closely their
crops match CenterFace's (their eye points are not CenterFace's, and the crop's framing follows
the eyes). CenterFace is also timed in Chromium on 128 and 96 px squares, the crop around one
tracked face that a Live detecting known faces only where they were would run. The decoding
follows MediaPipe's ``face_detection_short_range`` and ``face_detection_full_range`` graphs (SSD
anchors, sigmoid scores >= 0.5), with our NMS.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from app_bench.common import median_ms  # noqa: E402
from app_bench.detector_sides import bench_sides_on_validation_faces, validation_sample  # noqa: E402

from fer.device.runtime_files import RuntimeFilesError, npm_tarball  # noqa: E402
from fer.model.onnx_sessions import session_options  # noqa: E402
from fer.pipeline.faces import CenterFaceDetector, Face, nms  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import write_report  # noqa: E402

MEDIAPIPE_WHEEL = "mediapipe==0.10.14"
MEDIAPIPE_NPM = "@mediapipe/face_detection@0.4.1646425229"
NPM_TARBALL = "https://registry.npmjs.org/@mediapipe/face_detection/-/face_detection-0.4.1646425229.tgz"
NPM_TARBALL_SHA512 = "aeCN+fRAojv9ch3NXorP6r5tcGVLR3/gC1HmtqB0WEZBRXrdP6/3W/sGR0dHr1iT6ueiK95G9PVjbzFosf/hrg=="
CONVERTER = ("tflite2onnx==0.4.1", "tflite==2.18.0", "flatbuffers==25.12.19")
LIVE_FRAME = (320, 240)
# CenterFace on a square around one face it tracks: what a Live that looked for known faces only
# where they were, and for new ones now and then, would pay a face between full detections.
CROP_SIDES = (128, 96)


@dataclass(frozen=True)
class BlazeFace:
    """One MediaPipe face detector: where its TFLite file comes from, its square input, and its SSD
    anchor layers as (grid cells a side, anchors a cell), from its graph's SsdAnchorsCalculator."""

    name: str
    source: str
    tflite: str
    side: int
    layers: tuple[tuple[int, int], ...]


SHORT_RANGE = BlazeFace(
    "blazeface_short",
    MEDIAPIPE_WHEEL,
    "mediapipe/modules/face_detection/face_detection_short_range.tflite",
    128,
    ((16, 2), (8, 6)),
)
FULL_RANGE = BlazeFace("blazeface_full", MEDIAPIPE_NPM, "package/face_detection_full_range.tflite", 192, ((48, 1),))


def tflite_bytes(model: BlazeFace, scratch: Path) -> bytes:
    """The model's TFLite file, from the pinned wheel (pip) or the pinned npm tarball (checked
    against its published SHA-512)."""
    if model.source == MEDIAPIPE_WHEEL:
        pip = [sys.executable, "-m", "pip", "-q", "download", "--no-deps", "-d", str(scratch)]
        subprocess.run([*pip, MEDIAPIPE_WHEEL], check=True)
        with zipfile.ZipFile(next(scratch.glob("mediapipe-*.whl"))) as wheel:
            return wheel.read(model.tflite)
    try:
        tarball = npm_tarball(NPM_TARBALL, NPM_TARBALL_SHA512, MEDIAPIPE_NPM)
    except RuntimeFilesError as exc:
        raise SystemExit(f"error: {exc}") from None
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        return archive.extractfile(model.tflite).read()


def blazeface_onnx(model: BlazeFace, scratch: Path) -> Path:
    """The model as ONNX (float32; its weights are float16), converted by the pinned tflite2onnx."""
    converter = scratch / "converter"
    if not converter.exists():
        pip = [sys.executable, "-m", "pip", "-q", "install", "--no-deps", "--target", str(converter)]
        subprocess.run([*pip, *CONVERTER], check=True)
    tflite, out = scratch / f"{model.name}.tflite", scratch / f"{model.name}.onnx"
    tflite.write_bytes(tflite_bytes(model, scratch))
    convert = "import sys, tflite2onnx; tflite2onnx.convert(sys.argv[1], sys.argv[2])"
    env = {**os.environ, "PYTHONPATH": str(converter)}
    subprocess.run([sys.executable, "-c", convert, str(tflite), str(out)], check=True, env=env)
    return out


def anchors(model: BlazeFace) -> np.ndarray:
    """The anchors' centres, layer by layer, row by row, as MediaPipe orders them (their sizes are
    fixed at 1, so only the centres matter)."""
    centres = []
    for grid, per_cell in model.layers:
        for y in range(grid):
            for x in range(grid):
                centres += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
    return np.asarray(centres, np.float32)


class BlazeFaceDetector:
    """Detects as a FaceDetector does (its input side is fixed, so it takes no ``max_side``): the frame
    letterboxed to the model's square input, decoded as MediaPipe does; the eyes are its first two
    key points, the mouth centre stands in for both mouth corners."""

    def __init__(self, model: BlazeFace, path: Path, threshold: float = 0.5, iou_threshold: float = 0.3) -> None:
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), session_options(1), providers=["CPUExecutionProvider"])
        self.side, self.anchors = model.side, anchors(model)
        self.threshold, self.iou_threshold = threshold, iou_threshold

    def detect(self, rgb: np.ndarray) -> list[Face]:
        faces = []
        for box, score, points in self.detections(rgb):
            eyes_nose_mouth = points[[0, 1, 2, 3, 3]].astype(np.float32)
            faces.append(Face(box, score, eyes_nose_mouth))
        return faces

    def detections(self, rgb: np.ndarray) -> list[tuple[tuple[float, float, float, float], float, np.ndarray]]:
        """Each face as (box, score, its six key points: eyes, nose tip, mouth centre, ears) in
        ``rgb``'s pixels, after NMS."""
        height, width, side = *rgb.shape[:2], self.side
        scale = side / max(width, height)
        resized = round(width * scale), round(height * scale)
        left, top = (side - resized[0]) // 2, (side - resized[1]) // 2
        square = Image.new("RGB", (side, side))
        square.paste(Image.fromarray(rgb).resize(resized, Image.BILINEAR), (left, top))
        pixels = (np.asarray(square, np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]
        regressors, logits = self.session.run(None, {"input": pixels})
        scores = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -80, 80)))
        keep = np.flatnonzero(scores >= self.threshold)
        raw, centre = regressors[0, keep] / side, self.anchors[keep]
        x, y = raw[:, 0] + centre[:, 0], raw[:, 1] + centre[:, 1]
        boxes = np.stack([x - raw[:, 2] / 2, y - raw[:, 3] / 2, x + raw[:, 2] / 2, y + raw[:, 3] / 2], 1) * side
        boxes = (boxes - [left, top, left, top]) / scale
        points = ((raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None]) * side - [left, top]) / scale
        found = []
        for i in nms(boxes, scores[keep], self.iou_threshold):
            x0, y0, x1, y1 = (float(v) for v in boxes[i])
            found.append(((x0, y0, x1 - x0, y1 - y0), float(scores[keep][i]), points[i]))
        return found


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


def chromium_ms(onnx: dict[BlazeFace, Path], scratch: Path, calls: int, rounds: int) -> dict:
    """Milliseconds a call in headless Chromium, one WebAssembly thread (the app's Live), on the
    static page's runtime: CenterFace at Live's 320x256 input, each BlazeFace at its own input,
    and the classifier on one face, which every analysed frame adds. The models take turns in
    each round, so a slow phase of the machine slows them all; the median of the rounds is kept."""
    from playwright.sync_api import sync_playwright

    from scripts.build_web import main as build_web
    from tests.chromium import launch
    from tests.web_parity import serve_folder

    site = scratch / "site"
    build_web([str(site)])
    models = [
        {
            "name": "centerface_320",
            "url": "models/centerface_int8.onnx",
            "input": "pixels",
            "dims": [1, 256, 320, 3],
            "type": "uint8",
        },
        {
            "name": "classifier",
            "url": "models/model_int8.onnx",
            "input": "faces",
            "dims": [1, 1, 48, 48],
            "type": "float32",
        },
    ]
    for side in CROP_SIDES:
        models.append(
            {
                "name": f"centerface_crop_{side}",
                "url": "models/centerface_int8.onnx",
                "input": "pixels",
                "dims": [1, side, side, 3],
                "type": "uint8",
            }
        )
    for model, path in onnx.items():
        (site / "models" / path.name).write_bytes(path.read_bytes())
        models.append(
            {
                "name": model.name,
                "url": f"models/{path.name}",
                "input": "input",
                "dims": [1, 3, model.side, model.side],
                "type": "float32",
            }
        )
    server, url = serve_folder(site)
    try:
        with sync_playwright() as playwright, launch(playwright) as browser:
            page = browser.new_page()
            page.goto(url, wait_until="domcontentloaded")
            runs = [page.evaluate(TIME_IN_PAGE, {"models": models, "calls": calls}) for _ in range(rounds)]
    finally:
        server.shutdown()
        server.server_close()
    return {model["name"]: float(np.median([run[model["name"]] for run in runs])) for model in models}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/light_detector.json"))
    parser.add_argument("--faces", type=int, default=400, help="class-stratified validation faces per face size")
    parser.add_argument("--calls", type=int, default=50, help="timed calls per model and round in Chromium")
    parser.add_argument("--rounds", type=int, default=3, help="rounds in Chromium, the models taking turns")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        onnx = {model: blazeface_onnx(model, scratch) for model in (SHORT_RANGE, FULL_RANGE)}
        detectors = {"centerface_320": CenterFaceDetector(max_side=320, threads=1)}
        detectors.update({model.name: BlazeFaceDetector(model, path) for model, path in onnx.items()})
        frame = np.asarray(Image.open(ROOT / "examples" / "one_face.jpg").convert("RGB").resize(LIVE_FRAME))
        browser_ms = chromium_ms(onnx, scratch, args.calls, args.rounds)
        report: dict = {
            "candidates": {
                model.name: f"{model.tflite} from {model.source}, converted by {CONVERTER[0]}" for model in onnx
            },
            "model_bytes": {
                "centerface_int8": (ROOT / "fer/pipeline/centerface_int8.onnx").stat().st_size,
                **{model.name: path.stat().st_size for model, path in onnx.items()},
            },
            "native_ms_per_320x240_frame_one_thread": {
                name: median_ms(lambda d=d: d.detect(frame), 200) for name, d in detectors.items()
            },
            "chromium_wasm_ms_per_call_one_thread": browser_ms,
            "chromium_wasm_ms_per_analysed_frame_detector_and_one_face": {
                name: round(browser_ms[name] + browser_ms["classifier"], 2)
                for name in [*detectors, *(f"centerface_crop_{side}" for side in CROP_SIDES)]
            },
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
