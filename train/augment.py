"""Train-time augmentation as batched tensor ops on whatever device holds the batch.

One code path for CPU and GPU (rather than torchvision transforms per image on CPU) keeps a
GPU fed without a DataLoader, and ends in the same ``normalise`` as evaluation and serving.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from fer.model.preprocess import Preprocess
from fer.model.transforms import normalise


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strength. Zero everywhere means 'no augmentation'."""

    flip: float = 0.5  # probability of a horizontal flip
    rotation: float = 15.0  # max degrees either way
    scale: float = 0.15  # zoom in/out by up to this fraction
    translate: float = 0.1  # shift by up to this fraction of the size
    erase: float = 0.25  # probability of erasing one random rectangle
    # Photometric changes, for faces from other cameras than FER2013's: they keep the
    # model's accuracy under noise, blur and low contrast close to its clean accuracy.
    contrast: float = 0.3  # scale contrast by up to this fraction either way
    brightness: float = 0.1  # shift brightness by up to this fraction of the range
    blur: float = 0.5  # blend towards a 3x3 box blur by up to this weight
    noise: float = 0.05  # add Gaussian noise with a std of up to this (pixel range 0..1)

    @classmethod
    def scaled(cls, strength: float) -> AugmentConfig:
        """Default augmentation times ``strength`` (0 = none, 1 = default, 2 = strong)."""
        base = cls()
        return cls(
            flip=base.flip if strength > 0 else 0.0,
            rotation=base.rotation * strength,
            scale=base.scale * strength,
            translate=base.translate * strength,
            erase=min(1.0, base.erase * strength),
            contrast=base.contrast * strength,
            brightness=base.brightness * strength,
            blur=min(1.0, base.blur * strength),
            noise=base.noise * strength,
        )


class Augment:
    """Batched train-time augmentation: one ``grid_sample`` does resize, flip, rotation,
    scale and translation; then contrast, brightness, blur and noise; then random erasing
    in the normalised space. A few tensor ops per batch, whatever its size, and no
    per-image Python.

    Every random number comes from the ``generator`` passed in (on the batch's device), so
    a run derives it from (seed, epoch, rank) and a resumed run draws the same numbers.
    """

    def __init__(self, pre: Preprocess, config: AugmentConfig):
        self.pre = pre
        self.config = config

    def __call__(self, faces: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        cfg, n = self.config, faces.shape[0]
        draw = _Draw(n, faces.device, generator)
        x = faces.unsqueeze(1).float().div_(255.0)
        theta = self._affine(draw)
        grid = F.affine_grid(theta, [n, 1, self.pre.size, self.pre.size], align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        x = self._photometric(x, draw)
        x = normalise(x, self.pre)
        if cfg.erase > 0:
            x = self._erase(x, draw)
        return x

    def _affine(self, draw: _Draw) -> torch.Tensor:
        cfg = self.config
        angle = draw.symmetric(math.radians(cfg.rotation))
        zoom = 1.0 + draw.symmetric(cfg.scale)
        flip = torch.where(draw.uniform() < cfg.flip, -1.0, 1.0)
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        return torch.stack(
            [
                torch.stack([cos * flip, -sin, draw.symmetric(2 * cfg.translate)], dim=1),
                torch.stack([sin * flip, cos, draw.symmetric(2 * cfg.translate)], dim=1),
            ],
            dim=1,
        )

    def _photometric(self, x: torch.Tensor, draw: _Draw) -> torch.Tensor:
        """Per-image contrast, brightness, blur and noise on pixels in 0..1."""
        cfg, per_image = self.config, (-1, 1, 1, 1)
        if cfg.contrast > 0 or cfg.brightness > 0:
            mean = x.mean(dim=(1, 2, 3), keepdim=True)
            gain = 1.0 + draw.symmetric(cfg.contrast).view(per_image)
            x = (x - mean) * gain + mean + draw.symmetric(cfg.brightness).view(per_image)
        if cfg.blur > 0:
            blurred = F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
            x = torch.lerp(x, blurred, draw.uniform(0, cfg.blur).view(per_image))
        if cfg.noise > 0:
            x = x + draw.uniform(0, cfg.noise).view(per_image) * draw.normal(x.shape)
        return x.clamp(0.0, 1.0)

    def _erase(self, x: torch.Tensor, draw: _Draw) -> torch.Tensor:
        """Replace one random rectangle (2-33% of the area) per chosen image with noise.

        Written as masks over the whole batch rather than timm's per-image loop, which
        costs one kernel launch per image on a GPU.
        """
        n, _, h, w = x.shape
        area = draw.uniform(0.02, 1 / 3) * h * w
        log_ratio = draw.uniform(math.log(0.3), math.log(1 / 0.3))
        eh = (area * log_ratio.exp()).sqrt().clamp(1, h)
        ew = (area / log_ratio.exp()).sqrt().clamp(1, w)
        top = draw.uniform() * (h - eh)
        left = draw.uniform() * (w - ew)
        rows = torch.arange(h, device=x.device).view(1, h, 1)
        cols = torch.arange(w, device=x.device).view(1, 1, w)
        inside = (
            (rows >= top.view(n, 1, 1))
            & (rows < (top + eh).view(n, 1, 1))
            & (cols >= left.view(n, 1, 1))
            & (cols < (left + ew).view(n, 1, 1))
        )
        chosen = (draw.uniform() < self.config.erase).view(n, 1, 1)
        mask = (inside & chosen).unsqueeze(1)
        return torch.where(mask, draw.normal(x.shape), x)


@dataclass(frozen=True)
class _Draw:
    """Per-image random numbers for one batch, all from one generator."""

    n: int
    device: torch.device
    generator: torch.Generator | None

    def uniform(self, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        return torch.empty(self.n, device=self.device).uniform_(low, high, generator=self.generator)

    def symmetric(self, bound: float) -> torch.Tensor:
        return self.uniform(-bound, bound)

    def normal(self, shape: torch.Size) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator, device=self.device)
