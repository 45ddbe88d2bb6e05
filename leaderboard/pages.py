"""The HTML pages (board list, board, entry), rendered the same way by the server and the export.

Templates are Jinja2 with autoescaping, so every user-supplied string (method names,
hyperparameters, submitter names) is shown as text. A board's data travels to its script as
JSON in a ``<script type="application/json">`` block (``tojson`` escapes ``<``, ``>``, ``&``
and ``'``); the script builds the table and the plots with ``textContent`` only. Pages load
their script and style from ``static/``: no inline script, nothing from another origin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Links:
    """Where pages point: server routes (``prefix="/"``) or static files relative to the page."""

    prefix: str
    static_site: bool

    def index(self) -> str:
        return self.prefix + "index.html" if self.static_site else self.prefix

    def static(self, name: str) -> str:
        return f"{self.prefix}static/{name}"

    def board(self, preset: str) -> str:
        return f"{self.prefix}boards/{preset}" + (".html" if self.static_site else "")

    def entry(self, entry: int | str) -> str:
        return f"{self.prefix}entries/{entry}" + (".html" if self.static_site else "")

    def result(self, entry: int | str) -> str:
        return f"{self.prefix}entries/{entry}.json" if self.static_site else f"{self.prefix}api/entries/{entry}/result.json"

    def templates(self) -> dict[str, str]:
        """URL templates for the page script (``{id}`` stands for an entry id)."""
        return {"entry": self.entry("{id}"), "result": self.result("{id}")}


SERVER_LINKS = Links("/", static_site=False)


class Pages:
    def __init__(self) -> None:
        from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), undefined=StrictUndefined
        )
        self.env.filters["number"] = _number
        self.env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False)  # plain text: autoescaped

    def render(self, template: str, links: Links, **context: Any) -> str:
        return self.env.get_template(template).render(links=links, **context)

    def index(self, boards: list[dict[str, Any]], links: Links) -> str:
        families: dict[str, list[dict[str, Any]]] = {}
        for board in boards:
            families.setdefault(board["title"], []).append(board)
        return self.render("index.html", links, families=families)

    def board(self, board: dict[str, Any], links: Links) -> str:
        return self.render("board.html", links, board=board, data={"board": board, "links": links.templates()})

    def entry(self, entry: dict[str, Any], links: Links) -> str:
        return self.render("entry.html", links, entry=entry, data={"entry": entry, "links": links.templates()})

    def not_found(self, message: str, links: Links) -> str:
        return self.render("not_found.html", links, message=message)


def _number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if value is None else str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"
