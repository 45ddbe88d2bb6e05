"""Continual-learning metrics on the accuracy matrix R.

``R[i][j]`` is the accuracy on the test data of step ``j`` after learning step ``i``
(entries with ``j > i`` are not needed and may be ``None``). Every function accepts a
list of lists or a NumPy array; ``T`` is the number of steps (rows).

Avalanche (``avalanche-lib`` 0.6) reports the same matrix as ``ExperienceAccuracy``
(``Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp<j>`` after training experience ``i``); each
docstring says how the metric relates to Avalanche's (``metrics.from_avalanche`` turns an
Avalanche evaluation into CLUB's records).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Matrix = Sequence[Sequence[float | None]] | np.ndarray


def _as_array(R: Matrix) -> np.ndarray:
    arr = np.array([[np.nan if v is None else v for v in row] for row in R], dtype=float)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[0] > arr.shape[1]:
        raise ValueError(f"accuracy matrix must be T×S with S ≥ T ≥ 1, got shape {arr.shape}")
    if np.isnan(np.tril(arr)).any():
        raise ValueError("accuracy matrix has a missing entry on or below the diagonal")
    return arr


def _weights(weights: Sequence[float] | None, T: int) -> np.ndarray:
    w = np.ones(T) if weights is None else np.asarray(weights, dtype=float)[:T]
    if w.shape != (T,) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("weights must be one non-negative number per step")
    return w


def seen_class_accuracies(R: Matrix, weights: Sequence[float] | None = None) -> list[float]:
    """Accuracy on all classes seen so far after each step i.

    A_i = Σ_{j≤i} w_j·R[i][j] / Σ_{j≤i} w_j, with w_j the number of test samples of step j,
    which makes A_i the sample-weighted accuracy on the union of the seen test sets.
    With ``weights=None`` all steps weigh the same (exact when test sets are equal-sized).

    Avalanche: ``StreamAccuracy`` when the evaluated stream is the test data of the experiences
    seen so far (``test_stream[: i + 1]``); evaluated on the whole test stream, as Avalanche's
    examples do, it also counts the test data of classes not yet learned.
    """
    arr = _as_array(R)
    T = arr.shape[0]
    w = _weights(weights, T)
    return [float(np.dot(arr[i, : i + 1], w[: i + 1]) / w[: i + 1].sum()) for i in range(T)]


def final_accuracy(R: Matrix, weights: Sequence[float] | None = None) -> float:
    """Seen-class accuracy after the last step, A_{T-1} (see :func:`seen_class_accuracies`)."""
    return seen_class_accuracies(R, weights)[-1]


def average_incremental_accuracy(R: Matrix, weights: Sequence[float] | None = None) -> float:
    """Ā = (1/T)·Σ_i A_i, the mean seen-class accuracy over steps.

    Source: Rebuffi et al., "iCaRL: Incremental Classifier and Representation Learning",
    CVPR 2017 (the "average incremental accuracy"). Avalanche has no counterpart: it is the
    mean of the seen-experience ``StreamAccuracy`` over the evaluations after each experience.
    """
    return float(np.mean(seen_class_accuracies(R, weights)))


def average_accuracy(R: Matrix) -> float:
    """ACC = (1/T)·Σ_j R[T-1][j], each step's test set weighing the same.

    Source: Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning",
    NeurIPS 2017; Chaudhry et al., "Riemannian Walk", ECCV 2018. Avalanche: the mean of the
    last ``ExperienceAccuracy`` values; its ``StreamAccuracy`` weighs samples, not steps.
    """
    arr = _as_array(R)
    T = arr.shape[0]
    return float(np.mean(arr[T - 1, :T]))


def forgetting(R: Matrix) -> float:
    """F = (1/(T-1))·Σ_{j<T-1} [max_{l∈{j..T-2}} R[l][j] − R[T-1][j]].

    Source: Chaudhry et al., "Riemannian Walk for Incremental Learning", ECCV 2018, Eq. 9.
    NaN when T = 1 (nothing can have been forgotten yet). Avalanche's ``StreamForgetting``
    differs by definition: it subtracts the final accuracy from the *first* one, not the best
    one (:func:`forgetting_first_final`); the two agree when no step's accuracy rises after
    it is learned.
    """
    arr = _as_array(R)
    T = arr.shape[0]
    if T < 2:
        return math.nan
    return float(np.mean([arr[j : T - 1, j].max() - arr[T - 1, j] for j in range(T - 1)]))


def forgetting_first_final(R: Matrix) -> float:
    """F_ff = (1/(T-1))·Σ_{j<T-1} [R[j][j] − R[T-1][j]], accuracy right after learning a step
    minus accuracy at the end; equal to −BWT.

    Source: Avalanche's ``ExperienceForgetting`` / ``StreamForgetting`` (``avalanche-lib``
    0.6, ``evaluation/metrics/forgetting_bwt.py``: the first value recorded for an experience,
    when it has just been trained on, minus the last). CLUB's :func:`forgetting` takes the
    best earlier value instead. NaN when T = 1.
    """
    arr = _as_array(R)
    T = arr.shape[0]
    if T < 2:
        return math.nan
    return float(np.mean([arr[j, j] - arr[T - 1, j] for j in range(T - 1)]))


def bwt(R: Matrix) -> float:
    """BWT = (1/(T-1))·Σ_{j<T-1} (R[T-1][j] − R[j][j]); negative means forgetting.

    Source: Lopez-Paz & Ranzato, "Gradient Episodic Memory for Continual Learning",
    NeurIPS 2017. NaN when T = 1. Identical to Avalanche's ``StreamBWT`` (the mean over the
    experiences before the last of final minus first accuracy).
    """
    arr = _as_array(R)
    T = arr.shape[0]
    if T < 2:
        return math.nan
    return float(np.mean([arr[T - 1, j] - arr[j, j] for j in range(T - 1)]))


def learning_accuracy(R: Matrix) -> float:
    """LA = (1/T)·Σ_j R[j][j], accuracy on each step right after learning it (plasticity).

    Source: Riemer et al., "Learning to Learn without Forgetting by Maximizing Transfer and
    Minimizing Interference", ICLR 2019 (learning accuracy). Avalanche: the mean of the
    ``ExperienceAccuracy`` values recorded right after training each experience.
    """
    arr = _as_array(R)
    return float(np.mean(np.diag(arr[:, : arr.shape[0]])))
