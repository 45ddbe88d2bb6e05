"""``--set key=value`` parsing: method hyperparameters, and ``scenario.*`` protocol options.

Every value is typed and checked here, before any work: a hyperparameter takes the type of
its default and must lie in its declared domain (:mod:`methods.domains`); numbers must be
finite, whatever their spelling (``NaN``, ``nan``, ``Infinity``, ``-inf``, ``1e400``).
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping

from methods.domains import Domain

from .errors import UsageError

SCENARIO_PREFIX = "scenario."


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a pair without ``=``, or a key given
    twice, is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {pair!r}")
        if key.strip() in out:
            raise UsageError(f"--set {key.strip()} is given twice ({out[key.strip()]!r} and {value.strip()!r})")
        out[key.strip()] = value.strip()
    return out


def _literal(text: str) -> Any:
    """JSON when it parses (numbers, true/false, lists), the plain string otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _spells_non_finite(text: str) -> bool:
    """Whether ``text`` is a NaN or an infinity in any spelling Python accepts (``nan``, ``-Inf``, ``1e999``)."""
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return False


def _non_finite(value: Any) -> bool:
    """Whether ``value`` holds a NaN or an infinity (also inside a list or an object)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    return False


def cast_like(key: str, text: str, default: Any) -> Any:
    """Convert ``text`` to the type of ``default`` (bool, int, float or str)."""
    if isinstance(default, bool):
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in words:
            raise UsageError(f"--set {key}={text}: expected true or false")
        return words[text.lower()]
    if isinstance(default, str):
        return text
    value = _literal(text)
    if _non_finite(value) or _spells_non_finite(text):
        raise UsageError(f"--set {key}={text}: expected a finite number")
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise UsageError(f"--set {key}={text}: expected an integer")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"--set {key}={text}: expected a number")
        return float(value)
    return value


def check_domain(key: str, value: Any, domain: Domain | None, where: str) -> None:
    """Refuse ``value`` of hyperparameter ``key`` outside its declared ``domain``; ``where``
    names the place the value came from (``--set lr=-1``, a config file)."""
    problem = None if domain is None else domain.problem(value)
    if problem is not None:
        raise UsageError(f"{where}: {key} {problem}")


def split_settings(
    raw: dict[str, str], method: str, defaults: dict[str, Any], domains: Mapping[str, Domain] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split raw settings into typed, domain-checked method hyperparameters and scenario overrides."""
    hparams: dict[str, Any] = {}
    scenario: dict[str, Any] = {}
    for key, text in raw.items():
        if key.startswith(SCENARIO_PREFIX):
            scenario[key[len(SCENARIO_PREFIX) :]] = scenario_value(key, text)
        elif key in defaults:
            hparams[key] = cast_like(key, text, defaults[key])
            check_domain(key, hparams[key], (domains or {}).get(key), f"--set {key}={text}")
        else:
            valid = ", ".join(sorted(defaults)) or "none"
            raise UsageError(f"method {method!r} has no setting {key!r}; its settings: {valid} (or scenario.*)")
    return hparams, scenario


def scenario_value(key: str, text: str) -> Any:
    """The value of a ``scenario.*`` option: JSON when it parses, else the string; never NaN or ±inf."""
    value = _literal(text)
    if _non_finite(value) or _spells_non_finite(text):
        raise UsageError(f"--set {key}={text}: expected a finite number")
    return value


def check_config_values(values: dict[str, Any], defaults: dict[str, Any], domains: Mapping[str, Domain], where: str) -> None:
    """Refuse a per-preset config value that is not a hyperparameter, has the wrong type or lies
    outside its domain (``where`` names the file and preset)."""
    for key, value in values.items():
        if key not in defaults:
            raise UsageError(f"{where}: {key!r} is not a setting of the method")
        default = defaults[key]
        kinds = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}.get(type(default))
        wrong = kinds is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and type(default) is not bool))
        if wrong or _non_finite(value):
            raise UsageError(f"{where}: {key}={value!r} is not a finite {type(default).__name__}")
        check_domain(key, value, domains.get(key), f"{where}: {key}={value!r}")
