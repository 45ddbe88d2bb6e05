"""The runner's online loop: predict each incoming batch, then let the method train on it.

For a step of an :class:`~scenarios.online.OnlineStream` the runner calls
:func:`learn_online` instead of ``method.learn(step)``. Batches arrive in stream order; each
is first predicted (with the label space of the samples that came *before* it, so that a
class never seen is necessarily a miss) and counted into the step's online-accuracy windows,
then handed to ``method.observe(batch)``. Optimiser steps are counted through torch's
global optimiser hook; a method that takes more than the stream's budget on one batch is
stopped with a :class:`MethodError`. Evaluation sets and checkpoints stay at step
boundaries, in the runner, as for every other protocol.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from methods import Diverged, Method, MethodError
from methods.base import usable_logits
from methods.training import progress
from metrics.plasticity import dormant_fraction, effective_rank, inactive_fraction
from scenarios.online import OnlineStream
from scenarios.stream import Step


class _StepCounter:
    """Counts ``optimizer.step()`` calls of every optimiser while it is active."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        self.count += 1

    def __enter__(self) -> "_StepCounter":
        self.handle = register_optimizer_step_post_hook(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()


def _hits(method: Method, x: torch.Tensor, y: torch.Tensor, label_space: int, usable: torch.Tensor) -> list[bool]:
    """Whether the method's prediction of each sample of ``x`` is right, before it trains on it;
    ``usable`` (a device flag) is cleared when the logits hold NaN or +inf."""
    if label_space == 0:
        return [False] * len(y)
    with torch.no_grad(), method.autocast():
        logits = method.predict(x)
    if logits.shape != (len(y), label_space):
        raise RuntimeError(
            f"{type(method).__name__}.predict returned shape {tuple(logits.shape)}, expected "
            f"({len(y)}, {label_space}): one logit per class that has arrived so far"
        )
    usable &= usable_logits(logits)
    return (logits.argmax(1) == y).tolist()


def learn_online(method: Method, stream: OnlineStream, step: Step, label_space: int) -> dict[str, Any]:
    """Feed ``step`` to ``method`` batch by batch, predicting each batch before training on it.

    ``label_space`` is the number of classes that arrived before the step. Returns the
    step's online record: ``windows`` (``[correct, total]`` per ``stream.window`` samples of
    the step, the last one possibly partial), ``window``, ``gradient_steps`` and
    ``label_space`` (after the step).
    """
    windows: list[list[int]] = []
    num_batches = -(-len(step.y) // stream.batch_size)
    usable = torch.ones((), dtype=torch.bool, device=method.device)
    with _StepCounter() as counter:
        for batch in progress(stream.batches(step, label_space, method.device), f"step {step.index} batches", num_batches):
            for offset, hit in enumerate(_hits(method, batch.x, batch.y, label_space, usable)):
                w = (batch.start + offset) // stream.window
                if w == len(windows):
                    windows.append([0, 0])
                windows[w][0] += int(hit)
                windows[w][1] += 1
            before = counter.count
            method.observe(batch)
            taken = counter.count - before
            if taken > batch.updates:
                raise MethodError(
                    f"method {method.name!r} took {taken} optimiser steps on one batch; the stream's budget is "
                    f"{batch.updates} (scenario.updates_per_batch)"
                )
            label_space = batch.num_seen_classes
        gradient_steps = counter.count
    if not bool(usable):
        raise Diverged(f"method {method.name!r} diverged: its online predictions hold NaN or infinite logits")
    return {"windows": windows, "window": stream.window, "gradient_steps": gradient_steps, "label_space": label_space}


def probe_features(method: Method, stream: OnlineStream, step_index: int) -> dict[str, Any] | None:
    """Dormant-unit fractions (Sokar's τ = 0 and Dohare et al.'s "active on < 1% of inputs") and
    effective rank of the method's probed features, or ``None``
    when the method has no feature layer (``Method.features`` returns ``None``)."""
    if not stream.probes_after(step_index):
        return None
    x = stream.probe_inputs(step_index).to(method.device)
    with torch.no_grad(), method.autocast():
        features = method.features(x)
    if features is None:
        return None
    features = features.float().flatten(1).cpu().numpy()
    return {
        "units": features.shape[1],
        "dormant_fraction": dormant_fraction(features),
        "dormant_fraction[active<1%]": inactive_fraction(features),
        "effective_rank": effective_rank(features),
    }
