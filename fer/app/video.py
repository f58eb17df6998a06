"""The Video tab: an uploaded clip comes back annotated, with a timeline per person and a CSV.

Without ``from __future__ import annotations``: Gradio finds the ``gr.Progress`` parameter by its
annotation.
"""

import logging
from pathlib import Path

import gradio as gr

from fer.app.downloads import fresh_folder
from fer.app.served import video_predictor, what_failed
from fer.app.text import plain
from fer.model.checkpoint_info import CheckpointError
from fer.pipeline.video import VideoError, analyse_video, plot_timeline, write_csv

log = logging.getLogger("fer.app")

VIDEO_PROMPT = "Upload a video: every face is followed through it."


def analyse_video_file(video_path: str | None, model: str | None = None, progress: gr.Progress = gr.Progress()):
    """The Video tab: annotated clip, per-person timeline, CSV and a status line."""
    if not video_path:
        return None, None, gr.DownloadButton(value=None, interactive=False), VIDEO_PROMPT
    folder = fresh_folder()
    try:
        result = analyse_video(
            video_path,
            video_predictor(model),
            folder / "annotated.mp4",
            progress=lambda fraction: progress(fraction, desc="Analysing frames"),
        )
    except (VideoError, CheckpointError) as exc:
        log.warning("refused %s: %s", Path(video_path).name, exc)
        no_csv = gr.DownloadButton(value=None, interactive=False)
        return None, None, no_csv, f"⚠️ Cannot use this {what_failed(exc)}: {plain(exc)}."
    csv_path = write_csv(result, folder / "faces_over_time.csv")
    timeline = plot_timeline(result, folder / "timeline.png")
    people = len(result.people)
    who = "person" if people == 1 else "people"
    found = f"**{people}** {who}, numbered in order of appearance" if people else "no face"
    status = f"Analysed **{result.frames}** frames ({result.analysed_fps:.0f} per second of video): {found}."
    download = gr.DownloadButton(value=str(csv_path), interactive=True)
    return str(folder / "annotated.mp4"), str(timeline), download, status
