"""Unlearning methods for classifiers: retrain, fine-tune on retain, GA, GradDiff, NPO, NPO-RT, SalUn, SSD, SCRUB.

All of them *learn* the same way: supervised training, jointly on the current step and
every earlier sample that was learned and not forgotten (the data the method holds anyway
to serve later forget requests), with the retrain oracle's recipe (on a real preset the
preset's learning recipe, ``methods/configs/finetune.json``). They differ in
:meth:`UnlearningMethod.unlearn`. After a
forget request the forgotten samples leave the method's memory, so later learning never
rehearses them; whatever comes back ("relapse") comes back through the features.

Methods whose class attribute ``needs_retain`` is True receive the retain set in the forget
step; the runner strips it from the others.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Iterator

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
    dropping the forgotten samples from memory.

    The memory is the learned steps' own tensors (never copied) with a mask of the samples
    still kept, so a checkpoint names them in the stream instead of storing every image
    (:mod:`benchmarks.checkpoints`); :attr:`memory_x`, :attr:`memory_y` and :attr:`memory_ids`
    are the kept samples in the order they were learned."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.memory: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []  # (x, y, ids, kept)

    def _kept(self, position: int) -> torch.Tensor | None:
        tensors = [chunk[position][chunk[3]] if chunk[3] is not None else chunk[position] for chunk in self.memory]
        return torch.cat(tensors) if tensors else None

    @property
    def memory_x(self) -> torch.Tensor | None:
        return self._kept(0)

    @property
    def memory_y(self) -> torch.Tensor | None:
        return self._kept(1)

    @property
    def memory_ids(self) -> torch.Tensor | None:
        return self._kept(2)

    def training_data(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        ids = step.sample_ids if step.sample_ids is not None else torch.full((len(step.y),), -1, dtype=torch.int64)
        self.memory.append((step.x, step.y, ids, None))
        return self.memory_x, self.memory_y

    def forget(self, step: Step) -> None:
        if self.needs_retain and (step.retain_x is None or step.retain_y is None):
            raise MethodError(f"{self.name} needs the retain set, and the forget step has none")
        self.unlearn(step)
        if step.sample_ids is not None:
            self.memory = [
                (x, y, ids, (kept if kept is not None else torch.ones(len(ids), dtype=torch.bool)) & ~torch.isin(ids, step.sample_ids))
                for x, y, ids, kept in self.memory
            ]

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

    The default optimiser is plain SGD (no momentum, no weight decay): NPO's safeguard is that
    its gradient vanishes once a sample is forgotten, and momentum or Adam's rescaling undo it.
    The unlearning optimiser has its own weight decay (``unlearn_weight_decay``), so the
    learning recipe (``weight_decay``) does not change how a method unlearns.

    The model unlearns in eval mode: BatchNorm normalises with its running statistics (and does
    not update them), dropout is off. A frozen reference (NPO's) is in eval mode too, so before
    the first update ℓ_θ = ℓ_ref exactly; in train mode a forget batch of one class would be
    normalised by its own statistics and start far from the reference. Reference image
    unlearning code scores its frozen models this way (SSD's importances, SCRUB's teacher, the
    fine-tuning and NegGrad baselines of SCRUB's notebooks).
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
        unlearn_weight_decay: Annotated[float, NonNegative] = 0.0,
        **kwargs,
    ) -> None:
        super().__init__(info, device, **kwargs)
        self.unlearn_steps, self.unlearn_lr = unlearn_steps, unlearn_lr
        self.unlearn_batch_size, self.unlearn_optimizer = unlearn_batch_size, unlearn_optimizer
        self.unlearn_momentum, self.unlearn_weight_decay = unlearn_momentum, unlearn_weight_decay

    def unlearn(self, step: Step) -> None:
        self.begin_unlearning(step)
        optimizer = make_optimizer(
            self.model.parameters(), self.unlearn_optimizer, self.unlearn_lr, self.unlearn_momentum, self.unlearn_weight_decay
        )
        forget_batches = _endless(step.x, step.y, self.unlearn_batch_size, self.device)
        retain_batches = _endless(step.retain_x, step.retain_y, self.unlearn_batch_size, self.device) if self.needs_retain else None
        self.model.eval()
        losses = FiniteLosses(self.device)
        for iteration in progress(range(self.unlearn_steps), f"step {step.index} unlearning"):
            fx, fy = next(forget_batches)
            retain = next(retain_batches) if retain_batches is not None else None
            with self.autocast():
                loss = losses.add(self.unlearning_loss(fx, fy, retain))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
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


#: How SalUn feeds D_f (random labels) and D_r to its optimiser (see :class:`SalUn`).
SALUN_PASSES = ("separate", "mixed")


@register_method("salun")
class SalUn(UnlearningMethod):
    """Saliency unlearning (Fan et al., ICLR 2024), the random-labelling form ("RL" with a mask)
    of ``OPTML-Group/Unlearn-Saliency`` (``Classification/generate_mask.py``, ``unlearn/RL.py``).

    Mask: with the model in eval mode, g = Σ_batches ∇ mean-batch CE on D_f (batches of
    ``unlearn_batch_size``, shuffled); the mask keeps the ⌊``saliency_ratio``·N⌋ of all N
    weights with the largest |g|. Unlearning: ``unlearn_epochs`` epochs of SGD (``unlearn_lr``,
    momentum ``unlearn_momentum``, weight decay ``unlearn_weight_decay``) in train mode, on
    cross-entropy toward random labels drawn uniformly over every class (so a label may equal
    the true one) on D_f and toward the true labels on D_r. Each step's gradient is masked;
    after the step the weights outside the mask are put back to their value before unlearning
    and their momentum is zeroed (weight decay and momentum would move them otherwise).
    ``salun_passes``:

    * ``separate`` (``RL.py``'s CIFAR-10/SVHN branch): each epoch, one pass over the shuffled
      D_f with fresh random labels, then one pass over the shuffled D_r;
    * ``mixed`` (its CIFAR-100/TinyImageNet branch): each epoch, D_f with fresh random labels
      and D_r shuffled together into one pass.

    The reference's step decay of the learning rate (×0.1 at epochs 91 and 136) never acts
    within its 10 unlearning epochs and is not reproduced.
    """

    needs_retain = True

    def __init__(
        self,
        *args,
        saliency_ratio: Annotated[float, Interval(0.0, 1.0, low_open=True)] = 0.5,
        unlearn_epochs: Annotated[int, AtLeast(0)] = 10,
        unlearn_lr: Annotated[float, Positive] = 0.013,
        unlearn_batch_size: Annotated[int, AtLeast(1)] = 256,
        unlearn_momentum: Annotated[float, Interval(0.0, 1.0, high_open=True)] = 0.9,
        unlearn_weight_decay: Annotated[float, NonNegative] = 5e-4,
        salun_passes: Annotated[str, OneOf(*SALUN_PASSES)] = "separate",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if not 0.0 < saliency_ratio <= 1.0:
            raise ValueError(f"saliency_ratio must be in (0, 1], got {saliency_ratio}")
        if salun_passes not in SALUN_PASSES:
            raise ValueError(f"salun_passes must be one of {', '.join(SALUN_PASSES)}, got {salun_passes!r}")
        if unlearn_epochs < 0 or unlearn_batch_size < 1:
            raise ValueError("unlearn_epochs must be ≥ 0 and unlearn_batch_size ≥ 1")
        self.saliency_ratio, self.unlearn_epochs, self.unlearn_lr = saliency_ratio, unlearn_epochs, unlearn_lr
        self.unlearn_batch_size, self.unlearn_momentum = unlearn_batch_size, unlearn_momentum
        self.unlearn_weight_decay, self.salun_passes = unlearn_weight_decay, salun_passes
        self.mask: list[torch.Tensor] | None = None

    def saliency_mask(self, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
        """1 for the ⌊ratio·N⌋ weights with the largest |Σ_batches ∇ mean-batch CE| on ``(x, y)``."""
        params = list(self.model.parameters())
        grads = [torch.zeros_like(p) for p in params]
        self.model.eval()
        for xb, yb in batches(x, y, self.unlearn_batch_size, self.device):
            self.model.zero_grad(set_to_none=True)
            with self.autocast():
                loss = F.cross_entropy(self.model(xb).float(), yb)
            loss.backward()
            for g, p in zip(grads, params):
                if p.grad is not None:
                    g += p.grad
        self.model.zero_grad(set_to_none=True)
        magnitudes = torch.cat([g.abs().flatten() for g in grads])
        flat = torch.zeros_like(magnitudes)
        flat[torch.topk(magnitudes, int(self.saliency_ratio * magnitudes.numel())).indices] = 1.0
        return [m.view_as(p) for m, p in zip(flat.split([p.numel() for p in params]), params)]

    def unlearn(self, step: Step) -> None:
        self.mask = self.saliency_mask(step.x, step.y)
        params = list(self.model.parameters())
        before = [p.detach().clone() for p in params]
        optimizer = torch.optim.SGD(params, lr=self.unlearn_lr, momentum=self.unlearn_momentum, weight_decay=self.unlearn_weight_decay)
        self.model.train()
        for _ in progress(range(self.unlearn_epochs), f"step {step.index} SalUn epochs"):
            random_y = self.random_labels(step.y)
            if self.salun_passes == "separate":
                passes = [(step.x, random_y), (step.retain_x, step.retain_y)]
            else:
                passes = [(torch.cat([step.x, step.retain_x]), torch.cat([random_y, step.retain_y]))]
            for x, y in passes:
                for xb, yb in batches(x, y, self.unlearn_batch_size, self.device):
                    with self.autocast():
                        loss = F.cross_entropy(self.model(xb), yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    for p, m in zip(params, self.mask):
                        if p.grad is not None:
                            p.grad.mul_(m)
                    optimizer.step()
                    self.restore_unmasked(optimizer, before)
        self.mask = None

    def random_labels(self, y: torch.Tensor) -> torch.Tensor:
        """A label drawn uniformly over every class the model predicts for each sample of ``y``
        (so it may be the true one, as in ``RL.py``)."""
        return torch.randint(0, self.model.num_outputs, y.shape)

    @torch.no_grad()
    def restore_unmasked(self, optimizer: torch.optim.Optimizer, before: list[torch.Tensor]) -> None:
        """Weights outside the mask back to their value before unlearning, their momentum to 0."""
        assert self.mask is not None
        for p, m, p0 in zip(self.model.parameters(), self.mask, before):
            p.copy_(m * p + (1 - m) * p0)
            buffer = optimizer.state.get(p, {}).get("momentum_buffer")
            if buffer is not None:
                buffer.mul_(m)


#: How SSD batches D = D_r ∪ D_f when it computes I_D (see :class:`SSD`).
SSD_BATCHING = ("sorted", "concatenated", "shuffled")


@register_method("ssd")
class SSD(UnlearningMethod):
    """Selective Synaptic Dampening (Foster et al., AAAI 2024): retrain-free. With I the mean
    over mini-batches of squared gradients of the batch-mean cross-entropy (eval mode), on
    D = D_r ∪ D_f and on D_f: every parameter with I_f > α·I_D is scaled by min(λ·I_D/I_f, 1).

    Because I is built from squared *batch-mean* gradients, it depends on how D is cut into
    batches, and α was calibrated on the official batching. ``ssd_batching``:

    * ``sorted`` (default, the official code's for class and sub-class forgetting:
      ``forget_full_class_main.py``, ``forget_subclass_main.py``): D_r ordered class by class
      (stable, so each class keeps its order), then D_f, cut into consecutive batches of
      ``ssd_batch_size`` without shuffling; batches hold one or two classes, so I_D is an
      average of near-single-class importances. (For sub-class forgetting the official code
      orders D_r by the fine class; CLUB's methods see only the super-class labels they learn,
      so D_r is ordered by super-class.)
    * ``concatenated`` (the official code's for random-sample forgetting,
      ``forget_random_main.py``): D_r in the order the step gives it, then D_f, unshuffled.
    * ``shuffled`` (CLUB's earlier variant): D shuffled before batching, so batches mix all
      classes; the gradients of different classes cancel inside a batch, I_D is usually smaller
      and more parameters pass I_f > α·I_D (on digits, forgetting digit 0 at α = 10: hundreds
      to thousands of parameters dampened, depending on the shuffle, and the digit forgotten,
      where the sorted batching dampens 7 and forgets nothing).

    I_f is computed on D_f in its order, unshuffled, except with ``shuffled``.
    """

    needs_retain = True  # I_D is computed on the full training set, retain included
    data_parallel = False  # importance is gathered from shuffled batches: one process sees them all

    def __init__(
        self,
        *args,
        ssd_alpha: Annotated[float, Positive] = 10.0,
        ssd_lambda: Annotated[float, Positive] = 1.0,
        ssd_batch_size: Annotated[int, AtLeast(1)] = 64,
        ssd_batching: Annotated[str, OneOf(*SSD_BATCHING)] = "sorted",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if ssd_alpha <= 0 or ssd_lambda <= 0:
            raise ValueError("ssd_alpha and ssd_lambda must be positive")
        if ssd_batching not in SSD_BATCHING:
            raise ValueError(f"ssd_batching must be one of {', '.join(SSD_BATCHING)}, got {ssd_batching!r}")
        self.ssd_alpha, self.ssd_lambda, self.ssd_batch_size = ssd_alpha, ssd_lambda, ssd_batch_size
        self.ssd_batching = ssd_batching
        self.dampened = 0  # parameters dampened by the last request
        self.dampened_per_request: list[int] = []

    def importance(self, x: torch.Tensor, y: torch.Tensor, shuffle: bool) -> list[torch.Tensor]:
        """I = (1/B)·Σ_batches (∇ mean-batch CE)², per parameter, with the model in eval mode,
        over consecutive batches of ``(x, y)`` (shuffled first when ``shuffle``)."""
        params = list(self.model.parameters())
        total = [torch.zeros_like(p) for p in params]
        count = 0
        self.model.eval()
        for xb, yb in progress(batches(x, y, self.ssd_batch_size, self.device, shuffle=shuffle), "importance"):
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

    def full_data(self, step: Step) -> tuple[torch.Tensor, torch.Tensor]:
        """D = D_r then D_f, with D_r ordered class by class for ``sorted`` batching."""
        rx, ry = step.retain_x, step.retain_y
        if self.ssd_batching == "sorted":
            order = torch.sort(ry, stable=True).indices
            rx, ry = rx[order], ry[order]
        return torch.cat([rx, step.x]), torch.cat([ry, step.y])

    def unlearn(self, step: Step) -> None:
        shuffle = self.ssd_batching == "shuffled"
        full = self.importance(*self.full_data(step), shuffle=shuffle)
        forget = self.importance(step.x, step.y, shuffle=shuffle)
        dampened = 0
        with torch.no_grad():
            for p, i_d, i_f in zip(self.model.parameters(), full, forget):
                selected = i_f > self.ssd_alpha * i_d
                factor = (self.ssd_lambda * i_d / i_f.clamp_min(1e-30)).clamp(max=1.0)
                p.mul_(torch.where(selected, factor, torch.ones_like(factor)).to(p.dtype))
                dampened += int(selected.sum())
        self.dampened = dampened
        self.dampened_per_request.append(dampened)

    def details(self) -> dict[str, Any]:
        """How many parameters each forget request dampened."""
        return {"dampened_parameters": self.dampened_per_request}


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
    stop after ``scrub_max_epochs``. As in the authors' code (``meghdadk/SCRUB``,
    ``thirdparty/repdistiller/helper/loops.py`` ``train_distill``) the student trains in train
    mode and the teacher scores in eval mode, with SGD (momentum 0.9, weight decay 5e-4).

    The real presets use the setting of the authors' ``large_scale_unlearning.ipynb``
    (CIFAR-10 / Lacuna-10): 3 epochs, 2 max-epochs, lr 5e-4, T=4, α=0.001, γ=0.99, forget
    batch 512, retain batch 256 (its learning-rate decay starts after epoch 3, so never acts).
    The keyword defaults are CLUB's for the digits MLP: 5 epochs, 3 max-epochs, lr 0.002,
    forget batch 16, retain batch 64 (on the digits MLP lr 5e-4 and 1e-3 leave D_f untouched
    and 5e-3 collapses the model: the max-step is unbounded, so SCRUB is very sensitive to
    it, as its authors note).
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
