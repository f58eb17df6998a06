"""ONNX export of the embedded model, checked against torch on the real validation split."""

from __future__ import annotations

import json
import shutil

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from fer.hub.model_card import write_model_card
from fer.model.checkpoint import CONFIG_FILE, WEIGHTS_FILE
from fer.model.labels import CLASS_NAMES
from tests.conftest import ROOT
from train import export


@pytest.fixture(scope="module")
def exported(tmp_path_factory, fer_zip):
    """The embedded checkpoint, exported with --int8 and checked on all 3,589 validation faces."""
    folder = tmp_path_factory.mktemp("export")
    for name in (CONFIG_FILE, WEIGHTS_FILE, "metrics.json"):
        shutil.copy(ROOT / "checkpoints" / "fernet_s" / name, folder / name)
    assert export.main([str(folder), "--data", str(fer_zip), "--int8"]) == 0
    return folder, json.loads((folder / export.REPORT_FILE).read_text())


def test_onnx_logits_and_accuracy_match_torch_on_the_validation_split(exported):
    folder, report = exported
    validation = report["validation"]
    assert validation["images"] == 3589
    assert validation["max_abs_logit_difference"] < 1e-4
    assert validation["onnx_accuracy"] == validation["torch_accuracy"]
    trained = json.loads((folder / "metrics.json").read_text())["accuracy"]
    assert validation["torch_accuracy"] == pytest.approx(trained, abs=1e-9)  # the card's figure


def test_the_onnx_file_carries_what_a_user_needs_and_takes_any_batch(exported):
    folder, _ = exported
    session = ort.InferenceSession(str(folder / export.ONNX_FILE), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["label_names"]) == list(CLASS_NAMES)
    assert json.loads(meta["input_size"]) == [1, 48, 48] and len(json.loads(meta["mean"])) == 1
    assert meta["opset"] == str(export.OPSET)
    for batch in (1, 3, 64):
        faces = np.zeros((batch, 1, 48, 48), np.float32)
        assert session.run(None, {"faces": faces})[0].shape == (batch, len(CLASS_NAMES))


def test_int8_is_measured_on_validation_and_kept_only_within_the_allowed_loss(exported):
    folder, report = exported
    int8 = report["int8"]
    assert int8["calibration_faces"] == export.CALIBRATION_FACES
    assert int8["kept"] == (int8["accuracy_change"] >= -export.INT8_MAX_LOSS)
    assert (folder / export.INT8_FILE).is_file() == int8["kept"]
    if int8["kept"]:
        assert int8["bytes"] < report["bytes"] / 3  # int8 weights: about a quarter of fp32


def test_int8_without_data_is_one_clear_sentence(tmp_path, capsys):
    shutil.copytree(ROOT / "checkpoints" / "fernet_s", tmp_path / "ckpt")
    assert export.main([str(tmp_path / "ckpt"), "--int8"]) == 1
    assert capsys.readouterr().err.strip() == (
        "error: --int8 needs --data: training faces calibrate it, validation faces decide whether it is kept"
    )


def test_the_model_card_shows_how_to_run_it_with_onnxruntime(exported, monkeypatch, capsys):
    folder, _ = exported
    card = write_model_card(folder).read_text()
    snippet = card.split("With onnxruntime alone")[1].split("```python\n")[1].split("```")[0]
    Image.open(ROOT / "examples" / "one_face.jpg").save(folder / "face.png")
    monkeypatch.chdir(folder)
    exec(snippet, {})  # the card's code, as a reader would paste it
    assert capsys.readouterr().out.strip() in CLASS_NAMES


def test_the_onnx_files_name_no_file_of_the_machine_that_exported_them(exported):
    folder, report = exported
    names = [export.ONNX_FILE] + ([export.INT8_FILE] if report["int8"]["kept"] else [])
    for name in names:
        data = (folder / name).read_bytes()
        assert str(ROOT).encode() not in data and b"site-packages" not in data, name
