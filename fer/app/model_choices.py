"""The models a visitor can pick on the page: every checkpoint under ``checkpoints/``, plus ``$FER_MODEL``.

The picker must describe each model (validation accuracy, size) before anyone picks it,
and picking one must not cost the others: each choice is described from its folder's files
alone, and its predictor is built on first use, then kept (one per model, shared by every
visitor: predictors hold no per-call state).
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fer.hub.resolve import looks_like_repo_id
from fer.model.checkpoint_files import MAX_ONNX_BYTES, MAX_WEIGHTS_BYTES, checked_file
from fer.model.checkpoint_info import (
    CONFIG_FILE,
    EMBEDDED_CHECKPOINT,
    WEIGHTS_FILE,
    CheckpointError,
    CheckpointInfo,
    read_checkpoint_info,
)
from fer.model.onnx_classifier import INT8_FILE, ONNX_FILE
from fer.pipeline.faces import FaceDetector
from fer.pipeline.predict import Predictor, predictor_with_fallback

CHECKPOINTS = EMBEDDED_CHECKPOINT.parent
FOLDER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")  # picker entries are shown on the page
log = logging.getLogger(__name__)


@dataclass
class ModelChoice:
    """One entry of the picker: its key (what the page and the API pass back) and its checkpoint."""

    key: str
    info: CheckpointInfo
    predictor: Predictor | None = field(default=None, repr=False)  # built on first use
    live: Predictor | None = field(default=None, repr=False)  # the same, with the Live tab's detector

    @property
    def label(self) -> str:
        """``fernet_s · 71.0% validation · 2.2M parameters · 2.3 MB``: the numbers on its card."""
        metrics = self.info.metrics()
        parts = [self.key, f"{metrics['accuracy']:.1%} validation" if "accuracy" in metrics else "not measured"]
        if "parameters" in metrics:
            parts.append(f"{metrics['parameters'] / 1e6:.1f}M parameters")
        if size := served_bytes(self.info.folder):
            parts.append(f"{size / 1e6:.1f} MB")
        return " · ".join(parts)


def offered(folder: Path) -> ModelChoice:
    """The picker's entry for a checkpoint folder, its metrics read once to check them (a bad
    file is left out with a notice); CheckpointError for a folder name that is not plain text."""
    if not FOLDER_NAME.fullmatch(folder.name):
        raise CheckpointError("its folder name is not a plain name (letters, digits, '.', '_', '-')")
    info = read_checkpoint_info(folder)
    info.metrics()  # checked now, at start: a bad file becomes a notice before any visitor asks
    return ModelChoice(folder.name, info)


def served_bytes(folder: Path) -> int:
    """Size on disk of what the app serves from a checkpoint: its smallest ONNX export, else its
    weights (0 where a file is refused: the page then states no size)."""
    try:
        files = [checked_file(folder, name, MAX_ONNX_BYTES) for name in (INT8_FILE, ONNX_FILE)]
        files = [path for path in files if path] or [checked_file(folder, WEIGHTS_FILE, MAX_WEIGHTS_BYTES)]
    except CheckpointError:
        return 0
    return min((path.stat().st_size for path in files if path), default=0)


class ModelChoices:
    """The page's models. The default is ``$FER_MODEL`` when it loads, else the embedded model;
    ``notice`` says why ``$FER_MODEL`` could not be used."""

    def __init__(
        self,
        reference: str | None,
        live_detector: FaceDetector,
        use_onnx: bool = True,
        checkpoints: Path = CHECKPOINTS,
    ):
        self.use_onnx = use_onnx
        self.live_detector = live_detector
        default, self.notice = predictor_with_fallback(reference, use_onnx)
        # The key is shown in the picker: a repo id as given, a folder by its name, never its path.
        key = default.info.name if not reference or self.notice or not looks_like_repo_id(reference) else reference
        self.default = ModelChoice(key, default.info, default, default.with_detector(live_detector))
        self.choices = {key: self.default}
        for folder in sorted(checkpoints.iterdir()):
            if (folder / CONFIG_FILE).is_file() and folder.resolve() != default.info.folder.resolve():
                try:
                    self.choices.setdefault(folder.name, offered(folder))
                except Exception as exc:  # one broken folder, whatever its fault, must not take the page down
                    log.warning("not offering %.80r: %s", folder.name, exc)
        self._lock = threading.Lock()

    def dropdown_choices(self) -> list[tuple[str, str]]:
        """(label, key) pairs, the default first."""
        return [(choice.label, key) for key, choice in self.choices.items()]

    def choice(self, key: str | None) -> ModelChoice:
        """The chosen model, loaded; the default for an empty key. An unknown key, or a model
        that cannot be loaded, raises ``CheckpointError`` with one sentence."""
        if not key:
            return self.default
        if key not in self.choices:
            raise CheckpointError(f"there is no model {key!r} here; choose one of {', '.join(self.choices)}")
        choice = self.choices[key]
        if choice.live is not None:  # loaded: no lock on the hot path (every Live frame asks)
            return choice
        with self._lock:  # two first visitors of the same model load it once
            if choice.predictor is None:
                try:
                    choice.predictor = Predictor(choice.info, use_onnx=self.use_onnx)
                except Exception as exc:  # whatever breaks it, the page says so and keeps serving the others
                    raise CheckpointError(f"the model {key!r} could not be loaded ({exc})") from exc
                choice.live = choice.predictor.with_detector(self.live_detector)
        return choice
