"""Common corruptions of 48x48 faces, for measuring robustness (``train.evaluate --corruptions``).

Each takes and returns uint8 faces (N x 48 x 48) and is deterministic (seeded), so a
robustness figure is reproducible. Severities are fixed, mild-to-moderate settings of the
kinds of damage a webcam or a re-shared photo shows.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter


def _per_image(faces: np.ndarray, fn: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(face)), dtype=np.uint8) for face in faces])


def gaussian_noise(faces: np.ndarray, sigma: float = 0.08, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma * 255, faces.shape)
    return np.clip(faces + noise, 0, 255).round().astype(np.uint8)


def blur(faces: np.ndarray, radius: float = 1.0) -> np.ndarray:
    return _per_image(faces, lambda img: img.filter(ImageFilter.GaussianBlur(radius)))


def jpeg(faces: np.ndarray, quality: int = 20) -> np.ndarray:
    def recompress(img: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=quality)
        return Image.open(buffer).convert("L")

    return _per_image(faces, recompress)


def low_contrast(faces: np.ndarray, factor: float = 0.5) -> np.ndarray:
    mean = faces.mean(axis=(1, 2), keepdims=True)
    return np.clip(mean + (faces - mean) * factor, 0, 255).round().astype(np.uint8)


def rotation(faces: np.ndarray, degrees: float = 10.0, seed: int = 0) -> np.ndarray:
    angles = np.random.default_rng(seed).choice([-degrees, degrees], len(faces))
    return np.stack(
        [
            np.asarray(Image.fromarray(face).rotate(float(a), resample=Image.BILINEAR, fillcolor=int(face.mean())))
            for face, a in zip(faces, angles)
        ]
    )


CORRUPTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gaussian_noise_0.08": gaussian_noise,
    "gaussian_blur_r1": blur,
    "jpeg_q20": jpeg,
    "low_contrast_0.5": low_contrast,
    "rotation_10deg": rotation,
}
