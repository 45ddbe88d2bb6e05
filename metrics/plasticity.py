"""Online accuracy and loss-of-plasticity metrics, and the summary of the ``online`` protocol.

Online accuracy is scored on each incoming sample *before* the method trains on it
(Cai, Sener & Koltun, "Online Continual Learning with Natural Distribution Shifts", ICCV
2021; Elsayed & Mahmood, "Addressing Loss of Plasticity and Catastrophic Forgetting in
Continual Learning" (UPGD), ICLR 2024). The runner stores, per step (task), the counts
``[correct, total]`` of fixed windows of samples; everything here is derived from them and
from the per-class evaluation records at step boundaries.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .records import SUMMARIES, per_class_counts, summarize

ONLINE = "online"


def accuracy_of(counts: Sequence[Sequence[int]]) -> float:
    """Pooled accuracy Σ correct / Σ total of ``[correct, total]`` pairs (NaN when empty)."""
    correct = sum(int(c) for c, _ in counts)
    total = sum(int(t) for _, t in counts)
    return correct / total if total else float("nan")


def online_accuracy_per_task(windows_per_task: Sequence[Sequence[Sequence[int]]]) -> list[float]:
    """Online accuracy of each task: a_k = Σ_w correct_{k,w} / Σ_w total_{k,w} over the
    windows of task k (the UPGD paper's per-task average online accuracy)."""
    return [accuracy_of(windows) for windows in windows_per_task]


def slope(values: Sequence[float]) -> float:
    """Least-squares slope b of v_k ≈ a + b·k over k = 0..K−1 (per task; NaN for K < 2).

    b = Σ (k − k̄)(v_k − v̄) / Σ (k − k̄)². Applied to per-task online accuracy, a negative
    slope means the network learns each new task worse than the last: loss of plasticity
    (Dohare et al., "Loss of plasticity in deep continual learning", Nature 2024).
    """
    v = np.asarray(values, dtype=float)
    if len(v) < 2 or not np.isfinite(v).all():
        return float("nan")
    k = np.arange(len(v), dtype=float)
    return float(((k - k.mean()) * (v - v.mean())).sum() / ((k - k.mean()) ** 2).sum())


def _activations(features: np.ndarray) -> np.ndarray | None:
    """H as a finite, non-empty N × D float array, or ``None`` (every plasticity metric of such
    input is NaN: a diverged network has no meaningful units)."""
    h = np.asarray(features, dtype=np.float64)
    if h.ndim != 2 or h.size == 0 or not np.isfinite(h).all():
        return None
    return h


def dormant_fraction(features: np.ndarray, tau: float = 0.0) -> float:
    """Fraction of τ-dormant units of a layer (Sokar et al., "The Dormant Neuron Phenomenon in
    Deep Reinforcement Learning", ICML 2023); ``dormant_fraction`` in results, at τ = 0.

    For activations H (N inputs × D units), unit i's score is s_i = mean_n |H_ni| /
    ((1/D) Σ_j mean_n |H_nj|); unit i is dormant when s_i ≤ τ. The threshold convention is
    Sokar's relative score; with τ = 0 (the default) a unit is dormant when it outputs 0 on
    every input (a dead ReLU). NaN for empty or non-finite H.
    """
    h = _activations(features)
    if h is None:
        return float("nan")
    magnitude = np.abs(h).mean(axis=0)
    mean = magnitude.mean()
    scores = magnitude / mean if mean > 0 else np.zeros_like(magnitude)
    return float((scores <= tau).mean())


def inactive_fraction(features: np.ndarray, threshold: float = 0.01) -> float:
    """Fraction of units active on fewer than ``threshold`` of the inputs: unit i is dormant
    when (1/N) Σ_n [H_ni ≠ 0] < threshold. ``dormant_fraction[active<1%]`` in results.

    Source: Dohare et al., "Loss of plasticity in deep continual learning", Nature 2024 — the
    definition of their class-incremental CIFAR-100 experiments (``shibhansh/loss-of-plasticity``
    ``lop/incremental_cifar/post_run_analysis.py``, ``dormant_unit_threshold=0.01``; there the
    units of a convolutional layer are channels, averaged over positions too). An absolute
    count of inputs, unlike :func:`dormant_fraction`'s score relative to the layer's mean.
    NaN for empty or non-finite H.
    """
    h = _activations(features)
    if h is None:
        return float("nan")
    return float(((h != 0).mean(axis=0) < threshold).mean())


def effective_rank(features: np.ndarray) -> float:
    """Effective rank of a feature matrix (Roy & Vetterli, "The effective rank: a measure of
    effective dimensionality", EUSIPCO 2007), as used for loss of plasticity by the UPGD paper.

    With singular values σ_k of H (N × D) and p_k = σ_k / Σ_j σ_j,
    erank(H) = exp(−Σ_k p_k log p_k); it is 0 for an all-zero H and at most min(N, D); NaN
    for empty or non-finite H.
    """
    h = _activations(features)
    if h is None:
        return float("nan")
    sigma = np.linalg.svd(h, compute_uv=False)
    total = sigma.sum()
    if total <= 0:
        return 0.0
    p = sigma[sigma > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def _final_sets(record: Mapping, steps: Sequence[Mapping]) -> list[list[list[int]]]:
    """Per task, the ``[correct, total]`` counts its final evaluation is pooled from."""
    evaluations = record["evaluations"]
    task_sets = [f"task_{j}" for j in range(len(steps))]
    if all(name in evaluations for name in task_sets):
        return [list(per_class_counts(record, name).values()) for name in task_sets]
    counts = per_class_counts(record, "seen_test")
    return [[counts[c] for c in step["classes"] if c in counts] for step in steps]


def online_summary(steps: Sequence[Mapping], records: Sequence[Mapping]) -> dict:
    """Summary of an online run from ``result.json``'s ``scenario.steps`` and ``steps``.

    Metrics: ``online_accuracy`` (pooled over the stream), ``online_accuracy_per_task``,
    ``online_accuracy_per_window`` (windows restart at each task), ``online_accuracy_slope``
    (:func:`slope` of the per-task values), ``final_accuracy`` and ``final_accuracy_per_task``
    (after the last step: each task's test set under its own permutation, or the test data of
    its classes), ``dormant_fraction`` (Sokar's τ = 0) / ``dormant_fraction[active<1%]``
    (Dohare et al.'s) / ``effective_rank`` (one per probed step, with ``probe_steps``) and
    ``gradient_steps``. A class-incremental stream (with ``seen_test``
    sets) also gets the accuracy matrix and the metrics of :func:`summarize`.
    """
    windows = [r["online"]["windows"] for r in records]
    per_task = online_accuracy_per_task(windows)
    final = _final_sets(records[-1], steps)
    probes = [(r["step"], r["probe"]) for r in records if r.get("probe")]
    summary: dict = {}
    metrics: dict = {}
    if all("seen_test" in r["evaluations"] for r in records):
        summary = summarize([per_class_counts(r, "seen_test") for r in records], [s["classes"] for s in steps])
        metrics.update(summary["metrics"])
    metrics.update(
        online_accuracy=accuracy_of([w for task in windows for w in task]),
        online_accuracy_per_task=per_task,
        online_accuracy_per_window=[accuracy_of([w]) for task in windows for w in task],
        online_accuracy_slope=slope(per_task),
        final_accuracy=accuracy_of([c for task in final for c in task]),
        final_accuracy_per_task=[accuracy_of(task) for task in final],
        probe_steps=[step for step, _ in probes],
        dormant_fraction=[p["dormant_fraction"] for _, p in probes],
        effective_rank=[p["effective_rank"] for _, p in probes],
        final_dormant_fraction=probes[-1][1]["dormant_fraction"] if probes else float("nan"),
        final_effective_rank=probes[-1][1]["effective_rank"] if probes else float("nan"),
        gradient_steps=sum(r["online"]["gradient_steps"] for r in records),
    )
    # absent from results written before the loss-of-plasticity definition was probed
    metrics["dormant_fraction[active<1%]"] = [p.get("dormant_fraction[active<1%]", float("nan")) for _, p in probes]
    return {**summary, "metrics": metrics}


SUMMARIES[ONLINE] = online_summary
