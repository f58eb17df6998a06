"""The app's benchmarks (``scripts/bench_app.py``): in-process, detector sides, the real server."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
