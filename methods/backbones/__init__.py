"""Feature extractors. Each takes uint8 (or float in [0, 1]) images and exposes ``out_dim``.

The ViTs (:mod:`methods.backbones.vit`) need timm, imported when a ViT is first built or
``PEFTViT``, ``WeightsUnavailable`` or ``build_vit`` is first read from this package."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from torch import nn

from .lenet import LeNet
from .mlp import MLP
from .resnet import ResNet18
from .small_cnn import SmallCNN
from .vit_names import VIT_NAMES


def _build_vit(name: str, input_shape: tuple[int, int, int]) -> nn.Module:
    from .vit import build_vit

    return build_vit(name, input_shape)


BACKBONES: dict[str, Callable[[tuple[int, int, int]], nn.Module]] = {
    "mlp": MLP,
    "mlp_300_150": partial(MLP, hidden=(300, 150)),  # the UPGD paper's fully connected network
    "lenet": LeNet,
    "small_cnn": SmallCNN,
    "resnet18": ResNet18,
    **{name: partial(_build_vit, name) for name in VIT_NAMES},
}


def build_backbone(name: str, input_shape: tuple[int, int, int]) -> nn.Module:
    """Instantiate backbone ``name`` for images of shape C×H×W."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name](input_shape)


_FROM_VIT = ("PEFTViT", "WeightsUnavailable", "build_vit")


def __getattr__(name: str) -> Any:
    """The timm-backed names, imported on first use (PEP 562)."""
    if name in _FROM_VIT:
        from . import vit

        return getattr(vit, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BACKBONES",
    "LeNet",
    "MLP",
    "PEFTViT",
    "ResNet18",
    "SmallCNN",
    "VIT_NAMES",
    "WeightsUnavailable",
    "build_backbone",
    "build_vit",
]
