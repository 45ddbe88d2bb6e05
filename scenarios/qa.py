"""Question-answering unlearning streams, the protocol of TOFU (Maini et al., 2024).

A QA dataset holds the question/answer pairs a language model is fine-tuned on, split into a
*forget* part (the authors to be forgotten) and a *retain* part, plus the evaluation sets of
TOFU: the forget questions and a retain subset with a paraphrased answer and perturbed
(wrong) answers each, knowledge from outside the fictitious authors (``world_facts``,
``real_authors``) scored against perturbed options, and a *holdout* of authors never trained.

The stream has two steps: ``learn`` (fine-tune on forget ∪ retain, the "target" model) and
``forget`` (remove the forget part; the retain part may be used). Its reference is the
"retain" model, fine-tuned the same way on the retain part only; forget quality compares
against it. Texts stay strings here: each language model tokenizes them its own way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from .presets import Preset, register_preset, register_protocol
from .stream import Step, Stream

_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """The word-level tokens of ``text``: runs of letters/digits, and single punctuation marks."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class QAItem:
    """One question with its answer; evaluation items also carry a paraphrased answer and
    perturbed (wrong) answers."""

    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class QASet:
    """A named evaluation set and how TOFU scores it.

    ``role``: ``forget`` (truth ratio summarised as closer-to-1-better, compared with the
    retain model by a KS test), ``utility`` (enters model utility, truth ratio
    true-better) or ``holdout`` (never trained; only answer likelihoods are kept, e.g. for
    membership inference). ``truth_ratio_base`` is the answer the perturbed answers are
    compared with: the paraphrased answer (forget, retain) or the answer itself (real
    authors, world facts). ``probability`` is ``answer`` (P(a|q)^(1/|a|)) or ``options``
    (that probability normalised over the answer and its perturbed options).
    """

    name: str
    items: tuple[QAItem, ...]
    role: Literal["forget", "utility", "holdout"]
    truth_ratio_base: Literal["paraphrased", "answer"] = "paraphrased"
    probability: Literal["answer", "options"] = "answer"

    @property
    def generate(self) -> bool:
        """Whether greedy answers are generated (for ROUGE); not on the holdout."""
        return self.role != "holdout"


@dataclass(frozen=True)
class QADataset:
    """What a QA data source returns.

    ``forget`` and ``retain`` are the training pairs of the chosen split; ``background`` is
    knowledge both the target and the retain model learn but that is neither forgotten nor
    in the retain set a method may use (the miniature's stand-in for pre-training; empty for
    TOFU, whose models bring it from pre-training). ``evaluation`` are the scored sets.
    """

    name: str
    forget: tuple[QAItem, ...]
    retain: tuple[QAItem, ...]
    evaluation: dict[str, QASet]
    background: tuple[QAItem, ...] = ()
    split: str = ""


@dataclass(frozen=True)
class FinetuneRecipe:
    """How a learn step fine-tunes the model: AdamW, linear warm-up then linear decay."""

    epochs: int
    lr: float
    batch_size: int
    weight_decay: float
    warmup_epochs: float
    seed: int


@dataclass(frozen=True, repr=False)
class QAStep(Step):
    """A step of a QA stream: ``qa`` are the pairs learned (learn) or to forget (forget);
    ``retain_qa`` the pairs a forget method may use; ``recipe`` how a learn step trains."""

    qa: tuple[QAItem, ...] = ()
    retain_qa: tuple[QAItem, ...] = ()
    recipe: FinetuneRecipe | None = None

    @property
    def size(self) -> int:
        return len(self.qa)

    def __repr__(self) -> str:
        return f"QAStep({self.index}, {self.kind}, n={len(self.qa)})"


def _empty_step_tensors() -> dict:
    return {"x": torch.empty(0, 0, 0, 0, dtype=torch.uint8), "y": torch.empty(0, dtype=torch.int64)}


@dataclass(frozen=True)
class QAStream(Stream):
    """A learn-then-forget stream over QA pairs, scored on named :class:`QASet` objects.

    ``vocabulary`` lists every word of every text (for word-level models); ``reference`` is
    the learn step of the retain model.
    """

    qa_sets: dict[str, QASet] = field(default_factory=dict)
    vocabulary: tuple[str, ...] = ()
    reference: QAStep | None = None

    def evaluation_sets(self, step_index: int) -> dict[str, QASet]:  # type: ignore[override]
        return dict(self.qa_sets)

    def reference_step(self) -> QAStep | None:
        return self.reference


def _vocabulary(dataset: QADataset) -> tuple[str, ...]:
    texts: set[str] = set()
    items = [*dataset.forget, *dataset.retain, *dataset.background]
    items += [item for qa_set in dataset.evaluation.values() for item in qa_set.items]
    for item in items:
        for text in (item.question, item.answer, item.paraphrased_answer or "", *item.perturbed_answers):
            texts.update(words(text))
    return tuple(sorted(texts))


def qa_unlearning_stream(
    dataset: QADataset,
    seed: int,
    name: str | None = None,
    finetune_epochs: int = 5,
    finetune_lr: float = 1e-5,
    finetune_batch_size: int = 32,
    finetune_weight_decay: float = 0.01,
    finetune_warmup_epochs: float = 1.0,
    forget_lr: float = 0.0,
) -> QAStream:
    """Learn forget ∪ retain (∪ background), then forget the forget part.

    The fine-tuning defaults are TOFU's (5 epochs, lr 1e-5, weight decay 0.01, one warm-up
    epoch, effective batch 32; locuslab/tofu ``config/finetune.yaml``); the recipe is part of
    the scenario so that every method starts from the same target model and the retain model
    is trained the same way. The forget step carries the same recipe with learning rate
    ``forget_lr`` (0: the fine-tuning one, as TOFU uses), which a method uses unless told
    otherwise.
    """
    if not dataset.forget or not dataset.retain:
        raise ValueError(f"{dataset.name}: the forget and the retain split must both be non-empty")
    recipe = FinetuneRecipe(finetune_epochs, finetune_lr, finetune_batch_size, finetune_weight_decay, finetune_warmup_epochs, seed)
    common = {**_empty_step_tensors(), "classes": (), "num_seen_classes": 0, "recipe": recipe}
    learn = QAStep(index=0, kind="learn", task_id=0, qa=(*dataset.forget, *dataset.retain, *dataset.background), **common)
    forget_recipe = replace(recipe, lr=forget_lr or finetune_lr)
    forget = QAStep(
        index=1, kind="forget", task_id=0, qa=dataset.forget, retain_qa=dataset.retain, **{**common, "recipe": forget_recipe}
    )
    reference = QAStep(index=0, kind="learn", task_id=0, qa=(*dataset.retain, *dataset.background), **common)
    return QAStream(
        name=name or f"{dataset.name}-{dataset.split}",
        source=dataset.name,
        protocol="qa_unlearning",
        steps=[learn, forget],
        test_x=torch.empty(0, 0, 0, 0, dtype=torch.uint8),
        test_y=torch.empty(0, dtype=torch.int64),
        class_order=(),
        class_names=(),
        options={
            "split": dataset.split,
            "finetune": {k: v for k, v in recipe.__dict__.items() if k != "seed"},
            "forget_lr": forget_recipe.lr,
            "sizes": {"forget": len(dataset.forget), "retain": len(dataset.retain), "background": len(dataset.background)},
        },
        qa_sets=dict(dataset.evaluation),
        vocabulary=_vocabulary(dataset),
        reference=reference,
    )


register_protocol("qa_unlearning", qa_unlearning_stream, capability="forgets", modality="text")
# The miniature: a word-level model trained from scratch needs larger learning rates and more
# epochs than TOFU's pre-trained models (40 epochs memorise every answer); the rest is TOFU's.
for _split in ("forget01", "forget05", "forget10"):
    register_preset(
        Preset(
            f"facts-{_split}",
            f"generated fictitious-authors QA (offline TOFU miniature), {_split}, tiny word-level GPT",
            "fictitious-facts",
            "qa_unlearning",
            "tiny_gpt",
            {"finetune_epochs": 40, "finetune_lr": 5e-3, "forget_lr": 1e-3},
            {"split": _split},
        )
    )
    # TOFU's Phi-1.5 recipe: lr 2e-5 for fine-tuning and forgetting (locuslab/tofu model_config.yaml).
    register_preset(
        Preset(
            f"tofu-{_split}",
            f"TOFU {_split} (locuslab/TOFU via Hugging Face), Phi-1.5 fine-tuned then unlearned",
            "tofu",
            "qa_unlearning",
            "hf:microsoft/phi-1_5",
            {"finetune_lr": 2e-5},
            {"split": _split},
        )
    )
