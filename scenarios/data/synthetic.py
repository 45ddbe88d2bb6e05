"""Synthetic class-structured images of any size, generated on the fly.

Each class has a fixed random template: a ``4×4`` grid of values per channel, upsampled
bilinearly to ``image_size``, so it is a smooth colour pattern. A sample is its class's
template plus Gaussian noise on the same ``4×4`` grid (upsampled the same way), Gaussian
pixel noise, and a random brightness shift of the whole image, rounded and clipped to
``uint8``. The class signal lives on the coarse grid, so the task is about equally hard
at every ``image_size``: a linear classifier learns it well, but not perfectly.

The point is speed and memory tests at real scale without downloading anything: for
example ``num_classes=100, train_per_class=500, image_size=224`` has the shape of an
ImageNet-100 subset (50,000×3×224×224 ``uint8``, 7.5 GB). Images are generated in chunks
straight into the preallocated ``uint8`` output, so generation needs the output plus a few
tens of megabytes, never a float copy of the whole set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import ImageDataset, data_source

_GRID = 4  # side of the coarse grid carrying templates and per-sample shape noise
_MEAN = 128.0
_TEMPLATE_STD = 20.0
_GRID_NOISE_STD = 40.0
_PIXEL_NOISE_STD = 16.0
_BRIGHTNESS_STD = 16.0
_CHUNK_VALUES = 1 << 22  # float32 values rendered at a time (16 MiB per buffer)


@data_source("synthetic", real=False)
def load_synthetic(
    root: Path,
    download: bool = True,
    num_classes: int = 10,
    image_size: int = 32,
    channels: int = 3,
    train_per_class: int = 500,
    test_per_class: int = 100,
    seed: int = 0,
) -> ImageDataset:
    """Generate a class-balanced synthetic dataset (``root`` and ``download`` are unused).

    The result depends only on the arguments. Templates, train set and test set come from
    separate random streams derived from ``seed`` (a non-negative integer), so the test set
    does not change with ``train_per_class``. Samples are shuffled, as in a real dataset's files.
    """
    _check_positive(
        num_classes=num_classes,
        image_size=image_size,
        channels=channels,
        train_per_class=train_per_class,
        test_per_class=test_per_class,
    )
    template_gen, train_gen, test_gen = _generators(seed, count=3)
    templates = _MEAN + _TEMPLATE_STD * torch.randn(num_classes, channels, _GRID, _GRID, generator=template_gen)
    train_x, train_y = _generate(templates, train_per_class, image_size, train_gen)
    test_x, test_y = _generate(templates, test_per_class, image_size, test_gen)
    return ImageDataset(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        class_names=tuple(f"class_{k:03d}" for k in range(num_classes)),
    )


def _check_positive(**options: int) -> None:
    for option, value in options.items():
        if value < 1:
            raise ValueError(f"synthetic: {option} must be at least 1, got {value}")


def _generators(seed: int, count: int) -> list[torch.Generator]:
    """``count`` independent torch generators derived from one seed."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [torch.Generator().manual_seed(int(child.generate_state(1, np.uint64)[0])) for child in children]


def _generate(
    templates: torch.Tensor, per_class: int, image_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``per_class`` shuffled samples of every class: (N×C×S×S uint8, N int64)."""
    num_classes, channels = templates.shape[:2]
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    labels = labels[torch.randperm(len(labels), generator=generator)]
    images = torch.empty(len(labels), channels, image_size, image_size, dtype=torch.uint8)
    chunk = max(1, _CHUNK_VALUES // (channels * image_size * image_size))
    for start in range(0, len(labels), chunk):
        stop = start + chunk
        images[start:stop] = _render(templates[labels[start:stop]], image_size, generator)
    return images, labels


def _render(coarse: torch.Tensor, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """Turn per-sample coarse templates (n×C×G×G float) into n noisy uint8 images."""
    coarse = coarse + _GRID_NOISE_STD * torch.randn(coarse.shape, generator=generator)
    images = F.interpolate(coarse, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images += _PIXEL_NOISE_STD * torch.randn(images.shape, generator=generator)
    images += _BRIGHTNESS_STD * torch.randn(len(images), 1, 1, 1, generator=generator)
    return images.round_().clamp_(0, 255).to(torch.uint8)
