"""Where each built-in method is defined, and what ``--list`` says of it, without importing it.

A method's module (and the heavy libraries it uses: timm, scikit-learn's clustering,
transformers) is imported by :func:`methods.get_method` the first time the method is asked
for, so ``python -m benchmarks.run --method finetune`` never pays for timm. ``summary`` is
the first line of the class's docstring and ``capabilities`` the protocol flags it declares
(``few_shot``, ``online``, ``forgets``); ``tests/test_methods.py`` checks both against the
classes themselves.

A *family* is a set of methods named ``<prefix>:<member>`` that a module resolves on demand
(e.g. strategies of another library): :data:`FAMILIES` maps the prefix to that module, which is
imported on the first :func:`~methods.get_method` of a member and registers the members it
knows with ``@register_method`` (``--list`` imports every family).
"""

from __future__ import annotations

from dataclasses import dataclass

#: The protocol capability flags a method class may declare (``Method.few_shot`` and so on).
CAPABILITIES = ("few_shot", "online", "forgets")


@dataclass(frozen=True)
class Entry:
    """A built-in method: the module that registers it, its one-line summary, its capabilities."""

    module: str
    summary: str
    capabilities: tuple[str, ...] = ()


def _entries(module: str, *rows: tuple[str, str, tuple[str, ...]]) -> dict[str, Entry]:
    return {name: Entry(module, summary, capabilities) for name, summary, capabilities in rows}


BUILT_IN: dict[str, dict[str, Entry]] = {
    "image": {
        **_entries(
            "methods.online_baselines",
            ("adam", "Cross-entropy with Adam, lr 0.001.", ("online",)),
            ("l2-init", "Plain SGD on cross-entropy + λ·‖θ − θ₀‖², pulling every weight back to its initial value.", ("online",)),
            ("sgd", "Cross-entropy with plain SGD (no momentum), lr 0.01.", ("online",)),
        ),
        **_entries(
            "methods.ease",
            ("ease", "Expandable Subspace Ensemble: one adapter per task, prototype complement, reweighted ensemble.", ("few_shot", "forgets")),
        ),
        **_entries("methods.er", ("er", "Each batch is joined by an equally large batch drawn from the reservoir buffer.", ("online",))),
        **_entries("methods.ewc", ("ewc", "Cross-entropy plus a quadratic pull towards the weights that mattered for earlier steps.", ())),
        **_entries("methods.finetune", ("finetune", "Cross-entropy over all seen classes on the current step's data only.", ("online",))),
        **_entries(
            "methods.finetune_vit", ("finetune-vit", "Sequential fine-tuning of the whole pre-trained ViT and a growing linear head.", ())
        ),
        **_entries(
            "methods.inflora",
            ("inflora", "InfLoRA: per-task k/v LoRA branches whose A is designed off the old tasks' input subspace (DualGPM).", ()),
        ),
        **_entries("methods.joint", ("joint", "Keeps all training data and, at each step, trains on everything seen so far.", ())),
        **_entries("methods.knn", ("knn", "k-NN over every sample seen, on frozen features (no training).", ("online",))),
        **_entries(
            "methods.l2p",
            ("l2l", 'L2P\'s key–query selection over a pool of LoRA modules ("L2L", Wistuba et al. 2024).', ("few_shot",)),
            ("l2p", "Learning to Prompt: key–query selection from a pool of prompts (or other PEFT modules).", ("few_shot",)),
        ),
        **_entries(
            "methods.lora",
            ("lora", "Per-task LoRA modules and heads, task chosen by nearest k-means centroid (S-LoRA).", ("few_shot", "forgets")),
        ),
        **_entries("methods.lwf", ("lwf", "Distils the previous model's old-class outputs while learning the new classes.", ())),
        **_entries(
            "methods.nmc", ("nmc", "Frozen features after the first step; logits are cosine similarities to class means.", ("few_shot",))
        ),
        **_entries(
            "methods.pec",
            ("pec", "One student per class imitating a shared frozen random teacher; predicts the best imitator.", ("few_shot", "online")),
        ),
        **_entries(
            "methods.simplecil", ("simplecil", "Cosine nearest class mean on frozen pre-trained ViT features (no training).", ("few_shot",))
        ),
        **_entries(
            "methods.teen",
            ("teen", "Prototype classifier whose few-shot prototypes are fused with similar base prototypes (training-free).", ("few_shot",)),
        ),
        **_entries(
            "methods.upgd", ("upgd", "Cross-entropy trained with UPGD: small steps for useful weights, noise for the others.", ("online",))
        ),
        **_entries(
            "methods.unlearning",
            ("finetune-retain", "Fine-tune on the retain set only, relying on catastrophic forgetting of D_f", ("forgets",)),
            ("ga", 'Gradient ascent on the forget set, L = −mean ℓ_θ(D_f) (Thudi et al., 2022; "NegGrad").', ("forgets",)),
            ("graddiff", "Gradient difference: ascent on the forget set plus ``retain_weight`` × descent on the", ("forgets",)),
            ("npo", "Negative Preference Optimization (Zhang et al., 2024): L = (2/β)·mean softplus(β(ℓ_ref − ℓ_θ))", ("forgets",)),
            ("npo-rt", "NPO plus ``retain_weight`` × cross-entropy on the retain set (NPO+RT, ``npo_grad_diff``).", ("forgets",)),
            ("retrain", "The exact baseline: a fresh model trained from scratch on the retain set (the oracle's recipe).", ("forgets",)),
            ("salun", 'Saliency unlearning (Fan et al., ICLR 2024), the random-labelling form ("RL" with a mask)', ("forgets",)),
            ("scrub", "SCRUB (Kurmanji et al., NeurIPS 2023): the model before the request is a frozen", ("forgets",)),
            ("ssd", "Selective Synaptic Dampening (Foster et al., AAAI 2024): retrain-free. With I the mean", ("forgets",)),
        ),
    },
    "text": _entries(
        "methods.text_unlearning",
        ("ga", "Gradient ascent on the forget answers' mean-token NLL (TOFU ``grad_ascent``).", ("forgets",)),
        ("graddiff", "Gradient ascent on forget + descent on retain answers (TOFU ``grad_diff``).", ("forgets",)),
        ("npo", "Negative Preference Optimization (Zhang et al., 2024): the forget answers' summed NLL", ("forgets",)),
        ("npo-rt", 'NPO plus the retain answers\' NLL (NPO\'s ``npo_grad_diff``, "NPO-RT").', ("forgets",)),
    ),
}


@dataclass(frozen=True)
class Family:
    """Methods named ``<prefix>:<member>``, registered by ``module`` when it is imported; the
    optional package the module ``requires`` and the pip ``extra`` that installs it."""

    module: str
    requires: str | None = None
    extra: str | None = None


#: Prefix (without the colon) → the family resolving names that start with ``<prefix>:``.
FAMILIES: dict[str, Family] = {
    "avalanche": Family("methods.avalanche_adapter", requires="avalanche", extra="avalanche"),  # avalanche:<Strategy>
}
