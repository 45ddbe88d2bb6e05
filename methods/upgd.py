"""UPGD as a method: a network trained with the UPGD optimiser (``methods.upgd_optimizer``).

Source: Elsayed & Mahmood, "Addressing Loss of Plasticity and Catastrophic Forgetting in
Continual Learning", ICLR 2024. Defaults are the paper's label-permuted CIFAR-10 setting
(lr 0.01, β_u 0.999, σ 0.001, weight decay 0; mohmdelsayed/upgd,
experiments/statistics_output_permuted_cifar10.py). ``--set optimizer=upgd-nonprotecting``
gives the non-protecting variant. Any other method can train with UPGD through
``--set optimizer=upgd`` (then with these β_u and σ).
"""

from __future__ import annotations

from typing import Annotated

import torch

from .acceleration import optimizer_options
from .base import StreamInfo
from .domains import Interval, NonNegative
from .registry import register_method
from .supervised import SupervisedMethod
from .training import make_optimizer


@register_method("upgd")
class UPGDMethod(SupervisedMethod):
    """Cross-entropy trained with UPGD: small steps for useful weights, noise for the others."""

    online = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        lr: float = 0.01,
        optimizer: str = "upgd",
        weight_decay: float = 0.0,
        beta_utility: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.999,
        sigma: Annotated[float, NonNegative] = 0.001,
        **kwargs,
    ) -> None:
        super().__init__(info, device, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs)
        if not 0 <= beta_utility < 1 or sigma < 0:
            raise ValueError(f"beta_utility must be in [0, 1) and sigma ≥ 0, got {beta_utility} and {sigma}")
        self.beta_utility, self.sigma = beta_utility, sigma

    def make_optimizer(self) -> torch.optim.Optimizer:
        if self.optimizer_name.startswith("upgd"):
            options = {"beta_utility": self.beta_utility, "sigma": self.sigma}
        else:
            options = optimizer_options(self.optimizer_impl, self.optimizer_name, self.device)
        return make_optimizer(self.model.parameters(), self.optimizer_name, self.lr, self.momentum, self.weight_decay, **options)
