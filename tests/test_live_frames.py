"""The Live tab's per-frame function, in-process on the app's own predictor."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

import app
from tests.conftest import ROOT


def test_a_frame_without_a_face_comes_back_untouched_and_says_so():
    pattern = np.zeros((240, 320, 3), np.uint8)
    pattern[:, ::20] = 255  # stripes, like a camera's test pattern: nothing to label
    shown, panel, _, _ = app.analyse_frame(pattern, None)
    assert shown is pattern and panel.label == "No face in view"


def test_a_frame_with_a_face_comes_back_boxed_and_labelled_with_its_person():
    frame = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320)))
    annotated, panel, rate, _ = app.analyse_frame(frame, None)
    assert annotated.shape == frame.shape
    assert (annotated != frame).any(axis=2).mean() > 0.01  # a box and a label were drawn
    assert panel.label.startswith("Person 1") and rate == "Measuring the frame rate..."


def jittered_views(count: int) -> list[np.ndarray]:
    """320x240 webcam views of a face the model finds ambiguous (sad or happy): hand shake and sensor noise."""
    photo = Image.open(ROOT / "examples" / "four_faces.jpg").convert("RGB")
    rng = np.random.default_rng(0)
    views = []
    for _ in range(count):
        dx, dy = rng.integers(-3, 4, 2)
        view = np.asarray(photo.crop((382 + dx, 14 + dy, 542 + dx, 134 + dy)).resize((320, 240)), dtype=float)
        views.append(np.clip(view + rng.normal(0, 4, view.shape), 0, 255).astype(np.uint8))
    return views


def flips(labels: list[str]) -> int:
    return sum(a != b for a, b in zip(labels, labels[1:]))


def test_a_still_face_keeps_its_label_and_its_person_number():
    """Frame by frame the label jitters; smoothed per person it holds.

    From jittered views of one still face, a clip is cut in which every fourth frame is one
    the model labels differently from the rest, the flicker that smoothing must absorb.
    """
    views = jittered_views(120)
    labels = [app.live_predictor.predict(Image.fromarray(view))[0].top_k(1)[0]["label"] for view in views]
    usual = max(set(labels), key=labels.count)
    odd = [view for view, label in zip(views, labels) if label != usual]
    steady = [view for view, label in zip(views, labels) if label == usual]
    assert odd, "the face is no longer ambiguous to this model: choose another for this test"
    clip = [odd[i // 4 % len(odd)] if i % 4 == 3 else steady[i % len(steady)] for i in range(60)]
    state, shown, people = None, [], set()
    for frame in clip:
        _, panel, rate, state = app.analyse_frame(frame, state)
        shown.append(panel.value["label"])
        people.add(panel.label.split(" · ")[0])  # "Person 1 · uncertain" is still person 1
    assert flips(shown[3:]) == 0 and shown[-1].lower() == usual  # raw labels flip 30 times in this clip
    assert people == {"Person 1"} and "frames/s answered" in rate
