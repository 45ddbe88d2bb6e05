"""Tiny CIFAR-10/100 folders in the exact on-disk format of the "python version" archives.

The real batch files are Python 2 pickles (protocol 2) of dicts whose keys load as ``str``
with ``encoding="latin1"``; ``data`` is an N×3072 ``uint8`` array (red, green, blue planes
of 32×32 each) and labels are lists of ``int``. These writers produce the same keys,
types and row shapes with a handful of rows, and return what they wrote.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scenarios.data import ImageDataset

ROW_BYTES = 3 * 32 * 32
CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR100_FOLDER = "cifar-100-python"
CIFAR10_LABEL_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR100_FINE_NAMES = tuple(f"fine_{k:02d}" for k in range(100))
CIFAR100_COARSE_NAMES = tuple(f"coarse_{k:02d}" for k in range(20))


def write_pickle(path: Path, content: Any) -> None:
    """Pickle ``content`` to ``path`` with protocol 2, like the original files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        pickle.dump(content, file, protocol=2)


def write_cifar10(root: Path, n_train_per_batch: int = 4, n_test: int = 6, seed: int = 0) -> ImageDataset:
    """Write ``root/cifar-10-batches-py`` (5 train batches, test batch, meta); return its content."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / CIFAR10_FOLDER
    train = [_rows(rng, n_train_per_batch, 10) for _ in range(5)]
    test = _rows(rng, n_test, 10)
    for i, (data, labels) in enumerate(train, start=1):
        write_pickle(folder / f"data_batch_{i}", _cifar10_batch(f"training batch {i} of 5", data, labels))
    write_pickle(folder / "test_batch", _cifar10_batch("testing batch 1 of 1", *test))
    write_pickle(
        folder / "batches.meta",
        {"num_cases_per_batch": n_train_per_batch, "label_names": list(CIFAR10_LABEL_NAMES), "num_vis": ROW_BYTES},
    )
    train_data = np.concatenate([data for data, _ in train])
    train_labels = [label for _, labels in train for label in labels]
    return _expected("cifar10", (train_data, train_labels), test, CIFAR10_LABEL_NAMES)


def write_cifar100(root: Path, n_train: int = 8, n_test: int = 6, seed: int = 0) -> ImageDataset:
    """Write ``root/cifar-100-python`` (train, test, meta); return its content."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / CIFAR100_FOLDER
    train, test = _rows(rng, n_train, 100), _rows(rng, n_test, 100)
    write_pickle(folder / "train", _cifar100_batch("training batch 1 of 1", *train))
    write_pickle(folder / "test", _cifar100_batch("testing batch 1 of 1", *test))
    write_pickle(
        folder / "meta",
        {"fine_label_names": list(CIFAR100_FINE_NAMES), "coarse_label_names": list(CIFAR100_COARSE_NAMES)},
    )
    return _expected("cifar100", train, test, CIFAR100_FINE_NAMES)


def _rows(rng: np.random.Generator, n: int, num_classes: int) -> tuple[np.ndarray, list[int]]:
    data = rng.integers(0, 256, size=(n, ROW_BYTES), dtype=np.uint8)
    labels = [int(label) for label in rng.integers(0, num_classes, size=n)]
    return data, labels


def _filenames(data: np.ndarray) -> list[str]:
    return [f"image_{i:05d}.png" for i in range(len(data))]


def _cifar10_batch(batch_label: str, data: np.ndarray, labels: list[int]) -> dict[str, Any]:
    return {"batch_label": batch_label, "labels": labels, "data": data, "filenames": _filenames(data)}


def _cifar100_batch(batch_label: str, data: np.ndarray, fine_labels: list[int]) -> dict[str, Any]:
    return {
        "filenames": _filenames(data),
        "batch_label": batch_label,
        "fine_labels": fine_labels,
        "coarse_labels": [label // 5 for label in fine_labels],
        "data": data,
    }


def _expected(
    name: str,
    train: tuple[np.ndarray, list[int]],
    test: tuple[np.ndarray, list[int]],
    class_names: tuple[str, ...],
) -> ImageDataset:
    def images(data: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(data.copy()).reshape(-1, 3, 32, 32)

    return ImageDataset(
        name=name,
        train_x=images(train[0]),
        train_y=torch.tensor(train[1], dtype=torch.int64),
        test_x=images(test[0]),
        test_y=torch.tensor(test[1], dtype=torch.int64),
        class_names=class_names,
    )
