"""Drawing predictions onto the photo: numbered boxes, labels, heatmaps; sized for the page.

Boxes are numbered 1..n (largest face first) so that "face 2" in the table, the gallery
and the picture is the same face. Tags go under their box, inside the picture, where the
page's own overlays (the image label top left, the toolbar top right) do not cover them.
Pillow and numpy only: the app draws without torch.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fer.model.labels import display_name
from fer.pipeline.faces import CropFrame
from fer.pipeline.predict import FacePrediction

# One colour per expression, so a glance at the boxes shows the mood of a group.
COLOURS = {
    "angry": (220, 50, 47),
    "disgust": (133, 153, 0),
    "fear": (108, 113, 196),
    "happy": (253, 184, 19),
    "neutral": (147, 161, 161),
    "sad": (38, 139, 210),
    "surprise": (211, 54, 130),
}
DEFAULT_COLOUR = (42, 161, 152)
MIN_DISPLAY_SIDE = 384  # smaller inputs are enlarged for display, so their labels and heatmaps are legible
MAX_DISPLAY_SIDE = 1280
PIXEL_ART_SIDE = 96  # up to this size (FER2013's 48 px crops) enlarge with square pixels, not blur


def colour_of(label: str) -> tuple[int, int, int]:
    return COLOURS.get(label, DEFAULT_COLOUR)


def display_canvas(image: Image.Image) -> Image.Image:
    """An RGB copy of ``image`` at a size the page shows well: tiny inputs enlarged, huge ones reduced."""
    canvas = image.convert("RGB")  # always a copy, so drawing never touches the caller's image
    side = max(canvas.size)
    if side < MIN_DISPLAY_SIDE:
        factor = MIN_DISPLAY_SIDE / side
        size = (round(canvas.width * factor), round(canvas.height * factor))
        return canvas.resize(size, Image.NEAREST if side <= PIXEL_ART_SIDE else Image.BICUBIC)
    canvas.thumbnail((MAX_DISPLAY_SIDE, MAX_DISPLAY_SIDE))
    return canvas


def draw_predictions(
    canvas: Image.Image,
    faces: list[FacePrediction],
    box_scale: float = 1.0,
    selected: int | None = None,
    numbers: list[int] | None = None,
) -> Image.Image:
    """Box, number and label every detected face on ``canvas`` (RGB, drawn in place).

    ``box_scale`` maps the faces' boxes (input pixels) to canvas pixels. Faces are numbered
    1..n, or by ``numbers`` (a tracked person's id). The ``selected`` face gets a wider box
    with a white rim; an uncertain label ends in "?".
    """
    draw = ImageDraw.Draw(canvas)
    scale = max(canvas.size) / 640
    width = max(2, round(3 * scale))
    font = ImageFont.load_default(size=max(12, round(16 * scale)))
    for index, face in enumerate(faces):
        if not face.detected:
            continue  # a whole-image guess has no box; the page says so in words
        number = numbers[index] if numbers else index + 1
        best = face.top_k(1)[0]
        colour = colour_of(best["label"])
        x, y, w, h = (value * box_scale for value in face.box)
        if index == selected:
            draw.rectangle([x - width, y - width, x + w + width, y + h + width], outline=(255, 255, 255), width=width)
            draw.rectangle([x, y, x + w, y + h], outline=colour, width=2 * width)
        else:
            draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"{number} {display_name(best['label'])} {best['score']:.0%}{'?' if face.uncertain else ''}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tag_w, tag_h = right - left + 2 * width, bottom - top + 2 * width
        tag_y = y + h if y + h + tag_h <= canvas.height else max(0, y - tag_h)
        tag_x = min(max(0, x), max(0, canvas.width - tag_w))
        draw.rectangle([tag_x, tag_y, tag_x + tag_w, tag_y + tag_h], fill=colour)
        draw.text((tag_x + width - left, tag_y + width - top), text, fill=(0, 0, 0), font=font)
    return canvas


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """0..1 heat -> RGB uint8 on a black-red-yellow-white ramp (no colormap dependency)."""
    r = np.clip(heat * 3, 0, 1)
    g = np.clip(heat * 3 - 1, 0, 1)
    b = np.clip(heat * 3 - 2, 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def paint_heatmap(image: Image.Image, heat: np.ndarray, frame: CropFrame, opacity: float = 0.6) -> None:
    """Draw ``heat`` (over a crop) onto ``image`` where the crop came from, in place.

    Hot regions are opaque, cold ones transparent, so the face stays visible around them.
    """
    side = max(1, round(frame.side))
    colours = Image.fromarray(heat_colours(heat)).resize((side, side), Image.BILINEAR).convert("RGBA")
    alpha = Image.fromarray((np.clip(heat, 0, 1) * 255 * opacity).astype(np.uint8)).resize((side, side), Image.BILINEAR)
    colours.putalpha(alpha)
    turned = colours.rotate(-math.degrees(frame.angle), resample=Image.BILINEAR, expand=True)
    corner = (round(frame.x - turned.width / 2), round(frame.y - turned.height / 2))
    image.paste(turned, corner, turned)
