"""Results as files to download: a photo's JSON exactly as ``/predict`` returns it, and CSV.

The CSV has one row per face: its number, whether it was detected and is uncertain, the
box in input pixels, all seven scores and the top-k. Files (these, and a video's outputs)
are written under one folder of this process and removed after ``limits.CACHE_MAX_AGE_S``,
like the uploads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tempfile
import time
from pathlib import Path

from fer.app import limits

DOWNLOADS = Path(tempfile.gettempdir()) / "fer-downloads"


def result_csv(result: dict) -> str:
    """``/predict``'s JSON as CSV text: one row per face."""
    faces = result["faces"]
    labels = list(faces[0]["scores"]) if faces else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["face", "detected", "uncertain", "x", "y", "width", "height", *labels, "top_k"])
    for number, face in enumerate(faces, start=1):
        top = "; ".join(f"{t['label']} {t['score']:.4f}" for t in face["top_k"])
        scores = [f"{face['scores'][label]:.6f}" for label in labels]
        writer.writerow([number, face["detected"], face["uncertain"], *face["box"], *scores, top])
    return out.getvalue()


def fresh_folder() -> Path:
    """A new folder for one request's files (a video's outputs); old ones are swept first."""
    DOWNLOADS.mkdir(exist_ok=True)
    _sweep(DOWNLOADS, limits.CACHE_MAX_AGE_S)
    return Path(tempfile.mkdtemp(dir=DOWNLOADS))


def write_downloads(result: dict, stem: str = "faces") -> tuple[Path, Path]:
    """Write ``result`` as CSV and JSON; return both paths. Old downloads are swept first."""
    DOWNLOADS.mkdir(exist_ok=True)
    _sweep(DOWNLOADS, limits.CACHE_MAX_AGE_S)
    as_json = json.dumps(result, indent=2)
    folder = DOWNLOADS / hashlib.sha256(as_json.encode()).hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    json_path, csv_path = folder / f"{stem}.json", folder / f"{stem}.csv"
    json_path.write_text(as_json)
    csv_path.write_text(result_csv(result))
    return csv_path, json_path


def _sweep(root: Path, max_age_s: float) -> None:
    cutoff = time.time() - max_age_s
    for path in root.glob("*/*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                if not any(path.parent.iterdir()):
                    path.parent.rmdir()
        except OSError:
            pass  # another worker swept it first
