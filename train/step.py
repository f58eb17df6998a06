"""One optimisation step, the same for ``train.train`` and ``train.bench``.

Nothing in a step waits on the device: the loss, the number of correct predictions and
a "loss was finite" flag come back as device tensors, which the loop sums and reads only
every ``--check-every`` steps and once per epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.utils import ModelEmaV3
from torch import nn

from fer.model.preprocess import Preprocess
from fer.utils.device import Compute
from train.augment import Augment
from train.distill import Teachers, distillation_loss


@dataclass
class StepParts:
    """Everything a step touches. ``runner`` is what runs (compiled and/or DDP-wrapped),
    ``fallback`` the same without compilation (used if compiling fails), ``module`` the
    plain model inside both (what the EMA averages)."""

    runner: nn.Module
    fallback: nn.Module
    module: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    compute: Compute
    augment: Augment
    preprocess: Preprocess
    label_smoothing: float = 0.0
    mixup: Mixup | None = None
    ema: ModelEmaV3 | None = None
    ema_every: int = 1
    teachers: Teachers | None = None
    kd_alpha: float = 0.0
    kd_temperature: float = 4.0
    log: Callable[[str], None] = print


@dataclass
class StepResult:
    loss: torch.Tensor  # 0-dim, on the device
    correct: torch.Tensor  # 0-dim count, on the device
    finite: torch.Tensor  # 0-dim bool, on the device


def step_seed(seed: int, epoch: int, step: int, rank: int) -> int:
    """A seed for one step of one rank: runs are reproducible, ranks differ, and a run
    resumed at any step draws exactly the numbers the uninterrupted run drew."""
    return int(np.random.SeedSequence([seed, epoch, step, rank]).generate_state(1)[0])


def seed_step(seed: int, device: torch.device) -> torch.Generator:
    """Seed every random source a step uses; return the augmentation's generator.

    Dropout draws from torch's global generator, timm's Mixup from numpy's: both are
    reseeded here, so nothing depends on what ran before.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    return torch.Generator(device=device).manual_seed(seed)


def train_step(
    parts: StepParts,
    faces: torch.Tensor,
    labels: torch.Tensor,
    generator: torch.Generator,
    global_step: int,
    stored_targets: torch.Tensor | None = None,
) -> StepResult:
    """Augment uint8 faces on their device, forward, backward, optimiser (and EMA) update.

    The distillation targets come from ``parts.teachers`` run on this very batch, or are the
    faces' ``stored_targets`` (``--soft-targets``), already softened at ``parts.kd_temperature``.
    """
    x = parts.augment(faces, generator)
    target = labels
    if parts.mixup is not None:
        x, target = parts.mixup(x, labels)
    x = parts.compute.prepare_input(x)
    soft = parts.teachers.soft_targets(x, parts.preprocess) if parts.teachers is not None else stored_targets
    parts.optimizer.zero_grad(set_to_none=True)
    try:
        loss, logits = _forward_backward(parts, x, target, soft)
    except Exception as exc:  # inductor raises many types (no compiler, unsupported op, ...)
        if parts.runner is parts.fallback:
            raise
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        parts.log(f"warning: torch.compile failed ({type(exc).__name__}: {first_line}); training without it")
        parts.runner = parts.fallback
        parts.optimizer.zero_grad(set_to_none=True)
        loss, logits = _forward_backward(parts, x, target, soft)
    parts.scaler.step(parts.optimizer)
    parts.scaler.update()
    if parts.ema is not None and global_step % parts.ema_every == 0:
        parts.ema.update(parts.module, step=global_step // parts.ema_every)
    return StepResult(loss, (logits.argmax(1) == labels).sum(), torch.isfinite(loss))


def _forward_backward(
    parts: StepParts, x: torch.Tensor, target: torch.Tensor, soft: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Loss (hard or mixup targets, plus distillation) and its gradients; detached results."""
    with parts.compute.autocast():
        logits = parts.runner(x).float()
    if parts.mixup is not None:
        loss = SoftTargetCrossEntropy()(logits, target)
    else:
        loss = nn.functional.cross_entropy(logits, target, label_smoothing=parts.label_smoothing)
    if soft is not None:
        kd = distillation_loss(logits, soft, parts.kd_temperature)
        loss = (1 - parts.kd_alpha) * loss + parts.kd_alpha * kd
    parts.scaler.scale(loss).backward()
    return loss.detach(), logits.detach()
