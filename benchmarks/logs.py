"""Where a run reports: the console, a JSONL event log next to the result, and wandb on request."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from .errors import UsageError


class RunLog:
    """Console lines plus one JSON object per event in ``events.jsonl`` (and wandb if enabled)."""

    def __init__(self, run_dir: Path, config: dict, use_wandb: bool) -> None:
        self.path = run_dir / "events.jsonl"
        self.wandb_run = _start_wandb(run_dir, config) if use_wandb else None

    def event(self, kind: str, message: str | None = None, **fields: Any) -> None:
        if message:
            print(message, flush=True)
        with self.path.open("a") as f:
            f.write(json.dumps({"time": time.time(), "event": kind, **fields}) + "\n")
        if self.wandb_run is not None and kind == "step_end":
            self.wandb_run.log({k: v for k, v in fields.items() if isinstance(v, (int, float))}, step=fields["step"])

    def close(self, summary: dict[str, Any] | None = None) -> None:
        if self.wandb_run is not None:
            if summary:
                self.wandb_run.summary.update({k: v for k, v in summary.items() if isinstance(v, (int, float))})
            self.wandb_run.finish()


def _start_wandb(run_dir: Path, config: dict) -> Any:
    try:
        import wandb
    except ImportError:
        raise UsageError("--wandb needs the wandb package: pip install 'club[wandb]'") from None
    if "WANDB_MODE" not in os.environ and not os.environ.get("WANDB_API_KEY"):
        os.environ["WANDB_MODE"] = "offline"  # no key: log locally, sync later with `wandb sync`
    return wandb.init(project="club", dir=str(run_dir), config=config, name=run_dir.name)
