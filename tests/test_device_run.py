"""The GPU recipe (scripts/device_run.py), end to end on CPU: pack, unpack, run, collect."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile

import numpy as np
import pytest

from fer.data import load_split
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import device_run  # noqa: E402

pytestmark = pytest.mark.slow


def test_packing_is_lossless_on_real_faces(fer_zip, tmp_path):
    faces = load_split(fer_zip, "validation", progress=False).images[::7]
    assert np.array_equal(device_run.decode_residuals(device_run.encode_residuals(faces)), faces)

    packed = device_run.pack(str(fer_zip), tmp_path / "packed.xz", limit=300)
    arrays = np.load(device_run.unpack(packed, tmp_path / "data.npz"))
    assert arrays["train_images"].shape == (300, 48, 48) and arrays["validation_images"].dtype == np.uint8
    assert len(np.unique(arrays["train_labels"])) == 7  # the limit keeps every class
    # The unpacked file is a data source like any other.
    assert len(load_split(tmp_path / "data.npz", "validation", cache_dir=tmp_path / "cache", progress=False)) == 300


def test_dry_run_trains_every_config_and_returns_at_most_8_files(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    cmd = [sys.executable, "scripts/device_run.py", "run", "--dry-run", "--work", str(work), "--out", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["logs.txt", "summary.json", "tiny-a.tar.gz", "tiny-b.tar.gz"]
    summary = json.loads((out / "summary.json").read_text())
    assert {name: run["status"] for name, run in summary["runs"].items()} == {
        "tiny-a": "finished",
        "tiny-b": "finished",
    }
    assert summary["runs"]["tiny-a"]["epochs_done"] == 2 and summary["runs"]["tiny-a"]["best_val_acc"] > 0
    with tarfile.open(out / "tiny-a.tar.gz") as tar:
        assert {"tiny-a/model.safetensors", "tiny-a/config.json"} <= set(tar.getnames())
    assert all(p.stat().st_size <= device_run.MAX_FILE_BYTES for p in out.iterdir())

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)  # a warm machine's next call
    assert "finished earlier" in again.stdout, again.stdout + again.stderr
