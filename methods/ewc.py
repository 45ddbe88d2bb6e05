"""Elastic Weight Consolidation, online form.

Sources: Kirkpatrick et al., "Overcoming catastrophic forgetting in neural networks", PNAS
2017 (the penalty); Schwarz et al., "Progress & Compress", ICML 2018 (one running Fisher,
F ← γ·F + F_t, anchored at the latest weights).

Loss of a batch: L = CE + (λ/2)·Σ_i F_i·(θ_i − θ*_i)², with F the diagonal empirical Fisher
(mean over the step's samples of the squared per-sample gradient of the loss). In
class-incremental streams EWC is known to stay close to fine-tuning (van de Ven et al.,
"Three types of incremental learning", Nature Machine Intelligence 2022). Head rows
of classes added later have no Fisher entry and are not penalised.

The penalty's curvature along parameter i is λ·F_i, so a gradient step of size lr is stable
only while lr·λ·F_i stays below 2(1 + momentum); Fisher entries reach 0.1 on the digits MLP,
and the old default λ = 1e5 (lr 0.05, momentum 0.9) diverged to NaN weights on
``digits-cil`` seeds 1, 6 and 8 (λ = 1e4 on seeds 6 and 8, λ = 1e3 on seed 8). The default
λ = 100 keeps lr·λ·max F below 0.04 on seeds 0–9.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from scenarios import Step

from .base import StreamInfo
from .domains import Fraction, NonNegative
from .registry import register_method
from .supervised import SupervisedMethod
from .training import batches


def diagonal_fisher(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: torch.device, batch_size: int = 128
) -> dict[str, torch.Tensor]:
    """Mean over samples of the squared per-sample gradient of the cross-entropy (eval mode)."""
    model.eval()
    params = {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}
    buffers = dict(model.named_buffers())

    def sample_loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        logits = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(logits, yi.unsqueeze(0))

    per_sample_grad = vmap(grad(sample_loss), in_dims=(None, 0, 0))
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    for xb, yb in batches(x, y, batch_size, device, shuffle=False):
        for n, g in per_sample_grad(params, xb, yb).items():
            fisher[n] += g.pow(2).sum(0)
    return {n: f / len(y) for n, f in fisher.items()}


@register_method("ewc")
class EWC(SupervisedMethod):
    """Cross-entropy plus a quadratic pull towards the weights that mattered for earlier steps."""

    def __init__(
        self, info: StreamInfo, device: torch.device, *, ewc_lambda: Annotated[float, NonNegative] = 100.0,
        gamma: Annotated[float, Fraction] = 1.0, **kwargs
    ) -> None:
        super().__init__(info, device, **kwargs)
        self.ewc_lambda, self.gamma = ewc_lambda, gamma
        self.fisher: dict[str, torch.Tensor] = {}
        self.anchor: dict[str, torch.Tensor] = {}

    def penalty(self) -> torch.Tensor:
        """Σ_i F_i·(θ_i − θ*_i)² over the parameters (and head rows) that have an anchor."""
        total = torch.zeros((), device=self.device)
        for n, p in self.model.named_parameters():
            if n in self.fisher:
                f = self.fisher[n]
                total = total + (f * (p[: f.shape[0]] - self.anchor[n]).pow(2)).sum()
        return total

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        loss = F.cross_entropy(self.model(x), y)
        if self.fisher:
            loss = loss + 0.5 * self.ewc_lambda * self.penalty()
        return loss

    def after_step(self, step: Step) -> None:
        new = diagonal_fisher(self.model, step.x, step.y, self.device)
        for n, f in new.items():
            old = self.fisher.get(n)
            if old is not None:
                f = f.clone()
                f[: old.shape[0]] += self.gamma * old
            self.fisher[n] = f
        self.anchor = {n: p.detach().clone() for n, p in self.model.named_parameters() if n in self.fisher}
