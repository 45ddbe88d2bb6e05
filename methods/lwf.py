"""Learning without Forgetting, class-incremental form.

Source: Li & Hoiem, "Learning without Forgetting", TPAMI 2018. Class-incremental variant as
in PyCIL (Zhou et al., 2021): cross-entropy on the new classes' logits only (labels shifted
by the number of known classes) plus λ times the soft cross-entropy between the previous
model's and the current model's old-class logits at temperature T (defaults λ = 3, T = 2).
"""

from __future__ import annotations

from typing import Annotated

import copy

import torch
import torch.nn.functional as F

from scenarios import Step

from .base import StreamInfo
from .domains import NonNegative, Positive
from .registry import register_method
from .supervised import IncrementalClassifier, SupervisedMethod, new_class_cross_entropy


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """−(1/B)·Σ_b Σ_c softmax(t_b/T)_c · log softmax(s_b/T)_c."""
    soft = F.softmax(teacher_logits.float() / temperature, dim=1)
    return -(soft * F.log_softmax(logits.float() / temperature, dim=1)).sum(1).mean()


@register_method("lwf")
class LwF(SupervisedMethod):
    """Distils the previous model's old-class outputs while learning the new classes."""

    def __init__(
        self, info: StreamInfo, device: torch.device, *,
        lwf_lambda: Annotated[float, NonNegative] = 3.0,
        temperature: Annotated[float, Positive] = 2.0, **kwargs
    ) -> None:
        super().__init__(info, device, **kwargs)
        self.lwf_lambda, self.temperature = lwf_lambda, temperature
        self.teacher: IncrementalClassifier | None = None

    def learn(self, step: Step) -> None:
        if self.model.num_outputs:
            self.teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        super().learn(step)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        logits = self.model(x)
        if self.teacher is None:
            return F.cross_entropy(logits, y)
        known = self.teacher.num_outputs
        with torch.no_grad():
            teacher_logits = self.teacher(x)
        kd = distillation_loss(logits[:, :known], teacher_logits, self.temperature)
        return new_class_cross_entropy(logits, y, known) + self.lwf_lambda * kd
