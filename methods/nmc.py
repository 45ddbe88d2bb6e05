"""Nearest class mean on backbone features, exemplar-free.

Source: Mensink et al., "Distance-Based Image Classification", TPAMI 2013; used as the
classifier of iCaRL (Rebuffi et al., CVPR 2017). Here the backbone is trained on the first
step only, then frozen; every class is represented by the mean of its L2-normalised
features and a sample is scored by the cosine similarity to each mean.

A mean needs no more than a few samples, so it runs few-shot sessions as they are (with
``train_first_step=true`` it is the frozen-backbone prototype baseline of few-shot
class-incremental learning, the "avg_cos" classifier of the TEEN code). The first step trains
the backbone with a linear head (``base_classifier=linear``) or, as the few-shot field does, with
a cosine classifier, logits τ·cos(f(x), w_c) (``base_classifier=cosine``, τ = ``temperature``;
"ft_cos" in the CEC/FACT/TEEN code).
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F

from scenarios import Step

from .base import StreamInfo
from .domains import OneOf, Positive
from .feature_cache import FeatureCache
from .registry import register_method
from .supervised import SupervisedMethod
from .training import batches


@register_method("nmc")
class NearestClassMean(SupervisedMethod):
    """Frozen features after the first step; logits are cosine similarities to class means."""

    few_shot = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        train_first_step: bool = False,
        base_classifier: Annotated[str, OneOf("linear", "cosine")] = "linear",
        temperature: Annotated[float, Positive] = 16.0,
        **kwargs,
    ) -> None:
        if base_classifier not in ("linear", "cosine"):
            raise ValueError(f"base_classifier must be 'linear' or 'cosine', got {base_classifier!r}")
        if temperature <= 0:
            raise ValueError(f"temperature scales cosine logits, a positive number, got {temperature}")
        super().__init__(info, device, **kwargs)
        self.train_first_step = train_first_step
        self.base_classifier, self.temperature = base_classifier, temperature
        self.means = torch.empty(0, self.model.backbone.out_dim, device=device)

    def learn(self, step: Step) -> None:
        if step.index == 0 and self.train_first_step:
            super().learn(step)
            self.feature_cache.clear()  # the backbone changed
        self.model.eval()
        sums = torch.zeros(step.num_seen_classes, self.model.backbone.out_dim, device=self.device)
        counts = torch.zeros(step.num_seen_classes, device=self.device)
        with torch.no_grad(), self.autocast():
            for xb, yb in batches(step.x, step.y, 256, self.device, shuffle=False):
                sums.index_add_(0, yb, F.normalize(self.model.features(xb).float(), dim=1))
                counts.index_add_(0, yb, torch.ones_like(yb, dtype=torch.float))
        new = torch.tensor(step.classes, device=self.device)
        means = torch.zeros_like(sums)
        means[: len(self.means)] = self.means
        means[new] = F.normalize(sums[new] / counts[new, None], dim=1)
        self.means = means

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        """Cross-entropy of the first step's head: linear, or cosine with temperature τ."""
        if self.base_classifier == "linear":
            return super().loss(x, y, step)
        assert self.model.head is not None
        cosine = F.normalize(self.model.features(x), dim=1) @ F.normalize(self.model.head.weight, dim=1).T
        return F.cross_entropy(self.temperature * cosine, y)

    @property
    def feature_cache(self) -> FeatureCache:
        """Backbone features of the images predicted so far, by content: the backbone no longer
        changes once the first step is learned."""
        return self.__dict__.setdefault("_feature_cache", FeatureCache())

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        if x.dtype == torch.uint8:
            feats = self.feature_cache(x, lambda xb: self.model.features(xb).float())
        else:
            feats = self.model.features(x).float()
        return F.normalize(feats, dim=1) @ self.means.T
