"""Metrics: a pure engine from evaluation records to numbers. Imports nothing else of CLUB."""

from .accuracy import (
    average_accuracy,
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    learning_accuracy,
    seen_class_accuracies,
)
from .records import accuracy_matrix, step_test_sizes, summarize

__all__ = [
    "accuracy_matrix",
    "average_accuracy",
    "average_incremental_accuracy",
    "bwt",
    "final_accuracy",
    "forgetting",
    "learning_accuracy",
    "seen_class_accuracies",
    "step_test_sizes",
    "summarize",
]
