"""EASE: Expandable Subspace Ensemble (Zhou, Sun, Ye, Zhan, CVPR 2024), exemplar-free.

Facts from sun-hailong/CVPR24-Ease (``models/ease.py``, ``backbone/vit_ease.py``,
``backbone/linears.py``, ``utils/inc_net.py``):

1. Each task t gets a new PEFT module on the frozen ViT (``peft=adapter``, the paper: a
   bottleneck adapter parallel to every block's MLP, 0.1·Up(ReLU(Down(h))), Up zero-init),
   trained with a fresh cosine proxy head over the task's classes (CE, labels shifted),
   SGD with a cosine learning-rate schedule. Then the module is frozen.
2. After task t, the prototype (mean [CLS] feature on the training data) of every new class
   is computed in every subspace j = 0..t (one backbone pass per module).
3. Semantic-guided prototype complement: an old class c of task i has no data for a later
   subspace j; with N_j the classes of tasks j..t (real prototypes in subspace j),
   p̂_{c,j} = Σ_{k∈N_j} softmax_k(cos(p_{c,i}, p_{k,i}))·p_{k,j} (similarity measured in the
   old subspace i, temperature 1), recomputed for every (i, j) after each task.
4. Inference: logit_c = cos(f_i, p_{c,i}) + (α/t)·Σ_{j≠i} cos(f_j, p_{c,j}) for a class of
   task i, t = the number of other subspaces (the common scale σ is dropped: it does not
   change the argmax); ``use_init_ptm`` adds β·cos(f_ptm, p_{c,ptm}) on the plain PTM.

``adapter_num = n ≥ 1`` is the reference's ``moni_adam`` mode (its OmniBenchmark config,
``adapter_num: 1``): only the first n tasks train an adapter (later tasks train nothing),
prototypes are computed in the plain PTM and in those n subspaces, the complement runs
among them, and a sample is scored by one cosine between the concatenation [f_ptm, f_0, …,
f_{n−1}] and each class's concatenated prototypes (the reference's plain cosine classifier,
forced ``use_init_ptm``; ``alpha`` and ``beta`` play no part). The reference's feature vector
also carries the blocks of the later tasks' untrained adapters, whose prototype columns stay
zero: they scale all logits of a sample by one factor, which changes no prediction, so CLUB
leaves them out.

:meth:`EASE.drop_task` deletes task t's module and its subspace; its classes can no longer
be predicted (their logits are −∞), the hook an unlearning baseline builds on.
"""

from __future__ import annotations

from typing import Annotated

import math

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import Step

from .backbones.peft import PEFT_KINDS, PEFTPool
from .base import MethodError, StreamInfo
from .domains import AtLeast, NonNegative, OneOf
from .feature_cache import FeatureCache, content_keys
from .pretrained import CosineLinear, PretrainedMethod, ViTModel, check_peft, class_means, features
from .registry import register_method
from .unlearning import TaskModuleDeletion


def prototype_complement(protos: torch.Tensor, class_task: torch.Tensor) -> torch.Tensor:
    """Fill the subspace-j prototypes of old classes (EASE, semantic-guided complement).

    ``protos``: T×C×D, real where ``class_task[c] >= j`` (subspace j was trained by then);
    other entries are overwritten: p̂_{c,j} = Σ_{k: task(k) ≥ j} softmax_k(cos(p_{c,i}, p_{k,i}))·p_{k,j}
    with i = task(c) ≥ 0 and i < j, for every j with at least one such k (classes of dropped
    tasks, ``class_task`` −1, are neither completed nor donors). All (i, j) pairs at once, on
    the device: no per-class index lists.
    """
    count = protos.shape[0]
    if count < 2:
        return protos.clone()
    unit = F.normalize(protos, dim=2)
    own = class_task.clamp_min(0)
    classes = torch.arange(len(class_task), device=protos.device)
    sim = torch.bmm(unit[own, classes][:, None, :], unit[own].transpose(1, 2))[:, 0]  # C×C: cos in each row's own subspace
    j = torch.arange(count, device=protos.device)[:, None]
    donor = class_task[None, :] >= j  # T×C: classes with a real prototype in subspace j
    weights = sim[None].masked_fill(~donor[:, None, :], float("-inf")).softmax(dim=2).nan_to_num(0.0)  # T×C×C
    completed = torch.bmm(weights, protos)
    update = (class_task[None, :] >= 0) & (class_task[None, :] < j) & donor.any(1, keepdim=True)
    return torch.where(update[:, :, None], completed, protos)


def ensemble_logits(cosines: torch.Tensor, class_task: torch.Tensor, alpha: float) -> torch.Tensor:
    """EASE's reweighted ensemble: ``cosines`` T×B×C of every subspace with every prototype.

    logit_c = cos_{i}[c] + (α/(T−1))·Σ_{j≠i} cos_j[c] with i = ``class_task[c]``.
    """
    own = cosines[class_task, :, torch.arange(cosines.shape[2], device=cosines.device)].T
    if cosines.shape[0] == 1:
        return own
    return own + alpha / (cosines.shape[0] - 1) * (cosines.sum(0) - own)


@register_method("ease")
class EASE(TaskModuleDeletion, PretrainedMethod):
    """Expandable Subspace Ensemble: one adapter per task, prototype complement, reweighted ensemble."""

    few_shot = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        peft: Annotated[str, OneOf(*PEFT_KINDS)] = "adapter",
        rank: Annotated[int, AtLeast(1)] = 16,
        length: Annotated[int, AtLeast(1)] = 5,
        prefix_layers: Annotated[int, AtLeast(1)] = 5,
        alpha: Annotated[float, NonNegative] = 0.1,
        use_init_ptm: bool = False,
        beta: Annotated[float, NonNegative] = 1.0,
        adapter_num: Annotated[int, AtLeast(-1)] = -1,
        epochs: int = 3,
        batch_size: int = 32,
        lr: float = 0.05,
        weight_decay: float = 5e-4,
        **kwargs,
    ) -> None:
        """``adapter_num``: −1 trains a module for every task (EASE); n ≥ 1 trains one for the first
        n tasks only and scores with the PTM block joined (the reference's ``moni_adam``)."""
        self.peft = check_peft(peft)
        if adapter_num == 0 or adapter_num < -1:
            raise ValueError(f"adapter_num is -1 (a module per task) or the number of tasks that train one, got {adapter_num}")
        self.rank, self.length, self.prefix_layers = rank, length, prefix_layers
        self.alpha, self.use_init_ptm, self.beta, self.adapter_num = alpha, use_init_ptm, beta, adapter_num
        self.ptm_block = use_init_ptm or adapter_num >= 1
        super().__init__(info, device, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay, **kwargs)
        self.num_tasks = 0
        self.task_ids: list[int] = []  # live subspaces, in order
        self.class_task = torch.empty(0, dtype=torch.long, device=device)  # task index of every seen class (−1: dropped)
        self.protos = torch.empty(0, 0, self.vit.out_dim)  # task × class × D, real prototypes only
        self.ptm_protos = torch.empty(0, self.vit.out_dim)

    def build_model(self) -> ViTModel:
        model = ViTModel(self.frozen_vit())
        model.modules_by_task = nn.ModuleDict()
        return model

    def _new_module(self) -> PEFTPool:
        vit = self.vit
        return PEFTPool(self.peft, 1, vit.out_dim, vit.depth, length=self.length, rank=self.rank, layers=self.prefix_layers, prompt_init="zeros")

    def subspace_features(self, x: torch.Tensor, task: int) -> torch.Tensor:
        module = self.model.modules_by_task[str(task)]
        return self.vit(x, **module.hooks(torch.zeros(len(x), 1, dtype=torch.long, device=x.device)))

    def learn(self, step: Step) -> None:
        task = self.num_tasks
        self.num_tasks += 1
        self.current_task, self.known = task, step.num_seen_classes - len(step.classes)
        if 1 <= self.adapter_num <= task:  # moni_adam: later tasks only add prototypes
            self.after_step(step)
            return
        self.model.modules_by_task[str(task)] = self._new_module().to(self.device)
        self.model.proxy = CosineLinear(self.vit.out_dim, len(step.classes)).to(self.device)
        super().learn(step)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        return F.cross_entropy(self.model.proxy(self.subspace_features(x, self.current_task)), y - self.known)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.model.modules_by_task[str(self.current_task)].parameters(), *self.model.proxy.parameters()]

    def lr_schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.epochs), eta_min=0.0)

    def after_step(self, step: Step) -> None:
        task = self.current_task
        if str(task) in self.model.modules_by_task:
            self.model.modules_by_task[str(task)].requires_grad_(False)
            del self.model.proxy
            self.task_ids.append(task)
        classes = list(step.classes)
        num_seen, dim = step.num_seen_classes, self.vit.out_dim
        class_task = torch.full((num_seen,), -1, dtype=torch.long, device=self.device)
        class_task[: len(self.class_task)] = self.class_task
        class_task[classes] = min(task, self.task_ids[-1])  # its own subspace, or the last one there is
        protos = torch.zeros(self.task_ids[-1] + 1, num_seen, dim, device=self.device)
        protos[: self.protos.shape[0], : self.protos.shape[1]] = self.protos
        self.model.eval()
        # One pass over the step's images: each batch is prepared once and fed to every subspace (and the PTM).
        networks = [lambda xb, j=j: self.subspace_features(xb, j) for j in self.task_ids]
        if self.ptm_block:
            networks.append(self.vit)
        feats = features(lambda xb: torch.stack([net(xb).float() for net in networks], 1), step.x, self.device, self, prepare=self.vit.prepare)
        for row, j in enumerate(self.task_ids):
            protos[j, classes] = class_means(feats[:, row], step.y, classes)
        self.class_task, self.protos = class_task, protos
        if self.ptm_block:
            ptm = torch.zeros(num_seen, dim, device=self.device)
            ptm[: len(self.ptm_protos)] = self.ptm_protos
            ptm[classes] = class_means(feats[:, -1], step.y, classes)
            self.ptm_protos = ptm
        self.scoring = None  # prototypes changed: completed again at the next prediction

    def classifier_prototypes(self) -> torch.Tensor:
        """Prototypes of every live subspace with old classes completed (T_live×C×D)."""
        return prototype_complement(self.protos, self.class_task)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        if self.__dict__.get("scoring") is None:  # once per step, not per evaluation batch
            self.scoring = self.classifier_prototypes()
        return self.logits(x, self.scoring)

    def frozen_features(self, x: torch.Tensor, task: int | None, keys: list | None = None) -> torch.Tensor:
        """float32 features of ``x`` in finished subspace ``task`` (``None``: the plain PTM). For
        stored images (uint8) they come from :attr:`feature_caches` when the image was seen: a
        finished subspace never changes, so each test image passes through it once per run.
        ``keys``: the batch's :func:`~methods.feature_cache.content_keys`, shared by the subspaces."""
        network = self.vit if task is None else (lambda xb: self.subspace_features(xb, task))
        if x.dtype != torch.uint8:
            return network(x).float()
        caches = self.__dict__.setdefault("feature_caches", {})
        cache = caches.setdefault("ptm" if task is None else task, FeatureCache())
        return cache(x, lambda xb: network(self.vit.prepare(xb)).float(), keys)

    def logits(self, x: torch.Tensor, protos: torch.Tensor) -> torch.Tensor:
        """EASE's scores of ``x`` against subspace prototypes ``protos`` (T×C×D)."""
        keys = content_keys(x) if x.dtype == torch.uint8 else None  # once per batch, for every subspace's cache

        def frozen(task: int | None) -> torch.Tensor:
            return self.frozen_features(x, task, keys)

        live = self.task_ids
        class_task = self.class_task
        alive = class_task >= 0
        if self.adapter_num >= 1:
            feats = torch.cat([frozen(None), *(frozen(j) for j in live)], dim=1)
            weights = torch.cat([self.ptm_protos, *protos[live]], dim=1)
            out = F.normalize(feats, dim=1) @ F.normalize(weights, dim=1).T
            return out.masked_fill(~alive, -math.inf)
        cos = torch.stack([F.normalize(frozen(j), dim=1) @ F.normalize(protos[j], dim=1).T for j in live])
        # Row of each class's own subspace in ``cos`` (task ids stay ascending as tasks are dropped).
        position = torch.searchsorted(torch.tensor(live, device=cos.device), class_task.clamp_min(0))
        out = ensemble_logits(cos, position, self.alpha)
        if self.use_init_ptm:
            out = out + self.beta * F.normalize(frozen(None), dim=1) @ F.normalize(self.ptm_protos, dim=1).T
        return out.masked_fill(~alive, -math.inf)

    def drop_task(self, task: int) -> None:
        """Delete task ``task``'s module and subspace; its classes are no longer predicted."""
        if self.adapter_num >= 1:
            raise MethodError(
                f"ease with adapter_num={self.adapter_num} cannot delete a task: the first tasks' adapters hold "
                "the prototypes of every later class"
            )
        if task not in self.task_ids:
            raise ValueError(f"task {task} has no module (live: {self.task_ids})")
        del self.model.modules_by_task[str(task)]
        self.__dict__.get("feature_caches", {}).pop(task, None)
        self.task_ids.remove(task)
        self.class_task[self.class_task == task] = -1
        self.scoring = None
