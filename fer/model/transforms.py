"""The one preprocessing definition: uint8 faces -> normalised model input.

Everything that feeds a model goes through ``to_model_input``: the trainer's evaluation,
the evaluator, the app. Training augmentation (``train.augment``) is the same resize and
``normalise`` with random warps folded in, so train and eval preprocessing cannot drift apart.

Its parameters (``fer.model.preprocess.Preprocess``) travel in the checkpoint's ``pretrained_cfg``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fer.model.preprocess import Preprocess


def normalise(x: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """Python floats, not tensors: no host-to-device copy for the constants on each call."""
    if len(pre.mean) == 1:
        return (x - pre.mean[0]) / pre.std[0]
    mean = torch.tensor(pre.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std = torch.tensor(pre.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean) / std


def to_model_input(faces: torch.Tensor, pre: Preprocess) -> torch.Tensor:
    """uint8 faces (N x H x W) -> float input (N x 1 x size x size), normalised."""
    x = faces.unsqueeze(1).float().div_(255.0)
    if x.shape[-1] != pre.size or x.shape[-2] != pre.size:
        x = F.interpolate(x, size=(pre.size, pre.size), mode="bilinear", align_corners=False, antialias=True)
    return normalise(x, pre)


TTA_MODES = ("none", "flip", "tencrop")
# Ten-crop TTA: crops of 7/8 of the face (42 of 48 pixels), as the FER2013 literature's
# 40-of-44/48-pixel crops, resized back to the model's input size.
TENCROP_FRACTION = 0.875


def tta_views(faces: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """The views of uint8 faces (N x H x W) that test-time augmentation averages over.

    ``flip``: the face and its mirror image. ``tencrop``: the four corner crops and the
    centre crop, and their mirror images.
    """
    if mode == "none":
        return [faces]
    if mode == "flip":
        return [faces, faces.flip(-1)]
    if mode != "tencrop":
        raise ValueError(f"unknown TTA mode {mode!r}: use one of {', '.join(TTA_MODES)}")
    h, w = faces.shape[-2:]
    ch, cw = round(h * TENCROP_FRACTION), round(w * TENCROP_FRACTION)
    corners = [(0, 0), (0, w - cw), (h - ch, 0), (h - ch, w - cw), ((h - ch) // 2, (w - cw) // 2)]
    crops = [faces[..., top : top + ch, left : left + cw] for top, left in corners]
    return crops + [crop.flip(-1) for crop in crops]
