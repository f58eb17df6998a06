"""Which checkpoint folder a name means: a local folder, or a Hub repo id fetched into the cache.

Every reader of checkpoints (the app, ``fer.batch``, the trainer's ``--init``, the evaluator)
resolves names here, so the torch-free checkpoint reader in ``fer.model`` never imports the
Hub client, and the Hub client is imported only when a repo id is actually given.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from fer.model.checkpoint_info import EMBEDDED_CHECKPOINT

if TYPE_CHECKING:
    from fer.model.checkpoint import LoadedModel

# How long the app's start waits for FER_MODEL from the Hub before serving the embedded model.
HUB_WAIT_S = float(os.environ.get("FER_HUB_WAIT_S", "60"))


def resolve_checkpoint(
    reference: str | Path | None = None, revision: str | None = None, wait_s: float | None = None
) -> Path:
    """A checkpoint's local folder, by folder or Hub repo id; default ``$FER_MODEL`` or the embedded one.

    A repo id may carry its revision as timm writes it, ``user/repo@branch-or-commit``;
    it is downloaded (or found in the Hub cache) by ``fer.hub.client``, given up after ``wait_s``
    seconds if set (the app's start), else for as long as the Hub client keeps retrying.
    """
    reference = reference or os.environ.get("FER_MODEL") or EMBEDDED_CHECKPOINT
    path = Path(reference).expanduser()
    if path.is_dir() or not looks_like_repo_id(str(reference)):
        return path
    from fer.hub.client import download_checkpoint, download_checkpoint_within

    repo_id, _, pinned = str(reference).partition("@")
    revision = revision or pinned or None
    if wait_s is None:
        return download_checkpoint(repo_id, revision)
    return download_checkpoint_within(wait_s, repo_id, revision)


def looks_like_repo_id(text: str) -> bool:
    text = text.removeprefix("hf-hub:")
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))


def load_model(reference: str | Path | None = None, revision: str | None = None) -> LoadedModel:
    """A checkpoint's torch model by local folder or Hub repo id (see ``resolve_checkpoint``)."""
    from fer.model.checkpoint import load_checkpoint  # torch: only for callers that need the network

    return load_checkpoint(resolve_checkpoint(reference, revision))
