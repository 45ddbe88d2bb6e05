"""Named scenario presets: the protocols a ``--scenario NAME`` flag selects."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .class_incremental import class_incremental_stream
from .data import load_source
from .stream import Stream


@dataclass(frozen=True)
class Preset:
    """A class-incremental protocol on one data source.

    ``backbone`` is the network a method uses on this data unless told otherwise.
    ``source_options`` are passed to the data source (e.g. image size of ``synthetic``).
    """

    name: str
    description: str
    source: str
    base: int
    increment: int
    backbone: str
    order: str = "seed"
    source_options: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("digits-cil", "sklearn digits 8×8, 5 steps × 2 classes (embedded, no download)", "digits", 0, 2, "mlp"),
        Preset("digits-cnn-cil", "sklearn digits 8×8 with the small CNN, 5 steps × 2 classes", "digits", 0, 2, "small_cnn"),
        Preset("cifar10-b0inc2", "CIFAR-10, 5 steps × 2 classes", "cifar10", 0, 2, "resnet18"),
        Preset("cifar100-b0inc10", "CIFAR-100, 10 steps × 10 classes", "cifar100", 0, 10, "resnet18"),
        Preset("cifar100-b0inc5", "CIFAR-100, 20 steps × 5 classes", "cifar100", 0, 5, "resnet18"),
        Preset("cifar100-b50inc10", "CIFAR-100, 50 base classes then 5 steps × 10", "cifar100", 50, 10, "resnet18"),
        Preset(
            "synthetic-cil",
            "generated 32×32 RGB images, 100 classes, 10 steps × 10 (size via scenario.* options)",
            "synthetic",
            0,
            10,
            "resnet18",
            source_options={"num_classes": 100, "image_size": 32, "train_per_class": 500, "test_per_class": 100},
        ),
    ]
}


def apply_overrides(preset: Preset, overrides: dict[str, Any]) -> Preset:
    """Return ``preset`` with fields or source options replaced by ``overrides``.

    A key naming a preset field (``base``, ``increment``, ``order``, ``backbone``) replaces
    it; any other key is a source option (e.g. ``image_size`` for ``synthetic``).
    """
    own = {f.name for f in fields(Preset)} - {"name", "description", "source", "source_options"}
    changes = {k: v for k, v in overrides.items() if k in own}
    options = {**preset.source_options, **{k: v for k, v in overrides.items() if k not in own}}
    return replace(preset, source_options=options, **changes)


def build_scenario(preset: Preset, seed: int, data_dir: Path, download: bool = True) -> Stream:
    """Load the preset's data and split it into a stream."""
    dataset = load_source(preset.source, data_dir, download=download, **preset.source_options)
    stream = class_incremental_stream(dataset, preset.base, preset.increment, seed, preset.order, name=preset.name)
    stream.options.update(source_options=dict(preset.source_options), backbone=preset.backbone)
    return stream
