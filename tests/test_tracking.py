"""Face tracking across frames: ids follow moving faces; scores are smoothed per face."""

from __future__ import annotations

import numpy as np

from fer.pipeline.tracking import FaceTracker, box_iou


def test_iou_of_boxes():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 10, 10], [20, 20, 5, 5], [0, 0, 10, 10]]))
    assert np.allclose(iou, [[50 / 150, 0, 1]])


def test_two_people_keep_their_ids_while_moving_and_crossing_order():
    tracker = FaceTracker()
    left, right = [10.0, 50, 40, 40], [200.0, 50, 40, 40]
    scores = np.eye(7)[[3, 5]]  # left happy, right sad
    first = tracker.update([tuple(left), tuple(right)], scores)
    for _ in range(10):
        left[0] += 4
        right[0] -= 4
        tracks = tracker.update([tuple(right), tuple(left)], scores[::-1])  # given in the other order
    assert [t.id for t in first] == [1, 2] and [t.id for t in tracks] == [2, 1]
    assert tracks[0].scores.argmax() == 5 and tracks[1].scores.argmax() == 3


def test_scores_are_smoothed_and_a_lost_face_gets_a_new_id_when_it_comes_back():
    tracker = FaceTracker(smoothing=0.3, max_missed=2)
    box = (0.0, 0.0, 50.0, 50.0)
    tracker.update([box], np.eye(7)[[3]])
    track = tracker.update([box], np.eye(7)[[5]])[0]
    assert np.isclose(track.scores[3], 0.7) and np.isclose(track.scores[5], 0.3)
    for _ in range(3):
        tracker.update([], np.zeros((0, 7)))
    assert tracker.update([box], np.eye(7)[[3]])[0].id == 2
