"""The Photo tab: analyse a photo once, then draw everything the tab shows from that analysis.

Picking another face, changing top-k or turning heatmaps on redraws from the stored result;
only a new photo or model runs the detector and classifier again. Without ``from __future__
import annotations``: Gradio reads ``gr.SelectData`` off the handler's annotation.
"""

import gradio as gr
import numpy as np
import spaces

from fer.app.downloads import write_downloads
from fer.app.face_cards import face_card
from fer.app.served import run_predictor, served_models, what_failed
from fer.app.text import plain
from fer.model.checkpoint_info import CheckpointError
from fer.model.labels import display_name
from fer.pipeline.annotate import display_canvas, draw_predictions, paint_heatmap
from fer.pipeline.images import ImageError, input_scale
from fer.pipeline.predict import FacePrediction, Predictor, within_call_limit

PROMPT = "Upload a photo, take a webcam snapshot or paste one."


def clamp_top_k(top_k: float | None) -> int:
    """The slider's (or a caller's) top-k as a whole number from 1 to the model's classes."""
    num_classes = len(served_models().default.predictor.label_names)
    return int(min(max(1, round(3 if top_k is None else top_k)), num_classes))


@spaces.GPU
def analyse_photo(image_path: str | None, show_heatmap: bool, model: str | None = None) -> dict:
    """Detect and classify once; what the page shows is drawn from this by ``render_photo``."""
    if not image_path:  # the photo was cleared (or not given yet)
        return {"status": PROMPT}
    try:
        chosen, image, faces = run_predictor(image_path, model)
    except (ImageError, CheckpointError) as exc:
        return {"status": f"⚠️ Cannot use this {what_failed(exc)}: {plain(exc)}."}  # stays until the next action
    return with_heatmaps({"image": image, "faces": faces, "heat": None, "predictor": chosen}, show_heatmap)


def with_heatmaps(result: dict, show_heatmap: bool) -> dict:
    """Add Grad-CAM heatmaps once, when first asked for (they need torch; nothing else is re-run)."""
    if not show_heatmap or not result.get("faces") or result["heat"] is not None or result.get("heat_refused"):
        return result
    from fer.pipeline.explain import grad_cam  # torch, imported only when a heatmap is asked for

    faces, chosen = result["faces"], result["predictor"]
    top = [chosen.label_names.index(face.top_k(1)[0]["label"]) for face in faces]
    try:
        heat = within_call_limit(lambda: grad_cam(chosen.loaded, np.stack([face.crop for face in faces]), top))
    except CheckpointError as exc:  # the photo's answer stands; only its heatmaps are refused
        return {**result, "heat_refused": f"⚠️ No heatmaps from this model: {plain(exc)}."}
    return {**result, "heat": heat}


def photo_status(faces: list[FacePrediction], chosen: Predictor) -> str:
    """The line above the photo: how many faces, which are doubtful, or that none was found."""
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
    status = photo_status(faces, chosen) + (f"\n\n{result['heat_refused']}" if result.get("heat_refused") else "")
    return shown, status, label, face_rows(as_json["faces"], k), gallery, picker, *downloads


def describe(faces: list[FacePrediction]) -> str:
    """The annotated photo's alt text: what a sighted visitor reads off the boxes."""
    if not faces[0].detected:
        return "The photo; no face was found in it."
    return f"The photo with {len(faces)} numbered face boxes: " + "; ".join(
        gallery_caption(i, face) for i, face in enumerate(faces)
    )


def gallery_caption(index: int, face: FacePrediction) -> str:
    """A face's caption in the gallery and the face picker: its number and best expression."""
    best = face.top_k(1)[0]
    what = f"{display_name(best['label'])} {best['score']:.0%}{' (uncertain)' if face.uncertain else ''}"
    return f"Face {index + 1}: {what}" if face.detected else f"Whole image (no face found): {what}"


def pick_from_gallery(event: gr.SelectData) -> int:
    """The face a gallery click picks."""
    return event.index


def face_rows(faces: list[dict], k: int) -> list[list]:
    """The table of all faces: number, top-k, a note, and the box."""
    return [
        [
            i + 1,
            ", ".join(f"{display_name(t['label'])} {t['score']:.0%}" for t in face["top_k"][:k]),
            "uncertain" if face["uncertain"] else ("whole-image guess" if not face["detected"] else ""),
            *face["box"],
        ]
        for i, face in enumerate(faces)
    ]
