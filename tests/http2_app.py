"""The app as ``python app.py`` serves it, but over HTTPS and HTTP/2 (Hypercorn), as the front end of
a deployed app serves it. A browser opens at most six HTTP/1.1 connections to a host, and server
Live over a slow network needs more than that; over HTTP/2 its requests share one connection
(``scripts/bench_web.py`` measures both).

    python -m tests.http2_app PORT PEM   # PEM: the server's key and certificate chain
"""

import asyncio
import sys

import gradio as gr
from fastapi import FastAPI
from hypercorn.asyncio import serve
from hypercorn.config import Config

import app


def main(port: int, pem: str) -> None:
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = pem
    config.alpn_protocols = ["h2", "http/1.1"]
    config.accesslog = None
    page = gr.mount_gradio_app(FastAPI(), app.demo.queue(**app.QUEUE_OPTIONS), path="", **app.SERVE_OPTIONS)
    asyncio.run(serve(page, config))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
