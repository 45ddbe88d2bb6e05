"""``python -m benchmarks.report SWEEP_DIR``: the tables and plots of a sweep, from its results alone.

Every ``result.json`` under ``SWEEP_DIR`` counts (a sweep folder is a tree of run folders; any
tree of run folders will do). Runs are grouped per scenario by configuration: the method,
its hyperparameters and the scenario overrides, except the class order (``scenario.order``)
and the seed, which are what a group's runs repeat over. For each group and each scalar
metric of ``result["metrics"]`` the report gives the mean, the sample standard deviation
(n − 1 in the denominator) and n. When a group's runs cover several class orders, a table
shows the final accuracy of each order (mean over its seeds) and the spread between orders.
Runs the sweep recorded as failed (``state.json``) are listed with their error.

Written to ``SWEEP_DIR/report/`` (or ``--out``): ``report.md``, ``report.html`` (the same
blocks), ``report.json`` (every number) and per scenario three PNG plots: final accuracy per
configuration with error bars, seen-class accuracy after each step, and forgetting against
final accuracy.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UsageError
from .files import write_json, write_text

RESULT = "result.json"
STATE_JSON = "state.json"  # written by benchmarks.sweep
FINAL = "final_accuracy"
FORGETTING = "forgetting"
PER_STEP = ("seen_class_accuracy", "session_accuracy")  # accuracy on the seen classes after each step
EXCLUDED_OVERRIDES = ("order",)  # what a group's runs repeat over, besides the seed


@dataclass
class Run:
    """What the report reads from one ``result.json``."""

    path: str  # the run folder, relative to the sweep folder
    scenario: str
    method: str
    seed: int
    order: Any  # scenario.options.order: "seed", "fixed", an order seed or a list
    config: dict[str, Any]  # hyperparameters and scenario overrides (the order aside)
    metrics: dict[str, float | None]  # the scalar metrics
    per_step: list[float] | None


@dataclass
class Group:
    """The runs of one configuration on one scenario."""

    scenario: str
    method: str
    config: dict[str, Any]
    runs: list[Run] = field(default_factory=list)
    label: str = ""


def read_runs(sweep_dir: Path) -> tuple[list[Run], list[str]]:
    """Every readable result under ``sweep_dir`` (sorted by path), and the paths of unreadable ones.

    Folders whose names start with ``.`` are skipped: they hold temporary copies (a run folder
    being unpacked by a sweep).
    """
    runs, unreadable = [], []
    for path in sorted(sweep_dir.rglob(RESULT)):
        if any(part.startswith(".") for part in path.relative_to(sweep_dir).parts):
            continue
        relative = path.parent.relative_to(sweep_dir).as_posix()
        try:
            result = json.loads(path.read_text())
            scenario = result["scenario"]
            overrides = {f"scenario.{k}": v for k, v in scenario.get("overrides", {}).items() if k not in EXCLUDED_OVERRIDES}
            metrics = result["metrics"]
            runs.append(
                Run(
                    path=relative,
                    scenario=scenario["name"],
                    method=result["method"]["name"],
                    seed=result["seed"],
                    order=scenario.get("options", {}).get("order"),
                    config={**result["method"].get("hyperparameters", {}), **overrides},
                    metrics={k: v for k, v in metrics.items() if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))},
                    per_step=next((metrics[k] for k in PER_STEP if isinstance(metrics.get(k), list)), None),
                )
            )
        except (OSError, ValueError, KeyError, TypeError):
            unreadable.append(relative)
    return runs, unreadable


def group_runs(runs: list[Run]) -> dict[str, list[Group]]:
    """Runs grouped by scenario, then by method and configuration (in the order first seen).

    A group's label is its method, followed by the settings that tell it apart from the other
    groups of that method on that scenario.
    """
    scenarios: dict[str, dict[str, Group]] = {}
    for run in runs:
        key = json.dumps([run.method, run.config], sort_keys=True, default=str)
        groups = scenarios.setdefault(run.scenario, {})
        groups.setdefault(key, Group(run.scenario, run.method, run.config)).runs.append(run)
    for groups in scenarios.values():
        for group in groups.values():
            siblings = [g for g in groups.values() if g.method == group.method]
            keys = sorted(group.config)
            varying = [k for k in keys if len({json.dumps(g.config.get(k), default=str) for g in siblings}) > 1]
            group.label = group.method + (f" ({', '.join(f'{k}={group.config.get(k)}' for k in varying)})" if varying else "")
    return {name: list(groups.values()) for name, groups in scenarios.items()}


def stats(values: list[float | None]) -> dict[str, float | int | None]:
    """``mean``, sample ``std`` (None for a single value) and ``n`` of the finite values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(finite), "std": statistics.stdev(finite) if len(finite) > 1 else None, "n": len(finite)}


def metric_names(groups: list[Group]) -> list[str]:
    """Scalar metrics of a scenario's runs, in the order they first appear."""
    names: dict[str, None] = {}
    for group in groups:
        for run in group.runs:
            names.update(dict.fromkeys(run.metrics))
    return list(names)


def order_spread(group: Group) -> dict[str, Any] | None:
    """Final accuracy per class order (over its seeds) and the spread between orders, when the
    group's runs cover more than one order."""
    by_order: dict[str, list[Run]] = {}
    for run in group.runs:
        by_order.setdefault(json.dumps(run.order), []).append(run)
    if len(by_order) < 2:
        return None
    per_order = {json.loads(k): stats([r.metrics.get(FINAL) for r in rs]) for k, rs in by_order.items()}
    means = [s["mean"] for s in per_order.values()]
    finite = [m for m in means if m is not None]
    return {
        "orders": [{"order": order, **s} for order, s in per_order.items()],
        "between_orders": stats(means),
        "range": [min(finite), max(finite)] if finite else None,
    }


def _order_label(order: Any) -> str:
    return order if isinstance(order, str) else json.dumps(order)


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _cell(s: dict[str, Any], n: int) -> str:
    if s["mean"] is None:
        return "–"
    text = _number(s["mean"]) + (f" ± {s['std']:.3f}" if s["std"] is not None else "")
    return text + (f" (n={s['n']})" if s["n"] != n else "")


def build(sweep_dir: Path, out_dir: Path) -> tuple[list[tuple], dict[str, Any]]:
    """The report as a list of blocks (headings, paragraphs, tables, images) and as data."""
    from .report_plots import plot_final_accuracy, plot_forgetting_vs_accuracy, plot_per_step

    runs, unreadable = read_runs(sweep_dir)
    if not runs:
        raise UsageError(f"no {RESULT} under {sweep_dir}: nothing to report")
    failed = _failed_runs(sweep_dir)
    grouped = group_runs(runs)
    blocks: list[tuple] = [("h1", f"Sweep report: {sweep_dir.name}")]
    summary = f"{len(runs)} finished runs in {len(grouped)} scenario(s); {len(failed)} failed"
    if unreadable:
        summary += f"; {len(unreadable)} unreadable result file(s): {', '.join(unreadable)}"
    blocks.append(("p", summary + ". Cells: mean ± sample standard deviation over the runs of a row (seeds and class orders); "
                   "n is the number of runs (given in a cell when fewer runs have that metric)."))
    data: dict[str, Any] = {"sweep": str(sweep_dir), "scenarios": {}, "runs": [], "failed": failed, "unreadable": unreadable}
    for scenario, groups in grouped.items():
        metrics = metric_names(groups)
        rows, table = [], []
        for group in groups:
            n = len(group.runs)
            row_stats = {m: stats([r.metrics.get(m) for r in group.runs]) for m in metrics}
            rows.append({"label": group.label, "method": group.method, "config": group.config, "n": n, "stats": row_stats,
                         "orders": order_spread(group)})
            table.append([group.label, str(n), *(_cell(row_stats[m], n) for m in metrics)])
        blocks += [("h2", scenario), ("table", ["configuration", "n", *metrics], table)]
        spreads = [(row["label"], row["orders"]) for row in rows if row["orders"]]
        if spreads:
            blocks.append(("p", f"Spread over class orders ({FINAL}: mean over each order's seeds)."))
            blocks.append(("table", ["configuration", "orders", "per order", "between orders", "range"], [
                [label, str(len(s["orders"])), ", ".join(f"{_order_label(o['order'])}: {_number(o['mean'])}" for o in s["orders"]),
                 _cell(s["between_orders"], len(s["orders"])), "–" if s["range"] is None else f"{s['range'][0]:.3f}–{s['range'][1]:.3f}"]
                for label, s in spreads
            ]))
        stem = "".join(c if c.isalnum() or c in "-_." else "-" for c in scenario)
        for name, plot in (("final-accuracy", plot_final_accuracy), ("accuracy-per-step", plot_per_step),
                           ("forgetting-vs-accuracy", plot_forgetting_vs_accuracy)):
            path = out_dir / f"{stem}-{name}.png"
            if plot(groups, path, f"{scenario}"):
                blocks.append(("img", path.name, f"{scenario}: {name.replace('-', ' ')}"))
        data["scenarios"][scenario] = {"metrics": metrics, "rows": rows}
    blocks += [("h2", "Runs"), ("table", ["scenario", "configuration", "seed", "class order", FINAL, FORGETTING, "run folder"], [
        [r.scenario, g.label, str(r.seed), _order_label(r.order), _number(r.metrics.get(FINAL)), _number(r.metrics.get(FORGETTING)), r.path]
        for groups in grouped.values() for g in groups for r in g.runs
    ])]
    data["runs"] = [
        {"scenario": r.scenario, "label": g.label, "method": r.method, "seed": r.seed, "order": r.order, "metrics": r.metrics,
         "per_step": r.per_step, "path": r.path}
        for groups in grouped.values() for g in groups for r in g.runs
    ]
    if failed:
        blocks += [("h2", "Failed runs"), ("table", ["run", "attempts", "error"],
                                           [[f["cell"], str(f["attempts"]), f["error"] or ""] for f in failed])]
    return blocks, data


def _failed_runs(sweep_dir: Path) -> list[dict[str, Any]]:
    try:
        runs = json.loads((sweep_dir / STATE_JSON).read_text()).get("runs", {})
    except (OSError, ValueError):
        return []
    return [{"cell": cell, "attempts": r.get("attempts"), "error": r.get("error")} for cell, r in runs.items() if r.get("status") == "failed"]


def to_markdown(blocks: list[tuple]) -> str:
    lines: list[str] = []
    for kind, *content in blocks:
        if kind == "h1":
            lines += [f"# {content[0]}", ""]
        elif kind == "h2":
            lines += [f"## {content[0]}", ""]
        elif kind == "p":
            lines += [content[0], ""]
        elif kind == "img":
            lines += [f"![{content[1]}]({content[0]})", ""]
        elif kind == "table":
            header, rows = content

            def row(cells: list[str]) -> str:
                return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

            lines += [row(header), row(["---"] * len(header)), *(row(r) for r in rows), ""]
    return "\n".join(lines)


def to_html(blocks: list[tuple], title: str) -> str:
    e = html.escape
    body: list[str] = []
    for kind, *content in blocks:
        if kind in ("h1", "h2"):
            body.append(f"<{kind}>{e(content[0])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{e(content[0])}</p>")
        elif kind == "img":
            body.append(f'<p><img src="{e(content[0])}" alt="{e(content[1])}"></p>')
        elif kind == "table":
            header, rows = content
            head = "".join(f"<th>{e(h)}</th>" for h in header)
            cells = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:collapse;margin:1em 0}"
             "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(sweep_dir: Path, out_dir: Path | None = None) -> Path:
    """Write ``report.md``, ``report.html``, ``report.json`` and the PNG plots; return the folder."""
    out_dir = out_dir or sweep_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks, data = build(sweep_dir, out_dir)
    write_text(out_dir / "report.md", to_markdown(blocks))
    write_text(out_dir / "report.html", to_html(blocks, f"Sweep report: {sweep_dir.name}"))
    write_json(out_dir / "report.json", data)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="a sweep folder (or any folder of run folders)")
    p.add_argument("--out", type=Path, help="where the report goes (default SWEEP_DIR/report)")
    args = p.parse_args(argv)
    try:
        if not args.sweep_dir.is_dir():
            raise UsageError(f"{args.sweep_dir} is not a folder")
        out_dir = write_report(args.sweep_dir, args.out)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"report: {out_dir / 'report.md'} (also report.html, report.json and the PNG plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
