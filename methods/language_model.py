"""The base of every language-model (``text`` modality) method: fine-tuning on QA pairs,
answer likelihoods and greedy answers for evaluation.

A learn step fine-tunes on its question/answer pairs with the scenario's recipe (AdamW,
linear warm-up then linear decay; TOFU's fine-tuning), the loss being the mean NLL of the
answer tokens. The model is built at the first learn step, so that a method and the
runner's reference model built from the same RNG state start from the same weights.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Callable, Sequence, TypeVar

import torch

from scenarios.qa import QAItem, QAStep

from .backbones.text_models import IGNORE, TextModel, build_text_model
from .base import Method, MethodError
from .domains import AtLeast
from .training import FiniteLosses, make_optimizer, progress
from .unlearning_losses import sequence_nll


def linear_warmup_decay(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear from 0 to 1 over ``warmup_steps``, then linear to 0."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))


F = TypeVar("F", bound=Callable[..., Any])


def single_cpu_thread(method: F) -> F:
    """Run a :class:`LanguageModelMethod` method's CPU kernels on one thread (no effect on a GPU).

    A CPU matrix product sums in an order that depends on the thread count, so the last bits of
    every weight do, and a few hundred training steps of a small language model magnify them
    into a different model: NPO's forget quality on the miniature moved from 0.160 to 0.273
    between one and two threads. On one thread the language track's numbers are a function of
    the seed alone.
    """

    @functools.wraps(method)
    def wrapper(self: "LanguageModelMethod", *args: Any, **kwargs: Any) -> Any:
        if self.device.type != "cpu":
            return method(self, *args, **kwargs)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return method(self, *args, **kwargs)
        finally:
            torch.set_num_threads(threads)

    return wrapper  # type: ignore[return-value]


class LanguageModelMethod(Method):
    """Fine-tunes a causal LM on ``learn`` steps; scores and generates answers."""

    def __init__(
        self, info, device, *, eval_batch_size: Annotated[int, AtLeast(1)] = 64, max_new_tokens: Annotated[int, AtLeast(1)] = 200
    ) -> None:
        super().__init__(info, device)
        self.eval_batch_size = eval_batch_size
        self.max_new_tokens = max_new_tokens
        self.text_model: TextModel | None = None

    @property
    def lm(self) -> TextModel:
        if self.text_model is None:
            raise MethodError(f"method {self.name!r} has no model yet: a learn step must come first")
        return self.text_model

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        raise MethodError(f"method {self.name!r} is a language model: it answers questions, it does not classify images")

    def batch_nll(self, items: Sequence[QAItem], answers: Sequence[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample summed answer-token NLL (with gradient) and answer-token counts."""
        lm = self.lm
        answers = [item.answer for item in items] if answers is None else answers
        ids, labels, mask = lm.encode([item.question for item in items], answers, self.device)
        with self.autocast():
            logits = lm.logits(ids, mask)
        return sequence_nll(logits, labels), (labels[:, 1:] != IGNORE).sum(1)

    @single_cpu_thread
    def answer_nll(self, questions: Sequence[str], answers: Sequence[str]) -> tuple[list[float], list[int]]:
        """Summed NLL of each answer given its question, and its number of tokens (no gradient)."""
        items = [QAItem(q, a) for q, a in zip(questions, answers)]
        nll, tokens = [], []
        self.lm.module.eval()
        with torch.no_grad():
            for start in range(0, len(items), self.eval_batch_size):
                chunk = items[start : start + self.eval_batch_size]
                n, t = self.batch_nll(chunk)
                nll += n.float().cpu().tolist()
                tokens += t.cpu().tolist()
        return nll, tokens

    @single_cpu_thread
    def generate(self, questions: Sequence[str]) -> list[str]:
        """Greedy answers, at most ``max_new_tokens`` tokens each."""
        self.lm.module.eval()
        out: list[str] = []
        with torch.no_grad(), self.autocast():
            for start in range(0, len(questions), self.eval_batch_size):
                out += self.lm.generate(questions[start : start + self.eval_batch_size], self.max_new_tokens, self.device)
        return out

    @single_cpu_thread
    def optimize(
        self,
        num_items: int,
        batch_loss: Callable[[torch.Tensor], torch.Tensor],
        *,
        epochs: int,
        lr: float,
        batch_size: int,
        weight_decay: float,
        warmup_epochs: float,
        desc: str,
    ) -> None:
        """Minimise ``batch_loss(indices)`` over shuffled mini-batches of ``range(num_items)``
        with AdamW and a linear warm-up/decay schedule."""
        module = self.lm.module
        module.train()
        optimizer = make_optimizer(module.parameters(), "adamw", lr, weight_decay=weight_decay)
        per_epoch = -(-num_items // batch_size)
        total, warmup = epochs * per_epoch, max(1, round(warmup_epochs * per_epoch))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: linear_warmup_decay(s, warmup, total))
        for epoch in progress(range(epochs), desc):
            order = torch.randperm(num_items)
            losses = FiniteLosses(self.device)  # checked once per epoch: no per-batch sync
            for start in range(0, num_items, batch_size):
                loss = losses.add(batch_loss(order[start : start + batch_size]))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            losses.check(self.name, f"in epoch {epoch + 1} of {epochs} ({desc})")
        module.eval()

    def learn(self, step: QAStep) -> None:  # type: ignore[override]
        if not isinstance(step, QAStep) or step.recipe is None:
            raise MethodError(f"method {self.name!r} learns question-answering steps only")
        if self.text_model is None:
            try:
                self.text_model = build_text_model(self.info.backbone, self.info.vocabulary)
            except ValueError as e:
                raise MethodError(str(e)) from None
            self.text_model.module.to(self.device)
        items, recipe = step.qa, step.recipe

        def loss(idx: torch.Tensor) -> torch.Tensor:
            nll, tokens = self.batch_nll([items[i] for i in idx])
            return nll.sum() / tokens.sum()  # mean NLL over the batch's answer tokens

        self.optimize(
            len(items), loss, epochs=recipe.epochs, lr=recipe.lr, batch_size=recipe.batch_size,
            weight_decay=recipe.weight_decay, warmup_epochs=recipe.warmup_epochs, desc=f"fine-tune {len(items)} QA pairs",
        )
