"""Plain optimisers and a plasticity regulariser: the baselines of online, non-stationary streams.

``sgd`` and ``adam`` are the baselines of the UPGD paper (Elsayed & Mahmood, ICLR 2024), which
lose plasticity over long streams; ``l2-init`` is L2 regularisation towards the initial
weights (Kumar, Marklund & Van Roy, "Maintaining Plasticity in Continual Learning via
Regenerative Regularization", CoLLAs 2024). All three also run on offline protocols.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from scenarios import Batch, Step

from .acceleration import optimizer_options
from .base import StreamInfo
from .domains import Interval, NonNegative
from .registry import register_method
from .supervised import SupervisedMethod


@register_method("sgd")
class PlainSGD(SupervisedMethod):
    """Cross-entropy with plain SGD (no momentum), lr 0.01."""

    online = True

    def __init__(self, info: StreamInfo, device: torch.device, *, lr: float = 0.01, momentum: float = 0.0, **kwargs) -> None:
        super().__init__(info, device, lr=lr, momentum=momentum, **kwargs)


@register_method("adam")
class PlainAdam(SupervisedMethod):
    """Cross-entropy with Adam, lr 0.001.

    ``beta1`` and ``beta2`` are Adam's moment decays (the UPGD paper's Adam baseline uses β1 = 0);
    ``optimizer=adamw`` decouples the weight decay from the gradient, as that baseline does
    (mohmdelsayed/upgd ``core/optim/adam.py``).
    """

    online = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        lr: float = 0.001,
        optimizer: str = "adam",
        beta1: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.9,
        beta2: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.999,
        **kwargs,
    ) -> None:
        if optimizer not in ("adam", "adamw"):
            raise ValueError(f"the adam method trains with optimizer adam or adamw, got {optimizer!r}")
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"beta1 and beta2 must be in [0, 1), got {beta1} and {beta2}")
        super().__init__(info, device, lr=lr, optimizer=optimizer, **kwargs)
        self.beta1, self.beta2 = beta1, beta2

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.trainable_parameters() if p.requires_grad]
        kind = torch.optim.Adam if self.optimizer_name == "adam" else torch.optim.AdamW
        return kind(
            params, lr=self.lr, betas=(self.beta1, self.beta2), weight_decay=self.weight_decay,
            **optimizer_options(self.optimizer_impl, self.optimizer_name, self.device),
        )


@register_method("l2-init")
class L2Init(PlainSGD):
    """Plain SGD on cross-entropy + λ·‖θ − θ₀‖², pulling every weight back to its initial value.

    θ₀ is each parameter at its first training step (a grown head's new rows at theirs).
    """

    def __init__(self, info: StreamInfo, device: torch.device, *, l2_init: Annotated[float, NonNegative] = 0.001, **kwargs) -> None:
        super().__init__(info, device, **kwargs)
        self.l2_init = l2_init
        self.initial: dict[str, torch.Tensor] = {}

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step | Batch) -> torch.Tensor:
        penalty = torch.zeros((), device=self.device)
        for name, p in self.model.named_parameters():
            start = self.initial.get(name)
            if start is None or start.shape != p.shape:  # new, or a head that grew: keep the known rows' θ₀
                fresh = p.detach().clone()
                if start is not None:
                    fresh[: len(start)] = start
                self.initial[name] = start = fresh
            penalty = penalty + ((p - start) ** 2).sum()
        return F.cross_entropy(self.model(x), y) + self.l2_init * penalty
