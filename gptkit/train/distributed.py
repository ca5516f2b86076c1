"""Process groups, model wrapping (DDP / FSDP2) and small collectives for ``gptkit train``.

The same command runs alone or under ``torchrun``: the launcher's environment variables
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``…) decide. CUDA uses NCCL, CPU uses gloo.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from gptkit.errors import UsageError
from gptkit.model.gpt import GPT


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    mode: str = "none"  # "none" | "ddp" | "fsdp"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_distributed(mode: str, device_type: str) -> DistInfo:
    """Join the process group that ``torchrun`` set up (or stay single-process).

    ``mode`` is the config's ``distributed``: ``auto`` means DDP when launched with more than one
    process. Asking for ``ddp``/``fsdp`` without a launcher is a usage error.
    """
    world = launched_world_size()
    if world == 1:
        if mode in ("ddp", "fsdp"):
            # A 1-process group still exercises the wrapper (useful for FSDP's sharded state).
            if "MASTER_ADDR" not in os.environ:
                raise UsageError(f"distributed={mode} needs a launcher: run under torchrun (see docs/distributed.md)")
        else:
            return DistInfo()
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if mode == "none":
        raise UsageError("distributed=none but launched with several processes (WORLD_SIZE > 1)")
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(rank, local_rank, world, "ddp" if mode == "auto" else mode)


def shutdown(info: DistInfo) -> None:
    if info.mode != "none" and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """DDP or FSDP2 (``fully_shard`` on every transformer block, on every GPT inside ``model`` so it
    can run alone, as sampling does, then on the root) as configured."""
    if info.mode == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if info.mode == "fsdp":
        from torch.distributed.fsdp import fully_shard

        # The logits are a slice of the padded vocabulary (a view); the trainer never edits them in place.
        warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
        for layer in _blocks(model):
            fully_shard(layer)
        for gpt in [m for m in model.modules() if isinstance(m, GPT) and m is not model]:
            fully_shard(gpt)
        fully_shard(model)
    return model


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The model's repeated transformer blocks (the natural FSDP units)."""
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) > 0:
            return list(module)
    return []


@contextlib.contextmanager
def grad_sync(model: torch.nn.Module, info: DistInfo, sync: bool) -> Iterator[None]:
    """Skip the gradient all-reduce on non-final micro-steps of gradient accumulation."""
    if sync or info.mode == "none":
        yield
    elif info.mode == "ddp":
        with model.no_sync():
            yield
    else:  # fsdp2
        model.set_requires_gradient_sync(False)
        try:
            yield
        finally:
            model.set_requires_gradient_sync(True)


def all_reduce_mean(value: float | torch.Tensor, info: DistInfo) -> float:
    """Mean of a scalar over all processes (the value itself when single-process)."""
    t = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if info.active:
        t = t.to(_comm_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= info.world_size
    return float(t.item())


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj`` (JSON-like), in rank order, on every process."""
    if not info.active:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(info: DistInfo) -> None:
    if info.active:
        dist.barrier()


def _comm_device() -> torch.device:
    backend = dist.get_backend()
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
