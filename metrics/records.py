"""From raw evaluation records to the accuracy matrix and the summary of a run.

A record is what the runner stores after step ``i``: for each class seen so far, the
number of test samples predicted correctly and the number of test samples,
``{class_id: (correct, total)}``. Everything in ``result.json``'s ``metrics`` is derived
from these records and the classes of each step, by :func:`summarize`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

from .accuracy import (
    average_accuracy,
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    forgetting_first_final,
    learning_accuracy,
    seen_class_accuracies,
)

PerClass = Mapping[int, Sequence[int]]


def _count(per_class: PerClass, classes: Sequence[int]) -> tuple[int, int]:
    correct = sum(int(per_class[c][0]) for c in classes if c in per_class)
    total = sum(int(per_class[c][1]) for c in classes if c in per_class)
    return correct, total


def accuracy_matrix(records: Sequence[PerClass], step_classes: Sequence[Sequence[int]]) -> list[list[float | None]]:
    """R[i][j] = correct/total over the test samples of step j's classes, evaluated after step i.

    Entries for steps not yet learned (j > i) are ``None``.
    """
    matrix = []
    for i, per_class in enumerate(records):
        row: list[float | None] = []
        for j, classes in enumerate(step_classes):
            correct, total = _count(per_class, classes)
            row.append(correct / total if j <= i and total else None)
        matrix.append(row)
    return matrix


def step_test_sizes(record: PerClass, step_classes: Sequence[Sequence[int]]) -> list[int]:
    """Number of test samples of each step's classes in one record."""
    return [_count(record, classes)[1] for classes in step_classes]


def summarize(records: Sequence[PerClass], step_classes: Sequence[Sequence[int]]) -> dict:
    """The accuracy matrix and every continual-learning metric of a run."""
    R = accuracy_matrix(records, step_classes)
    T = len(records)
    square = [row[:T] for row in R]
    sizes = step_test_sizes(records[-1], step_classes)[:T]
    return {
        "accuracy_matrix": R,
        "metrics": {
            "final_accuracy": final_accuracy(square, sizes),
            "average_incremental_accuracy": average_incremental_accuracy(square, sizes),
            "average_accuracy": average_accuracy(square),
            "forgetting": forgetting(square),
            "forgetting_first_final": forgetting_first_final(square),
            "bwt": bwt(square),
            "learning_accuracy": learning_accuracy(square),
            "seen_class_accuracy": seen_class_accuracies(square, sizes),
        },
    }


def per_class_counts(record: Mapping, set_name: str) -> dict[int, Sequence[int]]:
    """``{class_id: (correct, total)}`` of evaluation set ``set_name`` in one stored step record."""
    return {int(c): v for c, v in record["evaluations"][set_name]["per_class"].items()}


def class_incremental_summary(steps: Sequence[Mapping], records: Sequence[Mapping]) -> dict:
    """Summary of a class-incremental run from ``result.json``'s ``scenario.steps`` and ``steps``."""
    return summarize([per_class_counts(r, "seen_test") for r in records], [s["classes"] for s in steps])


Summary = Callable[[Sequence[Mapping], Sequence[Mapping]], dict]
SUMMARIES: dict[str, Summary] = {"class_incremental": class_incremental_summary}


def summarize_run(protocol: str, steps: Sequence[Mapping], records: Sequence[Mapping]) -> dict:
    """Everything a run's result derives from its raw records: at least ``metrics``.

    ``steps`` is the scenario's list of step descriptions and ``records`` the stored
    per-step evaluation records, both as they appear in ``result.json``. The protocol
    names the summary function in :data:`SUMMARIES`.
    """
    if protocol not in SUMMARIES:
        raise KeyError(f"no summary for protocol {protocol!r}; known: {', '.join(sorted(SUMMARIES))}")
    return SUMMARIES[protocol](steps, records)
