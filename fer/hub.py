"""Hugging Face Hub: fetch a checkpoint repo (config.json + model.safetensors + card)."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import snapshot_download

# Only these are ever downloaded: no pickles, no code.
CHECKPOINT_PATTERNS = ["config.json", "model.safetensors", "README.md", "*.json", "*.png", "*.txt"]


def download_checkpoint(repo_id: str, revision: str | None = None) -> Path:
    """Local folder holding ``repo_id``'s checkpoint files at ``revision`` (cached)."""
    repo_id = repo_id.removeprefix("hf-hub:")
    return Path(snapshot_download(repo_id, revision=revision, allow_patterns=CHECKPOINT_PATTERNS))
