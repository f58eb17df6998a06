"""One process: every source in turn, with the predictor loaded once."""

from __future__ import annotations

from collections.abc import Callable

from fer.batch.records import (
    UNTIL_THE_END,
    FileResult,
    detect_frames,
    photo_result,
    tracked_result,
    video_seconds,
)
from fer.batch.sources import Source
from fer.pipeline.images import ImageError
from fer.pipeline.predict import Predictor


def file_result(predictor: Predictor, source: Source, every: int) -> FileResult:
    """A source's records, or its one-sentence error if it cannot be read (the run goes on)."""
    try:
        if source.is_video:
            frames = detect_frames(predictor, source, every, 0, UNTIL_THE_END)
            return tracked_result(source, frames, predictor.label_names, video_seconds(source))
        return photo_result(predictor, source)
    except (ImageError, OSError) as exc:  # fer.pipeline.video.VideoError is an ImageError
        return FileResult(source.name, error=str(exc))


def run_local(sources: list[Source], predictor: Predictor, every: int, commit: Callable[[FileResult], None]) -> None:
    for source in sources:
        commit(file_result(predictor, source, every))
