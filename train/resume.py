"""What a run saves to continue later (``--out/last/``), and how it is put back.

The state is model, optimiser, schedule and EMA weights plus where the run stands. No
random-generator state is needed: every step seeds its own generators from (seed, epoch,
step, rank), so a run resumed at any step draws what the uninterrupted run drew.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from timm.utils import ModelEmaV3

from train.args import cannot_resume
from train.state_io import load_state, save_state


@dataclass
class Progress:
    """Where the run is: the next (epoch, step) to run, the best so far, and the epoch's sums."""

    epoch: int = 0
    step: int = 0
    best_acc: float = -1.0
    history: list[dict] = field(default_factory=list)
    sums: list[float] = field(default_factory=lambda: [0.0, 0.0])  # loss x images, correct: steps before `step`


def save_resume_state(folder: Path, progress: Progress, model, optimizer, scheduler, ema: ModelEmaV3 | None) -> None:
    state = {
        "epoch": progress.epoch,
        "step": progress.step,
        "best_acc": progress.best_acc,
        "history": progress.history,
        "sums": progress.sums,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler else {},
        "ema": ema.module.state_dict() if ema else {},
    }
    save_state(state, folder)


def load_resume_state(folder: Path, model, optimizer, scheduler, ema: ModelEmaV3 | None) -> Progress:
    """Put the saved weights, optimiser, schedule and EMA back; return where the run stood.

    A run folder may have been copied from another machine, and a copy can be cut short: a state
    that cannot be read, or that does not fit the model the run's flags build, is one sentence
    (ValueError) before anything is trained or written.
    """
    try:
        state = load_state(folder)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        why = f"its saved state is damaged or incomplete ({first_line(exc)})"
        raise ValueError(cannot_resume(folder.parent, why)) from None
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scheduler:
            scheduler.load_state_dict(state["scheduler"])
        if ema:
            ema.module.load_state_dict(state["ema"])
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError, KeyError, TypeError):  # torch's size and key mismatches
        why = "its saved state does not fit the model its flags build"
        raise ValueError(cannot_resume(folder.parent, why)) from None
    match_parameter_layout(optimizer)
    if "step" not in state:  # saved by an older trainer after a finished epoch
        state = {**state, "epoch": state["epoch"] + 1, "step": 0, "sums": [0.0, 0.0]}
    return Progress(state["epoch"], state["step"], state["best_acc"], state["history"], list(state["sums"]))


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def match_parameter_layout(optimizer: torch.optim.Optimizer) -> None:
    """Give each per-parameter state tensor (momenta) its parameter's device and memory format.

    ``Optimizer.load_state_dict`` matches device and dtype but keeps the saved (contiguous)
    layout; a ``channels_last`` model's fused or foreach step wants them alike.
    """
    for group in optimizer.param_groups:
        for param in group["params"]:
            for key, value in optimizer.state.get(param, {}).items():
                if torch.is_tensor(value) and value.shape == param.shape and value.stride() != param.stride():
                    optimizer.state[param][key] = torch.empty_like(param, dtype=value.dtype).copy_(value)
