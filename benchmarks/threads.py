"""How many CPU threads torch computes with in a run (``--threads``).

``auto`` (the default) gives a small model (fewer than :data:`SMALL_MODEL` parameters, such as
the digits MLPs, the tiny ViT or PEC's networks) one thread on the CPU: its operations are too
small to split, and on a shared machine extra threads mostly wait for each other (digits runs
measured 10–40× slower with torch's default). Larger models, and CUDA runs, keep torch's
default (``OMP_NUM_THREADS``, or the number of cores). A number sets the count.

The count is part of a run's configuration (``config.json``), and ``--resume`` continues with
it: on the CPU the thread count can change the order in which a sum is split, hence the last
bits of a result, and a resumed run must end as the uninterrupted one would.
"""

from __future__ import annotations

import torch
from torch import nn

from .errors import UsageError

AUTO = "auto"
SMALL_MODEL = 2_000_000  # parameters below which a CPU run computes on one thread


def parse_threads(text: str) -> str | int:
    """``auto`` or a positive integer (``--threads`` on the command line)."""
    if text == AUTO:
        return AUTO
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"--threads {text}: expected auto or a positive integer")
    return value


def model_parameters(method: object) -> int:
    """Parameters of every network a method holds as an attribute (each counted once)."""
    seen: dict[int, int] = {}
    for value in vars(method).values():
        if isinstance(value, nn.Module):
            seen.update((id(p), p.numel()) for p in value.parameters())
    return sum(seen.values())


def use_threads(setting: str | int, method: object, device: torch.device) -> int:
    """Set torch's CPU thread count for ``method`` on ``device`` as ``setting`` asks; returns it."""
    if setting != AUTO:
        torch.set_num_threads(int(setting))
    elif device.type == "cpu" and model_parameters(method) < SMALL_MODEL:
        torch.set_num_threads(1)
    return torch.get_num_threads()
