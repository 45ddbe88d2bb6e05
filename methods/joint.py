"""Joint training: the upper bound. Trains on the union of every step's data seen so far."""

from __future__ import annotations

import torch

from scenarios import Step

from .registry import register_method
from .supervised import SupervisedMethod


@register_method("joint")
class Joint(SupervisedMethod):
    """Keeps all training data and, at each step, trains on everything seen so far."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.seen_x: list[torch.Tensor] = []
        self.seen_y: list[torch.Tensor] = []

    def training_data(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        self.seen_x.append(step.x)
        self.seen_y.append(step.y)
        return torch.cat(self.seen_x), torch.cat(self.seen_y)
