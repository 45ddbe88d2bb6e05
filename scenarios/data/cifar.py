"""CIFAR-10 and CIFAR-100, read from the "python version" pickle batches.

The archives come from https://www.cs.toronto.edu/~kriz/cifar.html. Each batch file
is a pickled dict whose ``data`` entry is an N×3072 ``uint8`` array (1,024 red, then
1,024 green, then 1,024 blue values per row, each plane row-major over 32×32), so a
plain reshape gives N×3×32×32. torchvision is used only to download and unpack the
archive; the batches are parsed here so that a local copy needs no checksum match.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import DatasetUnavailable, ImageDataset, data_source
from .downloads import download_and_extract_archive

_HOME_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
_URL_BASE = "https://www.cs.toronto.edu/~kriz/"
_SIDE = 32
_ROW_BYTES = 3 * _SIDE * _SIDE


@dataclass(frozen=True)
class _CifarLayout:
    """Where one CIFAR variant lives on disk and which pickle keys hold what."""

    name: str
    archive: str
    archive_md5: str
    folder: str
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str
    num_classes: int
    coarse_label_key: str | None = None  # CIFAR-100's super-class labels
    coarse_names_key: str | None = None
    num_coarse_classes: int = 0


# Archive names and md5s as in torchvision 0.29 (torchvision/datasets/cifar.py).
_CIFAR10 = _CifarLayout(
    name="cifar10",
    archive="cifar-10-python.tar.gz",
    archive_md5="c58f30108f718f92721af3b95e74349a",
    folder="cifar-10-batches-py",
    train_files=tuple(f"data_batch_{i}" for i in range(1, 6)),
    test_file="test_batch",
    meta_file="batches.meta",
    label_key="labels",
    names_key="label_names",
    num_classes=10,
)
_CIFAR100 = _CifarLayout(
    name="cifar100",
    archive="cifar-100-python.tar.gz",
    archive_md5="eb9058c3a382ffc7106e4002c42a8d85",
    folder="cifar-100-python",
    train_files=("train",),
    test_file="test",
    meta_file="meta",
    label_key="fine_labels",
    names_key="fine_label_names",
    num_classes=100,
    coarse_label_key="coarse_labels",
    coarse_names_key="coarse_label_names",
    num_coarse_classes=20,
)


@data_source("cifar10")
def load_cifar10(root: Path, download: bool = True) -> ImageDataset:
    """CIFAR-10: 50,000 train and 10,000 test 3×32×32 images in 10 classes."""
    return _load(_CIFAR10, Path(root), download)


@data_source("cifar100")
def load_cifar100(root: Path, download: bool = True) -> ImageDataset:
    """CIFAR-100: 50,000 train and 10,000 test 3×32×32 images in 100 fine classes.

    The 20 super-classes ("coarse labels", the CIFAR-20 of the unlearning literature) come
    as ``train_coarse_y``/``test_coarse_y`` and ``coarse_class_names``.
    """
    return _load(_CIFAR100, Path(root), download)


def _load(layout: _CifarLayout, root: Path, download: bool) -> ImageDataset:
    folder = root / layout.folder
    if not folder.is_dir():
        _fetch(layout, root, download)
    class_names = _read_names(layout, folder, layout.names_key, layout.num_classes)
    train_x, train_y, train_coarse_y = _read_batches(layout, [folder / f for f in layout.train_files])
    test_x, test_y, test_coarse_y = _read_batches(layout, [folder / layout.test_file])
    coarse_names = None
    if layout.coarse_names_key is not None:
        coarse_names = _read_names(layout, folder, layout.coarse_names_key, layout.num_coarse_classes)
    return ImageDataset(
        name=layout.name,
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=class_names,
        train_coarse_y=train_coarse_y,
        test_coarse_y=test_coarse_y,
        coarse_class_names=coarse_names,
    )


def _fetch(layout: _CifarLayout, root: Path, download: bool) -> None:
    """Download and unpack the archive into ``root``, or say how to put it there."""
    how_to = f"put {layout.archive} extracted as {root / layout.folder} (from {_HOME_PAGE})"
    if not download:
        raise DatasetUnavailable(f"{layout.name}: not found in {root} and download is off; {how_to}")
    try:
        download_and_extract_archive(_URL_BASE + layout.archive, download_root=str(root), md5=layout.archive_md5)
    except Exception as error:  # offline, HTTP error, checksum mismatch, bad archive: all mean "not here"
        raise DatasetUnavailable(
            f"{layout.name}: not found in {root} and download failed ({_short(error)}); {how_to}"
        ) from error


def _read_names(layout: _CifarLayout, folder: Path, key: str, count: int) -> tuple[str, ...]:
    path = folder / layout.meta_file
    names = _unpickle(layout, path).get(key)
    if not isinstance(names, list) or len(names) != count or not all(isinstance(n, str) for n in names):
        raise _corrupt(layout, path, f"'{key}' is not a list of {count} names")
    return tuple(names)


def _read_batches(layout: _CifarLayout, paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Concatenate batch files into (N×3×32×32 uint8 images, N int64 labels, N coarse labels or None)."""
    images, labels, coarse = zip(*(_read_batch(layout, path) for path in paths))
    x = torch.from_numpy(np.concatenate(images)).reshape(-1, 3, _SIDE, _SIDE)
    y = torch.from_numpy(np.concatenate(labels))
    coarse_y = None if layout.coarse_label_key is None else torch.from_numpy(np.concatenate(coarse))
    return x, y, coarse_y


def _read_batch(layout: _CifarLayout, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    batch = _unpickle(layout, path)
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != _ROW_BYTES:
        raise _corrupt(layout, path, f"'data' is not an N×{_ROW_BYTES} uint8 array")
    labels = _read_labels(layout, path, batch, layout.label_key, len(data), layout.num_classes)
    coarse = None
    if layout.coarse_label_key is not None:
        coarse = _read_labels(layout, path, batch, layout.coarse_label_key, len(data), layout.num_coarse_classes)
    return data, labels, coarse


def _read_labels(layout: _CifarLayout, path: Path, batch: dict[str, Any], key: str, n: int, num_classes: int) -> np.ndarray:
    labels = batch.get(key)
    if not isinstance(labels, list) or len(labels) != n:
        raise _corrupt(layout, path, f"'{key}' is not a list of {n} labels")
    label_array = np.asarray(labels, dtype=np.int64)
    if label_array.size and (label_array.min() < 0 or label_array.max() >= num_classes):
        raise _corrupt(layout, path, f"'{key}' has labels outside 0..{num_classes - 1}")
    return label_array


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, so a planted file cannot run code."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),  # the original Python 2 files
        ("numpy._core.multiarray", "_reconstruct"),  # files rewritten by numpy >= 2
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"unexpected object {module}.{name}")
        return super().find_class(module, name)


def _unpickle(layout: _CifarLayout, path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            content = _ArrayUnpickler(file, encoding="latin1").load()
    except FileNotFoundError as error:
        raise _corrupt(layout, path, "file is missing") from error
    except Exception as error:  # a damaged pickle can fail with almost any exception type
        raise _corrupt(layout, path, _short(error)) from error
    if not isinstance(content, dict):
        raise _corrupt(layout, path, f"holds a {type(content).__name__}, not a dict")
    return content


def _corrupt(layout: _CifarLayout, path: Path, reason: str) -> DatasetUnavailable:
    return DatasetUnavailable(
        f"{layout.name}: corrupt file {path} ({reason}); delete {path.parent} and download again"
    )


def _short(error: BaseException, limit: int = 160) -> str:
    """The error as one line of at most ``limit`` characters."""
    text = " ".join(f"{type(error).__name__}: {error}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
