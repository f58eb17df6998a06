"""Save and load nested training state (optimizer, scheduler, EMA, RNG) without pickle.

``torch.save`` would pickle; a resume file is something a user may copy between
machines, so it is stored as ``state.safetensors`` (every tensor, under its path in the
nested structure) plus ``state.json`` (everything else, with tensors replaced by
``{"__tensor__": path}``). Both are written to temporary names and renamed into place,
so a kill at any moment leaves the previous state intact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from fer.utils.atomic import atomic_write

TENSOR_KEY = "__tensor__"
TUPLE_KEY = "__tuple__"


def _split(obj: Any, path: str, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {TENSOR_KEY: path}
    if isinstance(obj, dict):
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError(f"state at {path or '<root>'} has keys that are not str/int")
        # JSON keys are strings; remember which were ints (optimizer state is keyed by int).
        return {"__dict__": [[k, _split(v, f"{path}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        items = [_split(v, f"{path}.{i}", tensors) for i, v in enumerate(obj)]
        return {TUPLE_KEY: items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path or '<root>'} without pickle")


def _join(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if TENSOR_KEY in obj:
            return tensors[obj[TENSOR_KEY]]
        if TUPLE_KEY in obj:
            return tuple(_join(v, tensors) for v in obj[TUPLE_KEY])
        return {k: _join(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def save_state(state: dict, folder: str | Path) -> None:
    """Write ``state`` into ``folder`` so that a kill at any instant leaves a loadable state.

    Tensors go to a new uniquely named ``state-<token>.safetensors``; then ``state.json``,
    which names that file, is renamed into place (the commit point); then older tensor
    files are removed. A kill before the commit leaves the previous pair intact.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _split(state, "", tensors)
    tensor_file = f"state-{os.urandom(8).hex()}.safetensors"
    atomic_write(folder / tensor_file, lambda p: save_file(tensors, p))
    text = json.dumps({"tensors": tensor_file, "state": skeleton})
    atomic_write(folder / "state.json", lambda p: Path(p).write_text(text))
    for old in folder.glob("state-*.safetensors"):
        if old.name != tensor_file:
            old.unlink(missing_ok=True)


def load_state(folder: str | Path) -> dict:
    """Read what ``save_state`` wrote (safetensors + JSON only; nothing is unpickled)."""
    folder = Path(folder)
    meta = json.loads((folder / "state.json").read_text())
    return _join(meta["state"], load_file(folder / meta["tensors"]))
