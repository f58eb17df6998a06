"""The page's ``gr.Blocks``, refusing malformed calls in one sentence and one log line.

Before any app code runs, Gradio checks each call in ``Blocks.preprocess_data``: that it sends a
value for every input (``validate_inputs``) and that every file it names was uploaded to this
server (``InvalidPathError`` for ``/etc/passwd`` or an empty path). It raises plain exceptions
for both, and its queue prints a full traceback for each (``gradio/queueing.py`` prints every
exception that is not a quiet ``gr.Error``) for what is only a caller's mistake. Gradio 6.31 has
no hook ahead of these checks, so this subclass turns them into quiet ``gr.Error`` sentences.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

log = logging.getLogger("fer.app")

NOT_UPLOADED = "it was not uploaded to this app"


class CallCheckedBlocks(gr.Blocks):
    """``gr.Blocks`` whose refusals of a malformed call are a ``gr.Error``: one sentence, no traceback."""

    async def preprocess_data(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().preprocess_data(*args, **kwargs)
        except InvalidPathError as exc:  # its message names the path: neither shown nor logged
            log.warning("refused a file path: %s", NOT_UPLOADED)
            raise gr.Error(f"Cannot use this file: {NOT_UPLOADED}.", duration=None, print_exception=False) from exc

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        try:
            super().validate_inputs(block_fn, inputs)
        except ValueError as exc:  # too few values; its message lists them all: not shown
            wanted = len(block_fn.inputs)
            log.warning("refused a call to %s: %d of its %d values", block_fn.name, len(inputs), wanted)
            raise gr.Error(
                f"Cannot answer this call: it sends {len(inputs)} of the {wanted} values it needs.",
                print_exception=False,
            ) from exc
