"""Scenarios: what happens, in what order. Produces a :class:`Stream` of :class:`Step` objects."""

from .class_incremental import class_incremental_stream, class_order_for, split_sizes
from .data import DatasetUnavailable, ImageDataset, is_real_source, load_source, source_names
from .presets import (
    PRESETS,
    PROTOCOL_CAPABILITIES,
    PROTOCOL_MODALITY,
    PROTOCOLS,
    Preset,
    apply_overrides,
    build_scenario,
    register_preset,
    register_protocol,
)
from .stream import Step, Stream
from . import pretrained_presets  # noqa: F401  (registers the pre-trained-model presets)
from .few_shot import few_shot_stream  # registers the few_shot protocol and its presets
from .forgetting import ForgetStream, forgetting_stream, learn_forget_stream, parse_requests  # registers its protocols
from .online import ONLINE, Batch, OnlineStream, PermutedStream, TaskInfo  # registers the online protocols and presets

from . import qa  # noqa: E402,F401  registers the question-answering protocol and presets  isort: skip
from .avalanche_benchmark import to_avalanche  # noqa: E402  isort: skip

__all__ = [
    "ONLINE",
    "Batch",
    "PRESETS",
    "PROTOCOL_CAPABILITIES",
    "PROTOCOLS",
    "PROTOCOL_MODALITY",
    "DatasetUnavailable",
    "ForgetStream",
    "ImageDataset",
    "Preset",
    "Step",
    "OnlineStream",
    "PermutedStream",
    "Stream",
    "TaskInfo",
    "apply_overrides",
    "build_scenario",
    "register_preset",
    "register_protocol",
    "class_incremental_stream",
    "class_order_for",
    "few_shot_stream",
    "forgetting_stream",
    "learn_forget_stream",
    "parse_requests",
    "is_real_source",
    "load_source",
    "source_names",
    "split_sizes",
    "to_avalanche",
]
