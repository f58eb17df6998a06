"""Facial expression recognition: the Gradio page (a Hugging Face Space's entry point).

    python app.py                          # the embedded model, on http://127.0.0.1:7860
    FER_MODEL=user/repo python app.py      # a model from the Hub (or a local checkpoint folder)
    FER_ONNX=0 python app.py               # classify with torch even where an ONNX export exists

This file is the page, top to bottom as a visitor sees it, and the wiring of its events. The
handlers live in ``fer.app`` (one module per tab), the face pipeline in ``fer.pipeline``.
Public API, typed: ``/predict`` and ``/predict_video`` (``fer.app.api``); UI events are private.
"""

import logging
import os

import gradio as gr
import matplotlib

from fer.app import about, api, device_live, limits, live, photo, video
from fer.app.blocks import CallCheckedBlocks
from fer.app.examples import EXAMPLE_CAPTIONS, EXAMPLES, VIDEO_EXAMPLE_CAPTIONS, show_examples
from fer.app.image_input import refuse_unreadable_in_one_sentence
from fer.app.isolation import isolation_app_kwargs
from fer.app.served import served_models
from fer.pipeline.live import START_LIVE_JS
from fer.pipeline.video import MAX_VIDEO_S

# Headless, and named: Gradio asks matplotlib for its backend around every event, and
# resolving the default one imports pyplot, a third of a second of the first answer.
matplotlib.use("Agg")

models = served_models()  # the default model and the picker's others, loaded at start
gr.set_static_paths(device_live.static_paths())  # device Live's scripts and model files
default = models.default.predictor
PAGE_CSS = """
.muted { opacity: 0.6; }  /* whole-image guesses and uncertain faces */
/* the live output as large as the webcam preview beside it, not at the frames' 320 px */
#live-output .image-frame, #live-output img { width: 100% !important; height: auto !important; }
#live-output img { object-fit: contain !important; }
/* on a phone the columns stack: results first, so they are not below the fold */
@media (max-width: 640px) { #photo-row { flex-direction: column-reverse; } }
"""

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
    facts = gr.Markdown(about.model_facts(default), elem_id="model-facts")

    with gr.Tab("Photo"):
        with gr.Row(elem_id="photo-row"):
            with gr.Column():
                photo_in = refuse_unreadable_in_one_sentence(
                    gr.Image(sources=["upload", "webcam", "clipboard"], type="filepath", label="Photo", elem_id="photo")
                )
                with gr.Row():
                    num_classes = len(default.label_names)
                    top_k = gr.Slider(1, num_classes, value=3, step=1, label="Top-k expressions", elem_id="top-k")
                    heatmap = gr.Checkbox(label="Show heatmaps (where the model looked)", elem_id="heatmap")
                analyse = gr.Button("Analyse", variant="primary")
            with gr.Column():
                status = gr.Markdown(photo.PROMPT, elem_id="status")
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
        show_examples(photo_in, EXAMPLES, ".jpg", EXAMPLE_CAPTIONS)

        # One analysis per photo and model; every other control only redraws from it.
        photo_result = gr.State({"status": photo.PROMPT})
        selected = gr.State(0)
        shown = [annotated, status, label, table, gallery, face_picker, csv_download, json_download]
        render = {"fn": photo.render_photo, "inputs": [photo_result, selected, top_k, heatmap], "outputs": shown}
        gr.on(
            [analyse.click, photo_in.change, model_picker.change],
            lambda image_path, show, model: (photo.analyse_photo(image_path, show, model), 0),
            [photo_in, heatmap, model_picker],
            [photo_result, selected],
            api_visibility="private",
            **limits.MODEL_EVENTS,
        ).then(**render, api_visibility="private")
        heatmap.change(
            photo.with_heatmaps, [photo_result, heatmap], photo_result, api_visibility="private", **limits.MODEL_EVENTS
        ).then(**render, api_visibility="private")
        face_picker.input(lambda index: index, face_picker, selected, api_visibility="private").then(
            **render, api_visibility="private"
        )
        gallery.select(photo.pick_from_gallery, None, selected, api_visibility="private").then(
            **render, api_visibility="private"
        )
        top_k.change(**render, api_visibility="private")

    with gr.Tab("Live"):
        gr.Markdown(
            "**Start** turns on the webcam and labels every face it sees. Each person keeps a number, and their "
            "scores are averaged over their last frames, so a still face keeps its label."
        )
        live_mode = gr.Radio(
            [device_live.ON_DEVICE, device_live.ON_SERVER],
            value=device_live.ON_DEVICE,
            label="Where Live runs",
            elem_id="live-mode",
        )
        # Why Live runs on the server, when the device could not run it (written by the page's script).
        gr.HTML("", html_template='<p class="fer-fallback" role="status"></p>', elem_id="live-fallback")
        with gr.Column(visible=True) as device_column:
            # Frames never leave the browser: the models run there (fer/app/device_live.py).
            device_html = gr.HTML(
                device_live.device_config(models.default.key),
                html_template=device_live.TEMPLATE,
                css_template=device_live.CSS,
                js_on_load=device_live.mount_js(),
                elem_id="device-live",
            )
        with gr.Column(visible=False) as server_column:
            gr.Markdown("Live runs on the server: each frame is sent to it and comes back labelled.")
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
                live_out = gr.Image(label="Live", type="numpy", format="jpeg", elem_id="live-output")
            with gr.Row():
                live_panel = gr.Label(label=live.LIVE_PANEL_HEADER, num_top_classes=3, elem_id="live-panel")
                live_rate = gr.Markdown(elem_id="live-rate")
        live_state = gr.State(None)
        start_live.click(None, js=START_LIVE_JS)
        webcam.stream(
            live.stream_frame,
            [webcam, live_state, model_picker],
            [live_out, live_panel, live_rate, live_state],
            stream_every=live.LIVE_STREAM_EVERY_S,
            # No progress indicator redrawn per frame: it costs the browser frames (docs/benchmarks.md, Live).
            show_progress="hidden",
            time_limit=limits.LIVE_TIME_LIMIT_S,
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )
        live_mode.change(
            device_live.show_mode,
            live_mode,
            [device_column, server_column],
            js=device_live.STOP_DEVICE_JS,
            api_visibility="private",
        )
        # The picked model drives device Live too: the page gets its files and numbers.
        model_picker.change(
            device_live.device_config, model_picker, device_html, api_visibility="private", **limits.MODEL_EVENTS
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
        video_status = gr.Markdown(video.VIDEO_PROMPT, elem_id="video-status")
        timeline = gr.Image(label="Expressions over time, per person", type="filepath", elem_id="timeline")
        video_csv = gr.DownloadButton("Download CSV", value=None, interactive=False, elem_id="video-csv")
        gr.on(
            [video_button.click, video_in.change],
            video.analyse_video_file,
            [video_in, model_picker],
            [video_out, timeline, video_csv, video_status],
            api_visibility="private",
            **limits.MODEL_EVENTS,
        )

    with gr.Accordion("What this model can and cannot do, and what happens to your uploads", open=False):
        about_model = gr.Markdown(about.about_text(default), elem_id="about")
    # The first pick of a model loads it (and may export it to ONNX): model work, so its queue.
    model_picker.change(
        about.describe_model, model_picker, [facts, about_model], api_visibility="private", **limits.MODEL_EVENTS
    )
    gr.Markdown(about.limits_text(), elem_id="limits")

    # The public API: two typed endpoints, documented on the page's "Use via API".
    gr.api(api.predict_api, api_name="predict", **limits.MODEL_EVENTS)
    gr.api(api.predict_video_api, api_name="predict_video", **limits.MODEL_EVENTS)

# How the page is queued and served, by launch() below or by another ASGI server that mounts it
# (gr.mount_gradio_app). show_error=False: the page shows our gr.Error sentences, never the text
# of an unexpected exception (which can name server paths); those go to the log instead.
QUEUE_OPTIONS = {"max_size": limits.QUEUE_SIZE, "default_concurrency_limit": 2}
# Served cross-origin isolated, so device Live's models may use several threads (fer.app.isolation).
SERVE_OPTIONS = {
    "show_error": False,
    "css": PAGE_CSS,
    "app_kwargs": isolation_app_kwargs(),
    **limits.launch_options(),
}

if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    demo.queue(**QUEUE_OPTIONS).launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"), **SERVE_OPTIONS)
