"""Model factory: every backbone is a timm model; our compact CNN is registered with timm.

``create_model`` builds any timm architecture for 48x48 grayscale faces (``in_chans=1``,
7 classes). ``FerNet`` is a small residual CNN designed for that input: a stride-1 stem
keeps the 48-pixel detail that ImageNet stems (stride 4) throw away, and three stages
downsample 48 -> 24 -> 12 -> 6 before global pooling. Registering it with timm means
``timm.create_model("fernet_s")`` and ``timm.create_model("local-dir:run")`` build it like
any stock model, once ``import fer.model.networks`` has run.
"""

from __future__ import annotations

from collections.abc import Sequence

import timm
import torch
from timm.models import build_model_with_cfg, register_model
from timm.models._registry import generate_default_cfgs
from torch import nn

from fer.model.labels import NUM_CLASSES
from fer.model.preprocess import FER_MEAN, FER_STD


def _conv_bn(in_chs: int, out_chs: int, stride: int = 1, kernel: int = 3) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chs, out_chs, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_chs),
    )


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual shortcut (ResNet's basic block)."""

    def __init__(self, in_chs: int, out_chs: int, stride: int):
        super().__init__()
        self.conv1 = _conv_bn(in_chs, out_chs, stride)
        self.conv2 = _conv_bn(out_chs, out_chs)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = (
            nn.Identity() if stride == 1 and in_chs == out_chs else _conv_bn(in_chs, out_chs, stride, kernel=1)
        )
        nn.init.zeros_(self.conv2[1].weight)  # each block starts as identity: stabler early training

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv2(self.act(self.conv1(x))) + self.shortcut(x))


class FerNet(nn.Module):
    """Compact residual CNN for small grayscale faces, timm-compatible."""

    def __init__(
        self,
        num_classes: int = NUM_CLASSES,
        in_chans: int = 1,
        stem_width: int = 32,
        widths: Sequence[int] = (64, 128, 224),
        depths: Sequence[int] = (1, 2, 2),
        drop_rate: float = 0.3,
        global_pool: str = "avg",
        **_: object,
    ):
        super().__init__()
        if global_pool != "avg":
            raise ValueError("FerNet supports global_pool='avg' only")
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.stem = nn.Sequential(_conv_bn(in_chans, stem_width), nn.ReLU(inplace=True))
        stages: list[nn.Module] = []
        in_chs = stem_width
        for width, depth in zip(widths, depths, strict=False):
            blocks = [BasicBlock(in_chs if i == 0 else width, width, stride=2 if i == 0 else 1) for i in range(depth)]
            stages.append(nn.Sequential(*blocks))
            in_chs = width
        self.stages = nn.Sequential(*stages)
        self.num_features = self.head_hidden_size = in_chs
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes > 0 else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.global_pool(x).flatten(1))
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _cfg(**kwargs: object) -> dict:
    return {
        "num_classes": NUM_CLASSES,
        "input_size": (1, 48, 48),
        "pool_size": (6, 6),
        "crop_pct": 1.0,
        "interpolation": "bilinear",
        "mean": FER_MEAN,
        "std": FER_STD,
        "first_conv": "stem.0.0",
        "classifier": "fc",
        "license": "mit",
        **kwargs,
    }


default_cfgs = generate_default_cfgs(
    {"fernet_t.untrained": _cfg(), "fernet_s.untrained": _cfg(), "fernet_m.untrained": _cfg()}
)

FERNET_VARIANTS: dict[str, dict] = {
    # ~0.1M parameters: for tests and quick experiments on a CPU.
    "fernet_t": dict(stem_width=16, widths=(32, 64, 128), depths=(1, 1, 1)),
    # ~2.2M parameters: the default, small enough for a CPU or a browser (bench/onnx.json).
    "fernet_s": dict(stem_width=32, widths=(64, 128, 224), depths=(1, 2, 2)),
    # wider, for distillation teachers and GPU experiments.
    "fernet_m": dict(stem_width=48, widths=(96, 192, 384), depths=(2, 3, 2)),
}


def _create_fernet(variant: str, pretrained: bool = False, **kwargs: object) -> FerNet:
    model_args = {**FERNET_VARIANTS[variant], **kwargs}
    return build_model_with_cfg(FerNet, variant, pretrained, **model_args)


@register_model
def fernet_t(pretrained: bool = False, **kwargs: object) -> FerNet:
    return _create_fernet("fernet_t", pretrained, **kwargs)


@register_model
def fernet_s(pretrained: bool = False, **kwargs: object) -> FerNet:
    return _create_fernet("fernet_s", pretrained, **kwargs)


@register_model
def fernet_m(pretrained: bool = False, **kwargs: object) -> FerNet:
    return _create_fernet("fernet_m", pretrained, **kwargs)


def create_model(name: str, num_classes: int = NUM_CLASSES, **kwargs: object) -> nn.Module:
    """Any timm architecture (or ours), randomly initialised for grayscale faces.

    Raises ValueError naming close matches when ``name`` is not a timm model.
    """
    if not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:8]
        hint = f"; did you mean one of {close}?" if close else "; see timm.list_models()"
        raise ValueError(f"unknown model {name!r}{hint}")
    return timm.create_model(name, pretrained=False, in_chans=1, num_classes=num_classes, **kwargs)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
