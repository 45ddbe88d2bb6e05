"""The single place where stored images become network inputs."""

from __future__ import annotations

import torch
from torch import nn


class ImageInput(nn.Module):
    """Map uint8 images (0..255) to floats in [-1, 1]; float inputs are taken to be in [0, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
        return x * 2.0 - 1.0
