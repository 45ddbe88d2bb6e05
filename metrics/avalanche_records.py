"""Avalanche evaluations as CLUB's per-class records: ``metrics.from_avalanche(results)``.

Avalanche (``avalanche-lib``) scores a strategy with ``strategy.eval(test_stream)``, which
returns the last value of every metric of its ``EvaluationPlugin``. Its stream confusion
matrix (``confusion_matrix_metrics(stream=True)``) holds exact counts, from which CLUB's
records follow; every CLUB metric (``metrics.summarize``) is then computed from them, with
the definitional differences to Avalanche's own metrics stated in ``metrics/accuracy.py``.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

CONFUSION_MATRIX = "ConfusionMatrix_Stream/eval_phase/{stream}_stream"


def _counts(value: Any) -> np.ndarray:
    """The confusion matrix as an integer array; Avalanche stores it next to its image when
    ``save_image=True`` (an ``AlternativeValues``)."""
    for candidate in getattr(value, "alternatives", (value,)):
        counts = np.asarray(candidate)
        if counts.ndim == 2 and counts.shape[0] == counts.shape[1] and np.issubdtype(counts.dtype, np.number):
            return counts.astype(np.int64)
    raise ValueError("the confusion matrix is not a square matrix of counts")


def from_avalanche(results: Sequence[Mapping[str, Any]], stream: str = "test") -> list[dict[int, tuple[int, int]]]:
    """One record ``{class_id: (correct, total)}`` per Avalanche evaluation, in order.

    ``results`` are the dictionaries ``strategy.eval(...)`` returned, typically one after each
    training experience; the strategy's evaluator must include
    ``confusion_matrix_metrics(stream=True)`` (rows are true classes). With M that matrix on
    stream ``stream``, class c's record is (M[c][c], Σ_k M[c][k]) for every class with test
    samples. Evaluate on the experiences seen so far (``test_stream[: i + 1]``) for the records
    CLUB's runner keeps; on the whole test stream, the unseen classes' records are added, which
    leaves the accuracy matrix unchanged.
    """
    key = CONFUSION_MATRIX.format(stream=stream)
    records = []
    for i, result in enumerate(results):
        if key not in result:
            raise ValueError(f"evaluation {i} has no {key!r}: add confusion_matrix_metrics(stream=True) to the evaluator")
        counts = _counts(result[key])
        totals = counts.sum(1)
        records.append({c: (int(counts[c, c]), int(totals[c])) for c in range(len(counts)) if totals[c]})
    return records
