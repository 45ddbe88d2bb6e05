"""``python -m leaderboard export --out site/``: the same pages as static files, and a Markdown table.

Layout: ``index.html``, ``boards/<preset>.html`` (and the board as ``<preset>.json``),
``entries/<id>.html`` with the stored document as ``entries/<id>.json``, ``static/`` (script
and style), ``leaderboard.md`` (every board as a Markdown table). Links are relative, so the
folder can be served from anywhere or opened from disk.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .pages import STATIC, Links, Pages
from .tables import markdown_table
from .views import board_view, boards_index, entry_view


def export_site(store: Any, out: Path) -> int:
    """Write the site of ``store`` into ``out``; the number of boards written."""
    pages = Pages()
    top, nested = Links("", static_site=True), Links("../", static_site=True)
    (out / "boards").mkdir(parents=True, exist_ok=True)
    (out / "entries").mkdir(exist_ok=True)
    shutil.copytree(STATIC, out / "static", dirs_exist_ok=True)
    boards = boards_index(store)
    (out / "index.html").write_text(pages.index(boards, top))
    markdown = ["# CLUB leaderboard", "", "Every number recomputed from the submitted raw records; rows over seeds: mean ± std [95% bootstrap interval].", ""]
    for listed in boards:
        board = board_view(store, listed["preset"])
        (out / "boards" / f"{listed['preset']}.html").write_text(pages.board(board, nested))
        (out / "boards" / f"{listed['preset']}.json").write_text(json.dumps(board, indent=1))
        markdown.append(markdown_table(board))
        for row in board["rows"]:
            for entry in row["entries"]:
                view = entry_view(store, entry)
                (out / "entries" / f"{entry}.html").write_text(pages.entry(view, nested))
                (out / "entries" / f"{entry}.json").write_text(store.submission(entry).document)
    (out / "leaderboard.md").write_text("\n".join(markdown))
    return len(boards)
