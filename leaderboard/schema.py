"""The ``result.json`` schema, its validation, and the recomputation of its metrics."""

from __future__ import annotations

import math
from typing import Any

from metrics import summarize

SCHEMA_VERSION = 1
REQUIRED = {
    "schema_version": int,
    "method": dict,
    "scenario": dict,
    "seed": int,
    "environment": dict,
    "accuracy_matrix": list,
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
    if len(result["steps"]) != len(steps):
        raise InvalidResult(f"{len(result['steps'])} step records for {len(steps)} scenario steps")
    for record in result["steps"]:
        per_class = record.get("evaluations", {}).get("seen_test", {}).get("per_class")
        if not isinstance(per_class, dict) or any(
            not (isinstance(v, list) and len(v) == 2 and 0 <= v[0] <= v[1]) for v in per_class.values()
        ):
            raise InvalidResult(f"step {record.get('step')}: per_class must map class ids to [correct, total]")


def recompute_metrics(result: dict) -> dict:
    """Re-derive the accuracy matrix and metrics from the raw per-class records."""
    validate_result(result)
    step_classes = [s["classes"] for s in result["scenario"]["steps"]]
    records = [
        {int(c): v for c, v in r["evaluations"]["seen_test"]["per_class"].items()} for r in result["steps"]
    ]
    scored = summarize(records, step_classes)
    metrics: dict = {}
    for k, v in scored["metrics"].items():
        metrics[k] = None if isinstance(v, float) and not math.isfinite(v) else v
    return {"accuracy_matrix": scored["accuracy_matrix"], "metrics": metrics}
