"""What the browser pipeline (``web/``) runs from: its config, and a folder that is a static Space.

The page needs the runtime, the two int8 ONNX files the server serves (the CenterFace detector
and the checkpoint's classifier) and the numbers that go with them: labels, normalisation and
the uncertainty threshold. They are read through the same checked loaders as the server's, so
the device runs exactly the files the server would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from fer.device.runtime_files import INTEGRITY, MODULE, VERSION, WASM, runtime_folder
from fer.model.checkpoint_info import CheckpointError
from fer.model.labels import FACE_SIZE
from fer.pipeline.faces import INT8_GRAPH
from fer.pipeline.predict import Predictor
from fer.utils.output_paths import OutputPathError, writable_folder

WEB = Path(__file__).resolve().parents[2] / "web"
PAGE_FILES = ["index.html", "style.css", "fer"]
DETECTOR_FILE = INT8_GRAPH


def device_model_file(predictor: Predictor) -> Path | None:
    """The ONNX classifier the device can run for this model (the file the server serves), or None
    when it has none or needs other input than 48x48 gray (the server then runs Live)."""
    pre = predictor.info.preprocess
    if predictor.onnx is None or pre.size != FACE_SIZE or len(pre.mean) != 1:
        return None
    return predictor.onnx.path


def model_config(predictor: Predictor, url: str, summary: str) -> dict:
    """The classifier's part of the page config: where it is and what its numbers mean."""
    pre = predictor.info.preprocess
    return {
        "name": predictor.model_name,
        "summary": summary,
        "url": url,
        "labels": predictor.label_names,
        "mean": pre.mean[0],
        "std": pre.std[0],
        "uncertain_below": predictor.uncertain_below,
        "precision": predictor.onnx.precision if predictor.onnx else None,
    }


def page_config(runtime_base: str, detector_url: str, model: dict) -> dict:
    """The whole config ``web/fer/analyser.js`` loads: runtime files with their hashes, both models."""
    return {
        "runtime": {
            "version": VERSION,
            "module": runtime_base + MODULE,
            "wasm": runtime_base + WASM,
            "integrity": {"module": INTEGRITY[MODULE], "wasm": INTEGRITY[WASM]},
        },
        "detector": {"url": detector_url},
        "model": model,
    }


def refuse_other_files(out: Path) -> None:
    """Refuse a folder that holds files and no earlier build of the page: the build replaces
    config.json and README.md, and a checkpoint's or a project's folder named by mistake would
    lose its own. An earlier build (a Space's clone, say) is rebuilt in place."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    try:
        earlier = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        earlier = None
    if not (isinstance(earlier, dict) and {"runtime", "detector", "model"} <= earlier.keys()):
        raise OutputPathError(
            f"{out} holds other files and no earlier build of this page: build into a new or empty folder"
        )


def build_static_site(out: Path, predictor: Predictor, summary: str, readme: str, credits: str) -> list[Path]:
    """Write the page, its config, both models and the runtime into ``out``: a folder any static file
    server (or a static Space) serves as it is, offline once built. Returns the files written."""
    model_file = device_model_file(predictor)
    if model_file is None or predictor.onnx.precision != "int8":
        raise CheckpointError(
            "this checkpoint has no int8 ONNX export the device can run: make one with "
            "`python -m train.export CHECKPOINT --data ...`, which keeps it when it costs at most 0.3 points"
        )
    refuse_other_files(out)
    writable_folder(out)
    for name in PAGE_FILES:
        source, target = WEB / name, out / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copyfile(source, target)
    (out / "models").mkdir(exist_ok=True)
    shutil.copyfile(DETECTOR_FILE, out / "models" / "centerface_int8.onnx")
    shutil.copyfile(model_file, out / "models" / "model_int8.onnx")
    (out / "runtime").mkdir(exist_ok=True)
    runtime = runtime_folder()
    for name in (MODULE, WASM):
        shutil.copyfile(runtime / name, out / "runtime" / name)
    model = model_config(predictor, "models/model_int8.onnx", summary)
    config = page_config("runtime/", "models/centerface_int8.onnx", model)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(readme)
    (out / "CREDITS.md").write_text(credits)
    return sorted(path for path in out.rglob("*") if path.is_file())
