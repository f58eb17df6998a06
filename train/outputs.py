"""A run's files: its folder, the best checkpoint, the per-epoch log, plots and card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from torch import nn

from fer.hub.client import HubError, push_checkpoint
from fer.hub.model_card import write_model_card
from fer.model.checkpoint import save_checkpoint
from fer.model.labels import CLASS_NAMES
from fer.model.networks import parameter_count
from fer.model.preprocess import Preprocess
from fer.utils.output_paths import writable_folder
from train.args import ARGS_FILE, save_args
from train.metrics import classification_report
from train.plots import plot_confusion, plot_curves

METRICS_FILE = "metrics.jsonl"
LAST_DIR = "last"
# What a run stopped before its first checkpoint leaves: starting again there is no harm.
RUN_START = {ARGS_FILE, METRICS_FILE, LAST_DIR}


def prepare_out_dir(args: argparse.Namespace, is_main: bool) -> Path:
    """Refuse to write over a finished run, or over someone's files, by accident; record the run's flags."""
    out = Path(args.out)
    has_state = (out / LAST_DIR / "state.json").is_file()
    if args.resume and not has_state:
        raise SystemExit(f"error: --resume given but {out} has no {LAST_DIR}/state.json to resume from")
    if not args.resume and (has_state or (out / "config.json").exists()):
        raise SystemExit(f"error: {out} already holds a run; pass --resume to continue it or choose a new --out")
    if is_main:  # main only: the other ranks would see the train_args.json it writes
        others = sorted(p.name for p in out.iterdir() if p.name not in RUN_START) if out.is_dir() else []
        if others and not args.resume:
            raise SystemExit(
                f"error: {out} holds other files ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''}), "
                "which a run's README.md, weights and plots would join or replace; choose a new or empty --out"
            )
        writable_folder(out)
        save_args(args, out)
    return out


def push_run(out: Path, repo_id: str, private: bool) -> str:
    """The finished run pushed (``--push-to-hub``); if the push fails, the sentence says the run is
    kept and gives the command that pushes it without training again."""
    try:
        return push_checkpoint(out, repo_id, private=private)
    except HubError as exc:
        again = f"python -m train.push {out} {repo_id}{' --private' if private else ''}"
        raise HubError(f"the run is saved in {out} but was not pushed: {exc}; push it with `{again}`") from None


def save_best(model: nn.Module, out: Path, preprocess: Preprocess, val: dict, extra: dict) -> None:
    """The best epoch's weights in Hub format, and its validation metrics beside them."""
    save_checkpoint(model, out, list(CLASS_NAMES), preprocess)
    best = {"split": "validation", "parameters": parameter_count(model), **extra, **val}
    (out / "metrics.json").write_text(json.dumps(best, indent=2))


def write_metrics_log(out: Path, history: list[dict]) -> None:
    (out / METRICS_FILE).write_text("".join(json.dumps(record) + "\n" for record in history))


def append_metrics(out: Path, record: dict) -> None:
    with (out / METRICS_FILE).open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def write_reports(out: Path, history: list[dict], repo_id: str | None, shown_as: str | None = None) -> None:
    best = json.loads((out / "metrics.json").read_text())
    plot_curves(history, out / "curves.png")
    plot_confusion(
        np.array(best["confusion_matrix"]),
        CLASS_NAMES,
        out / "confusion.png",
        title=f"validation, epoch {best['epoch']}: accuracy {best['accuracy']:.4f}",
    )
    (out / "classification_report.txt").write_text(classification_report(best))
    write_model_card(out, repo_id=repo_id, shown_as=shown_as)
