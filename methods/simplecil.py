"""SimpleCIL: nearest class mean on frozen pre-trained features, no training at all.

Source: Zhou, Cai, Ye, Zhan, Liu, "Revisiting Class-Incremental Learning with Pre-Trained
Models: Generalizability and Adaptivity are All You Need", IJCV 2024 (LAMDA-PILOT
``simplecil``): each class is the mean of its training samples' [CLS] features from the
frozen ViT, and a sample is scored by cosine similarity to every mean (a cosine classifier
whose weights are the prototypes). It is the reference point that pre-trained-model CL
methods must beat.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from scenarios import Step

from .feature_cache import FeatureCache
from .pretrained import PretrainedMethod, ViTModel, class_means, features
from .registry import register_method


@register_method("simplecil")
class SimpleCIL(PretrainedMethod):
    """Cosine nearest class mean on frozen pre-trained ViT features (no training)."""

    few_shot = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.prototypes = torch.empty(0, self.vit.out_dim, device=self.device)

    def build_model(self) -> ViTModel:
        return ViTModel(self.frozen_vit())

    def learn(self, step: Step) -> None:
        feats = features(self.vit, step.x, self.device, self)
        new = class_means(feats, step.y, list(step.classes))
        protos = torch.zeros(step.num_seen_classes, self.vit.out_dim, device=self.device)
        protos[: len(self.prototypes)] = self.prototypes
        protos[list(step.classes)] = new
        self.prototypes = protos

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.frozen_features(x), dim=1) @ F.normalize(self.prototypes, dim=1).T

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ViT features of ``x``, of stored images (uint8) once per image: the ViT never changes."""
        if x.dtype != torch.uint8:
            return self.vit(x).float()
        cache = self.__dict__.setdefault("_feature_cache", FeatureCache())
        return cache(x, lambda xb: self.vit(xb).float())
