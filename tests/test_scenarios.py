"""Data sources and the class-incremental generator."""

import pytest
import torch

from scenarios import PRESETS, apply_overrides, build_scenario, class_incremental_stream, class_order_for, load_source, split_sizes


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_source("digits", tmp_path_factory.mktemp("data"))


def test_digits_is_embedded_and_stratified(digits):
    assert digits.train_x.dtype == torch.uint8 and digits.train_x.shape[1:] == (1, 8, 8)
    assert len(digits.train_y) + len(digits.test_y) == 1797
    assert set(digits.test_y.tolist()) == set(range(10))
    assert digits.train_x.max() == 255


@pytest.mark.parametrize(
    "classes,base,inc,sizes",
    [(100, 0, 10, [10] * 10), (100, 50, 10, [50] + [10] * 5), (10, 0, 2, [2] * 5), (10, 4, 3, [4, 3, 3])],
)
def test_split_sizes(classes, base, inc, sizes):
    assert split_sizes(classes, base, inc) == sizes


def test_split_that_does_not_divide_is_an_error():
    with pytest.raises(ValueError, match="whole steps"):
        split_sizes(10, 0, 3)


def test_stream_relabels_by_seeded_order(digits):
    a = class_incremental_stream(digits, 0, 2, seed=1)
    b = class_incremental_stream(digits, 0, 2, seed=1)
    c = class_incremental_stream(digits, 0, 2, seed=2)
    assert a.class_order == b.class_order != c.class_order
    for step in a.steps:
        assert set(step.y.tolist()) == set(step.classes)
        assert step.task_id == step.index
        original = {a.class_order[c] for c in step.classes}
        mask = torch.isin(digits.train_y, torch.tensor(sorted(original)))
        assert mask.sum() == len(step.y)
    assert sum(len(s.y) for s in a.steps) == len(digits.train_y)
    x, y = a.seen_test_set(1)
    assert set(y.tolist()) == {0, 1, 2, 3}


def test_fixed_order(digits):
    s = class_incremental_stream(digits, 0, 5, seed=7, order="fixed")
    assert s.class_order == tuple(range(10))
    assert [s.classes for s in s.steps] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]


def test_an_order_seed_fixes_the_class_order_whatever_the_run_seed(tmp_path):
    # scenario.order=K: the permutation that order "seed" draws for seed K, for every run seed,
    # stored as given so that class_order_for(options) recomputes it
    streams = [build_scenario(apply_overrides(PRESETS["digits-cil"], {"order": 3}), seed, tmp_path) for seed in (0, 1)]
    assert streams[0].class_order == streams[1].class_order == tuple(class_order_for(10, "seed", 3))
    assert streams[0].class_order != tuple(class_order_for(10, "seed", 0))
    assert streams[0].options["order"] == 3
    assert class_order_for(10, streams[1].options["order"], 1) == list(streams[1].class_order)
    with pytest.raises(ValueError, match="non-negative"):
        class_order_for(10, -1, 0)


def test_b50_inc10_on_synthetic(tmp_path):
    overrides = {"base": 50, "increment": 10, "image_size": 8, "train_per_class": 3, "test_per_class": 2}
    stream = build_scenario(apply_overrides(PRESETS["synthetic-cil"], overrides), 0, tmp_path)
    assert [len(s.classes) for s in stream.steps] == [50, 10, 10, 10, 10, 10]
    assert stream.steps[0].num_seen_classes == 50 and stream.steps[-1].num_seen_classes == 100
    assert stream.input_shape == (3, 8, 8) and len(stream.steps[1].y) == 30


def test_presets_cover_the_named_protocols():
    for name in ["digits-cil", "cifar100-b0inc10", "cifar100-b50inc10", "synthetic-cil"]:
        assert name in PRESETS


def test_digits_are_read_as_scikit_learn_loads_them():
    import numpy as np
    from sklearn.datasets import load_digits

    from scenarios.data.digits import digits_arrays

    pixels, labels = digits_arrays()
    reference = load_digits()
    assert np.array_equal(pixels, reference.images) and np.array_equal(labels, reference.target)
