"""Shared parts of the methods that run on a (frozen) pre-trained ViT.

``backbone="auto"`` takes the preset's network when it is a ViT and otherwise the tiny
``vit_tiny_club`` sized for the data (the embedded digits presets name an MLP); any other
explicit non-ViT backbone is an error. ``pretrained=false`` asks for random initialisation
instead of downloading weights. The exact weights used are reported by :meth:`details`.
``input_pipeline`` turns stored images into network input (:mod:`methods.backbones.vit_input`):
``reference`` (random resized crops and flips while training, resize 256 + centre crop 224
when evaluating or computing prototypes, [0, 1] values, as the references) or ``club``
([−1, 1], bilinear resize, no augmentation; the keyword default, for the embedded digits).
"""

from __future__ import annotations

from typing import Annotated, Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from .acceleration import BACKBONE_DTYPES
from .acceleration import backbone_dtype as resolve_backbone_dtype
from .backbones.peft import PEFT_KINDS
from .backbones.vit import TINY, VIT_NAMES, PEFTViT, build_vit
from .backbones.vit_input import PIPELINES
from .base import StreamInfo
from .data_feed import resident
from .domains import OneOf
from .supervised import SupervisedMethod


def features(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device, method, batch_size: int = 256,
    prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """``fn`` applied to ``x`` in batches on ``device`` without gradients; float32 result.
    ``prepare`` turns each stored batch into network input once, before ``fn`` (e.g.
    :meth:`PEFTViT.prepare`, when ``fn`` runs several networks on the same view)."""
    out = []
    source = resident(x, device)  # on CUDA: copied once when it fits (several passes may read it)
    source = x if source is None else source
    with torch.no_grad(), method.autocast():
        for start in range(0, len(x), batch_size):
            xb = source[start : start + batch_size].to(device, non_blocking=True)
            out.append(fn(xb if prepare is None else prepare(xb)).float())
    return torch.cat(out)


def class_means(feats: torch.Tensor, y: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """Mean feature of each class in ``classes`` (rows in that order)."""
    y = y.to(feats.device)
    return torch.stack([feats[y == c].mean(0) for c in classes])


class CosineLinear(nn.Module):
    """``σ·cos(x, w_c)`` with a learnable scale σ (Hou et al., CVPR 2019; EASE's proxy head)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_dim, in_dim).uniform_(-1 / in_dim**0.5, 1 / in_dim**0.5))
        self.sigma = nn.Parameter(torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma * F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).T


class ViTModel(nn.Module):
    """A frozen ViT plus the trainable parts a method adds as attributes; the head never grows."""

    def __init__(self, vit: PEFTViT) -> None:
        super().__init__()
        self.vit = vit

    def grow(self, num_classes: int) -> None:
        """Nothing to grow: methods size their heads themselves."""


def check_peft(peft: str) -> str:
    if peft not in PEFT_KINDS:
        raise ValueError(f"peft must be one of {', '.join(PEFT_KINDS)}, got {peft!r}")
    return peft


class PretrainedMethod(SupervisedMethod):
    """A :class:`SupervisedMethod` whose model is built around :class:`PEFTViT`."""

    def __init__(
        self, info: StreamInfo, device: torch.device, *, pretrained: bool = True,
        input_pipeline: Annotated[str, OneOf(*PIPELINES)] = "club",
        backbone_dtype: Annotated[str, OneOf(*BACKBONE_DTYPES)] = "auto", **kwargs: Any
    ) -> None:
        """``backbone_dtype``: the storage type of a frozen ViT (:mod:`methods.acceleration`)."""
        if input_pipeline not in PIPELINES:
            raise ValueError(f"input_pipeline must be one of {', '.join(PIPELINES)}, got {input_pipeline!r}")
        self.pretrained, self.input_pipeline = pretrained, input_pipeline
        dtype = resolve_backbone_dtype(backbone_dtype, device)
        self.backbone_dtype = backbone_dtype
        super().__init__(info, device, **kwargs)
        if not any(p.requires_grad for p in self.vit.parameters()):  # frozen: stored in its dtype, then sealed
            if dtype != torch.float32:
                self.vit.to(dtype)
                self.bf16_backbone = True
            self.vit.seal()
        elif dtype != torch.float32 and backbone_dtype != "auto":
            raise ValueError(f"backbone_dtype={backbone_dtype} stores a frozen backbone; {self.name} trains its ViT")

    def autocast(self):
        """bf16 autocast on CUDA; on the CPU too when the frozen backbone is stored in bf16."""
        if self.device.type == "cpu" and self.__dict__.get("bf16_backbone"):
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return super().autocast()

    def resolve_backbone(self, backbone: str) -> str:
        name = super().resolve_backbone(backbone)
        if name in VIT_NAMES:
            return name
        if backbone == "auto":
            return TINY
        raise ValueError(f"backbone must be a ViT ({', '.join(VIT_NAMES)}), got {name!r}")

    def frozen_vit(self) -> PEFTViT:
        """The pre-trained ViT with every weight frozen."""
        vit = build_vit(self.backbone_name, self.info.input_shape, self.pretrained, self.input_pipeline)
        return vit.requires_grad_(False).eval()

    @property
    def vit(self) -> PEFTViT:
        return self.model.vit

    def details(self) -> dict[str, Any]:
        return {"backbone": self.backbone_name, "backbone_weights": self.vit.weights}

    def num_trainable(self) -> int:
        """Parameters the optimiser of a step updates."""
        return sum(p.numel() for p in self.trainable_parameters() if p.requires_grad)
