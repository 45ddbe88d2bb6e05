"""A backbone with a growing linear head, and the supervised training loop most methods share.

Subclasses change one thing each: the data of a step (:meth:`SupervisedMethod.training_data`),
the loss of a batch (:meth:`SupervisedMethod.loss`) or what happens after a step
(:meth:`SupervisedMethod.after_step`); the loop itself is written once, here.
"""

from __future__ import annotations

import math
from typing import Annotated, Callable

import torch
import torch.nn.functional as F
from torch import nn

from scenarios import Batch, Step

from .acceleration import OPTIMIZER_IMPLS, check_cuda_only, compiled, optimizer_options, use_tf32
from .backbones import BACKBONES, build_backbone
from .base import Method, StreamInfo
from .domains import AtLeast, Interval, NonNegative, OneOf, Positive
from .training import OPTIMIZERS, FiniteLosses, batches, make_optimizer, progress


def new_class_cross_entropy(logits: torch.Tensor, y: torch.Tensor, known: int) -> torch.Tensor:
    """Cross-entropy over the logits of classes ``known..`` only, labels shifted by ``known``.

    Leaves the old classes' head rows untouched by the current step's labels, the
    class-incremental form of LwF and EWC in PyCIL (Zhou et al., 2021).
    """
    return F.cross_entropy(logits[:, known:], y - known)


class IncrementalClassifier(nn.Module):
    """``backbone`` features followed by a linear head that grows as classes arrive."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head: nn.Linear | None = None

    @property
    def num_outputs(self) -> int:
        return 0 if self.head is None else self.head.out_features

    def grow(self, num_classes: int) -> bool:
        """Extend the head to ``num_classes`` outputs, keeping the rows of known classes;
        ``True`` when it grew."""
        if num_classes <= self.num_outputs:
            return False
        device = next(self.backbone.parameters()).device
        head = nn.Linear(self.backbone.out_dim, num_classes).to(device)
        if self.head is not None:
            with torch.no_grad():
                head.weight[: self.num_outputs] = self.head.weight
                head.bias[: self.num_outputs] = self.head.bias
        self.head = head
        return True

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert self.head is not None, "grow() the head before the first forward pass"
        return self.head(self.backbone(x))

    def train(self, mode: bool = True) -> "IncrementalClassifier":
        """``nn.Module.train`` over a flat list of the submodules, kept until a submodule is
        assigned (online runs switch modes twice per sample, and the recursion costs more than
        a small network's forward pass); the recursion when a submodule overrides ``train``."""
        modules = self.__dict__.get("_flat_modules")
        if modules is None:
            modules = list(self.modules())
            if any(type(m).train is not nn.Module.train for m in modules[1:]):
                modules = []
            self.__dict__["_flat_modules"] = modules
        if not modules:
            return super().train(mode)
        for module in modules:
            module.__dict__["training"] = mode
        return self

    def __setattr__(self, name: str, value: object) -> None:
        if isinstance(value, nn.Module):
            self.__dict__.pop("_flat_modules", None)
        super().__setattr__(name, value)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_flat_modules", None)  # rebuilt on first use
        return state


class SupervisedMethod(Method):
    """Train backbone and head with cross-entropy on each step's data (fine-tuning).

    On an online stream (:meth:`observe`) each incoming batch gets exactly ``batch.updates``
    optimiser steps, with one optimiser kept over the whole stream; ``epochs`` and
    ``batch_size`` then play no part.
    """

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        backbone: Annotated[str, OneOf("auto", *BACKBONES)] = "auto",
        epochs: Annotated[int, AtLeast(1)] = 20,
        batch_size: Annotated[int, AtLeast(1)] = 32,
        lr: Annotated[float, Positive] = 0.05,
        optimizer: Annotated[str, OneOf(*OPTIMIZERS)] = "sgd",
        momentum: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.9,
        weight_decay: Annotated[float, NonNegative] = 0.0,
        probe_layer: str = "",
        compile: bool = False,
        cuda_graphs: bool = False,
        optimizer_impl: Annotated[str, OneOf(*OPTIMIZER_IMPLS)] = "auto",
        tf32: bool = True,
    ) -> None:
        """``probe_layer`` names the backbone layer whose output online runs probe (dormant
        units, effective rank), e.g. ``net.3``; empty means the backbone's output. ``compile``,
        ``cuda_graphs``, ``optimizer_impl`` and ``tf32`` choose how the steps run on the device
        (:mod:`methods.acceleration`), not what they compute."""
        super().__init__(info, device)
        check_cuda_only("cuda_graphs", cuda_graphs, device)
        optimizer_options(optimizer_impl, optimizer, device)  # a bad name fails here, before any work
        self.compile, self.cuda_graphs, self.optimizer_impl, self.tf32 = compile or cuda_graphs, cuda_graphs, optimizer_impl, tf32
        use_tf32(tf32, device)
        self.backbone_name = self.resolve_backbone(backbone)
        self.model = self.build_model().to(device)
        if probe_layer and probe_layer not in dict(self.model.backbone.named_modules()):
            layers = ", ".join(n for n, _ in self.model.backbone.named_modules() if n)
            raise ValueError(f"probe_layer {probe_layer!r} is not a layer of {self.backbone_name}; choose from {layers}")
        self.probe_layer = probe_layer
        self.epochs, self.batch_size = epochs, batch_size
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {optimizer!r}; choose from {', '.join(OPTIMIZERS)}")
        self.lr, self.optimizer_name, self.momentum, self.weight_decay = lr, optimizer, momentum, weight_decay
        self.online_optimizer: torch.optim.Optimizer | None = None

    def make_optimizer(self) -> torch.optim.Optimizer:
        """A new optimiser over the model's trainable parameters."""
        return make_optimizer(
            self.trainable_parameters(), self.optimizer_name, self.lr, self.momentum, self.weight_decay,
            **optimizer_options(self.optimizer_impl, self.optimizer_name, self.device),
        )

    def step_loss(self) -> Callable[[torch.Tensor, torch.Tensor, Step | Batch], torch.Tensor]:
        """:meth:`loss` as the training loop calls it: compiled once when ``compile`` is set."""
        if not self.compile:
            return self.loss
        if "_compiled_loss" not in self.__dict__:
            self.__dict__["_compiled_loss"] = compiled(self.loss, self.cuda_graphs)
        return self.__dict__["_compiled_loss"]

    def forward_model(self, x: torch.Tensor) -> torch.Tensor:
        """The model's forward pass in predictions: compiled when ``compile`` is set (again when
        the model object is replaced)."""
        if not self.compile:
            return self.model(x)
        cached = self.__dict__.get("_compiled_model")
        if cached is None or cached[0] is not self.model:
            cached = self.__dict__["_compiled_model"] = (self.model, compiled(self.model, self.cuda_graphs))
        return cached[1](x)

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("_compiled_loss", "_compiled_model"):  # compiled code is rebuilt, not stored
            state.pop(name, None)
        return state

    def resolve_backbone(self, backbone: str) -> str:
        """The network name that ``backbone="auto"`` stands for: the preset's default."""
        return self.info.backbone if backbone == "auto" else backbone

    def build_model(self) -> nn.Module:
        """The trained model: ``grow(num_classes)``, ``parameters()`` and a forward pass."""
        return IncrementalClassifier(build_backbone(self.backbone_name, self.info.input_shape))

    def learn(self, step: Step) -> None:
        self.model.grow(step.num_seen_classes)
        x, y = self.training_data(step)
        self.fit(x, y, step)
        self.after_step(step)

    def fit(self, x: torch.Tensor, y: torch.Tensor, step: Step) -> None:
        """``epochs`` passes of :meth:`loss` over ``(x, y)`` with a fresh optimiser."""
        optimizer = self.make_optimizer()
        schedule = self.lr_schedule(optimizer)
        num_batches = math.ceil(len(y) / self.batch_size)
        step_loss = self.step_loss()
        self.model.train()
        for epoch in progress(range(self.epochs), f"step {step.index} epochs"):
            losses = FiniteLosses(self.device)
            for xb, yb in progress(batches(x, y, self.batch_size, self.device), "batches", num_batches):
                with self.autocast():
                    loss = losses.add(step_loss(xb, yb, step))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.before_update()
                optimizer.step()
            losses.check(self.name, f"in epoch {epoch + 1} of {self.epochs}")
            if schedule is not None:
                schedule.step()

    def observe(self, batch: Batch) -> None:
        if self.model.grow(batch.num_seen_classes) or self.online_optimizer is None:
            old, self.online_optimizer = self.online_optimizer, self.make_optimizer()
            if old is not None:  # the backbone keeps its optimiser state when the head grows
                for p in self.model.backbone.parameters():
                    if p in old.state:
                        self.online_optimizer.state[p] = old.state[p]
        self.model.train()
        step_loss = self.step_loss()
        for _ in range(batch.updates):
            with self.autocast():
                loss = step_loss(batch.x, batch.y, batch)
            self.online_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.before_update()
            self.online_optimizer.step()
        self.after_batch(batch)

    def after_batch(self, batch: Batch) -> None:
        """Called once an online batch's updates are done."""

    def trainable_parameters(self) -> list[nn.Parameter]:
        """What the step's optimiser updates (those of them with ``requires_grad``)."""
        return list(self.model.parameters())

    def lr_schedule(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
        """A per-epoch learning-rate schedule for the step's optimiser; constant by default."""
        return None

    def before_update(self) -> None:
        """Called between ``backward()`` and ``optimizer.step()`` (e.g. gradient clipping)."""

    def training_data(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        """The samples trained on during ``step``."""
        return step.x, step.y

    def loss(self, x: torch.Tensor, y: torch.Tensor, step: Step | Batch) -> torch.Tensor:
        """Loss of one batch (``step`` is the online :class:`Batch` itself in an online stream);
        cross-entropy over every class seen so far."""
        return F.cross_entropy(self.model(x), y)

    def after_step(self, step: Step) -> None:
        """Called once a step's training is done."""

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self.model.eval()
        return self.forward_model(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The output of the layer probed in online runs: ``probe_layer``, or the backbone's
        output (the last hidden layer)."""
        self.model.eval()
        if not self.probe_layer:
            return self.model.features(x)
        captured: list[torch.Tensor] = []
        layer = dict(self.model.backbone.named_modules())[self.probe_layer]
        handle = layer.register_forward_hook(lambda module, inputs, output: captured.append(output))
        try:
            self.model.features(x)
        finally:
            handle.remove()
        return captured[0].flatten(1)
