"""Live looking for faces only around the faces it follows, and at the whole frame when it must."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from fer.app.live import detect_keyframe
from fer.pipeline.faces import CenterFaceDetector
from fer.pipeline.live import LiveState
from fer.pipeline.predict import Predictor
from fer.pipeline.regions import RegionDetector, regions_around
from fer.pipeline.tracking import box_iou
from tests.chromium import webcam_view


@pytest.fixture(scope="module")
def live_predictor() -> Predictor:
    return Predictor(detector=CenterFaceDetector(max_side=320))


def two_people() -> Image.Image:
    """Two astronauts side by side in a 320x240 frame, their faces about 40 px."""
    frame = Image.new("RGB", (320, 240), (128, 128, 128))
    small = webcam_view().resize((160, 120), Image.BILINEAR)
    frame.paste(small, (0, 60))
    frame.paste(small, (160, 60))
    return frame


def test_a_region_is_twice_its_face_centred_on_it_and_clipped_to_the_frame():
    assert regions_around([(100, 50, 30, 40), (10, 20, 30, 40), (300, 200, 20, 20)], (320, 240)) == [
        (75, 30, 80, 80),
        (0, 0, 65, 80),
        (290, 190, 30, 40),
    ]


def test_looking_in_regions_finds_the_faces_the_whole_frame_does_once_each(live_predictor):
    rgb = np.asarray(two_people())
    whole = live_predictor.detector.detect(rgb)
    boxes = [tuple(round(v) for v in face.box) for face in whole]
    regions = regions_around(boxes, (320, 240))
    overlapping = [*regions, (regions[0][0] + 2, regions[0][1], regions[0][2], regions[0][3])]  # the first face twice
    found = RegionDetector(live_predictor.detector, overlapping).detect(rgb)
    assert len(whole) == len(found) == 2
    iou = box_iou(np.array([face.box for face in found]), np.array([face.box for face in whole]))
    assert iou.max(axis=1).min() > 0.8
    for face in found:  # the eyes moved back into the frame's pixels with the box
        x, y, w, h = face.box
        assert all(x <= eye_x <= x + w and y <= eye_y <= y + h for eye_x, eye_y in face.landmarks[:2])


def test_live_looks_at_the_whole_frame_first_every_so_often_and_when_a_face_is_lost(live_predictor):
    live = LiveState(whole_look_every=4)
    two = two_people()
    looks = []
    for _ in range(6):
        keyframe = detect_keyframe(two, live, live_predictor)
        looks.append(live.looked_for)
        assert sorted(keyframe.people) == [1, 2]
    assert looks == [0, 2, 2, 2, 0, 2]
    one_gone = two.copy()
    one_gone.paste((128, 128, 128), (160, 60, 320, 180))
    assert len(detect_keyframe(one_gone, live, live_predictor).faces) == 1  # looked around both, found one
    assert live.looked_for == 2
    detect_keyframe(one_gone, live, live_predictor)
    assert live.looked_for == 0  # so the next look is at the whole frame, wherever the other went


def test_a_face_near_the_camera_of_a_small_frame_is_looked_for_in_the_whole_frame(live_predictor):
    live = LiveState()
    small = webcam_view().resize((160, 120), Image.BILINEAR)  # her region would cost most of the frame
    for _ in range(3):
        assert detect_keyframe(small, live, live_predictor).faces
        assert live.looked_for == 0
