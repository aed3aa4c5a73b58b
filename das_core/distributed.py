"""Data-parallel helpers for `torchrun`: process group set-up, DDP wrapping, rank queries.

`fit` calls `init_from_env` first: when `WORLD_SIZE > 1` (set by torchrun) it joins the process
group (NCCL on CUDA, gloo on CPU). Outside torchrun every helper is a cheap no-op, so the same
code path serves one process and many.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

__all__ = ["is_distributed", "init_from_env", "rank", "local_rank", "world_size", "is_main", "barrier",
           "wrap_ddp", "mean_across_ranks", "param_checksum"]


def is_distributed() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str = "auto") -> None:
    """Join the torchrun process group once (no-op without torchrun or when already joined)."""
    if not is_distributed() or (dist.is_available() and dist.is_initialized()):
        return
    use_cuda = torch.cuda.is_available() and device in ("auto", "cuda") or str(device).startswith("cuda")
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if _active() else 0


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if _active():
        dist.barrier()


def wrap_ddp(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` (device_ids on CUDA)."""
    if device.type == "cuda":
        return DDP(module, device_ids=[device.index], find_unused_parameters=True)
    return DDP(module, find_unused_parameters=True)


def mean_across_ranks(value: float, device: torch.device) -> float:
    """The mean of a python number over all ranks (the value itself outside DDP)."""
    if not _active():
        return float(value)
    t = torch.tensor([float(value)], dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t)
    return float(t.item() / world_size())


def param_checksum(model: nn.Module) -> float:
    """Sum of all parameters (float64): equal on every rank when DDP kept them in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum().item() for p in model.parameters()))
