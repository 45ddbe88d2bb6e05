"""A board as text: aligned columns for the terminal (``show``) and a Markdown table (``export``)."""

from __future__ import annotations

from typing import Any

MARKDOWN_PUNCTUATION = set("\\`*_{}[]()!|~")  # what can start formatting inside a table cell
UNITS = {
    "wall_seconds": lambda v: f"{v:.1f}",
    "trainable_parameters": lambda v: f"{v:,.0f}",
    "peak_memory_bytes": lambda v: f"{v / 2**20:.0f}",
}


def format_value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    return UNITS.get(key, lambda v: f"{v:.3f}")(value)


def format_statistics(key: str, stats: dict[str, Any], interval: bool = False) -> str:
    """``mean ± std`` (or the mean alone for one seed), with ``[low, high]`` when asked for."""
    if stats["mean"] is None:
        return "—"
    text = format_value(key, stats["mean"])
    if stats["std"] is not None:
        text += f" ± {format_value(key, stats['std'])}"
    if interval and stats["low"] is not None:
        text += f" [{format_value(key, stats['low'])}, {format_value(key, stats['high'])}]"
    return text


METHOD = 1  # the column of user-supplied text (method name and configuration)


def _cells(board: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    primary = board["primary"]
    numbers = [c for c in (*board["columns"], *board["compute_columns"]) if c["kind"] == "number" and c["key"] != primary]
    primary_label = next(c["label"] for c in board["columns"] if c["key"] == primary)
    header = ["rank", "method", f"{primary_label} (95% interval)", "seeds", *(c["label"] for c in numbers), "recipe", "entries"]
    rows = []
    for row in board["rows"]:
        marks = []
        if row["separable_from_previous"] is False:
            marks.append("≈ above")
        if row["single_seed"]:
            marks.append("single seed")
        method = row["method"] + (f" ({row['config_label']})" if row["config_label"] else "")
        rows.append(
            [
                f"{row['rank']}" + (f" ({', '.join(marks)})" if marks else ""),
                method,
                format_statistics(primary, row["values"][primary], interval=True),
                str(len(row["seeds"])),
                *(format_statistics(c["key"], row["values"][c["key"]]) for c in numbers),
                "/".join(row["recipe"]),
                " ".join(str(e) for e in row["entries"]),
            ]
        )
    return header, rows


def _printable(text: str) -> str:
    """Control characters (a terminal would obey them) written as escapes."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def text_table(board: dict[str, Any]) -> str:
    """The board as aligned plain-text columns, under a title line."""
    header, rows = _cells(board)
    rows = [[_printable(cell) for cell in row] for row in rows]
    widths = [max(len(line[i]) for line in [header, *rows]) for i in range(len(header))]
    lines = [f"{board['preset']} — {board['title']}, ranked by {board['primary']} ({board['primary_better']} is better)"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in [header, *rows]]
    return "\n".join(lines)


def _markdown_cell(text: str, user: bool = False) -> str:
    """A table cell: ``|`` escaped; user-supplied text (``user``) also shown as itself, with HTML
    characters as entities and Markdown's punctuation escaped; one line."""
    if user:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        text = "".join("\\" + c if c in MARKDOWN_PUNCTUATION else c for c in text)
    else:
        text = text.replace("|", "\\|")
    return " ".join(_printable(text).split())


def markdown_table(board: dict[str, Any]) -> str:
    """The board as a Markdown table (user-supplied text escaped: no HTML, no broken cells)."""
    header, rows = _cells(board)
    lines = [f"## {board['preset']} — {board['title']}", "", f"Ranked by `{board['primary']}` ({board['primary_better']} is better).", ""]
    lines.append("| " + " | ".join(_markdown_cell(h) for h in header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_markdown_cell(c, user=i == METHOD) for i, c in enumerate(row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"
