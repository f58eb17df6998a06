"""What a checkpoint folder promises, read without torch: labels, preprocessing, metrics.

The app serves a checkpoint that has an ONNX export with onnxruntime alone, so it must be
able to find, check and describe a checkpoint without importing torch (which alone costs
about 700 MB of memory and seconds of start-up). ``fer.model.checkpoint`` builds the torch model
from the same description when training, evaluation or Grad-CAM need it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from fer.model.checkpoint_files import CheckpointError, is_fraction, read_json, shown_name
from fer.model.preprocess import Preprocess

__all__ = ["CheckpointError", "CheckpointInfo", "read_checkpoint_info", "read_config"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
# The model shipped with the project: what the app serves when FER_MODEL is not set.
EMBEDDED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "fernet_s"

# The only ``model_args`` a checkpoint may pass to ``timm.create_model``, with plain values.
# Others are refused: ``checkpoint_path`` or ``pretrained_cfg_overlay`` would make timm read
# a file named by whoever wrote the config, outside the checkpoint.
ALLOWED_MODEL_ARGS = frozenset({"in_chans", "num_classes", "drop_rate", "drop_path_rate", "global_pool"})
# What a FER checkpoint's values may be: names that are plain identifiers (they reach the page),
# a handful of classes, gray or colour input, and square inputs near FER2013's 48 px (a stock
# timm backbone may be trained larger), so a checkpoint cannot choose each request's cost.
LABEL_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")
ARCHITECTURE_PATTERN = re.compile(r"[A-Za-z0-9_.]{1,64}")
MODEL_NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,96})?")
CLASS_COUNTS = range(2, 65)
CHANNELS = (1, 3)
INPUT_SIDES = range(32, 257)


@dataclass
class CheckpointInfo:
    """A checkpoint as described by its folder: enough to feed a model and read its output."""

    label_names: list[str]
    preprocess: Preprocess
    config: dict
    folder: Path  # where config.json and the weights are
    notices: list[str] = field(default_factory=list)  # optional files left out, and why

    def metrics(self) -> dict:
        """The validation metrics saved beside the weights: empty if there are none, or if they
        are unusable (a notice then says so)."""
        try:
            return read_metrics(self.folder, self.label_names)
        except CheckpointError as exc:
            self.notice(f"This model's {METRICS_FILE} was left out: {exc}.")
            return {}

    def notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.append(text)

    @property
    def architecture(self) -> str:
        return self.config["architecture"]

    @property
    def name(self) -> str:
        """What a visitor is shown: the repo id or the folder's name, never a server path."""
        return shown_name(self.folder)


def read_config(folder: str | Path) -> dict:
    """The checkpoint's ``config.json``, checked for what a FER checkpoint must carry and for sane
    values; CheckpointError naming the field and what it must be."""
    folder = Path(folder)
    config = read_json(folder, CONFIG_FILE)
    if config is None:
        raise CheckpointError(f"{shown_name(folder)} is not a checkpoint: it has no {CONFIG_FILE}")
    if not isinstance(config, dict):
        raise CheckpointError(f"{CONFIG_FILE} must hold a JSON object")
    for key in ("architecture", "num_classes", "label_names", "pretrained_cfg"):
        if key not in config:
            raise CheckpointError(f"{CONFIG_FILE} has no {key!r}: not a FER checkpoint made by this project or timm")
    _require(_matches(ARCHITECTURE_PATTERN, config["architecture"]), "architecture", "a timm model name")
    if "model_name" in config:
        _require(_matches(MODEL_NAME_PATTERN, config["model_name"]), "model_name", "a plain name or a Hub repo id")
    _require(_is_int(config["num_classes"]) and config["num_classes"] in CLASS_COUNTS, "num_classes",
             f"a whole number from {CLASS_COUNTS.start} to {CLASS_COUNTS.stop - 1}")  # fmt: skip
    labels = config["label_names"]
    _require(isinstance(labels, list) and all(_matches(LABEL_PATTERN, name) for name in labels), "label_names",
             "a list of lower-case names (letters, digits, underscores)")  # fmt: skip
    _require(len(set(labels)) == len(labels), "label_names", "a list without repeats")
    if len(labels) != config["num_classes"]:
        raise CheckpointError(f"{CONFIG_FILE}: {len(labels)} label_names for {config['num_classes']} classes")
    model_args = config.get("model_args", {})
    _require(isinstance(model_args, dict), "model_args", "a JSON object")
    for key, value in model_args.items():
        if key not in ALLOWED_MODEL_ARGS:
            raise CheckpointError(
                f"{CONFIG_FILE}: model_args field {key!r} is not allowed (only {', '.join(sorted(ALLOWED_MODEL_ARGS))})"
            )
        if not _is_number(value) and not isinstance(value, bool) and not _matches(ARCHITECTURE_PATTERN, value):
            raise CheckpointError(f"{CONFIG_FILE}: model_args field {key!r} must be a number or a plain name")
    _check_pretrained_cfg(config["pretrained_cfg"], model_args)
    return config


def _check_pretrained_cfg(cfg: object, model_args: dict) -> None:
    _require(isinstance(cfg, dict), "pretrained_cfg", "a JSON object")
    size = cfg.get("input_size")
    _require(
        isinstance(size, list) and len(size) == 3 and all(_is_int(side) for side in size)
        and size[0] in CHANNELS and size[1] == size[2] and size[1] in INPUT_SIDES,
        "pretrained_cfg.input_size",
        f"[channels, side, side] with 1 or 3 channels and a side from {INPUT_SIDES.start} to {INPUT_SIDES.stop - 1}",
    )  # fmt: skip
    channels = size[0]
    if "in_chans" in model_args:
        _require(model_args["in_chans"] == channels, "model_args.in_chans", f"{channels}, as input_size says")
    for key, low in (("mean", -math.inf), ("std", 0.0)):
        values = cfg.get(key)
        _require(
            isinstance(values, list) and len(values) == channels
            and all(_is_number(v) and math.isfinite(v) and v > low and abs(v) < 1e3 for v in values),
            f"pretrained_cfg.{key}",
            f"{channels} finite number{'s' if channels > 1 else ''}" + (" above 0" if key == "std" else ""),
        )  # fmt: skip


def read_metrics(folder: Path, label_names: list[str]) -> dict:
    """``metrics.json``, with the fields the page shows checked: an accuracy from 0 to 1, a whole
    number of parameters, and per-class figures only for the checkpoint's own classes."""
    metrics = read_json(folder, METRICS_FILE)
    if metrics is None:
        return {}
    if not isinstance(metrics, dict):
        raise CheckpointError(f"{METRICS_FILE} must hold a JSON object")
    if "accuracy" in metrics and not is_fraction(metrics["accuracy"]):
        raise CheckpointError(f"{METRICS_FILE}: accuracy must be a number from 0 to 1")
    if "parameters" in metrics and not (_is_int(metrics["parameters"]) and metrics["parameters"] > 0):
        raise CheckpointError(f"{METRICS_FILE}: parameters must be a whole number")
    per_class = metrics.get("per_class", {})
    if not isinstance(per_class, dict) or not set(per_class) <= set(label_names):
        raise CheckpointError(f"{METRICS_FILE}: per_class must be keyed by the checkpoint's label_names")
    for figures in per_class.values():
        if not isinstance(figures, dict) or not is_fraction(figures.get("recall")):
            raise CheckpointError(f"{METRICS_FILE}: each class's recall must be a number from 0 to 1")
    return metrics


def read_checkpoint_info(folder: str | Path) -> CheckpointInfo:
    folder = Path(folder)
    config = read_config(folder)
    return CheckpointInfo(
        label_names=list(config["label_names"]),
        preprocess=Preprocess.from_pretrained_cfg(config["pretrained_cfg"]),
        config=config,
        folder=folder,
    )


def _require(ok: bool, field_name: str, what: str) -> None:
    if not ok:
        raise CheckpointError(f"{CONFIG_FILE}: {field_name} must be {what}")


def _matches(pattern: re.Pattern, value: object) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
