"""The trainer's command line: flags, their one-sentence checks, and what --resume may change."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fer.utils.device import PRECISIONS

ARGS_FILE = "train_args.json"
# Flags that may differ when resuming: where the data and the run's folder now live (a run
# comes back from another machine), how the run is shown and saved, and where it is
# published. Everything else is baked into the saved optimiser, schedule and weights, so a
# change could not take effect and is refused.
RESUMABLE_CHANGES = {
    "data", "out", "device", "no_progress", "resume",
    "push_to_hub", "private", "save_every", "compile",
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m train.train", description="Train a facial-expression classifier.")
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
    p.add_argument("--ema-decay", type=float, default=0.999, help="per EMA update")
    p.add_argument("--ema-every", type=int, default=1, help="update the EMA every K steps")
    p.add_argument("--aug", type=float, default=1.0, help="augmentation strength: 0 none, 1 default, 2 strong")
    p.add_argument("--drop", type=float, default=None, help="classifier dropout (model default if unset)")
    p.add_argument("--img-size", type=int, default=48, help="model input size; faces are 48x48 and resized")
    p.add_argument("--pretrained", action="store_true", help="start from timm's ImageNet weights (needs the Hub)")
    p.add_argument("--teacher", nargs="+", default=None, metavar="CKPT", help="distil from these (averaged)")
    p.add_argument(
        "--soft-targets",
        default=None,
        metavar="NPZ",
        help="distil from teacher predictions stored by python -m train.soft_targets (instead of --teacher)",
    )
    p.add_argument("--kd-alpha", type=float, default=0.5, help="weight of the distillation loss")
    p.add_argument("--kd-temperature", type=float, default=4.0, help="softmax temperature for distillation")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-subset", type=int, default=0, help="train on a stratified subset of N images")
    p.add_argument("--val-subset", type=int, default=0, help="validate on a stratified subset of N images")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", default="auto", choices=PRECISIONS, help="auto: bf16, else fp16 on GPUs; fp32 on CPU")
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="NHWC memory format (default: on; the faster layout measured on GPUs and CPUs)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model (falls back to eager if it fails)")
    p.add_argument("--save-every", type=int, default=5, help="write the resume state every N epochs (and at the end)")
    p.add_argument("--check-every", type=int, default=50, help="check the loss is finite every N steps")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last saved state")
    p.add_argument("--init", default=None, help="start from a checkpoint: folder or Hub id (keeps its preprocessing)")
    p.add_argument("--freeze-epochs", type=int, default=0, help="with --init: train only the head for N epochs")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="push the best checkpoint to this Hub repo")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repo private")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
    return p


def check_args(args: argparse.Namespace, world_size: int = 1) -> None:
    """Refuse flags that cannot work, in one sentence each, before any data is read."""
    positive = {
        "epochs": args.epochs,
        "batch-size": args.batch_size,
        "lr": args.lr,
        "ema-every": args.ema_every,
        "save-every": args.save_every,
        "check-every": args.check_every,
        "img-size": args.img_size,
        "kd-temperature": args.kd_temperature,
    }
    for flag, value in positive.items():
        if not value > 0:
            raise SystemExit(f"error: --{flag} must be positive (got {value})")
    non_negative = {
        "aug": args.aug,
        "mixup": args.mixup,
        "cutmix": args.cutmix,
        "weight-decay": args.weight_decay,
        "warmup-epochs": args.warmup_epochs,
        "freeze-epochs": args.freeze_epochs,
        "train-subset": args.train_subset,
        "val-subset": args.val_subset,
    }
    for flag, value in non_negative.items():
        if value < 0:
            raise SystemExit(f"error: --{flag} must be zero or more (got {value})")
    if not 0 <= args.label_smoothing < 1:
        raise SystemExit(f"error: --label-smoothing must be in [0, 1) (got {args.label_smoothing})")
    if not 0 < args.ema_decay < 1:
        raise SystemExit(f"error: --ema-decay must be between 0 and 1 (got {args.ema_decay})")
    if not 0 <= args.kd_alpha <= 1:
        raise SystemExit(f"error: --kd-alpha must be between 0 and 1 (got {args.kd_alpha})")
    if args.drop is not None and not 0 <= args.drop < 1:
        raise SystemExit(f"error: --drop must be in [0, 1) (got {args.drop})")
    if (args.mixup > 0 or args.cutmix > 0) and args.batch_size % 2:
        raise SystemExit("error: mixup/cutmix need an even --batch-size")
    if args.teacher and args.soft_targets:
        raise SystemExit("error: --teacher and --soft-targets are two sources of the same targets; pass one of them")
    if args.soft_targets and (args.mixup > 0 or args.cutmix > 0):
        raise SystemExit("error: --soft-targets hold one target per face, so they cannot follow mixup/cutmix's blends")
    if args.pretrained and args.init:
        raise SystemExit("error: --pretrained and --init both choose the starting weights; pass one of them")
    if args.freeze_epochs and world_size > 1:
        raise SystemExit("error: --freeze-epochs is not supported under torchrun (DDP needs every parameter trained)")


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
        saved = {**vars(parser.parse_args(["--data", "", "--out", ""])), **saved_flags(saved_path)}
        changed = sorted(
            f"--{k.replace('_', '-')}" for k, v in explicit.items() if k not in RESUMABLE_CHANGES and saved.get(k) != v
        )
        if changed:
            flags = ", ".join(changed)
            raise SystemExit(f"error: cannot change {flags} when resuming {args.out}; start a new --out instead")
        args = argparse.Namespace(**{**saved, **explicit, "resume": True})
    return args


def saved_flags(path: Path) -> dict:
    """The flags a run saved at its start; one sentence if the file is damaged (a copy cut short, an edit)."""
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = None
    if not isinstance(saved, dict):
        raise SystemExit(f"error: {cannot_resume(path.parent, f'its {path.name} is damaged')}")
    return saved


def cannot_resume(run: Path, why: str) -> str:
    """The sentence for a run that cannot go on: why, and that its best checkpoint can start another."""
    return f"{run} cannot be resumed: {why}; start a new --out (--init {run} begins it from this run's best checkpoint)"


def save_args(args: argparse.Namespace, out: Path) -> None:
    saved = {k: v for k, v in vars(args).items() if k not in ("resume", "no_progress")}
    (out / ARGS_FILE).write_text(json.dumps(saved, indent=2))


def _explicit_flags(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Only the flags the user actually typed (defaults suppressed)."""
    quiet = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, (argparse._StoreTrueAction, argparse.BooleanOptionalAction)):
                quiet.add_argument(*action.option_strings, action=type(action), **kwargs)
            else:
                quiet.add_argument(*action.option_strings, type=action.type, nargs=action.nargs, **kwargs)
    return quiet.parse_known_args(argv)[0]
