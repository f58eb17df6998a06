"""Turning whatever image a user hands us into pixels we can work with.

Both the training data loader and the app read images from outside, so the awkward
cases (EXIF rotation, animated GIFs, 16-bit, CMYK, palette and alpha modes, huge or
truncated files) are handled once, here.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Decompression-bomb guard: anything above this many pixels is refused before decoding.
MAX_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageError(ValueError):
    """An input that is not a usable image; the message is meant for the end user."""


def open_image(source: bytes | str | Path | Image.Image) -> Image.Image:
    """Open an image fully decoded, upright (EXIF orientation applied), first frame only.

    Raises ImageError with a one-sentence reason for non-images, truncated files and
    images too large to decode safely.
    """
    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, bytes):
            img = Image.open(io.BytesIO(source))
        else:
            img = Image.open(source)
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageError(f"image is {width}x{height} pixels, more than the {MAX_PIXELS:,} we accept")
        img.seek(0)  # animated GIF/WebP/TIFF: the first frame
        img.load()  # force a full decode now, so truncation is caught here
        img = ImageOps.exif_transpose(img)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"image has far more than the {MAX_PIXELS:,} pixels we accept") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"not a readable image ({exc})") from exc
    if img.width < 1 or img.height < 1:
        raise ImageError("image has no pixels")
    return img


def _high_bit_depth_to_8bit(img: Image.Image) -> Image.Image:
    """Scale 16-bit/32-bit/float images to 0..255 by their actual range.

    Pillow's own convert('L') clips such images instead of scaling them, which turns
    most 16-bit photos white.
    """
    arr = np.asarray(img, dtype=np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(scaled.round().astype(np.uint8), mode="L")


def to_rgb(img: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparent regions become white, as a viewer would show them."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _high_bit_depth_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img.convert("RGB")


def to_gray(img: Image.Image) -> Image.Image:
    """Any mode -> 8-bit grayscale ('L'), the colour space every FER model sees."""
    if img.mode == "L":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_bit_depth_to_8bit(img)
    return to_rgb(img).convert("L")
