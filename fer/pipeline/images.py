"""Turning whatever image a user hands us into pixels we can work with.

Both the training data loader and the app read images from outside, so the awkward
cases (EXIF rotation, animated GIFs, 16-bit, CMYK, palette and alpha modes, huge or
truncated files) are handled once, here.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

# Decompression-bomb guard: anything above this many pixels is refused from its header,
# before decoding. Pillow's own check is set to the same limit and made an error, so every
# decoder in the process refuses such images too, Gradio's own for streamed frames included.
MAX_PIXELS = 50_000_000
TOO_MANY_PIXELS = f"image has more than the {MAX_PIXELS:,} pixels we accept"
NOT_AN_IMAGE = "not a readable image: not a format we recognise"
DAMAGED_IMAGE = "not a readable image: the file is damaged or cut short"
NO_SUCH_FILE = "no such file"  # a batch's listed path that is gone: not to be called damaged
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

# An image reduced on decoding carries how many input pixels each of its pixels stands for.
INPUT_SCALE = "fer_input_scale"


class ImageError(ValueError):
    """An input that is not a usable image; the message is meant for the end user."""


def open_image(source: bytes | str | Path | Image.Image, max_side: int | None = None) -> Image.Image:
    """Open an image fully decoded, upright (EXIF orientation applied), first frame only.

    With ``max_side``, a larger image is reduced to fit it as it is decoded (JPEGs decode
    straight at 1/2 to 1/8 scale), so one huge upload cannot hold hundreds of megabytes;
    ``input_scale`` then says how to map its pixels back to the input's.

    Raises ImageError with a one-sentence reason for non-images, truncated files and
    images too large to decode safely.
    """
    if isinstance(source, Image.Image) and INPUT_SCALE in source.info and max(source.size) <= (max_side or math.inf):
        return source  # already opened here (decoded, upright, within max_side): nothing to redo
    try:
        if isinstance(source, Image.Image):
            img = source
        elif isinstance(source, bytes):
            img = Image.open(io.BytesIO(source))
        else:
            img = Image.open(source)
        width, height = img.size
        prior_scale = input_scale(img)
        if width * height > MAX_PIXELS:
            raise ImageError(f"image is {width}x{height} pixels, more than the {MAX_PIXELS:,} we accept")
        img.seek(0)  # animated GIF/WebP/TIFF: the first frame
        if max_side:
            img.draft(None, (max_side, max_side))  # JPEG only; other formats ignore it
        img.load()  # force a full decode now, so truncation is caught here
        if img is source:
            img = ImageOps.exif_transpose(img)  # a copy: the caller's image stays as it was
        else:
            ImageOps.exif_transpose(img, in_place=True)  # no second full-size copy
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(TOO_MANY_PIXELS) from exc
    except Image.UnidentifiedImageError as exc:  # its message names the server's file: not shown
        raise ImageError(NOT_AN_IMAGE) from exc
    except FileNotFoundError as exc:
        raise ImageError(NO_SUCH_FILE) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(DAMAGED_IMAGE) from exc
    if img.width < 1 or img.height < 1:
        raise ImageError("image has no pixels")
    if max_side and max(img.size) > max_side:
        factor = max_side / max(img.size)
        size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
        img = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    img.info[INPUT_SCALE] = prior_scale * max(width, height) / max(img.size)
    return img


def input_scale(img: Image.Image) -> float:
    """Input pixels per pixel of ``img`` (1.0 unless ``open_image`` reduced it)."""
    return float(img.info.get(INPUT_SCALE, 1.0))


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
    """Any mode -> RGB; transparent regions become white, as a viewer would show them.

    An RGB image is returned as it is, not copied (a Live frame would pay for the copy): do not draw on it.
    """
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = _high_bit_depth_to_8bit(img)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, img).convert("RGB")
    return img if img.mode == "RGB" else img.convert("RGB")


def to_gray(img: Image.Image) -> Image.Image:
    """Any mode -> 8-bit grayscale ('L'), the colour space every FER model sees."""
    if img.mode == "L":
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _high_bit_depth_to_8bit(img)
    return to_rgb(img).convert("L")
