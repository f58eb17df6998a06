"""Cross-origin isolation for the app's pages, so device Live's models may use several threads.

WebAssembly threads need ``SharedArrayBuffer``, which a browser gives only to a cross-origin
isolated page: one served with ``Cross-Origin-Opener-Policy: same-origin`` and a
``Cross-Origin-Embedder-Policy``. ``credentialless`` rather than ``require-corp``: cross-origin
images and fonts that a page or a model card links to still load (without cookies), where
``require-corp`` would block those not marked for it. Those two isolate a page only where it is
not framed by a page that is not isolated itself, as a Space is on huggingface.co; there
``Document-Isolation-Policy`` isolates it (Chromium 137 and later). A browser with neither
(Safari) runs the models on one thread, as before.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ISOLATION_HEADERS = [
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-embedder-policy", b"credentialless"),
    (b"document-isolation-policy", b"isolate-and-credentialless"),
]


class CrossOriginIsolation:
    """ASGI middleware adding ``ISOLATION_HEADERS`` to every HTTP response. Plain ASGI, not
    Starlette's ``BaseHTTPMiddleware``, so Gradio's streamed responses (its queue's server-sent
    events, Live's frames) pass through unbuffered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_isolated(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *ISOLATION_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_isolated)


def isolation_app_kwargs() -> dict:
    """``app_kwargs`` for ``Blocks.launch`` and ``gr.mount_gradio_app``: the app with the middleware."""
    return {"middleware": [Middleware(CrossOriginIsolation)]}
