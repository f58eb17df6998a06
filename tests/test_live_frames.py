"""The Live tab's per-frame function, in-process on the app's own predictor."""

from __future__ import annotations

import numpy as np
from PIL import Image
from skimage import data

import app


def test_a_frame_without_a_face_comes_back_untouched():
    pattern = np.zeros((240, 320, 3), np.uint8)
    pattern[:, ::20] = 255  # stripes, like a camera's test pattern: nothing to label
    assert app.analyse_frame(pattern) is pattern


def test_a_frame_with_a_face_comes_back_boxed_and_labelled():
    frame = np.asarray(Image.fromarray(data.astronaut()).resize((320, 320)))
    annotated = app.analyse_frame(frame)
    assert annotated.shape == frame.shape
    assert (annotated != frame).any(axis=2).mean() > 0.01  # a box and a label were drawn
