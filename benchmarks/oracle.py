"""The retrain oracle of a forget request: the model trained from scratch without the forgotten data.

Every unlearning metric compares a method against it. The oracle is the plain supervised
learner (``finetune``'s training loop with the preset's learning recipe: ``finetune``'s entry
for the preset in ``methods/configs/finetune.json``, which every unlearning method learns with
too; its keyword defaults and the preset's backbone on the embedded presets) trained jointly
on every sample learned before the request minus every sample forgotten up to it, under a
fixed seed. It depends only on that content, so it is trained
once and cached under a hash of its training data and recipe; a later run (any method)
reuses it.

A cache entry holds the weights, the training time and the hardware it was measured on, and
the SHA-256 of all three. An entry that cannot be read or whose hash does not match (a
damaged or edited file) is trained again and rewritten, with a one-line warning.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from methods import Method, StreamInfo, get_method
from methods.configs import preset_hyperparameters
from scenarios import Step, Stream

from .environment import hardware
from .files import save_torch
from .rng import rng_state, seed_everything, set_rng_state

ORACLE_METHOD = "finetune"
ORACLE_SEED = 0


@dataclass
class Oracle:
    method: Method
    train_seconds: float  # time of the training that produced it (also when loaded from the cache)
    cached: bool
    hardware: dict  # where train_seconds was measured (benchmarks.environment.hardware)
    warning: str | None = None  # why a cache entry was not used and was replaced


def entry_sha256(model: dict[str, torch.Tensor], train_seconds: float, measured_on: dict) -> str:
    """SHA-256 of a cache entry: every tensor (name, dtype, shape, bytes, in name order), the
    training time and its hardware."""
    digest = hashlib.sha256(json.dumps({"train_seconds": train_seconds, "hardware": measured_on}, sort_keys=True).encode())
    for name in sorted(model):
        tensor = model[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _read_entry(path: Path, oracle: Method, device: torch.device) -> tuple[float, dict]:
    """Load cache entry ``path`` into ``oracle``; its training time and hardware. Raises
    ``ValueError`` naming the problem when the entry is unreadable or fails its hash."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        model, seconds, measured_on, stored = saved["model"], saved["train_seconds"], saved["hardware"], saved["sha256"]
    except Exception as e:  # truncated, not a torch file, an older layout: all mean "train again"
        raise ValueError(f"unreadable ({type(e).__name__})") from None
    if entry_sha256(model, seconds, measured_on) != stored:
        raise ValueError("its content does not match its SHA-256")
    try:
        oracle.model.load_state_dict(model)
    except RuntimeError:
        raise ValueError("its weights do not fit the oracle's network") from None
    return float(seconds), measured_on


def _content_hash(x: torch.Tensor, y: torch.Tensor, recipe: dict) -> str:
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for tensor in (x, y):
        digest.update(str((tuple(tensor.shape), str(tensor.dtype))).encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:32]


def retrain_oracle(stream: Stream, step_index: int, info: StreamInfo, device: torch.device, cache_dir: Path) -> Oracle:
    """The oracle of forget step ``step_index``: loaded from ``cache_dir`` or trained and saved.

    Training runs under its own fixed seed and leaves the global RNG state as it found it,
    so computing an oracle never changes the run it is computed in.
    """
    steps = stream.oracle_steps(step_index)
    num_classes = stream.steps[step_index].num_seen_classes
    x = torch.cat([s.x for s in steps])
    y = torch.cat([s.y for s in steps])
    method_cls = get_method(ORACLE_METHOD)
    learning_recipe = preset_hyperparameters(ORACLE_METHOD, stream.name)
    recipe = {
        "method": ORACLE_METHOD,
        "hyperparameters": {**method_cls.hyperparameters(), **learning_recipe},
        "backbone": info.backbone,
        "input_shape": list(info.input_shape),
        "num_classes": num_classes,
        "seed": ORACLE_SEED,
        "torch": torch.__version__,
    }
    path = Path(cache_dir) / f"{_content_hash(x, y, recipe)}.pt"
    rng = rng_state()

    def fresh() -> Method:
        seed_everything(ORACLE_SEED)  # the initialisation too: the oracle depends on its content only
        oracle = method_cls(info, device, **learning_recipe)
        oracle.model.grow(num_classes)
        return oracle

    warning = None
    try:
        oracle = fresh()
        if path.exists():
            try:
                seconds, measured_on = _read_entry(path, oracle, device)
                return Oracle(oracle, seconds, cached=True, hardware=measured_on)
            except ValueError as e:
                warning = f"retrain-oracle cache entry {path} is damaged ({e}): trained again and rewritten"
                oracle = fresh()
        start = time.perf_counter()
        oracle.learn(Step(index=0, kind="learn", x=x, y=y, classes=tuple(range(num_classes)), task_id=0, num_seen_classes=num_classes))
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
    finally:
        set_rng_state(rng)
    measured_on = hardware(device)
    model = oracle.model.state_dict()
    save_torch(path, {"model": model, "train_seconds": seconds, "hardware": measured_on, "sha256": entry_sha256(model, seconds, measured_on)})
    return Oracle(oracle, seconds, cached=False, hardware=measured_on, warning=warning)
