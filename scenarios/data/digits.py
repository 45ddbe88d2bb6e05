"""scikit-learn's bundled 8×8 handwritten digits: the embedded default, no network needed."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np
import torch

from . import ImageDataset, data_source


@data_source("digits", real=False)
def load_digits(root: Path, download: bool = True, test_fraction: float = 0.2, split_seed: int = 0) -> ImageDataset:
    """1,797 grey 8×8 digits (values 0..16 scaled to 0..255), split per class into train/test.

    The split is stratified and fixed by ``split_seed`` (not by the run seed), so every
    run and every method sees the same test set.

    Super-classes (for sub-class forgetting, the way CIFAR-20 groups CIFAR-100) are the five
    pairs of consecutive digits: coarse label = digit // 2, named "0-1", "2-3", ..., "8-9".
    The grouping is a convention of CLUB, not part of the dataset.
    """
    pixels, labels = digits_arrays()
    images = np.rint(pixels * (255.0 / 16.0)).astype(np.uint8)[:, None]
    rng = np.random.default_rng(split_seed)
    test_mask = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_test = int(round(len(idx) * test_fraction))
        test_mask[rng.choice(idx, size=n_test, replace=False)] = True
    x, y = torch.from_numpy(images), torch.from_numpy(labels)
    mask = torch.from_numpy(test_mask)
    train_y, test_y = y[~mask].contiguous(), y[mask].contiguous()
    return ImageDataset(
        name="digits",
        train_x=x[~mask].contiguous(),
        train_y=train_y,
        test_x=x[mask].contiguous(),
        test_y=test_y,
        class_names=tuple(str(c) for c in range(10)),
        train_coarse_y=train_y // 2,
        test_coarse_y=test_y // 2,
        coarse_class_names=tuple(f"{2 * k}-{2 * k + 1}" for k in range(5)),
    )


def digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The digits as scikit-learn ships them: pixels (1797×8×8, float 0..16) and labels (int64).

    Read straight from scikit-learn's bundled ``datasets/data/digits.csv.gz`` (one row per image,
    64 pixels then the label), as ``sklearn.datasets.load_digits`` reads it, but without
    importing scikit-learn (2 s); ``load_digits`` itself when the file is not where expected.
    """
    spec = importlib.util.find_spec("sklearn")  # finds the package without importing it
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = next((Path(f) / "datasets" / "data" / "digits.csv.gz" for f in folders if (Path(f) / "datasets" / "data" / "digits.csv.gz").is_file()), None)
    if path is None:
        from sklearn.datasets import load_digits as sk_load_digits

        bunch = sk_load_digits()
        return bunch.images, bunch.target.astype(np.int64)
    with gzip.open(path, "rt") as f:
        data = np.loadtxt(f, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)
