"""Train a facial-expression classifier on FER2013 (or any data in its layout).

    python -m train.train --data ../shared/data/fer2013.zip --model fernet_s --epochs 30 --out runs/exp1
    torchrun --nproc_per_node=2 -m train.train --data ... --out runs/ddp      # same script, DDP

The whole split sits on the training device as uint8; each step indexes a batch out of
it and augments it with batched tensor ops (``fer.transforms.Augment``), so there is no
DataLoader in the hot loop. Every epoch is evaluated on the validation split; the best
epoch (by validation accuracy) is saved in timm's Hub format in ``--out``, and the full
training state in ``--out/last/`` so that ``--resume`` continues an interrupted run
exactly where its last finished epoch left it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from timm.data import Mixup
from timm.loss import SoftTargetCrossEntropy
from timm.optim import create_optimizer_v2
from timm.scheduler import create_scheduler_v2
from timm.utils import ModelEmaV3
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from fer.checkpoint import save_checkpoint
from fer.data import load_split, subsample
from fer.hub import HubError, check_repo_id, push_checkpoint
from fer.inference import class_probabilities
from fer.labels import CLASS_NAMES, NUM_CLASSES
from fer.metrics import classification_report, confusion_matrix, summarize
from fer.model_card import write_model_card
from fer.models import create_model, parameter_count
from fer.plots import plot_confusion, plot_curves
from fer.predict import load_model
from fer.state_io import load_state, save_state
from fer.transforms import Augment, AugmentConfig, Preprocess
from train import distributed

ARGS_FILE = "train_args.json"
METRICS_FILE = "metrics.jsonl"
LAST_DIR = "last"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder, .zip (Kaggle layout) or fer2013.csv")
    p.add_argument("--model", default="fernet_s", help="any timm architecture, or fernet_t/s/m (default: %(default)s)")
    p.add_argument("--out", required=True, help="run folder: checkpoint, metrics, plots")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128, help="per process")
    p.add_argument("--optimizer", default="adamw", choices=["adam", "adamw", "sgd", "nesterov"])
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--momentum", type=float, default=0.9, help="for sgd/nesterov")
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--sched", default="cosine", choices=["cosine", "step", "plateau", "none"])
    p.add_argument("--warmup-epochs", type=float, default=2, help="linear warm-up (cosine, step)")
    p.add_argument("--decay-epochs", type=float, default=10, help="step: decay every N epochs")
    p.add_argument("--decay-rate", type=float, default=0.1, help="step/plateau: LR multiplier")
    p.add_argument("--patience", type=int, default=5, help="plateau: epochs without improvement")
    p.add_argument("--min-lr", type=float, default=1e-6)
    p.add_argument("--label-smoothing", type=float, default=0.1)
    p.add_argument("--mixup", type=float, default=0.0, help="mixup alpha (0 = off)")
    p.add_argument("--cutmix", type=float, default=0.0, help="cutmix alpha (0 = off)")
    p.add_argument("--ema", action="store_true", help="keep an EMA of the weights and evaluate/save it")
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--aug", type=float, default=1.0, help="augmentation strength: 0 none, 1 default, 2 strong")
    p.add_argument("--drop", type=float, default=None, help="classifier dropout (model default if unset)")
    p.add_argument("--img-size", type=int, default=48, help="model input size; faces are 48x48 and resized")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-subset", type=int, default=0, help="train on a stratified subset of N images")
    p.add_argument("--val-subset", type=int, default=0, help="validate on a stratified subset of N images")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (GPU)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last epoch")
    p.add_argument("--init", default=None, help="start from a checkpoint: folder or Hub id (keeps its preprocessing)")
    p.add_argument("--freeze-epochs", type=int, default=0, help="with --init: train only the head for N epochs")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="push the best checkpoint to this Hub repo")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


# Flags that may differ when resuming: where the data lives and how the run is shown.
RESUMABLE_CHANGES = {"data", "device", "no_progress", "resume", "push_to_hub", "private"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line flags; with --resume, the run's saved flags are used.

    The optimiser and schedule are restored from the saved state, so a changed --lr or
    --epochs could not take effect: it is refused with a message rather than ignored.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    saved_path = Path(args.out) / ARGS_FILE
    if args.resume and saved_path.is_file():
        explicit = vars(_explicit_flags(parser, argv))
        saved = json.loads(saved_path.read_text())
        changed = sorted(
            f"--{k.replace('_', '-')}" for k, v in explicit.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v
        )
        if changed:
            parser.error(f"cannot change {', '.join(changed)} when resuming {args.out}; start a new --out instead")
        args = argparse.Namespace(**{**vars(args), **saved, **explicit, "resume": True})
    return args


def _explicit_flags(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Only the flags the user actually typed (defaults suppressed)."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, argparse._StoreTrueAction):
                quiet.add_argument(*action.option_strings, action="store_true", **kwargs)
            else:
                quiet.add_argument(*action.option_strings, type=action.type, **kwargs)
    return quiet.parse_known_args(argv)[0]


class Trainer:
    """One training run: data on the device, model, optimiser, schedule, EMA, outputs."""

    def __init__(self, args: argparse.Namespace, runtime: distributed.Runtime):
        self.args, self.runtime, self.device = args, runtime, runtime.device
        self.out = Path(args.out)
        self.log = print if runtime.is_main else (lambda *a, **k: None)
        self._load_data()
        self.preprocess = Preprocess(size=args.img_size)  # an --init checkpoint replaces it with its own
        self.new_head = False
        self._build_model()
        self.augment = Augment(self.preprocess, AugmentConfig.scaled(args.aug))
        self.start_epoch, self.best_acc, self.history = 0, -1.0, []

    # --- setup ------------------------------------------------------------------------

    def _load_data(self) -> None:
        args = self.args
        progress = self.runtime.is_main and not args.no_progress
        train = load_split(args.data, "train", progress=progress)
        val = load_split(args.data, "validation", progress=progress)
        if args.train_subset:
            train = subsample(train, args.train_subset, seed=args.seed)
        if args.val_subset:
            val = subsample(val, args.val_subset, seed=args.seed)
        if len(train) < args.batch_size * self.runtime.world_size:
            raise SystemExit(f"error: {len(train)} training images is fewer than one batch; lower --batch-size")
        self.log(train.summary())
        self.log(val.summary())
        self.train_images = torch.from_numpy(train.images).to(self.device)
        self.train_labels = torch.from_numpy(train.labels).to(self.device)
        self.val_images = torch.from_numpy(val.images).to(self.device)
        self.val_labels = torch.from_numpy(val.labels).to(self.device)

    def _build_model(self) -> None:
        args, device = self.args, self.device
        torch.manual_seed(args.seed)  # identical initial weights on every rank
        if args.init:
            self.model = self._initial_model(args.init).to(device)
        else:
            extra = {} if args.drop is None else {"drop_rate": args.drop}
            self.model = create_model(args.model, **extra).to(device)
        if device.type == "cuda":
            self.model = self.model.to(memory_format=torch.channels_last)
        # Warm-up keeps the average from being dragged toward the random initial weights.
        self.ema = ModelEmaV3(self.model, decay=args.ema_decay, use_warmup=True) if args.ema else None
        opt = {"nesterov": "nesterov", "sgd": "momentum"}.get(args.optimizer, args.optimizer)
        self.optimizer = create_optimizer_v2(
            self.model, opt=opt, lr=args.lr, weight_decay=args.weight_decay, momentum=args.momentum
        )
        self.steps_per_epoch = len(self.train_labels) // (args.batch_size * self.runtime.world_size)
        self.scheduler = None
        if args.sched != "none":
            self.scheduler, _ = create_scheduler_v2(
                self.optimizer,
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
                updates_per_epoch=self.steps_per_epoch,
            )
        self.mixup = None
        if args.mixup > 0 or args.cutmix > 0:
            self.mixup = Mixup(
                mixup_alpha=args.mixup,
                cutmix_alpha=args.cutmix,
                label_smoothing=args.label_smoothing,
                num_classes=NUM_CLASSES,
            )
        self.train_model = self.model
        if args.compile:
            self.train_model = torch.compile(self.train_model)
        if self.runtime.distributed:
            self.train_model = DistributedDataParallel(
                self.train_model, device_ids=[device.index] if device.type == "cuda" else None
            )
        torch.manual_seed(args.seed + 1000 * self.runtime.rank)  # different augmentation per rank

    def _initial_model(self, reference: str) -> torch.nn.Module:
        """The --init checkpoint's model, keeping its preprocessing; a new head if its classes differ."""
        loaded = load_model(reference)
        self.preprocess = loaded.preprocess
        self.args.model = loaded.architecture
        self.new_head = list(loaded.label_names) != list(CLASS_NAMES)
        if self.new_head:
            self.log(f"--init {reference}: classes {loaded.label_names} differ from ours; making a new head")
            loaded.model.reset_classifier(NUM_CLASSES)
        return loaded.model

    def _freeze_backbone(self, frozen: bool) -> None:
        """Train only the classifier (first --freeze-epochs epochs of a fine-tune)."""
        head = {id(p) for p in self.model.get_classifier().parameters()}
        for param in self.model.parameters():
            param.requires_grad_(not frozen or id(param) in head)

    @property
    def eval_model(self) -> torch.nn.Module:
        return self.ema.module if self.ema is not None else self.model

    # --- state ------------------------------------------------------------------------

    def state(self, epoch: int) -> dict:
        state = {
            "epoch": epoch,
            "best_acc": self.best_acc,
            "history": self.history,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler else {},
            "ema": self.ema.module.state_dict() if self.ema else {},
            "rng": torch.get_rng_state(),
        }
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def resume(self) -> None:
        """Restore the state saved after the last finished epoch, and its metric log."""
        state = load_state(self.out / LAST_DIR)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.ema:
            self.ema.module.load_state_dict(state["ema"])
        # Each rank had its own augmentation stream; the saved one is rank 0's, so
        # offset it per rank the same way the seed was.
        torch.set_rng_state(state["rng"])
        if self.runtime.rank:
            torch.manual_seed(int(torch.randint(0, 2**31, (1,)).item()) + self.runtime.rank)
        if "cuda_rng" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda_rng"], self.device)
        self.start_epoch = state["epoch"] + 1
        self.best_acc = state["best_acc"]
        self.history = state["history"]
        if self.runtime.is_main:
            self._write_metrics_log()
        self.log(f"resumed {self.out} after epoch {state['epoch'] + 1}; best validation accuracy {self.best_acc:.4f}")

    def _write_metrics_log(self) -> None:
        text = "".join(json.dumps(record) + "\n" for record in self.history)
        (self.out / METRICS_FILE).write_text(text)

    # --- the loop ---------------------------------------------------------------------

    def fit(self) -> dict:
        args = self.args
        if self.start_epoch >= args.epochs:
            self.log(f"nothing to do: the run already finished {self.start_epoch} of {args.epochs} epochs")
        for epoch in range(self.start_epoch, args.epochs):
            if args.freeze_epochs:
                self._freeze_backbone(epoch < args.freeze_epochs)
            started = time.perf_counter()
            train_loss, train_acc = self.train_epoch(epoch)
            train_time = time.perf_counter() - started
            val = self.validate()
            if self.scheduler:
                self.scheduler.step(epoch + 1, metric=val["accuracy"])
            record = {
                "epoch": epoch + 1,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val["loss"],
                "val_acc": val["accuracy"],
                "val_macro_f1": val["macro_f1"],
                "per_class": {
                    n: {k: round(v[k], 4) for k in ("precision", "recall", "f1")} for n, v in val["per_class"].items()
                },
                "lr": self.optimizer.param_groups[0]["lr"],
                "epoch_time": time.perf_counter() - started,
                "train_images_per_s": self.steps_per_epoch * args.batch_size * self.runtime.world_size / train_time,
            }
            self.history.append(record)
            improved = val["accuracy"] > self.best_acc
            if self.runtime.is_main:
                if improved:
                    self.best_acc = val["accuracy"]
                    self._save_best(val)
                save_state(self.state(epoch), self.out / LAST_DIR)  # the commit point of an epoch
                with (self.out / METRICS_FILE).open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
            else:
                self.best_acc = max(self.best_acc, val["accuracy"])
            self.log(
                f"epoch {epoch + 1}/{args.epochs}  train loss {train_loss:.4f} acc {train_acc:.4f}  "
                f"val loss {val['loss']:.4f} acc {val['accuracy']:.4f} macro-F1 {val['macro_f1']:.4f}  "
                f"lr {record['lr']:.2e}  {record['epoch_time']:.1f}s{'  *best*' if improved else ''}"
            )
        if self.runtime.is_main and self.history:
            self._write_reports()
        return {"best_val_acc": self.best_acc, "epochs": len(self.history)}

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        args, runtime = self.args, self.runtime
        self.train_model.train()
        # The permutation depends only on (seed, epoch): the same on every rank, each of
        # which takes its own interleaved shard, and the same again after a resume.
        order = torch.randperm(
            len(self.train_labels), generator=torch.Generator().manual_seed(args.seed * 10_007 + epoch)
        )
        shard = order[runtime.rank :: runtime.world_size][: self.steps_per_epoch * args.batch_size].to(self.device)
        criterion_hard = torch.nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
        criterion_soft = SoftTargetCrossEntropy()
        use_bf16 = self.device.type == "cuda"
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        bar = tqdm(
            range(self.steps_per_epoch),
            desc=f"epoch {epoch + 1}/{args.epochs}",
            disable=not runtime.is_main or args.no_progress,
            leave=False,
            unit="batch",
        )
        for step in bar:
            idx = shard[step * args.batch_size : (step + 1) * args.batch_size]
            x, y = self.augment(self.train_images[idx]), self.train_labels[idx]
            if use_bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            target = y
            if self.mixup is not None:
                x, target = self.mixup(x, y)
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = self.train_model(x)
                loss = criterion_soft(logits, target) if self.mixup is not None else criterion_hard(logits, target)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {step}; lower --lr. "
                    f"The last good checkpoint in {self.out} is kept."
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            global_step = epoch * self.steps_per_epoch + step + 1
            if self.scheduler:
                self.scheduler.step_update(global_step)
            if self.ema is not None:
                self.ema.update(self.model, step=global_step)
            loss_sum += loss.detach().float() * len(y)
            correct += (logits.argmax(1) == y).sum()
            if step % 20 == 0 and runtime.is_main and not args.no_progress:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        totals = distributed.sum_across_ranks(torch.stack([loss_sum, correct.float()]), runtime)
        seen = self.steps_per_epoch * args.batch_size * runtime.world_size
        return totals[0].item() / seen, totals[1].item() / seen

    def validate(self) -> dict:
        """Loss and metrics of the evaluated model (EMA if enabled) on the validation split."""
        runtime = self.runtime
        images = self.val_images[runtime.rank :: runtime.world_size]
        labels = self.val_labels[runtime.rank :: runtime.world_size]
        self.eval_model.eval()
        probs = class_probabilities(self.eval_model, images, self.preprocess).to(self.device)
        nll = F.nll_loss(probs.clamp_min(1e-12).log(), labels, reduction="sum")
        matrix = torch.from_numpy(confusion_matrix(labels.cpu(), probs.argmax(1).cpu(), NUM_CLASSES)).to(self.device)
        totals = distributed.sum_across_ranks(torch.cat([matrix.flatten().double(), nll.double().view(1)]), runtime)
        matrix = totals[:-1].long().view(NUM_CLASSES, NUM_CLASSES).cpu().numpy()
        summary = summarize(matrix, CLASS_NAMES)
        summary["loss"] = totals[-1].item() / max(summary["count"], 1)
        return summary

    # --- outputs ----------------------------------------------------------------------

    def _save_best(self, val: dict) -> None:
        save_checkpoint(self.eval_model, self.out, list(CLASS_NAMES), self.preprocess)
        best = {
            "split": "validation",
            "epoch": len(self.history),
            "architecture": self.args.model,
            "parameters": parameter_count(self.eval_model),
            "new_head": self.new_head,
            **val,
        }
        (self.out / "metrics.json").write_text(json.dumps(best, indent=2))

    def _write_reports(self) -> None:
        best = json.loads((self.out / "metrics.json").read_text())
        plot_curves(self.history, self.out / "curves.png")
        plot_confusion(
            np.array(best["confusion_matrix"]),
            CLASS_NAMES,
            self.out / "confusion.png",
            title=f"validation, epoch {best['epoch']}: accuracy {best['accuracy']:.4f}",
        )
        (self.out / "classification_report.txt").write_text(classification_report(best))
        write_model_card(self.out, repo_id=self.args.push_to_hub)


def prepare_out_dir(args: argparse.Namespace, runtime: distributed.Runtime) -> None:
    """Refuse to overwrite a finished run by accident; record the run's flags."""
    out = Path(args.out)
    has_state = (out / LAST_DIR / "state.json").is_file()
    if args.resume and not has_state:
        raise SystemExit(f"error: --resume given but {out} has no {LAST_DIR}/state.json to resume from")
    if not args.resume and (has_state or (out / "config.json").exists()):
        raise SystemExit(f"error: {out} already holds a run; pass --resume to continue it or choose a new --out")
    if runtime.is_main:
        out.mkdir(parents=True, exist_ok=True)
        saved = {k: v for k, v in vars(args).items() if k not in ("resume", "no_progress")}
        (out / ARGS_FILE).write_text(json.dumps(saved, indent=2))


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.push_to_hub:
        check_repo_id(args.push_to_hub)  # fail before training, not after
    if args.freeze_epochs and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise SystemExit("error: --freeze-epochs is not supported under torchrun (DDP needs every parameter trained)")
    if (args.mixup > 0 or args.cutmix > 0) and args.batch_size % 2:
        raise SystemExit("error: mixup/cutmix need an even --batch-size")
    runtime = distributed.setup(args.device)
    try:
        prepare_out_dir(args, runtime)
        trainer = Trainer(args, runtime)
        if args.resume:
            trainer.resume()
        trainer.log(
            f"{args.model}: {parameter_count(trainer.model) / 1e6:.2f}M parameters on {runtime.device}"
            f"{f' x{runtime.world_size} ranks' if runtime.distributed else ''}, "
            f"{trainer.steps_per_epoch} steps/epoch"
        )
        result = trainer.fit()
        trainer.log(f"best validation accuracy {result['best_val_acc']:.4f}; checkpoint in {args.out}")
        if args.push_to_hub and runtime.is_main:
            url = push_checkpoint(args.out, args.push_to_hub, private=args.private)
            trainer.log(f"pushed to {url}")
        return result
    finally:
        distributed.teardown(runtime)


if __name__ == "__main__":
    try:
        main()
    except (FileNotFoundError, ValueError, FloatingPointError, HubError) as exc:
        sys.exit(f"error: {exc}")
