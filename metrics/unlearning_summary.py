"""Summary of runs with forget steps (protocols ``forgetting`` and ``learn_forget``).

Derived only from ``result.json``'s ``scenario.steps`` and step records. A record of a
forget step f holds the method's evaluations and, under ``oracle``, the retrain oracle's on
the same sets: ``forget_train/f``, ``forget_test/f`` (class and sub-class forgetting),
``retain_train``, ``retain_test`` and ``seen_test``, each with per-class counts and
per-sample ``nll``/``entropy`` (and ``log_probabilities`` on forget sets).

Per forget request (``unlearning`` list) and averaged over requests (``metrics``):
forget/retain/test accuracy and forget-test accuracy, ``mia_efficacy[confidence,svc]``,
``mia[entropy,logreg]``, the gaps to the oracle and ``avg_gap`` (SalUn), KL/JS to the
oracle on the forget set, CLUB's ``spill`` and ``relapse[final]``/``relapse[max]``, UnCLe's
``stability[uncle,unlearned]`` (and, over learn steps, ``stability[uncle,learned]``), time and
speed-up. The accuracy matrix has a row per step (learn or forget) and a column per learn step.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from .unlearning import (
    avg_gap,
    js_divergence,
    kl_divergence,
    mia_efficacy_confidence_svc,
    mia_entropy_logreg,
    oracle_gaps,
    relapse,
    speed_up,
    spill,
    uncle_stability,
)

NAN = float("nan")
#: The four numbers SalUn's Avg. Gap averages (UA's gap equals the forget-accuracy gap).
AVG_GAP_METRICS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy[confidence,svc]")


def _accuracy(evaluation: Mapping | None, classes: Sequence[int] | None = None) -> float:
    if evaluation is None:
        return NAN
    counts = [v for c, v in evaluation["per_class"].items() if classes is None or int(c) in classes]
    total = sum(int(t) for _, t in counts)
    return sum(int(c) for c, _ in counts) / total if total else NAN


def _forget_set(evaluations: Mapping, index: int) -> Mapping | None:
    """The data whose accuracy tracks request ``index``: its test data if it has any, else its training samples."""
    return evaluations.get(f"forget_test/{index}") or evaluations.get(f"forget_train/{index}")


def model_scores(evaluations: Mapping, index: int) -> dict[str, float]:
    """Accuracies and membership-inference scores of one model after forget request ``index``.

    Members of the attacks are ``retain_train``, non-members ``retain_test`` (as many as
    there are retain-train samples), attacked samples ``forget_train/index``. Entropies are
    finite by construction (0·log 0 = 0).
    """
    forget = evaluations[f"forget_train/{index}"]
    members, nonmembers = evaluations["retain_train"], evaluations["retain_test"]
    # A non-finite NLL (stored as null) means the model gives the label no probability.
    confidence = [np.nan_to_num(np.exp(-np.asarray(e["nll"], dtype=float)), nan=0.0) for e in (members, nonmembers, forget)]
    scores = {
        "forget_acc": _accuracy(forget),
        "retain_acc": _accuracy(members),
        "test_acc": _accuracy(nonmembers),
        "mia_efficacy[confidence,svc]": mia_efficacy_confidence_svc(*confidence),
        "mia[entropy,logreg]": mia_entropy_logreg(members["entropy"], nonmembers["entropy"], forget["entropy"]),
    }
    if f"forget_test/{index}" in evaluations:
        scores["forget_test_acc"] = _accuracy(evaluations[f"forget_test/{index}"])
    return scores


def _speed_up(record: Mapping, oracle: Mapping) -> dict[str, Any]:
    """``speed_up`` of a forget request and ``speed_up_basis``, where its two times come from.

    Both times must be measured on the same hardware (machine, device, torch threads; recorded
    as ``hardware`` beside each time): an oracle read from a cache filled elsewhere gives NaN.
    Records without hardware (older results) keep the plain ratio.
    """
    oracle_source = "oracle read from the cache" if oracle.get("cached") else "oracle trained in this run"
    if "hardware" in oracle and oracle.get("hardware") != record.get("hardware"):
        return {"speed_up": NAN, "speed_up_basis": f"not comparable: {oracle_source} on other hardware"}
    basis = f"method and {oracle_source}, same hardware" if "hardware" in oracle else "hardware not recorded"
    return {"speed_up": speed_up(oracle["train_seconds"], record["train_seconds"]), "speed_up_basis": basis}


def _retained_classes(steps: Sequence[Mapping], upto: int) -> list[int]:
    seen = {c for s in steps[: upto + 1] if s["kind"] == "learn" for c in s["classes"]}
    forgotten = {c for s in steps[: upto + 1] if s["kind"] == "forget" for c in s["classes"]}
    return sorted(seen - forgotten)


def forget_request_summary(steps: Sequence[Mapping], records: Sequence[Mapping], i: int) -> dict[str, Any]:
    """Every unlearning number of forget request ``i`` (a step index)."""
    record = records[i]
    evaluations, oracle = record["evaluations"], record.get("oracle")
    method = model_scores(evaluations, i)
    summary: dict[str, Any] = {"step": i, "classes": list(steps[i]["classes"]), "method": method, "seconds": record["train_seconds"]}
    if oracle is not None:
        reference = model_scores(oracle["evaluations"], i)
        gaps = oracle_gaps(method, reference)
        summary.update(
            oracle=reference,
            gaps=gaps,
            avg_gap=avg_gap([gaps[name] for name in AVG_GAP_METRICS]),
            oracle_seconds=oracle["train_seconds"],
            **_speed_up(record, oracle),
        )
        for name in (f"forget_train/{i}", f"forget_test/{i}"):
            if name in evaluations and "log_probabilities" in evaluations[name]:
                kind = name.split("/")[0]
                p, q = oracle["evaluations"][name]["log_probabilities"], evaluations[name]["log_probabilities"]
                summary[f"kl_to_oracle[{kind}]"] = kl_divergence(p, q)
                summary[f"js_to_oracle[{kind}]"] = js_divergence(p, q)
    retained = _retained_classes(steps, i)
    before = _accuracy(records[i - 1]["evaluations"]["seen_test"], retained) if i > 0 else NAN
    summary["spill"] = spill(before, _accuracy(evaluations["seen_test"], retained))
    after = _accuracy(_forget_set(evaluations, i))
    later = [_accuracy(_forget_set(r["evaluations"], i)) for r in records[i + 1 :]]
    summary["relapse[final]"], summary["relapse[max]"] = relapse(after, later)
    return summary


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else NAN


def uncle_stabilities(steps: Sequence[Mapping], records: Sequence[Mapping]) -> list[float]:
    """UnCLe's stability (:func:`~metrics.unlearning.uncle_stability`) of every step of a run.

    A learn step of task t is ``L<t>``, scored on the test data of the task's classes (less the
    classes that requests forgetting part of the task remove); a forget step is ``U<t>`` when it
    forgets every class task t brought, else ``U<t>:<step>``, scored on its forgotten data
    (test data when it has any) with chance accuracy 1/|classes of task t| (UnCLe's 10% for
    its 10-class tasks).
    """
    learned: dict[int, set[int]] = {}
    partly_forgotten: dict[int, set[int]] = {}
    operations: list[str] = []
    chance: list[float] = []
    for s in steps:
        task = s.get("task", 0)
        if s["kind"] == "learn":
            learned[task] = set(s["classes"])
            operations.append(f"L{task}")
            chance.append(NAN)
            continue
        whole = set(s["classes"]) == learned.get(task)
        if not whole:
            partly_forgotten.setdefault(task, set()).update(s["classes"])
        operations.append(f"U{task}" if whole else f"U{task}:{s['index']}")
        chance.append(1 / len(learned[task]) if learned.get(task) else NAN)
    accuracy = np.full((len(steps), len(steps)), NAN)
    for i, s in enumerate(steps):
        task = s.get("task", 0)
        kept = sorted(set(s["classes"]) - partly_forgotten.get(task, set())) if s["kind"] == "learn" else None
        for k in range(i, len(records)):
            evaluations = records[k]["evaluations"]
            accuracy[k, i] = _accuracy(evaluations["seen_test"], kept) if kept is not None else _accuracy(_forget_set(evaluations, i))
    return uncle_stability(operations, accuracy, chance)


def unlearning_summary(steps: Sequence[Mapping], records: Sequence[Mapping]) -> dict[str, Any]:
    """The ``result.json`` summary of a run with forget steps: accuracy matrix, the numbers of
    every forget request, and their means over requests as ``metrics``."""
    learn_steps = [s for s in steps if s["kind"] == "learn"]
    matrix = [
        [_accuracy(r["evaluations"]["seen_test"], s["classes"]) if s["index"] <= r["step"] else None for s in learn_steps]
        for r in records
    ]
    requests = [forget_request_summary(steps, records, r["step"]) for r in records if r["kind"] == "forget"]
    stability = uncle_stabilities(steps, records)
    for q in requests:
        q["stability[uncle,unlearned]"] = stability[q["step"]]
    metrics: dict[str, Any] = {}
    for name in ("forget_acc", "forget_test_acc", "retain_acc", "test_acc", "mia_efficacy[confidence,svc]", "mia[entropy,logreg]"):
        metrics[name] = _mean([q["method"].get(name, NAN) for q in requests])
    for name in ("avg_gap", "kl_to_oracle[forget_train]", "js_to_oracle[forget_train]", "spill", "relapse[final]", "relapse[max]"):
        metrics[name] = _mean([q.get(name, NAN) for q in requests])
    metrics["stability[uncle,learned]"] = _mean([v for v, s in zip(stability, steps) if s["kind"] == "learn"])
    for name in ("stability[uncle,unlearned]", "speed_up"):
        metrics[name] = _mean([q.get(name, NAN) for q in requests])
    metrics["forget_seconds"] = float(sum(q["seconds"] for q in requests))
    final = records[-1]
    metrics["final_retained_accuracy"] = _accuracy(final["evaluations"]["retain_test"])
    metrics["final_forgotten_accuracy"] = _mean([_accuracy(_forget_set(final["evaluations"], q["step"])) for q in requests])
    return {"accuracy_matrix": matrix, "unlearning": requests, "metrics": metrics}
