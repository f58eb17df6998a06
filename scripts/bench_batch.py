"""Batch throughput: the single-process path against Ray Data with 1 and 2 workers, in one run.

    python scripts/bench_batch.py --out bench/batch.json

Photos: the example photos copied to ``--photos`` files. Video: the example clip (20 s, 472
frames), every frame analysed, cut into ``--range-frames`` ranges for Ray. Each figure is the
wall time from handing over the sources to the last record, model loading included (the
single process loads one predictor, each Ray worker its own); Ray's own start-up (``ray.init``
of a local cluster) is reported apart. Results are checked equal to the single process's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer.batch.distributed import connect, run_ray  # noqa: E402
from fer.batch.local import run_local  # noqa: E402
from fer.batch.records import FileResult  # noqa: E402
from fer.batch.sources import find_sources  # noqa: E402
from fer.pipeline.predict import Predictor  # noqa: E402
from fer.utils.output_paths import writable_file_argument  # noqa: E402
from train.bench import write_report  # noqa: E402


def timed_local(sources: list, every: int) -> tuple[float, list[FileResult]]:
    results: list[FileResult] = []
    started = time.perf_counter()
    run_local(sources, Predictor(), every, results.append)
    return time.perf_counter() - started, results


def timed_ray(sources: list, every: int, workers: int, labels: list[str], range_frames: int) -> tuple[float, list]:
    results: list[FileResult] = []
    started = time.perf_counter()
    run_ray(sources, None, False, every, workers, labels, results.append, range_frames)
    return time.perf_counter() - started, results


def same_records(a: list[FileResult], b: list[FileResult]) -> bool:
    key = lambda result: result.source  # noqa: E731
    return [r.records for r in sorted(a, key=key)] == [r.records for r in sorted(b, key=key)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=writable_file_argument, default=str(ROOT / "bench/batch.json"))
    p.add_argument("--photos", type=int, default=140)
    p.add_argument("--range-frames", type=int, default=120)
    args = p.parse_args()
    labels = Predictor().label_names
    with tempfile.TemporaryDirectory() as scratch:
        photos = Path(scratch) / "photos"
        photos.mkdir()
        examples = sorted((ROOT / "examples").glob("*.jpg"))
        for index in range(args.photos):
            shutil.copy(examples[index % len(examples)], photos / f"{index:04d}.jpg")
        photo_sources = find_sources([str(photos)])
        video_sources = find_sources([str(ROOT / "examples" / "video" / "tears_to_laughter.mp4")])
        frames = 472

        report: dict = {"photos": args.photos, "video": "examples/video/tears_to_laughter.mp4", "video_frames": frames}
        local_photos_s, local_photo_results = timed_local(photo_sources, 1)
        local_video_s, local_video_results = timed_local(video_sources, 1)
        report["single_process"] = {
            "photos_per_s": round(args.photos / local_photos_s, 1),
            "video_frames_per_s": round(frames / local_video_s, 1),
        }
        started = time.perf_counter()
        connect(None, 2)
        report["ray_start_up_s"] = round(time.perf_counter() - started, 2)
        for workers in (1, 2):
            photos_s, photo_results = timed_ray(photo_sources, 1, workers, labels, args.range_frames)
            video_s, video_results = timed_ray(video_sources, 1, workers, labels, args.range_frames)
            report[f"ray_{workers}_workers"] = {
                "photos_per_s": round(args.photos / photos_s, 1),
                "video_frames_per_s": round(frames / video_s, 1),
                "same_records_as_single_process": same_records(photo_results, local_photo_results)
                and same_records(video_results, local_video_results),
            }
    for workers in (1, 2):
        ray_figures = report[f"ray_{workers}_workers"]
        for figure in ("photos_per_s", "video_frames_per_s"):
            ratio = ray_figures[figure] / report["single_process"][figure]
            report[f"ratio_{figure}_ray_{workers}_workers_vs_single_process"] = round(ratio, 2)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
