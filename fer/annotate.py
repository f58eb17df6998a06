"""Drawing predictions onto the photo: a box per face, its top label and confidence."""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont

from fer.images import input_scale
from fer.predict import FacePrediction

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


def draw_predictions(image: Image.Image, faces: list[FacePrediction]) -> Image.Image:
    """A copy of ``image`` with each detected face boxed and labelled (in place if RGB).

    Boxes are in input pixels; an image ``open_image`` reduced is drawn on at its own scale.
    """
    canvas = image if image.mode == "RGB" else image.convert("RGB")
    shrink = 1 / input_scale(canvas)
    draw = ImageDraw.Draw(canvas)
    scale = max(canvas.size) / 640
    width = max(2, round(3 * scale))
    font = ImageFont.load_default(size=max(12, round(16 * scale)))
    for face in faces:
        best = face.top_k(1)[0]
        colour = COLOURS.get(best["label"], DEFAULT_COLOUR)
        x, y, w, h = (value * shrink for value in face.box)
        if face.detected:
            draw.rectangle([x, y, x + w, y + h], outline=colour, width=width)
        text = f"{best['label']} {best['score']:.0%}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tag_h = bottom - top + 2 * width
        tag_y = y - tag_h if y - tag_h >= 0 else y
        draw.rectangle([x, tag_y, x + right - left + 2 * width, tag_y + tag_h], fill=colour)
        draw.text((x + width - left, tag_y + width - top), text, fill=(0, 0, 0), font=font)
    return canvas
