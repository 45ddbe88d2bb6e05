"""The ``result.json`` schema, its validation, and the recomputation of its metrics."""

from __future__ import annotations

import math
from typing import Any

from metrics import summarize_run

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


class InvalidResult(ValueError):
    """A result document does not follow the schema, or its numbers do not re-derive."""


def validate_result(result: Any) -> None:
    """Raise :class:`InvalidResult` (one line) unless ``result`` follows schema version 1."""
    if not isinstance(result, dict):
        raise InvalidResult("a result must be a JSON object")
    for key, kind in REQUIRED.items():
        if not isinstance(result.get(key), kind):
            raise InvalidResult(f"field {key!r} is missing or not a {kind.__name__}")
    if result["schema_version"] != SCHEMA_VERSION:
        raise InvalidResult(f"schema_version {result['schema_version']} is not {SCHEMA_VERSION}")
    steps = result["scenario"].get("steps")
    if not isinstance(steps, list) or not steps:
        raise InvalidResult("scenario.steps must list the classes of every step")
    if not isinstance(result["scenario"].get("protocol"), str):
        raise InvalidResult("scenario.protocol must name how the run is scored")
    if len(result["steps"]) != len(steps):
        raise InvalidResult(f"{len(result['steps'])} step records for {len(steps)} scenario steps")
    for record in result["steps"]:
        evaluations = record.get("evaluations")
        if not isinstance(evaluations, dict) or not evaluations:
            raise InvalidResult(f"step {record.get('step')}: evaluations are missing")
        for name, evaluation in evaluations.items():
            per_class = evaluation.get("per_class") if isinstance(evaluation, dict) else None
            if not isinstance(per_class, dict) or any(
                not (isinstance(v, list) and len(v) == 2 and 0 <= v[0] <= v[1]) for v in per_class.values()
            ):
                raise InvalidResult(f"step {record.get('step')}, set {name}: per_class must map class ids to [correct, total]")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def recompute_metrics(result: dict) -> dict:
    """Re-derive every summary (metrics, accuracy matrix, ...) from the raw per-class records,
    in the form ``result.json`` stores it (non-finite numbers as ``None``)."""
    validate_result(result)
    scenario = result["scenario"]
    return _finite(summarize_run(scenario["protocol"], scenario["steps"], result["steps"]))
