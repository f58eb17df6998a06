"""The batch command on a real folder of photos and a real video."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT


def run_batch(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fer.batch", "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=check,
    )


def test_folder_to_csv_counts_faces_and_skips_bad_files(tmp_path):
    folder = tmp_path / "photos"
    shutil.copytree(ROOT / "examples", folder, ignore=shutil.ignore_patterns("video", "*.md"))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    out = tmp_path / "faces.csv"
    result = run_batch(str(folder), "--out", str(out))
    rows = list(csv.DictReader(out.open()))
    per_file = {}
    for row in rows:
        per_file[row["file"]] = per_file.get(row["file"], 0) + 1
    assert per_file == {
        "downcast_face.jpg": 1,
        "four_faces.jpg": 4,
        "hand_at_mouth.jpg": 1,
        "no_face.jpg": 1,
        "older_face.jpg": 1,
        "one_face.jpg": 1,
        "tilted_face.jpg": 1,
    }
    assert "skipped 1 unreadable file(s)" in result.stdout and "broken.jpg" in result.stdout
    no_face = next(r for r in rows if r["file"] == "no_face.jpg")
    assert no_face["detected"] == "False"
    scores = [float(rows[0][c]) for c in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")]
    assert abs(sum(scores) - 1) < 1e-3


def test_video_to_json_every_nth_frame_with_the_person_tracked(tmp_path):
    import imageio_ffmpeg

    frame = np.asarray(Image.open(ROOT / "examples" / "one_face.jpg").convert("RGB"))
    video = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (frame.shape[1], frame.shape[0]), fps=10)
    writer.send(None)
    for _ in range(10):
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    out = tmp_path / "faces.json"
    run_batch(str(video), "--out", str(out), "--every", "4")
    rows = json.loads(out.read_text())
    assert [r["frame"] for r in rows] == [0, 4, 8]
    assert all(r["detected"] for r in rows) and {r["face"] for r in rows} == {1}  # one person, tracked


def test_listed_files_that_are_gone_are_skipped_as_missing_not_damaged(tmp_path):
    """A list names paths relative to itself; one deleted since it was written is said to be gone."""
    shutil.copy(ROOT / "examples" / "one_face.jpg", tmp_path / "here.jpg")
    listing = tmp_path / "list.txt"
    listing.write_text("here.jpg\ngone.jpg\ngone.mp4\n")
    out = tmp_path / "faces.csv"
    result = run_batch(str(listing), "--out", str(out))
    assert [row["file"] for row in csv.DictReader(out.open())] == ["here.jpg"]
    assert "skipped 2 unreadable file(s):\n  gone.jpg: no such file\n  gone.mp4: no such file\n" in result.stdout


@pytest.mark.parametrize("out", ["results", "faces.csv"])
def test_a_run_writing_into_the_folder_it_reads_never_reads_its_own_results(tmp_path, out):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(ROOT / "examples" / "one_face.jpg", photos / "one.jpg")
    out = photos / out
    first = run_batch(str(photos), "--out", str(out))
    again = run_batch(str(photos), "--out", str(out))  # the results now lie among the photos
    assert "1 faces from 1 files" in first.stdout and "1 faces from 1 files" in again.stdout, again.stdout
    assert "unreadable" not in again.stdout
