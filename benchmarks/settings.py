"""``--set key=value`` parsing: method hyperparameters, and ``scenario.*`` protocol options."""

from __future__ import annotations

import json
from typing import Any

from .errors import UsageError

SCENARIO_PREFIX = "scenario."


def parse_pairs(pairs: list[str]) -> dict[str, str]:
    """``["a=1", "b=x"]`` → ``{"a": "1", "b": "x"}``; a pair without ``=`` is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _literal(text: str) -> Any:
    """JSON when it parses (numbers, true/false, lists), the plain string otherwise."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def cast_like(key: str, text: str, default: Any) -> Any:
    """Convert ``text`` to the type of ``default`` (bool, int, float or str)."""
    value = _literal(text)
    if isinstance(default, bool):
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in words:
            raise UsageError(f"--set {key}={text}: expected true or false")
        return words[text.lower()]
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
            raise UsageError(f"--set {key}={text}: expected an integer")
        return int(value)
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"--set {key}={text}: expected a number")
        return float(value)
    if isinstance(default, str):
        return text
    return value


def split_settings(
    raw: dict[str, str], method: str, defaults: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split raw settings into typed method hyperparameters and scenario overrides."""
    hparams: dict[str, Any] = {}
    scenario: dict[str, Any] = {}
    for key, text in raw.items():
        if key.startswith(SCENARIO_PREFIX):
            scenario[key[len(SCENARIO_PREFIX) :]] = _literal(text)
        elif key in defaults:
            hparams[key] = cast_like(key, text, defaults[key])
        else:
            valid = ", ".join(sorted(defaults)) or "none"
            raise UsageError(f"method {method!r} has no setting {key!r}; its settings: {valid} (or scenario.*)")
    return hparams, scenario
