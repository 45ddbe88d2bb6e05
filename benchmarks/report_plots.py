"""The figures of a sweep report: one PNG of ``SIZE`` pixels each (matplotlib, Agg, imported here).

Each function draws one scenario's groups of runs (:class:`benchmarks.report.Group`), a
configuration in one colour across all three figures, and returns False (writing nothing)
when the runs lack the metric it shows.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

FIGSIZE, DPI = (6.4, 4.0), 100
SIZE = (int(FIGSIZE[0] * DPI), int(FIGSIZE[1] * DPI))  # width, height in pixels
LEGEND_SPACE = 0.7  # share of the width left to the axes when the legend sits on the right


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _values(runs: list, metric: str) -> list[float]:
    return [float(r.metrics[metric]) for r in runs if isinstance(r.metrics.get(metric), (int, float)) and r.metrics[metric] == r.metrics[metric]]


def _colour(plt: Any, index: int) -> Any:
    return plt.get_cmap("tab10")(index % 10)


def _save(plt: Any, fig: Any, path: Path, legend: bool) -> None:
    if legend:
        fig.legend(loc="upper left", bbox_to_anchor=(LEGEND_SPACE, 0.95), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0, LEGEND_SPACE if legend else 1, 1))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def plot_final_accuracy(groups: list, path: Path, scenario: str) -> bool:
    """Mean final accuracy per configuration, error bars of one standard deviation, each run a dot."""
    data = [(i, g, _values(g.runs, "final_accuracy")) for i, g in enumerate(groups)]
    data = [(i, g, v) for i, g, v in data if v]
    if not data:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    for x, (i, group, values) in enumerate(data):
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        ax.bar(x, statistics.fmean(values), yerr=std, capsize=4, color=_colour(plt, i), alpha=0.75, label=f"{group.label} (n={len(values)})")
        offsets = [(k - (len(values) - 1) / 2) * 0.08 for k in range(len(values))]
        ax.scatter([x + o for o in offsets], values, s=8, color="black", zorder=3)
    names = [g.label for _, g, _ in data]
    tilt = len(names) > 4 or max(map(len, names)) > 12
    ax.set_xticks(range(len(data)), names, rotation=30 if tilt else 0, ha="right" if tilt else "center", fontsize=7)
    ax.set(ylabel="final accuracy", ylim=(0, 1.05), title=f"{scenario}: final accuracy (mean ± std)")
    _save(plt, fig, path, legend=True)
    return True


def plot_per_step(groups: list, path: Path, scenario: str) -> bool:
    """Seen-class accuracy after each step: the mean over a configuration's runs, ± one std shaded."""
    curves = [(i, g, [r.per_step for r in g.runs if r.per_step]) for i, g in enumerate(groups)]
    curves = [(i, g, c) for i, g, c in curves if c]
    if not curves:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    for i, group, runs in curves:
        steps = max(len(c) for c in runs)
        columns = [[c[t] for c in runs if t < len(c) and c[t] is not None] for t in range(steps)]
        xs = [t + 1 for t, col in enumerate(columns) if col]
        means = [statistics.fmean(col) for col in columns if col]
        stds = [statistics.stdev(col) if len(col) > 1 else 0.0 for col in columns if col]
        colour = _colour(plt, i)
        ax.plot(xs, means, marker="o", ms=3, color=colour, label=f"{group.label} (n={len(runs)})")
        ax.fill_between(xs, [m - s for m, s in zip(means, stds)], [m + s for m, s in zip(means, stds)], color=colour, alpha=0.15)
    ax.set(xlabel="after step", ylabel="seen-class accuracy", ylim=(0, 1.05), title=f"{scenario}: accuracy after each step")
    ax.xaxis.get_major_locator().set_params(integer=True)
    _save(plt, fig, path, legend=True)
    return True


def plot_forgetting_vs_accuracy(groups: list, path: Path, scenario: str) -> bool:
    """Each run at (forgetting, final accuracy); each configuration's mean with ± one std in both."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    drawn = False
    for i, group in enumerate(groups):
        pairs = [(r.metrics.get("forgetting"), r.metrics.get("final_accuracy")) for r in group.runs]
        pairs = [(f, a) for f, a in pairs if isinstance(f, (int, float)) and isinstance(a, (int, float)) and f == f and a == a]
        if not pairs:
            continue
        drawn = True
        colour = _colour(plt, i)
        fs, accs = [p[0] for p in pairs], [p[1] for p in pairs]
        ax.scatter(fs, accs, s=12, color=colour, alpha=0.5)
        ax.errorbar(
            statistics.fmean(fs), statistics.fmean(accs),
            xerr=statistics.stdev(fs) if len(fs) > 1 else 0.0, yerr=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            fmt="D", ms=6, color=colour, capsize=3, label=f"{group.label} (n={len(pairs)})",
        )
    if not drawn:
        plt.close(fig)
        return False
    ax.set(xlabel="forgetting (lower is better)", ylabel="final accuracy", ylim=(0, 1.05), title=f"{scenario}: forgetting against final accuracy")
    _save(plt, fig, path, legend=True)
    return True
