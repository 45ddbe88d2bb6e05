"""Named scenario presets: the protocols a ``--scenario NAME`` flag selects.

A preset names a data source, a *protocol* (a stream builder registered with
:func:`register_protocol`, e.g. ``class_incremental``) and the options of both. Modules
that add protocols register their builders and presets here.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from .class_incremental import class_incremental_stream
from .data import ImageDataset, is_real_source, load_source
from .stream import Stream

Builder = Callable[..., Stream]
PROTOCOLS: dict[str, Builder] = {}
PROTOCOL_MODALITY: dict[str, str] = {}  # which method registry ("image" or "text") a protocol runs
PRESETS: dict[str, "Preset"] = {}
PROTOCOL_CAPABILITIES: dict[str, str] = {}  # protocol -> capability flag a method must set


def register_protocol(name: str, builder: Builder, *, capability: str | None = None, modality: str = "image") -> None:
    """Register ``builder(dataset, seed, name, **options) -> Stream`` as protocol ``name``,
    whose streams are run by methods of ``modality`` (``image`` or ``text``).

    With ``capability="few_shot"`` only methods whose class attribute of that name is true may
    run it (e.g. few-shot sessions, which break methods built for data-rich steps); the runner
    refuses every other method before training. Protocols with forget steps require
    ``forgets`` (set for every method that implements ``forget``).
    """
    if name in PROTOCOLS:
        raise ValueError(f"protocol {name!r} is already registered")
    PROTOCOLS[name] = builder
    PROTOCOL_MODALITY[name] = modality
    if capability is not None:
        PROTOCOL_CAPABILITIES[name] = capability


@dataclass(frozen=True)
class Preset:
    """A protocol on one data source.

    ``options`` go to the protocol's builder (e.g. ``base``/``increment``), ``source_options``
    to the data source (e.g. ``image_size`` of ``synthetic``). ``backbone`` is the network a
    method uses on this data unless told otherwise.
    """

    name: str
    description: str
    source: str
    protocol: str
    backbone: str
    options: dict[str, Any] = field(default_factory=dict)
    source_options: dict[str, Any] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        """Whether the preset runs on a published dataset (:func:`scenarios.is_real_source`)."""
        return is_real_source(self.source)


def register_preset(preset: Preset) -> Preset:
    """Add ``preset`` to :data:`PRESETS`; names are unique."""
    if preset.name in PRESETS:
        raise ValueError(f"scenario preset {preset.name!r} is already registered")
    PRESETS[preset.name] = preset
    return preset


def apply_overrides(preset: Preset, overrides: dict[str, Any]) -> Preset:
    """Return ``preset`` with ``backbone``, protocol options or source options replaced.

    A key that the protocol's builder accepts is a protocol option; ``backbone`` replaces
    the default network; any other key is a data-source option.
    """
    accepted = set(inspect.signature(PROTOCOLS[preset.protocol]).parameters) - {"dataset", "seed", "name"}
    options, source_options = dict(preset.options), dict(preset.source_options)
    backbone = preset.backbone
    for key, value in overrides.items():
        if key == "backbone":
            backbone = value
        elif key in accepted:
            options[key] = value
        else:
            source_options[key] = value
    return replace(preset, backbone=backbone, options=options, source_options=source_options)


def build_scenario(preset: Preset, seed: int, data_dir: Path, download: bool = True) -> Stream:
    """Load the preset's data and build its stream."""
    dataset: ImageDataset = load_source(preset.source, data_dir, download=download, **preset.source_options)
    stream = PROTOCOLS[preset.protocol](dataset, seed=seed, name=preset.name, **preset.options)
    stream.options.update(source_options=dict(preset.source_options), backbone=preset.backbone)
    return stream


def _cil(name: str, description: str, source: str, base: int, increment: int, backbone: str, **source_options: Any) -> None:
    register_preset(
        Preset(name, description, source, "class_incremental", backbone, {"base": base, "increment": increment}, source_options)
    )


register_protocol("class_incremental", class_incremental_stream)
_cil("digits-cil", "sklearn digits 8×8, 5 steps × 2 classes (embedded, no download)", "digits", 0, 2, "mlp")
_cil("digits-cnn-cil", "sklearn digits 8×8 with the small CNN, 5 steps × 2 classes", "digits", 0, 2, "small_cnn")
_cil("cifar10-b0inc2", "CIFAR-10, 5 steps × 2 classes", "cifar10", 0, 2, "resnet18")
_cil("cifar100-b0inc10", "CIFAR-100, 10 steps × 10 classes", "cifar100", 0, 10, "resnet18")
_cil("cifar100-b0inc5", "CIFAR-100, 20 steps × 5 classes", "cifar100", 0, 5, "resnet18")
_cil("cifar100-b50inc10", "CIFAR-100, 50 base classes then 5 steps × 10", "cifar100", 50, 10, "resnet18")
_cil(
    "synthetic-cil",
    "generated 32×32 RGB images, 100 classes, 10 steps × 10 (size via scenario.* options)",
    "synthetic",
    0,
    10,
    "resnet18",
    num_classes=100,
    image_size=32,
    train_per_class=500,
    test_per_class=100,
)
