"""Caches that must never change a result: every method gives the same predictions with and
without them, and each frozen network sees an image once."""

import math
import pickle

import pytest
import torch
import torch.nn.functional as F

from methods import StreamInfo, get_method
from methods.ease import prototype_complement
from methods.feature_cache import FeatureCache, content_keys
from scenarios import PRESETS, build_scenario

DIGITS = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return build_scenario(PRESETS["digits-cil"], seed=0, data_dir=".")


def test_feature_cache_computes_each_image_once_and_returns_its_own_row():
    images = torch.randint(0, 256, (40, 3, 8, 8), dtype=torch.uint8)
    images[7] = images[3]  # the same content in two places
    seen: list[int] = []

    def network(x: torch.Tensor) -> torch.Tensor:
        seen.append(len(x))
        return x.float().flatten(1).sum(1, keepdim=True) * torch.arange(1, 4)

    cache = FeatureCache()
    first = cache(images[:25], network)
    again = cache(images[10:40], network)  # 15 known, 15 new
    assert seen == [25, 15]
    assert torch.equal(first, network(images[:25])) and torch.equal(again, network(images[10:40]))
    changed = images[:1].clone()
    changed[0, 2, 7, 7] ^= 1  # one bit of one pixel: another image
    assert content_keys(changed) != content_keys(images[:1])
    assert len(pickle.loads(pickle.dumps(cache))) == 0 < len(cache)  # checkpoints hold an empty cache


def _bypass(monkeypatch):
    monkeypatch.setattr(FeatureCache, "__call__", lambda self, x, compute, keys=None: compute(x))


def _run(name: str, digits, steps: int, **settings) -> tuple[list[torch.Tensor], object]:
    torch.manual_seed(0)
    method = get_method(name)(DIGITS, CPU, **settings)
    predictions = []
    for step in digits.steps[:steps]:
        method.learn(step)
        with torch.no_grad():
            seen = digits.test_y < step.num_seen_classes
            for _ in range(2):  # the second evaluation reads every feature from the caches
                logits = torch.cat([method.predict(x) for x in digits.test_x[seen].split(128)])
            predictions.append(logits)
    return predictions, method


@pytest.mark.parametrize(
    "name,settings",
    [
        ("ease", {"epochs": 1}),
        ("ease", {"epochs": 1, "use_init_ptm": True}),
        ("lora", {"epochs": 1}),
        ("simplecil", {}),
        ("nmc", {"train_first_step": True, "epochs": 2}),
        ("l2p", {"epochs": 2}),  # training reads cached queries too (no augmentation on digits)
        ("pec", {}),
    ],
)
def test_predictions_are_the_same_with_and_without_the_caches(name, settings, digits, monkeypatch):
    cached, method = _run(name, digits, 3, **settings)
    caches = [v for v in vars(method).values() if isinstance(v, FeatureCache)]
    caches += [c for v in vars(method).values() if isinstance(v, dict) for c in v.values() if isinstance(c, FeatureCache)]
    assert caches and all(0 < len(c) for c in caches)
    _bypass(monkeypatch)
    plain, _ = _run(name, digits, 3, **settings)
    for a, b in zip(cached, plain):
        assert torch.equal(a.argmax(1), b.argmax(1))
        assert torch.allclose(a, b, atol=1e-5)


def test_l2p_computes_a_steps_queries_once_in_large_batches_before_training(digits):
    torch.manual_seed(0)
    method = get_method("l2p")(DIGITS, CPU, epochs=2)
    sizes, query = [], method.query
    method.query = lambda x: sizes.append(len(x)) or query(x)
    step = digits.steps[0]
    method.learn(step)
    assert sum(sizes) == len(set(content_keys(step.x))) and len(sizes) == math.ceil(len(step.y) / 256)


def test_ease_passes_each_test_image_once_through_each_finished_subspace(digits):
    _, method = _run("ease", digits, 3, epochs=1)
    seen = int((digits.test_y < digits.steps[2].num_seen_classes).sum())
    first_step = int((digits.test_y < digits.steps[0].num_seen_classes).sum())
    assert {task: len(cache) for task, cache in method.feature_caches.items()} == {0: seen, 1: seen, 2: seen}
    assert seen > first_step


def _complement_by_loops(protos: torch.Tensor, class_task: torch.Tensor) -> torch.Tensor:
    """The complement written as loops over (j, i) pairs with index lists: the definition."""
    out = protos.clone()
    for j in range(1, protos.shape[0]):
        donors = (class_task >= j).nonzero().flatten()
        for i in range(j):
            old = (class_task == i).nonzero().flatten()
            if len(old) and len(donors):
                sim = F.normalize(protos[i, old], dim=1) @ F.normalize(protos[i, donors], dim=1).T
                out[j, old] = sim.softmax(dim=1) @ protos[j, donors]
    return out


def test_ease_complement_at_once_equals_the_pairwise_definition():
    torch.manual_seed(0)
    for tasks, classes in [(1, 4), (3, 6), (6, 30), (20, 100)]:
        class_task = torch.randint(0, tasks, (classes,))
        if tasks > 2:
            class_task[: classes // 5] = -1  # dropped tasks' classes
        protos = torch.randn(tasks, classes, 16)
        for j in range(tasks):
            protos[j, class_task < j] = 0  # no real prototype there
        assert torch.allclose(prototype_complement(protos, class_task), _complement_by_loops(protos, class_task), atol=1e-6)


def test_ease_completes_its_prototypes_once_per_step(digits, monkeypatch):
    import methods.ease as ease

    torch.manual_seed(0)
    method = get_method("ease")(DIGITS, CPU, epochs=1)
    calls = []
    monkeypatch.setattr(ease, "prototype_complement", lambda *a: calls.append(1) or _complement_by_loops(*a))
    for step in digits.steps[:2]:
        method.learn(step)
        with torch.no_grad():
            for x in digits.test_x.split(50):
                method.predict(x)
    assert len(calls) == 2


def test_l2p_builds_its_task_mask_and_parameter_list_once_per_task(digits):
    torch.manual_seed(0)
    method = get_method("l2p")(DIGITS, CPU, epochs=1)
    method.current = [2, 3]
    mask = method.task_mask()
    assert method.task_mask() is mask and mask[0, [2, 3]].eq(0).all() and mask[0, [0, 1, 4]].isinf().all()
    walked = [p for p in method.model.parameters() if p.requires_grad]
    method.trained = walked
    assert method.trainable_parameters() is walked


def test_prefetched_batches_equal_plain_gathers():
    from methods.data_feed import feed

    x = torch.randint(0, 256, (103, 3, 4, 4), dtype=torch.uint8)
    y = torch.arange(103)
    order = torch.randperm(103)
    indices = list(order.split(10))
    plain = list(feed(x, y, indices, CPU, prefetch=False))
    ahead = list(feed(x, y, iter(indices), CPU, prefetch=True))  # the background gather, without pinning on the CPU
    assert len(plain) == len(ahead) == 11
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(plain, ahead))
