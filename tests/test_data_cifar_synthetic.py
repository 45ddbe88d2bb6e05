"""CIFAR loaders on tiny on-disk fixtures, and the synthetic data source."""

from __future__ import annotations

import pickle
from pathlib import Path, PurePosixPath
from urllib.error import URLError

import pytest
import torch

from fixtures_cifar import CIFAR10_FOLDER, CIFAR100_FOLDER, write_cifar10, write_cifar100, write_pickle
from scenarios.data import DatasetUnavailable, ImageDataset, load_source
from scenarios.data import cifar, synthetic

FOLDERS = {"cifar10": CIFAR10_FOLDER, "cifar100": CIFAR100_FOLDER}


def assert_same(loaded: ImageDataset, expected: ImageDataset) -> None:
    assert loaded.name == expected.name
    assert loaded.class_names == expected.class_names
    for field in ("train_x", "train_y", "test_x", "test_y"):
        got, want = getattr(loaded, field), getattr(expected, field)
        assert got.dtype == want.dtype and got.shape == want.shape, field
        assert torch.equal(got, want), field


def one_line_error(excinfo: pytest.ExceptionInfo[DatasetUnavailable]) -> str:
    message = str(excinfo.value)
    assert "\n" not in message
    return message


# --- CIFAR ------------------------------------------------------------------------------


def test_cifar10_fixture_loads(tmp_path: Path) -> None:
    expected = write_cifar10(tmp_path, n_train_per_batch=4, n_test=6)
    loaded = load_source("cifar10", tmp_path, download=False)
    assert_same(loaded, expected)
    assert loaded.train_x.shape == (20, 3, 32, 32) and loaded.train_x.dtype == torch.uint8
    assert loaded.test_y.shape == (6,) and loaded.test_y.dtype == torch.int64
    assert loaded.class_names[0] == "airplane" and loaded.num_classes == 10


def test_cifar100_fixture_loads(tmp_path: Path) -> None:
    expected = write_cifar100(tmp_path, n_train=8, n_test=6)
    loaded = load_source("cifar100", tmp_path, download=False)
    assert_same(loaded, expected)
    assert loaded.train_x.shape == (8, 3, 32, 32) and loaded.test_x.shape == (6, 3, 32, 32)
    assert loaded.num_classes == 100


def test_cifar_rows_are_red_then_green_then_blue_planes(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    with (tmp_path / CIFAR10_FOLDER / "data_batch_1").open("rb") as file:
        row = pickle.load(file, encoding="latin1")["data"][0]
    image = load_source("cifar10", tmp_path, download=False).train_x[0]
    assert image[1, 0, :].tolist() == row[1024:1056].tolist()  # green plane, first image row
    assert image[2, 31, 31].item() == row[-1]


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_absent_without_download_names_the_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(DatasetUnavailable) as excinfo:
        load_source(name, tmp_path, download=False)
    message = one_line_error(excinfo)
    assert str(tmp_path / FOLDERS[name]) in message and "cs.toronto.edu" in message


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_failed_download_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    calls = []

    def offline(url: str, download_root: str, md5: str) -> None:
        calls.append((url, download_root, md5))
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    with pytest.raises(DatasetUnavailable) as excinfo:
        load_source(name, tmp_path, download=True)
    message = one_line_error(excinfo)
    assert "download failed" in message and "name resolution" in message
    assert str(tmp_path / FOLDERS[name]) in message
    [(url, download_root, md5)] = calls
    assert url.startswith("https://www.cs.toronto.edu/~kriz/") and download_root == str(tmp_path)
    assert len(md5) == 32


def test_truncated_batch_is_corrupt(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    batch = tmp_path / CIFAR10_FOLDER / "data_batch_3"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(DatasetUnavailable) as excinfo:
        load_source("cifar10", tmp_path, download=False)
    message = one_line_error(excinfo)
    assert message.startswith("cifar10: corrupt file") and str(batch) in message
    assert f"delete {tmp_path / CIFAR10_FOLDER}" in message


def test_missing_batch_is_corrupt(tmp_path: Path) -> None:
    write_cifar100(tmp_path)
    (tmp_path / CIFAR100_FOLDER / "test").unlink()
    with pytest.raises(DatasetUnavailable, match="cifar100: corrupt file .*missing"):
        load_source("cifar100", tmp_path, download=False)


@pytest.mark.parametrize(
    "content",
    [
        {"data": torch.zeros(1).numpy(), "labels": [0]},  # wrong dtype and shape
        {"labels": [0, 1]},  # no data
        {"data": torch.zeros(2, 3072, dtype=torch.uint8).numpy(), "labels": [0]},  # label count
        {"data": torch.zeros(1, 3072, dtype=torch.uint8).numpy(), "labels": [10]},  # label range
        [1, 2, 3],  # not a dict
        {"data": PurePosixPath("/"), "labels": []},  # an object the loader must not rebuild
    ],
)
def test_malformed_batch_is_corrupt(tmp_path: Path, content: object) -> None:
    write_cifar10(tmp_path)
    write_pickle(tmp_path / CIFAR10_FOLDER / "test_batch", content)
    with pytest.raises(DatasetUnavailable, match="cifar10: corrupt file .*test_batch"):
        load_source("cifar10", tmp_path, download=False)


# --- synthetic --------------------------------------------------------------------------


def make_synthetic(tmp_path: Path, **options: int) -> ImageDataset:
    settings = dict(num_classes=3, image_size=8, channels=1, train_per_class=5, test_per_class=2)
    return load_source("synthetic", tmp_path, **{**settings, **options})


def test_synthetic_shapes_and_labels(tmp_path: Path) -> None:
    data = make_synthetic(tmp_path, image_size=12, channels=3)
    assert data.train_x.shape == (15, 3, 12, 12) and data.test_x.shape == (6, 3, 12, 12)
    assert data.train_x.dtype == data.test_x.dtype == torch.uint8
    assert data.train_y.dtype == data.test_y.dtype == torch.int64
    assert torch.bincount(data.train_y).tolist() == [5, 5, 5]
    assert torch.bincount(data.test_y).tolist() == [2, 2, 2]
    assert data.class_names == ("class_000", "class_001", "class_002")


def test_synthetic_is_deterministic_per_seed(tmp_path: Path) -> None:
    first, again, other = make_synthetic(tmp_path), make_synthetic(tmp_path), make_synthetic(tmp_path, seed=1)
    for field in ("train_x", "train_y", "test_x", "test_y"):
        assert torch.equal(getattr(first, field), getattr(again, field))
    assert not torch.equal(first.train_x, other.train_x)


def test_synthetic_test_set_does_not_depend_on_train_size(tmp_path: Path) -> None:
    small, large = make_synthetic(tmp_path), make_synthetic(tmp_path, train_per_class=9)
    assert torch.equal(small.test_x, large.test_x) and torch.equal(small.test_y, large.test_y)


def test_synthetic_rejects_empty_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="train_per_class"):
        make_synthetic(tmp_path, train_per_class=0)


def test_synthetic_is_learnable_but_not_trivial(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(synthetic, "_CHUNK_VALUES", 3 * 8 * 8 * 64)  # 64 images per chunk: many chunks
    data = make_synthetic(tmp_path, num_classes=10, channels=3, train_per_class=100, test_per_class=50)

    def features(x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1).double() / 255.0
        return torch.cat([flat, torch.ones(len(flat), 1, dtype=flat.dtype)], dim=1)

    x, targets = features(data.train_x), torch.nn.functional.one_hot(data.train_y).double()
    weights = torch.linalg.solve(x.T @ x + 0.1 * torch.eye(x.shape[1], dtype=x.dtype), x.T @ targets)
    accuracy = (features(data.test_x) @ weights).argmax(1).eq(data.test_y).double().mean().item()
    assert 0.5 < accuracy < 0.99
