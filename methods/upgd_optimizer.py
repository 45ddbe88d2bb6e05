"""UPGD, Utility-based Perturbed Gradient Descent, as a ``torch.optim.Optimizer``.

Source: Elsayed & Mahmood, "Addressing Loss of Plasticity and Catastrophic Forgetting in
Continual Learning", ICLR 2024 (first-order "global" variant; formulas checked against
mohmdelsayed/upgd, core/optim/weight_upgd/first_order.py). Per step, for every weight w
with gradient g:

    ū ← β_u·ū + (1 − β_u)·(−g⊙w)              utility trace (first-order Taylor estimate of
                                               the loss increase if w were removed)
    ũ = ū / (1 − β_u^t)                        bias correction
    η = max over every weight of every group of ũ, at least the smallest positive float
    s = sigmoid(ũ / η)                         scaled utility in (0, 1)
    protecting:      w ← (1 − lr·wd)·w − lr·(g + ξ)⊙(1 − s)
    non-protecting:  w ← (1 − lr·wd)·w − lr·(g + ξ⊙(1 − s)),    ξ ~ N(0, σ²)

Two guards differ from the reference code: η is taken from the *bias-corrected* traces, so
that the normaliser and the numerator are on the same scale (the reference divides a
corrected numerator by the max of the uncorrected traces, which saturates the sigmoid early
in training); and η is clamped to the smallest positive float, so that all-zero utilities
give s = 0.5 instead of NaN, and all-negative utilities give s → 0 (a full step) instead of
flipping the ranking.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch


class UPGD(torch.optim.Optimizer):
    """UPGD over ``params``; ``protect=False`` is the non-protecting variant (only the noise is gated)."""

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict],
        lr: float = 0.01,
        weight_decay: float = 0.0,
        beta_utility: float = 0.999,
        sigma: float = 0.001,
        protect: bool = True,
    ) -> None:
        if lr < 0 or weight_decay < 0 or sigma < 0:
            raise ValueError(f"UPGD: lr, weight_decay and sigma must be non-negative, got {lr}, {weight_decay}, {sigma}")
        if not 0 <= beta_utility < 1:
            raise ValueError(f"UPGD: beta_utility must be in [0, 1), got {beta_utility}")
        defaults = dict(lr=lr, weight_decay=weight_decay, beta_utility=beta_utility, sigma=sigma, protect=protect)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        corrected: list[tuple[torch.nn.Parameter, dict, torch.Tensor]] = []
        eta = None
        for group in self.param_groups:
            beta = group["beta_utility"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["utility"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                state["utility"].mul_(beta).add_(-p.grad * p, alpha=1 - beta)
                u = state["utility"] / (1 - beta ** state["step"])
                corrected.append((p, group, u))
                top = u.max()
                eta = top if eta is None else torch.maximum(eta, top)
        if eta is None:
            return loss
        eta = eta.clamp(min=torch.finfo(eta.dtype).tiny)
        for p, group, u in corrected:
            gate = 1 - torch.sigmoid(u / eta)
            noise = torch.randn_like(p) * group["sigma"] if group["sigma"] else torch.zeros_like(p)
            if group["weight_decay"]:
                p.mul_(1 - group["lr"] * group["weight_decay"])
            update = (p.grad + noise) * gate if group["protect"] else p.grad + noise * gate
            p.add_(update, alpha=-group["lr"])
        return loss
