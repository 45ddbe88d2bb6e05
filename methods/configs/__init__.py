"""Versioned recipes: the hyperparameter values of a method on each scenario preset, and where
each value comes from.

``methods/configs/<method>.json``::

    {"method": "ease", "version": 2,
     "presets": {"cub-b0inc10": {
         "lr": {"value": 0.008, "source": "sun-hailong/CVPR24-Ease exps/ease_cub_in21k.json"},
         "epochs": {"value": 20, "club": "why CLUB chose this value"}}},
     "refused": {"cifar10-forget-class": "why the method cannot run this preset"},
     "unverified": {"cifar10-b0inc2": "why no recipe exists for this preset"},
     "inert": {"length": "why this hyperparameter cannot change the results of these presets"}}

A value is ``{"value": X, "source": "<public repository path or paper>"}`` when a reference
used it for that dataset in that kind of protocol, or ``{"value": X, "club": "<why>"}`` when it
is CLUB's own (borrowed from another dataset or protocol, or adapted to what CLUB implements).
``refused`` names presets the method will not run (one line each, shown to the user);
``unverified`` names presets it runs on its keyword defaults, with the reason no recipe exists;
``inert`` names hyperparameters that do not change what the method learns on the presets of
the file (e.g. a prompt length when every preset uses adapters). ``"learning_recipe":
"finetune"`` says that ``finetune``'s entry for a preset gives this method's values on that
preset too: an unlearning method first learns what it will later forget, and it learns it as
the retrain oracle does (``benchmarks/oracle.py`` trains with that entry), so the values live in
one file; an entry may not repeat them, and may be empty when they are all it needs.
``note`` is free text. Every key but ``method``, ``version`` and ``presets`` is optional.

How a run combines these with the user's ``--set`` values, and which flag its result gets, is
decided in ``benchmarks/recipes.py``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).parent
_KEYS = {"method", "version", "note", "presets", "refused", "unverified", "inert", "learning_recipe"}


class ConfigError(ValueError):
    """A config file does not follow the format above (one line naming the file and the entry)."""


@dataclass(frozen=True)
class RecipeValue:
    """One hyperparameter value of a recipe: a reference ``source``, or CLUB's reason (``club``)."""

    value: Any
    source: str = ""
    club: str = ""

    @property
    def origin(self) -> dict[str, str]:
        """``{"source": ...}`` or ``{"club": ...}``: what a result records for this value."""
        return {"source": self.source} if self.source else {"club": self.club}

    def inherited(self, method: str) -> RecipeValue:
        """This value as another method's config records it, taken from ``method``'s file."""
        prefix = f"the preset's learning recipe, methods/configs/{method}.json: "
        return replace(self, **({"source": prefix + self.source} if self.source else {"club": prefix + self.club}))


@dataclass(frozen=True)
class MethodConfig:
    """The parsed config file of one method."""

    method: str
    version: int
    presets: dict[str, dict[str, RecipeValue]]
    refused: dict[str, str]
    unverified: dict[str, str]
    inert: dict[str, str]
    learning_recipe: str | None = None


def _reasons(doc: dict, key: str, where: str) -> dict[str, str]:
    reasons = doc.get(key, {})
    if not isinstance(reasons, dict) or not all(isinstance(v, str) and v.strip() and "\n" not in v for v in reasons.values()):
        raise ConfigError(f"{where}: {key!r} must map names to one-line reasons")
    return dict(reasons)


def _value(entry: Any, where: str) -> RecipeValue:
    if not isinstance(entry, dict) or "value" not in entry:
        raise ConfigError(f"{where}: expected {{\"value\": ..., \"source\" or \"club\": ...}}")
    origins = [k for k in ("source", "club") if k in entry]
    if len(origins) != 1 or set(entry) != {"value", origins[0]}:
        raise ConfigError(f"{where}: a value has exactly one of \"source\" (a reference) or \"club\" (CLUB's reason)")
    text = entry[origins[0]]
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{where}: {origins[0]!r} must be a non-empty string")
    return RecipeValue(entry["value"], **{origins[0]: text})


def parse_config(doc: Any, method: str) -> MethodConfig:
    """Check a config document of ``method`` and return it parsed; :class:`ConfigError` otherwise."""
    where = f"methods/configs/{method}.json"
    if not isinstance(doc, dict) or doc.get("method") != method or not isinstance(doc.get("version"), int):
        raise ConfigError(f"{where}: needs \"method\": {method!r} and an integer \"version\"")
    if set(doc) - _KEYS:
        raise ConfigError(f"{where}: unknown keys {sorted(set(doc) - _KEYS)}; allowed: {sorted(_KEYS)}")
    if not isinstance(doc.get("presets"), dict):
        raise ConfigError(f"{where}: \"presets\" must map preset names to hyperparameter entries")
    learning = doc.get("learning_recipe")
    if learning is not None and (not isinstance(learning, str) or not learning.strip() or learning == method):
        raise ConfigError(f"{where}: \"learning_recipe\" must name another method's config file")
    presets = {}
    for preset, entries in doc["presets"].items():
        if not isinstance(entries, dict) or not (entries or learning):
            raise ConfigError(f"{where}: preset {preset!r} must map hyperparameters to values")
        presets[preset] = {key: _value(entry, f"{where}, {preset}.{key}") for key, entry in entries.items()}
    refused, unverified = _reasons(doc, "refused", where), _reasons(doc, "unverified", where)
    clash = (set(presets) & set(refused)) | (set(presets) & set(unverified)) | (set(refused) & set(unverified))
    if clash:
        raise ConfigError(f"{where}: presets {sorted(clash)} are named twice (presets, refused, unverified)")
    return MethodConfig(method, doc["version"], presets, refused, unverified, _reasons(doc, "inert", where), learning)


def with_learning_recipe(config: MethodConfig, learning: MethodConfig | None) -> MethodConfig:
    """``config`` with its learning recipe's values (``learning``, the parsed file that
    ``config.learning_recipe`` names) added to each of its presets that the recipe names.

    Each value inherited this way records where it came from; a file that repeats one of them,
    or a learning recipe that has a learning recipe of its own, is a :class:`ConfigError`."""
    where = f"methods/configs/{config.method}.json"
    if learning is None:
        raise ConfigError(f"{where}: learning_recipe {config.learning_recipe!r} has no config file")
    if learning.learning_recipe is not None:
        raise ConfigError(f"{where}: learning_recipe {learning.method!r} has a learning recipe itself; name the file that holds the values")
    presets = {}
    for preset, entries in config.presets.items():
        inherited = learning.presets.get(preset, {})
        repeated = sorted(set(entries) & set(inherited))
        if repeated:
            source = f"methods/configs/{learning.method}.json"
            raise ConfigError(f"{where}, {preset}: {', '.join(repeated)} come from the learning recipe ({source}); set them there only")
        if not (entries or inherited):
            raise ConfigError(f"{where}: preset {preset!r} must map hyperparameters to values (its learning recipe names none)")
        presets[preset] = {**{key: value.inherited(learning.method) for key, value in inherited.items()}, **entries}
    return replace(config, presets=presets)


@lru_cache(maxsize=None)
def method_config(method: str) -> MethodConfig | None:
    """The parsed config file of ``method`` (its learning recipe's values included), or ``None``
    when it has none."""
    doc = config_document(method)
    if doc is None:
        return None
    config = parse_config(doc, method)
    if config.learning_recipe is None:
        return config
    learning = config_document(config.learning_recipe)
    return with_learning_recipe(config, None if learning is None else parse_config(learning, config.learning_recipe))


def config_document(method: str) -> dict[str, Any] | None:
    """The raw config file of ``method``, or ``None`` when it has none."""
    path = CONFIG_DIR / f"{method}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def config_methods() -> list[str]:
    """Names of the methods that have a config file."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def preset_hyperparameters(method: str, scenario: str) -> dict[str, Any]:
    """Hyperparameter values the config file of ``method`` sets for preset ``scenario``."""
    config = method_config(method)
    if config is None:
        return {}
    return {key: entry.value for key, entry in config.presets.get(scenario, {}).items()}
