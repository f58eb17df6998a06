"""Facial expression recognition: the Gradio app (a Hugging Face Space's entry point).

    python app.py                          # the embedded model, on http://127.0.0.1:7860
    FER_MODEL=user/repo python app.py      # a model from the Hub (or a local checkpoint folder)
    FER_ONNX=0 python app.py               # classify with torch even where an ONNX export exists

Wiring only: detection, classification, heatmaps and drawing live in ``fer``. Public
API: ``/predict`` (image file, top_k) -> JSON; see the README. UI events are private.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr
import numpy as np
import spaces
from PIL import Image

from fer import limits
from fer.annotate import draw_predictions
from fer.faces import CenterFaceDetector
from fer.image_input import refuse_oversize_in_one_sentence
from fer.images import MAX_PIXELS, ImageError, open_image
from fer.labels import display_name
from fer.predict import WORKING_SIDE, FacePrediction, predictor_with_fallback

EXAMPLES = Path(__file__).parent / "examples"
MAX_DISPLAY_SIDE = 1280  # annotated images are shown at most this large
LIVE_DETECTION_SIDE = 320  # live frames are detected at this size: speed over tiny faces
log = logging.getLogger("fer.app")

predictor, load_notice = predictor_with_fallback(os.environ.get("FER_MODEL"), os.environ.get("FER_ONNX") != "0")
live_predictor = predictor.with_detector(CenterFaceDetector(max_side=LIVE_DETECTION_SIDE))
NUM_CLASSES = len(predictor.label_names)


def clamp_top_k(top_k: float | None) -> int:
    return int(min(max(1, round(3 if top_k is None else top_k)), NUM_CLASSES))


def run_predictor(image_path: str | None) -> tuple[Image.Image, list[FacePrediction]]:
    """Decode and predict, turning bad input into a message the page shows (server stays up)."""
    if not image_path:
        log.warning("refused a request without an image")
        raise gr.Error("Upload an image, take a webcam snapshot or paste one first.", print_exception=False)
    try:
        image = open_image(image_path, max_side=WORKING_SIDE)
        return image, predictor.predict(image)
    except ImageError as exc:
        log.warning("refused %s: %s", Path(image_path).name, exc)  # the user's mistake: one line, no traceback
        raise gr.Error(f"Cannot use this file: {exc}.", print_exception=False) from exc


@spaces.GPU
def predict_api(image: str | None, top_k: float = 3) -> dict:
    """Find every face and return its box and expression scores as JSON."""
    _, faces = run_predictor(image)
    k = clamp_top_k(top_k)
    return {"model": predictor.model_name, "faces": [face.as_json(k) for face in faces]}


def label_value(face: dict) -> dict:
    return {display_name(label): score for label, score in face["scores"].items()}


def face_rows(faces: list[dict], k: int) -> list[list]:
    return [
        [i + 1, ", ".join(f"{display_name(t['label'])} {t['score']:.0%}" for t in face["top_k"][:k]), *face["box"]]
        for i, face in enumerate(faces)
    ]


def face_choices(faces: list[dict]) -> list[tuple[str, int]]:
    return [(f"Face {i + 1}: {display_name(f['top_k'][0]['label'])}", i) for i, f in enumerate(faces)]


@spaces.GPU
def analyse_photo(image_path: str | None, top_k: float, show_heatmap: bool):
    """The Photo tab: annotated image, top-k of the largest face, per-face table, status."""
    if not image_path:  # the photo was cleared (or not given yet): reset, no error
        prompt = "Upload a photo, take a webcam snapshot or paste one."
        return None, gr.Label(value=None), [], prompt, [], gr.Dropdown(choices=[], value=None, interactive=False)
    image, faces = run_predictor(image_path)
    k = clamp_top_k(top_k)
    canvas = image.convert("RGB")
    if show_heatmap:
        from fer.explain import grad_cam, paint_heatmap  # torch, imported only when a heatmap is asked for

        top = [predictor.label_names.index(face.top_k(1)[0]["label"]) for face in faces]
        heat = grad_cam(predictor.loaded, np.stack([face.crop for face in faces]), top)
        for face, face_heat in zip(faces, heat):
            paint_heatmap(canvas, face_heat, face.frame)
    canvas = draw_predictions(canvas, faces)
    canvas.thumbnail((MAX_DISPLAY_SIDE, MAX_DISPLAY_SIDE))
    as_json = [face.as_json(NUM_CLASSES) for face in faces]
    if faces[0].detected:
        status = f"Found **{len(faces)}** face{'s' if len(faces) > 1 else ''}; the largest is selected."
    else:
        status = "**No face found**: the whole image was classified as one face (right for tight face crops)."
    return (
        canvas,
        gr.Label(value=label_value(as_json[0]), num_top_classes=k),
        face_rows(as_json, k),
        status,
        as_json,
        gr.Dropdown(choices=face_choices(as_json), value=0, interactive=len(faces) > 1),
    )


def show_face(faces: list[dict] | None, index: int | None, top_k: float):
    """Re-show the Label and table for another face or another k, without re-running the model."""
    if not faces:
        return gr.Label(value=None), []
    k = clamp_top_k(top_k)
    face = faces[int(index or 0)]
    return gr.Label(value=label_value(face), num_top_classes=k), face_rows(faces, k)


def analyse_frame(frame: np.ndarray | None) -> np.ndarray | None:
    """The Live tab: boxes and labels on each webcam frame; a frame without a face is left as it is.

    (A photo without a face is classified whole and says so; a video frame has no room to
    say so, and a label on a wall or a test pattern would look like a real answer.)
    """
    if frame is None:
        return None
    image = Image.fromarray(frame)
    faces = [face for face in live_predictor.predict(image) if face.detected]
    return np.asarray(draw_predictions(image, faces)) if faces else frame


def model_facts() -> str:
    metrics = predictor.info.metrics()
    accuracy = f"{metrics['accuracy']:.1%} validation accuracy (FER2013 PublicTest)" if metrics else "no metrics saved"
    served = predictor.onnx.validation_accuracy if predictor.onnx else None
    serving = f"served with {predictor.serving}" + (f" ({served:.1%} validation as served)" if served else "")
    classes = ", ".join(display_name(n) for n in predictor.label_names)
    text = f"**Model:** `{predictor.model_name}` · {accuracy} · {serving} · **Classes:** {classes}"
    return text + "".join(f"\n\n⚠️ {notice}" for notice in (load_notice, predictor.notice) if notice)


def limits_text() -> str:
    return (
        f"Photos up to {limits.MAX_UPLOAD_MB} MB and {MAX_PIXELS // 1_000_000} megapixels. Uploads and results are "
        f"deleted from the server within {(limits.CACHE_SWEEP_S + limits.CACHE_MAX_AGE_S) // 60} minutes. "
        f"A Live stream runs for {limits.LIVE_TIME_LIMIT_S // 60} minutes at a time."
    )


with gr.Blocks(
    title="Facial expression recognition", delete_cache=(limits.CACHE_SWEEP_S, limits.CACHE_MAX_AGE_S)
) as demo:
    gr.Markdown("# Facial expression recognition\nEvery face is found, boxed and labelled with its expressions.")
    gr.Markdown(model_facts(), elem_id="model-facts")
    with gr.Tab("Photo"):
        with gr.Row():
            with gr.Column():
                photo = refuse_oversize_in_one_sentence(
                    gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath", label="Photo", elem_id="photo")
                )
                top_k = gr.Slider(1, NUM_CLASSES, value=3, step=1, label="Top-k expressions")
                heatmap = gr.Checkbox(label="Show heatmap (where the model looked)")
                analyse = gr.Button("Analyse", variant="primary")
            with gr.Column():
                annotated = gr.Image(label="Faces", type="pil", elem_id="annotated")
                status = gr.Markdown(elem_id="status")
                face_picker = gr.Dropdown(label="Face", choices=[], interactive=False)
                label = gr.Label(num_top_classes=3, label="Expressions", elem_id="expressions")
        table = gr.Dataframe(
            headers=["face", "top-k", "x", "y", "width", "height"], label="All faces", interactive=False
        )
        faces_state = gr.State([])
        if EXAMPLES.is_dir():
            gr.Examples(sorted(str(p) for p in EXAMPLES.glob("*.jpg")), inputs=photo, label="Examples")
        gr.on(
            [analyse.click, photo.change, heatmap.change],
            analyse_photo,
            [photo, top_k, heatmap],
            [annotated, label, table, status, faces_state, face_picker],
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )
        face_picker.change(show_face, [faces_state, face_picker, top_k], [label, table], api_visibility="private")
        top_k.release(show_face, [faces_state, face_picker, top_k], [label, table], api_visibility="private")
    with gr.Tab("Live"):
        gr.Markdown("Turn on the webcam: boxes and labels follow the faces on every frame.")
        with gr.Row():
            # 320x240 frames: less to encode, send and decode per frame; faces stay findable.
            webcam = refuse_oversize_in_one_sentence(
                gr.Image(
                    sources=["webcam"],
                    streaming=True,
                    type="numpy",
                    label="Webcam",
                    elem_id="webcam",
                    webcam_options=gr.WebcamOptions(constraints={"video": {"width": 320, "height": 240}}),
                )
            )
            # JPEG frames: encoding a PNG per frame costs more than detecting the faces in it.
            live = gr.Image(label="Live", type="numpy", format="jpeg", elem_id="live-output")
        webcam.stream(
            analyse_frame,
            webcam,
            live,
            stream_every=0.05,
            time_limit=limits.LIVE_TIME_LIMIT_S,
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )
    gr.Markdown(limits_text(), elem_id="limits")
    # The public API: hidden components behind one named event, returning plain JSON.
    with gr.Row(visible=False):
        api_image = gr.File(label="image")
        api_top_k = gr.Number(value=3, precision=0, label="top_k")
        api_result = gr.JSON(label="result")
        api_button = gr.Button("predict")
    api_button.click(predict_api, [api_image, api_top_k], api_result, api_name="predict", **limits.MODEL_EVENTS)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    # show_error=False: the page shows our gr.Error sentences, never the text of an
    # unexpected exception (which can name server paths); those go to the log instead.
    demo.queue(max_size=limits.QUEUE_SIZE, default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), show_error=False, **limits.launch_options()
    )
