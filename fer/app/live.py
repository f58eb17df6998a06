"""The Live tab: each webcam frame comes back with its faces tracked, boxed and labelled.

Faces are detected and classified on every second frame and drawn again on the one between
(``fer.pipeline.live.Keyframe`` says why), and looked for only around the faces last found, with a
look at the whole frame every few analyses (``fer.pipeline.regions`` says why). A frame without a
face comes back untouched and the panel says "no face": a label on a wall or a test pattern would
look like a real answer.
"""

from __future__ import annotations

import time

import gradio as gr
import numpy as np
from PIL import Image

from fer.app.served import served_models
from fer.model.checkpoint_info import CheckpointError
from fer.model.labels import display_name
from fer.pipeline.annotate import draw_predictions
from fer.pipeline.live import Keyframe, LiveState, Panel
from fer.pipeline.predict import Predictor
from fer.pipeline.regions import RegionDetector

# A frame is asked for every 30 ms: 20 or 25 ms showed no more frames/s in the browser
# (docs/benchmarks.md, Live).
LIVE_STREAM_EVERY_S = 0.03
LIVE_PANEL_HEADER = "Largest face"


def analyse_frame(frame: np.ndarray | None, live: LiveState | None, model: str | None = None):
    """One webcam frame: tracked faces with smoothed labels, what the panel is to show (the
    largest face) and the frame rate."""
    live = live or LiveState()
    if frame is None:
        return None, Panel(LIVE_PANEL_HEADER), "", live
    image = Image.fromarray(frame)
    try:
        chosen = served_models().choice(model).live
        keyframe = live.held(image.size) or detect_keyframe(image, live, chosen)
    except CheckpointError as exc:  # an unknown model, or one whose call failed or ran too long
        return frame, Panel(f"⚠️ Cannot use this model: {exc}."), "", live
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
    """Detect and classify ``image``'s faces (around the faces followed, or in the whole frame:
    ``LiveState.look``), follow them in ``live``'s tracker (a frame without faces does not age its
    people), and keep them there as the stream's keyframe."""
    regions = live.look(image.size)
    looking = chosen if regions is None else chosen.with_detector(RegionDetector(chosen.detector, regions))
    faces = [face for face in looking.predict(image) if face.detected]
    scores = [list(face.scores.values()) for face in faces]
    tracks = live.tracker.update([face.box for face in faces], scores) if faces else []
    steady = [chosen.with_scores(face, track.scores) for face, track in zip(faces, tracks)]
    live.keyframe = Keyframe(image.size, steady, [track.id for track in tracks])
    return live.keyframe


def stream_frame(frame: np.ndarray | None, live: LiveState | None, model: str | None = None):
    """Live's stream handler: ``analyse_frame``, with the panel and rate redrawn a few times a
    second rather than per frame, which costs the browser frames (docs/benchmarks.md, Live).

    Between redraws the values last sent go out again, which the page shows unchanged. Not
    ``gr.skip()``: Gradio treats it as a component update and rebuilds the component and its
    config on the server for every output of every frame. For the same reason the panel goes
    out as a component (with its header) only when the header changes, else as plain scores.
    """
    shown, panel, rate, live = analyse_frame(frame, live, model)
    if live.panel_due(time.monotonic()):
        live.sent = (panel.scores, rate)
        if live.header_changes(panel):
            return shown, gr.Label(value=panel.scores, label=panel.header, num_top_classes=3), rate, live
    return shown, *live.sent, live
