"""Batched class probabilities for uint8 faces: the one forward path every caller shares.

The trainer's validation, ``train.evaluate`` and the app's ``Predictor`` all call
``class_probabilities``, so a logged validation accuracy is reproduced exactly by the
evaluator and the app sees the same numbers.
"""

from __future__ import annotations

import torch
from torch import nn

from fer.transforms import Preprocess, to_model_input


@torch.inference_mode()
def class_probabilities(
    model: nn.Module,
    faces: torch.Tensor,
    preprocess: Preprocess,
    batch_size: int = 256,
    flip_tta: bool = False,
) -> torch.Tensor:
    """uint8 faces (N x 48 x 48, on any device) -> softmax probabilities (N x C, float32).

    ``flip_tta`` averages the probabilities of each face and its mirror image.
    """
    device = next(model.parameters()).device
    use_bf16 = device.type == "cuda"
    outputs = []
    for start in range(0, len(faces), batch_size):
        x = to_model_input(faces[start : start + batch_size].to(device, non_blocking=True), preprocess)
        if use_bf16:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            probs = model(x).float().softmax(dim=1)
            if flip_tta:
                probs = (probs + model(x.flip(-1)).float().softmax(dim=1)) / 2
        outputs.append(probs)
    if not outputs:
        return torch.empty(0, 0)
    return torch.cat(outputs).float()
