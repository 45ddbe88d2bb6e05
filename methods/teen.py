"""TEEN: training-free calibration of few-shot prototypes with similar base prototypes.

Source: Wang, Zhou, Zhang, Zhan & Ye, "Few-Shot Class-Incremental Learning via Training-Free
Prototype Calibration", NeurIPS 2023 (code: github.com/wangkiw/TEEN). The backbone is trained on
the base session, then frozen; each class is its prototype (mean feature) and a sample is scored
by cosine similarity. A prototype from K shots lies too far from where the backbone, trained on
base classes only, puts that class's test samples (they are pulled toward similar base classes),
so every new prototype p_n is fused with the base prototypes p_b weighted by their similarity:

    w_nb = softmax_b(τ · cos(p_n, p_b)),   Δ_n = Σ_b w_nb · p̄_b / ‖·‖,
    p̂_n = (1 − α) · p̄_n + α · Δ_n          (p̄: L2-normalised; scored by cosine, so p̂_n's norm is moot)

Defaults from the code: τ = 16 (``softmax_t``) and α = 0.5 (``shift_weight``; its CIFAR-100
script uses 0.1, CUB-200 0.5). Base prototypes are never changed. The backbone is trained on
the base session with a cosine classifier of temperature 16 ("ft_cos"; the code's CIFAR-100
script uses 16, miniImageNet and CUB-200 32), which is what puts novel samples near similar base
prototypes. Prototypes are those of ``nmc`` (means of normalised features; the code averages
raw features, which only the norm separates), so ``teen`` and ``nmc --set train_first_step=true
--set base_classifier=cosine`` share the frozen backbone and differ only by the calibration.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from scenarios import Step

from .base import StreamInfo
from .domains import Fraction, Positive
from .nmc import NearestClassMean
from .registry import register_method


def calibrate_prototypes(novel: torch.Tensor, base: torch.Tensor, alpha: float, tau: float) -> torch.Tensor:
    """p̂_n = normalise((1 − α)·p̄_n + α·normalise(Σ_b softmax_b(τ·cos(p_n, p_b))·p̄_b)) for each row of ``novel``."""
    novel, base = F.normalize(novel, dim=1), F.normalize(base, dim=1)
    weights = torch.softmax(tau * novel @ base.T, dim=1)
    shift = F.normalize(weights @ base, dim=1)
    return F.normalize((1.0 - alpha) * novel + alpha * shift, dim=1)


@register_method("teen")
class TEEN(NearestClassMean):
    """Prototype classifier whose few-shot prototypes are fused with similar base prototypes (training-free)."""

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        alpha: Annotated[float, Fraction] = 0.5,
        tau: Annotated[float, Positive] = 16.0,
        train_first_step: bool = True,
        base_classifier: str = "cosine",
        **kwargs,
    ) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha is the weight of the base-prototype shift, a number in [0, 1], got {alpha}")
        if tau <= 0:
            raise ValueError(f"tau is a softmax temperature, a positive number, got {tau}")
        super().__init__(info, device, train_first_step=train_first_step, base_classifier=base_classifier, **kwargs)
        self.alpha, self.tau = alpha, tau
        self.num_base = 0

    def learn(self, step: Step) -> None:
        super().learn(step)
        if step.index == 0:
            self.num_base = step.num_seen_classes
            return
        new = torch.tensor(step.classes, device=self.device)
        self.means[new] = calibrate_prototypes(self.means[new], self.means[: self.num_base], self.alpha, self.tau)
