"""Outputs of a frozen network, kept by image content so that an image is passed through it once.

A method whose prediction starts with a network that no longer changes (EASE's finished
subspaces, the frozen ViT that SimpleCIL, LoRA's routing and L2P's query read, PEC's teacher)
asks :class:`FeatureCache` for that network's output instead of computing it: the test set is
the same at every evaluation, so each test image is passed through each frozen network once in
a run instead of once per evaluation.

An image is recognised by its content, not by the tensor it arrives in (evaluation batches are
new tensors each time): its key is three integer dot products of its pixels (uint8) with fixed
pseudo-random integer weights below 2²³, computed exactly in float64 on the image's device (the
products and their sums stay below 2⁵³). Two different images get the same key only if all
three weighted sums agree, a chance below 2⁻⁶⁹ per pair of images. The keys are read to the
host once per batch (one synchronisation), and shared by every cache the batch is looked up in.

A cache returns the outputs that were computed for those images, possibly in another batch;
on the CPU and in float32 a network's output for one image does not depend on its batch
neighbours up to the last bits, which tests check leave every prediction unchanged. Caches are
transient: a checkpoint stores an empty one (``__reduce__``), and a resumed run fills it again.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

_KEYS = 3
_SEED = 20240601


_WEIGHTS: dict[tuple[int, str], torch.Tensor] = {}


def content_keys(x: torch.Tensor) -> list[tuple[int, ...]]:
    """The content key of each image of ``x`` (uint8, N × …): the same for equal pixels in every
    cache, so one computation serves all the caches a batch is looked up in."""
    if x.dtype != torch.uint8:
        raise TypeError(f"FeatureCache keys images by their uint8 pixels, got {x.dtype}")
    flat = x.reshape(len(x), -1)
    weights = _weights_for(flat.shape[1], x.device)
    sums = [flat[i : i + 64].double() @ weights for i in range(0, len(flat), 64)]  # 64 images at a time: small float64 copies
    return [tuple(v) for v in torch.cat(sums).long().tolist()] if sums else []


def _weights_for(n: int, device: torch.device) -> torch.Tensor:
    key = (n, str(device))
    if key not in _WEIGHTS:
        bits = min(23, 53 - 8 - math.ceil(math.log2(max(n, 2))))  # Σ 255·w over n pixels stays below 2⁵³
        generator = torch.Generator().manual_seed(_SEED)
        _WEIGHTS[key] = torch.randint(1, 2**bits, (n, _KEYS), generator=generator, dtype=torch.float64).to(device)
    return _WEIGHTS[key]


class FeatureCache:
    """``cache(x, compute)``: ``compute(x)`` (N × …), computed only for images of ``x`` (uint8,
    N × C × H × W) not seen before; the rows of the others come from the cache. ``keys``
    (:func:`content_keys` of ``x``) may be given when several caches look up the same batch."""

    def __init__(self) -> None:
        self._rows: dict[tuple[int, ...], int] = {}
        self._store: torch.Tensor | None = None
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __reduce__(self) -> tuple:
        return (FeatureCache, ())

    def clear(self) -> None:
        """Forget every output (the network changed)."""
        self.__init__()

    def __call__(
        self, x: torch.Tensor, compute: Callable[[torch.Tensor], torch.Tensor], keys: list[tuple[int, ...]] | None = None
    ) -> torch.Tensor:
        if len(x) == 0:
            return compute(x)
        keys = content_keys(x) if keys is None else keys
        rows = [self._rows.get(k, -1) for k in keys]
        missing = [i for i, r in enumerate(rows) if r < 0]
        if missing:
            fresh = compute(x if len(missing) == len(x) else x[torch.tensor(missing, device=x.device)]).detach()
            first = self._append(fresh)
            for offset, i in enumerate(missing):
                rows[i] = self._rows.setdefault(keys[i], first + offset)
        assert self._store is not None
        return self._store[torch.tensor(rows, device=self._store.device)]

    def _append(self, values: torch.Tensor) -> int:
        """Store ``values`` (rows) after the ones kept; returns the row of the first."""
        need = self._size + len(values)
        if self._store is None or need > len(self._store) or self._store.shape[1:] != values.shape[1:]:
            if self._store is not None and self._store.shape[1:] != values.shape[1:]:
                raise ValueError(f"FeatureCache holds outputs of shape {tuple(self._store.shape[1:])}, got {tuple(values.shape[1:])}")
            grown = torch.empty((max(need, 2 * self._size, 64), *values.shape[1:]), dtype=values.dtype, device=values.device)
            if self._store is not None:
                grown[: self._size] = self._store[: self._size]
            self._store = grown
        self._store[self._size : need] = values
        first, self._size = self._size, need
        return first
