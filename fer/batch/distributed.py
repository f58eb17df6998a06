"""Ray Data: an actor pool of workers, each holding a ``Predictor``, over photos and video ranges.

Photos are one task each; a video is cut into frame ranges (``records.video_ranges``) so one long
clip keeps many workers busy, and its ranges' detections are tracked in order on the driver when
the last one arrives. Results stream back as they are done and are committed one source at a
time, so a stopped run loses at most the sources in flight. The same command runs on a laptop
(a local Ray started for it) or on a cluster (``--address``, after ``ray start --head`` there).
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable
from pathlib import Path

from fer.batch.records import (
    RANGE_FRAMES,
    DetectedFrame,
    FileResult,
    detect_frames,
    photo_result,
    tracked_result,
    video_ranges,
    video_seconds,
)
from fer.batch.sources import Source
from fer.pipeline.images import ImageError

ROOT = Path(__file__).resolve().parents[2]
PHOTOS_PER_TASK = 8  # a task per photo would cost Ray more than the photo


class FaceWorker:
    """One Ray actor: loads the model once, then answers tasks (a photo, or a video's frame range)."""

    def __init__(self, model: str | None, tta: bool, every: int):
        from fer.pipeline.faces import CenterFaceDetector
        from fer.pipeline.predict import Predictor

        # One CPU per worker (num_cpus=1), so one detector thread: workers side by side, not
        # each spreading over cores the others are using.
        self.predictor = Predictor(model, detector=CenterFaceDetector(threads=1), flip_tta=tta)
        self.every = every

    def __call__(self, batch: dict) -> dict:
        """Each task is a few photos, or one video's frame range: every file's answer, as JSON."""
        answers = []
        for files, start, stop in zip(batch["files"], batch["start"], batch["stop"]):
            sources = [Source(name, Path(path)) for name, path in json.loads(files)]
            answers.append(json.dumps([[s.name, self._answer(s, int(start), int(stop))] for s in sources]))
        return {"answers": answers, "parts": batch["parts"]}

    def _answer(self, source: Source, start: int, stop: int) -> dict:
        try:
            if source.is_video:
                frames = detect_frames(self.predictor, source, self.every, start, stop)
                return {"frames": [vars(frame) for frame in frames]}
            return {"records": photo_result(self.predictor, source).records}
        except (ImageError, OSError) as exc:
            return {"error": str(exc)}


def connect(address: str | None, workers: int) -> None:
    """A local Ray for this run, or the cluster at ``address``; ValueError in one sentence if that
    cluster does not answer (Ray itself would keep retrying for minutes)."""
    import ray

    if address and address != "auto":
        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
        except (OSError, ValueError) as exc:
            raise ValueError(f"no Ray cluster answers at {address} ({exc.__class__.__name__})") from exc
    # A local Ray's workers find the project on PYTHONPATH; a cluster's are sent the project folder.
    shipped = {"working_dir": str(ROOT), "excludes": [".git/", "runs/", "test-artifacts/", "*.tar.gz"]}
    runtime_env = {"env_vars": {"PYTHONPATH": str(ROOT)}} if not address else shipped
    kwargs = {} if address else {"num_cpus": workers, "include_dashboard": False}
    ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING, log_to_driver=False, **kwargs)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # ours counts files and frames


def run_ray(
    sources: list[Source],
    model: str | None,
    tta: bool,
    every: int,
    workers: int,
    labels: list[str],
    commit: Callable[[FileResult], None],
    range_frames: int = RANGE_FRAMES,
) -> None:
    import ray

    tasks, photos = [], [source for source in sources if not source.is_video]
    for first in range(0, len(photos), PHOTOS_PER_TASK):
        chunk = [[source.name, str(source.path)] for source in photos[first : first + PHOTOS_PER_TASK]]
        tasks.append({"files": json.dumps(chunk), "start": 0, "stop": 0, "parts": 1})
    for source in (source for source in sources if source.is_video):
        try:
            ranges = video_ranges(source, every, range_frames)
        except (ImageError, OSError) as exc:
            commit(FileResult(source.name, error=str(exc)))
            continue
        files = json.dumps([[source.name, str(source.path)]])
        tasks += [{"files": files, "start": start, "stop": stop, "parts": len(ranges)} for start, stop in ranges]
    if not tasks:
        return
    by_name = {source.name: source for source in sources}
    parts: dict[str, list[dict]] = {}
    dataset = ray.data.from_items(tasks).map_batches(
        FaceWorker,
        fn_constructor_kwargs={"model": model, "tta": tta, "every": every},
        batch_size=1,
        concurrency=workers,
        num_cpus=1,
    )
    for row in dataset.iter_rows():
        for name, answer in json.loads(row["answers"]):
            parts.setdefault(name, []).append(answer)
            if len(parts[name]) < int(row["parts"]):
                continue  # more of this video's ranges to come
            commit(_file_result(by_name[name], parts.pop(name), labels))


def _file_result(source: Source, answers: list[dict], labels: list[str]) -> FileResult:
    errors = [answer["error"] for answer in answers if "error" in answer]
    if errors:
        return FileResult(source.name, error=errors[0])
    if not source.is_video:
        return FileResult(source.name, answers[0]["records"])
    frames = [DetectedFrame(**frame) for answer in answers for frame in answer["frames"]]
    return tracked_result(source, frames, labels, video_seconds(source))
