"""Video files: faces tracked through a real clip, via /predict_video and the Video tab."""

from __future__ import annotations

import csv

import imageio.v2 as imageio
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image
from skimage import data

from fer.app.examples import EXAMPLES
from fer.app.video import analyse_video_file
from fer.model.labels import CLASS_NAMES
from fer.pipeline.video import MAX_VIDEO_S, VideoError, open_video

NEGATIVE = {"angry", "disgust", "fear", "sad"}


def write_clip(path, frames: list[np.ndarray], fps: float) -> str:
    with imageio.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2) as writer:
        for frame in frames:
            writer.append_data(frame)
    return str(path)


@pytest.fixture(scope="module")
def two_people_clip(tmp_path_factory) -> str:
    """Two seconds at 20 fps: two faces walking apart, the left one smaller."""
    face = Image.fromarray(data.astronaut()).crop((140, 20, 340, 240))
    frames = []
    for i in range(40):
        canvas = Image.new("RGB", (640, 360), "white")
        canvas.paste(face.resize((150, 165)), (200 - 3 * i, 80))
        canvas.paste(face.resize((180, 198)), (300 + 3 * i, 60))
        frames.append(np.asarray(canvas))
    return write_clip(tmp_path_factory.mktemp("video") / "two.mp4", frames, fps=20)


def test_predict_video_follows_each_person_through_the_clip(app_server, two_people_clip):
    result = Client(app_server.url, verbose=False).predict(handle_file(two_people_clip), api_name="/predict_video")
    assert result["people"] == [1, 2] and result["analysed_fps"] == 10 and result["frames_analysed"] == 20
    for person, direction in ((1, 1), (2, -1)):  # person 1, larger, was found first; it moves right
        xs = [face["box"][0] for face in result["faces"] if face["person"] == person]
        assert len(xs) == 20 and all(direction * (b - a) > 0 for a, b in zip(xs, xs[1:]))


def test_the_video_tab_gives_an_annotated_clip_a_timeline_and_a_csv(two_people_clip):
    annotated, timeline, download, status = analyse_video_file(two_people_clip, progress=lambda *a, **k: None)
    assert "**2** people" in status and "**20** frames" in status
    reader, meta = open_video(annotated)
    assert meta["size"] == (640, 360) and reader.count_frames() == 20
    reader.close()
    assert Image.open(timeline).size[0] > 0
    rows = list(csv.DictReader(open(download.value["path"])))  # noqa: SIM115
    assert len(rows) == 40 and {row["person"] for row in rows} == {"1", "2"} and "happy" in rows[0]


def test_a_clip_over_the_length_limit_is_refused_before_decoding(tmp_path):
    tiny = [np.zeros((64, 64, 3), np.uint8)] * (MAX_VIDEO_S + 2)
    clip = write_clip(tmp_path / "long.mp4", tiny, fps=1)
    with pytest.raises(VideoError, match=f"we accept up to {MAX_VIDEO_S} s"):
        open_video(clip)
    *_, status = analyse_video_file(clip, progress=lambda *a, **k: None)
    assert status.startswith("⚠️ Cannot use this file: the video is") and str(tmp_path) not in status


def test_a_file_that_is_no_video_gets_one_sentence(tmp_path):
    (tmp_path / "notes.mp4").write_text("not a video")
    *_, status = analyse_video_file(str(tmp_path / "notes.mp4"), progress=lambda *a, **k: None)
    assert status == "⚠️ Cannot use this file: not a readable video: not a format we recognise, or the file is damaged."


def test_the_example_clip_follows_one_woman_from_tears_to_laughter():
    clip = EXAMPLES / "video" / "tears_to_laughter.mp4"
    *_, download, status = analyse_video_file(str(clip), progress=lambda *a, **k: None)
    assert "**1** person" in status
    rows = list(csv.DictReader(open(download.value["path"])))  # noqa: SIM115
    assert f"**{len(rows)}** frames" in status  # she is found in every analysed frame
    top = [max(CLASS_NAMES, key=lambda name: float(row[name])) for row in rows]
    first, last = top[: len(top) // 3], top[-len(top) // 3 :]
    assert sum(label in NEGATIVE for label in first) >= 0.8 * len(first)  # crying: sad, fear, anger
    assert last.count("happy") >= 0.9 * len(last)  # laughing
