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


def _hits(method: Method, x: torch.Tensor, y: torch.Tensor, label_space: int, usable: torch.Tensor) -> torch.Tensor | None:
    """Whether the method's prediction of each sample of ``x`` is right (a bool tensor on the
    device, not synchronised), before it trains on it; ``None`` when no class has arrived yet.
    ``usable`` (a device flag) is cleared when the logits hold NaN or +inf, or a row holds no
    finite logit: exactly when a row's maximum is not finite (NaN propagates through ``max``)."""
    if label_space == 0:
        return None
    with torch.no_grad(), method.autocast():
        logits = method.predict(x)
    if logits.shape != (len(y), label_space):
        raise RuntimeError(
            f"{type(method).__name__}.predict returned shape {tuple(logits.shape)}, expected "
            f"({len(y)}, {label_space}): one logit per class that has arrived so far"
        )
    best, predicted = logits.max(1)  # the first maximal index, as argmax
    usable &= torch.isfinite(best).all()
    return predicted == y


class _Windows:
    """``[correct, total]`` per window of ``size`` samples of a step, gathered on the device:
    the hits of a window are summed once it is complete, and all counts are read at the end
    (one synchronisation per step)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.totals: list[int] = []
        self.correct: list[torch.Tensor | int] = []  # per closed window
        self.open: list[torch.Tensor] = []  # hits of the window being filled

    def add(self, start: int, count: int, hits: torch.Tensor | None) -> None:
        """Samples ``start .. start+count-1`` of the step, with their ``hits`` (``None``: all missed)."""
        done = 0
        while done < count:
            w = (start + done) // self.size
            take = min(count - done, (w + 1) * self.size - (start + done))
            if w == len(self.totals):
                self._close()
                self.totals.append(0)
            self.totals[w] += take
            if hits is not None:
                self.open.append(hits if take == count else hits[done : done + take])
            done += take

    def _close(self) -> None:
        if self.totals:
            self.correct.append(torch.cat(self.open).sum() if self.open else 0)
        self.open = []

    def counts(self) -> list[list[int]]:
        self._close()
        device_counts = [c for c in self.correct if isinstance(c, torch.Tensor)]
        read = iter(torch.stack(device_counts).tolist() if device_counts else [])
        return [[int(next(read)) if isinstance(c, torch.Tensor) else 0, total] for c, total in zip(self.correct, self.totals)]


def learn_online(method: Method, stream: OnlineStream, step: Step, label_space: int) -> dict[str, Any]:
    """Feed ``step`` to ``method`` batch by batch, predicting each batch before training on it.

    ``label_space`` is the number of classes that arrived before the step. Returns the
    step's online record: ``windows`` (``[correct, total]`` per ``stream.window`` samples of
    the step, the last one possibly partial), ``window``, ``gradient_steps`` and
    ``label_space`` (after the step). Hits stay on the device until the step ends.
    """
    windows = _Windows(stream.window)
    num_batches = -(-len(step.y) // stream.batch_size)
    usable = torch.ones((), dtype=torch.bool, device=method.device)
    with _StepCounter() as counter:
        for batch in progress(stream.batches(step, label_space, method.device), f"step {step.index} batches", num_batches):
            windows.add(batch.start, len(batch.y), _hits(method, batch.x, batch.y, label_space, usable))
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
    return {"windows": windows.counts(), "window": stream.window, "gradient_steps": gradient_steps, "label_space": label_space}


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
