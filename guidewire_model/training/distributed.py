"""A thin layer over :mod:`torch.distributed` for runs started by ``torchrun``.

``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``;
:func:`init_from_env` reads them and joins the process group (NCCL on CUDA, Gloo on CPU). Without
them the program runs as a single process and every helper here degrades to the identity, so the
training code has one path for one and many processes.

Scale-out itself is PyTorch's: ``DistributedDataParallel`` averages gradients and
``DistributedSampler`` shards the training set; this module only adds the few collectives the
metrics need.
"""

from __future__ import annotations

import os
from typing import TypeVar

import numpy as np
import torch
import torch.distributed as dist

__all__ = [
    "all_gather_object",
    "all_reduce_sum",
    "barrier",
    "init_from_env",
    "is_distributed",
    "is_main",
    "local_rank",
    "rank",
    "shutdown",
    "world_size",
]

A = TypeVar("A", np.ndarray, torch.Tensor)


def init_from_env(device: str = "auto") -> torch.device:
    """Join the process group described by torchrun's environment, if any.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``auto`` picks CUDA when available. With CUDA each process takes GPU ``LOCAL_RANK``.

    Returns
    -------
    torch.device
        The device this process computes on.

    Raises
    ------
    RuntimeError
        If ``cuda`` is requested but unavailable, or the environment is incomplete.
    """
    use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available; set device: cpu or auto")
    env_world = int(os.environ.get("WORLD_SIZE", "1"))
    if "RANK" in os.environ and env_world > 1 and not dist.is_initialized():
        missing = [k for k in ("MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
        if missing:
            raise RuntimeError(f"distributed run without {missing}; start it with torchrun")
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            # Bind the GPU before init so NCCL does not put every rank's context on GPU 0.
            torch.cuda.set_device(local_rank())
        dist.init_process_group(backend=backend)
    if use_cuda:
        return torch.device("cuda", local_rank())
    return torch.device("cpu")


def is_distributed() -> bool:
    """True inside an initialised process group with more than one rank."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    """Global rank of this process (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def local_rank() -> int:
    """Rank on this machine, from torchrun's ``LOCAL_RANK`` (0 when unset)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """True on the one process that writes checkpoints, logs and TensorBoard."""
    return rank() == 0


def _collective_device() -> torch.device:
    # NCCL reduces only CUDA tensors; Gloo only CPU tensors.
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(value: A) -> A:
    """Element-wise sum of ``value`` over all ranks.

    Parameters
    ----------
    value : ndarray or Tensor
        Same shape and dtype on every rank. Integer arrays are reduced as int64, so pixel
        counts stay exact (no float rounding).

    Returns
    -------
    ndarray or Tensor
        Same type, shape and dtype as ``value``; a copy, ``value`` is not modified.
    """
    if isinstance(value, np.ndarray):
        if not is_distributed():
            return value.copy()
        work_dtype = np.int64 if np.issubdtype(value.dtype, np.integer) else np.float64
        t = torch.from_numpy(np.ascontiguousarray(value, dtype=work_dtype)).to(_collective_device())
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.cpu().numpy().astype(value.dtype)
    if isinstance(value, torch.Tensor):
        if not is_distributed():
            return value.clone()
        t = value.detach().to(_collective_device()).clone()
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.to(value.device)
    raise TypeError(f"all_reduce_sum takes a numpy array or torch.Tensor, got {type(value).__name__}")


def all_gather_object(obj: object) -> list:
    """Picklable ``obj`` from every rank, in rank order (``[obj]`` when not distributed)."""
    if not is_distributed():
        return [obj]
    out: list = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def barrier() -> None:
    """Wait for all ranks (no-op when not distributed)."""
    if is_distributed():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def shutdown() -> None:
    """Leave the process group (no-op when not distributed)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
