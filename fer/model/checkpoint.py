"""Checkpoints in timm's Hub format: ``config.json`` + ``model.safetensors``.

A training run's folder, ``checkpoints/<name>/`` and a Hub repo all hold the same two
files, so one loader serves all three, and plain timm can read them too
(``timm.create_model("local-dir:<folder>", pretrained=True)`` after ``import fer.model.networks``).
Only safetensors weights are ever read: a folder holding nothing but a pickle
(``pytorch_model.bin``) is refused rather than unpickled.
"""

from __future__ import annotations

import inspect
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import timm
import torch
from safetensors.torch import load_file, save_file
from timm.models._hub import save_config_for_hf
from torch import nn

from fer.model.checkpoint_files import MAX_WEIGHTS_BYTES, checked_file, read_weights_header
from fer.model.checkpoint_info import (  # noqa: F401  (CheckpointError and the file names are part of this API)
    CONFIG_FILE,
    WEIGHTS_FILE,
    CheckpointError,
    CheckpointInfo,
    read_checkpoint_info,
)
from fer.model.preprocess import Preprocess
from fer.utils.atomic import commit_file


@dataclass
class LoadedModel(CheckpointInfo):
    """A checkpoint's torch model, ready for inference, with what it needs to be fed and read."""

    model: nn.Module = field(repr=False, kw_only=True)


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
        write_config(model, staging / CONFIG_FILE, label_names, preprocess)
        for name in (WEIGHTS_FILE, CONFIG_FILE):
            commit_file(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_config(model: nn.Module, path: Path, label_names: list[str], preprocess: Preprocess) -> None:
    """timm's ``config.json`` for ``model``, with this preprocessing as its data config.

    timm releases before ``save_config_for_hf(data_config=...)`` (such as the one on the
    lent GPU machines) write the config without it; the same fields are then filled in
    here, so a checkpoint trained there loads the same as one trained with a newer timm.
    """
    model_config = {"label_names": list(label_names)}
    if "data_config" in inspect.signature(save_config_for_hf).parameters:
        save_config_for_hf(model, path, model_config=model_config, data_config=preprocess.data_config())
        return
    save_config_for_hf(model, path, model_config=model_config)
    config = json.loads(path.read_text())
    data_config, pretrained_cfg = preprocess.data_config(), config["pretrained_cfg"]
    for stale in ("test_input_size", "test_pool_size", "test_crop_pct"):  # the source's, not this export's
        pretrained_cfg.pop(stale, None)
    if list(pretrained_cfg["input_size"][1:]) != list(data_config["input_size"][1:]):
        pretrained_cfg["pool_size"] = None
    pretrained_cfg.update(data_config)
    config.setdefault("model_args", {"in_chans": data_config["input_size"][0], "num_classes": model.num_classes})
    path.write_text(json.dumps(config, indent=2))


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Build the model described by ``folder``'s config and load its safetensors weights."""
    import fer.model.networks  # noqa: F401  (registers custom architectures before timm looks them up)

    info = read_checkpoint_info(folder)
    folder, config = info.folder, info.config
    weights = checked_file(folder, WEIGHTS_FILE, MAX_WEIGHTS_BYTES)
    if weights is None:
        pickles = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt*"))
        extra = f" (found {', '.join(pickles)}: pickled weights are never loaded)" if pickles else ""
        raise CheckpointError(f"{info.name} has no {WEIGHTS_FILE}{extra}")
    if not timm.is_model(config["architecture"]):
        raise CheckpointError(f"unknown architecture {config['architecture']!r} for this timm version")
    model_args = {**config.get("model_args", {}), "num_classes": config["num_classes"]}
    model = timm.create_model(config["architecture"], pretrained=False, **model_args)
    check_weights_header(weights, model.state_dict(), config["architecture"])
    try:
        model.load_state_dict(load_file(weights, device="cpu"))
    except (RuntimeError, OSError) as exc:
        raise CheckpointError(f"{WEIGHTS_FILE} does not match {config['architecture']}: {exc}") from exc
    model.pretrained_cfg = {**getattr(model, "pretrained_cfg", {}), **config["pretrained_cfg"]}
    model.to(device).eval()
    return LoadedModel(**vars(info), model=model)


def check_weights_header(weights: Path, expected: dict[str, torch.Tensor], architecture: str) -> None:
    """The safetensors header (tensor names and shapes) against the model the config builds, before
    any tensor is read: a file made for another model, or cut short, is refused in one sentence."""
    header = read_weights_header(weights)
    if set(header) != set(expected):
        raise CheckpointError(f"{WEIGHTS_FILE} does not match {architecture}: it holds other tensors")
    for name, entry in header.items():
        if entry.get("shape") != list(expected[name].shape):
            mismatch = f"tensor {name[:60]!r} has another shape"
            raise CheckpointError(f"{WEIGHTS_FILE} does not match {architecture}: {mismatch}")
