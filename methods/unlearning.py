"""Unlearning methods for classifiers: retrain, fine-tune on retain, GA, GradDiff, NPO, NPO-RT, SalUn, SSD, SCRUB.

All of them *learn* the same way: supervised training, jointly on the current step and
every earlier sample that was learned and not forgotten (the data the method holds anyway
to serve later forget requests). They differ in :meth:`UnlearningMethod.unlearn`. After a
forget request the forgotten samples leave the method's memory, so later learning never
rehearses them; whatever comes back ("relapse") comes back through the features.

Methods whose class attribute ``needs_retain`` is True receive the retain set in the forget
step; the runner strips it from the others.
"""

from __future__ import annotations

import copy
from typing import Annotated, Iterator

import torch
import torch.nn.functional as F

from scenarios import Step

from .backbones import build_backbone
from .base import MethodError, StreamInfo
from .domains import AtLeast, Interval, NonNegative, OneOf, Positive
from .registry import register_method
from .supervised import IncrementalClassifier, SupervisedMethod
from .training import OPTIMIZERS, FiniteLosses, batches, make_optimizer, progress
from .unlearning_losses import gradient_ascent_loss, npo_loss


class UnlearningMethod(SupervisedMethod):
    """Joint supervised learning over everything learned and kept; ``forget`` = ``unlearn`` +
    dropping the forgotten samples from memory."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory_x: torch.Tensor | None = None
        self.memory_y: torch.Tensor | None = None
        self.memory_ids: torch.Tensor | None = None

    def training_data(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        ids = step.sample_ids if step.sample_ids is not None else torch.full((len(step.y),), -1, dtype=torch.int64)
        if self.memory_x is None:
            self.memory_x, self.memory_y, self.memory_ids = step.x, step.y, ids
        else:
            self.memory_x = torch.cat([self.memory_x, step.x])
            self.memory_y = torch.cat([self.memory_y, step.y])
            self.memory_ids = torch.cat([self.memory_ids, ids])
        return self.memory_x, self.memory_y

    def forget(self, step: Step) -> None:
        if self.needs_retain and (step.retain_x is None or step.retain_y is None):
            raise MethodError(f"{self.name} needs the retain set, and the forget step has none")
        self.unlearn(step)
        if self.memory_ids is not None and step.sample_ids is not None:
            keep = ~torch.isin(self.memory_ids, step.sample_ids)
            self.memory_x, self.memory_y, self.memory_ids = self.memory_x[keep], self.memory_y[keep], self.memory_ids[keep]

    def unlearn(self, step: Step) -> None:
        """Change the model so that it no longer reflects ``step.x``/``step.y``."""
        raise NotImplementedError(f"{type(self).__name__} must implement unlearn()")

    def per_sample_nll(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """−log p(y|x) of every sample: the classifier's ℓ_θ in the shared unlearning losses."""
        return F.cross_entropy(self.model(x).float(), y, reduction="none")


@register_method("retrain")
class Retrain(UnlearningMethod):
    """The exact baseline: a fresh model trained from scratch on the retain set (the oracle's recipe)."""

    needs_retain = True

    def unlearn(self, step: Step) -> None:
        num_outputs = self.model.num_outputs
        self.model = IncrementalClassifier(build_backbone(self.backbone_name, self.info.input_shape)).to(self.device)
        self.model.grow(num_outputs)
        self.fit(step.retain_x, step.retain_y, step)


def _endless(x: torch.Tensor, y: torch.Tensor, batch_size: int, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    while True:
        yield from batches(x, y, batch_size, device)


class GradientUnlearning(UnlearningMethod):
    """``unlearn_steps`` optimiser steps on :meth:`unlearning_loss` of a forget batch (and a
    retain batch for methods that need the retain set).

    The default optimiser is plain SGD (no momentum): NPO's safeguard is that its gradient
    vanishes once a sample is forgotten, and momentum or Adam's rescaling undo it.
    """

    def __init__(
        self,
        info: StreamInfo,
        device: torch.device,
        *,
        unlearn_steps: Annotated[int, NonNegative] = 100,
        unlearn_lr: Annotated[float, Positive] = 0.05,
        unlearn_batch_size: Annotated[int, AtLeast(1)] = 32,
        unlearn_optimizer: Annotated[str, OneOf(*OPTIMIZERS)] = "sgd",
        unlearn_momentum: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(info, device, **kwargs)
        self.unlearn_steps, self.unlearn_lr = unlearn_steps, unlearn_lr
        self.unlearn_batch_size, self.unlearn_optimizer = unlearn_batch_size, unlearn_optimizer
        self.unlearn_momentum = unlearn_momentum

    def unlearn(self, step: Step) -> None:
        self.begin_unlearning(step)
        optimizer = make_optimizer(self.model.parameters(), self.unlearn_optimizer, self.unlearn_lr, self.unlearn_momentum, self.weight_decay)
        forget_batches = _endless(step.x, step.y, self.unlearn_batch_size, self.device)
        retain_batches = _endless(step.retain_x, step.retain_y, self.unlearn_batch_size, self.device) if self.needs_retain else None
        self.model.train()
        losses = FiniteLosses(self.device)
        for iteration in progress(range(self.unlearn_steps), f"step {step.index} unlearning"):
            fx, fy = next(forget_batches)
            retain = next(retain_batches) if retain_batches is not None else None
            with self.autocast():
                loss = losses.add(self.unlearning_loss(fx, fy, retain))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.before_unlearning_update()
            optimizer.step()
            self.after_unlearning_iteration(iteration)
        losses.check(self.name, f"while unlearning ({self.unlearn_steps} steps)")
        self.end_unlearning()

    def begin_unlearning(self, step: Step) -> None:
        """Called once before the first unlearning iteration."""

    def unlearning_loss(
        self, fx: torch.Tensor, fy: torch.Tensor, retain: tuple[torch.Tensor, torch.Tensor] | None
    ) -> torch.Tensor:
        """The loss of one unlearning iteration on a forget batch (and a retain batch when the
        method ``needs_retain``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement unlearning_loss()")

    def before_unlearning_update(self) -> None:
        """Called between ``backward`` and the optimiser step of each unlearning iteration
        (e.g. to mask gradients); learning steps use :meth:`before_update` instead."""

    def after_unlearning_iteration(self, iteration: int) -> None:
        """Called after each optimiser step of unlearning (tests watch the trajectory here)."""

    def end_unlearning(self) -> None:
        """Called once after the last unlearning iteration."""


@register_method("finetune-retain")
class FinetuneRetain(GradientUnlearning):
    """Fine-tune on the retain set only, relying on catastrophic forgetting of D_f
    (the "FT" baseline of Golatkar et al. 2020, SalUn)."""

    needs_retain = True

    def unlearning_loss(self, fx, fy, retain):
        rx, ry = retain
        return F.cross_entropy(self.model(rx), ry)


@register_method("ga")
class GradientAscent(GradientUnlearning):
    """Gradient ascent on the forget set, L = −mean ℓ_θ(D_f) (Thudi et al., 2022; "NegGrad").
    Unbounded: left running it destroys the model."""

    def forget_loss(self, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
        return gradient_ascent_loss(self.per_sample_nll(fx, fy))

    def unlearning_loss(self, fx, fy, retain):
        return self.forget_loss(fx, fy)


class RetainTerm(GradientUnlearning):
    """Mixin: the method's ``forget_loss`` plus ``retain_weight`` × cross-entropy on a retain batch."""

    needs_retain = True

    def __init__(self, *args, retain_weight: Annotated[float, NonNegative] = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.retain_weight = retain_weight

    def unlearning_loss(self, fx, fy, retain):
        rx, ry = retain
        return self.forget_loss(fx, fy) + self.retain_weight * F.cross_entropy(self.model(rx), ry)


@register_method("graddiff")
class GradDiff(RetainTerm, GradientAscent):
    """Gradient difference: ascent on the forget set plus ``retain_weight`` × descent on the
    retain set (Liu et al., 2022; TOFU's ``grad_diff``)."""


@register_method("npo")
class NPO(GradientUnlearning):
    """Negative Preference Optimization (Zhang et al., 2024): L = (2/β)·mean softplus(β(ℓ_ref − ℓ_θ))
    on the forget set, the reference being the frozen model from before the request."""

    def __init__(self, *args, beta: Annotated[float, Positive] = 0.1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if beta <= 0:
            raise ValueError(f"beta must be positive, got {beta}")
        self.beta = beta
        self.reference: IncrementalClassifier | None = None

    def begin_unlearning(self, step: Step) -> None:
        self.reference = copy.deepcopy(self.model).eval().requires_grad_(False)

    def end_unlearning(self) -> None:
        self.reference = None  # the next request takes its own reference; checkpoints stay small

    def forget_loss(self, fx: torch.Tensor, fy: torch.Tensor) -> torch.Tensor:
        assert self.reference is not None
        with torch.no_grad():
            reference_nll = F.cross_entropy(self.reference(fx).float(), fy, reduction="none")
        return npo_loss(self.per_sample_nll(fx, fy), reference_nll, self.beta)

    def unlearning_loss(self, fx, fy, retain):
        return self.forget_loss(fx, fy)


@register_method("npo-rt")
class NPORetain(RetainTerm, NPO):
    """NPO plus ``retain_weight`` × cross-entropy on the retain set (NPO+RT, ``npo_grad_diff``)."""


@register_method("salun")
class SalUn(GradientUnlearning):
    """Saliency unlearning (Fan et al., ICLR 2024): a weight mask keeps the ``saliency_ratio``
    share of weights with the largest |∇ℓ(D_f)|, then random labelling — cross-entropy toward
    a random wrong label on D_f plus cross-entropy on D_r — updates only the masked weights."""

    needs_retain = True

    def __init__(self, *args, saliency_ratio: Annotated[float, Interval(0.0, 1.0, low_open=True)] = 0.5, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 < saliency_ratio <= 1.0:
            raise ValueError(f"saliency_ratio must be in (0, 1], got {saliency_ratio}")
        self.saliency_ratio = saliency_ratio
        self.mask: list[torch.Tensor] | None = None

    def begin_unlearning(self, step: Step) -> None:
        params = [p for p in self.model.parameters() if p.requires_grad]
        grads = [torch.zeros_like(p) for p in params]
        self.model.eval()
        for xb, yb in batches(step.x, step.y, self.unlearn_batch_size, self.device, shuffle=False):
            self.model.zero_grad(set_to_none=True)
            with self.autocast():
                loss = F.cross_entropy(self.model(xb).float(), yb, reduction="sum")
            loss.backward()
            for g, p in zip(grads, params):
                if p.grad is not None:
                    g += p.grad
        self.model.zero_grad(set_to_none=True)
        magnitudes = torch.cat([g.abs().flatten() for g in grads])
        keep = max(1, int(round(self.saliency_ratio * magnitudes.numel())))
        threshold = torch.topk(magnitudes, keep).values.min()
        self.mask = [(g.abs() >= threshold).to(g.dtype) for g in grads]
        self.model.train()

    def end_unlearning(self) -> None:
        self.mask = None

    def unlearning_loss(self, fx, fy, retain):
        rx, ry = retain
        num_classes = self.model.num_outputs
        shift = torch.randint(1, max(2, num_classes), fy.shape, device=fy.device)
        random_wrong = (fy + shift) % num_classes
        return F.cross_entropy(self.model(fx), random_wrong) + F.cross_entropy(self.model(rx), ry)

    def before_unlearning_update(self) -> None:
        assert self.mask is not None
        params = [p for p in self.model.parameters() if p.requires_grad]
        for p, m in zip(params, self.mask):
            if p.grad is not None:
                p.grad.mul_(m)


@register_method("ssd")
class SSD(UnlearningMethod):
    """Selective Synaptic Dampening (Foster et al., AAAI 2024): retrain-free. With I the mean
    over mini-batches of squared gradients of the cross-entropy (eval mode), on D = D_r ∪ D_f
    and on D_f: every parameter with I_f > α·I_D is scaled by min(λ·I_D/I_f, 1)."""

    needs_retain = True  # I_D is computed on the full training set, retain included

    def __init__(
        self,
        *args,
        ssd_alpha: Annotated[float, Positive] = 10.0,
        ssd_lambda: Annotated[float, Positive] = 1.0,
        ssd_batch_size: Annotated[int, AtLeast(1)] = 64,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if ssd_alpha <= 0 or ssd_lambda <= 0:
            raise ValueError("ssd_alpha and ssd_lambda must be positive")
        self.ssd_alpha, self.ssd_lambda, self.ssd_batch_size = ssd_alpha, ssd_lambda, ssd_batch_size
        self.dampened = 0  # parameters dampened by the last request

    def importance(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """I = (1/B)·Σ_batches (∇ mean-batch CE)², per parameter, with the model in eval mode.

        Batches are shuffled: with D_r ∪ D_f in order, batches made only of forget samples
        give I_D ≥ (their share)·I_f and, when D_f is a tenth of the data (one digit), no
        parameter passes I_f > 10·I_D.
        """
        params = list(self.model.parameters())
        total = [torch.zeros_like(p) for p in params]
        count = 0
        self.model.eval()
        for xb, yb in progress(batches(x, y, self.ssd_batch_size, self.device), "importance"):
            self.model.zero_grad(set_to_none=True)
            with self.autocast():
                loss = F.cross_entropy(self.model(xb).float(), yb)
            loss.backward()
            for t, p in zip(total, params):
                if p.grad is not None:
                    t += p.grad.detach().float() ** 2
            count += 1
        self.model.zero_grad(set_to_none=True)
        return [t / max(1, count) for t in total]

    def unlearn(self, step: Step) -> None:
        full = self.importance(torch.cat([step.retain_x, step.x]), torch.cat([step.retain_y, step.y]))
        forget = self.importance(step.x, step.y)
        dampened = 0
        with torch.no_grad():
            for p, i_d, i_f in zip(self.model.parameters(), full, forget):
                selected = i_f > self.ssd_alpha * i_d
                factor = (self.ssd_lambda * i_d / i_f.clamp_min(1e-30)).clamp(max=1.0)
                p.mul_(torch.where(selected, factor, torch.ones_like(factor)).to(p.dtype))
                dampened += int(selected.sum())
        self.dampened = dampened


class TaskModuleDeletion:
    """Exact unlearning for methods with one module per task (EASE adapters, per-task LoRA):
    a forget request that names every class a task brought deletes that task's module.

    Mix it in before the method's base class and provide ``drop_task(task_id)``; the classes
    of each task are recorded as they are learned. Needs no data, so no retain set.
    """

    needs_retain = False

    def learn(self, step: Step) -> None:
        self.__dict__.setdefault("learned_task_classes", {})[step.task_id] = set(step.classes)
        super().learn(step)  # type: ignore[misc]

    def forget(self, step: Step) -> None:
        learned = self.__dict__.get("learned_task_classes", {}).get(step.task_id)
        if learned is None or set(step.classes) != learned:
            raise MethodError(
                f"{type(self).__name__} deletes whole task modules only; the request forgets classes "
                f"{list(step.classes)} of task {step.task_id}, which brought {sorted(learned or [])}"
            )
        self.drop_task(step.task_id)
        del self.learned_task_classes[step.task_id]

    def drop_task(self, task_id: int) -> None:
        """Delete every parameter that exists only for task ``task_id``."""
        raise NotImplementedError(f"{type(self).__name__} must implement drop_task()")


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """T²·KL(softmax(t/T) ‖ softmax(s/T)), averaged over the batch (Hinton et al., 2015)."""
    log_student = F.log_softmax(student_logits.float() / temperature, 1)
    log_teacher = F.log_softmax(teacher_logits.float() / temperature, 1)
    return F.kl_div(log_student, log_teacher, reduction="batchmean", log_target=True) * temperature**2


@register_method("scrub")
class SCRUB(UnlearningMethod):
    """SCRUB (Kurmanji et al., NeurIPS 2023): the model before the request is a frozen
    teacher; the student alternates *max*-epochs that push its outputs away from the
    teacher's on D_f (−KL) with *min*-epochs on D_r of γ·CE + α·KL to the teacher. Max-epochs
    stop after ``scrub_max_epochs``. Defaults follow the authors' code (T=4, α=0.001,
    γ=0.99, SGD momentum 0.9, weight decay 5e-4, forget batch 16, retain batch 64), except
    the learning rate, 0.002 instead of 5e-4 (on the digits MLP 5e-4 and 1e-3 leave D_f
    untouched and 5e-3 collapses the model: the max-step is unbounded, so SCRUB is very
    sensitive to it, as its authors note).
    """

    needs_retain = True

    def __init__(
        self,
        *args,
        scrub_epochs: Annotated[int, NonNegative] = 5,
        scrub_max_epochs: Annotated[int, NonNegative] = 3,
        scrub_lr: Annotated[float, Positive] = 0.002,
        scrub_temperature: Annotated[float, Positive] = 4.0,
        scrub_alpha: Annotated[float, NonNegative] = 0.001,
        scrub_gamma: Annotated[float, NonNegative] = 0.99,
        scrub_forget_batch_size: Annotated[int, AtLeast(1)] = 16,
        scrub_retain_batch_size: Annotated[int, AtLeast(1)] = 64,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.scrub_epochs, self.scrub_max_epochs, self.scrub_lr = scrub_epochs, scrub_max_epochs, scrub_lr
        self.scrub_temperature, self.scrub_alpha, self.scrub_gamma = scrub_temperature, scrub_alpha, scrub_gamma
        self.scrub_forget_batch_size, self.scrub_retain_batch_size = scrub_forget_batch_size, scrub_retain_batch_size

    def _step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def unlearn(self, step: Step) -> None:
        teacher = copy.deepcopy(self.model).eval().requires_grad_(False)
        optimizer = make_optimizer(self.model.parameters(), "sgd", self.scrub_lr, 0.9, 5e-4)
        T = self.scrub_temperature
        self.model.train()
        for epoch in progress(range(self.scrub_epochs), f"step {step.index} SCRUB epochs"):
            losses = FiniteLosses(self.device)
            if epoch < self.scrub_max_epochs:
                for fx, _ in batches(step.x, step.y, self.scrub_forget_batch_size, self.device):
                    with self.autocast():
                        with torch.no_grad():
                            target = teacher(fx)
                        loss = -distillation_kl(self.model(fx), target, T)
                    self._step(optimizer, losses.add(loss))
            for rx, ry in batches(step.retain_x, step.retain_y, self.scrub_retain_batch_size, self.device):
                with self.autocast():
                    with torch.no_grad():
                        target = teacher(rx)
                    logits = self.model(rx)
                    loss = self.scrub_gamma * F.cross_entropy(logits, ry) + self.scrub_alpha * distillation_kl(logits, target, T)
                self._step(optimizer, losses.add(loss))
            losses.check(self.name, f"in SCRUB epoch {epoch + 1} of {self.scrub_epochs}")
