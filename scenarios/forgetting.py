"""Forget scenarios: learn a dataset, then forget part of it; and learn/forget programs.

Two protocols:

* ``forgetting``: one learn step on the whole training set, then one forget request —
  ``mode="class"`` (every sample of one class; Golatkar et al. 2020, SSD, SalUn),
  ``mode="subclass"`` (one fine class inside its super-class, the labels being the
  super-classes: CIFAR-20 in SSD, the digit pairs on digits) or ``mode="random"``
  (a ``fraction`` of the training set drawn from the seed; SalUn, SSD).
* ``learn_forget``: a class-incremental split driven by a request string. UnCLe's ``L<t>`` /
  ``U<t>`` (learn / unlearn task t; Adhikari et al., arXiv 2509.17530) and CLPU's ``R<t>``
  (learn permanently), ``T<t>`` (learn temporarily) and ``F<t>`` (forget a temporarily
  learned task; Liu et al., CoLLAs 2022). ``U<t>:<j>`` / ``F<t>:<j>`` forget only the j-th
  class of task t. Tasks may be learned in any order, each once.

Every forget step carries the samples to forget (with their ``sample_ids``) and, as its
retain set, every sample learned so far that is not forgotten. Labels are incremental ids
in the order classes are learned.

Evaluation sets after step i (all scored per class; see :meth:`ForgetStream.evaluation_sets`):
``seen_test``; ``retain_test`` (seen test data minus forgotten data); ``retain_train`` (a
seeded subset of the retained training data, as large as ``retain_test``: the members of
the membership-inference attacks); and for every forget request f ≤ i ``forget_train/f`` and,
when the request has test data (class and sub-class forgetting), ``forget_test/f``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from .class_incremental import class_order_for, order_option, split_sizes
from .data import ImageDataset
from .stream import Step, Stream

MODES = ("class", "subclass", "random")
_REQUEST = re.compile(r"^([LURTF])(\d+)(?::(\d+))?$")


@dataclass(frozen=True)
class ForgetStream(Stream):
    """A stream with forget steps, scored on forget, retain and test sets.

    ``forget_test_masks[f]`` marks the test samples of forget request ``f`` (empty for
    random-sample forgetting).
    """

    forget_test_masks: dict[int, torch.Tensor] = field(default_factory=dict)
    eval_seed: int = 0

    def _forget_steps(self, step_index: int) -> list[Step]:
        return [s for s in self.steps[: step_index + 1] if s.kind == "forget"]

    def retain_test_set(self, step_index: int) -> tuple[torch.Tensor, torch.Tensor]:
        keep = self.test_y < self.steps[step_index].num_seen_classes
        for s in self._forget_steps(step_index):
            keep &= ~self.forget_test_masks[s.index]
        return self.test_x[keep], self.test_y[keep]

    def retain_train_set(self, step_index: int, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        learned = [s for s in self.steps[: step_index + 1] if s.kind == "learn"]
        forgotten = [s.sample_ids for s in self._forget_steps(step_index)]
        removed = torch.cat(forgotten) if forgotten else torch.empty(0, dtype=torch.int64)
        kept = [s.without_samples(removed) for s in learned]
        x, y = torch.cat([s.x for s in kept]), torch.cat([s.y for s in kept])
        generator = torch.Generator().manual_seed(self.eval_seed * 1000 + step_index)
        pick = torch.randperm(len(y), generator=generator)[: min(size, len(y))].sort().values
        return x[pick], y[pick]

    def evaluation_sets(self, step_index: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        retain_test = self.retain_test_set(step_index)
        sets = {
            "seen_test": self.seen_test_set(step_index),
            "retain_test": retain_test,
            "retain_train": self.retain_train_set(step_index, len(retain_test[1])),
        }
        for s in self._forget_steps(step_index):
            sets[f"forget_train/{s.index}"] = (s.x, s.y)
            mask = self.forget_test_masks[s.index]
            if mask.any():
                sets[f"forget_test/{s.index}"] = (self.test_x[mask], self.test_y[mask])
        return sets

    def per_sample_outputs(self, step_index: int) -> dict[str, str]:
        outputs = {"retain_test": "scores", "retain_train": "scores"}
        for s in self._forget_steps(step_index):
            outputs[f"forget_train/{s.index}"] = "log_probabilities"
            outputs[f"forget_test/{s.index}"] = "log_probabilities"
        return outputs

    def describe_step(self, step_index: int) -> dict:
        described = super().describe_step(step_index)
        s = self.steps[step_index]
        described.update(task=s.task_id, temporary=s.temporary)
        if s.kind == "forget":
            described["forget_test_size"] = int(self.forget_test_masks[s.index].sum())
        return described


def _class_label(dataset_names: Sequence[str], value: str | int, what: str) -> int:
    """A class given by index or by name."""
    text = str(value)
    if text.lstrip("-").isdigit():
        label = int(text)
        if not 0 <= label < len(dataset_names):
            raise ValueError(f"{what} {label} is outside 0..{len(dataset_names) - 1}")
        return label
    if text not in dataset_names:
        raise ValueError(f"{what} {text!r} is not a class of this dataset")
    return list(dataset_names).index(text)


def forgetting_stream(
    dataset: ImageDataset,
    seed: int,
    name: str | None = None,
    mode: str = "class",
    forget: str = "0",
    fraction: float = 0.1,
) -> ForgetStream:
    """Learn the whole training set, then forget a class, a sub-class or a random fraction.

    ``forget`` names the class (``mode="class"``) or the fine class (``mode="subclass"``) by
    dataset label or class name; ``fraction`` is the share of the training set forgotten
    with ``mode="random"``, drawn from ``seed``.
    """
    if mode not in MODES:
        raise ValueError(f"forgetting mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "subclass":
        if dataset.train_coarse_y is None or dataset.test_coarse_y is None or dataset.coarse_class_names is None:
            raise ValueError(f"source {dataset.name!r} has no super-classes, so it has no sub-class forgetting")
        train_y, test_y, names = dataset.train_coarse_y, dataset.test_coarse_y, dataset.coarse_class_names
    else:
        train_y, test_y, names = dataset.train_y, dataset.test_y, dataset.class_names
    num_classes = len(names)
    ids = torch.arange(len(train_y))
    forgotten_classes: tuple[int, ...] = ()
    if mode == "class":
        label = _class_label(dataset.class_names, forget, "forget class")
        forget_mask, test_mask = train_y == label, test_y == label
        forgotten_classes = (label,)
    elif mode == "subclass":
        fine = _class_label(dataset.class_names, forget, "forget sub-class")
        forget_mask, test_mask = dataset.train_y == fine, dataset.test_y == fine
    else:
        if not 0.0 < float(fraction) < 1.0:
            raise ValueError(f"forget fraction must be in (0, 1), got {fraction}")
        count = max(1, round(float(fraction) * len(train_y)))
        chosen = torch.from_numpy(np.random.default_rng(seed).choice(len(train_y), size=count, replace=False))
        forget_mask = torch.zeros(len(train_y), dtype=torch.bool)
        forget_mask[chosen] = True
        test_mask = torch.zeros(len(test_y), dtype=torch.bool)
    learn = Step(0, "learn", dataset.train_x, train_y, tuple(range(num_classes)), 0, num_classes, sample_ids=ids)
    forget_step = Step(
        1,
        "forget",
        dataset.train_x[forget_mask],
        train_y[forget_mask],
        forgotten_classes,
        0,
        num_classes,
        retain_x=dataset.train_x[~forget_mask],
        retain_y=train_y[~forget_mask],
        sample_ids=ids[forget_mask],
    )
    return ForgetStream(
        name=name or f"{dataset.name}-forget-{mode}",
        source=dataset.name,
        protocol="forgetting",
        steps=[learn, forget_step],
        test_x=dataset.test_x,
        test_y=test_y,
        class_order=tuple(range(num_classes)),
        class_names=tuple(names),
        options={"mode": mode, "forget": str(forget), "fraction": float(fraction)},
        forget_test_masks={1: test_mask},
        eval_seed=seed,
    )


@dataclass(frozen=True)
class Request:
    kind: str  # one of L U R T F
    task: int
    class_index: int | None = None

    @property
    def learns(self) -> bool:
        return self.kind in "LRT"


def parse_requests(text: str, num_tasks: int) -> list[Request]:
    """Parse ``"L1 L0 U1 L2"`` or ``"R0 T1 F1"``, checking the program can be carried out."""
    requests: list[Request] = []
    learned: dict[int, str] = {}
    forgotten: dict[int, set[int | None]] = {}
    for token in str(text).replace(",", " ").split():
        match = _REQUEST.match(token)
        if match is None:
            raise ValueError(f"request {token!r} is not L<t>, U<t>, R<t>, T<t>, F<t> or U<t>:<class>")
        kind, task, class_index = match.group(1), int(match.group(2)), match.group(3)
        request = Request(kind, task, None if class_index is None else int(class_index))
        if not 0 <= task < num_tasks:
            raise ValueError(f"request {token!r}: task {task} is outside 0..{num_tasks - 1}")
        if request.learns:
            if request.class_index is not None:
                raise ValueError(f"request {token!r}: a learn request takes a whole task")
            if task in learned:
                raise ValueError(f"request {token!r}: task {task} is learned twice")
            learned[task] = kind
        else:
            if task not in learned:
                raise ValueError(f"request {token!r}: task {task} is forgotten before it is learned")
            if kind == "F" and learned[task] != "T":
                raise ValueError(f"request {token!r}: CLPU forgets only tasks learned temporarily (T{task})")
            done = forgotten.setdefault(task, set())
            if None in done or request.class_index in done:
                raise ValueError(f"request {token!r}: already forgotten")
            done.add(request.class_index)
        requests.append(request)
    if not requests:
        raise ValueError("the request string is empty")
    return requests


def learn_forget_stream(
    dataset: ImageDataset,
    seed: int,
    name: str | None = None,
    requests: str = "L0 L1 U0 L2",
    base: int = 0,
    increment: int = 2,
    order: str | int | Sequence[int] = "seed",
) -> ForgetStream:
    """A class-incremental split (``B{base}-Inc{increment}``, classes ordered by ``order``)
    whose tasks are learned and forgotten as ``requests`` says."""
    sizes = split_sizes(dataset.num_classes, base, increment)
    order_labels = class_order_for(dataset.num_classes, order, seed)
    bounds = np.cumsum([0] + sizes)
    task_labels = [order_labels[bounds[t] : bounds[t + 1]] for t in range(len(sizes))]
    program = parse_requests(requests, len(sizes))
    learn_order = [r.task for r in program if r.learns]
    never = [t for t in range(len(sizes)) if t not in learn_order]
    class_order = [c for t in learn_order + never for c in task_labels[t]]
    relabel = torch.empty(dataset.num_classes, dtype=torch.int64)
    relabel[torch.tensor(class_order)] = torch.arange(dataset.num_classes)
    train_y, test_y = relabel[dataset.train_y], relabel[dataset.test_y]
    ids = torch.arange(len(train_y))
    task_classes = {t: relabel[torch.tensor(task_labels[t])].tolist() for t in range(len(sizes))}

    steps: list[Step] = []
    masks: dict[int, torch.Tensor] = {}
    learned = torch.zeros(len(train_y), dtype=torch.bool)
    forgotten = torch.zeros(len(train_y), dtype=torch.bool)
    seen = 0
    for index, request in enumerate(program):
        classes = task_classes[request.task]
        if request.learns:
            mask = torch.isin(train_y, torch.tensor(classes))
            learned |= mask
            seen += len(classes)
            steps.append(
                Step(index, "learn", dataset.train_x[mask], train_y[mask], tuple(classes), request.task, seen,
                     sample_ids=ids[mask], temporary=request.kind == "T")
            )
            continue
        if request.class_index is not None:
            if not 0 <= request.class_index < len(classes):
                raise ValueError(f"task {request.task} has classes 0..{len(classes) - 1}, not {request.class_index}")
            classes = [classes[request.class_index]]
        mask = torch.isin(train_y, torch.tensor(classes)) & learned & ~forgotten
        if not mask.any():
            raise ValueError(f"request {index + 1} ({request.kind}{request.task}) leaves nothing to forget")
        classes = sorted(set(train_y[mask].tolist()))
        forgotten |= mask
        retain = learned & ~forgotten
        masks[index] = torch.isin(test_y, torch.tensor(classes, dtype=torch.int64))
        steps.append(
            Step(index, "forget", dataset.train_x[mask], train_y[mask], tuple(classes), request.task, seen,
                 retain_x=dataset.train_x[retain], retain_y=train_y[retain], sample_ids=ids[mask])
        )
    return ForgetStream(
        name=name or f"{dataset.name}-learn-forget",
        source=dataset.name,
        protocol="learn_forget",
        steps=steps,
        test_x=dataset.test_x,
        test_y=test_y,
        class_order=tuple(class_order),
        class_names=tuple(dataset.class_names[c] for c in class_order),
        options={"requests": " ".join(str(requests).replace(",", " ").split()), "base": base, "increment": increment,
                 "order": order_option(order)},
        forget_test_masks=masks,
        eval_seed=seed,
    )


def _register() -> None:
    from .presets import Preset, register_preset, register_protocol

    register_protocol("forgetting", forgetting_stream, capability="forgets")
    register_protocol("learn_forget", learn_forget_stream, capability="forgets")
    presets = [
        ("digits-forget-class", "digits: learn all 10 digits, then forget digit 0", "digits", "forgetting", "mlp", {"mode": "class", "forget": "0"}),
        ("digits-forget-subclass", "digits in 5 super-classes (pairs), then forget digit 3 inside '2-3'", "digits", "forgetting", "mlp", {"mode": "subclass", "forget": "3"}),
        ("digits-forget-random", "digits: learn all, then forget a random 10% of the training set", "digits", "forgetting", "mlp", {"mode": "random", "fraction": 0.1}),
        ("digits-cil-forget", "digits-cil learn/forget program 'L0 L1 L2 U1 L3 U0:1 L4' (UnCLe syntax)", "digits", "learn_forget", "mlp", {"requests": "L0 L1 L2 U1 L3 U0:1 L4", "increment": 2}),
        ("digits-cil-clpu", "digits-cil CLPU program 'R0 T1 R2 F1 T3 R4 F3' (learn permanently/temporarily, forget)", "digits", "learn_forget", "mlp", {"requests": "R0 T1 R2 F1 T3 R4 F3", "increment": 2}),
        ("cifar10-forget-class", "CIFAR-10: learn all, then forget class 'dog'", "cifar10", "forgetting", "resnet18", {"mode": "class", "forget": "dog"}),
        ("cifar10-forget-random", "CIFAR-10: learn all, then forget a random 10% (SalUn's 4,500 of 45,000 ~ 10%)", "cifar10", "forgetting", "resnet18", {"mode": "random", "fraction": 0.1}),
        ("cifar100-forget-class", "CIFAR-100: learn all, then forget 'rocket' (SSD)", "cifar100", "forgetting", "resnet18", {"mode": "class", "forget": "rocket"}),
        ("cifar20-forget-subclass", "CIFAR-100 as its 20 super-classes, then forget 'rocket' inside vehicles_2 (SSD)", "cifar100", "forgetting", "resnet18", {"mode": "subclass", "forget": "rocket"}),
        ("cifar100-b0inc10-forget", "CIFAR-100 10 tasks, program 'L0 L1 U1 L2 L3 U0:3 L4 L5 U4 L6 L7 L8 L9'", "cifar100", "learn_forget", "resnet18", {"requests": "L0 L1 U1 L2 L3 U0:3 L4 L5 U4 L6 L7 L8 L9", "increment": 10}),
    ]
    for name, description, source, protocol, backbone, options in presets:
        register_preset(Preset(name, description, source, protocol, backbone, options))


_register()
