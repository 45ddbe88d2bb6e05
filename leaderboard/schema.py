"""The ``result.json`` schema, its validation, and the recomputation of its metrics.

A result is data from outside (a file, an upload), so nothing in it is trusted:
:func:`validate_result` checks every field the metrics are derived from (types, ranges, the
protocol's shape, the records of every step), recomputes the derived fields from the raw
records and compares them with the stored ones. Every problem is one
:class:`InvalidResult` line; no other exception escapes, whatever the document holds.
"""

from __future__ import annotations

import json
import math
from typing import Any

from metrics import SUMMARIES, summarize_run

SCHEMA_VERSION = 1
# ``result["method"]["recipe"]``: where the method's hyperparameter values come from (written by
# ``benchmarks/recipes.py``); a result without the field reads as ``RECIPE_UNRECORDED``.
RECIPE_FLAGS = ("reference", "club", "unverified", "modified")
RECIPE_UNRECORDED = "unverified"
REQUIRED = {
    "schema_version": int,
    "method": dict,
    "scenario": dict,
    "seed": int,
    "environment": dict,
    "metrics": dict,
    "steps": list,
}
KINDS = ("learn", "forget")
#: Protocols whose streams only learn, and those that must hold a forget request.
LEARN_ONLY = ("class_incremental", "few_shot", "online")
WITH_FORGETTING = ("forgetting", "learn_forget", "qa_unlearning")
QA_PROTOCOLS = ("qa_unlearning",)
MAX_COUNT = 2**53  # counts above this are not exact in a JSON number
MAX_SEED = 2**32 - 1
#: Derived numbers must match their recomputation this closely (library versions may differ in the last digits).
REL_TOLERANCE, ABS_TOLERANCE = 1e-6, 1e-9


class InvalidResult(ValueError):
    """A result document does not follow the schema, or its numbers do not re-derive."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(value: Any, where: str, low: int = 0, high: int = MAX_COUNT) -> int:
    if not _is_int(value) or not low <= value <= high:
        raise InvalidResult(f"{where} must be an integer from {low} to {high}, not {show_json(value)}")
    return value


def _seconds(value: Any, where: str) -> None:
    if not _is_number(value) or value < 0:
        raise InvalidResult(f"{where} must be a finite number of seconds ≥ 0, not {show_json(value)}")


KIND_NAMES = {dict: "a JSON object", list: "a list", str: "a string", int: "an integer", bool: "true or false"}


def _typed(value: Any, kind: type, where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidResult(f"{where} is missing or not {KIND_NAMES[kind]}")
    return value


def _numbers(values: Any, length: int, where: str, nullable: bool = True) -> None:
    """A list of ``length`` finite numbers (``null`` allowed where a value was not finite)."""
    if not isinstance(values, list) or len(values) != length:
        raise InvalidResult(f"{where} must list {length} numbers")
    for v in values:
        if not (_is_number(v) or (nullable and v is None)):
            raise InvalidResult(f"{where} holds {show_json(v)}, not a finite number")


def _check_counts_evaluation(evaluation: dict, num_classes: int, where: str) -> None:
    per_class = _typed(evaluation.get("per_class"), dict, f"{where}: per_class")
    expected = {str(c) for c in range(num_classes)}
    if set(per_class) != expected:
        extra = sorted(set(per_class) - expected)
        missing = sorted(int(c) for c in expected - set(per_class))
        detail = f"unknown class ids {extra[:5]}" if extra else f"classes {missing[:5]} are missing"
        raise InvalidResult(f"{where}: per_class must give every class 0..{num_classes - 1} seen so far ({detail})")
    size = 0
    for c, v in per_class.items():
        if not (isinstance(v, list) and len(v) == 2 and _is_int(v[0]) and _is_int(v[1]) and 0 <= v[0] <= v[1] <= MAX_COUNT):
            raise InvalidResult(f"{where}, class {c}: per_class must map class ids to [correct, total] counts, not {show_json(v)}")
        size += v[1]
    for name in ("nll", "entropy"):
        if name in evaluation:
            _numbers(evaluation[name], size, f"{where}: {name}")
    if "correct" in evaluation:
        correct = evaluation["correct"]
        if not isinstance(correct, list) or len(correct) != size or any(v not in (0, 1) or isinstance(v, (bool, float)) for v in correct):
            raise InvalidResult(f"{where}: correct must list {size} values 0 or 1")
    if "log_probabilities" in evaluation:
        rows = evaluation["log_probabilities"]
        if not isinstance(rows, list) or len(rows) != size:
            raise InvalidResult(f"{where}: log_probabilities must hold {size} rows")
        for row in rows:
            _numbers(row, num_classes, f"{where}: log_probabilities row")


def _check_qa_evaluation(evaluation: dict, where: str) -> None:
    if evaluation.get("per_class") != {}:
        raise InvalidResult(f"{where}: a question-answering evaluation has an empty per_class")
    for key, choices in (("role", ("forget", "utility", "holdout")), ("truth_ratio_base", ("paraphrased", "answer")), ("probability", ("answer", "options"))):
        if evaluation.get(key) not in choices:
            raise InvalidResult(f"{where}: {key} must be one of {', '.join(choices)}")
    samples = _typed(evaluation.get("per_sample"), dict, f"{where}: per_sample")
    nll = samples.get("answer_nll")
    if not isinstance(nll, list) or not nll:
        raise InvalidResult(f"{where}: per_sample.answer_nll must list the answers' NLLs")
    n = len(nll)
    _numbers(nll, n, f"{where}: answer_nll", nullable=False)
    tokens = samples.get("answer_tokens")
    if not isinstance(tokens, list) or len(tokens) != n or not all(_is_int(t) and 0 < t <= MAX_COUNT for t in tokens):
        raise InvalidResult(f"{where}: answer_tokens must list {n} positive token counts")
    if "paraphrased_nll" in samples or "paraphrased_tokens" in samples:
        _numbers(samples.get("paraphrased_nll"), n, f"{where}: paraphrased_nll", nullable=False)
        paraphrased = samples.get("paraphrased_tokens")
        if not isinstance(paraphrased, list) or len(paraphrased) != n or not all(_is_int(t) and 0 < t <= MAX_COUNT for t in paraphrased):
            raise InvalidResult(f"{where}: paraphrased_tokens must list {n} positive token counts")
    perturbed, perturbed_tokens = samples.get("perturbed_nll"), samples.get("perturbed_tokens")
    if not isinstance(perturbed, list) or not isinstance(perturbed_tokens, list) or len(perturbed) != len(perturbed_tokens):
        raise InvalidResult(f"{where}: perturbed_nll and perturbed_tokens must be lists of equal length")
    if perturbed:
        if len(perturbed) != n or not all(isinstance(row, list) for row in perturbed):
            raise InvalidResult(f"{where}: perturbed_nll must hold one row per question")
        k = len(perturbed[0])
        if k == 0:
            raise InvalidResult(f"{where}: perturbed_nll rows must not be empty")
        for row, token_row in zip(perturbed, perturbed_tokens):
            _numbers(row, k, f"{where}: perturbed_nll row", nullable=False)
            if not isinstance(token_row, list) or len(token_row) != k or not all(_is_int(t) and 0 < t <= MAX_COUNT for t in token_row):
                raise InvalidResult(f"{where}: perturbed_tokens rows must hold {k} positive token counts")
    if "generation" in samples or "answer" in samples:
        for key in ("generation", "answer"):
            texts = samples.get(key)
            if not isinstance(texts, list) or len(texts) != n or not all(isinstance(t, str) for t in texts):
                raise InvalidResult(f"{where}: per_sample.{key} must list {n} texts")


def _check_evaluations(evaluations: Any, num_classes: int, qa: bool, where: str) -> dict:
    evaluations = _typed(evaluations, dict, f"{where}: evaluations")
    if not evaluations:
        raise InvalidResult(f"{where}: evaluations are missing")
    for name, evaluation in evaluations.items():
        evaluation = _typed(evaluation, dict, f"{where}, set {name}")
        if qa:
            _check_qa_evaluation(evaluation, f"{where}, set {name}")
        else:
            _check_counts_evaluation(evaluation, num_classes, f"{where}, set {name}")
    return evaluations


def _check_scenario(result: dict) -> tuple[str, list[dict]]:
    scenario = result["scenario"]
    _typed(scenario.get("name"), str, "scenario.name")
    protocol = _typed(scenario.get("protocol"), str, "scenario.protocol")
    if protocol not in SUMMARIES:
        raise InvalidResult(f"scenario.protocol {show_json(protocol)} is unknown; known: {', '.join(sorted(SUMMARIES))}")
    order = _typed(scenario.get("class_order"), list, "scenario.class_order")
    if not all(_is_int(c) and c >= 0 for c in order) or len(set(order)) != len(order):
        raise InvalidResult("scenario.class_order must list distinct dataset labels")
    steps = scenario.get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidResult("scenario.steps must list the classes of every step")
    for i, step in enumerate(steps):
        where = f"scenario.steps[{i}]"
        step = _typed(step, dict, where)
        if step.get("index") != i or not _is_int(step.get("index")):
            raise InvalidResult(f"{where}.index must be {i} (steps in order)")
        if step.get("kind") not in KINDS:
            raise InvalidResult(f"{where}.kind must be learn or forget")
        classes = _typed(step.get("classes"), list, f"{where}.classes")
        if not all(_is_int(c) and 0 <= c < len(order) for c in classes) or len(set(classes)) != len(classes):
            raise InvalidResult(f"{where}.classes must list distinct class ids below {len(order)}")
        _count(step.get("train_size"), f"{where}.train_size")
    kinds = [s["kind"] for s in steps]
    if protocol in LEARN_ONLY and "forget" in kinds:
        raise InvalidResult(f"a {protocol} stream only learns; step {kinds.index('forget')} is a forget step")
    if protocol in WITH_FORGETTING and (kinds[0] != "learn" or "forget" not in kinds):
        raise InvalidResult(f"a {protocol} stream starts with a learn step and holds a forget step")
    return protocol, steps


def _check_record(record: Any, i: int, step: dict, num_classes: int, qa: bool) -> None:
    where = f"steps[{i}]"
    record = _typed(record, dict, where)
    if record.get("step") != i or not _is_int(record.get("step")):
        raise InvalidResult(f"{where}.step must be {i} (records in step order)")
    if record.get("kind") != step["kind"]:
        raise InvalidResult(f"{where}.kind must be {step['kind']}, as scenario.steps[{i}] says")
    for key in ("train_seconds", "eval_seconds"):
        _seconds(record.get(key), f"{where}.{key}")
    _count(record.get("peak_memory_bytes"), f"{where}.peak_memory_bytes")
    evaluations = _check_evaluations(record.get("evaluations"), num_classes, qa, where)
    if "oracle" in record:
        oracle = _typed(record["oracle"], dict, f"{where}.oracle")
        _seconds(oracle.get("train_seconds"), f"{where}.oracle.train_seconds")
        _typed(oracle.get("cached"), bool, f"{where}.oracle.cached")
        if set(_check_evaluations(oracle.get("evaluations"), num_classes, qa, f"{where}.oracle")) != set(evaluations):
            raise InvalidResult(f"{where}.oracle must be evaluated on the same sets as the method")
        if "hardware" in oracle:
            _typed(oracle["hardware"], dict, f"{where}.oracle.hardware")
    if "reference" in record:
        reference = _typed(record["reference"], dict, f"{where}.reference")
        _seconds(reference.get("train_seconds"), f"{where}.reference.train_seconds")
        if set(_check_evaluations(reference.get("evaluations"), num_classes, qa, f"{where}.reference")) != set(evaluations):
            raise InvalidResult(f"{where}.reference must be evaluated on the same sets as the method")
    if "online" in record:
        online = _typed(record["online"], dict, f"{where}.online")
        windows = _typed(online.get("windows"), list, f"{where}.online.windows")
        for w in windows:
            if not (isinstance(w, list) and len(w) == 2 and _is_int(w[0]) and _is_int(w[1]) and 0 <= w[0] <= w[1] <= MAX_COUNT):
                raise InvalidResult(f"{where}.online.windows must hold [correct, total] counts, not {show_json(w)}")
        _count(online.get("window"), f"{where}.online.window", low=1)
        _count(online.get("gradient_steps"), f"{where}.online.gradient_steps")
        _count(online.get("label_space"), f"{where}.online.label_space")
    if "probe" in record:
        probe = _typed(record["probe"], dict, f"{where}.probe")
        _count(probe.get("units"), f"{where}.probe.units", low=1)
        for key in ("dormant_fraction", "effective_rank"):
            if not _is_number(probe.get(key)) or probe[key] < 0:
                raise InvalidResult(f"{where}.probe.{key} must be a finite number ≥ 0")
    if "hardware" in record:
        _typed(record["hardware"], dict, f"{where}.hardware")


def check_schema(result: Any) -> None:
    """Raise :class:`InvalidResult` unless ``result`` has the shape of a schema-1 result: the
    fields, types and ranges every recomputation reads, consistent with the protocol."""
    if not isinstance(result, dict):
        raise InvalidResult("a result must be a JSON object")
    for key, kind in REQUIRED.items():
        _typed(result.get(key), kind, f"field {key!r}")
    if result["schema_version"] != SCHEMA_VERSION:
        raise InvalidResult(f"schema_version {result['schema_version']} is not {SCHEMA_VERSION}")
    _count(result["seed"], "seed", high=MAX_SEED)
    _typed(result["method"].get("name"), str, "method.name")
    protocol, steps = _check_scenario(result)
    records = result["steps"]
    if len(records) != len(steps):
        raise InvalidResult(f"{len(records)} step records for {len(steps)} scenario steps")
    seen: set[int] = set()
    for i, (record, step) in enumerate(zip(records, steps)):
        if step["kind"] == "learn":
            seen.update(step["classes"])
        _check_record(record, i, step, len(seen), protocol in QA_PROTOCOLS)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def recompute_metrics(result: Any) -> dict:
    """Re-derive every summary (metrics, accuracy matrix, ...) from the raw per-class records,
    in the form ``result.json`` stores it (non-finite numbers as ``None``)."""
    check_schema(result)
    scenario = result["scenario"]
    try:
        summary = summarize_run(scenario["protocol"], scenario["steps"], result["steps"])
    except Exception as e:  # whatever the records hold, the answer is one line
        raise InvalidResult(f"the metrics cannot be recomputed from the records ({type(e).__name__}: {' '.join(str(e).split())[:120]})") from None
    return _finite(summary)


def show_json(value: Any, limit: int = 120) -> str:
    """``value`` as JSON for a one-line message, shortened to ``limit`` characters."""
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def difference(recomputed: Any, stored: Any, where: str) -> str | None:
    """The first place where ``stored`` differs from ``recomputed`` (numbers up to
    :data:`REL_TOLERANCE`/:data:`ABS_TOLERANCE`), as ``"<path>: claimed X, recomputed Y"``, or ``None``."""
    if isinstance(recomputed, dict):
        if not isinstance(stored, dict):
            return f"{where}: claimed {show_json(stored)}, recomputed an object"
        for key in sorted(set(stored) - set(recomputed), key=str):
            return f"{where}.{key}: claimed {show_json(stored[key])}, but the records derive no such number"
        for key, value in recomputed.items():
            if key not in stored:
                return f"{where}.{key}: missing, recomputed {show_json(value)}"
        return next((d for k in recomputed if (d := difference(recomputed[k], stored[k], f"{where}.{k}"))), None)
    if isinstance(recomputed, list):
        if not isinstance(stored, list) or len(stored) != len(recomputed):
            return f"{where}: claimed {show_json(stored)}, recomputed {show_json(recomputed)}"
        return next((d for i, (a, b) in enumerate(zip(recomputed, stored)) if (d := difference(a, b, f"{where}[{i}]"))), None)
    if isinstance(recomputed, bool) or isinstance(stored, bool) or recomputed is None or stored is None or isinstance(recomputed, str):
        same = type(recomputed) is type(stored) and recomputed == stored
    else:
        same = _is_number(stored) and math.isclose(recomputed, stored, rel_tol=REL_TOLERANCE, abs_tol=ABS_TOLERANCE)
    return None if same else f"{where}: claimed {show_json(stored)}, recomputed {show_json(recomputed)}"


def validate_result(result: Any) -> None:
    """Raise :class:`InvalidResult` (one line) unless ``result`` follows schema version 1 and
    every field derived from its records (``metrics``, ``accuracy_matrix``, ...) equals its
    recomputation."""
    recomputed = recompute_metrics(result)
    for key, value in recomputed.items():
        if key not in result:
            raise InvalidResult(f"field {key!r} is missing (it derives from the step records)")
        found = difference(value, result[key], key)
        if found is not None:
            raise InvalidResult(found)
