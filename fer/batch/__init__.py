"""Batch analysis of photo and video collections, on one machine or a Ray cluster.

    python -m fer.batch photos/ --out faces.csv                 # one file of rows, as before
    python -m fer.batch photos/ clips/ --out results/           # Parquet, resumable
    python -m fer.batch 'data/**/*.mp4' --out results/ --engine ray --workers 2 --every 5
    python -m fer.batch list.txt --out results/ --engine ray --address 10.0.0.5:6379

- ``sources``: what INPUT names (folders, globs, a text file of paths), photo or video.
- ``records``: one file's faces as rows; a video's frames detected in ranges, then tracked.
- ``store``: the output, written per file with a manifest, so a run stopped anyhow resumes.
- ``local`` and ``distributed``: the two engines, one process or Ray Data actors.
- ``cli``: the command.
"""
