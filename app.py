"""Facial expression recognition: the Gradio app (a Hugging Face Space's entry point).

    python app.py                          # the embedded model, on http://127.0.0.1:7860
    FER_MODEL=user/repo python app.py      # a model from the Hub (or a local checkpoint folder)
    FER_ONNX=0 python app.py               # classify with torch even where an ONNX export exists

The page's model picker offers every checkpoint under ``checkpoints/``, plus ``FER_MODEL``
(the default when it loads); ``/predict`` and ``/predict_video`` take the same names.

Wiring only: detection, classification, tracking, heatmaps and drawing live in ``fer``.
Public API, typed (``fer.api_types``): ``/predict`` (image file, top_k, model) and
``/predict_video`` (video file, model); see the README. UI events are private.
"""

import functools
import logging
import os
import time
from pathlib import Path

import gradio as gr
import matplotlib
import numpy as np
import spaces
from gradio import FileData
from PIL import Image

from fer import limits
from fer.annotate import display_canvas, draw_predictions, paint_heatmap
from fer.api_types import PhotoPrediction, VideoPrediction
from fer.blocks import CallCheckedBlocks
from fer.checkpoint_info import CheckpointError
from fer.downloads import fresh_folder, write_downloads
from fer.face_cards import face_card
from fer.faces import CenterFaceDetector
from fer.image_input import refuse_unreadable_in_one_sentence
from fer.images import MAX_PIXELS, ImageError, input_scale, open_image
from fer.labels import display_name
from fer.live import START_LIVE_JS, Keyframe, LiveState, Panel
from fer.model_choices import ModelChoices
from fer.predict import WORKING_SIDE, FacePrediction, Predictor
from fer.video import MAX_VIDEO_S, VideoError, analyse_video, plot_timeline, write_csv

EXAMPLES = Path(__file__).parent / "examples"
# Live frames (320x240) are detected at full size. 256 px would save about 2 ms a frame but
# find 39% of 32 px faces instead of 71% (87% and 88.5% of 48 px ones; bench/app.json,
# live_detector_sides_on_validation_faces); in the browser, the two taking turns, 256 px showed
# 30.7, 31.7, 30.2 frames/s against 29.8, 28.2, 25.9 in one set and 32.0, 31.4, 31.0, 23.5
# against 31.0, 31.8, 29.2, 30.7 in another: no gain beyond the machine's drift.
LIVE_DETECTION_SIDE = 320
# Live is many small frames while the browser (on this 2-core machine, the test's Chromium) or
# another stream uses the cores too: one detector thread per frame. Two threads that spin-wait
# showed 15 frames/s; two that sleep take 5.0 ms a frame instead of 6.4 but 8.2 ms of CPU.
# A frame is asked for every 30 ms: every 25 or 20 ms showed 26.6-34.0 and 29.5-30.8 frames/s
# against 26.6-31.0 (three runs each, taking turns, 60 frames/s camera), no gain beyond drift;
# with keyframes (fer.live.Keyframe), every 25 ms showed 35.8, 27.3, 29.9 against 32.7, 29.5, 29.9.
LIVE_DETECTOR_THREADS = 1
LIVE_STREAM_EVERY_S = 0.03
LIVE_PANEL_HEADER = "Largest face"
log = logging.getLogger("fer.app")
# Headless, and named: Gradio asks matplotlib for its backend around every event, and
# resolving the default one imports pyplot, about 0.35 s of the first answer.
matplotlib.use("Agg")

models = ModelChoices(
    os.environ.get("FER_MODEL"),
    CenterFaceDetector(max_side=LIVE_DETECTION_SIDE, threads=LIVE_DETECTOR_THREADS),
    os.environ.get("FER_ONNX") != "0",
)
predictor, live_predictor = models.default.predictor, models.default.live  # the default model, loaded at start


@functools.cache
def video_detector() -> CenterFaceDetector:
    """A clip is analysed at Live's size, but as one long job with the cores to itself: two
    threads. Built on the first clip, so a server nobody sends videos to never holds it."""
    return CenterFaceDetector(max_side=LIVE_DETECTION_SIDE)


def video_predictor(model: str | None) -> Predictor:
    """The picked model with the video detector (raises CheckpointError like ``models.choice``)."""
    return models.choice(model).predictor.with_detector(video_detector())


NUM_CLASSES = len(predictor.label_names)
PAGE_CSS = """
.muted { opacity: 0.6; }  /* whole-image guesses and uncertain faces */
/* the live output as large as the webcam preview beside it, not at the frames' 320 px */
#live-output .image-frame, #live-output img { width: 100% !important; height: auto !important; }
#live-output img { object-fit: contain !important; }
/* on a phone the columns stack: results first, so they are not below the fold */
@media (max-width: 640px) { #photo-row { flex-direction: column-reverse; } }
"""

PROMPT = "Upload a photo, take a webcam snapshot or paste one."
VIDEO_PROMPT = "Upload a video: every face is followed through it."
EXAMPLE_CAPTIONS = {  # in the page's order
    "one_face": "One face, smiling",
    "older_face": "An older face, with glasses and a cap",
    "downcast_face": "Downcast, eyes lowered (a frame of the example video)",
    "hand_at_mouth": "Eyes wide, a hand at the mouth (the same video)",
    "tilted_face": "A tilted head",
    "four_faces": "Four faces in one frame: a collage of two portraits",
    "no_face": "No face at all (a whole-image guess)",
}
VIDEO_EXAMPLE_CAPTIONS = {"tears_to_laughter": "One woman, from tears to laughter (20 s)"}


def captioned_examples(folder: Path, suffix: str, captions: dict[str, str]) -> dict[str, str]:
    """Each example file in ``folder`` with its caption, in the captions' order, then any others by name."""
    files = {path.stem: path for path in folder.glob(f"*{suffix}")}
    order = [stem for stem in captions if stem in files] + sorted(set(files) - set(captions))
    return {str(files[stem]): captions.get(stem, stem) for stem in order}


def show_examples(component: gr.components.Component, folder: Path, suffix: str, captions: dict[str, str]) -> None:
    """The captioned examples under ``component`` (none when the folder has none, as in a trimmed Space)."""
    examples = captioned_examples(folder, suffix, captions)
    if examples:
        gr.Examples([[path] for path in examples], inputs=component, example_labels=list(examples.values()))


def clamp_top_k(top_k: float | None) -> int:
    return int(min(max(1, round(3 if top_k is None else top_k)), NUM_CLASSES))


def api_top_k(top_k: object) -> int:
    """An API caller's ``top_k`` as 1..7; Gradio does not check the type, so a non-number is refused here."""
    try:
        return clamp_top_k(None if top_k is None else float(top_k))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:
        log.warning("refused top_k %.20r: not a number", top_k)
        raise gr.Error("Cannot use this top_k: give a whole number from 1 to 7.", print_exception=False) from exc


def uploaded_path(file: FileData | dict | str | None) -> str | None:
    """The server-side path of a file the API received (Gradio passes its FileData as a dict);
    None for anything else a raw caller sends, which is then refused as no image."""
    path = file.get("path") if isinstance(file, dict) else file
    return path if isinstance(path, str) else None


def run_predictor(image_path: str | None, model: str | None) -> tuple[Predictor, Image.Image, list[FacePrediction]]:
    """The chosen model, the decoded image and its faces; bad input raises ImageError, an unknown
    or broken model CheckpointError, each with one sentence (logged in one line)."""
    if not image_path:  # only an API call gets here: the page asks for a photo instead
        log.warning("refused a call without an image")
        raise ImageError("upload an image, take a webcam snapshot or paste one first")
    try:
        chosen = models.choice(model).predictor
        image = open_image(image_path, max_side=WORKING_SIDE)
        return chosen, image, chosen.predict(image)
    except (ImageError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(image_path).name, exc)  # the user's mistake: one line, no traceback
        raise


@spaces.GPU
def predict_api(image: FileData, top_k: int = 3, model: str = "") -> PhotoPrediction:
    """Find every face in a photo: its box, all seven expression scores, the top-k, and whether it is uncertain.

    Args:
        image: a photo (JPEG, PNG, WebP, GIF, BMP or TIFF), at most 20 MB and 50 megapixels
        top_k: how many of the seven expressions to rank per face (1-7)
        model: one of the page's models by name (its model picker lists them); empty for the default
    Returns:
        the model's name and every face, largest first; with no face found, the whole image as one
    """
    k = api_top_k(top_k)
    try:
        chosen, _, faces = run_predictor(uploaded_path(image), model)
    except (ImageError, CheckpointError) as exc:
        raise gr.Error(f"Cannot use this {what_failed(exc)}: {exc}.", print_exception=False) from exc
    return {"model": chosen.model_name, "faces": [face.as_json(k) for face in faces]}


def what_failed(exc: Exception) -> str:
    return "model" if isinstance(exc, CheckpointError) else "file"


@spaces.GPU
def analyse_photo(image_path: str | None, show_heatmap: bool, model: str | None = None) -> dict:
    """Detect and classify once; what the page shows is drawn from this by ``render_photo``."""
    if not image_path:  # the photo was cleared (or not given yet)
        return {"status": PROMPT}
    try:
        chosen, image, faces = run_predictor(image_path, model)
    except (ImageError, CheckpointError) as exc:
        return {"status": f"⚠️ Cannot use this {what_failed(exc)}: {exc}."}  # stays until the next action
    return with_heatmaps({"image": image, "faces": faces, "heat": None, "predictor": chosen}, show_heatmap)


def with_heatmaps(result: dict, show_heatmap: bool) -> dict:
    """Add Grad-CAM heatmaps once, when first asked for (they need torch; nothing else is re-run)."""
    if not show_heatmap or not result.get("faces") or result["heat"] is not None:
        return result
    from fer.explain import grad_cam  # torch, imported only when a heatmap is asked for

    faces, chosen = result["faces"], result["predictor"]
    top = [chosen.label_names.index(face.top_k(1)[0]["label"]) for face in faces]
    return {**result, "heat": grad_cam(chosen.loaded, np.stack([face.crop for face in faces]), top)}


def photo_status(faces: list[FacePrediction], chosen: Predictor) -> str:
    threshold = chosen.uncertain_below
    doubtful = sum(face.uncertain for face in faces)
    doubt = (
        f" {doubtful} marked **?** scored under {threshold:.0%}, where the model was right less than half the time "
        "on validation faces."
        if doubtful
        else ""
    )
    if not faces[0].detected:
        return (
            "**No face found.** The scores below are a *whole-image guess*: right for a tight face crop (like "
            "FER2013's own), meaningless for anything else." + doubt
        )
    return f"Found **{len(faces)}** face{'s' if len(faces) > 1 else ''}, numbered largest first.{doubt}"


def render_photo(result: dict, selected: int | None, top_k: float, show_heatmap: bool):
    """Everything the Photo tab shows, drawn from one analysis: no detection or classification here."""
    faces = result.get("faces")
    if not faces:
        empty = gr.Dropdown(choices=[], value=None, interactive=False)
        no_file = [gr.DownloadButton(value=None, interactive=False) for _ in range(2)]
        return None, result["status"], gr.Label(value=None, label="Expressions"), [], [], empty, *no_file
    k = clamp_top_k(top_k)
    index = min(int(selected or 0), len(faces) - 1)
    image, heat, chosen = result["image"], result["heat"] if show_heatmap else None, result["predictor"]
    working = image.convert("RGB")
    if heat is not None:
        for face, face_heat in zip(faces, heat):
            paint_heatmap(working, face_heat, face.frame)
    canvas = display_canvas(working)
    draw_predictions(canvas, faces, canvas.width / (image.width * input_scale(image)), selected=index)
    as_json = {"model": chosen.model_name, "faces": [face.as_json(k) for face in faces]}
    face = faces[index]
    title = f"Face {index + 1}" if face.detected else "Whole-image guess (no face found)"
    label = gr.Label(
        value={display_name(name): score for name, score in face.scores.items()},
        num_top_classes=k,
        label=title + (" · uncertain" if face.uncertain else ""),
        elem_classes=[] if face.detected and not face.uncertain else ["muted"],
    )
    gallery = [(face_card(f, None if heat is None else heat[i]), gallery_caption(i, f)) for i, f in enumerate(faces)]
    picker = gr.Dropdown(
        choices=[(gallery_caption(i, f), i) for i, f in enumerate(faces)], value=index, interactive=len(faces) > 1
    )
    csv_path, json_path = write_downloads(as_json)
    shown = gr.Image(value=canvas, format="png", alt_text=describe(faces))
    downloads = [gr.DownloadButton(value=str(path), interactive=True) for path in (csv_path, json_path)]
    return shown, photo_status(faces, chosen), label, face_rows(as_json["faces"], k), gallery, picker, *downloads


def describe(faces: list[FacePrediction]) -> str:
    """The annotated photo's alt text: what a sighted visitor reads off the boxes."""
    if not faces[0].detected:
        return "The photo; no face was found in it."
    return f"The photo with {len(faces)} numbered face boxes: " + "; ".join(
        gallery_caption(i, face) for i, face in enumerate(faces)
    )


def gallery_caption(index: int, face: FacePrediction) -> str:
    best = face.top_k(1)[0]
    what = f"{display_name(best['label'])} {best['score']:.0%}{' (uncertain)' if face.uncertain else ''}"
    return f"Face {index + 1}: {what}" if face.detected else f"Whole image (no face found): {what}"


def pick_from_gallery(event: gr.SelectData) -> int:
    return event.index


def face_rows(faces: list[dict], k: int) -> list[list]:
    return [
        [
            i + 1,
            ", ".join(f"{display_name(t['label'])} {t['score']:.0%}" for t in face["top_k"][:k]),
            "uncertain" if face["uncertain"] else ("whole-image guess" if not face["detected"] else ""),
            *face["box"],
        ]
        for i, face in enumerate(faces)
    ]


def analyse_frame(frame: np.ndarray | None, live: LiveState | None, model: str | None = None):
    """The Live tab, per webcam frame: tracked faces with smoothed labels, what the panel is to
    show (the largest face), the frame rate. Faces are detected and classified on every second
    frame and drawn again on the one between (``fer.live.Keyframe`` says why).

    A frame without a face comes back untouched and the panel says "no face": a label on a
    wall or a test pattern would look like a real answer.
    """
    live = live or LiveState()
    if frame is None:
        return None, Panel(LIVE_PANEL_HEADER), "", live
    try:
        chosen = models.choice(model).live
    except CheckpointError as exc:
        return frame, Panel(f"⚠️ Cannot use this model: {exc}."), "", live
    image = Image.fromarray(frame)
    keyframe = live.held(image.size) or detect_keyframe(image, live, chosen)
    rate = live.tick(time.monotonic())
    if not keyframe.faces:
        return frame, Panel("No face in view"), rate, live
    draw_predictions(image, keyframe.faces, numbers=keyframe.people)
    largest = keyframe.faces[0]
    panel = Panel(
        f"Person {keyframe.people[0]}" + (" · uncertain" if largest.uncertain else ""),
        {display_name(name): score for name, score in largest.scores.items()},
    )
    return np.asarray(image), panel, rate, live


def detect_keyframe(image: Image.Image, live: LiveState, chosen: Predictor) -> Keyframe:
    """Detect and classify ``image``'s faces, follow them in ``live``'s tracker (a frame without
    faces does not age its people), and keep them there as the stream's keyframe."""
    faces = [face for face in chosen.predict(image) if face.detected]
    scores = [list(face.scores.values()) for face in faces]
    tracks = live.tracker.update([face.box for face in faces], scores) if faces else []
    steady = [chosen.with_scores(face, track.scores) for face, track in zip(faces, tracks)]
    live.keyframe = Keyframe(image.size, steady, [track.id for track in tracks])
    return live.keyframe


def stream_frame(frame: np.ndarray | None, live: LiveState | None, model: str | None = None):
    """Live's stream handler: ``analyse_frame``, with the panel and rate redrawn a few times a second
    rather than per frame: redrawn per frame they cost the browser 1.4-2 of 33 frames/s (README, Benchmarks).

    Between redraws the values last sent go out again, which the page shows unchanged. Not
    ``gr.skip()``: Gradio treats it as a component update and rebuilds the component and its
    config on the server, about 0.9 ms per output per frame. For the same reason the panel goes
    out as a component (with its header) only when the header changes, else as plain scores.
    """
    shown, panel, rate, live = analyse_frame(frame, live, model)
    if live.panel_due(time.monotonic()):
        live.sent = (panel.scores, rate)
        if live.header_changes(panel):
            return shown, gr.Label(value=panel.scores, label=panel.header, num_top_classes=3), rate, live
    return shown, *live.sent, live


def analyse_video_file(video_path: str | None, model: str | None = None, progress: gr.Progress = gr.Progress()):
    """The Video tab: annotated clip, per-person timeline, CSV and a status line."""
    if not video_path:
        return None, None, gr.DownloadButton(value=None, interactive=False), VIDEO_PROMPT
    folder = fresh_folder()
    try:
        result = analyse_video(
            video_path,
            video_predictor(model),
            folder / "annotated.mp4",
            progress=lambda fraction: progress(fraction, desc="Analysing frames"),
        )
    except (VideoError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(video_path).name, exc)
        no_csv = gr.DownloadButton(value=None, interactive=False)
        return None, None, no_csv, f"⚠️ Cannot use this {what_failed(exc)}: {exc}."
    csv_path = write_csv(result, folder / "faces_over_time.csv")
    timeline = plot_timeline(result, folder / "timeline.png")
    people = len(result.people)
    who = "person" if people == 1 else "people"
    found = f"**{people}** {who}, numbered in order of appearance" if people else "no face"
    status = f"Analysed **{result.frames}** frames ({result.analysed_fps:.0f} per second of video): {found}."
    download = gr.DownloadButton(value=str(csv_path), interactive=True)
    return str(folder / "annotated.mp4"), str(timeline), download, status


def predict_video_api(video: FileData, model: str = "") -> VideoPrediction:
    """Follow every face through a video clip: per analysed frame, each person's number, box and smoothed scores.

    Args:
        video: a clip (MP4, WebM, MOV, ...) of at most 60 s and 20 MB
        model: one of the page's models by name (its model picker lists them); empty for the default
    Returns:
        the model's name, what was analysed, and every face in every analysed frame
    """
    video = uploaded_path(video)
    if not video:
        log.warning("refused a call without a video")
        raise gr.Error("Upload a video first.", print_exception=False)
    folder = fresh_folder()
    try:
        chosen = video_predictor(model)
        result = analyse_video(video, chosen, folder / "annotated.mp4")
    except (VideoError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(video).name, exc)
        raise gr.Error(f"Cannot use this {what_failed(exc)}: {exc}.", print_exception=False) from exc
    return result.as_json(chosen.model_name)  # a VideoPrediction


def describe_model(model: str | None) -> tuple[str, str | dict]:
    """What the page says about the picked model: its line under the picker, and its "about" text."""
    try:
        chosen = models.choice(model).predictor
    except CheckpointError as exc:
        log.warning("refused model %r: %s", model, exc)
        return f"⚠️ Cannot use this model: {exc}.", gr.skip()  # the about text stays as it was
    return model_facts(chosen), about_text(chosen)


def model_facts(chosen: Predictor) -> str:
    """The model's accuracy, how it is served, and why it is not the one asked for (if so)."""
    metrics = chosen.info.metrics()
    accuracy = f"{metrics['accuracy']:.1%} validation accuracy (FER2013 PublicTest)" if metrics else "no metrics saved"
    served = chosen.onnx.validation_accuracy if chosen.onnx else None
    serving = f"served with {chosen.serving}" + (f" ({served:.1%} validation as served)" if served else "")
    classes = ", ".join(display_name(n) for n in chosen.label_names)
    text = f"**Model:** `{chosen.model_name}` · {accuracy} · {serving} · **Classes:** {classes}"
    return text + "".join(f"\n\n⚠️ {notice}" for notice in (models.notice, chosen.notice) if notice)


def about_text(chosen: Predictor) -> str:
    """The page's plain statement of what the model is, where it is weak, and what happens to uploads."""
    metrics = chosen.info.metrics()
    recall = {name: figures["recall"] for name, figures in metrics.get("per_class", {}).items()}
    weakest = sorted(recall, key=recall.get)[:2]
    weak = ", ".join(f"{display_name(name)} (it finds {recall[name]:.0%} of them)" for name in weakest)
    accuracy = f"{metrics['accuracy']:.1%}" if metrics else "an unmeasured share"
    doubt = chosen.uncertainty
    uncertain = (
        f"Faces scored under {doubt['threshold']:.0%} are marked uncertain: on validation faces the model was right "
        f"on {doubt['accuracy_below']:.0%} of those, against {doubt['accuracy_at_or_above']:.0%} above it."
        if doubt
        else "This checkpoint has no measured uncertainty threshold, so no face is marked uncertain."
    )
    return (
        f"**The model**, `{chosen.model_name}`, was trained on FER2013: 28,709 grayscale face photos of 48x48 "
        "pixels, each labelled with one of seven expressions by people. It names the expression right on "
        f"{accuracy} of FER2013's validation faces; its weakest classes are {weak or 'not measured'}. {uncertain}\n\n"
        "**Expressions are not emotions.** It reads facial muscle patterns as FER2013's labellers saw them; it "
        "cannot tell what someone feels, means or intends, and it is less reliable on faces unlike FER2013's "
        "(turned away, partly covered, very small, unusual lighting). Do not use it to make decisions about people.\n\n"
        "**Your uploads** are decoded in this server's memory, never sent elsewhere, and the copies Gradio keeps on "
        f"disk (uploads, results, downloads) are deleted within "
        f"{(limits.CACHE_SWEEP_S + limits.CACHE_MAX_AGE_S) // 60} minutes. The log records one line when a file is "
        "refused (why, never its contents)."
    )


def limits_text() -> str:
    return (
        f"Photos up to {limits.MAX_UPLOAD_MB} MB and {MAX_PIXELS // 1_000_000} megapixels. Uploads and results are "
        f"deleted from the server within {(limits.CACHE_SWEEP_S + limits.CACHE_MAX_AGE_S) // 60} minutes. "
        f"A Live stream runs for {limits.LIVE_TIME_LIMIT_S // 60} minutes at a time; videos up to {MAX_VIDEO_S} s."
    )


with CallCheckedBlocks(
    title="Facial expression recognition", delete_cache=(limits.CACHE_SWEEP_S, limits.CACHE_MAX_AGE_S)
) as demo:
    gr.Markdown("# Facial expression recognition\nEvery face is found, boxed and labelled with its expressions.")
    model_picker = gr.Dropdown(
        models.dropdown_choices(),
        value=models.default.key,
        label="Model (validation accuracy, parameters, size served)",
        interactive=len(models.choices) > 1,
        elem_id="model-picker",
    )
    facts = gr.Markdown(model_facts(predictor), elem_id="model-facts")
    with gr.Tab("Photo"):
        with gr.Row(elem_id="photo-row"):
            with gr.Column():
                photo = refuse_unreadable_in_one_sentence(
                    gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath", label="Photo", elem_id="photo")
                )
                with gr.Row():
                    top_k = gr.Slider(1, NUM_CLASSES, value=3, step=1, label="Top-k expressions", elem_id="top-k")
                    heatmap = gr.Checkbox(label="Show heatmaps (where the model looked)", elem_id="heatmap")
                analyse = gr.Button("Analyse", variant="primary")
            with gr.Column():
                status = gr.Markdown(PROMPT, elem_id="status")
                annotated = gr.Image(
                    label="Faces",
                    show_label=False,
                    type="pil",
                    format="png",
                    elem_id="annotated",
                    buttons=["download", "fullscreen"],
                )
                face_picker = gr.Dropdown(label="Face", choices=[], interactive=False, elem_id="face-picker")
                label = gr.Label(num_top_classes=3, label="Expressions", elem_id="expressions")
        gallery = gr.Gallery(
            label="Each face: the 48x48 crop the model saw, its heatmap, all seven scores",
            columns=2,
            object_fit="contain",
            format="png",
            allow_preview=False,
            elem_id="face-gallery",
        )
        table = gr.Dataframe(
            headers=["face", "top-k", "note", "x", "y", "width", "height"],
            label="All faces",
            interactive=False,
            elem_id="faces-table",
        )
        with gr.Row():
            csv_download = gr.DownloadButton("Download CSV", value=None, interactive=False, elem_id="download-csv")
            json_download = gr.DownloadButton("Download JSON", value=None, interactive=False, elem_id="download-json")
        show_examples(photo, EXAMPLES, ".jpg", EXAMPLE_CAPTIONS)
        photo_result = gr.State({"status": PROMPT})
        selected = gr.State(0)
        shown = [annotated, status, label, table, gallery, face_picker, csv_download, json_download]
        render = {"fn": render_photo, "inputs": [photo_result, selected, top_k, heatmap], "outputs": shown}
        gr.on(
            [analyse.click, photo.change, model_picker.change],
            lambda image_path, show, model: (analyse_photo(image_path, show, model), 0),
            [photo, heatmap, model_picker],
            [photo_result, selected],
            api_visibility="private",
            **limits.MODEL_EVENTS,
        ).then(**render, api_visibility="private")
        heatmap.change(
            with_heatmaps, [photo_result, heatmap], photo_result, api_visibility="private", **limits.MODEL_EVENTS
        ).then(**render, api_visibility="private")
        face_picker.input(lambda index: index, face_picker, selected, api_visibility="private").then(
            **render, api_visibility="private"
        )
        gallery.select(pick_from_gallery, None, selected, api_visibility="private").then(
            **render, api_visibility="private"
        )
        top_k.change(**render, api_visibility="private")
    with gr.Tab("Live"):
        gr.Markdown(
            "**Start** turns on the webcam and labels every face it sees. Each person keeps a number, and their "
            "scores are averaged over their last frames, so a still face keeps its label."
        )
        start_live = gr.Button("Start", variant="primary", elem_id="start-live")
        with gr.Row(equal_height=True):
            # 320x240 frames: less to encode, send and decode per frame; faces stay findable.
            webcam = refuse_unreadable_in_one_sentence(
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
        with gr.Row():
            live_panel = gr.Label(label=LIVE_PANEL_HEADER, num_top_classes=3, elem_id="live-panel")
            live_rate = gr.Markdown(elem_id="live-rate")
        live_state = gr.State(None)
        start_live.click(None, js=START_LIVE_JS)
        webcam.stream(
            stream_frame,
            [webcam, live_state, model_picker],
            [live, live_panel, live_rate, live_state],
            stream_every=LIVE_STREAM_EVERY_S,
            # No progress indicator redrawn per frame: the browser spent 103-108% of this machine's
            # two cores with it hidden against 110-112% with Gradio's "minimal", and the page
            # showed 29.3 frames/s against 27.9 (four runs each, taking turns).
            show_progress="hidden",
            time_limit=limits.LIVE_TIME_LIMIT_S,
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )
    with gr.Tab("Video"):
        gr.Markdown(
            f"Upload a clip of up to {MAX_VIDEO_S} s and {limits.MAX_UPLOAD_MB} MB. Every face is followed from frame "
            "to frame and keeps its number; you get the annotated clip, each person's expressions over time, and "
            "a CSV of every face in every analysed frame."
        )
        with gr.Row():
            video_in = gr.Video(sources=["upload"], label="Video", elem_id="video")
            video_out = gr.Video(label="Annotated", interactive=False, elem_id="video-annotated")
        video_button = gr.Button("Analyse video", variant="primary")
        show_examples(video_in, EXAMPLES / "video", ".mp4", VIDEO_EXAMPLE_CAPTIONS)
        video_status = gr.Markdown(VIDEO_PROMPT, elem_id="video-status")
        timeline = gr.Image(label="Expressions over time, per person", type="filepath", elem_id="timeline")
        video_csv = gr.DownloadButton("Download CSV", value=None, interactive=False, elem_id="video-csv")
        gr.on(
            [video_button.click, video_in.change],
            analyse_video_file,
            [video_in, model_picker],
            [video_out, timeline, video_csv, video_status],
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )
    with gr.Accordion("What this model can and cannot do, and what happens to your uploads", open=False):
        about = gr.Markdown(about_text(predictor), elem_id="about")
    # The first pick of a model loads it (and may export it to ONNX): model work, so its queue.
    model_picker.change(describe_model, model_picker, [facts, about], api_visibility="private", **limits.MODEL_EVENTS)
    gr.Markdown(limits_text(), elem_id="limits")
    # The public API: two typed endpoints, documented on the page's "Use via API" (Gradio reads
    # their annotations, so this module does not use `from __future__ import annotations`).
    gr.api(predict_api, api_name="predict", **limits.MODEL_EVENTS)
    gr.api(predict_video_api, api_name="predict_video", **limits.MODEL_EVENTS)

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    # show_error=False: the page shows our gr.Error sentences, never the text of an
    # unexpected exception (which can name server paths); those go to the log instead.
    demo.queue(max_size=limits.QUEUE_SIZE, default_concurrency_limit=2).launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        show_error=False,
        css=PAGE_CSS,
        **limits.launch_options(),
    )
