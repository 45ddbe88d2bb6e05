"""A board: the accepted runs of one scenario preset, aggregated over seeds and ranked.

A row holds the runs of one method with one configuration and one code (``verify.group_key``).
Runs of the same seed are averaged first, so that a repeated seed does not count as another
sample; then every number column gets, over the n seeds, the mean, the sample standard
deviation and a 95% percentile-bootstrap interval of the mean (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, ch. 13: :data:`BOOTSTRAP_RESAMPLES` resamples of the n
per-seed values with replacement; the interval runs from the 2.5th to the 97.5th percentile of
the resampled means; the generator is seeded, so the same values always give the same interval).

Rows are ranked by the track's primary column (rows without a value last). Rows of a single
seed have no interval; they are ranked below the rows of several seeds unless
``single_seed_last`` is false. A row whose interval on the primary column overlaps the
interval of the row ranked just above it is marked as not separable from it.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from .tracks import COMPUTE, HIGHER, TRACKS, Column, Track

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Run:
    """One accepted submission as a board sees it."""

    entry: int
    method: str
    group_key: str
    seed: int
    recipe: str
    device: str
    git_commit: str
    values: dict[str, Any]  # recomputed metrics and compute numbers, by column key
    curve: list[float | None]
    config: dict[str, Any]
    verification: str | None  # latest replay outcome: "reproduced", "diverged" or None

    @classmethod
    def from_submission(cls, submission: Any, verification: str | None) -> "Run":
        """From a stored ``Submission`` row (``store.Submission``)."""
        derived = json.loads(submission.derived)
        values = dict(derived["summary"]["metrics"])
        values.update(
            wall_seconds=submission.wall_seconds,
            trainable_parameters=submission.trainable_parameters,
            peak_memory_bytes=submission.peak_memory_bytes,
        )
        return cls(
            submission.id, submission.method, submission.group_key, submission.seed, submission.recipe,
            submission.device, submission.git_commit, values, derived["curve"], derived["config"], verification,
        )  # fmt: skip


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def bootstrap_interval(values: Sequence[float]) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the mean of ``values`` (``None`` for fewer than 2)."""
    if len(values) < 2:
        return None
    data = np.asarray(values, dtype=float)
    picks = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(data), size=(BOOTSTRAP_RESAMPLES, len(data)))
    low, high = np.percentile(data[picks].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def statistics(values: Sequence[float | None]) -> dict[str, Any]:
    """``mean``, ``std`` (sample, ``None`` for one value), ``n`` and bootstrap ``low``/``high`` of the finite values."""
    finite = [v for v in (_number(v) for v in values) if v is not None]
    interval = bootstrap_interval(finite)
    return {
        "mean": float(np.mean(finite)) if finite else None,
        "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else None,
        "n": len(finite),
        "low": interval[0] if interval else None,
        "high": interval[1] if interval else None,
    }


def _mean_curve(curves: Sequence[Sequence[float | None]]) -> list[float | None]:
    length = max((len(c) for c in curves), default=0)
    out: list[float | None] = []
    for i in range(length):
        finite = [v for v in (_number(c[i]) if i < len(c) else None for c in curves) if v is not None]
        out.append(float(np.mean(finite)) if finite else None)
    return out


def _per_seed(runs: Sequence[Run], column: Column) -> list[Any]:
    """One value per seed: repeats of a seed averaged (element-wise for list columns)."""
    by_seed: dict[int, list[Any]] = defaultdict(list)
    for run in runs:
        by_seed[run.seed].append(run.values.get(column.key))
    if column.kind == "list":
        return [_mean_curve([v for v in values if isinstance(v, list)]) for values in by_seed.values()]
    out = []
    for values in by_seed.values():
        finite = [v for v in (_number(v) for v in values) if v is not None]
        out.append(float(np.mean(finite)) if finite else None)
    return out


def _config_labels(groups: dict[str, list[Run]]) -> dict[str, str]:
    """For methods with several configurations on the board: the settings that tell them apart."""
    by_method: dict[str, list[str]] = defaultdict(list)
    for key, runs in groups.items():
        by_method[runs[0].method].append(key)
    labels = {}
    for keys in by_method.values():
        flat = {key: _flatten(groups[key][0].config) for key in keys}
        names = sorted({n for f in flat.values() for n in f})
        differing = [n for n in names if len({json.dumps(f.get(n), sort_keys=True) for f in flat.values()}) > 1]
        for key in keys:
            labels[key] = ", ".join(f"{n}={json.dumps(flat[key].get(n))}" for n in differing)
    return labels


def _flatten(config: dict[str, Any]) -> dict[str, Any]:
    flat = dict(config["hyperparameters"])
    flat.update({f"scenario.{k}": v for k, v in config["overrides"].items()})
    if config["plugins"]:
        flat["plugins"] = config["plugins"]
    return flat


def build_board(preset: str, family: str, runs: Iterable[Run], single_seed_last: bool = True) -> dict[str, Any]:
    """The board of ``preset`` as a JSON-ready dict: track, columns and ranked rows."""
    track: Track = TRACKS[family]
    groups: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        groups[run.group_key].append(run)
    labels = _config_labels(groups)
    columns = [*track.columns, *COMPUTE]
    rows = []
    for key, members in groups.items():
        values = {}
        for column in columns:
            per_seed = _per_seed(members, column)
            values[column.key] = _mean_curve(per_seed) if column.kind == "list" else statistics(per_seed)
        seeds = sorted({r.seed for r in members})
        outcomes = [r.verification for r in members]
        rows.append(
            {
                "method": members[0].method,
                "group_key": key,
                "config_label": labels[key],
                "config": members[0].config,
                "recipe": sorted({r.recipe for r in members}),
                "device": sorted({r.device for r in members}),
                "git_commit": sorted({r.git_commit for r in members}),
                "seeds": seeds,
                "single_seed": len(seeds) < 2,
                "entries": sorted(r.entry for r in members),
                "reproduced": outcomes.count("reproduced"),
                "diverged": outcomes.count("diverged"),
                "values": values,
                "curve": _mean_curve([_mean_curve([r.curve for r in members if r.seed == s]) for s in seeds]),
            }
        )
    _rank(rows, track, single_seed_last)
    return {
        "preset": preset,
        "family": family,
        "title": track.title,
        "primary": track.primary,
        "primary_better": track.column(track.primary).better,
        "curve_label": track.curve_label,
        "single_seed_last": single_seed_last,
        "columns": [{"key": c.key, "label": c.label, "better": c.better, "kind": c.kind} for c in track.columns],
        "compute_columns": [{"key": c.key, "label": c.label, "better": c.better, "kind": c.kind} for c in COMPUTE],
        "rows": rows,
    }


def _rank(rows: list[dict[str, Any]], track: Track, single_seed_last: bool) -> None:
    """Sort ``rows`` in place by the primary column, number them and mark inseparable neighbours."""
    sign = -1.0 if track.column(track.primary).better == HIGHER else 1.0

    def key(row: dict[str, Any]) -> tuple:
        mean = row["values"][track.primary]["mean"]
        return (single_seed_last and row["single_seed"], mean is None, sign * (mean or 0.0), row["method"], row["group_key"])

    rows.sort(key=key)
    for i, row in enumerate(rows):
        row["rank"] = i + 1
        row["separable_from_previous"] = None
        if i:
            here, above = row["values"][track.primary], rows[i - 1]["values"][track.primary]
            if here["low"] is not None and above["low"] is not None:
                row["separable_from_previous"] = here["high"] < above["low"] or above["high"] < here["low"]


def board_of(stored: Any, single_seed_last: bool = True) -> dict[str, Any]:
    """The board of a stored preset (``store.Board``): its submissions with their latest replay outcome."""
    runs = []
    for submission in stored.submissions:
        verification = stored.verifications.get(submission.id)
        runs.append(Run.from_submission(submission, verification.outcome if verification else None))
    return build_board(stored.preset, stored.family, runs, single_seed_last)
