"""Batch prediction: a folder of images (or one image, or a video) in, a CSV or JSON of faces out.

    python -m fer.batch photos/ --out faces.csv
    python -m fer.batch clip.mp4 --out faces.json --every 5     # every 5th frame of a video
    python -m fer.batch photos/ --out faces.csv --model user/repo --tta

One row per face: the file (and frame), the face's box, whether it was detected, every
class score and the top label. Unreadable files are skipped, counted and listed at the
end; they never stop the run.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from fer.images import ImageError
from fer.predict import Predictor

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


def video_frames(path: Path, every: int) -> Iterator[tuple[int, Image.Image]]:
    """(frame index, RGB frame) for every ``every``-th frame, decoded by the ffmpeg that
    the imageio-ffmpeg wheel ships."""
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    width, height = meta["size"]
    for index, raw in enumerate(reader):
        if index % every == 0:
            yield index, Image.fromarray(np.frombuffer(raw, np.uint8).reshape(height, width, 3))


def inputs(source: Path, every: int) -> Iterator[tuple[str, int | None, Image.Image | Path]]:
    """(file name, frame or None, image or path) for a folder, an image file or a video."""
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
            yield str(path.relative_to(source)), None, path
    elif source.suffix.lower() in VIDEO_SUFFIXES:
        for index, frame in video_frames(source, every):
            yield source.name, index, frame
    else:
        yield source.name, None, source


def predict_all(
    predictor: Predictor, source: Path, every: int = 1, progress: bool = True
) -> tuple[list[dict], list[str]]:
    """Rows (one per face) and the names of files that could not be read."""
    rows: list[dict] = []
    skipped: list[str] = []
    total = sum(1 for p in source.rglob("*") if p.is_file()) if source.is_dir() else None
    for name, frame, image in tqdm(inputs(source, every), total=total, desc="predicting", disable=not progress):
        try:
            faces = predictor.predict(image)
        except ImageError as exc:
            skipped.append(f"{name}: {exc}")
            continue
        for number, face in enumerate(faces, start=1):
            x, y, w, h = face.box
            top = face.top_k(1)[0]
            rows.append(
                {
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
            )
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
    p.add_argument("--every", type=int, default=1, help="video: use every N-th frame")
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
