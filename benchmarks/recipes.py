"""Recipes: the hyperparameter values a run uses on a preset and where each comes from, and
``python -m benchmarks.recipes``, which lists them for every method × real preset.

A *real preset* runs on a published dataset (:func:`scenarios.is_real_source` decides); the
digits, the synthetic images and the fictitious-facts miniature are CLUB's own data. On a real
preset a method runs the values of its config file (``methods/configs/<method>.json``), is
refused with one line, or runs its keyword defaults (tuned for the embedded data) after one
warning line. ``--set`` values always win.

``result["method"]["recipe"]`` is one of:

- ``"reference"``: the preset's config entry gives every hyperparameter that changes what the
  method learns a value from a reference (``source``);
- ``"club"``: CLUB's own values: an embedded or generated preset (keyword defaults), or a
  config entry with at least one value flagged as CLUB's own (``club``);
- ``"unverified"``: a real preset on which some such hyperparameter has no config value and
  runs its keyword default;
- ``"modified"``: the user changed a recipe value with ``--set``.

Results written before the flag existed read as ``"unverified"``
(``leaderboard.schema.RECIPE_UNRECORDED``). ``result["method"]["recipe_sources"]`` maps
every hyperparameter to ``{"source": ...}``, ``{"club": ...}``,
``{"unverified": ...}``, ``{"modified": ...}`` or, for one that does not change what the
method learns or scores, ``{"inert": ...}``. Inert are ``probe_layer`` (it picks what online
runs measure), ``eval_batch_size`` (how many questions a language model answers at once), the
options of :mod:`methods.acceleration` (``compile``, ``cuda_graphs``, ``optimizer_impl``,
``tf32``, ``backbone_dtype``: how the same computation runs), ``epochs`` and ``batch_size`` on
online streams (the stream sets both), and what a config file lists under ``inert``; a
reference entry need not name them.

Examples::

    python -m benchmarks.recipes                      # every method × real preset, each value's source
    python -m benchmarks.recipes --summary            # one line per pair, then the counts
    python -m benchmarks.recipes --method ease --scenario cub-b0inc10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from leaderboard.schema import RECIPE_FLAGS
from methods import Method, get_method, method_names
from methods.configs import ConfigError, method_config
from scenarios import PRESETS, PROTOCOL_CAPABILITIES, PROTOCOL_MODALITY, Preset

from .errors import UsageError

_HOW = "chooses how the same computation runs on the device (methods/acceleration.py); results differ by rounding only"
INERT = {
    "probe_layer": "picks the layer whose activations online runs measure; training is the same",
    "eval_batch_size": "how many questions a language model scores or answers at once; answers are left-padded and masked, so each one is the same",
    "compile": _HOW,
    "cuda_graphs": _HOW,
    "optimizer_impl": _HOW,
    "tf32": _HOW,
    "backbone_dtype": _HOW,
}
INERT_ONLINE = {
    "epochs": "an online stream is seen once, in the batches the stream sets",
    "batch_size": "an online stream is seen once, in the batches the stream sets",
}
KEYWORD_DEFAULT = "keyword default, tuned for CLUB's embedded data"


class RecipeRefused(UsageError):
    """The method's config file refuses the preset (the message says why)."""


@dataclass
class Recipe:
    """What a run of a method on a preset uses: ``values`` from the config file (applied under
    the user's ``--set`` values), the resulting ``flag``, the origin of every hyperparameter,
    and, for a run with keyword defaults on a real preset, what has no recipe and why (``gap``)."""

    method: str
    preset: str
    flag: str
    values: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, dict[str, str]] = field(default_factory=dict)
    gap: str | None = None

    @property
    def warning(self) -> str | None:
        """The one line an unverified run prints before it starts."""
        if self.gap is None:
            return None
        return f"{self.method} on {self.preset}: {self.gap}; running keyword defaults tuned for CLUB's embedded data, result flagged recipe=unverified"

    def fields(self) -> dict[str, Any]:
        """The ``result["method"]`` fields of this recipe."""
        return {"recipe": self.flag, "recipe_sources": self.origins}


def runs_preset(method_cls: type[Method], preset: Preset) -> bool:
    """Whether the runner lets ``method_cls`` run ``preset``: same modality and the capability
    the protocol asks for (``forgets`` on protocols with forget steps)."""
    if method_cls.modality != PROTOCOL_MODALITY[preset.protocol]:
        return False
    capability = PROTOCOL_CAPABILITIES.get(preset.protocol)
    return capability is None or bool(getattr(method_cls, capability, False))


def inert_hyperparameters(method: str, preset: Preset) -> dict[str, str]:
    """Hyperparameters of ``method`` that cannot change what it learns on ``preset``, with why."""
    config = method_config(method)
    online = PROTOCOL_CAPABILITIES.get(preset.protocol) == "online"
    return {**INERT, **(INERT_ONLINE if online else {}), **(config.inert if config else {})}


def resolve_recipe(method: str, method_cls: type[Method], preset: Preset, settings: dict[str, Any]) -> Recipe:
    """The recipe of ``method`` on ``preset`` given the user's typed ``--set`` values; raises
    :class:`RecipeRefused` when the config file refuses the preset."""
    config = method_config(method)
    if config is not None and preset.name in config.refused:
        raise RecipeRefused(f"method {method!r} does not run scenario {preset.name!r}: {config.refused[preset.name]}")
    entry = config.presets.get(preset.name) if config is not None else None
    values = {key: v.value for key, v in (entry or {}).items()}
    inert = inert_hyperparameters(method, preset)
    origins: dict[str, dict[str, str]] = {}
    for key, default in method_cls.hyperparameters().items():
        recipe_value = values.get(key, default)
        if key in inert:
            origins[key] = {"inert": inert[key]}
        elif key in settings and settings[key] != recipe_value:
            origins[key] = {"modified": f"--set {key}={json.dumps(settings[key])} (recipe: {json.dumps(recipe_value)})"}
        elif entry is not None and key in entry:
            origins[key] = entry[key].origin
        elif preset.real:
            origins[key] = {"unverified": KEYWORD_DEFAULT}
        else:
            origins[key] = {"club": KEYWORD_DEFAULT}
    kinds = {next(iter(origin)) for origin in origins.values()}
    if entry is None and preset.real:
        kinds.add("unverified")
    # RECIPE_FLAGS runs from the most to the least faithful; a run takes the least faithful kind.
    flag = next((f for f in reversed(RECIPE_FLAGS) if f in kinds), RECIPE_FLAGS[0])
    gap = None
    if "unverified" in kinds:
        missing = [k for k, origin in origins.items() if "unverified" in origin]
        what = "no recipe for this preset" if entry is None else f"no recipe value for {', '.join(missing)}"
        if entry is not None:
            why = "the preset's config entry leaves them out"
        elif config is not None and preset.name in config.unverified:
            why = config.unverified[preset.name]
        else:
            why = "its config file does not name this preset"
        gap = f"{what} ({why})"
    return Recipe(method, preset.name, flag, values, origins, gap)


def _pairs(methods: list[str] | None, scenarios: list[str] | None) -> list[tuple[str, type[Method], Preset]]:
    pairs = []
    for preset in PRESETS.values():
        if not preset.real or (scenarios and preset.name not in scenarios):
            continue
        modality = PROTOCOL_MODALITY[preset.protocol]
        for name in method_names(modality):
            cls = get_method(name, modality)
            if (not methods or name in methods) and runs_preset(cls, preset):
                pairs.append((name, cls, preset))
    return sorted(pairs, key=lambda p: (p[0], p[1].modality, list(PRESETS).index(p[2].name)))


def describe(pairs: list[tuple[str, type[Method], Preset]], summary: bool) -> tuple[list[str], dict[str, int]]:
    """Lines describing the recipe of each pair, and the count of each outcome."""
    lines, counts = [], {"reference": 0, "club": 0, "unverified": 0, "refused": 0}
    for name, cls, preset in pairs:
        label = f"{name} on {preset.name}" + (" (language model)" if cls.modality == "text" else "")
        try:
            recipe = resolve_recipe(name, cls, preset, {})
        except RecipeRefused:
            counts["refused"] += 1
            lines.append(f"{label}: refused: {method_config(name).refused[preset.name]}")
            continue
        counts[recipe.flag] += 1
        lines.append(f"{label}: {recipe.flag}" + (f": {recipe.gap}" if recipe.gap else ""))
        if not summary and recipe.values:
            lines += _value_lines(recipe)
    return lines, counts


def _value_lines(recipe: Recipe) -> list[str]:
    width = max(len(k) for k in recipe.origins)
    out = []
    for key, origin in recipe.origins.items():
        kind, text = next(iter(origin.items()))
        if kind == "inert":
            continue
        value = recipe.values.get(key)
        shown = json.dumps(value) if key in recipe.values else "(keyword default)"
        out.append(f"    {key:<{width}}  {shown:<28} {kind}: {text}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.recipes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--method", action="append", help="only this method (repeatable)")
    parser.add_argument("--scenario", action="append", help="only this preset (repeatable)")
    parser.add_argument("--summary", action="store_true", help="one line per pair, without the values")
    args = parser.parse_args(argv)
    known = set(method_names("image")) | set(method_names("text"))
    unknown = [m for m in args.method or [] if m not in known] + [s for s in args.scenario or [] if s not in PRESETS]
    if unknown:
        print(f"error: unknown method or scenario {', '.join(unknown)} (see python -m benchmarks.run --list)", file=sys.stderr)
        return 2
    pairs = _pairs(args.method, args.scenario)
    if not pairs:
        print("error: no method runs those real presets (embedded and generated presets always run CLUB's own values)", file=sys.stderr)
        return 2
    try:
        lines, counts = describe(pairs, args.summary)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        print("\n".join(lines))
        print(f"\n{len(pairs)} method × real preset pairs: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (``| head``): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
