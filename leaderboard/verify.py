"""Verification of a submitted ``result.json``: what the leaderboard accepts, it has re-derived.

A document is accepted only when

1. it is strict JSON (no NaN or ±Infinity; ``null`` stands for a number that does not exist)
   and follows the schema (:func:`leaderboard.validate_result`);
2. every per-class record ``[correct, total]`` (of the method, the retrain oracle and the
   reference model) is a pair of integers with 0 ≤ correct ≤ total, and the step records
   follow the scenario's steps;
3. it carries its provenance: CLUB version and git commit, the method's configuration, the
   SHA-256 of the method's source files (plugins too) and the environment; the recipe flag,
   when present, is one of :data:`~leaderboard.schema.RECIPE_FLAGS`;
4. its scenario is the preset's: protocol, class order and steps are rebuilt by ``scenarios``
   from the preset, the stored overrides and the seed, and compared;
5. every summary number equals its recomputation from the records
   (:func:`leaderboard.recompute_metrics`), and the timing totals equal the sums over the
   step records.

Each refusal is an :class:`InvalidResult` whose one-line message names the field and, for a
number, the claimed and the recomputed value. The numbers a board shows are the recomputed
ones, never the claimed ones.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .schema import RECIPE_FLAGS, RECIPE_UNRECORDED, InvalidResult, check_schema, difference, recompute_metrics, show_json, validate_result
from .tracks import Track, track_of

MAX_METHOD_NAME = 200
INT64 = 2**63  # seeds and counts are stored as 64-bit integers
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class MalformedJSON(InvalidResult):
    """The submitted bytes are not a JSON document."""


class ScenarioUnavailable(RuntimeError):
    """The scenario cannot be rebuilt on this machine (its data source is missing): the
    submission is not judged, the verifier's environment lacks something (one line)."""


@dataclass(frozen=True)
class Verified:
    """An accepted result: the document, its identity and everything derived from it."""

    document: dict[str, Any]
    canonical: str  # the document as canonical JSON, what is stored and hashed
    content_hash: str  # SHA-256 of ``canonical``
    group_key: str  # SHA-256 of method, configuration and code: the runs a row aggregates over seeds
    track: Track
    summary: dict[str, Any]  # recompute_metrics(document)
    curve: list[float | None]  # the track's per-step curve
    compute: dict[str, Any]  # wall_seconds, peak_memory_bytes, trainable_parameters, device

    @property
    def preset(self) -> str:
        return self.document["scenario"]["name"]

    @property
    def method(self) -> str:
        return self.document["method"]["name"]

    @property
    def recipe(self) -> str:
        return self.document["method"].get("recipe", RECIPE_UNRECORDED)

    @property
    def config(self) -> dict[str, Any]:
        """What a row's runs share besides the code: hyperparameters, scenario overrides, plugin files."""
        return config_of(self.document)


def default_data_dir() -> Path:
    """Where scenarios are rebuilt from: ``$CLUB_DATA`` or ``~/.cache/club``, as for the runner."""
    return Path(os.environ.get("CLUB_DATA", Path.home() / ".cache" / "club"))


def _refuse_constant(name: str) -> Any:
    raise InvalidResult(f"the result holds {name}, which JSON does not allow (null stands for a missing number)")


def parse_document(data: bytes | str) -> Any:
    """Strict JSON: :class:`MalformedJSON` for anything that does not parse, :class:`InvalidResult` for NaN/±Infinity."""
    try:
        return json.loads(data, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MalformedJSON(f"not a JSON document ({e})") from None
    except RecursionError:
        raise MalformedJSON("not a JSON document (nested too deeply)") from None


def canonical_json(document: Any) -> str:
    """Sorted keys, no whitespace, UTF-8 text: equal documents give equal text (and hash)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _non_finite(value: Any, path: str) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite(item, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def _check_counts(evaluations: Any, where: str) -> None:
    if not isinstance(evaluations, dict):
        raise InvalidResult(f"{where}: evaluations must map set names to records")
    for name, evaluation in evaluations.items():
        per_class = evaluation.get("per_class") if isinstance(evaluation, dict) else None
        if not isinstance(per_class, dict):
            raise InvalidResult(f"{where}, set {name}: per_class is missing")
        for cls, counts in per_class.items():
            at = f"{where}, set {name}, class {cls}"
            if not str(cls).isdigit():
                raise InvalidResult(f"{where}, set {name}: class id {cls!r} is not a non-negative integer")
            if not (isinstance(counts, list) and len(counts) == 2 and all(type(v) is int for v in counts)):
                raise InvalidResult(f"{at}: counts must be [correct, total] integers, got {json.dumps(counts)}")
            correct, total = counts
            if correct > total:
                raise InvalidResult(f"{at}: correct {correct} > total {total}")
            if correct < 0:
                raise InvalidResult(f"{at}: negative count {correct}")


def _check_all_counts(result: Any) -> None:
    """Per-class counts of every evaluation of every step record (of the method, the retrain
    oracle and the reference model), wherever the document holds them."""
    records = result.get("steps") if isinstance(result, dict) else None
    for i, record in enumerate(records if isinstance(records, list) else []):
        if not isinstance(record, dict):
            continue
        if "evaluations" in record:
            _check_counts(record["evaluations"], f"step {i}")
        for model in ("oracle", "reference"):
            if model in record:
                _check_counts((record[model] or {}).get("evaluations"), f"step {i}, {model}")


def _check_records(result: dict) -> None:
    """Step records aligned with the scenario's steps, with their times and memory."""
    for i, (step, record) in enumerate(zip(result["scenario"]["steps"], result["steps"])):
        if not isinstance(record, dict) or record.get("step") != i or record.get("kind") != step.get("kind"):
            raise InvalidResult(f"step record {i}: its step index and kind must be those of scenario step {i}")
        for key in ("train_seconds", "eval_seconds"):
            if not isinstance(record.get(key), (int, float)) or isinstance(record.get(key), bool) or record[key] < 0:
                raise InvalidResult(f"step {i}: {key} must be a number of seconds ≥ 0")
        memory = record.get("peak_memory_bytes")
        if type(memory) is not int or not 0 <= memory < INT64:
            raise InvalidResult(f"step {i}: peak_memory_bytes must be a 64-bit integer ≥ 0")


def _text(document: dict, *path: str) -> str:
    value: Any = document
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    if not isinstance(value, str) or not value:
        raise InvalidResult(f"provenance: {'.'.join(path)} is missing")
    return value


def _check_provenance(result: dict) -> None:
    method = result["method"]
    name = _text(result, "method", "name")
    if len(name) > MAX_METHOD_NAME:
        raise InvalidResult(f"method.name is longer than {MAX_METHOD_NAME} characters")
    if not -INT64 < result["seed"] < INT64:
        raise InvalidResult(f"seed {result['seed']} does not fit in 64 bits")
    _text(result, "environment", "packages", "club")
    _text(result, "environment", "git_commit")
    for key in ("python", "platform", "device"):
        _text(result, "environment", key)
    if not isinstance(method.get("hyperparameters"), dict):
        raise InvalidResult("provenance: method.hyperparameters (the method's configuration) is missing")
    if not isinstance(method.get("plugins", []), list) or not all(isinstance(p, str) for p in method.get("plugins", [])):
        raise InvalidResult("provenance: method.plugins must list the plugins the run loaded")
    sources = method.get("source_sha256")
    if not isinstance(sources, dict) or not sources:
        raise InvalidResult("provenance: method.source_sha256 (SHA-256 of the method's source files) is missing")
    for path, digest in sources.items():
        if not (isinstance(digest, str) and _SHA256.match(digest)):
            raise InvalidResult(f"provenance: method.source_sha256[{path!r}] is not a SHA-256 hex digest")
    if method.get("recipe", RECIPE_UNRECORDED) not in RECIPE_FLAGS:
        raise InvalidResult(f"method.recipe must be one of {', '.join(RECIPE_FLAGS)}, got {json.dumps(method.get('recipe'))}")
    if not isinstance(result["scenario"].get("overrides"), dict):
        raise InvalidResult("scenario.overrides (the scenario options set on the command line) is missing")


@functools.lru_cache(maxsize=512)
def _rebuilt_scenario(preset: str, overrides: str, seed: int, data_dir: str) -> dict[str, Any]:
    """Protocol, source, class order and step descriptions of a preset's stream for ``seed``."""
    from scenarios import PRESETS, DatasetUnavailable, apply_overrides, build_scenario

    if preset not in PRESETS:
        raise InvalidResult(f"scenario.name {preset!r} is not a scenario preset")
    try:
        stream = build_scenario(apply_overrides(PRESETS[preset], json.loads(overrides)), seed, Path(data_dir), download=False)
    except DatasetUnavailable as e:
        raise ScenarioUnavailable(f"cannot rebuild scenario {preset} to check it: {e}") from None
    except Exception as e:  # noqa: BLE001 - overrides are the submitter's: whatever they break is their refusal
        reason = " ".join(f"{type(e).__name__}: {e}".split()) if not isinstance(e, (TypeError, ValueError)) else " ".join(str(e).split())
        raise InvalidResult(f"scenario {preset} with overrides {overrides}: {reason}") from None
    return {
        "protocol": stream.protocol,
        "source": stream.source,
        "class_order": [int(c) for c in stream.class_order],
        "steps": [stream.describe_step(i) for i in range(len(stream.steps))],
    }


def _check_scenario(result: dict, data_dir: Path) -> None:
    scenario = result["scenario"]
    name = scenario.get("name")
    if not isinstance(name, str):
        raise InvalidResult("scenario.name is missing")
    expected = _rebuilt_scenario(name, canonical_json(scenario["overrides"]), result["seed"], str(data_dir))
    where = f"scenario {name} with seed {result['seed']}"
    for key in ("protocol", "source", "class_order"):
        if scenario.get(key) != expected[key]:
            raise InvalidResult(f"scenario.{key}: claimed {show_json(scenario.get(key))}, {where} makes {show_json(expected[key])}")
    claimed, steps = scenario["steps"], expected["steps"]
    if len(claimed) != len(steps):
        raise InvalidResult(f"scenario.steps: claimed {len(claimed)} steps, {where} makes {len(steps)}")
    for i, (mine, theirs) in enumerate(zip(claimed, steps)):
        for key in sorted(set(theirs) | set(mine if isinstance(mine, dict) else {})):
            value = mine.get(key) if isinstance(mine, dict) else None
            if value != theirs.get(key):
                raise InvalidResult(f"scenario.steps[{i}].{key}: claimed {show_json(value)}, {where} makes {show_json(theirs.get(key))}")


def _compute(result: dict) -> dict[str, Any]:
    """Compute of the run from its step records; the claimed totals must agree."""
    records = result["steps"]
    derived = {
        "train_seconds": sum(r["train_seconds"] for r in records),
        "eval_seconds": sum(r["eval_seconds"] for r in records),
        "peak_memory_bytes": max(r["peak_memory_bytes"] for r in records),
    }
    found = difference(derived, result.get("timing"), "timing")
    if found:
        raise InvalidResult(found)
    trained = [r.get("trained_parameters") for r in records]
    parameters = result["method"].get("trainable_parameters")
    if any(n is not None for n in trained):
        if not all(type(n) is int and 0 <= n < INT64 for n in trained):
            raise InvalidResult("steps: trained_parameters must be a count ≥ 0 in every step record")
        if parameters != max(trained):
            raise InvalidResult(f"method.trainable_parameters: claimed {show_json(parameters)}, recomputed {max(trained)}")
    elif parameters is not None:
        raise InvalidResult("method.trainable_parameters: claimed, but no step record says how many parameters it trained")
    return {
        "wall_seconds": derived["train_seconds"] + derived["eval_seconds"],
        "peak_memory_bytes": derived["peak_memory_bytes"],
        "trainable_parameters": parameters,
        "device": result["environment"].get("device_name") or result["environment"]["device"],
    }


def config_of(result: dict) -> dict[str, Any]:
    """The method's hyperparameters, the scenario overrides and the plugin file names of a result."""
    method = result["method"]
    return {
        "hyperparameters": method["hyperparameters"],
        "overrides": result["scenario"]["overrides"],
        "plugins": [Path(p).name for p in method.get("plugins", [])],
    }


def group_key(result: dict) -> str:
    """Identity of the runs one board row aggregates over seeds: preset, method name, its
    configuration (:func:`config_of`) and the SHA-256 of its source files."""
    identity = {
        "preset": result["scenario"]["name"],
        "method": result["method"]["name"],
        **config_of(result),
        "source_sha256": result["method"]["source_sha256"],
    }
    return sha256_text(canonical_json(identity))


def verify_result(document: Any, data_dir: Path | None = None) -> Verified:
    """Check ``document`` (a parsed ``result.json``) as described in this module's docstring.

    Raises :class:`InvalidResult` (one line) for a document that is refused, and
    :class:`ScenarioUnavailable` when its scenario's data is not on this machine.
    """
    found = _non_finite(document, "")
    if found:
        raise InvalidResult(f"{found} is not a finite number (null stands for a missing number)")
    _check_all_counts(document)
    check_schema(document)
    track = track_of(document["scenario"]["protocol"])
    if track is None:
        raise InvalidResult(f"scenario.protocol {document['scenario']['protocol']!r} has no leaderboard track")
    _check_provenance(document)
    _check_scenario(document, data_dir or default_data_dir())
    _check_records(document)
    validate_result(document)  # every derived number against its recomputation
    try:
        summary = recompute_metrics(document)
        curve = track.curve(document, summary)
    except InvalidResult:
        raise
    except Exception as e:  # noqa: BLE001 - records that do not fit the protocol's summary, whatever breaks
        protocol = document["scenario"]["protocol"]
        reason = " ".join(f"{type(e).__name__}: {e}".split())
        raise InvalidResult(f"the records cannot be summarised as protocol {protocol}: {reason}") from None
    canonical = canonical_json(document)
    return Verified(
        document=document,
        canonical=canonical,
        content_hash=sha256_text(canonical),
        group_key=group_key(document),
        track=track,
        summary=summary,
        curve=curve,
        compute=_compute(document),
    )
