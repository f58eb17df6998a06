"""Batched class probabilities for uint8 faces: the one forward path every caller shares.

The trainer's validation, ``train.evaluate`` and the app's ``Predictor`` all call
``class_probabilities``, so a logged validation accuracy is reproduced exactly by the
evaluator and the app sees the same numbers.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from fer.model.checkpoint import LoadedModel
from fer.model.preprocess import Preprocess
from fer.model.transforms import to_model_input, tta_views
from fer.utils.device import full_float32, inference_compute


@torch.inference_mode()
def class_probabilities(
    model: nn.Module,
    faces: torch.Tensor,
    preprocess: Preprocess,
    batch_size: int = 256,
    tta: str = "none",
) -> torch.Tensor:
    """uint8 faces (N x 48 x 48, on any device) -> softmax probabilities (N x C, float32).

    ``tta`` ("none", "flip", "tencrop"; see ``fer.model.transforms.tta_views``) averages the
    probabilities of several views of each face.
    """
    compute = inference_compute(model)
    outputs = []
    for start in range(0, len(faces), batch_size):
        batch = faces[start : start + batch_size].to(compute.device, non_blocking=True)
        views = tta_views(batch, tta)
        probs = 0
        for view in views:
            x = compute.prepare_input(to_model_input(view, preprocess))
            with full_float32(compute.device):
                probs = probs + model(x).float().softmax(dim=1)
        outputs.append(probs / len(views))
    if not outputs:
        return torch.empty(0, 0)
    return torch.cat(outputs).float()


def numpy_probabilities(loaded: LoadedModel, faces: np.ndarray, tta: str = "none") -> np.ndarray:
    """``class_probabilities`` for numpy callers (the app's torch path): uint8 faces in, N x C out."""
    as_tensor = torch.tensor(faces, dtype=torch.uint8)  # a copy: crops may be read-only views
    return class_probabilities(loaded.model, as_tensor, loaded.preprocess, tta=tta).numpy()
