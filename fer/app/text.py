"""Text from a checkpoint or an error, shown as text: never as Markdown or HTML on the page.

A checkpoint's names and the sentences that quote them come from whoever published it; put
into a Markdown block unescaped, ``![x](http://host/pixel.png)`` would be fetched by every
visitor's browser and ``<img onerror=...>`` would be markup.
"""

from __future__ import annotations

import html
import re

MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>-])")


def plain(text: str) -> str:
    """``text`` escaped for a Markdown block: HTML entities for ``<``, ``>`` and ``&``, and a
    backslash before every character Markdown would act on."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))
