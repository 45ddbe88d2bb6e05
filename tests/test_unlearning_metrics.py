"""Unlearning metrics on constructed inputs whose answers are known."""

import numpy as np
import pytest

from metrics.unlearning import ks_forget_quality


def test_ks_forget_quality_identical_samples_is_one():
    values = np.linspace(0.1, 0.9, 50)
    assert ks_forget_quality(values, values) == pytest.approx(1.0)


def test_ks_forget_quality_disjoint_samples_exact_p_value():
    # Two disjoint samples of sizes 5 and 5: D = 1 and the exact two-sided p-value is
    # 2 / C(10, 5) = 2 / 252 (only the two orderings "all of a first" / "all of b first").
    assert ks_forget_quality([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(2 / 252)


def test_ks_forget_quality_same_distribution_is_not_rejected():
    rng = np.random.default_rng(0)
    assert ks_forget_quality(rng.normal(size=400), rng.normal(size=400)) > 0.05
    assert ks_forget_quality(rng.normal(size=400), rng.normal(1.0, size=400)) < 1e-6


def test_ks_forget_quality_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        ks_forget_quality([], [1.0])
    with pytest.raises(ValueError):
        ks_forget_quality([np.nan], [1.0])


# --- membership inference, divergences, gaps, spill, relapse, speed-up ------------------

from metrics.unlearning import (  # noqa: E402
    avg_gap,
    js_divergence,
    kl_divergence,
    mia_efficacy_confidence_svc,
    mia_entropy_logreg,
    oracle_gaps,
    relapse,
    speed_up,
    spill,
)

MEMBERS = np.linspace(0.9, 1.0, 40)  # confident on training data
NONMEMBERS = np.linspace(0.1, 0.4, 40)  # unsure on unseen data


def test_mia_efficacy_is_zero_when_forget_set_looks_like_training_data():
    assert mia_efficacy_confidence_svc(MEMBERS, NONMEMBERS, np.full(10, 0.97)) == 0.0


def test_mia_efficacy_is_one_when_forget_set_looks_unseen():
    assert mia_efficacy_confidence_svc(MEMBERS, NONMEMBERS, np.full(10, 0.2)) == 1.0


def test_mia_efficacy_counts_the_share_called_non_members():
    forget = np.array([0.95] * 3 + [0.15] * 7)
    assert mia_efficacy_confidence_svc(MEMBERS, NONMEMBERS, forget) == pytest.approx(0.7)


def test_mia_entropy_logreg_is_the_share_called_members():
    low, high = np.linspace(0.0, 0.2, 40), np.linspace(1.5, 2.0, 40)  # members have low entropy
    assert mia_entropy_logreg(low, high, np.full(5, 0.1)) == 1.0
    assert mia_entropy_logreg(low, high, np.full(5, 1.8)) == 0.0
    assert mia_entropy_logreg(low, high, np.array([0.1, 0.1, 1.8, 1.8])) == pytest.approx(0.5)


def test_mia_on_an_empty_forget_set_is_nan():
    assert np.isnan(mia_efficacy_confidence_svc(MEMBERS, NONMEMBERS, []))


def test_kl_and_js_known_values():
    p = np.log([[0.5, 0.5], [1.0 - 1e-12, 1e-12]])
    q = np.log([[0.5, 0.5], [1e-12, 1.0 - 1e-12]])
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    # second row: disjoint supports -> JS = ln 2; first row identical -> 0; mean over rows.
    assert js_divergence(p, q) == pytest.approx(np.log(2) / 2, rel=1e-6)
    one_p, one_q = np.log([[0.75, 0.25]]), np.log([[0.5, 0.5]])
    assert kl_divergence(one_p, one_q) == pytest.approx(0.75 * np.log(1.5) + 0.25 * np.log(0.5))
    with pytest.raises(ValueError):
        kl_divergence(one_p, np.log([[0.2, 0.3, 0.5]]))


def test_gaps_avg_gap_spill_relapse_speed_up():
    gaps = oracle_gaps({"forget_acc": 0.1, "retain_acc": 0.9, "extra": 1.0}, {"forget_acc": 0.0, "retain_acc": 1.0})
    assert gaps == pytest.approx({"forget_acc": 0.1, "retain_acc": 0.1})
    assert avg_gap([0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.25)
    assert spill(0.95, 0.90) == pytest.approx(0.05)
    assert relapse(0.0, [0.3, 0.1]) == pytest.approx((0.1, 0.3))
    assert all(np.isnan(v) for v in relapse(0.0, []))
    assert speed_up(60.0, 2.0) == 30.0 and np.isnan(speed_up(1.0, 0.0))


def test_speed_up_of_infinite_times_is_nan():
    assert np.isnan(speed_up(float("inf"), 1.0)) and np.isnan(speed_up(1.0, float("inf")))


# --- UnCLe's stability (visprasadh/uncle toolbox/stability_calculator.py) ------------------

from metrics.unlearning import uncle_stability  # noqa: E402


def test_uncle_stability_on_a_hand_made_matrix():
    # The reference layout: rows after each operation, one column per task in learn order
    # (L0 → column 0, L1 → 1, L2 → 2); U<t> reads its task's column. Accuracies in percent as
    # in UnCLe's logs, converted to fractions below.
    operations = ["L0", "L1", "U0", "L2", "U1"]
    percent = np.array(
        [
            [80.0, 0.0, 0.0],
            [70.0, 90.0, 0.0],
            [12.0, 81.0, 0.0],
            [30.0, 72.0, 60.0],
            [9.0, 5.0, 54.0],
        ]
    )
    per_operation = percent[:, [0, 1, 0, 2, 1]] / 100  # column of each operation's data
    expected = [
        np.mean([1 - (80 - a) / 80 for a in (80, 70)]),  # L0: rows 0–1, until U0 at row 2
        np.mean([1 - (90 - a) / 90 for a in (90, 81, 72)]),  # L1: rows 1–3, until U1 at row 4
        np.mean([10 - a for a in (12, 30, 9)]) / 100,  # U0: rows 2–4 against chance 10%
        np.mean([1 - (60 - a) / 60 for a in (60, 54)]),  # L2: never unlearned, rows 3–4
        np.mean([10 - a for a in (5,)]) / 100,  # U1: row 4
    ]
    assert uncle_stability(operations, per_operation) == pytest.approx(expected)
    # CLUB's extension: forgetting part of a task does not end its learned window
    partial = uncle_stability(["L0", "U0:1", "L1"], np.array([[0.8, 0, 0], [0.7, 0.2, 0], [0.6, 0.3, 0.9]]), chance=0.5)
    assert partial == pytest.approx([np.mean([1.0, 0.7 / 0.8, 0.6 / 0.8]), np.mean([0.3, 0.2]), 1.0])
    with pytest.raises(ValueError, match="3×3"):
        uncle_stability(["L0", "L1", "U0"], np.zeros((3, 2)))
