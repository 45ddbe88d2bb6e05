"""Data sources: one module per dataset, each returning an :class:`ImageDataset`.

Every source returns images as ``uint8`` tensors of shape N×C×H×W and labels as
``int64`` tensors, so one convention holds from the embedded digits to ImageNet-scale
data. Sources register themselves with :func:`data_source`; :func:`load_source` is the
only way the rest of CLUB reaches them.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch


@dataclass(frozen=True)
class ImageDataset:
    """A labelled image dataset with a fixed train/test split.

    Sources whose classes are grouped into super-classes (CIFAR-100's 20 coarse classes)
    also give the coarse label of every sample and the coarse class names.
    """

    name: str
    train_x: torch.Tensor  # uint8, N×C×H×W
    train_y: torch.Tensor  # int64, N
    test_x: torch.Tensor
    test_y: torch.Tensor
    class_names: tuple[str, ...]
    # The name each training sample has in the dataset's own files (e.g. an image path relative
    # to the dataset folder), in the order of ``train_x``; empty when samples are known by
    # position only. Published sample lists (e.g. few-shot session lists) are resolved with it.
    train_ids: tuple[str, ...] = ()
    train_coarse_y: torch.Tensor | None = None  # int64, N: super-class of each training sample
    test_coarse_y: torch.Tensor | None = None
    coarse_class_names: tuple[str, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]


class DatasetUnavailable(RuntimeError):
    """A dataset is missing or corrupt; the message is one line telling the user what to do."""


Loader = Callable[..., ImageDataset]
_SOURCES: dict[str, Loader] = {}
_MADE_BY_CLUB: set[str] = set()  # sources CLUB embeds or generates (see :func:`is_real_source`)
_MODULES = (
    "digits",
    "cifar",
    "mnist",
    "synthetic",
    "imagenet_r",
    "imagenet_a",
    "cub",
    "omnibenchmark",
    "vtab",
    "miniimagenet",
    "fictitious_facts",
    "tofu",
)


def data_source(name: str, *, real: bool = True) -> Callable[[Loader], Loader]:
    """Register ``fn(root: Path, download: bool, **options) -> ImageDataset`` under ``name``.

    ``real=False`` marks data that CLUB itself embeds or generates (the digits, the synthetic
    images, the fictitious-facts miniature): no published recipe exists for them.
    """

    def register(fn: Loader) -> Loader:
        if name in _SOURCES:
            raise ValueError(f"data source {name!r} is already registered")
        _SOURCES[name] = fn
        if not real:
            _MADE_BY_CLUB.add(name)
        return fn

    return register


def _import_sources() -> None:
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


def source_names() -> list[str]:
    """Names of all registered data sources."""
    _import_sources()
    return sorted(_SOURCES)


def is_real_source(name: str) -> bool:
    """Whether ``name`` is a published dataset (CIFAR, CUB, TOFU, ...), as opposed to data CLUB
    embeds or generates. This is the one place that decides it: a preset on a real source is a
    *real preset*, whose method recipes must come from a reference or say they do not."""
    _import_sources()
    if name not in _SOURCES:
        raise KeyError(f"unknown data source {name!r}; choose from {', '.join(sorted(_SOURCES))}")
    return name not in _MADE_BY_CLUB


def load_source(name: str, root: Path, download: bool = True, **options: Any) -> ImageDataset:
    """Load data source ``name`` from (or into) the cache directory ``root``."""
    _import_sources()
    if name not in _SOURCES:
        raise KeyError(f"unknown data source {name!r}; choose from {', '.join(sorted(_SOURCES))}")
    return _SOURCES[name](Path(root), download, **options)
