"""Shared test setup: no network, no wandb account, one CPU thread per process, and a
throwaway data cache (retrain oracles, reference models) so that tests never read or fill the
user's ~/.cache/club."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("CLUB_DATA", tempfile.mkdtemp(prefix="club-test-data-"))
# Tests run side by side on small shared machines: more threads only wait for each other
# (the suite measured 1.7–2.6× slower with torch's default). Subprocesses inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402  (after OMP_NUM_THREADS, which torch reads once)

torch.set_num_threads(1)
