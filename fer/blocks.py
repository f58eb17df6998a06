"""The page's ``gr.Blocks``, refusing a file it never received in one sentence and one log line.

Before any app code runs, Gradio checks that every file an event names was uploaded to this
server, and raises ``InvalidPathError`` for one that was not (a caller sending ``/etc/passwd``
or an empty path). Its queue then prints a full traceback for what is only a caller's mistake
(``gradio/queueing.py`` prints every exception that is not a quiet ``gr.Error``), and Gradio
6.31 offers no component hook ahead of that check: the one place to catch it is
``Blocks.preprocess_data``, which runs it for every input of every event and API call.
"""

from __future__ import annotations

import logging
from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

log = logging.getLogger("fer.app")

NOT_UPLOADED = "it was not uploaded to this app"


class UploadsOnlyBlocks(gr.Blocks):
    """``gr.Blocks`` whose refusal of a path nobody uploaded is a ``gr.Error``: one sentence, no traceback."""

    async def preprocess_data(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().preprocess_data(*args, **kwargs)
        except InvalidPathError as exc:  # its message names the path: neither shown nor logged
            log.warning("refused a file path: %s", NOT_UPLOADED)
            raise gr.Error(f"Cannot use this file: {NOT_UPLOADED}.", duration=None, print_exception=False) from exc
