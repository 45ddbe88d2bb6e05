"""k-nearest neighbours on frozen features, storing every sample of the stream.

The "no storage constraint" baseline of online continual learning (e.g. Prabhu et al.,
"Online Continual Learning Without the Storage Constraint", 2023): nothing is trained;
every sample that arrives is kept, and a sample is assigned the majority label of its k
nearest stored samples (Euclidean distance; ties go to the class of the nearer neighbours).
Features are the raw pixels scaled to [0, 1] (``features="pixels"``) or the output of the
stream's backbone at its random initialisation, frozen (``features="backbone"``): no
pretrained weights are downloaded.
"""

from __future__ import annotations

from typing import Annotated

import torch

from scenarios import Batch, Step

from .backbones import build_backbone
from .base import Method, StreamInfo
from .domains import AtLeast, OneOf
from .registry import register_method
from .training import batches

CHUNK = 4096  # stored samples compared at once


@register_method("knn")
class KNearestNeighbours(Method):
    """k-NN over every sample seen, on frozen features (no training)."""

    online = True

    def __init__(self, info: StreamInfo, device: torch.device, *,
        k: Annotated[int, AtLeast(1)] = 1,
        features: Annotated[str, OneOf("pixels", "backbone")] = "pixels",
    ) -> None:
        super().__init__(info, device)
        if k < 1 or features not in ("pixels", "backbone"):
            raise ValueError(f"k must be at least 1 and features pixels or backbone, got {k} and {features!r}")
        self.k, self.feature_kind = k, features
        self.encoder = build_backbone(info.backbone, info.input_shape).to(device).eval().requires_grad_(False) if features == "backbone" else None
        self.keys: list[torch.Tensor] = []
        self.labels: list[torch.Tensor] = []
        self.num_seen = 0

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), self.autocast():
            out = x.flatten(1).float() / 255 if self.encoder is None else self.encoder(x)
        return out.float().flatten(1)

    def _store(self, x: torch.Tensor, y: torch.Tensor, num_seen_classes: int) -> None:
        self.num_seen = max(self.num_seen, num_seen_classes)
        self.keys.append(self._embed(x))
        self.labels.append(y.to(self.device))
        if len(self.keys) > 64:  # merge small appended blocks so that lookups stay vectorised
            self.keys, self.labels = [torch.cat(self.keys)], [torch.cat(self.labels)]

    def learn(self, step: Step) -> None:
        for xb, yb in batches(step.x, step.y, 512, self.device, shuffle=False):
            self._store(xb, yb, step.num_seen_classes)

    def observe(self, batch: Batch) -> None:
        self._store(batch.x, batch.y, batch.num_seen_classes)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        query = self._embed(x)
        best_d = torch.full((len(x), 0), 0.0, device=x.device)
        best_y = torch.zeros((len(x), 0), dtype=torch.long, device=x.device)
        keys, labels = torch.cat(self.keys), torch.cat(self.labels)
        for start in range(0, len(labels), CHUNK):
            d = torch.cdist(query, keys[start : start + CHUNK])
            best_d = torch.cat([best_d, d], 1)
            best_y = torch.cat([best_y, labels[start : start + CHUNK].expand(len(x), -1)], 1)
            best_d, order = best_d.topk(min(self.k, best_d.shape[1]), dim=1, largest=False)
            best_y = best_y.gather(1, order)
        # one vote per neighbour, plus less than one vote in total that favours the nearer ones
        rank_bonus = torch.linspace(0.5, 0.0, best_d.shape[1] + 1, device=x.device)[:-1] / self.k
        votes = torch.zeros(len(x), self.num_seen, device=x.device)
        votes.scatter_add_(1, best_y, (1 + rank_bonus).expand_as(best_d).contiguous())
        return votes
