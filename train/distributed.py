"""torchrun / DDP plumbing: which process am I, on which device, and summing across ranks."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto") -> Runtime:
    """Join the process group when launched by torchrun (nccl on GPU, gloo on CPU).

    Under torchrun on a CPU the cores are split between the ranks, so two ranks on two
    cores do not fight over both.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    else:
        torch_device = torch.device(device)
    if world_size > 1:
        dist.init_process_group("nccl" if torch_device.type == "cuda" else "gloo")
        if torch_device.type == "cpu":
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world_size))
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return Runtime(rank, world_size, torch_device)


def sum_across_ranks(tensor: torch.Tensor, runtime: Runtime) -> torch.Tensor:
    """Element-wise sum over all ranks (identity when not distributed)."""
    if runtime.distributed:
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def teardown(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.destroy_process_group()
