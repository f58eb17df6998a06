"""Following faces from frame to frame: each keeps an id, and its scores are smoothed.

Per-frame scores of a still face jitter (a label flipping between sad and happy several
times a second); averaging them over the face's own recent frames steadies the label
without blurring two faces together. Faces are matched to the previous frame's by box
overlap (IoU, greedy, best pairs first), which is enough for webcams and short clips
where faces move little between frames. Numpy only, for the torch-free serving path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]  # x, y, width, height


@dataclass
class Track:
    id: int
    box: Box
    scores: np.ndarray  # smoothed class scores
    missed: int = 0  # frames since it was last matched


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N x 4, xywh) with every box in ``b`` (M x 4): N x M."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    bottom = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    overlap = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - overlap
    return overlap / np.maximum(union, 1e-9)


@dataclass
class FaceTracker:
    """Ids and exponentially smoothed scores for the faces of a stream of frames.

    ``smoothing`` is the weight of the newest frame (1: no smoothing); a track unmatched
    for more than ``max_missed`` frames is dropped, and a face that reappears later gets
    a new id.
    """

    iou_threshold: float = 0.3
    smoothing: float = 0.3
    max_missed: int = 10
    tracks: list[Track] = field(default_factory=list)
    next_id: int = 1

    def update(self, boxes: list[Box], scores: np.ndarray) -> list[Track]:
        """Match this frame's faces to the tracks; return each face's track, in the order given."""
        matched: dict[int, Track] = {}
        if self.tracks and boxes:
            iou = box_iou(np.array(boxes), np.array([t.box for t in self.tracks]))
            for face, track in sorted(np.ndindex(iou.shape), key=lambda pair: -iou[pair]):
                if iou[face, track] < self.iou_threshold:
                    break
                if face in matched or any(self.tracks[track] is t for t in matched.values()):
                    continue
                matched[face] = self.tracks[track]
        for track in self.tracks:
            track.missed += 1
        result = []
        for face, (box, face_scores) in enumerate(zip(boxes, np.asarray(scores, float))):
            track = matched.get(face)
            if track is None:
                track = Track(self.next_id, box, face_scores)
                self.next_id += 1
                self.tracks.append(track)
            else:
                track.scores = (1 - self.smoothing) * track.scores + self.smoothing * face_scores
                track.box = box
            track.missed = 0
            result.append(track)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return result
