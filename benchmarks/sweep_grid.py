"""The grid of a sweep: methods × scenarios × grid points × seeds, and the folder of each run.

A grid is stored in ``SWEEP_DIR/sweep.json``. Each of its cells is one ordinary
``python -m benchmarks.run`` with its own ``--out`` folder,
``SWEEP_DIR/<scenario>/<method>[/<grid point>]/seed-<n>/``, which holds that run's run
folder: a re-launched sweep finds every run where it left it. This module reads the grid
from the command line or a sweep file (YAML or TOML) and imports nothing heavy.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError

SWEEP_FILE_KEYS = (
    "methods", "scenarios", "seeds", "set", "grid", "plugins", "device", "data_dir",
    "out", "backend", "address", "workers", "cpus_per_run", "gpus_per_run", "send_back",
)
_SAFE = re.compile(r"[^A-Za-z0-9._=+-]")


@dataclass(frozen=True)
class Cell:
    """One run of the grid: ``method`` on ``scenario`` with the grid point ``point`` and ``seed``."""

    scenario: str
    method: str
    point: tuple[tuple[str, str], ...]
    seed: int

    @property
    def path(self) -> str:
        """The cell's folder relative to the sweep folder."""
        parts = [self.scenario, self.method, *([point_name(self.point)] if self.point else []), f"seed-{self.seed}"]
        return "/".join(parts)

    def arguments(self, grid: Grid) -> list[str]:
        """The arguments of ``python -m benchmarks.run`` for this cell (``--out`` aside)."""
        args = ["--method", self.method, "--scenario", self.scenario, "--seed", str(self.seed), "--device", grid.device]
        for key, value in [*grid.settings.items(), *self.point]:
            args += ["--set", f"{key}={value}"]
        for plugin in grid.plugins:
            args += ["--plugin", plugin]
        if grid.data_dir:
            args += ["--data-dir", grid.data_dir]
        return args


@dataclass
class Grid:
    """What a sweep runs: every method on every scenario, at every grid point, for every seed.

    ``settings`` are ``--set`` pairs given to every run; ``grid`` maps a setting to the values
    it is swept over (the grid points are their Cartesian product).
    """

    methods: list[str]
    scenarios: list[str]
    seeds: list[int]
    settings: dict[str, str] = field(default_factory=dict)
    grid: dict[str, list[str]] = field(default_factory=dict)
    plugins: list[str] = field(default_factory=list)
    device: str = "auto"
    data_dir: str | None = None

    def points(self) -> list[tuple[tuple[str, str], ...]]:
        keys = list(self.grid)
        return [tuple(zip(keys, values)) for values in itertools.product(*(self.grid[k] for k in keys))]

    def cells(self) -> list[Cell]:
        """Every cell, scenario by scenario, method by method, grid point by grid point, seed by seed."""
        return [
            Cell(scenario, method, point, seed)
            for scenario in self.scenarios
            for method in self.methods
            for point in self.points()
            for seed in self.seeds
        ]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grid:
        return cls(**data)


def point_name(point: tuple[tuple[str, str], ...]) -> str:
    """A folder name for a grid point, e.g. ``lr=0.1_scenario.order=2``; characters that a
    folder name should not hold become ``-`` and a short hash keeps such names apart."""
    raw = "_".join(f"{k}={v}" for k, v in point)
    safe = _SAFE.sub("-", raw)
    return safe if safe == raw else f"{safe}-{hashlib.sha256(raw.encode()).hexdigest()[:6]}"


def parse_seeds(text: str) -> list[int]:
    """``"0-4"`` → 0..4, ``"0,3,7"``, ``"0-2,9"``; duplicates dropped, order kept."""
    seeds: list[int] = []
    for part in str(text).split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            span = range(int(lo), int(hi) + 1) if dash else [int(lo)]
        except ValueError:
            raise UsageError(f"--seeds expects numbers and ranges such as 0-4 or 0,2,5, got {text!r}") from None
        if dash and int(hi) < int(lo):
            raise UsageError(f"--seeds: empty range {part.strip()!r}")
        seeds += [s for s in span if s not in seeds]
    return seeds


def parse_names(text: str | list, flag: str) -> list[str]:
    """A comma-separated list (or a list from a sweep file) of non-empty names."""
    names = [str(n).strip() for n in (text if isinstance(text, list) else str(text).split(","))]
    if not names or not all(names):
        raise UsageError(f"{flag} expects a comma-separated list of names, got {text!r}")
    return list(dict.fromkeys(names))


def parse_grid(pairs: list[str]) -> dict[str, list[str]]:
    """``["lr=0.01,0.1", "scenario.order=0,1,2"]`` → ``{"lr": ["0.01", "0.1"], ...}``."""
    grid: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, values = pair.partition("=")
        split = [v.strip() for v in values.split(",")]
        if not sep or not key.strip() or not all(split):
            raise UsageError(f"--grid expects key=value1,value2,..., got {pair!r}")
        grid[key.strip()] = list(dict.fromkeys(split))
    return grid


def setting_text(value: Any) -> str:
    """A sweep file's value as ``--set`` text: strings as they are, anything else as JSON
    (``true``, ``0.1``, ``[3, 1, 2]``)."""
    return value if isinstance(value, str) else json.dumps(value)


def read_sweep_file(path: Path) -> dict[str, Any]:
    """The options a YAML (``.yaml``/``.yml``) or TOML (``.toml``) sweep file names.

    Keys are the long flags with ``_`` for ``-`` (``methods``, ``seeds``, ``set``, ``grid``,
    ``gpus_per_run``...); ``set`` maps settings to values and ``grid`` maps settings to
    lists of values.
    """
    try:
        text = path.read_text()
    except OSError as e:
        raise UsageError(f"sweep file {path}: {e.strerror or e}") from None
    try:
        if path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        elif path.suffix == ".toml":
            try:
                import tomllib
            except ImportError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            raise UsageError(f"sweep file {path}: expected a .yaml, .yml or .toml file")
    except ImportError as e:
        raise UsageError(f"sweep file {path}: {e.name} is not installed (pip install 'club[sweep]')") from None
    except UsageError:
        raise
    except Exception as e:  # the parsers' own error types: the file is the user's to fix
        raise UsageError(f"sweep file {path}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise UsageError(f"sweep file {path}: expected a mapping of options at the top level")
    unknown = sorted(set(data) - set(SWEEP_FILE_KEYS))
    if unknown:
        raise UsageError(f"sweep file {path}: unknown key {unknown[0]!r}; known: {', '.join(SWEEP_FILE_KEYS)}")
    for key in ("set", "grid"):
        if not isinstance(data.get(key, {}), dict):
            raise UsageError(f"sweep file {path}: {key!r} must map settings to values")
    data["set"] = [f"{k}={setting_text(v)}" for k, v in data.get("set", {}).items()]
    data["grid"] = {
        k: [setting_text(v) for v in (values if isinstance(values, list) else [values])] for k, values in data.get("grid", {}).items()
    }
    return data
