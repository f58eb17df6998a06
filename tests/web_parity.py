"""Holding the browser's answers beside Python's: shared by tests/test_web.py and scripts/bench_web.py."""

from __future__ import annotations

import base64
import functools
import http.server
import io
import threading

import numpy as np
from PIL import Image

BOX_TOLERANCE_PX = 2
PROBABILITY_TOLERANCE = 2e-3

# A PNG (base64) -> ImageData in the page, pixels exactly as encoded (no colour management).
decode_in_page = """async (png) => {
    const bytes = Uint8Array.from(atob(png), (c) => c.charCodeAt(0));
    const options = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };
    const bitmap = await createImageBitmap(new Blob([bytes]), options);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext('2d');
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
}"""


def serve_folder(folder, isolated: bool = False) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A quiet static file server for ``folder`` on 127.0.0.1 and its URL: any such server will do,
    as a visitor might use to try a build. ``isolated``: with the headers the static Space sends
    (cross-origin isolation, so the models may use threads)."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def end_headers(self) -> None:
            if isolated:
                self.send_header("Cross-Origin-Opener-Policy", "same-origin")
                self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
                self.send_header("Cross-Origin-Resource-Policy", "cross-origin")
            super().end_headers()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def analyse_in_page(page, image: Image.Image) -> dict:
    """``window.fer.analyse`` on ``image``'s exact pixels: what the page says ``/predict`` would."""
    return page.evaluate(f"async (png) => window.fer.analyse(await ({decode_in_page})(png))", png_base64(image))


def describe_in_page(page, image: Image.Image, faces: list) -> list[dict]:
    """The page's crops and scores for faces Python's detector found in ``image`` (``Face``s), each
    crop as a flat list of its 48x48 pixels."""
    sent = [{"box": list(face.box), "landmarks": face.landmarks.tolist()} for face in faces]
    return page.evaluate(
        f"""async ([png, faces]) => {{
            const imageData = await ({decode_in_page})(png);
            const described = await window.fer.analyser.describeFaces(imageData, faces);
            return described.map((face) => ({{ ...face, crop: Array.from(face.crop.data) }}));
        }}""",
        [png_base64(image), sent],
    )


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def box_iou(a: list[int], b: list[int]) -> float:
    left, top = max(a[0], b[0]), max(a[1], b[1])
    right, bottom = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    overlap = max(0, right - left) * max(0, bottom - top)
    return overlap / max(a[2] * a[3] + b[2] * b[3] - overlap, 1e-9)


def match_faces(ours: list[dict], theirs: list[dict]) -> list[tuple[dict, dict]]:
    """Pairs of the same face found by both, matched by box overlap: two faces of nearly equal size can
    be listed in either order ("largest first") when their boxes differ by a pixel."""
    pairs, taken = [], set()
    for face in ours:
        overlaps = [(box_iou(face["box"], other["box"]), i) for i, other in enumerate(theirs) if i not in taken]
        best = max(overlaps, default=(0.0, None))
        if best[0] >= 0.5:
            taken.add(best[1])
            pairs.append((face, theirs[best[1]]))
    return pairs


def validation_scenes(faces: np.ndarray, count: int, scene: tuple[int, int] = (640, 480)) -> list[Image.Image]:
    """``count`` validation faces (N x 48 x 48) pasted into flat scenes, four to a scene, one in each
    quarter at 48 to 140 px (as scripts/app_bench/detector_sides.py pastes them, but four at once:
    the browser's detector costs the same per scene however many faces it holds)."""
    rng = np.random.default_rng(0)
    width, height = scene
    quarter_w, quarter_h = width // 2, height // 2
    scenes = []
    for start in range(0, min(count, len(faces)), 4):
        background = Image.new("RGB", scene, tuple(int(v) for v in rng.integers(60, 200, 3)))
        for quarter, image in enumerate(faces[start : min(start + 4, count)]):
            side = int(rng.integers(48, 141))
            left = quarter % 2 * quarter_w + int(rng.integers(0, quarter_w - side))
            top = quarter // 2 * quarter_h + int(rng.integers(0, quarter_h - side))
            face = Image.fromarray(image).resize((side, side), Image.BICUBIC).convert("RGB")
            background.paste(face, (left, top))
        scenes.append(background)
    return scenes
