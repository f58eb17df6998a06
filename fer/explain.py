"""Grad-CAM heatmaps: which regions of a face drove the predicted expression.

Works for any timm CNN, because every timm model splits into ``forward_features`` (the
last convolutional feature map) and ``forward_head``: the heatmap is that map weighted
by the gradient of the class score, averaged over each channel (Selvaraju et al. 2017).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fer.checkpoint import LoadedModel
from fer.faces import CropFrame
from fer.transforms import to_model_input


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


def heat_colours(heat: np.ndarray) -> np.ndarray:
    """0..1 heat -> RGB uint8 on a black-red-yellow-white ramp (no colormap dependency)."""
    r = np.clip(heat * 3, 0, 1)
    g = np.clip(heat * 3 - 1, 0, 1)
    b = np.clip(heat * 3 - 2, 0, 1)
    return (np.stack([r, g, b], axis=-1) * 255).astype(np.uint8)


def paint_heatmap(image: Image.Image, heat: np.ndarray, frame: CropFrame, opacity: float = 0.6) -> None:
    """Draw ``heat`` (over a crop) onto ``image`` where the crop came from, in place.

    Hot regions are opaque, cold ones transparent, so the face stays visible around them.
    """
    side = max(1, round(frame.side))
    colours = Image.fromarray(heat_colours(heat)).resize((side, side), Image.BILINEAR).convert("RGBA")
    alpha = Image.fromarray((np.clip(heat, 0, 1) * 255 * opacity).astype(np.uint8)).resize((side, side), Image.BILINEAR)
    colours.putalpha(alpha)
    turned = colours.rotate(-math.degrees(frame.angle), resample=Image.BILINEAR, expand=True)
    corner = (round(frame.x - turned.width / 2), round(frame.y - turned.height / 2))
    image.paste(turned, corner, turned)
