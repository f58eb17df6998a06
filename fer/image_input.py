"""The page's image inputs: an oversize image is refused in one sentence, not a bare "Error".

Gradio opens every uploaded photo and streamed frame with Pillow before the app sees it,
and Pillow refuses images over ``fer.images.MAX_PIXELS`` from their header (see there).
Raised inside Gradio, that refusal would reach the page as a bare "Error" and the log as a
traceback; ``refuse_oversize_in_one_sentence`` makes it the sentence ``/predict`` gives,
logged in one line. It wraps the component's ``preprocess`` rather than subclassing
``gr.Image``, because Gradio writes a ``.pyi`` stub beside the source of every subclass.
"""

from __future__ import annotations

import logging

import gradio as gr
from PIL import Image

from fer.images import TOO_MANY_PIXELS

log = logging.getLogger("fer.app")


def refuse_oversize_in_one_sentence(component: gr.Image) -> gr.Image:
    """``component``, whose decoding refusals become a ``gr.Error`` sentence (in place)."""
    decode = component.preprocess

    def preprocess(payload: object) -> object:
        try:
            return decode(payload)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            log.warning("refused an image: %s", TOO_MANY_PIXELS)
            raise gr.Error(f"Cannot use this file: {TOO_MANY_PIXELS}.", print_exception=False) from exc

    component.preprocess = preprocess
    return component
