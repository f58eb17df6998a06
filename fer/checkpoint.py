"""Checkpoints in timm's Hub format: ``config.json`` + ``model.safetensors``.

A training run's folder, ``checkpoints/<name>/`` and a Hub repo all hold the same two
files, so one loader serves all three, and plain timm can read them too
(``timm.create_model("local-dir:<folder>", pretrained=True)`` after ``import fer``).
Only safetensors weights are ever read: a folder holding nothing but a pickle
(``pytorch_model.bin``) is refused rather than unpickled.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from timm.models._hub import save_config_for_hf
from torch import nn

from fer.atomic import commit_file
from fer.transforms import Preprocess

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


# The only ``model_args`` a checkpoint may pass to ``timm.create_model``, with plain values.
# Others are refused: ``checkpoint_path`` or ``pretrained_cfg_overlay`` would make timm read
# a file named by whoever wrote the config, outside the checkpoint.
ALLOWED_MODEL_ARGS = frozenset({"in_chans", "num_classes", "drop_rate", "drop_path_rate", "global_pool"})


class CheckpointError(ValueError):
    """A folder or repo that is not a usable FER checkpoint; the message says why."""


@dataclass
class LoadedModel:
    """A model ready for inference, with what it needs to be fed and read correctly."""

    model: nn.Module
    label_names: list[str]
    preprocess: Preprocess
    config: dict
    folder: Path  # where config.json and the weights were read from

    def metrics(self) -> dict:
        """The validation metrics saved beside the weights (empty if there are none)."""
        path = self.folder / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def architecture(self) -> str:
        return self.config["architecture"]


def save_checkpoint(model: nn.Module, folder: str | Path, label_names: list[str], preprocess: Preprocess) -> None:
    """Write ``model`` into ``folder`` in Hub format, never leaving a half-written file.

    The layout is timm's ``save_for_hf``; the weights are written here, made contiguous
    first, because safetensors refuses the strided tensors of a ``channels_last`` model.
    Both files are staged beside ``folder`` and renamed into place, weights first; the
    config of a run does not change between epochs, so a kill between the two renames
    still leaves a consistent pair.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
    try:
        weights = {name: tensor.detach().contiguous() for name, tensor in model.state_dict().items()}
        save_file(weights, staging / WEIGHTS_FILE)
        save_config_for_hf(
            model,
            staging / CONFIG_FILE,
            model_config={"label_names": list(label_names)},
            data_config=preprocess.data_config(),
        )
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            commit_file(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


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


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the model described by ``folder``'s config and load its safetensors weights."""
    import fer  # noqa: F401  (registers custom architectures before timm looks them up)

    folder = Path(folder)
    config = read_config(folder)
    weights = folder / WEIGHTS_FILE
    if not weights.is_file():
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
        extra = f" (found {', '.join(pickles)}: pickled weights are never loaded)" if pickles else ""
        raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}{extra}")
    if not timm.is_model(config["architecture"]):
        raise CheckpointError(f"{folder}: unknown architecture {config['architecture']!r} for this timm version")
    model_args = {**config.get("model_args", {}), "num_classes": config["num_classes"]}
    model = timm.create_model(config["architecture"], pretrained=False, **model_args)
    try:
        model.load_state_dict(load_file(weights, device="cpu"))
    except (RuntimeError, OSError) as exc:
        raise CheckpointError(f"{weights} does not match {config['architecture']}: {exc}") from exc
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), **config["pretrained_cfg"]}
    model.to(device).eval()
    return LoadedModel(
        model=model,
        label_names=list(config["label_names"]),
        preprocess=Preprocess.from_pretrained_cfg(config["pretrained_cfg"]),
        config=config,
        folder=folder,
    )
