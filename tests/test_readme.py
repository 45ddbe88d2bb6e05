"""The README's digits figures, re-run by the commands printed next to them.

Every table in README.md whose caption names a ``python -m benchmarks.run`` command on an
embedded ``digits-*`` scenario is read: each row's first cell names the method (and extra
flags, in backticks) put in place of the command's ``--method`` placeholder, and each column
with a known header is a number the run must reproduce to the printed precision. The README
is the only copy of the expected numbers.

A caption whose command says ``--seed S`` and whose text names ``seeds A–B`` gives each cell as
"mean ± standard deviation" over those seeds (sample standard deviation).

The default suite re-runs two cheap rows; ``-m slow`` re-runs them all. After a change that
moves the numbers, ``python tests/test_readme.py --update`` re-runs every figure and writes the
measured values into README.md (timing columns included), keeping each cell's precision.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import shlex
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
COMMAND = re.compile(r"`((?:[A-Z_]+=\S+ )*python -m benchmarks\.run [^`]*)`")
SEEDS = re.compile(r"seeds (\d+)[–-](\d+)")
THREADS = 1  # the figures are measured with one torch thread (OMP_NUM_THREADS=1)


def _metric(name: str) -> Callable[[dict], float]:
    return lambda result: result["metrics"][name]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


#: column header → the number (or start → end pair) of a result that the column shows
COLUMNS: dict[str, Callable[[dict], Any]] = {
    "final accuracy": _metric("final_accuracy"),
    "final acc.": _metric("final_accuracy"),
    "forgetting": _metric("forgetting"),
    "forgetting_first_final": _metric("forgetting_first_final"),
    "average": _metric("average_session_accuracy"),
    "drop": _metric("performance_drop"),
    "base": _metric("final_base_accuracy"),
    "novel": _metric("final_novel_accuracy"),
    "harmonic mean": _metric("final_harmonic_mean"),
    "forget acc": _metric("forget_acc"),
    "retain acc": _metric("retain_acc"),
    "test acc": _metric("test_acc"),
    "MIA efficacy": _metric("mia_efficacy[confidence,svc]"),
    "avg gap": _metric("avg_gap"),
    "online acc": _metric("online_accuracy"),
    "forget test acc": _metric("forget_test_acc"),
    "spill": _metric("spill"),
    "parameters dampened": lambda r: r["method"]["details"]["dampened_parameters"][0],
    "first 20 tasks → last 20": lambda r: (_mean(r["metrics"]["online_accuracy_per_task"][:20]), _mean(r["metrics"]["online_accuracy_per_task"][-20:])),
    "`dormant_fraction` start → end": lambda r: (r["metrics"]["dormant_fraction"][0], r["metrics"]["dormant_fraction"][-1]),
    "`dormant_fraction[active<1%]` start → end": lambda r: (
        r["metrics"]["dormant_fraction[active<1%]"][0], r["metrics"]["dormant_fraction[active<1%]"][-1]
    ),
    "effective rank start → end": lambda r: (r["metrics"]["effective_rank"][0], r["metrics"]["effective_rank"][-1]),
}
#: columns of measured time: machine-dependent, so rewritten by --update but never compared
TIMING: dict[str, Callable[[dict], Any]] = {"speed-up vs retrain": _metric("speed_up")}


@dataclass
class Figure:
    """One README table row: the command that produces it and the numbers it shows."""

    line: int  # 0-based line of the row in README.md
    label: str
    argv: list[str]  # arguments of benchmarks.run.main
    cells: dict[str, str]  # column header → cell text, for the columns in COLUMNS or TIMING
    seeds: tuple[int, ...] = ()  # run once per seed, cells "mean ± std" (else one run)

    @property
    def name(self) -> str:
        return " ".join(self.argv)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _row_method(label: str) -> list[str]:
    quoted = re.match(r"`([^`]+)`", label)
    return shlex.split(quoted.group(1) if quoted else label.split()[0])


def figures(text: str) -> list[Figure]:
    """Every row of every digits table of the README text."""
    lines = text.splitlines()
    found: list[Figure] = []
    for i in range(len(lines) - 1):
        if not (lines[i].startswith("|") and lines[i + 1].startswith("| ---")):
            continue
        start = i - 1
        while start > 0 and lines[start - 1].strip():
            start -= 1
        match = COMMAND.search(" ".join(lines[start:i]))
        if match is None:
            continue
        words = [w for w in shlex.split(match.group(1)) if not re.match(r"[A-Z_]+=", w)][3:]  # drop env and "python -m benchmarks.run"
        seeds: tuple[int, ...] = ()
        if "--seed" in words and words[words.index("--seed") + 1] == "S":
            span = SEEDS.search(" ".join(lines[start:i]))
            assert span is not None, f"README line {i}: --seed S without 'seeds A–B' in the caption"
            seeds = tuple(range(int(span.group(1)), int(span.group(2)) + 1))
            del words[words.index("--seed") : words.index("--seed") + 2]
        if "--scenario" in words and not words[words.index("--scenario") + 1].startswith("digits"):
            continue
        headers = _cells(lines[i])
        for j in range(i + 2, len(lines)):
            if not lines[j].startswith("|"):
                break
            cells = _cells(lines[j])
            at = words.index("--method")
            argv = [*words[:at], "--method", *_row_method(cells[0]), *words[at + 2 :]]
            known = {h: c for h, c in zip(headers[1:], cells[1:]) if h in COLUMNS or h in TIMING}
            found.append(Figure(j, cells[0], argv, known, seeds))
    return found


def _numbers(cell: str) -> list[str]:
    return [part.strip() for part in re.split("[→±]", cell)]


def _close(measured: float, printed: str) -> bool:
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return measured is not None and not math.isnan(measured) and abs(measured - float(printed)) <= 0.5 * 10**-decimals + 1e-9


def _format(measured: float | None, like: str) -> str:
    if measured is None or math.isnan(measured):
        return "n/a"
    decimals = len(like.split(".")[1]) if "." in like else 0
    return f"{measured:.{decimals}f}"


def run_figure(figure: Figure, out: Path, data: Path) -> list[dict] | str:
    """Run the figure's command in this process (one torch thread), once per seed of a seeded
    figure: the results, or the error line of a run that failed."""
    results = []
    for seed in figure.seeds or (None,):
        result = _run(figure.argv if seed is None else [*figure.argv, "--seed", str(seed)], out, data)
        if isinstance(result, str):
            return result
        results.append(result)
    return results


def measured(figure: Figure, header: str, results: list[dict]) -> tuple[float | None, ...]:
    """The numbers a cell shows: the column's value(s) for one run, or (mean, std) over seeds."""
    column = COLUMNS.get(header) or TIMING[header]
    if not figure.seeds:
        value = column(results[0])
        return value if isinstance(value, tuple) else (value,)
    values = [column(r) for r in results]
    return (statistics.mean(values), statistics.stdev(values))


def _run(argv: list[str], out: Path, data: Path) -> dict | str:
    import torch

    from benchmarks.run import main

    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main([*argv, "--out", str(out), "--data-dir", str(data)])
    finally:
        torch.set_num_threads(threads)
    if code != 0:
        return f"exit status {code}: {stderr.getvalue().strip()}"
    return json.loads(Path(stdout.getvalue().strip().splitlines()[-1].removeprefix("result: ")).read_text())


def _show(figure: Figure, numbers: tuple[float | None, ...], like: list[str]) -> str:
    return (" ± " if figure.seeds else " → ").join(_format(m, p) for m, p in zip(numbers, like))


def mismatches(figure: Figure, results: list[dict] | str) -> list[str]:
    """The columns of ``figure`` whose printed numbers ``results`` do not reproduce."""
    if isinstance(results, str):
        return [f"{figure.label}: {figure.name} failed, {results}"]
    wrong = []
    for header, cell in figure.cells.items():
        if header in TIMING:
            continue
        numbers, printed = measured(figure, header, results), _numbers(cell)
        if len(printed) != len(numbers) or not all(_close(m, p) for m, p in zip(numbers, printed)):
            wrong.append(f"{figure.label} / {header}: README {cell}, measured {_show(figure, numbers, printed)}")
    return wrong


def test_the_readme_tables_are_found_with_their_commands():
    found = figures(README.read_text())
    labels = {(f.argv[f.argv.index("--method") + 1], tuple(f.cells)) for f in found}
    assert ("nmc", ("final accuracy", "forgetting")) in labels
    assert any(f.argv[-2:] == ["--scenario", "digits-forget-class"] and "avg gap" in f.cells for f in found)
    assert any("digits-fscil" in f.argv and "harmonic mean" in f.cells for f in found)
    assert all(f.cells for f in found) and len(found) >= 25


CHEAP = ("nmc", "simplecil")  # no training: the default suite re-runs these rows


@pytest.mark.parametrize("method", CHEAP)
def test_cheap_readme_figures_reproduce(method, tmp_path):
    (figure,) = [f for f in figures(README.read_text()) if f.argv == ["--method", method]]
    assert mismatches(figure, run_figure(figure, tmp_path / "runs", tmp_path / "data")) == []


@pytest.mark.slow
def test_every_readme_digits_figure_reproduces(tmp_path):
    wrong = []
    for figure in figures(README.read_text()):
        wrong += mismatches(figure, run_figure(figure, tmp_path / "runs", tmp_path / "data"))
    assert wrong == [], "README figures that do not reproduce (refresh with python tests/test_readme.py --update):\n" + "\n".join(wrong)


def update_readme() -> None:
    """Re-run every figure and write the measured numbers into README.md."""
    lines = README.read_text().splitlines(keepends=True)
    with tempfile.TemporaryDirectory() as folder:
        for figure in figures("".join(lines)):
            results = run_figure(figure, Path(folder) / "runs", Path(folder) / "data")
            if isinstance(results, str):
                print(f"{figure.label}: left as it is; {figure.name} failed, {results}", flush=True)
                continue
            cells = _cells(lines[figure.line])
            headers = _cells(next(lines[k] for k in range(figure.line, -1, -1) if lines[k + 1].startswith("| ---")))
            for c, header in enumerate(headers):
                if header in figure.cells:
                    cells[c] = _show(figure, measured(figure, header, results), _numbers(cells[c]))
            lines[figure.line] = "| " + " | ".join(cells) + " |\n"
            print(lines[figure.line], end="", flush=True)
    README.write_text("".join(lines))


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_readme.py --update   (re-runs every README digits figure and rewrites the numbers)")
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("WANDB_MODE", "disabled")
    update_readme()
