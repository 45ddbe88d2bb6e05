"""Training utilities shared by every method: batching, optimisers, progress bars."""

from __future__ import annotations

import sys
from typing import Any, Iterable, Iterator, TypeVar

import torch
from tqdm.auto import tqdm

from .base import Diverged
from .data_feed import feed
from .upgd_optimizer import UPGD

T = TypeVar("T")


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, shuffle: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``(x, y)`` moved to ``device``; shuffled with the global torch RNG.
    On CUDA the data is fed by :func:`methods.data_feed.feed` (kept on the device when it fits,
    else gathered ahead into pinned memory).

    In a data-parallel run (several processes under ``torchrun``, see ``benchmarks/distributed.py``)
    a shuffled pass is a training pass: every process takes rank 0's permutation and its own
    slice of each batch (the whole batch when it has fewer samples than processes).
    """
    order = torch.randperm(len(y)) if shuffle else torch.arange(len(y))
    rank, world = _data_parallel_rank() if shuffle else (0, 1)
    if world > 1:
        order = _from_rank_0(order, device)

    def indices() -> Iterator[torch.Tensor]:
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            yield idx.tensor_split(world)[rank] if world > 1 and len(idx) >= world else idx

    yield from feed(x, y, indices(), device)


def _data_parallel_rank() -> tuple[int, int]:
    """``(rank, number of processes)`` of a data-parallel run, ``(0, 1)`` otherwise."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _from_rank_0(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rank 0's value of ``tensor`` on every rank (NCCL broadcasts on the GPU)."""
    on = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    shared = tensor.to(on)
    torch.distributed.broadcast(shared, src=0)
    return shared.cpu()


OPTIMIZERS = ("adam", "adamw", "sgd", "upgd", "upgd-nonprotecting")


def make_optimizer(
    params: Iterable[torch.nn.Parameter],
    name: str,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    **options: Any,
) -> torch.optim.Optimizer:
    """``sgd`` (with momentum), ``adam``, ``adamw``, ``upgd`` or ``upgd-nonprotecting`` over ``params``.

    ``options`` go to the optimiser: ``foreach``/``fused`` to torch's (see
    :func:`methods.acceleration.optimizer_options`), ``beta_utility``/``sigma`` to :class:`UPGD`.
    """
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **options)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **options)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **options)
    if name in ("upgd", "upgd-nonprotecting"):
        return UPGD(params, lr=lr, weight_decay=weight_decay, protect=name == "upgd", **options)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


class FiniteLosses:
    """Whether every loss of a training loop was finite, gathered on the device (no
    synchronisation per batch) and checked once per epoch by :meth:`check`."""

    def __init__(self, device: torch.device) -> None:
        self.finite = torch.ones((), dtype=torch.bool, device=device)

    def add(self, loss: torch.Tensor) -> torch.Tensor:
        """Note ``loss`` (returned unchanged)."""
        self.finite &= torch.isfinite(loss.detach()).all()
        return loss

    def check(self, method: str, where: str) -> None:
        """Raise :class:`~methods.Diverged` if a noted loss was NaN or infinite; ``where`` says
        which part of training it was (e.g. ``"in epoch 3 of 20"``)."""
        if not bool(self.finite):
            raise Diverged(f"method {method!r} diverged: its training loss became NaN or infinite {where} (a smaller learning rate may help)")


def progress(iterable: Iterable[T], desc: str, total: int | None = None) -> Iterable[T]:
    """A transient progress bar on an interactive terminal; the plain iterable otherwise."""
    return tqdm(iterable, desc=desc, total=total, leave=False, dynamic_ncols=True, disable=not sys.stderr.isatty())
