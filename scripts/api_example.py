"""Put the real answer of /predict into the README, so the documented output is never invented.

    python scripts/api_example.py

Starts the app on 127.0.0.1, makes the README's own call (``EXAMPLE``), and rewrites the
JSON block between the README's ``predict-example`` markers with the answer, scores rounded
to 3 decimals. ``tests/test_app.py`` checks that the block still matches the app.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

README = ROOT / "README.md"
EXAMPLE = {"image": "examples/four_faces.jpg", "top_k": 2}  # the call the README shows
BLOCK = re.compile(r"(<!-- predict-example:start -->\n```json\n)(.*?)(\n```\n<!-- predict-example:end -->)", re.S)


def call_example(url: str) -> dict:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    return client.predict(handle_file(str(ROOT / EXAMPLE["image"])), EXAMPLE["top_k"], api_name="/predict")


def rounded(result: dict) -> dict:
    def face(f: dict) -> dict:
        return {
            **f,
            "scores": {label: round(score, 3) for label, score in f["scores"].items()},
            "top_k": [{**t, "score": round(t["score"], 3)} for t in f["top_k"]],
        }

    return {**result, "faces": [face(f) for f in result["faces"]]}


def render(result: dict) -> str:
    """One face per line: short enough to read, exact enough to check."""
    faces = ",\n  ".join(json.dumps(face) for face in result["faces"])
    return f'{{"model": {json.dumps(result["model"])},\n "faces": [\n  {faces}]}}'


def shown_in_readme() -> dict:
    match = BLOCK.search(README.read_text())
    if match is None:
        raise SystemExit("error: README.md has no predict-example block")
    return json.loads(match.group(2))


def main() -> None:
    from tests.app_server import running_app

    with running_app() as server:
        result = rounded(call_example(server.url))
    text = README.read_text()
    if BLOCK.search(text) is None:
        raise SystemExit("error: README.md has no predict-example block")
    README.write_text(BLOCK.sub(lambda m: m.group(1) + render(result) + m.group(3), text))
    print(render(result))


if __name__ == "__main__":
    main()
