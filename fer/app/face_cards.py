"""One picture per face for the page's gallery: the crop the model saw, its heatmap, all scores.

The crop is the 48x48 face exactly as classified, enlarged with square pixels; the
heatmap (when asked for) sits beside it with its colour legend; bars show all seven
scores, so a close second choice is as visible as the first.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from fer.model.labels import display_name
from fer.pipeline.annotate import colour_of, heat_colours
from fer.pipeline.predict import FacePrediction

FACE_SIDE = 144  # 3x the model's 48 px
PAD = 16
BAR_AREA = 250
LEGEND_H = 30
BACKGROUND = (255, 255, 255)
MUTED = (150, 150, 150)


def face_card(face: FacePrediction, heat: np.ndarray | None = None) -> Image.Image:
    """The face, its heatmap with legend if ``heat`` is given, and a bar per class."""
    panels = 1 if heat is None else 2
    width = PAD + panels * (FACE_SIDE + PAD) + BAR_AREA + PAD
    height = PAD + FACE_SIDE + LEGEND_H + PAD
    card = Image.new("RGB", (width, height), BACKGROUND)
    crop = Image.fromarray(face.crop).convert("RGB").resize((FACE_SIDE, FACE_SIDE), Image.NEAREST)
    card.paste(crop, (PAD, PAD))
    draw = ImageDraw.Draw(card)
    font = ImageFont.load_default(size=13)
    draw.text((PAD, PAD + FACE_SIDE + 6), "what the model saw", fill=MUTED, font=font)
    if heat is not None:
        left = PAD + FACE_SIDE + PAD
        card.paste(_overlay(face.crop, heat), (left, PAD))
        _legend(draw, left, PAD + FACE_SIDE + 6, font)
    _bars(draw, PAD + panels * (FACE_SIDE + PAD), face, font)
    return card


def _overlay(crop: np.ndarray, heat: np.ndarray) -> Image.Image:
    """The crop in grey with the heat blended over it, hot areas most opaque."""
    grey = np.repeat(crop[..., None].astype(np.float32), 3, axis=2)
    alpha = np.clip(heat, 0, 1)[..., None] * 0.7
    blended = grey * (1 - alpha) + heat_colours(heat).astype(np.float32) * alpha
    return Image.fromarray(blended.astype(np.uint8)).resize((FACE_SIDE, FACE_SIDE), Image.BILINEAR)


def _legend(draw: ImageDraw.ImageDraw, left: int, top: int, font: ImageFont.ImageFont) -> None:
    """A colour ramp from 'low' to 'high' attention under the heatmap."""
    ramp = heat_colours(np.linspace(0, 1, FACE_SIDE - 60))
    for i, colour in enumerate(ramp):
        draw.line([(left + 28 + i, top + 2), (left + 28 + i, top + 12)], fill=tuple(int(c) for c in colour))
    draw.text((left, top), "low", fill=MUTED, font=font)
    draw.text((left + FACE_SIDE - 28, top), "high", fill=MUTED, font=font)


def _bars(draw: ImageDraw.ImageDraw, left: int, face: FacePrediction, font: ImageFont.ImageFont) -> None:
    row_h = (FACE_SIDE + LEGEND_H - 4) // max(1, len(face.scores))
    name_w, bar_w = 70, BAR_AREA - 70 - 44
    best = face.top_k(1)[0]["label"]
    for row, (label, score) in enumerate(face.scores.items()):
        y = PAD + row * row_h
        ink = (0, 0, 0) if label == best else (90, 90, 90)
        draw.text((left, y), display_name(label), fill=ink, font=font)
        draw.rectangle([left + name_w, y + 2, left + name_w + bar_w, y + row_h - 6], outline=(220, 220, 220))
        filled = round(bar_w * score)
        if filled:
            draw.rectangle([left + name_w, y + 2, left + name_w + filled, y + row_h - 6], fill=colour_of(label))
        draw.text((left + name_w + bar_w + 6, y), f"{score:.0%}", fill=ink, font=font)
