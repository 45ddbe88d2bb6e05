"""InfLoRA: interference-free low-rank adaptation (Liang & Li, CVPR 2024), exemplar-free.

Facts from the official code, liangyanshuo/InfLoRA (``methods/inflora.py``,
``models/vit_inflora.py``, ``models/sinet_inflora.py``, ``utils/schedulers.py``, ``configs/``):

1. Every block's attention gets, for each task t, low-rank branches on the **key and value**
   projections only (the query is untouched): ``W_k += B_k^t·A^t`` and ``W_v += B_v^t·A^t``,
   one A^t shared by k and v, no scaling factor. The branches of all tasks are summed.
2. **Designing A^t** before task t is trained: the uncentred input covariance
   ``C = mean over tokens of x·xᵀ`` of each block's attention input (after ``norm1``) is
   collected on the task's training data, with the earlier tasks' branches in place. C is
   projected off the earlier tasks' input subspace M kept by DualGPM (``C − M·Mᵀ·C``; nothing
   to project for the first task), and ``A^t = U_rᵀ/√3`` with U_r the top-r left singular
   vectors. A^t is then frozen, B^t starts at zero, so the new branch leaves the network's
   function unchanged until it is trained, and its updates ``ΔW = ΔB·A^t`` only act on
   inputs outside the old tasks' subspace (the paper's interference-freeness).
3. **Training** updates only B_k^t, B_v^t and task t's linear head: cross-entropy over the
   task's classes (labels shifted), weight decay 0, Adam with the per-epoch schedule
   ``lr·cos(99π·e / (200·(E−1)))`` (``CosineSchedule``; SGD runs use momentum 0.9 and
   ``CosineAnnealingLR(T_max=E)``). The official network stays in eval mode while training;
   CLUB's ViTs have no dropout or drop-path, so the two modes compute the same function.
4. **After training**, C is collected again (branch t trained) and DualGPM grows the
   protected subspace of each block to hold a fraction λ_t of C's energy (squared singular
   values), ``λ_t = λ_b + (λ_e − λ_b)·t/T`` for task t = 0..T−1 of T (:func:`dualgpm_update`).
5. **Inference** needs no task identity: the features of the network with every branch go
   through every task's head, the logits are concatenated and the argmax is the prediction.
   (The official code also fits k-means keys on each task's features, which its evaluation
   never reads; CLUB does not compute them.)

DualGPM stores, per block, an orthonormal basis of the protected subspace while it is at most
half the width D ("remove": project with ``I − M·Mᵀ``) and of its orthogonal complement
beyond that ("retain": project with ``M⊥·M⊥ᵀ``). Where the official first-task branch
labels a basis wider than D/2 "retain" without taking its complement (which its own
consistency check then rejects), CLUB stores the complement, as the later tasks do.

Keyword defaults are CLUB's values for the embedded ``digits-cil`` on the random tiny ViT
(width 64); the real presets take InfLoRA's values from ``methods/configs/inflora.json``.
"""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import Step

from .acceleration import full_precision
from .base import StreamInfo
from .domains import AtLeast, Interval
from .pretrained import PretrainedMethod, ViTModel, features
from .registry import register_method

REMOVE, RETAIN = "remove", "retain"
Subspace = tuple[torch.Tensor, str]  # (orthonormal basis D×k, REMOVE or RETAIN)


def project_off(space: Subspace | None, m: torch.Tensor) -> torch.Tensor:
    """``m`` with the protected subspace projected out of its columns (``(I − P)·m``)."""
    if space is None:
        return m
    basis, kind = space
    inside = basis @ (basis.T @ m)
    return m - inside if kind == REMOVE else inside


def protected_dims(space: Subspace) -> int:
    """Dimension of the protected subspace."""
    basis, kind = space
    return basis.shape[1] if kind == REMOVE else basis.shape[0] - basis.shape[1]


def dualgpm_update(space: Subspace | None, cov: torch.Tensor, threshold: float) -> Subspace:
    """DualGPM after a task whose block input covariance is ``cov`` (InfLoRA's ``update_DualGPM``).

    With σ the singular values of ``cov`` and energy measured as σ²/Σσ²:

    - first task: the top-r singular vectors with r the number of leading directions whose
      cumulative energy is below ``threshold`` (at least 1);
    - "remove": the directions of ``(I − M·Mᵀ)·cov``, strongest first, are appended until the
      energy inside the subspace reaches ``threshold``;
    - "retain": the directions of ``M⊥·M⊥ᵀ·cov``, strongest first, leave the complement until
      the energy outside the subspace falls below ``1 − threshold``.

    A "remove" basis wider than D/2 is replaced by its complement ("retain").
    """
    dim = cov.shape[0]
    u, s, _ = torch.linalg.svd(cov, full_matrices=False)
    total = (s**2).sum()
    if space is None:
        r = int((torch.cumsum(s**2 / total, 0) < threshold).sum())
        basis, kind = u[:, : max(r, 1)], REMOVE
    else:
        basis, kind = space
        uh, sh, _ = torch.linalg.svd(project_off(space, cov), full_matrices=False)
        ratios = (sh**2 / total).tolist()
        outside = float((sh**2).sum() / total)
        r = 0
        if kind == REMOVE:
            inside = 1.0 - outside
            while r < len(ratios) and inside < threshold:
                inside += ratios[r]
                r += 1
            basis = torch.cat([basis, uh[:, :r]], 1)[:, :dim]
        else:
            while r < len(ratios) and outside >= 1.0 - threshold:
                outside -= ratios[r]
                r += 1
            if r:
                rest = basis - uh[:, :r] @ (uh[:, :r].T @ basis)
                basis = torch.linalg.svd(rest)[0][:, : basis.shape[1] - r]
    if kind == REMOVE and basis.shape[1] > dim / 2:
        basis, kind = torch.linalg.svd(basis)[0][:, basis.shape[1] :], RETAIN
    return basis, kind


def design_a(cov: torch.Tensor, space: Subspace | None, rank: int) -> torch.Tensor:
    """InfLoRA's A (rank×D): the top-``rank`` left singular vectors of the covariance
    projected off the protected subspace, transposed and divided by √3."""
    u = torch.linalg.svd(project_off(space, cov), full_matrices=False)[0]
    return u[:, :rank].T / math.sqrt(3)


def inflora_cosine(epoch: int, epochs: int) -> float:
    """Learning-rate factor of epoch ``epoch`` (0-based) of ``epochs``: cos(99π·e / (200·(E−1)))
    (InfLoRA's ``CosineSchedule``; constant for a single epoch)."""
    return 1.0 if epochs <= 1 else math.cos(99 * math.pi * epoch / (200 * (epochs - 1)))


class TaskBranches(nn.Module):
    """One task's k/v branches in every block: frozen ``a`` (depth×r×D), trainable ``b_k``, ``b_v``
    (depth×D×r, zero-initialised)."""

    def __init__(self, dim: int, depth: int, rank: int) -> None:
        super().__init__()
        self.register_buffer("a", torch.zeros(depth, rank, dim))
        self.b_k = nn.Parameter(torch.zeros(depth, dim, rank))
        self.b_v = nn.Parameter(torch.zeros(depth, dim, rank))


class CovarianceSum:
    """Running Σ x·xᵀ over the tokens given to one block's attention, in float32."""

    def __init__(self, dim: int, device: torch.device) -> None:
        self.total = torch.zeros(dim, dim, device=device)
        self.count = 0

    def add(self, x: torch.Tensor) -> None:
        with torch.autocast(x.device.type, enabled=False), full_precision():
            tokens = x.detach().float().reshape(-1, x.shape[-1])
            self.total += tokens.T @ tokens
        self.count += len(tokens)

    def mean(self) -> torch.Tensor:
        return self.total / self.count


class KVLoRA:
    """The ``lora`` hook of one block: the summed branches ``Σ_t B^t·A^t·x`` of every task,
    added to the key and value thirds of the fused qkv output (zero for the query). ``a``
    (R×D) and ``b_k``, ``b_v`` (D×R) stack the tasks' ranks; with a :class:`CovarianceSum`
    it also records the block's attention input ``x``."""

    def __init__(self, a: torch.Tensor, b_k: torch.Tensor, b_v: torch.Tensor, record: CovarianceSum | None = None) -> None:
        self.a, self.b_k, self.b_v, self.record = a, b_k, b_v, record

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.record is not None:
            self.record.add(x)
        z = F.linear(x, self.a)
        kv = torch.cat([F.linear(z, self.b_k), F.linear(z, self.b_v)], dim=-1)
        return F.pad(kv, (x.shape[-1], 0))


@register_method("inflora")
class InfLoRA(PretrainedMethod):
    """InfLoRA: per-task k/v LoRA branches whose A is designed off the old tasks' input subspace (DualGPM)."""

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        rank: Annotated[int, AtLeast(1)] = 4,
        threshold_start: Annotated[float, Interval(0.0, 1.0, low_open=True)] = 0.95,
        threshold_end: Annotated[float, Interval(0.0, 1.0, low_open=True)] = 1.0,
        epochs: int = 5,
        batch_size: int = 32,
        lr: float = 0.002,
        optimizer: str = "adam",
        weight_decay: float = 0.0,
        **kwargs,
    ) -> None:
        """``rank``: r of every branch; ``threshold_start``/``threshold_end``: DualGPM's λ_b and
        λ_e (the official configs' ``lamb`` and ``lame``)."""
        if not 0.0 < threshold_start <= threshold_end <= 1.0:
            raise ValueError(f"need 0 < threshold_start <= threshold_end <= 1, got {threshold_start}, {threshold_end}")
        self.rank, self.threshold_start, self.threshold_end = rank, threshold_start, threshold_end
        super().__init__(
            info, device, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, weight_decay=weight_decay, **kwargs
        )
        if not 1 <= rank <= self.vit.out_dim:
            raise ValueError(f"rank must be between 1 and the ViT width {self.vit.out_dim}, got {rank}")
        self.task_classes: list[tuple[int, int]] = []  # [first, end) class ids of each task
        self.spaces: list[Subspace | None] = [None] * self.vit.depth  # DualGPM per block, float64 on the CPU

    def build_model(self) -> ViTModel:
        model = ViTModel(self.frozen_vit())
        model.branches = nn.ModuleList()
        model.heads = nn.ModuleList()
        return model

    def hooks(self, records: list[CovarianceSum] | None = None) -> dict:
        """``PEFTViT`` keyword arguments that add every task's branches (and record block inputs)."""
        empty = torch.zeros(self.vit.depth, 0, self.vit.out_dim, device=self.device)  # rank 0 before the first task
        branches = self.model.branches
        a = torch.cat([empty, *(b.a for b in branches)], 1)
        b_k = torch.cat([empty.transpose(1, 2), *(b.b_k for b in branches)], 2)
        b_v = torch.cat([empty.transpose(1, 2), *(b.b_v for b in branches)], 2)
        return {"lora": {i: KVLoRA(a[i], b_k[i], b_v[i], records[i] if records else None) for i in range(len(a))}}

    def adapted_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-logit [CLS] feature of the ViT with every task's branches."""
        return self.vit(x, **self.hooks())

    def input_covariances(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's uncentred attention-input covariance on ``x`` (float64, CPU), with the
        current branches in place."""
        self.model.eval()
        records = [CovarianceSum(self.vit.out_dim, self.device) for _ in range(self.vit.depth)]
        features(lambda xb: self.vit(xb, **self.hooks(records)), x, self.device, self)
        return [r.mean().double().cpu() for r in records]

    def threshold(self, task: int) -> float:
        """DualGPM's λ_t = λ_b + (λ_e − λ_b)·t/T."""
        return self.threshold_start + (self.threshold_end - self.threshold_start) * task / self.info.num_steps

    def learn(self, step: Step) -> None:
        self.current_task = len(self.task_classes)
        self.task_classes.append((step.num_seen_classes - len(step.classes), step.num_seen_classes))
        vit = self.vit
        covs = self.input_covariances(step.x)
        branch = TaskBranches(vit.out_dim, vit.depth, self.rank)
        with torch.no_grad():
            branch.a.copy_(torch.stack([design_a(c, s, self.rank) for c, s in zip(covs, self.spaces)]))
        self.model.branches.append(branch.to(self.device))
        self.model.heads.append(nn.Linear(vit.out_dim, len(step.classes)).to(self.device))
        super().learn(step)

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        first = self.task_classes[self.current_task][0]
        return F.cross_entropy(self.model.heads[self.current_task](self.adapted_features(x)), y - first)

    def trainable_parameters(self) -> list[nn.Parameter]:
        branch = self.model.branches[self.current_task]
        return [branch.b_k, branch.b_v, *self.model.heads[self.current_task].parameters()]

    def lr_schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler:
        if self.optimizer_name == "sgd":
            return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, self.epochs))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: inflora_cosine(epoch, self.epochs))

    def after_step(self, step: Step) -> None:
        self.model.branches[self.current_task].requires_grad_(False)
        self.model.heads[self.current_task].requires_grad_(False)
        threshold = self.threshold(self.current_task)
        covs = self.input_covariances(step.x)
        self.spaces = [dualgpm_update(s, c, threshold) for s, c in zip(self.spaces, covs)]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        f = self.adapted_features(x)
        return torch.cat([head(f) for head in self.model.heads], dim=1).float()

    def details(self) -> dict:
        """Adds the dimension of each block's protected input subspace after the last task."""
        return {**super().details(), "protected_dims": [0 if s is None else protected_dims(s) for s in self.spaces]}
