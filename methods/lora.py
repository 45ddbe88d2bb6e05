"""Continual LoRA, S-LoRA style: one LoRA module and one head per task, routed by centroids.

Source: Wistuba, Sivaprasad, Balles, Zappella, "Choice of PEFT Technique in Continual
Learning: Prompt Tuning is Not All You Need" (2024), S-Prompts → S-LoRA; the task
identification follows the S-Prompts recipe of awslabs/Renate
(``src/renate/models/task_identification_strategies.py``: ``KMeans`` with 5 centroids per task on the
L2-normalised frozen-backbone features of the task's training data; a test sample goes to
the task of its nearest centroid in Euclidean distance from its L2-normalised feature).
Each task trains a fresh LoRA on the qkv projections of every block (B zero-initialised,
so training starts from the pre-trained function) and a linear head over its classes (CE,
labels shifted); its classes are scored by that head only, every other class gets −∞.
The PEFT kind is an axis (``peft=adapter`` gives one adapter set per task, and so on).
L2P's key–query selection over a pool of LoRA modules is ``l2p --set peft=lora``
(registered as ``l2l``).

The paper's own code and training settings are not public, so ``methods/configs/lora.json``
flags every value of the real presets as CLUB's own except the 5 centroids per task. The
LoRA baseline the field compares against is InfLoRA (``inflora``).

:meth:`LoRACL.drop_task` deletes task t's module, head and centroids.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import Step

from .backbones.peft import PEFT_KINDS, PEFTPool
from .base import StreamInfo
from .domains import AtLeast, OneOf
from .feature_cache import FeatureCache
from .pretrained import PretrainedMethod, ViTModel, check_peft, features
from .registry import register_method
from .unlearning import TaskModuleDeletion


def kmeans_centroids(feats: torch.Tensor, k: int) -> torch.Tensor:
    """``min(k, n)`` k-means centroids of ``feats`` (seeded from the global torch RNG)."""
    from sklearn.cluster import KMeans  # 2 s to import: only when a task's centroids are fitted

    k = min(k, len(feats))
    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(feats.cpu().numpy())
    return torch.as_tensor(km.cluster_centers_, dtype=torch.float32)


@register_method("lora")
class LoRACL(TaskModuleDeletion, PretrainedMethod):
    """Per-task LoRA modules and heads, task chosen by nearest k-means centroid (S-LoRA)."""

    few_shot = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        peft: Annotated[str, OneOf(*PEFT_KINDS)] = "lora",
        rank: Annotated[int, AtLeast(1)] = 4,
        length: Annotated[int, AtLeast(1)] = 5,
        prefix_layers: Annotated[int, AtLeast(1)] = 5,
        centroids_per_task: Annotated[int, AtLeast(1)] = 5,
        epochs: int = 3,
        batch_size: int = 32,
        lr: float = 0.005,
        optimizer: str = "adam",
        **kwargs,
    ) -> None:
        self.peft = check_peft(peft)
        self.rank, self.length, self.prefix_layers, self.centroids_per_task = rank, length, prefix_layers, centroids_per_task
        super().__init__(info, device, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, **kwargs)
        self.num_tasks = 0
        self.task_classes: dict[int, tuple[int, int]] = {}  # live task → [first, end) class ids
        self.centroids = torch.empty(0, self.vit.out_dim)
        self.centroid_task = torch.empty(0, dtype=torch.long)
        self.num_seen = 0

    def build_model(self) -> ViTModel:
        model = ViTModel(self.frozen_vit())
        model.modules_by_task = nn.ModuleDict()
        model.heads = nn.ModuleDict()
        return model

    def task_logits(self, x: torch.Tensor, task: int) -> torch.Tensor:
        """Logits of task ``task``'s classes through its own module and head."""
        key = str(task)
        hooks = self.model.modules_by_task[key].hooks(torch.zeros(len(x), 1, dtype=torch.long, device=x.device))
        return self.model.heads[key](self.vit(x, **hooks))

    def learn(self, step: Step) -> None:
        self.current_task = task = self.num_tasks
        self.num_tasks += 1
        first = step.num_seen_classes - len(step.classes)
        self.task_classes[task] = (first, step.num_seen_classes)
        vit = self.vit
        module = PEFTPool(self.peft, 1, vit.out_dim, vit.depth, length=self.length, rank=self.rank, layers=self.prefix_layers, prompt_init="zeros")
        self.model.modules_by_task[str(task)] = module.to(self.device)
        self.model.heads[str(task)] = nn.Linear(vit.out_dim, len(step.classes)).to(self.device)
        super().learn(step)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        return F.cross_entropy(self.task_logits(x, self.current_task), y - self.task_classes[self.current_task][0])

    def trainable_parameters(self) -> list[nn.Parameter]:
        key = str(self.current_task)
        return [*self.model.modules_by_task[key].parameters(), *self.model.heads[key].parameters()]

    def after_step(self, step: Step) -> None:
        key = str(self.current_task)
        self.model.modules_by_task[key].requires_grad_(False)
        self.model.heads[key].requires_grad_(False)
        self.model.eval()
        feats = F.normalize(features(self.vit, step.x, self.device, self), dim=1)
        centroids = kmeans_centroids(feats, self.centroids_per_task)
        self.centroids = torch.cat([self.centroids, centroids])
        self.centroid_task = torch.cat([self.centroid_task, torch.full((len(centroids),), self.current_task)])
        self.num_seen = step.num_seen_classes

    def route(self, x: torch.Tensor) -> torch.Tensor:
        """The task of each sample's nearest centroid on L2-normalised frozen features (kept per
        image in :attr:`route_cache`: the frozen ViT's feature of a test image never changes)."""
        frozen = self.route_cache(x, lambda xb: self.vit(xb).float()) if x.dtype == torch.uint8 else self.vit(x).float()
        dist = torch.cdist(F.normalize(frozen, dim=1), self.centroids.to(x.device))
        return self.centroid_task.to(x.device)[dist.argmin(1)]

    @property
    def route_cache(self) -> FeatureCache:
        """Frozen-ViT features of the images routed so far, by content."""
        return self.__dict__.setdefault("_route_cache", FeatureCache())

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        out = torch.full((len(x), self.num_seen), float("-inf"), device=x.device)
        tasks = self.route(x)
        for task in tasks.unique().tolist():
            rows = (tasks == task).nonzero().flatten()
            first, end = self.task_classes[task]
            out[rows, first:end] = self.task_logits(x[rows], task).float()
        return out

    def drop_task(self, task: int) -> None:
        """Delete task ``task``'s module, head and centroids; its classes are no longer predicted."""
        if task not in self.task_classes:
            raise ValueError(f"task {task} has no module (live: {sorted(self.task_classes)})")
        del self.model.modules_by_task[str(task)], self.model.heads[str(task)], self.task_classes[task]
        keep = self.centroid_task != task
        self.centroids, self.centroid_task = self.centroids[keep], self.centroid_task[keep]
