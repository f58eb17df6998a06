"""Grad-CAM heatmaps: which regions of a face drove the predicted expression.

Works for any timm CNN, because every timm model splits into ``forward_features`` (the
last convolutional feature map) and ``forward_head``: the heatmap is that map weighted
by the gradient of the class score, averaged over each channel (Selvaraju et al. 2017).
Painting the heatmaps (``fer.pipeline.annotate``) needs no torch; computing them does.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from fer.model.checkpoint import LoadedModel
from fer.model.transforms import to_model_input


def grad_cam(loaded: LoadedModel, crops: np.ndarray, class_indices: list[int]) -> np.ndarray:
    """One heatmap per 48x48 crop (N x 48 x 48, float 0..1) for the given class of each."""
    model = loaded.model
    x = to_model_input(torch.from_numpy(np.ascontiguousarray(crops)), loaded.preprocess)
    x = x.to(next(model.parameters()).device)
    with torch.enable_grad():
        features = model.forward_features(x).detach().requires_grad_(True)
        logits = model.forward_head(features)
        chosen = logits[torch.arange(len(crops)), torch.tensor(class_indices)]
        (grads,) = torch.autograd.grad(chosen.sum(), features)
    weights = grads.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * features).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=crops.shape[1:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1).clamp_min(1e-8).view(-1, 1, 1)
    return (cam / peak).detach().cpu().numpy()
