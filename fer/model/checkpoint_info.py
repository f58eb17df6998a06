"""What a checkpoint folder promises, read without torch: labels, preprocessing, metrics.

The app serves a checkpoint that has an ONNX export with onnxruntime alone, so it must be
able to find, check and describe a checkpoint without importing torch (which alone costs
about 700 MB of memory and seconds of start-up). ``fer.model.checkpoint`` builds the torch model
from the same description when training, evaluation or Grad-CAM need it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from fer.model.preprocess import Preprocess

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# The model shipped with the project: what the app serves when FER_MODEL is not set.
EMBEDDED_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "fernet_s"

# The only ``model_args`` a checkpoint may pass to ``timm.create_model``, with plain values.
# Others are refused: ``checkpoint_path`` or ``pretrained_cfg_overlay`` would make timm read
# a file named by whoever wrote the config, outside the checkpoint.
ALLOWED_MODEL_ARGS = frozenset({"in_chans", "num_classes", "drop_rate", "drop_path_rate", "global_pool"})


class CheckpointError(ValueError):
    """A folder or repo that is not a usable FER checkpoint; the message says why."""


@dataclass
class CheckpointInfo:
    """A checkpoint as described by its folder: enough to feed a model and read its output."""

    label_names: list[str]
    preprocess: Preprocess
    config: dict
    folder: Path  # where config.json and the weights are

    def metrics(self) -> dict:
        """The validation metrics saved beside the weights (empty if there are none)."""
        path = self.folder / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def architecture(self) -> str:
        return self.config["architecture"]


def read_config(folder: str | Path) -> dict:
    """The checkpoint's ``config.json``, checked for what a FER checkpoint must carry."""
    folder = Path(folder)
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(f"{folder} is not a checkpoint: it has no {CONFIG_FILE}")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{config_path} is not valid JSON ({exc})") from exc
    for key in ("architecture", "num_classes", "label_names", "pretrained_cfg"):
        if key not in config:
            raise CheckpointError(f"{config_path} has no {key!r}: not a FER checkpoint made by this project or timm")
    for key, value in config.get("model_args", {}).items():
        if key not in ALLOWED_MODEL_ARGS:
            raise CheckpointError(
                f"{config_path}: model_args field {key!r} is not allowed (only {', '.join(sorted(ALLOWED_MODEL_ARGS))})"
            )
        if not isinstance(value, (bool, int, float)) and not (isinstance(value, str) and value.isidentifier()):
            raise CheckpointError(f"{config_path}: model_args field {key!r} must be a number or a plain name")
    if len(config["label_names"]) != config["num_classes"]:
        raise CheckpointError(
            f"{config_path}: {len(config['label_names'])} label_names for {config['num_classes']} classes"
        )
    return config


def read_checkpoint_info(folder: str | Path) -> CheckpointInfo:
    folder = Path(folder)
    config = read_config(folder)
    return CheckpointInfo(
        label_names=list(config["label_names"]),
        preprocess=Preprocess.from_pretrained_cfg(config["pretrained_cfg"]),
        config=config,
        folder=folder,
    )
