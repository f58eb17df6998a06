"""Video files: every face tracked through the clip, an annotated copy, a timeline and a CSV.

Frames are decoded one at a time by imageio's ffmpeg plugin (the ``imageio-ffmpeg`` wheel
ships its own ffmpeg, so no system install is assumed) and analysed at up to
``ANALYSED_FPS`` frames per second. Faces are followed by ``fer.pipeline.tracking`` so each person
keeps a number, with scores smoothed over their own frames as in the Live tab. The clip's
length and frame size are checked from its header before any frame is decoded.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
from PIL import Image

from fer.pipeline.annotate import draw_predictions
from fer.pipeline.api_types import VideoPrediction
from fer.pipeline.images import MAX_PIXELS, NO_SUCH_FILE, ImageError
from fer.pipeline.predict import FacePrediction, Predictor
from fer.pipeline.tracking import FaceTracker

MAX_VIDEO_S = 60
ANALYSED_FPS = 10  # at most this many frames per second of video are analysed (and written)
WORKING_SIDE = 640  # frames are analysed and written at most this large


class VideoError(ImageError):
    """A video the app cannot use; the message is one sentence for the user."""


@dataclass
class VideoResult:
    duration_s: float
    analysed_fps: float
    frames: int = 0
    rows: list[dict] = field(default_factory=list)  # one per face per analysed frame

    @property
    def people(self) -> list[int]:
        return sorted({row["person"] for row in self.rows})

    def as_json(self, model: str) -> VideoPrediction:
        return {
            "model": model,
            "duration_s": round(self.duration_s, 3),
            "analysed_fps": round(self.analysed_fps, 3),
            "frames_analysed": self.frames,
            "people": self.people,
            "faces": self.rows,
        }


def open_video(path: str | Path, max_seconds: float | None = MAX_VIDEO_S) -> tuple[imageio.core.Format.Reader, dict]:
    """The reader and its metadata, refused in one sentence if unreadable, too long or too large.

    ``max_seconds`` None: any length (the batch command's offline use).
    """
    if not Path(path).is_file():
        raise VideoError(NO_SUCH_FILE)
    try:
        reader = imageio.get_reader(str(path), format="FFMPEG")
        meta = reader.get_meta_data()
    except Exception as exc:  # imageio/ffmpeg raise several types for the same "not a video"
        raise VideoError("not a readable video: not a format we recognise, or the file is damaged") from exc
    width, height = meta.get("size", (0, 0))
    duration, fps = float(meta.get("duration") or 0), float(meta.get("fps") or 0)
    if max_seconds is not None and duration > max_seconds:
        reader.close()
        raise VideoError(f"the video is {duration:.0f} s long; we accept up to {max_seconds:g} s")
    if width * height > MAX_PIXELS or not fps:
        reader.close()
        raise VideoError("not a usable video: its frames are too large or it has no frame rate")
    return reader, meta


@dataclass
class TrackedFrame:
    index: int  # in the video's own frame numbering
    time_s: float
    image: Image.Image  # the frame, at most WORKING_SIDE
    to_video: float  # factor from ``image`` pixels back to video pixels
    faces: list[FacePrediction]  # detected faces, scores smoothed per person
    people: list[int]  # each face's person number


def tracked_frames(
    path: str | Path, predictor: Predictor, every: int | None = None, max_seconds: float | None = MAX_VIDEO_S
) -> Iterator[TrackedFrame]:
    """Every ``every``-th frame (default: ``ANALYSED_FPS`` per second) with its tracked faces.

    The one decoding and tracking path for the Video tab, ``/predict_video`` and ``fer.batch``.
    """
    reader, meta = open_video(path, max_seconds)
    fps = float(meta["fps"])
    step = every or max(1, round(fps / ANALYSED_FPS))
    tracker = FaceTracker()
    try:
        for index, frame in enumerate(reader):
            if index % step:
                continue
            image, to_video = working_frame(frame)
            faces = [face for face in predictor.predict(image) if face.detected]
            tracks = tracker.update([face.box for face in faces], [list(face.scores.values()) for face in faces])
            steady = [predictor.with_scores(face, track.scores) for face, track in zip(faces, tracks)]
            yield TrackedFrame(index, index / fps, image, to_video, steady, [track.id for track in tracks])
    except (OSError, RuntimeError) as exc:
        raise VideoError("the video is damaged or cut short") from exc
    finally:
        reader.close()


def analyse_video(
    path: str | Path,
    predictor: Predictor,
    annotated_path: Path,
    progress: Callable[[float], None] = lambda fraction: None,
) -> VideoResult:
    """Track and classify every face; write the annotated clip to ``annotated_path`` (H.264 MP4)."""
    reader, meta = open_video(path)  # refused here, before any output is written
    reader.close()
    fps, duration = float(meta["fps"]), float(meta.get("duration") or 0)
    step = max(1, round(fps / ANALYSED_FPS))
    result = VideoResult(duration_s=duration, analysed_fps=fps / step)
    writer = imageio.get_writer(
        str(annotated_path), format="FFMPEG", fps=fps / step, codec="libx264", quality=6, macro_block_size=2
    )
    try:
        for frame in tracked_frames(path, predictor, step):
            draw_predictions(frame.image, frame.faces, numbers=frame.people)
            writer.append_data(np.asarray(frame.image))
            result.frames += 1
            for face, person in zip(frame.faces, frame.people):
                box = [round(value * frame.to_video) for value in face.box]
                result.rows.append(
                    {"time_s": round(frame.time_s, 3), "person": person, "box": box, "scores": face.scores}
                )
            if duration:
                progress(min(1.0, frame.time_s / duration))
    finally:
        writer.close()
    return result


def working_frame(frame: np.ndarray) -> tuple[Image.Image, float]:
    """The frame at most WORKING_SIDE, with even sides (H.264 needs them); the factor back to video pixels."""
    image = Image.fromarray(frame).convert("RGB")
    factor = min(1.0, WORKING_SIDE / max(image.size))
    size = (max(2, round(image.width * factor) // 2 * 2), max(2, round(image.height * factor) // 2 * 2))
    return image.resize(size, Image.BILINEAR) if size != image.size else image, frame.shape[1] / size[0]


def write_csv(result: VideoResult, path: Path) -> Path:
    """One row per face per analysed frame: time, person, box (video pixels), every score."""
    labels = list(result.rows[0]["scores"]) if result.rows else []
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time_s", "person", "x", "y", "width", "height", *labels])
        for row in result.rows:
            writer.writerow([row["time_s"], row["person"], *row["box"], *(f"{row['scores'][n]:.6f}" for n in labels)])
    return path


def plot_timeline(result: VideoResult, path: Path, max_people: int = 4) -> Path:
    """Each person's smoothed scores over time, one panel per person (the first ``max_people``)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    from fer.pipeline.annotate import colour_of

    people = result.people[:max_people] or [None]
    fig, axes = plt.subplots(len(people), 1, figsize=(8, 2.2 * len(people)), sharex=True, squeeze=False)
    for axis, person in zip(axes[:, 0], people):
        rows = [row for row in result.rows if row["person"] == person]
        if rows:
            times = [row["time_s"] for row in rows]
            for label in rows[0]["scores"]:
                colour = tuple(c / 255 for c in colour_of(label))
                axis.plot(times, [row["scores"][label] for row in rows], label=label, color=colour, lw=1.5)
        axis.set_ylim(0, 1)
        axis.set_ylabel(f"person {person}" if person else "no face")
    axes[0, 0].legend(loc="upper right", ncol=7, fontsize=7, frameon=False)
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
