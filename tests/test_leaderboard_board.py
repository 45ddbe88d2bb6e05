"""Boards: rows over seeds (mean ± std, n, bootstrap interval), ranking, separability, single seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leaderboard.board import Run, bootstrap_interval, build_board, statistics

CONFIG = {"hyperparameters": {"lr": 0.1}, "overrides": {}, "plugins": []}


def run(entry, method, seed, value, group=None, lr=0.1, family_key="final_accuracy", curve=None):
    return Run(
        entry=entry, method=method, group_key=group or f"{method}-{lr}", seed=seed, recipe="club", device="cpu", git_commit="c",
        values={family_key: value, "wall_seconds": 2.0, "trainable_parameters": 10, "peak_memory_bytes": 100},
        curve=curve or [1.0, value], config={**CONFIG, "hyperparameters": {"lr": lr}}, verification=None,
    )  # fmt: skip


def test_statistics_of_a_row_over_seeds():
    stats = statistics([0.5, 0.7, 0.6])
    assert stats["mean"] == pytest.approx(0.6) and stats["std"] == pytest.approx(0.1) and stats["n"] == 3
    assert 0.5 <= stats["low"] < 0.6 < stats["high"] <= 0.7
    assert statistics([0.5, 0.7, 0.6]) == stats  # seeded: deterministic
    single = statistics([0.4, None])
    assert single == {"mean": 0.4, "std": None, "n": 1, "low": None, "high": None}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=12))
def test_the_bootstrap_interval_lies_within_the_values(values):
    low, high = bootstrap_interval(values)
    assert min(values) - 1e-6 <= low <= high <= max(values) + 1e-6
    assert bootstrap_interval(values) == (low, high)


def test_rows_rank_by_the_primary_column_with_single_seeds_below_and_neighbours_marked():
    runs = [
        run(1, "a", 0, 0.80), run(2, "a", 1, 0.82), run(3, "a", 2, 0.81),  # mean 0.81, tight
        run(4, "b", 0, 0.70), run(5, "b", 1, 0.95), run(6, "b", 2, 0.76),  # mean 0.80, wide: overlaps a
        run(7, "c", 0, 0.30), run(8, "c", 1, 0.32),  # far below: separable from b
        run(9, "lucky", 0, 0.99),  # one seed
        run(10, "a", 2, 0.83),  # a repeat of seed 2: averaged with entry 3, not a fourth sample
    ]  # fmt: skip
    board = build_board("digits-cil", "class_incremental", runs)
    rows = board["rows"]
    assert [r["method"] for r in rows] == ["a", "b", "c", "lucky"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4]
    a = rows[0]["values"]["final_accuracy"]
    assert a["n"] == 3 and a["mean"] == pytest.approx(np.mean([0.80, 0.82, 0.82]))
    assert rows[0]["entries"] == [1, 2, 3, 10] and rows[0]["seeds"] == [0, 1, 2]
    assert [r["separable_from_previous"] for r in rows] == [None, False, True, None]
    assert rows[3]["single_seed"] and not rows[0]["single_seed"]
    mixed = build_board("digits-cil", "class_incremental", runs, single_seed_last=False)
    assert [r["method"] for r in mixed["rows"]] == ["lucky", "a", "b", "c"]
    assert rows[0]["curve"] == pytest.approx([1.0, np.mean([0.80, 0.82, 0.82])])


def test_lower_is_better_tracks_rank_upwards_and_missing_values_go_last():
    runs = [run(1, "x", 0, 0.30, family_key="avg_gap"), run(2, "y", 0, 0.01, family_key="avg_gap"), run(3, "z", 0, None, family_key="avg_gap")]
    board = build_board("digits-forget-class", "unlearning", runs)
    assert [r["method"] for r in board["rows"]] == ["y", "x", "z"] and board["primary"] == "avg_gap"
    assert board["primary_better"] == "lower"


def test_configurations_of_one_method_are_told_apart_by_what_differs():
    runs = [run(1, "er", 0, 0.9, lr=0.1), run(2, "er", 0, 0.8, lr=0.01), run(3, "nmc", 0, 0.7)]
    labels = {r["entries"][0]: r["config_label"] for r in build_board("digits-cil", "class_incremental", runs)["rows"]}
    assert labels == {1: "lr=0.1", 2: "lr=0.01", 3: ""}
