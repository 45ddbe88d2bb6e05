"""Gradient-based unlearning of a fine-tuned language model: ``ga``, ``graddiff``, ``npo``,
``npo-rt`` (``text`` modality; the image versions share the names).

Each forget step runs ``epochs`` passes over the forget pairs in mini-batches; methods with
a retain term pair every forget batch with a random retain batch of the same size (TOFU's
forget/retain data collator). Defaults are TOFU's forgetting recipe (Maini et al., 2024;
NPO's ``config/forget.yaml``): 10 epochs, effective batch 32, AdamW with weight decay 0.01,
one warm-up epoch then linear decay; ``lr = 0`` means the forget step's learning rate, set by
the scenario (TOFU forgets at its fine-tuning rate, e.g. 1e-5 for Llama-2, 2e-5 for Phi-1.5).
"""

from __future__ import annotations

from typing import Annotated

import torch

from scenarios.qa import QAItem, QAStep

from .base import MethodError
from .domains import AtLeast, NonNegative, Positive
from .language_model import LanguageModelMethod
from .registry import register_method
from .unlearning_losses import gradient_ascent_loss, npo_loss


class TextUnlearning(LanguageModelMethod):
    """Shared forget loop: ``forget_loss`` on forget batches (+ ``retain_weight`` × the
    retain batch's mean-token NLL when ``needs_retain``)."""


    def __init__(
        self,
        info,
        device,
        *,
        lr: Annotated[float, NonNegative] = 0.0,
        epochs: Annotated[int, AtLeast(1)] = 10,
        batch_size: Annotated[int, AtLeast(1)] = 32,
        weight_decay: Annotated[float, NonNegative] = 0.01,
        warmup_epochs: Annotated[float, NonNegative] = 1.0,
        **kwargs,
    ) -> None:
        super().__init__(info, device, **kwargs)
        if lr < 0 or epochs < 1 or batch_size < 1:
            raise ValueError("lr must be ≥ 0, epochs and batch_size ≥ 1")
        self.lr, self.epochs, self.batch_size = lr, epochs, batch_size
        self.weight_decay, self.warmup_epochs = weight_decay, warmup_epochs

    def forget_loss(self, items: list[QAItem], idx: torch.Tensor) -> torch.Tensor:
        """The loss of a batch of forget pairs (``idx``: their positions in the forget set)."""
        raise NotImplementedError(f"{type(self).__name__} must implement forget_loss()")

    def before_forget(self, step: QAStep) -> None:
        """Hook run once before the forget loop (e.g. to score the reference model)."""

    def forget(self, step: QAStep) -> None:  # type: ignore[override]
        if not isinstance(step, QAStep) or step.recipe is None:
            raise MethodError(f"method {self.name!r} forgets question-answering steps only")
        if self.needs_retain and not step.retain_qa:
            raise MethodError(f"method {self.name!r} needs retain pairs, and the forget step has none")
        self.before_forget(step)
        forget, retain = step.qa, step.retain_qa

        def loss(idx: torch.Tensor) -> torch.Tensor:
            total = self.forget_loss([forget[i] for i in idx], idx)
            if self.needs_retain:
                pick = torch.randint(len(retain), (len(idx),))
                nll, tokens = self.batch_nll([retain[i] for i in pick])
                total = total + self.retain_weight * (nll / tokens).mean()
            return total

        self.optimize(
            len(forget), loss, epochs=self.epochs, lr=self.lr or step.recipe.lr, batch_size=self.batch_size,
            weight_decay=self.weight_decay, warmup_epochs=self.warmup_epochs, desc=f"{self.name}: forget {len(forget)} QA pairs",
        )


@register_method("ga", modality="text")
class GradientAscent(TextUnlearning):
    """Gradient ascent on the forget answers' mean-token NLL (TOFU ``grad_ascent``)."""

    def forget_loss(self, items: list[QAItem], idx: torch.Tensor) -> torch.Tensor:
        nll, tokens = self.batch_nll(items)
        return gradient_ascent_loss(nll / tokens)


class RetainTerm(TextUnlearning):
    """Mixin: adds ``retain_weight`` × the retain answers' mean-token NLL to the forget loss."""

    needs_retain = True

    def __init__(self, info, device, *, retain_weight: Annotated[float, NonNegative] = 1.0, **kwargs) -> None:
        super().__init__(info, device, **kwargs)
        if retain_weight < 0:
            raise ValueError("retain_weight must be ≥ 0")
        self.retain_weight = retain_weight


@register_method("graddiff", modality="text")
class GradientDifference(RetainTerm, GradientAscent):
    """Gradient ascent on forget + descent on retain answers (TOFU ``grad_diff``)."""


@register_method("npo", modality="text")
class NPO(TextUnlearning):
    """Negative Preference Optimization (Zhang et al., 2024): the forget answers' summed NLL
    pushed above that of the frozen pre-unlearning model, with vanishing gradient once forgotten."""

    def __init__(self, info, device, *, beta: Annotated[float, Positive] = 0.1, **kwargs) -> None:
        super().__init__(info, device, **kwargs)
        if beta <= 0:
            raise ValueError("beta must be > 0")
        self.beta = beta
        self.reference_nll: torch.Tensor | None = None

    def before_forget(self, step: QAStep) -> None:
        # π_ref is frozen, so its per-sequence NLL on every forget pair is computed once, here.
        nll, _ = self.answer_nll([item.question for item in step.qa], [item.answer for item in step.qa])
        self.reference_nll = torch.tensor(nll, device=self.device)

    def forget_loss(self, items: list[QAItem], idx: torch.Tensor) -> torch.Tensor:
        nll, _ = self.batch_nll(items)
        return npo_loss(nll, self.reference_nll[idx.to(self.device)], self.beta)


@register_method("npo-rt", modality="text")
class NPORetain(RetainTerm, NPO):
    """NPO plus the retain answers' NLL (NPO's ``npo_grad_diff``, "NPO-RT")."""
