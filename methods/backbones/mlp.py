"""A small multi-layer perceptron for the 8×8 digits."""

from __future__ import annotations

import math

import torch
from torch import nn

from .image_input import ImageInput


class MLP(nn.Module):
    """Flatten → Linear-ReLU blocks. ``out_dim`` is the last hidden width."""

    def __init__(self, input_shape: tuple[int, int, int], hidden: tuple[int, ...] = (256, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = [ImageInput(), nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        self.net = nn.Sequential(*layers)
        self.out_dim = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
