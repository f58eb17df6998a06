"""Looking for faces only around the faces a Live stream already follows.

Why: on the visitor's device, CenterFace over a whole 320 px frame is most of an analysis, and
the labels on screen are as old as one analysis and part of the next. A region twice a face's
size costs a fraction of the whole frame (docs/benchmarks.md, "Looking around the faces it
follows"), so the labels come back several times sooner. Live still looks at the whole frame
every few analyses for faces that have come into view (``fer.pipeline.live.LiveState.look``).
The browser's twin is ``detectInRegions`` in web/fer/analyser.js.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer.pipeline.faces import NMS_IOU, Face, FaceDetector, nms

Region = tuple[int, int, int, int]  # x, y, width, height, in the frame's pixels

# A region is this many times its face's longer side, centred on the face: room for the face to
# move between two analyses, which are a few camera frames apart.
REGION_MARGIN = 2
# A larger region is shrunk to this side before detection, as the whole frame is to 320: a face
# in its region then still spans about half of the detector's input.
REGION_DETECTION_SIDE = 128


def regions_around(boxes: list[tuple[int, int, int, int]], size: tuple[int, int]) -> list[Region]:
    """The region to look in around each box (x, y, width, height in whole pixels), clipped to a
    frame of ``size`` (width, height). Integer arithmetic, so the browser computes the same."""
    width, height = size
    regions = []
    for x, y, w, h in boxes:
        half = max(w, h) * REGION_MARGIN // 2
        centre_x, centre_y = x + w // 2, y + h // 2
        left, top = max(0, centre_x - half), max(0, centre_y - half)
        right, bottom = min(width, centre_x + half), min(height, centre_y + half)
        if right > left and bottom > top:
            regions.append((left, top, right - left, bottom - top))
    return regions


def region_cost(regions: list[Region]) -> int:
    """The pixels the detector works on for ``regions``, each shrunk to ``REGION_DETECTION_SIDE``
    (about: as a square), to weigh them against a whole-frame look."""
    return sum(min(width * height, REGION_DETECTION_SIDE**2) for _, _, width, height in regions)


@dataclass
class RegionDetector:
    """A ``FaceDetector`` that looks only in ``regions`` of the image: each is detected on its own
    (shrunk to ``max_side``), its faces moved back into the image's pixels, and a face found in two
    overlapping regions kept once."""

    detector: FaceDetector
    regions: list[Region]
    max_side: int = REGION_DETECTION_SIDE

    def detect(self, rgb: np.ndarray) -> list[Face]:
        found = []
        for left, top, width, height in self.regions:
            part = np.ascontiguousarray(rgb[top : top + height, left : left + width])
            for face in self.detector.detect(part, self.max_side):
                x, y, w, h = face.box
                face.box = (x + left, y + top, w, h)
                face.landmarks = face.landmarks + np.array([left, top], dtype=face.landmarks.dtype)
                found.append(face)
        if not found:
            return []
        corners = np.array([[x, y, x + w, y + h] for x, y, w, h in (face.box for face in found)])
        kept = [found[i] for i in nms(corners, np.array([face.score for face in found]), NMS_IOU)]
        return sorted(kept, key=lambda face: face.box[2] * face.box[3], reverse=True)
