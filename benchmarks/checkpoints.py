"""Checkpoints that hold only what changed since the run started.

A checkpoint is the pickled :class:`~benchmarks.runner.RunState` (``torch.save``), written
atomically after each finished step, except for three kinds of objects, which it names instead
of storing:

- a **sealed frozen backbone** (:meth:`methods.backbones.vit.PEFTViT.seal`) is stored as the
  recipe that builds it (its weights tag, the generator state its random weights were drawn
  from) and the SHA-256 of its weights; a resume builds it again and checks the hash;
- a **frozen part** (a module whose parameters are all frozen and that holds at least
  :data:`PART_BYTES` of state, e.g. a finished task's adapter, LoRA or InfLoRA branch) is written
  once to ``checkpoint-parts/<sha256>.pt`` and named by that hash, so the checkpoints of later
  steps do not store it again;
- a tensor of the **stream itself** (a step's images, labels or sample ids, as methods that keep
  their training data hold them) is named by its step and field; a resume takes it from the
  stream it builds again from the same configuration.

Loading needs the device, the run folder and the stream (:func:`load_checkpoint`). Parts that
no checkpoint names any more are deleted after each save, and with the checkpoint at the end.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import pickle
import shutil
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

import torch
from torch import nn

from scenarios import Stream

from .errors import EnvironmentFailure
from .files import TEMP_PATTERN, save_torch, write_bytes

CHECKPOINT = "checkpoint.pt"
PARTS = "checkpoint-parts"
PART_BYTES = 64 * 1024  # smaller frozen modules stay inside the checkpoint
STREAM_FIELDS = ("x", "y", "sample_ids", "retain_x", "retain_y")
CONTAINERS = (nn.ModuleDict, nn.ModuleList, nn.Sequential)  # their elements are the parts


class CheckpointMismatch(EnvironmentFailure):
    """A checkpoint names something its resume cannot provide (a part file, a stream tensor)."""


@dataclass
class _Loading:
    device: torch.device
    parts: Path
    stream: Stream | None  # None: a look at the checkpoint's own fields, names left unresolved


_LOADING: contextvars.ContextVar[_Loading] = contextvars.ContextVar("club_checkpoint_loading")
#: Per frozen module: (where its tensors live and their versions, the SHA-256 of its part file).
_PART_HASHES: "weakref.WeakKeyDictionary[nn.Module, tuple[tuple, str]]" = weakref.WeakKeyDictionary()


def stream_tensors(stream: Stream) -> dict[int, tuple[int, str]]:
    """``id(tensor) → (step index, field)`` of every tensor the stream's steps hold (streams
    that build their steps on demand hold none: a method cannot keep theirs by identity)."""
    if not isinstance(stream.steps, list):
        return {}
    return {
        id(value): (step.index, name)
        for step in stream.steps
        for name in STREAM_FIELDS
        if isinstance(value := getattr(step, name), torch.Tensor)
    }


@dataclass
class _Saver:
    """What one save names instead of storing, and the part files it refers to."""

    parts: Path
    stream: Stream
    by_id: dict[int, tuple[int, str]]
    used: set[str] = field(default_factory=set)

    def reduce(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            where = self.by_id.get(id(obj))
            if where is not None and getattr(self.stream.steps[where[0]], where[1]) is obj:
                return (_stream_tensor, where)
            return NotImplemented
        if not isinstance(obj, nn.Module):
            return NotImplemented
        reference = _frozen_reference(obj)
        if reference is not None:
            return (_rebuilt, (reference,))
        digest = self.part(obj)
        if digest is not None:
            return (_part, (digest,))
        return NotImplemented

    def part(self, module: nn.Module) -> str | None:
        """The part file holding ``module`` (written if new), or ``None`` if it is not a part."""
        if isinstance(module, CONTAINERS):
            return None
        tensors = [*module.parameters(), *module.buffers()]
        if not tensors or any(p.requires_grad for p in module.parameters()):
            return None
        if sum(t.numel() * t.element_size() for t in tensors) < PART_BYTES:
            return None
        if any(_frozen_reference(m) is not None for m in module.modules()):
            return None  # holds a sealed backbone: it is named, its holder is stored around it
        key = tuple((t.data_ptr(), t._version) for t in tensors)
        known = _PART_HASHES.get(module)
        if known is not None and known[0] == key and (self.parts / f"{known[1]}.pt").exists():
            digest = known[1]
        else:
            buffer = io.BytesIO()
            torch.save(module, buffer)
            data = buffer.getvalue()
            digest = hashlib.sha256(data).hexdigest()
            if not (self.parts / f"{digest}.pt").exists():
                write_bytes(self.parts / f"{digest}.pt", data)
            _PART_HASHES[module] = (key, digest)
        self.used.add(f"{digest}.pt")
        return digest

    def pickle_module(self) -> ModuleType:
        """A ``pickle_module`` for ``torch.save`` whose pickler asks :meth:`reduce` first."""
        saver = self

        class Pickler(pickle.Pickler):
            def reducer_override(self, obj: Any) -> Any:
                return saver.reduce(obj)

        module = ModuleType("club_checkpoint_pickle")
        module.Pickler = Pickler  # type: ignore[attr-defined]
        return module


def _frozen_reference(module: Any) -> Any:
    reference = getattr(module, "frozen_reference", None)
    return reference() if callable(reference) else None


def save_checkpoint(run_dir: Path, state: Any, stream: Stream) -> None:
    """Write ``run_dir/checkpoint.pt`` atomically (its new parts first), then delete the part
    files it no longer names."""
    saver = _Saver(run_dir / PARTS, stream, stream_tensors(stream))
    save_torch(run_dir / CHECKPOINT, state, pickle_module=saver.pickle_module())
    if saver.parts.is_dir():
        for path in saver.parts.iterdir():
            if path.name not in saver.used:
                path.unlink(missing_ok=True)
        if not saver.used:
            shutil.rmtree(saver.parts, ignore_errors=True)


@contextlib.contextmanager
def _loading(device: torch.device, run_dir: Path, stream: Stream | None) -> Iterator[None]:
    token = _LOADING.set(_Loading(device, run_dir / PARTS, stream))
    try:
        yield
    finally:
        _LOADING.reset(token)


def load_checkpoint(run_dir: Path, device: torch.device, stream: Stream | None) -> Any:
    """The object saved in ``run_dir/checkpoint.pt``, its named parts loaded onto ``device``,
    its frozen backbones built again, its stream tensors taken from ``stream``. With ``stream``
    ``None`` nothing named is loaded (each is ``None``): a cheap look at the checkpoint's own
    fields before the stream is built. Errors are raised as they come."""
    with _loading(device, run_dir, stream):
        return torch.load(run_dir / CHECKPOINT, map_location=device, weights_only=False)


def discard_checkpoint(run_dir: Path) -> None:
    """Delete the checkpoint and its parts (the run ended, or cannot be continued)."""
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
    shutil.rmtree(run_dir / PARTS, ignore_errors=True)


def remove_stale_parts(run_dir: Path) -> None:
    """Delete the temporary files an interrupted part write left (only while no one writes)."""
    for path in (run_dir / PARTS).glob(TEMP_PATTERN):
        path.unlink(missing_ok=True)


def checkpoint_bytes(run_dir: Path) -> int:
    """Bytes of the checkpoint and of every part file it names."""
    files = [run_dir / CHECKPOINT, *((run_dir / PARTS).glob("*.pt") if (run_dir / PARTS).is_dir() else [])]
    return sum(f.stat().st_size for f in files if f.is_file())


def _rebuilt(reference: Any) -> nn.Module | None:
    loading = _LOADING.get()
    return None if loading.stream is None else reference.rebuild(loading.device)


def _part(digest: str) -> nn.Module | None:
    loading = _LOADING.get()
    if loading.stream is None:
        return None
    path = loading.parts / f"{digest}.pt"
    if not path.is_file():
        raise CheckpointMismatch(f"{path} is missing: the checkpoint cannot be continued without it")
    return torch.load(path, map_location=loading.device, weights_only=False)


def _stream_tensor(index: int, name: str) -> torch.Tensor | None:
    stream = _LOADING.get().stream
    if stream is None:
        return None
    steps = stream.steps
    value = getattr(steps[index], name, None) if index < len(steps) else None
    if not isinstance(value, torch.Tensor):
        raise CheckpointMismatch(f"the checkpoint names step {index}'s {name}, which the stream built again does not have")
    return value
