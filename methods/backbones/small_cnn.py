"""A three-layer CNN for small images (digits, 32 px data on CPU)."""

from __future__ import annotations

import torch
from torch import nn

from .image_input import ImageInput


def _conv(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class SmallCNN(nn.Module):
    """conv32 → conv64 → pool → conv128 → global average pool; ``out_dim`` = 128."""

    def __init__(self, input_shape: tuple[int, int, int], width: int = 32) -> None:
        super().__init__()
        c = input_shape[0]
        self.net = nn.Sequential(
            ImageInput(),
            *_conv(c, width),
            *_conv(width, 2 * width),
            nn.MaxPool2d(2),
            *_conv(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.out_dim = 4 * width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
