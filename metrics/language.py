"""Language-model unlearning metrics of TOFU (Maini, Feng, Schwarzschild, Lipton, Kolter, 2024).

Everything here is a pure function of per-sample records: answer negative log-likelihoods
(summed over answer tokens, with their token counts) and greedy generations. The summary of
the ``qa_unlearning`` protocol, :func:`qa_unlearning_summary`, derives forget quality, model
utility, ROUGE-L, probabilities and truth ratios from the stored records of a run and of its
reference (the "retain" model, trained without the forget set).
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np

from .errors import MetricInputError
from .records import SUMMARIES
from .unlearning import ks_forget_quality


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall = LCS(prediction, reference) / |reference|, over ROUGE tokens with Porter
    stemming, computed by ``rouge_score`` exactly as TOFU does
    (``RougeScorer(["rougeL"], use_stemmer=True).score(answer, generation)["rougeL"].recall``;
    Maini et al., 2024, ``evaluate_util.py``). Tokens are lower-cased runs of letters and
    digits; stemming makes inflected forms match ("writes"/"write"). An empty reference scores 0.
    Source of the measure: Lin, "ROUGE", 2004.
    """
    return float(_rouge_l_scorer().score(reference, prediction)["rougeL"].recall)


@functools.cache
def _rouge_l_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def mean_token_nll(nll: Sequence[float] | np.ndarray, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
    """Per-sample NLL averaged over the answer's tokens: nll / |answer tokens|."""
    nll, tokens = np.asarray(nll, dtype=float), np.asarray(tokens, dtype=float)
    if nll.shape != tokens.shape:
        raise MetricInputError(f"NLL values of shape {nll.shape} against token counts of shape {tokens.shape}")
    if (tokens <= 0).any():
        raise MetricInputError("every answer needs at least one token")
    return nll / tokens


def answer_probability(avg_nll: Sequence[float] | np.ndarray) -> np.ndarray:
    """TOFU's probability P(a|q)^(1/|a|) = exp(−NLL/|a|), per sample (Maini et al., 2024)."""
    return np.exp(-np.asarray(avg_nll, dtype=float))


def normalized_answer_probability(avg_nll: np.ndarray, perturbed_avg_nll: np.ndarray) -> np.ndarray:
    """P_true / (P_true + Σ_j P_perturbed,j), each P = exp(−NLL/|a|), per sample.

    TOFU scores its real-authors and world-facts sets this way (a multiple-choice view).
    ``perturbed_avg_nll`` is samples × options.
    """
    p_true = answer_probability(avg_nll)
    p_wrong = answer_probability(perturbed_avg_nll).sum(axis=1)
    return p_true / (p_true + p_wrong)


def truth_ratio(base_avg_nll: np.ndarray, perturbed_avg_nll: np.ndarray) -> np.ndarray:
    """R = P̃_perturbed / P_base per sample, where P̃_perturbed is the geometric mean of the
    perturbed answers' length-normalised probabilities: R = exp(L_base − mean_j L_pert,j)
    with L the mean-token NLL. The base is the paraphrased answer (forget, retain sets) or
    the answer itself (real authors, world facts). Source: Maini et al., 2024, §2.2.2.
    """
    base = np.asarray(base_avg_nll, dtype=float)
    return np.exp(base - np.asarray(perturbed_avg_nll, dtype=float).mean(axis=1))


def truth_ratio_score(ratios: np.ndarray, role: str) -> float:
    """The truth ratio summarised as TOFU reports it: on the forget set mean(min(R, 1/R))
    (1 when true and wrong answers are equally likely); on every other set
    mean(max(0, 1 − R)) (high when the true answer is preferred). Maini et al., 2024."""
    ratios = np.asarray(ratios, dtype=float)
    if role == "forget":
        return float(np.mean(np.minimum(ratios, 1.0 / ratios)))
    return float(np.mean(np.maximum(0.0, 1.0 - ratios)))


def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of the utility numbers: for each non-forget set (retain, real authors,
    world facts) its probability, ROUGE-L and truth-ratio score. TOFU's model utility
    (Maini et al., 2024; open-unlearning ``hm_aggregate``); 0 when any of them is 0."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        raise ValueError("model utility needs at least one number")
    if (values <= 0).any():
        return 0.0
    from scipy.stats import hmean  # scipy.stats takes 0.7 s to import: only where it is used

    return float(hmean(values))


def _perturbed_matrix(name: str, samples: Mapping, key: str, count: int) -> np.ndarray:
    """``samples[key]`` as a samples × options array, or a one-line error naming what is wrong."""
    values = samples.get(key) or []
    rows = {len(row) if isinstance(row, (list, tuple)) else -1 for row in values}
    if len(values) != count or len(rows) != 1 or rows.pop() < 1:
        raise MetricInputError(
            f"QA set {name!r}: {key} must hold the same number (at least one) of perturbed answers for each of its {count} questions"
        )
    return np.asarray(values, dtype=float)


def qa_set_scores(evaluation: Mapping, name: str = "") -> dict:
    """Per-set numbers from one stored QA evaluation record: ``probability``,
    ``truth_ratio_score`` and ``rouge_l`` (when generated) plus the per-sample log truth ratios.

    Raises :class:`MetricInputError` (one line) on a set without questions, or one whose
    records lack what its scores need: the paraphrased answers a truth ratio is based on, the
    perturbed answers of a truth ratio or of a multiple-choice probability. The forget set
    always needs its truth ratios (forget quality is computed from them).
    """
    samples = evaluation.get("per_sample") or {}
    if len(samples.get("answer_nll") or []) == 0:
        raise MetricInputError(f"QA set {name!r} has no questions to score")
    answer = mean_token_nll(samples["answer_nll"], samples.get("answer_tokens", []))
    count = len(answer)
    needs_ratio = evaluation["role"] == "forget" or evaluation["probability"] == "options"
    perturbed = None
    if samples.get("perturbed_nll") or needs_ratio:
        perturbed = mean_token_nll(
            _perturbed_matrix(name, samples, "perturbed_nll", count), _perturbed_matrix(name, samples, "perturbed_tokens", count)
        )
    if evaluation["probability"] == "options":
        probability = normalized_answer_probability(answer, perturbed)
    else:
        probability = answer_probability(answer)
    scores: dict = {"probability": float(probability.mean())}
    if perturbed is not None:
        if evaluation["truth_ratio_base"] == "paraphrased":
            if len(samples.get("paraphrased_nll") or []) != count:
                raise MetricInputError(f"QA set {name!r}: truth ratios need a paraphrased answer for each of its {count} questions")
            base = mean_token_nll(samples["paraphrased_nll"], samples.get("paraphrased_tokens", []))
        else:
            base = answer
        ratios = truth_ratio(base, perturbed)
        scores["truth_ratio_score"] = truth_ratio_score(ratios, evaluation["role"])
        # log R = L_base − mean L_pert: finite whenever the NLLs are (R itself may overflow);
        # the KS test is invariant under this monotone map.
        scores["log_truth_ratios"] = (base - perturbed.mean(axis=1)).tolist()
    if "generation" in samples:
        generations, answers = samples["generation"], samples.get("answer", [])
        if len(generations) != len(answers):
            raise MetricInputError(f"QA set {name!r}: {len(generations)} generations against {len(answers)} answers")
        scores["rouge_l"] = float(np.mean([rouge_l_recall(g, a) for g, a in zip(generations, answers)]))
    return scores


def model_scores(evaluations: Mapping[str, Mapping], reference: Mapping[str, Mapping] | None) -> dict:
    """TOFU's headline numbers of one model from its QA evaluations: ``model_utility`` over
    the utility sets, ``forget_quality`` (KS p-value of the forget-set truth ratios against
    those of ``reference``, TOFU's forget quality), and each set's probability, ROUGE-L and
    truth-ratio score."""
    per_set = {name: qa_set_scores(evaluation, name) for name, evaluation in evaluations.items()}
    utility = [
        per_set[name][key]
        for name, evaluation in evaluations.items()
        if evaluation["role"] == "utility"
        for key in ("probability", "rouge_l", "truth_ratio_score")
        if key in per_set[name]
    ]
    scores: dict = {"model_utility": model_utility(utility) if utility else None}
    forget = [name for name, evaluation in evaluations.items() if evaluation["role"] == "forget"]
    if forget and reference is not None:
        if forget[0] not in reference:
            raise MetricInputError(f"the reference (retain) model has no evaluation of QA set {forget[0]!r}")
        scores["forget_quality"] = ks_forget_quality(
            per_set[forget[0]]["log_truth_ratios"], qa_set_scores(reference[forget[0]], forget[0])["log_truth_ratios"]
        )
    for name, numbers in per_set.items():
        for key, value in numbers.items():
            if key != "log_truth_ratios":
                scores[f"{name}_{key}"] = value
    return scores


def qa_unlearning_summary(steps: Sequence[Mapping], records: Sequence[Mapping]) -> dict:
    """Summary of a ``qa_unlearning`` run from ``result.json``'s ``scenario.steps`` and ``steps``.

    ``metrics`` are the scores of the final (unlearned) model; ``language_model`` holds the
    same scores after every step and for the reference (retain) model, whose evaluations are
    stored under ``reference`` in the record of the step it replaces.
    """
    reference = next((r["reference"]["evaluations"] for r in records if "reference" in r), None)
    per_step = [{"step": r["step"], "kind": r["kind"], **model_scores(r["evaluations"], reference)} for r in records]
    summary = {"per_step": per_step}
    if reference is not None:
        summary["retain_model"] = model_scores(reference, reference)
    final = {k: v for k, v in per_step[-1].items() if k not in ("step", "kind")}
    return {"metrics": final, "language_model": summary}


SUMMARIES["qa_unlearning"] = qa_unlearning_summary
