"""Where and how tensors are computed: device, precision and memory format, decided once.

The trainer, the benchmark, the evaluator and the app's inference all ask this module,
so "bf16 on this GPU, channels_last, TF32 on" is one decision, logged once, rather than
``device.type == "cuda"`` tests scattered through the code. Every choice has a CPU twin
(``--precision fp16`` and ``--channels-last`` run on a CPU too), so tests exercise the
paths a GPU would take.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch

from fer.utils.memory import keep_freed_memory

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` is the local rank's GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for, but torch sees no CUDA GPU here")
        return torch.device("cuda", local_rank)
    if name != "cpu":
        raise ValueError(f"unknown device {name!r}: use auto, cpu or cuda")
    return torch.device("cpu")


def default_precision(device: torch.device) -> str:
    """bf16 autocast where the GPU supports it, fp16 with loss scaling where it does not;
    fp32 on CPUs, where autocast is slower than float32 on most machines."""
    if device.type != "cuda":
        return "fp32"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


@dataclass(frozen=True)
class Compute:
    """How a model runs: on which device, in which precision, in which memory format."""

    device: torch.device
    precision: str = "fp32"  # bf16 | fp16 | fp32
    channels_last: bool = False

    @classmethod
    def choose(cls, device: torch.device, precision: str = "auto", channels_last: bool | None = None) -> Compute:
        """Fill in the defaults for training on ``device``: reduced precision on GPUs;
        channels_last everywhere (faster than NCHW for fernet_s on a 2-core CPU,
        ``bench/train_fernet_s.json``)."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
        return cls(
            device=device,
            precision=default_precision(device) if precision == "auto" else precision,
            channels_last=True if channels_last is None else channels_last,
        )

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.autocast_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling, on only for fp16 (bf16 has float32's range and needs none)."""
        return torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def describe(self) -> str:
        threads = torch.get_num_threads()
        cpu = f"CPU, {threads} thread{'s' if threads != 1 else ''}"
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else cpu
        layout = "channels_last" if self.channels_last else "contiguous (NCHW)"
        return f"{self.device} ({name}), {self.precision}, {layout}"


def configure_backends(device: torch.device) -> None:
    """Fast kernels for fixed-size inputs on a GPU: cuDNN autotuning and TF32 matmuls/convs.
    Everywhere, freed batch-sized blocks stay in the process for the next batch
    (``fer.utils.memory``)."""
    keep_freed_memory()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


def inference_compute(model: torch.nn.Module) -> Compute:
    """How ``model`` runs inference on the device its weights are on: float32 and the NCHW
    layout checkpoints are loaded in, on any device, so that the trainer's validation on a
    GPU and every later evaluation on a CPU compute alike (bf16 validation logged 0.6960
    for weights that score 0.6949 in float32: a logged accuracy the CPU could not reproduce)."""
    return Compute.choose(next(model.parameters()).device, precision="fp32", channels_last=False)


@contextlib.contextmanager
def full_float32(device: torch.device):
    """TF32 off for the block (inference), restored after: training keeps its fast TF32
    kernels, validation computes in true float32 like the CPU that later re-evaluates it."""
    if device.type != "cuda":
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def contiguous_copy(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in the NCHW layout inference uses (itself when it already is)."""
    if all(p.is_contiguous() for p in model.parameters()):
        return model
    return copy.deepcopy(model).to(memory_format=torch.contiguous_format)
