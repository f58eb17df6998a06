"""Train a facial-expression classifier on FER2013 (or any data in its layout).

    python -m train.train --data ../shared/data/fer2013.zip --model fernet_s --epochs 30 --out runs/exp1
    torchrun --nproc_per_node=2 -m train.train --data ... --out runs/ddp      # same script, DDP

The whole split sits on the training device as uint8; each step indexes a batch out of
it and augments it with batched tensor ops, so there is no DataLoader in the hot loop.
Every epoch is evaluated on the validation split; the best epoch is saved in timm's Hub
format in ``--out``, and the full training state in ``--out/last/`` every ``--save-every``
epochs, at the end and on SIGTERM/SIGINT, so that ``--resume`` continues exactly where
the run left off (mid-epoch after a signal).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from fer.hub.client import HubError, check_repo_id, push_token
from fer.model.checkpoint import CheckpointError
from fer.model.inference import class_probabilities
from fer.model.labels import CLASS_NAMES, NUM_CLASSES
from fer.model.networks import parameter_count
from fer.model.preprocess import Preprocess
from fer.utils.device import contiguous_copy
from train import runtime as rt
from train import soft_targets
from train.args import check_args, parse_args
from train.augment import Augment, AugmentConfig
from train.build import PretrainedWeightsError, make_mixup, make_model, make_optimizer, make_scheduler
from train.data import FerSplit, load_split, subsample
from train.distill import Teachers
from train.metrics import confusion_matrix, summarize
from train.outputs import (
    LAST_DIR,
    append_metrics,
    prepare_out_dir,
    push_run,
    save_best,
    write_metrics_log,
    write_reports,
)
from train.resume import Progress, load_resume_state, save_resume_state
from train.step import StepParts, seed_step, step_seed, train_step

# Failures whose message is the whole story: printed as one line, no traceback.
USER_ERRORS = (FileNotFoundError, ValueError, FloatingPointError, HubError, CheckpointError, PretrainedWeightsError)


class Stopped(Exception):
    """A stop signal was agreed on: the caller saves the state and exits."""


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    check_args(args, world_size=int(os.environ.get("WORLD_SIZE", "1")))
    runtime = rt.setup(args.device, args.precision, args.channels_last)
    try:
        return run(args, runtime)
    finally:
        rt.teardown(runtime)


def run(args: argparse.Namespace, runtime: rt.Runtime) -> dict:
    if args.push_to_hub:  # refused before training, not after
        check_repo_id(args.push_to_hub)
        push_token()
    log = print if runtime.is_main else (lambda *a, **k: None)
    out = prepare_out_dir(args, runtime.is_main)
    log(f"compute: {runtime.describe()}")
    stored = soft_targets.load(args.soft_targets, args.kd_temperature) if args.soft_targets else None
    train, val = load_data(args, runtime, log, stored)

    # --- the parts: model, EMA, optimiser, schedule, teachers, the step ----------------
    choice = make_model(args, runtime.compute)
    model, preprocess = choice.model, choice.preprocess
    ema = ModelEmaV3(model, decay=args.ema_decay, use_warmup=True) if args.ema else None
    optimizer = make_optimizer(model, args)
    steps_per_epoch = count_steps(train, args, runtime)
    scheduler = make_scheduler(optimizer, args, steps_per_epoch)
    teachers = Teachers(args.teacher, runtime.compute, args.kd_temperature) if args.teacher else None
    plain = DistributedDataParallel(model, device_ids=_device_ids(runtime)) if runtime.distributed else model
    parts = StepParts(
        runner=torch.compile(plain) if args.compile else plain,
        fallback=plain,
        module=model,
        optimizer=optimizer,
        scaler=runtime.compute.grad_scaler(),
        compute=runtime.compute,
        augment=Augment(preprocess, AugmentConfig.scaled(args.aug)),
        preprocess=preprocess,
        label_smoothing=args.label_smoothing,
        mixup=make_mixup(args),
        ema=ema,
        ema_every=args.ema_every,
        teachers=teachers,
        kd_alpha=args.kd_alpha,
        kd_temperature=args.kd_temperature,
        log=log,
    )
    eval_model = ema.module if ema is not None else model
    progress = Progress()
    if args.resume:
        progress = load_resume_state(out / LAST_DIR, model, optimizer, scheduler, ema)
        if runtime.is_main:
            write_metrics_log(out, progress.history)
        log(f"resumed {out} at epoch {progress.epoch + 1}, step {progress.step}; best so far {progress.best_acc:.4f}")
    log(f"{choice.architecture}: {parameter_count(model) / 1e6:.2f}M parameters, {steps_per_epoch} steps/epoch")
    if teachers:
        log(f"distilling from {', '.join(teachers.references)} (alpha {args.kd_alpha}, T {args.kd_temperature})")
    if stored:
        log(
            f"distilling from {args.soft_targets}: {len(stored.teachers)} teachers' stored targets "
            f"(alpha {args.kd_alpha}, T {args.kd_temperature})"
        )

    def save_state() -> None:
        if runtime.is_main:
            save_resume_state(out / LAST_DIR, progress, model, optimizer, scheduler, ema)

    # --- the loop: train an epoch, evaluate, save ---------------------------------------
    if progress.epoch >= args.epochs:
        log(f"nothing to do: the run already finished {progress.epoch} of {args.epochs} epochs")
    with rt.StopSignal().installed() as stop:
        while progress.epoch < args.epochs:
            epoch, started = progress.epoch, time.perf_counter()
            if args.freeze_epochs:
                freeze_backbone(model, epoch < args.freeze_epochs)
            try:
                train_loss, train_acc = train_epoch(parts, scheduler, train, progress, args, runtime, stop)
            except Stopped:
                save_state()
                raise SystemExit(
                    f"stopped by {stop.name} at epoch {epoch + 1}, step {progress.step}: state saved in "
                    f"{out / LAST_DIR}; continue with --resume"
                ) from None
            train_time = time.perf_counter() - started
            scores = evaluate(eval_model, val, preprocess, runtime)
            if scheduler:
                scheduler.step(epoch + 1, metric=scores["accuracy"])
            record = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": scores["loss"],
                "val_acc": scores["accuracy"],
                "val_macro_f1": scores["macro_f1"],
                "per_class": rounded_per_class(scores["per_class"]),
                "lr": optimizer.param_groups[0]["lr"],
                "epoch_time": time.perf_counter() - started,
                "train_images_per_s": steps_per_epoch * args.batch_size * runtime.world_size / train_time,
            }
            progress.history.append(record)
            progress.epoch, progress.step, progress.sums = epoch + 1, 0, [0.0, 0.0]
            improved = scores["accuracy"] > progress.best_acc
            if improved:
                progress.best_acc = scores["accuracy"]
            if runtime.is_main:
                if improved:
                    best = {"epoch": epoch + 1, "architecture": choice.architecture, "new_head": choice.new_head}
                    save_best(eval_model, out, preprocess, scores, best | teacher_info(args, stored))
                append_metrics(out, record)
                if progress.epoch % args.save_every == 0 or progress.epoch == args.epochs:
                    save_state()
            log(
                f"epoch {epoch + 1}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"val loss {scores['loss']:.4f} acc {scores['accuracy']:.4f} macro-F1 {scores['macro_f1']:.4f}  "
                f"lr {record['lr']:.2e}  {record['epoch_time']:.1f}s{'  *best*' if improved else ''}"
            )
    if runtime.is_main and progress.history:
        write_reports(out, progress.history, args.push_to_hub)
    log(f"best validation accuracy {progress.best_acc:.4f}; checkpoint in {out}")
    if args.push_to_hub and runtime.is_main:
        log(f"pushed to {push_run(out, args.push_to_hub, args.private)}")
    return {"best_val_acc": progress.best_acc, "epochs": len(progress.history)}


# --- data ------------------------------------------------------------------------------


@dataclass
class DeviceSplit:
    images: torch.Tensor  # N x 48 x 48 uint8, on the training device
    labels: torch.Tensor  # N, int64, on the training device
    soft: torch.Tensor | None = None  # N x C stored distillation targets (--soft-targets), on the device


def load_data(
    args: argparse.Namespace, runtime: rt.Runtime, log, stored: soft_targets.StoredTargets | None = None
) -> tuple[DeviceSplit, DeviceSplit]:
    """Both splits decoded (or read from the cache) and moved to the device once, with the
    training images' ``stored`` distillation targets if there are any."""
    progress = runtime.is_main and not args.no_progress
    train = load_split(args.data, "train", progress=progress)
    val = load_split(args.data, "validation", progress=progress)
    if args.train_subset:
        train = subsample(train, args.train_subset, seed=args.seed)
    if args.val_subset:
        val = subsample(val, args.val_subset, seed=args.seed)
    for split in (train, val):
        if len(split) == 0:
            raise SystemExit(
                f"error: {args.data} has no usable {split.split} images ({split.skipped} skipped as unreadable)"
            )
    if len(train) < args.batch_size * runtime.world_size:
        raise SystemExit(f"error: {len(train)} training images is fewer than one batch; lower --batch-size")
    log(train.summary())
    log(val.summary())
    on_device = _on_device(train, runtime.device)
    if stored is not None:
        rows = stored.rows_for(train.images, args.soft_targets)
        on_device.soft = torch.from_numpy(rows).to(runtime.device)
    return on_device, _on_device(val, runtime.device)


def count_steps(train: DeviceSplit, args: argparse.Namespace, runtime: rt.Runtime) -> int:
    """Full batches per epoch on each rank (the remainder is left out, reshuffled next epoch)."""
    return len(train.labels) // (args.batch_size * runtime.world_size)


def _on_device(split: FerSplit, device: torch.device) -> DeviceSplit:
    return DeviceSplit(torch.from_numpy(split.images).to(device), torch.from_numpy(split.labels).to(device))


# --- one epoch, one evaluation ---------------------------------------------------------


def train_epoch(
    parts: StepParts,
    scheduler,
    train: DeviceSplit,
    progress: Progress,
    args: argparse.Namespace,
    runtime: rt.Runtime,
    stop: rt.StopSignal,
) -> tuple[float, float]:
    """Steps ``progress.step`` .. the end of ``progress.epoch``; mean loss and accuracy over the epoch.

    The host reads the device only every ``--check-every`` steps (is every loss finite?
    did any rank get a stop signal?) and once at the end of the epoch.
    """
    epoch, batch = progress.epoch, args.batch_size
    steps_per_epoch = count_steps(train, args, runtime)
    parts.runner.train()
    # The permutation depends only on (seed, epoch): the same on every rank, each of which
    # takes its own interleaved shard, and the same again after a resume.
    order = torch.randperm(len(train.labels), generator=torch.Generator().manual_seed(args.seed * 10_007 + epoch))
    shard = order[runtime.rank :: runtime.world_size][: steps_per_epoch * batch].to(runtime.device)
    sums = torch.tensor(progress.sums, device=runtime.device, dtype=torch.float64)
    all_finite = torch.ones((), dtype=torch.bool, device=runtime.device)
    bar = tqdm(
        range(progress.step, steps_per_epoch),
        desc=f"epoch {epoch + 1}/{args.epochs}",
        disable=not runtime.is_main or args.no_progress,
        leave=False,
        unit="batch",
    )
    for step in bar:
        generator = seed_step(step_seed(args.seed, epoch, step, runtime.rank), runtime.device)
        idx = shard[step * batch : (step + 1) * batch]
        global_step = epoch * steps_per_epoch + step + 1
        soft = train.soft[idx] if train.soft is not None else None
        result = train_step(parts, train.images[idx], train.labels[idx], generator, global_step, soft)
        if scheduler is not None:
            scheduler.step_update(global_step)
        sums += torch.stack([result.loss.double() * len(idx), result.correct.double()])
        all_finite &= result.finite
        done = step + 1
        if done % args.check_every == 0 or done == steps_per_epoch or (stop.requested and not runtime.distributed):
            stop_agreed = check_step(all_finite, stop, runtime, epoch, done, args.out)
            progress.step, progress.sums = done, sums.tolist()
            if stop_agreed:
                raise Stopped
    totals = rt.sum_across_ranks(sums, runtime).tolist()
    seen = steps_per_epoch * batch * runtime.world_size
    return totals[0] / seen, totals[1] / seen


def check_step(all_finite: torch.Tensor, stop: rt.StopSignal, runtime: rt.Runtime, epoch: int, step: int, out) -> bool:
    """One read of the device, agreed by all ranks: raise on a non-finite loss; is a stop asked for?"""
    flags = torch.stack([~all_finite, torch.tensor(stop.requested, device=all_finite.device)]).float()
    non_finite, stop_requested = rt.max_across_ranks(flags, runtime).tolist()
    if non_finite:
        raise FloatingPointError(
            f"the loss became non-finite in epoch {epoch + 1} (by step {step}); lower --lr. "
            f"The last good checkpoint and saved state in {out} are kept."
        )
    return bool(stop_requested)


def evaluate(model: torch.nn.Module, val: DeviceSplit, preprocess: Preprocess, runtime: rt.Runtime) -> dict:
    """Loss and metrics of ``model`` on the validation split (sharded across ranks, summed)."""
    images = val.images[runtime.rank :: runtime.world_size]
    labels = val.labels[runtime.rank :: runtime.world_size]
    model.eval()
    probs = class_probabilities(contiguous_copy(model), images, preprocess).to(runtime.device)
    nll = F.nll_loss(probs.clamp_min(1e-12).log(), labels, reduction="sum")
    matrix = torch.from_numpy(confusion_matrix(labels.cpu(), probs.argmax(1).cpu(), NUM_CLASSES)).to(runtime.device)
    totals = rt.sum_across_ranks(torch.cat([matrix.flatten().double(), nll.double().view(1)]), runtime)
    matrix = totals[:-1].long().view(NUM_CLASSES, NUM_CLASSES).cpu().numpy()
    summary = summarize(matrix, CLASS_NAMES)
    summary["loss"] = totals[-1].item() / max(summary["count"], 1)
    return summary


def rounded_per_class(per_class: dict) -> dict:
    return {name: {k: round(v[k], 4) for k in ("precision", "recall", "f1")} for name, v in per_class.items()}


def freeze_backbone(model: torch.nn.Module, frozen: bool) -> None:
    """Train only the classifier (first --freeze-epochs epochs of a fine-tune)."""
    head = {id(p) for p in model.get_classifier().parameters()}
    for param in model.parameters():
        param.requires_grad_(not frozen or id(param) in head)


def teacher_info(args: argparse.Namespace, stored: soft_targets.StoredTargets | None) -> dict:
    """What the model card says about distillation: the teachers, run live or stored."""
    if stored is not None:
        teachers, source = stored.teachers, {"soft_targets": args.soft_targets}
    elif args.teacher:
        teachers, source = list(args.teacher), {}
    else:
        return {}
    return {"teachers": teachers, **source, "kd_alpha": args.kd_alpha, "kd_temperature": args.kd_temperature}


def _device_ids(runtime: rt.Runtime) -> list[int] | None:
    return [runtime.device.index] if runtime.device.type == "cuda" else None


def cli(argv: list[str] | None = None) -> int:
    """The command line: a user's mistake is one line on stderr and exit status 1, no traceback."""
    try:
        main(argv)
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        return exc.code or 0
    return 0


if __name__ == "__main__":
    sys.exit(cli())
