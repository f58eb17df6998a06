"""Training on a lent GPU (``scripts/device_run.py``): plans, packed data, running, results."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
