"""Hugging Face Hub: push a checkpoint folder with its model card, pull one by repo id.

Every call goes through ``huggingface_hub``; the token comes from ``HF_TOKEN`` (or the
user's ``huggingface-cli login``), never from a file in this repo. A repo holds exactly
what a local checkpoint folder holds (``config.json``, ``model.safetensors``, the card,
metrics and plots), so ``fer.model.checkpoint.load_checkpoint`` reads both. Failures become a
``HubError`` with one sentence saying what went wrong and what to do; nothing local is
touched by a failed push, and a push can simply be run again.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import Future
from pathlib import Path

from huggingface_hub import HfApi, get_token, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import HFValidationError, validate_repo_id

from fer.hub.model_card import write_model_card
from fer.model.checkpoint_files import MAX_WEIGHTS_BYTES, checked_file, read_weights_header
from fer.model.checkpoint_info import CONFIG_FILE, WEIGHTS_FILE, CheckpointError, read_config

# What a push uploads, and a pull downloads: never pickles, code or training state.
CHECKPOINT_PATTERNS = [CONFIG_FILE, WEIGHTS_FILE, "README.md", "*.json", "*.jsonl", "*.png", "*.txt", "*.onnx"]
EXCLUDED_PATTERNS = ["last/*", ".*"]  # resume state, staging folders


class HubError(RuntimeError):
    """A Hub operation that failed; the message is one sentence for the user."""


def check_repo_id(repo_id: str) -> str:
    """``user/name`` (an ``hf-hub:`` prefix is dropped); HubError if malformed."""
    repo_id = repo_id.removeprefix("hf-hub:")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(f"{repo_id!r} is not a valid Hub repo id (expected 'user/name'): {exc}") from None
    if "/" not in repo_id:
        raise HubError(f"{repo_id!r} is not a valid Hub repo id: give it as 'user/name'")
    return repo_id


def _explain(exc: Exception, repo_id: str, action: str) -> HubError:
    """Turn a huggingface_hub/HTTP failure into one sentence."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, RevisionNotFoundError):
        return HubError(f"{repo_id}: that revision does not exist ({action})")
    if isinstance(exc, RepositoryNotFoundError) or status == 404:
        return HubError(f"repo {repo_id} was not found, or your token cannot see it ({action})")
    if status == 401:
        return HubError(f"the Hub rejected the token: set HF_TOKEN to a valid token ({action} {repo_id})")
    if status == 403:
        return HubError(f"your token has no write access to {repo_id}: use a token with the 'write' role ({action})")
    if isinstance(exc, LocalEntryNotFoundError):
        return HubError(f"the Hub could not be reached and {repo_id} is not in the local cache ({action})")
    if status is not None:
        return HubError(f"the Hub answered HTTP {status} while trying to {action} {repo_id}; try again later")
    return HubError(f"could not {action} {repo_id}: {type(exc).__name__}: {exc}")


def push_token(token: str | None = None) -> str:
    """The token a push will use: ``token``, else HF_TOKEN or the saved login; HubError if there is
    none. A command that pushes after hours of work asks for it before starting."""
    token = token or get_token()
    if not token:
        raise HubError("no Hugging Face token: set HF_TOKEN to a token with write access")
    return token


def _writing_api(token: str | None) -> HfApi:
    return HfApi(token=push_token(token))


def push_checkpoint(
    folder: str | Path,
    repo_id: str,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
) -> str:
    """Upload a checkpoint folder (with a freshly written model card) as one new commit.

    Creates the repo if needed; pushing to an existing repo adds a commit and keeps its
    history. Returns the commit URL.
    """
    folder = Path(folder)
    repo_id = check_repo_id(repo_id)
    try:
        config = read_config(folder)
        weights = checked_file(folder, WEIGHTS_FILE, MAX_WEIGHTS_BYTES)
        if weights is None:
            raise CheckpointError(f"{folder} has no {WEIGHTS_FILE}")
        read_weights_header(weights)  # weights cut short stay here, refused before the Hub sees them
    except CheckpointError as exc:
        raise HubError(f"nothing pushed: {exc}") from None
    write_model_card(folder, repo_id=repo_id)
    api = _writing_api(token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            allow_patterns=CHECKPOINT_PATTERNS,
            ignore_patterns=EXCLUDED_PATTERNS,
            commit_message=commit_message or f"Upload {config['architecture']} FER checkpoint",
        )
    except (HfHubHTTPError, OSError) as exc:
        raise _explain(exc, repo_id, "push to") from None
    return info.commit_url


def push_space(folder: str | Path, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload a built static page (``scripts/build_web.py``) as one commit of a static Space,
    creating the Space if needed. Returns the commit URL."""
    repo_id = check_repo_id(repo_id)
    api = _writing_api(token)
    try:
        api.create_repo(repo_id, repo_type="space", space_sdk="static", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id, repo_type="space", folder_path=Path(folder), commit_message="Upload the on-device page"
        )
    except (HfHubHTTPError, OSError) as exc:
        raise _explain(exc, repo_id, "push to") from None
    return info.commit_url


def download_checkpoint(repo_id: str, revision: str | None = None, token: str | None = None) -> Path:
    """Local (cached) folder with ``repo_id``'s checkpoint at ``revision``, checked.

    Refuses, with a sentence, a repo that is not a FER checkpoint (no ``label_names``)
    or that holds only pickled weights.
    """
    repo_id = check_repo_id(repo_id)
    try:
        folder = Path(
            snapshot_download(
                repo_id,
                revision=revision,
                allow_patterns=CHECKPOINT_PATTERNS,
                ignore_patterns=EXCLUDED_PATTERNS,
                token=token,
            )
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, EntryNotFoundError, OSError) as exc:
        raise _explain(exc, repo_id, "download") from None
    if not (folder / CONFIG_FILE).is_file():
        raise HubError(f"{repo_id} is not a FER checkpoint: it has no {CONFIG_FILE}")
    config = json.loads((folder / CONFIG_FILE).read_text())
    if "label_names" not in config:
        raise HubError(f"{repo_id} is not a FER checkpoint: its {CONFIG_FILE} has no label_names")
    if not (folder / WEIGHTS_FILE).is_file():
        raise HubError(f"{repo_id} has no {WEIGHTS_FILE}; pickled weights (.bin/.pth) are never loaded")
    return folder


def download_checkpoint_within(wait_s: float, repo_id: str, revision: str | None = None) -> Path:
    """``download_checkpoint``, given up with a HubError after ``wait_s`` seconds.

    huggingface_hub retries a request that times out five times, with back-off, file by file,
    so a Hub that accepts connections but does not answer holds the caller for minutes; the
    app must come up sooner, on its embedded model. The download goes on in the background,
    so once the Hub answers the files land in its cache for the next start.
    """
    fetched: Future[Path] = Future()

    def fetch() -> None:
        try:
            fetched.set_result(download_checkpoint(repo_id, revision))
        except Exception as exc:  # handed to the waiting caller, which raises it
            fetched.set_exception(exc)

    threading.Thread(target=fetch, name=f"download {repo_id}", daemon=True).start()
    try:
        return fetched.result(timeout=wait_s)
    except TimeoutError:
        raise HubError(f"the Hub did not deliver {repo_id} within {wait_s:g} s") from None
