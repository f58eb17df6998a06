"""Batch prediction: a folder of images (or one image, or a video) in, a CSV or JSON of faces out.

    python -m fer.batch photos/ --out faces.csv
    python -m fer.batch clip.mp4 --out faces.json --every 5     # every 5th frame of a video
    python -m fer.batch photos/ --out faces.csv --model user/repo --tta

One row per face: the file (and frame), the face's box, whether it was detected, every
class score and the top label. In a video, faces are tracked as in the app's Video tab
(``fer.pipeline.video``): ``face`` is the person's number, the same through the clip, and the
scores are smoothed over that person's frames. Unreadable files are skipped, counted and
listed at the end; they never stop the run.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from tqdm import tqdm

from fer.pipeline.images import ImageError
from fer.pipeline.predict import FacePrediction, Predictor
from fer.pipeline.video import tracked_frames

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def inputs(source: Path) -> Iterator[tuple[str, Path]]:
    """(file name, path) for a folder or a single file."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
            yield str(path.relative_to(source)), path
    else:
        yield source.name, source


def video_rows(predictor: Predictor, source: Path, every: int) -> Iterator[tuple[int, int, FacePrediction, float]]:
    """(frame, person, face, factor to video pixels) for every tracked face of every ``every``-th frame."""
    for frame in tracked_frames(source, predictor, every, max_seconds=None):
        for face, person in zip(frame.faces, frame.people):
            yield frame.index, person, face, frame.to_video


def face_row(name: str, frame: int | None, number: int, face: FacePrediction, scale: float = 1.0) -> dict:
    x, y, w, h = (round(value * scale) for value in face.box)
    top = face.top_k(1)[0]
    return {
        "file": name,
        "frame": frame,
        "face": number,
        "x": x,
        "y": y,
        "width": w,
        "height": h,
        "detected": face.detected,
        "label": top["label"],
        "score": round(top["score"], 5),
        **{k: round(v, 5) for k, v in face.scores.items()},
    }


def predict_all(
    predictor: Predictor, source: Path, every: int = 1, progress: bool = True
) -> tuple[list[dict], list[str]]:
    """Rows (one per face) and the names of files that could not be read."""
    rows: list[dict] = []
    skipped: list[str] = []
    if source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES:
        try:
            for frame, person, face, scale in tqdm(video_rows(predictor, source, every), disable=not progress):
                rows.append(face_row(source.name, frame, person, face, scale))
        except ImageError as exc:  # fer.pipeline.video.VideoError is one
            skipped.append(f"{source.name}: {exc}")
        return rows, skipped
    total = sum(1 for p in source.rglob("*") if p.is_file()) if source.is_dir() else None
    for name, path in tqdm(inputs(source), total=total, desc="predicting", disable=not progress):
        try:
            faces = predictor.predict(path)
        except ImageError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        rows.extend(face_row(name, None, number, face) for number, face in enumerate(faces, start=1))
    return rows, skipped


def write_rows(rows: list[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".json":
        out.write_text(json.dumps(rows, indent=1))
        return
    with out.open("w", newline="") as handle:
        fields = list(rows[0]) if rows else ["file", "frame", "face"]
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fer.batch", description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path, help="a folder of images, an image, or a video file")
    p.add_argument("--out", type=Path, required=True, help="results file: .csv or .json")
    p.add_argument("--model", default=None, help="checkpoint folder or Hub id (default: $FER_MODEL or embedded)")
    p.add_argument("--every", type=int, default=1, help="video: use every N-th frame (faces are tracked across them)")
    p.add_argument("--tta", action="store_true", help="average with the mirrored face")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not args.source.exists():
        p.error(f"{args.source} does not exist")
    predictor = Predictor(args.model, flip_tta=args.tta)
    rows, skipped = predict_all(predictor, args.source, max(1, args.every), progress=not args.no_progress)
    write_rows(rows, args.out)
    print(f"{len(rows)} faces -> {args.out}" + (f"; skipped {len(skipped)} unreadable file(s):" if skipped else ""))
    for line in skipped:
        print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
