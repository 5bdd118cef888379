"""Distributed data parallel on an existing engine: ``torchrun`` + ``torch.distributed``.

Every rank draws the same global batch order and takes its contiguous share of each global
batch; DDP averages gradients, so with each rank's loss weighted by its share (``share_weight``)
a step equals one process on the whole global batch. Feedback matrices are drawn from the run's
seed, hence identical on every rank (and DDP also broadcasts rank 0's buffers at every forward).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: rank, world size and the torch device it computes on."""

    rank: int = 0
    world: int = 1
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_from_env(device: str) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment (gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(0, 1, device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    rank = dist.get_rank()
    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', rank))}"
        torch.cuda.set_device(device)
    return DistInfo(rank, dist.get_world_size(), device)


def wrap(model: nn.Module, info: DistInfo) -> nn.Module:
    """Wrap in DistributedDataParallel when more than one process takes part."""
    if info.world <= 1:
        return model
    ids = [torch.device(info.device).index] if info.device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def shard(batch_indices: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """This rank's contiguous share of a global batch."""
    if info.world <= 1:
        return batch_indices
    return torch.tensor_split(batch_indices, info.world)[info.rank]


def share_weight(local: int, total: int, info: DistInfo) -> float:
    """Factor on this rank's mean loss so that DDP's gradient average is the global batch mean.

    Shares differ by one example when a global batch does not divide by the world size (and are
    empty when it is smaller than the world size); ``local * world / total`` weighs them fairly.
    """
    return 1.0 if info.world <= 1 else local * info.world / total


def sum_over_ranks(value: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``value`` summed over all ranks, on every rank (``value`` itself in one process)."""
    if info.world <= 1:
        return value
    total = value.detach().clone()
    dist.all_reduce(total)
    return total


def barrier(info: DistInfo) -> None:
    if info.world > 1:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.world > 1 and dist.is_initialized():
        dist.destroy_process_group()
