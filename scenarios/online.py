"""Online streams: every sample arrives once, in small batches, for hundreds of shifts.

All of them are scored by the ``online`` protocol: the runner's online loop
(``benchmarks/online.py``) predicts every incoming batch *before* the method trains on it,
and ``metrics.plasticity`` turns those predictions into online accuracy per window and per
task. A step of an online stream is one task (the data between two shifts); the runner
checkpoints after each one. Three generators:

- ``online_class_incremental``: a class-incremental split ``B{base}-Inc{k}`` seen in a single
  pass, ``batch_size`` samples at a time (down to 1), as in online class-incremental learning
  (Aljundi et al., "Gradient based sample selection", NeurIPS 2019; PEC, Zając et al., ICLR
  2024). With ``blur > 0`` the last ``blur`` samples of a task and the first ``blur`` of the
  next are shuffled together, so the classes of consecutive tasks overlap (blurry boundaries,
  Aljundi et al., "Task-Free Continual Learning", CVPR 2019; Koh et al., "i-Blurry", ICLR
  2022). With ``task_free`` the method is never told a boundary.
- ``label_permuted``: every ``task_length`` samples the labels are remapped by a new random
  permutation; ``input_permuted``: every ``task_length`` samples the pixel positions are
  shuffled by a new random permutation (Elsayed & Mahmood, "Addressing Loss of Plasticity and
  Catastrophic Forgetting in Continual Learning" (UPGD), ICLR 2024). Samples are drawn
  without replacement from the train set, which is reshuffled after every pass. Steps are
  built on demand, so a stream of a million CIFAR images never sits in memory at once.

Class ids are incremental as everywhere in CLUB. The label space of a permuted stream holds
every class from the first sample on; in class-incremental streams a class enters the label
space when its first sample has arrived.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from .class_incremental import class_order_for, order_option, split_sizes
from .data import ImageDataset
from .presets import Preset, register_preset, register_protocol
from .stream import Step, Stream

ONLINE = "online"  # the protocol (a key of metrics.SUMMARIES) of every stream built here


@dataclass(frozen=True)
class TaskInfo:
    """What a method is told about the task it is in when a stream announces boundaries.

    Never the task's data: in an online stream a method sees each sample only when it arrives.
    """

    index: int  # step index
    task_id: int
    classes: tuple[int, ...]
    num_seen_classes: int
    num_samples: int  # samples the task will bring


@dataclass(frozen=True)
class Batch:
    """One incoming batch of an online stream, as a method trains on it (``Method.observe``).

    ``num_seen_classes`` is the size of the label space once this batch has arrived (the
    method's predictions must cover it from now on); ``updates`` is the compute budget, the
    most optimiser steps the method may take on this batch; ``task`` is ``None`` in a
    task-free stream, where no boundary is announced.
    """

    x: torch.Tensor  # uint8 images, on the method's device
    y: torch.Tensor  # incremental class ids, on the method's device
    step_index: int
    start: int  # position of the batch's first sample within its step
    num_seen_classes: int
    updates: int
    task: TaskInfo | None


@dataclass(frozen=True)
class OnlineStream(Stream):
    """A :class:`Stream` whose steps arrive batch by batch and are learned in a single pass.

    ``updates_per_batch`` is the compute budget: at most that many gradient steps per
    incoming batch (the runner counts optimiser steps and stops a method that takes more).
    ``window`` is the number of samples per online-accuracy window, ``probe_size`` and
    ``probe_every`` say on how many test inputs, and after every how many steps, the
    features of a method are probed for dormant units and effective rank.
    """

    batch_size: int = 1
    task_free: bool = False
    updates_per_batch: int = 1
    window: int = 100
    probe_size: int = 256
    probe_every: int = 1
    labels_known: bool = False  # every class is in the label space from the first sample on

    def batches(self, step: Step, num_seen_classes: int, device: torch.device) -> Iterator[Batch]:
        """The step's samples in stream order, ``batch_size`` at a time, moved to ``device``.

        ``num_seen_classes`` is the label space before the step; it grows as batches bring
        new classes (incremental ids: the label space is 0..max label seen).
        """
        task = self.task_info(step)
        xs, ys = step.x.to(device, non_blocking=True), step.y.to(device, non_blocking=True)  # one copy per step
        for start in range(0, len(step.y), self.batch_size):
            top = int(step.y[start : start + self.batch_size].max()) + 1
            seen = self.num_classes if self.labels_known else max(num_seen_classes, top)
            num_seen_classes = seen
            end = start + self.batch_size
            yield Batch(xs[start:end], ys[start:end], step.index, start, seen, self.updates_per_batch, task)

    def task_info(self, step: Step) -> TaskInfo | None:
        """What the method is told about ``step``: nothing in a task-free stream."""
        if self.task_free:
            return None
        return TaskInfo(step.index, step.task_id, step.classes, step.num_seen_classes, len(step.y))

    def probe_inputs(self, step_index: int) -> torch.Tensor:
        """Test inputs on which a method's features are probed after ``step_index``."""
        return self.test_x[: self.probe_size]

    def probes_after(self, step_index: int) -> bool:
        """Whether features are probed after ``step_index`` (every ``probe_every``-th step and the last)."""
        return step_index % self.probe_every == 0 or step_index == len(self.steps) - 1


class LazySteps(Sequence[Step]):
    """``count`` steps, each built by ``make(index)`` when it is accessed (nothing is cached)."""

    def __init__(self, count: int, make: Callable[[int], Step]) -> None:
        self.count, self.make = count, make

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return _StepRange(self, range(*index.indices(self.count)))
        if not -self.count <= index < self.count:
            raise IndexError(f"step {index} of a stream of {self.count} steps")
        return self.make(index % self.count)

    def __iter__(self) -> Iterator[Step]:
        return (self.make(i) for i in range(self.count))


class _StepRange(Sequence[Step]):
    """A slice of :class:`LazySteps`, itself lazy (so ``steps[i:]`` builds nothing up front)."""

    def __init__(self, steps: LazySteps, indices: range) -> None:
        self.steps, self.indices = steps, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return _StepRange(self.steps, self.indices[index])
        return self.steps[self.indices[index]]

    def __iter__(self) -> Iterator[Step]:
        return (self.steps[i] for i in self.indices)


class LazySets(Mapping[str, tuple[torch.Tensor, torch.Tensor]]):
    """Named evaluation sets, each built by ``make(name)`` when it is read."""

    def __init__(self, names: list[str], make: Callable[[str], tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.names, self.make = names, make

    def __getitem__(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.names:
            raise KeyError(name)
        return self.make(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class PermutedStream(OnlineStream):
    """A label- or input-permuted stream: each task has its own test set, the test data
    under that task's permutation. After each step the current task's test set is scored
    (``task_test``); after the last step every task's (``task_<j>``), for the final
    accuracy per task."""

    permutation: "TaskPermutation | None" = None

    def task_test_set(self, task: int) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.permutation is not None
        return self.permutation.apply(task, self.test_x, self.test_y)

    def evaluation_sets(self, step_index: int) -> Mapping[str, tuple[torch.Tensor, torch.Tensor]]:
        names = ["task_test"]
        if step_index == len(self.steps) - 1:
            names += [f"task_{j}" for j in range(len(self.steps))]

        def make(name: str) -> tuple[torch.Tensor, torch.Tensor]:
            return self.task_test_set(step_index if name == "task_test" else int(name.removeprefix("task_")))

        return LazySets(names, make)


@dataclass(frozen=True)
class TaskPermutation:
    """The permutation of task ``t``, drawn from ``numpy.random.default_rng([seed, 1, t])``.

    ``kind="labels"``: label ``c`` becomes ``π_t(c)``. ``kind="inputs"``: the H·W pixel
    positions are shuffled by ``π_t`` (the same shuffle for every channel).
    """

    kind: str
    seed: int
    num_classes: int
    num_pixels: int

    def permutation(self, task: int) -> torch.Tensor:
        size = self.num_classes if self.kind == "labels" else self.num_pixels
        return torch.from_numpy(np.random.default_rng([self.seed, 1, task]).permutation(size))

    def apply(self, task: int, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        perm = self.permutation(task)
        if self.kind == "labels":
            return x, perm[y]
        return x.flatten(2)[:, :, perm].reshape(x.shape), y


def _check_online_options(batch_size: int, updates_per_batch: int, window: int, probe_size: int, probe_every: int) -> None:
    for option, value in dict(
        batch_size=batch_size, updates_per_batch=updates_per_batch, window=window, probe_every=probe_every
    ).items():
        if value < 1:
            raise ValueError(f"{option} must be at least 1, got {value}")
    if probe_size < 2:
        raise ValueError(f"probe_size must be at least 2, got {probe_size}")


def online_class_incremental_stream(
    dataset: ImageDataset,
    seed: int,
    name: str | None = None,
    base: int = 0,
    increment: int = 2,
    order: str | int | Sequence[int] = "seed",
    batch_size: int = 10,
    blur: int = 0,
    task_free: bool = False,
    updates_per_batch: int = 1,
    window: int = 100,
    probe_size: int = 256,
    probe_every: int = 1,
) -> OnlineStream:
    """A single pass over a ``B{base}-Inc{increment}`` split, ``batch_size`` samples at a time.

    Within a task the samples come in the order of one random ranking of the whole train
    set, so the order of a class's samples does not depend on the split. In a task-free
    stream every task is cut to a multiple of ``batch_size`` samples (dropping at most
    ``batch_size − 1``), so that no short batch gives a boundary away.
    """
    _check_online_options(batch_size, updates_per_batch, window, probe_size, probe_every)
    if blur < 0:
        raise ValueError(f"blur must be at least 0, got {blur}")
    sizes = split_sizes(dataset.num_classes, base, increment)
    class_order = class_order_for(dataset.num_classes, order, seed)
    relabel = torch.empty(dataset.num_classes, dtype=torch.int64)
    relabel[torch.tensor(class_order)] = torch.arange(dataset.num_classes)
    train_y = relabel[dataset.train_y]
    rank = torch.from_numpy(np.random.default_rng([seed, 0]).permutation(len(train_y)))
    by_rank = torch.argsort(rank)  # sample indices in stream order
    tasks, start = [], 0
    for size in sizes:
        in_task = by_rank[(train_y[by_rank] >= start) & (train_y[by_rank] < start + size)]
        if task_free:
            in_task = in_task[: len(in_task) - len(in_task) % batch_size]
        tasks.append(in_task)
        start += size
    if blur and min(len(t) for t in tasks) < 2 * blur:
        raise ValueError(f"blur {blur} needs at least {2 * blur} samples in every task, the smallest has {min(len(t) for t in tasks)}")
    sequence = torch.cat(tasks)
    bounds = np.cumsum([len(t) for t in tasks]).tolist()
    shuffle = np.random.default_rng([seed, 2])
    for bound in bounds[:-1] if blur else []:
        around = torch.arange(bound - blur, bound + blur)
        sequence[around] = sequence[around[torch.from_numpy(shuffle.permutation(2 * blur))]]
    steps, start, seen = [], 0, 0
    for index, (size, stop) in enumerate(zip(sizes, bounds)):
        first_class = sum(sizes[:index])
        idx = sequence[start:stop]
        seen = max(seen, int(train_y[idx].max()) + 1)  # with blur, a step may bring the next task's first classes
        steps.append(
            Step(
                index=index,
                kind="learn",
                x=dataset.train_x[idx],
                y=train_y[idx],
                classes=tuple(range(first_class, first_class + size)),
                task_id=index,
                num_seen_classes=seen,
            )
        )
        start = stop
    return OnlineStream(
        name=name or f"{dataset.name}-online-b{base}inc{increment}",
        source=dataset.name,
        protocol=ONLINE,
        steps=steps,
        test_x=dataset.test_x,
        test_y=relabel[dataset.test_y],
        class_order=tuple(class_order),
        class_names=tuple(dataset.class_names[c] for c in class_order),
        options={
            "stream": "online_class_incremental",
            "base": base,
            "increment": increment,
            "order": order_option(order),
            "batch_size": batch_size,
            "blur": blur,
            "task_free": task_free,
            "updates_per_batch": updates_per_batch,
            "window": window,
            "probe_size": probe_size,
            "probe_every": probe_every,
        },
        batch_size=batch_size,
        task_free=task_free,
        updates_per_batch=updates_per_batch,
        window=window,
        probe_size=probe_size,
        probe_every=probe_every,
    )


def _permuted_stream(
    kind: str,
    dataset: ImageDataset,
    seed: int,
    name: str | None,
    task_length: int,
    num_tasks: int,
    batch_size: int,
    task_free: bool,
    updates_per_batch: int,
    window: int,
    probe_size: int,
    probe_every: int,
) -> PermutedStream:
    _check_online_options(batch_size, updates_per_batch, window, probe_size, probe_every)
    if task_length < 1 or num_tasks < 1:
        raise ValueError(f"task_length and num_tasks must be at least 1, got {task_length} and {num_tasks}")
    if task_length % batch_size:
        raise ValueError(f"task_length {task_length} is not a multiple of batch_size {batch_size}")
    n = len(dataset.train_y)
    total = task_length * num_tasks
    order_rng = np.random.default_rng([seed, 0])
    order = torch.from_numpy(np.concatenate([order_rng.permutation(n) for _ in range(-(-total // n))])[:total])
    _, height, width = dataset.input_shape
    permutation = TaskPermutation(kind, seed, dataset.num_classes, height * width)
    classes = tuple(range(dataset.num_classes))

    def make_step(task: int) -> Step:
        idx = order[task * task_length : (task + 1) * task_length]
        x, y = permutation.apply(task, dataset.train_x[idx], dataset.train_y[idx])
        return Step(task, "learn", x, y, classes, task, dataset.num_classes)

    return PermutedStream(
        name=name or f"{dataset.name}-{kind[:-1]}-permuted",
        source=dataset.name,
        protocol=ONLINE,
        steps=LazySteps(num_tasks, make_step),  # type: ignore[arg-type]
        test_x=dataset.test_x,
        test_y=dataset.test_y,
        class_order=classes,
        class_names=dataset.class_names,
        options={
            "stream": f"{kind[:-1]}_permuted",
            "task_length": task_length,
            "num_tasks": num_tasks,
            "batch_size": batch_size,
            "task_free": task_free,
            "updates_per_batch": updates_per_batch,
            "window": window,
            "probe_size": probe_size,
            "probe_every": probe_every,
        },
        batch_size=batch_size,
        task_free=task_free,
        updates_per_batch=updates_per_batch,
        window=window,
        probe_size=probe_size,
        probe_every=probe_every,
        labels_known=True,
        permutation=permutation,
    )


def label_permuted_stream(
    dataset: ImageDataset,
    seed: int,
    name: str | None = None,
    task_length: int = 2500,
    num_tasks: int = 400,
    batch_size: int = 1,
    task_free: bool = True,
    updates_per_batch: int = 1,
    window: int = 500,
    probe_size: int = 256,
    probe_every: int = 1,
) -> PermutedStream:
    """Labels remapped by a new random permutation every ``task_length`` samples (UPGD: 2,500)."""
    return _permuted_stream(
        "labels", dataset, seed, name, task_length, num_tasks, batch_size, task_free, updates_per_batch, window, probe_size, probe_every
    )


def input_permuted_stream(
    dataset: ImageDataset,
    seed: int,
    name: str | None = None,
    task_length: int = 5000,
    num_tasks: int = 200,
    batch_size: int = 1,
    task_free: bool = True,
    updates_per_batch: int = 1,
    window: int = 500,
    probe_size: int = 256,
    probe_every: int = 1,
) -> PermutedStream:
    """Pixel positions shuffled by a new random permutation every ``task_length`` samples (UPGD: 5,000)."""
    return _permuted_stream(
        "inputs", dataset, seed, name, task_length, num_tasks, batch_size, task_free, updates_per_batch, window, probe_size, probe_every
    )


register_protocol("online_class_incremental", online_class_incremental_stream, capability="online")
register_protocol("label_permuted", label_permuted_stream, capability="online")
register_protocol("input_permuted", input_permuted_stream, capability="online")


def _preset(name: str, description: str, source: str, protocol: str, backbone: str, **options) -> None:
    register_preset(Preset(name, description, source, protocol, backbone, options))


_preset("digits-online-cil", "digits, one pass, 5 tasks × 2 classes, batches of 10", "digits", "online_class_incremental", "mlp", increment=2, batch_size=10)
_preset(
    "digits-online-blurry",
    "digits, one pass, task-free, 5 tasks × 2 classes, 50-sample blurry boundaries, batches of 10",
    "digits", "online_class_incremental", "mlp", increment=2, batch_size=10, blur=50, task_free=True,
)
_preset("mnist-online-cil", "MNIST, one pass, 5 tasks × 2 classes, batches of 10", "mnist", "online_class_incremental", "mlp", increment=2, batch_size=10)
_preset("cifar10-online-cil", "CIFAR-10, one pass, 5 tasks × 2 classes, batches of 10", "cifar10", "online_class_incremental", "resnet18", increment=2, batch_size=10)
_preset("digits-label-permuted", "digits, labels permuted every 100 samples, 200 tasks, batch 1", "digits", "label_permuted", "mlp_300_150", task_length=100, num_tasks=200, window=100)
_preset("digits-input-permuted", "digits, pixels permuted every 100 samples, 200 tasks, batch 1", "digits", "input_permuted", "mlp_300_150", task_length=100, num_tasks=200, window=100)
_preset("mnist-label-permuted", "MNIST, labels permuted every 2,500 samples, 400 tasks (1M samples), batch 1", "mnist", "label_permuted", "mlp_300_150")
_preset("mnist-input-permuted", "MNIST, pixels permuted every 5,000 samples, 200 tasks (1M samples), batch 1 (UPGD)", "mnist", "input_permuted", "mlp_300_150")
_preset("emnist-label-permuted", "EMNIST balanced (47 classes), labels permuted every 2,500 samples, 400 tasks, batch 1 (UPGD)", "emnist", "label_permuted", "mlp_300_150")
_preset("emnist-input-permuted", "EMNIST balanced, pixels permuted every 5,000 samples, 200 tasks, batch 1", "emnist", "input_permuted", "mlp_300_150")
_preset("cifar10-label-permuted", "CIFAR-10, labels permuted every 2,500 samples, 400 tasks (1M samples), batch 1 (UPGD)", "cifar10", "label_permuted", "lenet")
_preset("cifar10-input-permuted", "CIFAR-10, pixels permuted every 5,000 samples, 200 tasks, batch 1", "cifar10", "input_permuted", "lenet")
register_preset(
    Preset(
        "synthetic-label-permuted",
        "generated CIFAR-10-sized data (10 classes, 5,000 train images each, 32×32 RGB), labels permuted every 2,500 samples, 400 tasks",
        "synthetic",
        "label_permuted",
        "lenet",
        {},
        {"num_classes": 10, "image_size": 32, "train_per_class": 5000, "test_per_class": 1000},
    )
)
