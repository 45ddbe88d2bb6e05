"""ResNet-18 with the CIFAR stem (He et al., CVPR 2016; stem as in Rebuffi et al. 2017).

The CIFAR stem is one 3×3 convolution with stride 1 and no max-pool, so 32 px inputs keep
a 4×4 map before global pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from .image_input import ImageInput


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual connection (projected when the shape changes)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (2-2-2-2 basic blocks, 64-128-256-512 channels); ``out_dim`` = 512."""

    def __init__(self, input_shape: tuple[int, int, int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            ImageInput(),
            nn.Conv2d(input_shape[0], 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        ]
        cin = 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.net = nn.Sequential(*layers)
        self.out_dim = 512

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
