"""Shared fixtures: the real FER2013 archive, tiny data sets built on the fly, isolation."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer.utils.memory import keep_freed_memory
from tests.app_server import AppServer, running_app

ROOT = Path(__file__).resolve().parents[1]
FER_ZIP = ROOT.parent / "shared" / "data" / "fer2013.zip"


# A real but tiny training run (seconds on a CPU), for tests that need some checkpoint.
TINY_RUN_FLAGS = [
    "--model",
    "fernet_t",
    "--epochs",
    "1",
    "--train-subset",
    "512",
    "--val-subset",
    "256",
    "--batch-size",
    "64",
]


# A small run with every part a resume must restore (EMA updated every second step, channels_last),
# three epochs of 32 steps: an interrupted run of it, resumed, must end as resume_reference did.
RESUME_FLAGS = ["--model", "fernet_t", "--epochs", "3", "--train-subset", "2048", "--val-subset", "512",
                "--batch-size", "64", "--ema", "--ema-every", "2", "--seed", "1", "--channels-last"]  # fmt: skip


def train_in_process(capsys: pytest.CaptureFixture, *flags: str) -> tuple[int, str, str]:
    """``python -m train.train --no-progress FLAGS`` run in this process, through the command line's
    own ``cli()``: the same code and messages without paying Python's and torch's start-up again.
    Returns (exit status, stdout, stderr). Tests that stop or kill a run, or compare a run
    bit for bit with another, start it as its own process instead."""
    from train.train import cli

    status = cli(["--no-progress", *flags])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def pytest_configure(config: pytest.Config) -> None:
    # Keep the decode cache out of the user's home and shared between the test processes.
    os.environ.setdefault("FER_CACHE_DIR", str(ROOT / ".pytest_cache" / "fer-data"))
    # Exports the app makes on first load go here, not into the user's ~/.cache.
    os.environ.setdefault("FER_ONNX_CACHE", str(ROOT / ".pytest_cache" / "fer-onnx"))
    # Tests that compute in torch in this process do so as the train.* commands do, from the
    # first test on rather than from whichever test first calls one of those commands' main().
    keep_freed_memory()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory) -> Iterator[AppServer]:
    """One real app (python app.py) shared by every test that needs the default one."""
    with running_app(log_path=tmp_path_factory.mktemp("app") / "app.log") as server:
        yield server


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for every browser test (each test launches the Chromium it needs)."""
    from tests.chromium import CHROMIUM

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not installed (scripts/test.sh installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as instance:
        yield instance


@pytest.fixture(scope="session")
def fer_zip() -> Path:
    """The real FER2013 archive; tests that need it skip, saying why, where it is absent."""
    if not FER_ZIP.is_file():
        pytest.skip(f"FER2013 archive not found at {FER_ZIP} (it lives in the shared data folder, not in the repo)")
    return FER_ZIP


@pytest.fixture(scope="session")
def validation_faces(fer_zip) -> np.ndarray:
    """300 real validation faces (class-stratified, 48x48 uint8), for tests that search them."""
    from train.data import load_split, subsample

    return subsample(load_split(fer_zip, "validation", progress=False), 300).images


def train_as_process(fer_zip: Path, out: Path, *flags: str) -> Path:
    """``python -m train.train --no-progress --data FER_ZIP --out OUT FLAGS`` as its own process,
    which must succeed; returns ``out``."""
    cmd = [sys.executable, "-m", "train.train", "--no-progress", "--data", str(fer_zip), "--out", str(out)]
    result = subprocess.run([*cmd, *flags], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="session")
def tiny_run(fer_zip, tmp_path_factory) -> Path:
    """One tiny real run (TINY_RUN_FLAGS, seed 0), trained once for every test that needs some
    checkpoint. A test that writes into a run (resumes it, pushes it) copies it first."""
    return train_as_process(fer_zip, tmp_path_factory.mktemp("tiny") / "run", *TINY_RUN_FLAGS)


@pytest.fixture(scope="session")
def resume_reference(fer_zip, tmp_path_factory) -> Path:
    """RESUME_FLAGS run uninterrupted, as its own process: the killed and the stopped runs'
    reference, trained once for both."""
    return train_as_process(fer_zip, tmp_path_factory.mktemp("resume") / "reference", *RESUME_FLAGS)


def face_png(seed: int, size: int = 48, mode: str = "L") -> bytes:
    """A small encoded image with seed-dependent content (distinct per seed)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size, size, 3 if mode == "RGB" else 1), dtype=np.uint8).squeeze()
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format="PNG")
    return buffer.getvalue()


def real_faces(fer_zip_path: Path, per_class: int, split: str = "train") -> dict[str, list[bytes]]:
    """The first ``per_class`` JPEGs of each class folder of the real archive."""
    faces: dict[str, list[bytes]] = {}
    with zipfile.ZipFile(fer_zip_path) as archive:
        for name in sorted(archive.namelist()):
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == split and len(faces.setdefault(parts[1], [])) < per_class:
                faces[parts[1]].append(archive.read(name))
    return faces


def tiny_onnx(channels: int, classes: int) -> bytes:
    """A valid ONNX classifier of the wrong shape: N x channels x 48 x 48 -> N x classes."""
    from onnx import TensorProto, helper, numpy_helper

    weights = numpy_helper.from_array(np.zeros((channels * 48 * 48, classes), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["faces"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("faces", TensorProto.FLOAT, ["batch", channels, 48, 48])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 10
    return model.SerializeToString()
