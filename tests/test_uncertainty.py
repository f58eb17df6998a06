"""The "uncertain" threshold: chosen on validation, where the model is right less than half the time."""

from __future__ import annotations

import json
import shutil

import numpy as np

from fer.pipeline.uncertainty import UNCERTAINTY_FILE, choose_threshold, read_uncertainty
from tests.conftest import ROOT
from train import calibrate


def test_the_threshold_is_where_predictions_become_right_more_often_than_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.2, 1.0, 20_000)
    correct = rng.uniform(size=confidence.size) < confidence  # right with probability = confidence
    result = choose_threshold(confidence, correct)
    assert 0.45 <= result["threshold"] <= 0.5
    assert result["accuracy_below"] < 0.5 < result["accuracy_at_or_above"]
    assert result["fraction_below"] == (confidence < result["threshold"]).mean()


def test_a_few_stray_faces_do_not_move_it():
    rng = np.random.default_rng(0)
    confidence = np.concatenate([np.full(1000, 0.92), np.full(1000, 0.62), np.full(5, 0.87), np.full(1000, 0.32)])
    correct = np.concatenate([np.ones(1000), rng.uniform(size=1000) < 0.7, np.zeros(5), rng.uniform(size=1000) < 0.2])
    # The five wrong faces at 0.87 are too few for a bin of their own: merged with those below.
    assert choose_threshold(confidence, correct.astype(bool))["threshold"] == 0.6


def test_calibrating_the_embedded_model_on_validation_reproduces_its_file(tmp_path, fer_zip):
    folder = tmp_path / "fernet_s"
    shutil.copytree(ROOT / "checkpoints" / "fernet_s", folder)
    (folder / UNCERTAINTY_FILE).unlink()
    assert calibrate.main([str(folder), "--data", str(fer_zip)]) == 0
    shipped = json.loads((ROOT / "checkpoints" / "fernet_s" / UNCERTAINTY_FILE).read_text())
    assert read_uncertainty(folder) == shipped and shipped["faces"] == 3589
