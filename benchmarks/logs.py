"""Where a run reports: the console, a JSONL event log next to the result, and wandb on request."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from .errors import UsageError

EVENTS = "events.jsonl"


def check_wandb() -> None:
    """Refuse ``--wandb`` before any work when the package is missing."""
    if importlib.util.find_spec("wandb") is None:
        raise UsageError("--wandb needs the wandb package: pip install 'club[wandb]'")


class RunLog:
    """Console lines plus one JSON object per event in ``events.jsonl`` (and wandb if enabled)."""

    def __init__(self, run_dir: Path, config: dict, use_wandb: bool) -> None:
        self.path = run_dir / EVENTS
        self.wandb_run = _start_wandb(run_dir, config) if use_wandb else None

    def event(self, kind: str, message: str | None = None, **fields: Any) -> None:
        if message:
            print(message, flush=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"time": time.time(), "event": kind, **fields}) + "\n")
        if self.wandb_run is not None and kind == "step_end":
            self.wandb_run.log({k: v for k, v in fields.items() if isinstance(v, (int, float))}, step=fields["step"])

    def warning(self, message: str, **fields: Any) -> None:
        """One ``warning: ...`` line on stderr and a ``warning`` event."""
        print(f"warning: {message}", file=sys.stderr, flush=True)
        self.event("warning", message=message, **fields)

    def failure(self, kind: str, **fields: Any) -> None:
        """Record why the run stopped (``error`` or ``interrupted``), as far as the disk still allows."""
        try:
            self.event(kind, **fields)
        except OSError:
            pass

    def close(self, summary: dict[str, Any] | None = None) -> None:
        if self.wandb_run is not None:
            if summary:
                self.wandb_run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
            self.wandb_run.finish()
            self.wandb_run = None


def _start_wandb(run_dir: Path, config: dict) -> Any:
    import wandb

    if "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY"):
        os.environ["WANDB_MODE"] = "offline"  # no key: log locally, sync later with `wandb sync`
    return wandb.init(project="club", dir=str(run_dir), config=config, name=run_dir.name)


def run_start_fingerprint(run_dir: Path) -> str | None:
    """The config fingerprint the ``run_start`` event of ``run_dir`` recorded, if any."""
    try:
        with (run_dir / EVENTS).open() as f:
            for line in f:
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "run_start":
                    fingerprint = event.get("config_sha256")
                    return fingerprint if isinstance(fingerprint, str) else None
    except (OSError, ValueError):
        return None
    return None
