"""CLUB streams as Avalanche benchmarks: ``scenarios.to_avalanche(stream)``.

Pure data conversion, for Avalanche code that wants CLUB's scenarios: the same experiences,
samples and class order. Labels stay CLUB's incremental class ids (``stream.class_order``
maps them back to the dataset's labels); images become floats in [0, 1], the range of
torchvision's ``ToTensor`` (CLUB's backbones read them like the stored uint8 images). Every
sample carries task label 0, as in Avalanche's class-incremental benchmarks. Avalanche
(``pip install -e '.[avalanche]'``) is imported when the function is called, not with
``scenarios``.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import torch

from .online import OnlineStream, PermutedStream
from .stream import Stream


def _dataset(x: torch.Tensor, y: torch.Tensor) -> Any:
    from avalanche.benchmarks.utils import _make_taskaware_tensor_classification_dataset

    images = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return _make_taskaware_tensor_classification_dataset(images, y, targets=y.tolist(), task_labels=0)


def _class_incremental(stream: Stream) -> Any:
    """``nc_benchmark`` over the steps' data: the kind of benchmark ``SplitMNIST`` is, with
    ``classes_order``, ``n_classes_per_exp`` and the per-experience class lists that
    Avalanche's strategies read (iCaRL needs them)."""
    from avalanche.benchmarks import nc_benchmark

    train = _dataset(torch.cat([s.x for s in stream.steps]), torch.cat([s.y for s in stream.steps]))
    return nc_benchmark(
        train,
        _dataset(stream.test_x, stream.test_y),
        len(stream.steps),
        task_labels=False,
        shuffle=False,
        fixed_class_order=list(range(stream.num_classes)),
        per_exp_classes={s.index: len(s.classes) for s in stream.steps},
    )


class _Experiences:
    """The experiences ``make(i)`` for ``i < count``, built when they are reached (re-iterable),
    so that a stream of hundreds of tasks never sits in memory at once."""

    def __init__(self, count: int, make: Callable[[int], Any]) -> None:
        self.count, self.make = count, make

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Any]:
        return (self.make(i) for i in range(self.count))


class _Batches:
    """Each experience of ``tasks`` cut by Avalanche's ``FixedSizeExperienceSplitter`` into
    experiences of ``size`` samples, in order (re-iterable)."""

    def __init__(self, tasks: _Experiences, size: int, boundaries: bool) -> None:
        self.tasks, self.size, self.boundaries = tasks, size, boundaries

    def __iter__(self) -> Iterator[Any]:
        from avalanche.benchmarks.scenarios.online import FixedSizeExperienceSplitter

        for task in self.tasks:
            for exp in FixedSizeExperienceSplitter(task, self.size, shuffle=False, access_task_boundaries=self.boundaries):
                exp.classes_in_this_experience = sorted(exp.dataset.targets.uniques)
                yield exp


def _experience(x: torch.Tensor, y: torch.Tensor) -> Any:
    from avalanche.benchmarks.scenarios.dataset_scenario import DatasetExperience

    exp = DatasetExperience(dataset=_dataset(x, y))
    exp.classes_in_this_experience = sorted(set(y.tolist()))
    return exp


def _online(stream: OnlineStream) -> Any:
    """Streams ``train`` (one experience per task, its samples in arrival order), ``test``
    (each task's test set: its classes' test samples, or the task's permutation of the test
    set) and ``train_online`` (the same samples in experiences of ``stream.batch_size``:
    CLUB's batches, with task boundaries unless the stream is task-free)."""
    from avalanche.benchmarks import CLScenario, CLStream

    def train(i: int) -> Any:
        return _experience(stream.steps[i].x, stream.steps[i].y)

    def test(i: int) -> Any:
        if isinstance(stream, PermutedStream):
            return _experience(*stream.task_test_set(i))
        mask = torch.isin(stream.test_y, torch.tensor(stream.steps[i].classes))
        return _experience(stream.test_x[mask], stream.test_y[mask])

    tasks = _Experiences(len(stream.steps), train)
    return CLScenario(
        [
            CLStream("train", tasks),
            CLStream("test", _Experiences(len(stream.steps), test)),
            CLStream("train_online", _Batches(tasks, stream.batch_size, not stream.task_free)),
        ]
    )


def to_avalanche(stream: Stream) -> Any:
    """An Avalanche benchmark with the experiences, samples and class order of ``stream``.

    A class-incremental stream (every step a learn step bringing new classes; the
    ``class_incremental`` and ``few_shot`` protocols) becomes an ``NCScenario``: experience
    ``i`` of ``train_stream`` holds step ``i``'s samples and ``classes_in_this_experience``
    equal to its classes; ``test_stream`` experience ``i`` holds the test samples of those
    classes. As in Avalanche's own ``SplitMNIST``, an experience lists its samples class by
    class (in class order), each class's in CLUB's order. An online stream becomes a benchmark with
    ``train_stream``, ``test_stream`` and ``train_online_stream`` (see :func:`_online`), built
    lazily. A stream with forget steps, or whose steps bring a class twice, raises ``ValueError``.
    """
    if isinstance(stream, OnlineStream):
        return _online(stream)
    seen: set[int] = set()
    for s in stream.steps:
        if s.kind != "learn":
            raise ValueError(f"stream {stream.name!r} has forget steps, which Avalanche benchmarks cannot express")
        if seen & set(s.classes) or set(s.y.tolist()) - set(s.classes):
            raise ValueError(f"stream {stream.name!r} is not class-incremental: step {s.index} brings classes seen before")
        seen |= set(s.classes)
    return _class_incremental(stream)
