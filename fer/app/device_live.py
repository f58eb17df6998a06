"""Live on the visitor's device: the Gradio side of ``web/fer/widget.js``.

By default Live runs in the browser (onnxruntime-web), so frames never leave it and the server does
no work per frame. The page gets the picked model's config as the component's value; the app serves
the model files from content-named copies (``served_copy``) and the page's scripts from ``web/``.
The runtime comes from the CDN with pinned integrity hashes, or from a local copy when one is
configured (``fer.device.runtime_files.local_copy``), which is how the tests run offline. It is
fetched by the page's model worker, not by ``<script>`` tags in the page's head: the worker is
where it runs, and a preload in the page would be a second download it cannot share.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from pathlib import Path

import gradio as gr

from fer.app.served import served_models
from fer.device.bundle import DETECTOR_FILE, WEB, device_model_file, model_config, page_config
from fer.device.runtime_files import CDN, local_copy
from fer.model.checkpoint_info import CheckpointError
from fer.utils.atomic import atomic_write

ON_DEVICE, ON_SERVER = "On this device", "On the server"
COPIES = Path(tempfile.gettempdir()) / "fer-device-files"
NO_EXPORT = "This model has no ONNX export the browser can run, so Live runs on the server."


def show_mode(mode: str) -> tuple[gr.Column, gr.Column]:
    """The device column and the server column, one of them shown."""
    return gr.Column(visible=mode == ON_DEVICE), gr.Column(visible=mode != ON_DEVICE)


def file_url(path: Path) -> str:
    return f"/gradio_api/file={path}"


def served_copy(path: Path) -> Path:
    """A copy of ``path`` named by its content, in the one folder the app serves model files from:
    a checkpoint's own folder is never exposed, and a new file gets a new URL (browsers cache them)."""
    data = path.read_bytes()
    copy = COPIES / f"{hashlib.sha256(data).hexdigest()[:16]}-{path.name}"
    if not copy.is_file():  # app processes may share the folder: each writes whole files only
        atomic_write(copy, lambda temporary: Path(temporary).write_bytes(data), durable=False)
    return copy


@functools.cache
def local_runtime() -> Path | None:
    """The local runtime copy, checked once per process (hashing its 15 MB is not free)."""
    return local_copy()


def runtime_base() -> str:
    folder = local_runtime()
    return file_url(folder) + "/" if folder else CDN


def static_paths() -> list[Path]:
    """What ``gr.set_static_paths`` must serve: the page's scripts, the model copies, a local runtime."""
    COPIES.mkdir(parents=True, exist_ok=True)
    return [WEB / "fer", COPIES, *filter(None, [local_runtime()])]


def device_config(model: str | None) -> str:
    """The picked model's page config as JSON text (the component's value); with ``unavailable``
    saying why when the device cannot run it."""
    try:
        choice = served_models().choice(model)
    except CheckpointError as exc:
        return json.dumps({"unavailable": f"Cannot use this model: {exc}."})
    model_file = device_model_file(choice.predictor)
    if model_file is None:
        return json.dumps({"unavailable": NO_EXPORT})
    model_part = model_config(choice.predictor, file_url(served_copy(model_file)), choice.label)
    return json.dumps(page_config(runtime_base(), file_url(served_copy(DETECTOR_FILE)), model_part))


TEMPLATE = """<div class="fer-device">
  <button class="fer-start lg primary" type="button">Start</button>
  <p class="fer-status" role="status"></p>
  <canvas class="fer-canvas" width="320" height="240"></canvas>
  <p class="fer-rate"></p>
  <div class="fer-panel"></div>
</div>"""


def mount_js() -> str:
    """gr.HTML's js_on_load: mount the widget; a failure clicks the mode switch to the server."""
    widget = file_url(WEB / "fer" / "widget.js")
    return f"""
const fallBack = (sentence) => {{
  const note = document.querySelector('#live-fallback .fer-fallback');
  if (note) note.textContent = sentence;
  const server = [...document.querySelectorAll('#live-mode input')].find((input) => input.value === {ON_SERVER!r});
  if (server && !server.checked) server.click();
}};
import({widget!r}).then(({{ mountDeviceLive }}) => {{
  const mounted = mountDeviceLive(element, () => props.value, fallBack);
  watch('value', () => mounted.reload());
}}).catch(() => fallBack('The page could not load its on-device scripts.'));
"""


# Switching to the server stops the device's camera first (the hidden widget would keep it on).
STOP_DEVICE_JS = "(mode) => { window.ferDeviceLive?.stop(); return mode; }"

CSS = """
.fer-device canvas { width: 100%; max-width: 640px; height: auto; background: #eee; }
.fer-problem { color: #b00020; font-weight: 600; }
.fer-bars { list-style: none; padding: 0; }
.fer-bars li { display: grid; grid-template-columns: 6rem 1fr 4rem; gap: 0.5rem; align-items: center; }
.fer-bars .fer-rest { display: none; }
.fer-bar {
  height: 0.8rem;
  background: linear-gradient(to right, var(--color-accent) calc(var(--score) * 100%), #ddd 0);
}
"""
