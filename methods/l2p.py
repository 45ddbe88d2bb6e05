"""L2P: Learning to Prompt (Wang et al., CVPR 2022), rehearsal-free, with a PEFT axis.

Facts from google-research/l2p and its PyTorch port JH-LEE-KR/l2p-pytorch (``prompt.py``,
``engine.py``, ``vision_transformer.py``, ``configs/cifar100_l2p.py``):

- the query q(x) is the frozen ViT's pre-logit [CLS] feature without prompts;
- a pool of M entries with learnable keys k_i (uniform(−1, 1)); each sample takes the N
  entries whose keys have the highest cosine with q(x). With ``batchwise_prompt=true`` the
  whole batch uses the N most frequent ids instead (the reference's majority vote, which
  leaks task identity at test time, so it is off by default and recorded in the result);
- ``peft=prompt`` (the paper): the N selected prompts (length L) are prepended at the
  input and the head reads the mean of the output tokens at the prompt positions;
  ``prefix``/``adapter``/``lora`` pools put the selected entries in the blocks instead and the
  head reads [CLS] (``peft=lora`` is "L2L", Wistuba et al. 2024);
- one linear head over all classes of the stream; loss = CE(logits with every class
  outside the current task masked to −∞, y) − λ·Σ_selected cos(q, k_i)/B (pull constraint);
- trainable: pool, keys and head; Adam, gradient norm clipped to ``max_grad_norm`` (1 in
  the port; 0 turns clipping off, as in LAMDA-PILOT's L2P), optimiser re-created at every task.

Trainable parameters with prompts: M·L·D + M·D + D·C + C (122,980 for D=768, M=10, L=5,
C=100; 199,880 for C=200, as in LAMDA-PILOT's log).

Keyword defaults are CLUB's for the embedded digits on the random tiny ViT (top-1 of the
pool, zero-initialised prompts, Adam 1e-3, 3 epochs): with the reference's uniform(−1, 1)
prompts the prompt tokens drown the weak random features. The real presets take the
reference values from ``methods/configs/l2p.json``.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import Step

from .backbones.peft import PEFT_KINDS, PEFTPool
from .base import StreamInfo
from .domains import AtLeast, NonNegative, OneOf
from .feature_cache import FeatureCache
from .pretrained import PretrainedMethod, ViTModel, check_peft, features
from .registry import register_method


def select_entries(sim: torch.Tensor, top_k: int, batchwise: bool) -> torch.Tensor:
    """Indices (B×N) of the selected pool entries from query–key similarities ``sim`` (B×M).

    Per sample: its top-N keys. Batch-wise: the N ids chosen most often by the per-sample
    top-N over the batch (ties to the lower id), shared by every sample.
    """
    idx = sim.topk(top_k, dim=1).indices
    if not batchwise:
        return idx
    counts = torch.bincount(idx.flatten(), minlength=sim.shape[1])
    return counts.topk(top_k).indices.sort().values.expand(len(sim), -1)


@register_method("l2p")
class L2P(PretrainedMethod):
    """Learning to Prompt: key–query selection from a pool of prompts (or other PEFT modules)."""

    few_shot = True

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        peft: Annotated[str, OneOf(*PEFT_KINDS)] = "prompt",
        pool_size: Annotated[int, AtLeast(1)] = 10,
        length: Annotated[int, AtLeast(1)] = 5,
        top_k: Annotated[int, AtLeast(1)] = 1,
        rank: Annotated[int, AtLeast(1)] = 4,
        prefix_layers: Annotated[int, AtLeast(1)] = 5,
        pull_weight: Annotated[float, NonNegative] = 0.1,
        batchwise_prompt: bool = False,
        prompt_init: Annotated[str, OneOf("uniform", "zeros")] = "zeros",
        max_grad_norm: Annotated[float, NonNegative] = 1.0,
        epochs: int = 3,
        batch_size: int = 16,
        lr: float = 0.001,
        optimizer: str = "adam",
        **kwargs,
    ) -> None:
        self.peft = check_peft(peft)
        if not 1 <= top_k <= pool_size:
            raise ValueError(f"top_k must be between 1 and pool_size={pool_size}, got {top_k}")
        self.pool_size, self.length, self.top_k, self.rank, self.prefix_layers = pool_size, length, top_k, rank, prefix_layers
        self.pull_weight, self.batchwise_prompt, self.max_grad_norm = pull_weight, batchwise_prompt, max_grad_norm
        if prompt_init not in ("uniform", "zeros"):
            raise ValueError(f"prompt_init must be uniform or zeros, got {prompt_init!r}")
        self.prompt_init = prompt_init
        super().__init__(info, device, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, **kwargs)
        self.known = 0

    def build_model(self) -> ViTModel:
        model = ViTModel(self.frozen_vit())
        dim = model.vit.out_dim
        model.pool = PEFTPool(
            self.peft, self.pool_size, dim, model.vit.depth, length=self.length, rank=self.rank, layers=self.prefix_layers,
            prompt_init=self.prompt_init,
        )
        model.keys = nn.Parameter(torch.empty(self.pool_size, dim).uniform_(-1, 1))
        model.head = nn.Linear(dim, self.info.num_classes)
        return model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits over every class of the stream, and the pull term Σ_selected cos(q, k)/B.

        The query and the prompted pass see the same view of the images (one random crop per
        sample while training, as the reference feeds one augmented batch to both). The query
        comes from the frozen ViT alone, so when the view does not change from pass to pass (no
        augmentation: evaluation, or ``input_pipeline=club``) each image's query is computed once
        and kept in :attr:`query_cache` (a step's training images in large batches when it
        starts, see :meth:`learn`)."""
        model = self.model
        view = model.vit.prepare(x)
        with torch.no_grad():
            query = self.query_cache(x, self.query) if x.dtype == torch.uint8 and not model.vit.augments else model.vit(view)
        sim = F.normalize(query.float(), dim=1) @ F.normalize(model.keys, dim=1).T
        idx = select_entries(sim.detach(), self.top_k, self.batchwise_prompt)
        tokens = model.vit.forward_tokens(view, **model.pool.hooks(idx))
        if self.peft == "prompt":
            start = model.vit.num_prefix_tokens
            feat = tokens[:, start : start + self.top_k * self.length].mean(1)
        else:
            feat = tokens[:, 0]
        pull = sim.gather(1, idx).sum() / len(x)
        return model.head(feat), pull

    @property
    def prompt_tokens(self) -> int:
        """Tokens the selected prompts add to every sequence (0 for the in-block PEFT kinds)."""
        return self.top_k * self.length if self.peft == "prompt" else 0

    def query(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen ViT's float32 [CLS] feature of stored images ``x`` (uint8), without prompts."""
        return self.model.vit(self.model.vit.prepare(x)).float()

    @property
    def query_cache(self) -> FeatureCache:
        """Frozen-ViT queries of the images seen without augmentation, by content."""
        return self.__dict__.setdefault("_query_cache", FeatureCache())

    def learn(self, step: Step) -> None:
        self.current = list(step.classes)
        self.trained = [p for p in self.model.parameters() if p.requires_grad]  # once per task, not per batch
        self.model.train()
        if step.x.dtype == torch.uint8 and not self.model.vit.augments:  # the step's queries, in large batches up front
            features(lambda xb: self.query_cache(xb, self.query), step.x, self.device, self)
        try:
            super().learn(step)
        finally:
            del self.trained
        self.known = step.num_seen_classes

    def task_mask(self) -> torch.Tensor:
        """The additive mask of the training logits (1 × classes: 0 on the current task's
        classes, −∞ elsewhere), built once per task."""
        cached = self.__dict__.get("_task_mask")
        if cached is None or cached[0] != self.current:
            mask = torch.full((1, self.info.num_classes), float("-inf"), device=self.device)
            mask[:, self.current] = 0
            cached = self.__dict__["_task_mask"] = (list(self.current), mask)
        return cached[1]

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> torch.Tensor:
        logits, pull = self.forward(x)
        return F.cross_entropy(logits + self.task_mask().to(logits.dtype), y) - self.pull_weight * pull

    def before_update(self) -> None:
        if self.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.trainable_parameters(), self.max_grad_norm)

    def trainable_parameters(self) -> list[nn.Parameter]:
        return self.__dict__.get("trained") or [p for p in self.model.parameters() if p.requires_grad]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return self.forward(x)[0][:, : self.known]


@register_method("l2l")
class L2L(L2P):
    """L2P's key–query selection over a pool of LoRA modules ("L2L", Wistuba et al. 2024)."""

    def __init__(self, info: StreamInfo, device: torch.device, *, peft: str = "lora", top_k: int = 1, **kwargs) -> None:
        super().__init__(info, device, peft=peft, top_k=top_k, **kwargs)
