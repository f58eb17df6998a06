"""The parts of a training run, each made by one function: model, optimiser, schedule, mixup.

``train.train`` and ``train.bench`` both build from here, so the benchmark times exactly
what training runs.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import timm
import torch
from timm.data import Mixup
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from torch import nn

from fer.hub.resolve import load_model
from fer.model.labels import CLASS_NAMES, NUM_CLASSES
from fer.model.networks import create_model
from fer.model.preprocess import Preprocess
from fer.utils.device import Compute

# torch's single-kernel optimiser steps, on CPU as on GPU; timm passes `fused` through.
FUSED_OPTIMIZERS = {"adam", "adamw", "sgd", "nesterov"}


class PretrainedWeightsError(RuntimeError):
    """timm's pretrained weights could not be had; the message says why in one sentence."""


@dataclass
class ModelChoice:
    model: nn.Module
    architecture: str
    preprocess: Preprocess
    new_head: bool = False  # --init from a checkpoint with other classes


def make_model(args: argparse.Namespace, compute: Compute) -> ModelChoice:
    """The model to train: from --init, timm's --pretrained weights, or fresh; on its device."""
    torch.manual_seed(args.seed)  # identical initial weights on every rank
    extra = {} if args.drop is None else {"drop_rate": args.drop}
    if args.init:
        choice = _from_checkpoint(args.init)
    elif args.pretrained:
        choice = ModelChoice(_pretrained(args.model, **extra), args.model, Preprocess(size=args.img_size))
    else:
        choice = ModelChoice(create_model(args.model, **extra), args.model, Preprocess(size=args.img_size))
    choice.model = compute.prepare_model(choice.model)
    return choice


def _from_checkpoint(reference: str) -> ModelChoice:
    """The checkpoint's model and preprocessing; a new head if its classes differ from ours."""
    loaded = load_model(reference)
    new_head = list(loaded.label_names) != list(CLASS_NAMES)
    if new_head:
        print(f"--init {reference}: classes {loaded.label_names} differ from ours; making a new head")
        loaded.model.reset_classifier(NUM_CLASSES)
    return ModelChoice(loaded.model, loaded.architecture, loaded.preprocess, new_head)


def _pretrained(name: str, **kwargs: object) -> nn.Module:
    """timm's ImageNet weights; timm sums the RGB filters of the first conv into one channel."""
    create_model(name)  # unknown names fail here, with close matches, before any download
    cfg = timm.models.get_pretrained_cfg(name)
    if cfg is None or not (cfg.hf_hub_id or cfg.url or cfg.file):
        raise PretrainedWeightsError(f"timm has no pretrained weights for {name!r}; drop --pretrained")
    try:
        return timm.create_model(name, pretrained=True, in_chans=1, num_classes=NUM_CLASSES, **kwargs)
    except Exception as exc:  # the Hub client raises many types for "could not download"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PretrainedWeightsError(
            f"could not download timm's pretrained weights for {name!r} (no internet or Hub access?): {reason}"
        ) from exc


def make_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    opt = {"nesterov": "nesterov", "sgd": "momentum"}.get(args.optimizer, args.optimizer)
    extra = {"fused": True} if args.optimizer in FUSED_OPTIMIZERS else {}
    return create_optimizer_v2(
        model, opt=opt, lr=args.lr, weight_decay=args.weight_decay, momentum=args.momentum, **extra
    )


def make_scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace, steps_per_epoch: int):
    """timm's scheduler: stepped per update (cosine, step) or per epoch on validation accuracy (plateau)."""
    if args.sched == "none":
        return None
    scheduler, _ = create_scheduler_v2(
        optimizer,
        sched=args.sched,
        num_epochs=args.epochs,
        decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate,
        patience_epochs=args.patience,
        min_lr=args.min_lr,
        warmup_epochs=args.warmup_epochs if args.sched != "plateau" else 0,
        warmup_lr=args.lr * 0.01,
        plateau_mode="max",
        step_on_epochs=args.sched == "plateau",
        updates_per_epoch=steps_per_epoch,
    )
    return scheduler


def make_mixup(args: argparse.Namespace) -> Mixup | None:
    """timm's Mixup/CutMix (one mix per batch); it draws from numpy's global generator,
    which ``train.train`` seeds from (seed, epoch, rank)."""
    if args.mixup <= 0 and args.cutmix <= 0:
        return None
    return Mixup(
        mixup_alpha=args.mixup, cutmix_alpha=args.cutmix, label_smoothing=args.label_smoothing, num_classes=NUM_CLASSES
    )
