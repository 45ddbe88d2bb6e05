"""Unlearning metrics: pure functions of per-sample scores, per-class counts and timings.

Every variant that the reference implementations disagree on is named explicitly (for
example ``mia_efficacy[confidence,svc]`` against ``mia[entropy,logreg]``); see the docstring
of each function for its formula and source.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

Values = Sequence[float] | np.ndarray


def ks_forget_quality(unlearned_values: Values, retain_values: Values) -> float:
    """Forget quality: the p-value of the two-sample Kolmogorov–Smirnov test.

    FQ = p-value of KS(S_unlearned, S_retain), where S_unlearned are per-sample statistics
    of the unlearned model on the forget set (in TOFU, the truth ratios) and S_retain the
    same statistics of the model trained without the forget set (TOFU's retain model).
    A high p-value means the two distributions cannot be told apart; the retain model
    against itself scores 1.0. Two-sided test, scipy's default ("auto") p-value method.

    Source: Maini et al., "TOFU: A Task of Fictitious Unlearning for LLMs", 2024
    (``get_forget_quality``; open-unlearning ``privacy.py:ks_test``).
    """
    a = np.asarray(unlearned_values, dtype=float).ravel()
    b = np.asarray(retain_values, dtype=float).ravel()
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_forget_quality needs at least one value in each sample")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("ks_forget_quality got a non-finite value")
    from scipy.stats import ks_2samp  # scipy.stats takes 0.7 s to import: only where it is used

    return float(ks_2samp(a, b).pvalue)


def _features(*arrays: Values) -> list[np.ndarray]:
    return [np.asarray(a, dtype=float).reshape(-1, 1) for a in arrays]


def mia_efficacy_confidence_svc(member_confidence: Values, nonmember_confidence: Values, forget_confidence: Values) -> float:
    """MIA-efficacy: the share of forget samples an attacker does *not* call members.

    An RBF support-vector classifier (``SVC(C=3, gamma="auto")``) is fitted on one feature,
    the confidence p(y|x) of the true label, with retain-train samples as members (1) and
    test samples as non-members (0); then efficacy = 1 − mean(prediction on D_f) = TN/|D_f|.
    Higher means more forgotten (the retrain oracle's value is the target, not 1).

    Source: Jia et al., "Model Sparsity Can Simplify Machine Unlearning", NeurIPS 2023 and
    Fan et al., "SalUn", ICLR 2024 (``Classification/evaluation/SVC_MIA.py``, the
    ``confidence`` entry). Named ``mia_efficacy[confidence,svc]``. SalUn uses as many retain
    samples as test samples; the caller chooses the sets.
    """
    from sklearn.svm import SVC

    members, nonmembers, forget = _features(member_confidence, nonmember_confidence, forget_confidence)
    if len(members) == 0 or len(nonmembers) == 0 or len(forget) == 0:
        return float("nan")
    x = np.concatenate([members, nonmembers])
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    attacker = SVC(C=3, gamma="auto", kernel="rbf").fit(x, y)
    return float(1.0 - attacker.predict(forget).mean())


def mia_entropy_logreg(member_entropy: Values, nonmember_entropy: Values, forget_entropy: Values) -> float:
    """Membership-inference rate on the forget set with an entropy feature.

    A logistic regression (``class_weight="balanced"``) is fitted on the entropy of the
    softmax output, retain-train samples as members (1) against test samples (0); the score
    is the mean predicted membership of the forget samples. Lower means more forgotten.

    Source: Chundawat et al., "Can Bad Teaching Induce Forgetting?", AAAI 2023, as used by
    Foster et al., "Selective Synaptic Dampening", AAAI 2024 (``src/metrics.py``). Named
    ``mia[entropy,logreg]``.
    """
    from sklearn.linear_model import LogisticRegression

    members, nonmembers, forget = _features(member_entropy, nonmember_entropy, forget_entropy)
    if len(members) == 0 or len(nonmembers) == 0 or len(forget) == 0:
        return float("nan")
    x = np.concatenate([members, nonmembers])
    y = np.concatenate([np.ones(len(members)), np.zeros(len(nonmembers))])
    attacker = LogisticRegression(class_weight="balanced").fit(x, y)
    return float(attacker.predict(forget).mean())


def kl_divergence(log_p: Values, log_q: Values) -> float:
    """Mean over samples of KL(p‖q) = Σ_c p_c (log p_c − log q_c), from log-probabilities
    (rows are samples, columns classes). With p the retrain oracle's outputs and q the
    unlearned model's, this is the "KL to the oracle" of Golatkar et al., "Eternal Sunshine
    of the Spotless Net", CVPR 2020.
    """
    lp, lq = np.asarray(log_p, dtype=float), np.asarray(log_q, dtype=float)
    if lp.shape != lq.shape or lp.ndim != 2:
        raise ValueError(f"kl_divergence needs two N×C arrays of the same shape, got {lp.shape} and {lq.shape}")
    if lp.shape[0] == 0:
        return float("nan")
    return float(np.mean(np.sum(np.exp(lp) * (lp - lq), axis=1)))


def js_divergence(log_p: Values, log_q: Values) -> float:
    """Mean over samples of the Jensen–Shannon divergence (natural log, bounded by ln 2):
    JS(p, q) = ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q).

    The textbook form (Lin 1991), used by CLPU (Liu et al., "Continual Learning and Private
    Unlearning", CoLLAs 2022) to compare outputs with a model that never saw the data. SSD's
    ZRF uses a different ``JSDiv`` (KL(m‖·) with mean reduction); this is not it.
    """
    lp, lq = np.asarray(log_p, dtype=float), np.asarray(log_q, dtype=float)
    if lp.shape != lq.shape or lp.ndim != 2:
        raise ValueError(f"js_divergence needs two N×C arrays of the same shape, got {lp.shape} and {lq.shape}")
    if lp.shape[0] == 0:
        return float("nan")
    p, q = np.exp(lp), np.exp(lq)
    log_m = np.log(np.clip(0.5 * (p + q), 1e-300, None))
    return float(np.mean(0.5 * np.sum(p * (lp - log_m), axis=1) + 0.5 * np.sum(q * (lq - log_m), axis=1)))


def oracle_gaps(values: dict[str, float], oracle: dict[str, float]) -> dict[str, float]:
    """|m − m_oracle| for every metric the two dicts share (accuracies, MIA efficacy).

    Source: Fan et al., "SalUn", ICLR 2024 (the gaps behind "Avg. Gap").
    """
    return {name: abs(values[name] - oracle[name]) for name in values if name in oracle}


def avg_gap(gaps: Sequence[float]) -> float:
    """Avg. Gap = mean of |m − m_oracle| over {UA, RA, TA, MIA-efficacy}.

    UA = 1 − forget accuracy, so its gap equals the forget-accuracy gap. CLUB keeps fractions
    (SalUn reports percentage points: multiply by 100). NaN if any gap is NaN.
    Source: Fan et al., "SalUn: Empowering Machine Unlearning via Gradient-based Weight
    Saliency", ICLR 2024 (Tables 3–4, "Avg. Gap").
    """
    values = np.asarray(list(gaps), dtype=float)
    return float(values.mean()) if values.size else float("nan")


def spill(retained_accuracy_before: float, retained_accuracy_after: float) -> float:
    """CLUB's spill = A_before − A_after: the accuracy the data *kept* loses to a forget request.

    A is the test accuracy on every seen class that is not forgotten, just before and just
    after the request; positive means collateral damage. CLUB's own one-step measure of the
    retained-task degradation that UnCLe (Adhikari et al., arXiv 2509.17530) calls spill; UnCLe's
    code measures it over a task's lifetime instead (:func:`uncle_stability`).
    """
    return float(retained_accuracy_before - retained_accuracy_after)


def relapse(forgotten_accuracy_after_request: float, forgotten_accuracy_later: Values) -> tuple[float, float]:
    """CLUB's (final, max) relapse: how much accuracy on forgotten data comes back with later learning.

    final = a_T − a_f and max = max_{k>f} a_k − a_f, where a_f is the accuracy on the data of
    forget request f right after it and a_k after each later step. Positive means the
    forgotten knowledge resurfaced; NaN when no step follows the request. CLUB's own measure
    of UnCLe's "task relapse" (Adhikari et al., arXiv 2509.17530); UnCLe's code compares with
    chance instead (:func:`uncle_stability`).
    """
    later = np.asarray(forgotten_accuracy_later, dtype=float)
    if later.size == 0:
        return float("nan"), float("nan")
    return float(later[-1] - forgotten_accuracy_after_request), float(later.max() - forgotten_accuracy_after_request)


def uncle_stability(operations: Sequence[str], accuracy: Values, chance: float | Sequence[float] = 0.1) -> list[float]:
    """UnCLe's stability of every operation of a learn/unlearn sequence: its measures of spill
    (for learn operations) and relapse (for unlearn operations).

    ``operations[i]`` is ``L<t>`` (learn task t), ``U<t>`` (unlearn task t) or, CLUB's
    extension, ``U<t>:<part>`` (unlearn part of task t); ``accuracy[k][i]`` is the accuracy
    (a fraction) after operation k on the data of operation i: task t's test data for ``L<t>``,
    the unlearned data for an unlearn operation (entries before operation i are not read).
    With a_k = accuracy[k][i]:

    * ``L<t>`` at position i, retained until position j (the first later ``U<t>``, or the end):
      S_i = mean_{i≤k<j} (1 − (a_i − a_k)/a_i) = mean_{i≤k<j} a_k/a_i — 1 when the task keeps
      the accuracy it was learned with, lower when later operations spill into it (NaN if a_i = 0);
    * an unlearn operation at position i: S_i = mean_{k≥i} (c_i − a_k) with c_i the chance
      accuracy of the task — 0 at chance, negative when the task relapses above it.

    Source: Adhikari, Kumaravelu, Srijith, "An Unlearning Framework for Continual Learning"
    (UnCLe), arXiv 2509.17530, code ``visprasadh/uncle`` ``toolbox/stability_calculator.py``
    (``calculate_stability``), which works in percent with c = 10 (10-way task heads) and uses
    one column per task (``U<t>`` reads the column of ``L<t>``); CLUB keeps fractions.
    """
    a = np.asarray(accuracy, dtype=float)
    n = len(operations)
    if a.ndim != 2 or a.shape[0] != n or a.shape[1] != n:
        raise ValueError(f"uncle_stability needs a {n}×{n} accuracy array (one row and one column per operation), got shape {a.shape}")
    chances = np.broadcast_to(np.asarray(chance, dtype=float), (n,))
    values = []
    for i, op in enumerate(operations):
        if op.startswith("L"):
            end = next((j for j in range(i + 1, n) if operations[j] == "U" + op[1:]), n)
            window = a[i:end, i]
            values.append(float(np.mean(window / window[0])) if window[0] > 0 else float("nan"))
        elif op.startswith("U"):
            values.append(float(np.mean(chances[i] - a[i:, i])))
        else:
            raise ValueError(f"operation {op!r} is neither L<t> nor U<t>")
    return values


def speed_up(oracle_seconds: float, method_seconds: float) -> float:
    """Speed-up against retraining = t_retrain / t_method (SalUn's run-time efficiency, RTE,
    reported as a ratio; Fan et al., ICLR 2024). Infinite time ratios become NaN."""
    if method_seconds <= 0 or not (math.isfinite(oracle_seconds) and math.isfinite(method_seconds)):
        return float("nan")
    return float(oracle_seconds / method_seconds)
