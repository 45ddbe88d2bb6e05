"""Which copy of CLUB runs: its packages' folder, the installed ``club`` distribution, and
folders that would stand in for one of its packages.

CLUB's top-level packages have generic names (``metrics``, ``methods``, ...). Python looks
in the current folder first, so a folder ``metrics/`` there replaces CLUB's ``metrics`` and
the run dies on an import deep inside. :func:`shadowing_folder` finds such a folder without
importing anything; ``python -m benchmarks.run`` checks it before importing the others.
"""

from __future__ import annotations

import importlib.util
import json
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

PACKAGES = ("benchmarks", "methods", "scenarios", "metrics", "leaderboard")
ROOT = Path(__file__).resolve().parent.parent  # the folder holding CLUB's packages


def _locations(name: str) -> list[Path]:
    """Where Python would import top-level package ``name`` from (several folders for a
    namespace package), without importing it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    if spec.submodule_search_locations:
        return [Path(p).resolve() for p in spec.submodule_search_locations]
    return [Path(spec.origin).resolve().parent] if spec.origin else []


def shadowing_folder() -> tuple[str, Path | None] | None:
    """``(package, folder)`` when package ``package`` would not be imported from CLUB's own
    folder (``folder`` is what Python found instead, ``None`` when it found nothing);
    ``None`` when every package is CLUB's."""
    for name in PACKAGES:
        found = _locations(name)
        if found != [ROOT / name]:
            others = [p for p in found if p != ROOT / name]
            return name, others[0] if others else None
    return None


def shadowing_message() -> str | None:
    """One line describing :func:`shadowing_folder`'s finding, or ``None``."""
    found = shadowing_folder()
    if found is None:
        return None
    name, folder = found
    if folder is None:
        return f"CLUB's package {name!r} is missing from {ROOT}; reinstall CLUB (pip install -e .)"
    return (
        f"the folder {folder} stands in for CLUB's package {name!r} (Python imports from the current folder "
        f"first); run from another folder, or rename that one"
    )


def version_text() -> str:
    """The ``club`` distribution's version and where it is installed, and where the packages
    actually load from (they differ when PYTHONPATH or the current folder puts another copy first)."""
    try:
        dist = metadata.distribution("club")
    except metadata.PackageNotFoundError:
        first = "club: no installed distribution (pip install -e . registers one)"
    else:
        where = Path(str(dist.locate_file(""))).resolve()
        try:
            url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
        except ValueError:
            url = ""
        if url.startswith("file://"):
            where = Path(unquote(urlparse(url).path)).resolve()
        first = f"club {dist.version} (distribution installed from {where})"
    return f"{first}\npackages loaded from {ROOT}: {', '.join(PACKAGES)}"
