"""The page's image inputs: an image Gradio cannot open is refused in one sentence, not "Error".

Gradio opens every uploaded photo and streamed frame with Pillow before the app sees it,
and Pillow refuses images over ``fer.pipeline.images.MAX_PIXELS`` from their header (see there).
Raised inside Gradio, that refusal (or a file that is no image at all) would reach the page
as a bare "Error" and the log as a traceback; ``refuse_unreadable_in_one_sentence`` makes it
the sentence ``/predict`` gives, logged in one line, shown until closed (``duration=None``:
the event never ran, so the status line cannot say it). It wraps the component's
``preprocess`` rather than subclassing ``gr.Image``, because Gradio writes a ``.pyi`` stub
beside the source of every subclass.
"""

from __future__ import annotations

import logging

import gradio as gr
from PIL import Image

from fer.pipeline.images import DAMAGED_IMAGE, NOT_AN_IMAGE, TOO_MANY_PIXELS

log = logging.getLogger("fer.app")


def refuse_unreadable_in_one_sentence(component: gr.Image) -> gr.Image:
    """``component``, whose decoding refusals become a ``gr.Error`` sentence (in place)."""
    decode = component.preprocess

    def preprocess(payload: object) -> object:
        try:
            return decode(payload)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            log.warning("refused an image: %s", TOO_MANY_PIXELS)
            raise gr.Error(f"Cannot use this file: {TOO_MANY_PIXELS}.", duration=None, print_exception=False) from exc
        except Image.UnidentifiedImageError as exc:  # its message names the server's file: not shown
            log.warning("refused an upload: %s", NOT_AN_IMAGE)
            raise gr.Error(f"Cannot use this file: {NOT_AN_IMAGE}.", duration=None, print_exception=False) from exc
        except (OSError, SyntaxError, ValueError) as exc:
            log.warning("refused an upload: %s", DAMAGED_IMAGE)
            raise gr.Error(f"Cannot use this file: {DAMAGED_IMAGE}.", duration=None, print_exception=False) from exc

    component.preprocess = preprocess
    return component
