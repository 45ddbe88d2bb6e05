"""Training utilities shared by every method: batching, optimisers, progress bars."""

from __future__ import annotations

import sys
from typing import Iterable, Iterator, TypeVar

import torch
from tqdm.auto import tqdm

from .base import Diverged
from .upgd_optimizer import UPGD

T = TypeVar("T")


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device, shuffle: bool = True
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``(x, y)`` moved to ``device``; shuffled with the global torch RNG."""
    order = torch.randperm(len(y)) if shuffle else torch.arange(len(y))
    for start in range(0, len(y), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx].to(device, non_blocking=True), y[idx].to(device, non_blocking=True)


OPTIMIZERS = ("adam", "adamw", "sgd", "upgd", "upgd-nonprotecting")


def make_optimizer(
    params: Iterable[torch.nn.Parameter],
    name: str,
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    **upgd_options: float,
) -> torch.optim.Optimizer:
    """``sgd`` (with momentum), ``adam``, ``adamw``, ``upgd`` or ``upgd-nonprotecting`` over ``params``.

    ``upgd_options`` (``beta_utility``, ``sigma``) go to :class:`UPGD` only; without them it
    uses its defaults.
    """
    params = [p for p in params if p.requires_grad]
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name in ("upgd", "upgd-nonprotecting"):
        return UPGD(params, lr=lr, weight_decay=weight_decay, protect=name == "upgd", **upgd_options)
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
