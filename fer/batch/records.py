"""One file's faces as records: a photo's at once; a video's detected over frame ranges, then tracked.

Detecting is nearly all the work and needs no order, so a long video's frames can be split into
ranges for many workers; tracking needs the frames in order but is cheap, so it runs once per
video over the ranges' detections. One machine runs the same two steps over one range.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from fer.batch.sources import Source
from fer.pipeline.predict import Predictor
from fer.pipeline.tracking import FaceTracker
from fer.pipeline.video import VideoError, open_video, working_frame

RANGE_FRAMES = 600  # frames of video per task: long enough to amortise decoding up to it, short enough to spread
UNTIL_THE_END = 2**62  # the last range's stop: a container's frame count is an estimate


@dataclass
class DetectedFrame:
    index: int
    time_s: float
    boxes: list[list[float]]  # in video pixels, unrounded
    scores: list[list[float]]


@dataclass
class FileResult:
    """A file's records (one per face, per analysed frame for a video) and its summary line."""

    source: str
    records: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # of video analysed
    frames: int = 0  # of video analysed
    error: str = ""

    @property
    def summary(self) -> dict:
        people = {record["face"] for record in self.records} if self.frames else set()
        return {
            "source": self.source,
            "faces": len(self.records),
            "people": len(people),
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


def face_record(
    source: str,
    frame: int | None,
    time_s: float | None,
    number: int,
    box: Sequence[float],
    detected: bool,
    scores: dict[str, float],
) -> dict:
    """A face as a record: where (rounded to pixels), which person or number, every score and the top label."""
    x, y, w, h = (round(value) for value in box)
    top = max(scores, key=scores.get)
    return {
        "file": source,
        "frame": frame,
        "time_s": time_s,
        "face": number,
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "detected": detected,
        "label": top,
        "score": round(scores[top], 5),
        **{name: round(score, 5) for name, score in scores.items()},
    }


def photo_result(predictor: Predictor, source: Source) -> FileResult:
    """A photo's faces, numbered largest first (ImageError for an unreadable file)."""
    faces = predictor.predict(source.path)
    records = [face_record(source.name, None, None, n, f.box, f.detected, f.scores) for n, f in enumerate(faces, 1)]
    return FileResult(source.name, records)


def video_ranges(source: Source, every: int, range_frames: int = RANGE_FRAMES) -> list[tuple[int, int]]:
    """The video's frames split into ``(start, stop)`` ranges for separate workers (VideoError if
    it cannot be read)."""
    reader, meta = open_video(source.path, max_seconds=None)
    reader.close()
    estimate = int(float(meta.get("duration") or 0) * float(meta["fps"]))  # the container's, not exact
    step = range_frames - range_frames % every or every
    starts = list(range(0, max(estimate, 1), step))
    return [(start, stop) for start, stop in zip(starts, [*starts[1:], UNTIL_THE_END])]


def detect_frames(predictor: Predictor, source: Source, every: int, start: int, stop: int) -> list[DetectedFrame]:
    """The detected faces of every ``every``-th frame from ``start`` up to ``stop`` (VideoError if
    the video cannot be read)."""
    reader, meta = open_video(source.path, max_seconds=None)
    fps, detected = float(meta["fps"]), []
    try:
        for index, frame in enumerate(frames_from(reader, start), start):
            if index >= stop:
                break
            if index % every:
                continue
            image, to_video = working_frame(frame)
            faces = [face for face in predictor.predict(image) if face.detected]
            boxes = [[value * to_video for value in face.box] for face in faces]
            detected.append(DetectedFrame(index, index / fps, boxes, [list(f.scores.values()) for f in faces]))
    except (OSError, RuntimeError) as exc:
        raise VideoError("the video is damaged or cut short") from exc
    finally:
        reader.close()
    return detected


def frames_from(reader, start: int) -> Iterator[np.ndarray]:
    """The video's frames from ``start`` on. imageio seeks there exactly (ffmpeg jumps to the key
    frame before it and decodes forward), so a range late in a long video does not decode the
    whole video before it."""
    if start == 0:
        yield from reader
        return
    try:
        yield reader.get_data(start)
        while True:
            yield reader.get_next_data()
    except IndexError:  # the end of the video (a range's start past it gives no frames)
        return


def tracked_result(source: Source, frames: list[DetectedFrame], labels: list[str], seconds: float) -> FileResult:
    """The video's records: its detected frames in order, each face following its person, with
    scores smoothed over that person's frames as the app's Video tab does."""
    tracker, result = FaceTracker(), FileResult(source.name, seconds=seconds, frames=len(frames))
    for frame in sorted(frames, key=lambda f: f.index):
        tracks = tracker.update([tuple(box) for box in frame.boxes], frame.scores)  # an empty frame ages tracks too
        for box, track in zip(frame.boxes, tracks):
            scores = {name: float(score) for name, score in zip(labels, track.scores)}
            result.records.append(
                face_record(source.name, frame.index, round(frame.time_s, 3), track.id, box, True, scores)
            )
    return result


def video_seconds(source: Source) -> float:
    reader, meta = open_video(source.path, max_seconds=None)
    reader.close()
    return float(meta.get("duration") or 0)
