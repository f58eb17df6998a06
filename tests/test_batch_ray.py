"""``python -m fer.batch`` on Ray Data, against the single-process path: same rows, resumable, nothing lost.

Each run starts its own local Ray (``ray.init(num_cpus=2)`` on 127.0.0.1), as a user's would.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.test_batch import run_batch

pytest.importorskip("ray", reason="Ray is in requirements-batch.txt, which requirements-dev.txt installs")
pd = pytest.importorskip("pandas")

CLASSES = ["angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"]
KEYS = ["source", "frame", "person"]


def faces(out: Path) -> pd.DataFrame:
    table = pd.read_parquet(out / "faces")
    return table.sort_values(KEYS, na_position="first").reset_index(drop=True)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> Path:
    """The example photos, a corrupt one, and the example clip: one folder, as a user would point at."""
    folder = tmp_path_factory.mktemp("collection")
    for photo in (ROOT / "examples").glob("*.jpg"):
        shutil.copy(photo, folder / photo.name)
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "video").mkdir()
    shutil.copy(ROOT / "examples" / "video" / "tears_to_laughter.mp4", folder / "video" / "clip.mp4")
    return folder


@pytest.fixture(scope="module")
def single_process(collection, tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("local") / "results"
    run_batch(str(collection), "--out", str(out), "--every", "4")
    return faces(out)


def test_ray_gives_the_rows_of_the_single_process_path(collection, single_process, tmp_path):
    """The clip is cut into 100-frame ranges over two workers, and tracked afterwards in order."""
    out = tmp_path / "results"
    result = run_batch(str(collection), "--out", str(out), "--every", "4", "--engine", "ray", "--range-frames", "100")
    by_ray = faces(out)
    assert len(by_ray) == len(single_process) > 50
    assert by_ray[["source", "person", "x", "y", "width", "height"]].equals(
        single_process[["source", "person", "x", "y", "width", "height"]]
    )
    assert np.array_equal(by_ray["frame"].fillna(-1), single_process["frame"].fillna(-1))
    assert np.abs(by_ray[CLASSES].to_numpy() - single_process[CLASSES].to_numpy()).max() <= 1e-5
    assert set(by_ray.loc[by_ray.source == "video/clip.mp4", "person"]) == {1}  # one woman, followed throughout
    summary = pd.read_parquet(out / "summary.parquet").set_index("source")
    assert summary.loc["corrupt.jpg", "error"].startswith("not a readable image")
    assert summary.loc["corrupt.jpg", "faces"] == 0
    assert summary.loc["four_faces.jpg", "faces"] == 4 and summary.loc["video/clip.mp4", "seconds"] > 19
    assert "skipped 1 unreadable file(s)" in result.stdout and "corrupt.jpg" in result.stdout


def manifest_lines(out: Path) -> int:
    manifest = out / "manifest.jsonl"
    return len(manifest.read_text().splitlines()) if manifest.is_file() else 0


def ray_run_under_way(collection: Path, out: Path, files_done: int) -> subprocess.Popen:
    """A Ray run of the collection, returned once ``files_done`` files are committed."""
    command = [sys.executable, "-m", "fer.batch", "--no-progress", str(collection), "--out", str(out)]
    command += ["--every", "4", "--engine", "ray", "--range-frames", "60"]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while manifest_lines(out) < files_done and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    return run


def test_a_killed_run_started_again_ends_with_the_same_rows(collection, single_process, tmp_path):
    """SIGTERM the run once some files are done, start the same command again: it skips those and
    ends with exactly the uninterrupted rows."""
    out = tmp_path / "results"
    run = ray_run_under_way(collection, out, files_done=2)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=60)
    done_before = manifest_lines(out)
    assert 2 <= done_before < 9, "the run was to be stopped part way"

    again = run_batch(str(collection), "--out", str(out), "--every", "4", "--engine", "ray", "--range-frames", "60")
    assert f"resuming: {done_before} of 9 files are done already" in again.stdout
    resumed = faces(out)
    assert resumed[KEYS + ["x", "y", "width", "height"]].equals(single_process[KEYS + ["x", "y", "width", "height"]])
    assert np.abs(resumed[CLASSES].to_numpy() - single_process[CLASSES].to_numpy()).max() <= 1e-5
    assert sorted(json.loads(line)["source"] for line in (out / "manifest.jsonl").read_text().splitlines()) == sorted(
        pd.read_parquet(out / "summary.parquet")["source"]
    )


def test_a_worker_lost_mid_run_loses_nothing(collection, single_process, tmp_path):
    """A worker process killed while it works: Ray starts another and retries its task."""
    out = tmp_path / "results"
    run = ray_run_under_way(collection, out, files_done=1)
    workers = subprocess.run(["pgrep", "-f", "ray::MapWorker"], capture_output=True, text=True).stdout.split()
    assert workers and run.poll() is None, "the run's workers were to be found at work"
    os.kill(int(workers[0]), signal.SIGKILL)
    output, _ = run.communicate(timeout=240)
    assert run.returncode == 0, output[-2000:]
    assert manifest_lines(out) == 9 and len(faces(out)) == len(single_process)
    assert np.abs(faces(out)[CLASSES].to_numpy() - single_process[CLASSES].to_numpy()).max() <= 1e-5


def test_the_single_process_path_resumes_too_and_refuses_other_settings(collection, tmp_path):
    out = tmp_path / "results"
    run_batch(str(collection / "one_face.jpg"), "--out", str(out))
    again = run_batch(str(collection / "one_face.jpg"), str(collection / "four_faces.jpg"), "--out", str(out))
    assert "resuming: 1 of 2 files are done already" in again.stdout and len(faces(out)) == 5
    other = run_batch(str(collection / "one_face.jpg"), "--out", str(out), "--every", "3", check=False)
    assert other.returncode == 2 and "holds a run made with other settings" in other.stderr
    assert "Traceback" not in other.stderr


def test_a_cluster_that_does_not_answer_is_one_sentence(collection, tmp_path):
    started = time.monotonic()
    out = str(tmp_path / "r")
    result = run_batch(str(collection), "--out", out, "--engine", "ray", "--address", "127.0.0.1:9", check=False)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no Ray cluster answers at 127.0.0.1:9 (ConnectionRefusedError)"
    assert time.monotonic() - started < 30


def test_inputs_may_be_globs_and_lists_of_paths(collection, tmp_path):
    listing = tmp_path / "list.txt"
    listing.write_text(f"# photos to analyse\n{collection / 'one_face.jpg'}\n{collection / 'tilted_face.jpg'}\n")
    out = tmp_path / "faces.json"
    run_batch(str(listing), str(collection / "four_*.jpg"), "--out", str(out))
    rows = json.loads(out.read_text())
    assert sorted({Path(row["file"]).name for row in rows}) == ["four_faces.jpg", "one_face.jpg", "tilted_face.jpg"]
