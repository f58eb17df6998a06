"""What a model expects of its input, without torch: size and normalisation constants.

The app's serving path (onnxruntime) and the torch path (``fer.model.transforms``) read the
same ``Preprocess``, from the checkpoint's ``pretrained_cfg``, so a plain-timm user gets
the same numbers through ``timm.data.resolve_data_config``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Pixel statistics of the FER2013 training split (measured: `train.data.load_split`).
FER_MEAN = (0.5136,)
FER_STD = (0.3067,)


@dataclass(frozen=True)
class Preprocess:
    """What a model expects: its square input size and the normalisation."""

    size: int = 48
    mean: tuple[float, ...] = FER_MEAN
    std: tuple[float, ...] = FER_STD

    @classmethod
    def from_pretrained_cfg(cls, cfg: dict) -> Preprocess:
        return cls(size=int(cfg["input_size"][-1]), mean=tuple(cfg["mean"]), std=tuple(cfg["std"]))

    def data_config(self) -> dict:
        """The timm data config (``pretrained_cfg`` fields) describing this preprocessing."""
        return {
            "input_size": (1, self.size, self.size),
            "mean": self.mean,
            "std": self.std,
            "interpolation": "bilinear",
            "crop_pct": 1.0,
        }
