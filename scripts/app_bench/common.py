"""The photos, clip and timer that every app benchmark shares."""

from __future__ import annotations

import io

from PIL import Image

from app_bench import ROOT
from train import bench

ONE_FACE = ROOT / "examples" / "one_face.jpg"
CLIP = ROOT / "examples" / "video" / "tears_to_laughter.mp4"


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
