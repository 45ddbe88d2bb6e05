"""Class-incremental splits: ``B{base}-Inc{k}`` (Rebuffi et al. 2017; Hou et al. 2019).

A first step holds ``base`` classes (or ``increment`` classes when ``base`` is 0), and every
later step adds ``increment`` new classes. The class order is a permutation drawn from the
seed, from an order seed of its own (``order=3``: a swept variable independent of the run
seed), or the dataset's own order when ``order="fixed"``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .data import ImageDataset
from .stream import Step, Stream


def class_order_for(num_classes: int, order: str | int | Sequence[int], seed: int) -> list[int]:
    """The dataset labels in the order the stream introduces them.

    ``order`` is ``"seed"`` (a permutation drawn from ``seed``), an integer order seed ``k``
    (the permutation ``"seed"`` draws for seed ``k``, whatever the run's seed), ``"fixed"``
    (0..C-1) or an explicit sequence of all labels.
    """
    if isinstance(order, int) and not isinstance(order, bool):
        if order < 0:
            raise ValueError(f"an order seed must be a non-negative integer, got {order}")
        return class_order_for(num_classes, "seed", order)
    if isinstance(order, str):
        if order == "fixed":
            return list(range(num_classes))
        if order == "seed":
            return [int(c) for c in np.random.default_rng(seed).permutation(num_classes)]
        raise ValueError(f"class order must be 'seed', 'fixed', an order seed or a list of labels, got {order!r}")
    explicit = [int(c) for c in order]
    if sorted(explicit) != list(range(num_classes)):
        raise ValueError(f"an explicit class order must list each of the {num_classes} labels exactly once")
    return explicit


def order_option(order: str | int | Sequence[int]) -> str | int | list[int]:
    """``order`` as a stream stores it in its options (and ``result.json``): a word or an order
    seed as given, an explicit order as a list."""
    return order if isinstance(order, (str, int)) else list(order)


def split_sizes(num_classes: int, base: int, increment: int) -> list[int]:
    """Number of classes per step for ``B{base}-Inc{increment}``."""
    if increment <= 0 or base < 0 or base > num_classes:
        raise ValueError(f"invalid split B{base}-Inc{increment} for {num_classes} classes")
    first = base if base > 0 else increment
    rest = num_classes - first
    if first > num_classes or rest % increment:
        raise ValueError(f"B{base}-Inc{increment} does not divide {num_classes} classes into whole steps")
    return [first] + [increment] * (rest // increment)


def class_incremental_stream(
    dataset: ImageDataset,
    base: int,
    increment: int,
    seed: int,
    order: str | int | Sequence[int] = "seed",
    name: str | None = None,
) -> Stream:
    """Split ``dataset`` into a class-incremental stream and relabel to incremental ids."""
    sizes = split_sizes(dataset.num_classes, base, increment)
    class_order = class_order_for(dataset.num_classes, order, seed)
    relabel = torch.empty(dataset.num_classes, dtype=torch.int64)
    relabel[torch.tensor(class_order)] = torch.arange(dataset.num_classes)
    train_y = relabel[dataset.train_y]
    steps: list[Step] = []
    start = 0
    for index, size in enumerate(sizes):
        mask = (train_y >= start) & (train_y < start + size)
        steps.append(
            Step(
                index=index,
                kind="learn",
                x=dataset.train_x[mask],
                y=train_y[mask],
                classes=tuple(range(start, start + size)),
                task_id=index,
                num_seen_classes=start + size,
            )
        )
        start += size
    return Stream(
        name=name or f"{dataset.name}-b{base}inc{increment}",
        source=dataset.name,
        protocol="class_incremental",
        steps=steps,
        test_x=dataset.test_x,
        test_y=relabel[dataset.test_y],
        class_order=tuple(class_order),
        class_names=tuple(dataset.class_names[c] for c in class_order),
        options={"base": base, "increment": increment, "order": order_option(order)},
    )
