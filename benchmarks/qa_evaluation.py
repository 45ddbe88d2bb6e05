"""Scoring a language-model method on a question-answering set: the per-sample records
(answer likelihoods, greedy answers) that ``metrics.language`` turns into TOFU's numbers."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import torch

from scenarios.qa import QASet, QAStream

if TYPE_CHECKING:
    from methods.language_model import LanguageModelMethod


def evaluate_qa(method: LanguageModelMethod, qa_set: QASet) -> dict[str, Any]:
    """One stored evaluation: how the set is scored, and per sample the summed NLL and token
    count of the answer, of the paraphrased answer and of each perturbed answer, and the
    greedy generation next to the true answer. ``per_class`` is empty (no classes here)."""
    items = qa_set.items
    questions = [item.question for item in items]
    nll, tokens = method.answer_nll(questions, [item.answer for item in items])
    samples: dict[str, Any] = {"answer_nll": nll, "answer_tokens": tokens, "perturbed_nll": [], "perturbed_tokens": []}
    if qa_set.truth_ratio_base == "paraphrased" and all(item.paraphrased_answer for item in items):
        samples["paraphrased_nll"], samples["paraphrased_tokens"] = method.answer_nll(
            questions, [item.paraphrased_answer for item in items]
        )
    options = {len(item.perturbed_answers) for item in items}
    if len(options) > 1:
        raise ValueError(f"QA set {qa_set.name}: every question needs as many perturbed answers ({sorted(options)} found)")
    k = options.pop() if options else 0
    if k:
        flat_nll, flat_tokens = method.answer_nll(
            [q for q in questions for _ in range(k)], [a for item in items for a in item.perturbed_answers]
        )
        samples["perturbed_nll"] = [flat_nll[i * k : (i + 1) * k] for i in range(len(items))]
        samples["perturbed_tokens"] = [flat_tokens[i * k : (i + 1) * k] for i in range(len(items))]
    if qa_set.generate:
        samples["generation"] = method.generate(questions)
        samples["answer"] = [item.answer for item in items]
    return {
        "per_class": {},
        "role": qa_set.role,
        "truth_ratio_base": qa_set.truth_ratio_base,
        "probability": qa_set.probability,
        "per_sample": samples,
    }


def reference_fingerprint(stream: QAStream, method: LanguageModelMethod, rng: dict[str, Any]) -> str:
    """SHA-256 (first 32 hex digits) of everything the reference model's evaluations depend
    on: the pairs it learns and its recipe, every evaluation set, the network and its
    vocabulary, the language-model settings of ``method``, the RNG state it starts from and
    the torch version. Equal fingerprints give equal evaluations, so they can be reused."""
    from methods.language_model import LanguageModelMethod  # imported by the text methods already

    step = stream.reference_step()
    assert step is not None
    settings = {name: getattr(method, name) for name in LanguageModelMethod.hyperparameters()}
    digest = hashlib.sha256()
    for part in (
        repr((step.qa, step.recipe)),
        repr(sorted(stream.evaluation_sets(step.index).items())),
        json.dumps({"backbone": method.info.backbone, "settings": settings, "torch": torch.__version__}, sort_keys=True),
        "\n".join(method.info.vocabulary),
        _rng_bytes(rng),
    ):
        digest.update(part if isinstance(part, bytes) else part.encode())
    return digest.hexdigest()[:32]


def _rng_bytes(rng: dict[str, Any]) -> bytes:
    """The runner's RNG states (python, numpy, torch, cuda) as canonical bytes."""
    name, keys, position, has_gauss, cached = rng["numpy"]
    parts = [repr(rng["python"]).encode(), repr((name, position, has_gauss, cached)).encode(), keys.tobytes()]
    parts += [t.cpu().numpy().tobytes() for t in [rng["torch"], *rng.get("cuda", [])]]
    return b"".join(parts)
