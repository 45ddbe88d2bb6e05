"""What the API returns, the pages show and the export writes: boards, the board list and entries,
as JSON-ready dicts built from the store."""

from __future__ import annotations

import json
from typing import Any

from .board import board_of
from .tracks import TRACKS


def boards_index(store: Any) -> list[dict[str, Any]]:
    """Every board: preset, family (in track order), the track's title and primary column, entry count."""
    boards = [
        {"preset": preset, "family": family, "title": TRACKS[family].title, "primary": TRACKS[family].primary, "entries": count}
        for preset, family, count in store.presets()
    ]
    order = list(TRACKS)
    return sorted(boards, key=lambda b: (order.index(b["family"]), b["preset"]))


def board_view(store: Any, preset: str, single_seed_last: bool = True) -> dict[str, Any] | None:
    stored = store.board(preset)
    return None if stored is None else board_of(stored, single_seed_last)


def entry_view(store: Any, entry: int) -> dict[str, Any] | None:
    """One accepted submission with its provenance, recomputed numbers and replay outcomes."""
    row = store.submission(entry)
    if row is None:
        return None
    document = json.loads(row.document)
    derived = row.derived_data()
    method, scenario = document["method"], document["scenario"]
    track = TRACKS[row.family]
    return {
        "id": row.id,
        "preset": row.preset,
        "family": row.family,
        "track": track.title,
        "method": row.method,
        "seed": row.seed,
        "submitter": row.submitter,
        "accepted_at": row.accepted_at.isoformat(),
        "recipe": row.recipe,
        "content_hash": row.content_hash,
        "provenance": {
            "git_commit": row.git_commit,
            "club_version": row.club_version,
            "source_sha256": method["source_sha256"],
            "hyperparameters": method["hyperparameters"],
            "overrides": scenario["overrides"],
            "plugins": method.get("plugins", []),
            "details": method.get("details", {}),
            "environment": document["environment"],
        },
        "scenario": {"class_order": scenario["class_order"], "steps": scenario["steps"]},
        "metrics": derived["summary"]["metrics"],
        "primary": track.primary,
        "curve": derived["curve"],
        "curve_label": track.curve_label,
        "compute": {
            "wall_seconds": row.wall_seconds,
            "peak_memory_bytes": row.peak_memory_bytes,
            "trainable_parameters": row.trainable_parameters,
            "device": row.device,
        },
        "verifications": [
            {
                "checked_at": v.checked_at.isoformat(),
                "outcome": v.outcome,
                "first_differing_step": v.first_differing_step,
                "detail": v.detail,
                "commit": v.commit,
            }
            for v in store.verifications(entry)
        ],
    }
