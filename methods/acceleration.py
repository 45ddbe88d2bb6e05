"""How a method runs on its device, without changing what it computes: compiled steps, CUDA
graphs, the optimiser's implementation, TF32 matrix products and the frozen backbone's storage
type. Each is a hyperparameter (``--set compile=true``); ``benchmarks/recipes.py`` lists them
as inert (they cannot change what a method learns, only the floating-point rounding).

- ``compile`` (default off): ``torch.compile`` of the training step's forward pass and loss
  (:meth:`~methods.supervised.SupervisedMethod.loss`) and of the model's forward pass in
  predictions. The first step of each new shape pays the compilation (tens of seconds).
- ``cuda_graphs`` (default off, CUDA only; refused on the CPU): the compiled steps replay CUDA
  graphs (``mode="reduce-overhead"``, static shapes): one graph per batch shape, which removes
  the launch cost that bounds small-batch steps.
- ``optimizer_impl``: ``auto`` (fused kernels on CUDA for SGD, Adam and AdamW; on the CPU the
  ``foreach`` Adam and AdamW, whose updates equal the for-loop's bit for bit (a test checks it)
  with one call per operation instead of one per parameter, and torch's default for SGD, whose
  ``foreach`` form rounds differently), ``for-loop``, ``foreach`` or ``fused``; UPGD has one
  implementation.
- ``tf32`` (default on): float32 matrix products and convolutions on CUDA use TensorFloat-32
  (a process-wide torch setting; no effect on the CPU). Parts that need full float32 precision
  (InfLoRA's input covariances) switch it off around themselves with :func:`full_precision`.
- ``backbone_dtype`` (pre-trained-model methods): ``auto`` stores a frozen ViT in bfloat16 on
  CUDA (its passes run under bf16 autocast there anyway) and in float32 on the CPU;
  ``bfloat16`` on the CPU also runs its passes under CPU bf16 autocast.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import torch

OPTIMIZER_IMPLS = ("auto", "for-loop", "foreach", "fused")
BACKBONE_DTYPES = ("auto", "float32", "bfloat16")
FUSABLE = ("sgd", "adam", "adamw")


def optimizer_options(implementation: str, optimizer: str, device: torch.device) -> dict[str, Any]:
    """Keyword arguments selecting ``implementation`` for torch optimiser ``optimizer``."""
    if implementation not in OPTIMIZER_IMPLS:
        raise ValueError(f"optimizer_impl must be one of {', '.join(OPTIMIZER_IMPLS)}, got {implementation!r}")
    if optimizer not in FUSABLE:
        return {}
    if implementation == "auto":
        if device.type == "cuda":
            return {"fused": True}
        return {"foreach": True} if optimizer in ("adam", "adamw") else {}
    return {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[implementation]


def check_cuda_only(name: str, enabled: bool, device: torch.device) -> None:
    """Refuse an option that only exists on CUDA when the run computes elsewhere."""
    if enabled and device.type != "cuda":
        raise ValueError(f"{name}=true needs a CUDA device (--device cuda); leave it false on the {device.type}")


def use_tf32(enabled: bool, device: torch.device) -> None:
    """TensorFloat-32 for float32 matrix products and convolutions on CUDA (process-wide)."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


@contextlib.contextmanager
def full_precision() -> Iterator[None]:
    """Full float32 matrix products inside the block, whatever :func:`use_tf32` chose."""
    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before


def compiled(fn: Callable, cuda_graphs: bool) -> Callable:
    """``torch.compile(fn)``; with ``cuda_graphs`` its kernels are replayed as CUDA graphs, one
    per input shape (static shapes)."""
    if cuda_graphs:
        return torch.compile(fn, mode="reduce-overhead", dynamic=False)
    return torch.compile(fn)


def backbone_dtype(name: str, device: torch.device) -> torch.dtype:
    """The storage type of a frozen backbone: ``auto`` is bfloat16 on CUDA, float32 elsewhere."""
    if name not in BACKBONE_DTYPES:
        raise ValueError(f"backbone_dtype must be one of {', '.join(BACKBONE_DTYPES)}, got {name!r}")
    if name == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, name)
