"""Metric functions against values computed by hand."""

import math

import numpy as np
import pytest

from metrics import (
    accuracy_matrix,
    average_accuracy,
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    forgetting_first_final,
    from_avalanche,
    learning_accuracy,
    summarize,
)

R = [
    [0.9, None, None],
    [0.6, 0.8, None],
    [0.5, 0.7, 0.9],
]


def test_matrix_metrics_by_hand():
    # forgetting: step 0: max(0.9, 0.6) - 0.5 = 0.4; step 1: max(0.8) - 0.7 = 0.1 → 0.25
    assert forgetting(R) == pytest.approx(0.25)
    # bwt: (0.5 - 0.9 + 0.7 - 0.8) / 2 = -0.25
    assert bwt(R) == pytest.approx(-0.25)
    assert average_accuracy(R) == pytest.approx((0.5 + 0.7 + 0.9) / 3)
    assert learning_accuracy(R) == pytest.approx((0.9 + 0.8 + 0.9) / 3)
    # unweighted seen-class accuracies: 0.9, 0.7, 0.7 → final 0.7, average 0.7667
    assert final_accuracy(R) == pytest.approx(0.7)
    assert average_incremental_accuracy(R) == pytest.approx((0.9 + 0.7 + 0.7) / 3)


def test_forgetting_uses_max_over_earlier_rows_not_first():
    R2 = [[0.5, None, None], [0.9, 0.8, None], [0.4, 0.8, 1.0]]
    # step 0 peaks at row 1: 0.9 - 0.4 = 0.5; step 1: 0.8 - 0.8 = 0 → 0.25
    assert forgetting(R2) == pytest.approx(0.25)
    # bwt compares with the diagonal: (0.4 - 0.5 + 0.8 - 0.8) / 2 = -0.05
    assert bwt(R2) == pytest.approx(-0.05)
    # Avalanche's forgetting is first minus final: (0.5 - 0.4 + 0.8 - 0.8) / 2 = 0.05
    assert forgetting_first_final(R2) == pytest.approx(0.05)
    assert forgetting_first_final(R) == pytest.approx(0.25) and math.isnan(forgetting_first_final([[0.7]]))


class _AlternativeValues:
    """Avalanche's AlternativeValues: the matrix as an image and as a tensor."""

    def __init__(self, *alternatives):
        self.alternatives = alternatives


def test_records_from_avalanche_confusion_matrices():
    key = "ConfusionMatrix_Stream/eval_phase/test_stream"
    after_0 = np.array([[4, 1], [0, 5]])  # rows: true class
    after_1 = np.array([[1, 0, 4, 0], [0, 2, 3, 0], [0, 0, 10, 0], [0, 0, 1, 9]])
    image = np.zeros((8, 8, 3), dtype=np.uint8)
    records = from_avalanche([{key: after_0, "Top1_Acc_Stream/eval_phase/test_stream/Task000": 0.9}, {key: _AlternativeValues(image, after_1)}])
    assert records == [{0: (4, 5), 1: (5, 5)}, {0: (1, 5), 1: (2, 5), 2: (10, 10), 3: (9, 10)}]
    assert accuracy_matrix(records, [[0, 1], [2, 3]]) == [[0.9, None], [0.3, 0.95]]
    with pytest.raises(ValueError, match="confusion_matrix_metrics"):
        from_avalanche([{"Top1_Acc_Stream/eval_phase/test_stream/Task000": 0.9}])


def test_sample_weighted_accuracy():
    # step 0 has 10 test samples, step 1 has 30: final = (10*0.5 + 30*0.9) / 40 = 0.8
    R2 = [[1.0, None], [0.5, 0.9]]
    assert final_accuracy(R2, weights=[10, 30]) == pytest.approx(0.8)
    assert average_incremental_accuracy(R2, weights=[10, 30]) == pytest.approx((1.0 + 0.8) / 2)


def test_numpy_input_and_single_step():
    arr = np.array([[0.75]])
    assert final_accuracy(arr) == 0.75
    assert math.isnan(forgetting(arr)) and math.isnan(bwt(arr))


def test_missing_lower_triangle_is_rejected():
    with pytest.raises(ValueError):
        forgetting([[0.9, None], [None, 0.8]])


def test_records_to_matrix_and_summary():
    steps = [[0, 1], [2, 3]]
    records = [
        {0: (4, 5), 1: (5, 5)},
        {0: (1, 5), 1: (2, 5), 2: (10, 10), 3: (9, 10)},
    ]
    R2 = accuracy_matrix(records, steps)
    assert R2 == [[0.9, None], [0.3, 0.95]]
    out = summarize(records, steps)
    # final: (1 + 2 + 10 + 9) / 30 correct over all seen test samples
    assert out["metrics"]["final_accuracy"] == pytest.approx(22 / 30)
    assert out["metrics"]["forgetting"] == pytest.approx(0.6)
    assert out["metrics"]["forgetting_first_final"] == pytest.approx(0.6)
