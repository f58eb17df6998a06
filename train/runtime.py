"""Which process am I, on which device and how it computes; torchrun/DDP plumbing.

One call, ``setup``, decides everything about where the run computes (device, precision,
memory format, backend flags), so the trainer and the benchmark cannot disagree.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from fer.utils.device import Compute, configure_backends, resolve_device


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    compute: Compute

    @property
    def device(self) -> torch.device:
        return self.compute.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def describe(self) -> str:
        ranks = f" x{self.world_size} ranks" if self.distributed else ""
        return f"{self.compute.describe()}{ranks}"


def setup(device: str = "auto", precision: str = "auto", channels_last: bool | None = None) -> Runtime:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU).

    Under torchrun on a CPU the cores are split between the ranks, so two ranks on two
    cores do not fight over both.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    torch_device = resolve_device(device, int(os.environ.get("LOCAL_RANK", "0")))
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    configure_backends(torch_device)
    if world_size > 1:
        dist.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
        if torch_device.type == "cpu":
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return Runtime(rank, world_size, Compute.choose(torch_device, precision, channels_last))


def sum_across_ranks(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Element-wise sum over all ranks (identity when not distributed)."""
    if runtime.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def max_across_ranks(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Element-wise maximum over all ranks: a flag raised on any rank is raised on all."""
    if runtime.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def teardown(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.destroy_process_group()


class StopSignal:
    """SIGTERM/SIGINT noted rather than obeyed at once, so the loop can stop cleanly.

    The loop saves its state and exits at the next step (one process) or at the next
    check all ranks agree on (DDP), instead of dying mid-write.
    """

    def __init__(self) -> None:
        self.name: str | None = None

    @property
    def requested(self) -> bool:
        return self.name is not None

    def _note(self, signum: int, _frame: object) -> None:
        self.name = signal.Signals(signum).name

    @contextlib.contextmanager
    def installed(self) -> Iterator[StopSignal]:
        if threading.current_thread() is not threading.main_thread():  # only there can Python catch signals
            yield self
            return
        previous = {sig: signal.signal(sig, self._note) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
