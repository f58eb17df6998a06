"""The model picker's list: every checkpoint folder, described before loading, loaded on first pick."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fer.app.model_choices import ModelChoices
from fer.model.checkpoint_info import EMBEDDED_CHECKPOINT, CheckpointError
from fer.pipeline.faces import CenterFaceDetector
from tests.conftest import ROOT

ONE_FACE = ROOT / "examples" / "one_face.jpg"


@pytest.fixture(scope="module")
def shelf(tmp_path_factory) -> Path:
    """A checkpoints folder: the embedded model, a copy of it under another name, a broken one, a plain folder."""
    folder = tmp_path_factory.mktemp("checkpoints")
    shutil.copytree(EMBEDDED_CHECKPOINT, folder / "fernet_s")
    shutil.copytree(EMBEDDED_CHECKPOINT, folder / "fernet_s_copy")
    (folder / "broken").mkdir()
    (folder / "broken" / "config.json").write_text('{"architecture": "fernet_s"}')
    (folder / "notes").mkdir()
    return folder


@pytest.fixture(scope="module")
def choices(shelf) -> ModelChoices:
    return ModelChoices(str(shelf / "fernet_s"), CenterFaceDetector(max_side=320), checkpoints=shelf)


def test_every_checkpoint_is_offered_with_its_card_numbers_and_broken_ones_are_not(choices, shelf):
    metrics = json.loads((EMBEDDED_CHECKPOINT / "metrics.json").read_text())
    int8_mb = (EMBEDDED_CHECKPOINT / "model_int8.onnx").stat().st_size / 1e6
    numbers = f"{metrics['accuracy']:.1%} validation · {metrics['parameters'] / 1e6:.1f}M parameters · {int8_mb:.1f} MB"
    assert choices.dropdown_choices() == [
        (f"fernet_s · {numbers}", "fernet_s"),  # FER_MODEL, a folder: by its name, never its server path
        (f"fernet_s_copy · {numbers}", "fernet_s_copy"),
    ]


def test_a_model_is_loaded_on_first_pick_and_then_kept(choices):
    other = choices.choices["fernet_s_copy"]
    assert other.predictor is None  # described, not loaded, until someone picks it
    picked = choices.choice("fernet_s_copy")
    assert picked.predictor.serving == "onnxruntime, int8" and picked.live.detector is choices.live_detector
    assert choices.choice("fernet_s_copy").predictor is picked.predictor
    faces = picked.predictor.predict(ONE_FACE)
    assert faces[0].detected and faces[0].scores == choices.choice(None).predictor.predict(ONE_FACE)[0].scores


@pytest.mark.parametrize("key", ["nope", "broken", "notes", "../fernet_s", str(EMBEDDED_CHECKPOINT)])
def test_only_listed_names_can_be_picked(choices, key):
    with pytest.raises(CheckpointError, match="there is no model '.*' here; choose one of .*fernet_s_copy"):
        choices.choice(key)


def test_a_model_that_cannot_load_is_refused_with_one_sentence(shelf, tmp_path):
    shutil.copytree(EMBEDDED_CHECKPOINT, tmp_path / "fernet_s")
    shutil.copytree(EMBEDDED_CHECKPOINT, tmp_path / "no_weights", ignore=shutil.ignore_patterns("model*"))
    choices = ModelChoices(None, CenterFaceDetector(max_side=320), checkpoints=tmp_path)
    assert list(choices.choices) == ["fernet_s", "no_weights"]
    with pytest.raises(CheckpointError, match="the model 'no_weights' could not be loaded"):
        choices.choice("no_weights")
