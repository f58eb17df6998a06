"""The Photo tab's functions, in-process on the app's own predictor: analyse once, render many times."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fer.app.about import describe_model
from fer.app.api import predict_api
from fer.app.live import analyse_frame
from fer.app.photo import analyse_photo, render_photo, with_heatmaps
from fer.app.served import served_models
from fer.app.text import plain
from fer.app.video import analyse_video_file
from fer.model.labels import CLASS_NAMES
from tests.conftest import ROOT

FOUR_FACES = str(ROOT / "examples" / "four_faces.jpg")


@pytest.fixture
def counted(monkeypatch):
    """Counts calls of the real predictor and Grad-CAM (both still run)."""
    import fer.pipeline.explain

    calls = {"predict": 0, "grad_cam": 0}

    def counting(name, real):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return real(*args, **kwargs)

        return wrapper

    predictor = served_models().default.predictor
    monkeypatch.setattr(predictor, "predict", counting("predict", predictor.predict))
    monkeypatch.setattr(fer.pipeline.explain, "grad_cam", counting("grad_cam", fer.pipeline.explain.grad_cam))
    return calls


def picture(shown: tuple) -> np.ndarray:
    """The annotated photo as the page receives it."""
    return np.asarray(Image.open(shown[0].value["path"]).convert("RGB"))


def test_selection_top_k_and_heatmap_re_render_without_running_the_model_again(counted):
    result = analyse_photo(FOUR_FACES, show_heatmap=False)
    first = render_photo(result, 0, 3, False)
    third = render_photo(result, 2, 5, False)
    assert third[2].label.startswith("Face 3") and len(third[3][2][1].split(", ")) == 5
    assert not np.array_equal(picture(first), picture(third))  # the selected face is highlighted
    with_heat = with_heatmaps(result, True)
    shown = render_photo(with_heat, 2, 5, True)
    render_photo(with_heatmaps(with_heat, False), 2, 5, False)
    render_photo(with_heatmaps(with_heat, True), 2, 5, True)
    assert counted == {"predict": 1, "grad_cam": 1}
    assert shown[4][0][0].width > third[4][0][0].width  # the heatmap sits beside each crop


def photo_with_an_uncertain_face(faces: np.ndarray, folder: Path) -> str:
    """A 640x480 photo of four real validation faces, at least one of which the app is unsure of.

    Chosen with the app's own predictor among the faces it is least sure of, so the photo holds
    an uncertain face for whichever model is embedded.
    """
    predictor = served_models().choice(None).predictor
    unsure = np.argsort(predictor.classify(faces).max(axis=1))
    for start in range(0, 40, 4):
        photo = Image.new("RGB", (640, 480), (128, 128, 128))
        for slot, index in enumerate(unsure[start : start + 4]):
            face = Image.fromarray(faces[index]).resize((150, 150), Image.BICUBIC).convert("RGB")
            photo.paste(face, (40 + 320 * (slot % 2), 40 + 240 * (slot // 2)))
        path = folder / f"unsure-{start}.png"
        photo.save(path)
        found = predictor.predict(photo)
        if len(found) == 4 and any(face.uncertain for face in found):
            return str(path)
    pytest.fail("no photo of four of the 40 least certain validation faces holds an uncertain face")


def test_downloads_match_what_predict_returns(validation_faces, tmp_path):
    photo = photo_with_an_uncertain_face(validation_faces, tmp_path)
    result = analyse_photo(photo, show_heatmap=False)
    shown = render_photo(result, 0, 2, False)
    csv_path, json_path = shown[6].value["path"], shown[7].value["path"]
    answer = predict_api(photo, 2)
    assert json.loads(Path(json_path).read_text()) == answer
    rows = list(csv.DictReader(io.StringIO(Path(csv_path).read_text())))
    assert len(rows) == 4 and [row["face"] for row in rows] == ["1", "2", "3", "4"]
    assert set(CLASS_NAMES) <= set(rows[0])
    assert [row["uncertain"] for row in rows] == [str(face["uncertain"]) for face in answer["faces"]]
    assert "True" in [row["uncertain"] for row in rows]


def test_a_tiny_face_crop_is_enlarged_for_display_with_square_pixels(tmp_path):
    crop = np.random.default_rng(0).integers(0, 255, (48, 48), dtype=np.uint8)
    Image.fromarray(crop).save(tmp_path / "crop.png")
    shown = render_photo(analyse_photo(str(tmp_path / "crop.png"), False), 0, 3, False)
    canvas = picture(shown)[..., 0]
    assert canvas.shape == (384, 384)
    assert np.array_equal(canvas[::8, ::8], crop)  # nearest-neighbour: every pixel an 8x8 block
    assert "No face found" in shown[1] and shown[2].label.startswith("Whole-image guess")


def test_a_bad_file_leaves_one_sentence_in_the_status_line(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    shown = render_photo(analyse_photo(str(tmp_path / "notes.png"), False), 0, 3, False)
    assert shown[1] == "⚠️ Cannot use this file: not a readable image: not a format we recognise."
    assert shown[0] is None and shown[4] == []


def test_a_model_that_is_not_offered_is_refused_in_one_sentence_everywhere():
    reason = "there is no model '../fernet_s' here; choose one of fernet_s"
    sentence = f"⚠️ Cannot use this model: {reason}."
    as_markdown = f"⚠️ Cannot use this model: {plain(reason)}."  # the reason shown as text, not Markdown
    assert as_markdown == "⚠️ Cannot use this model: there is no model '../fernet\\_s' here; choose one of fernet\\_s."
    assert analyse_photo(FOUR_FACES, False, "../fernet_s") == {"status": as_markdown}
    assert describe_model("../fernet_s")[0] == as_markdown
    frame = np.asarray(Image.open(FOUR_FACES).convert("RGB"))
    assert analyse_frame(frame, None, "../fernet_s")[1].header == sentence  # a label's header: plain text already
    assert analyse_video_file(FOUR_FACES, "../fernet_s", progress=lambda *a, **k: None)[3] == as_markdown
