"""Metrics: a pure engine from evaluation records to numbers. Imports nothing else of CLUB."""

from .accuracy import (
    average_accuracy,
    average_incremental_accuracy,
    bwt,
    final_accuracy,
    forgetting,
    forgetting_first_final,
    learning_accuracy,
    seen_class_accuracies,
)
from .avalanche_records import from_avalanche
from .errors import MetricInputError
from .language import model_utility, qa_unlearning_summary, rouge_l_recall, truth_ratio, truth_ratio_score
from .records import SUMMARIES, accuracy_matrix, per_class_counts, step_test_sizes, summarize, summarize_run
from .few_shot import class_mean_accuracy, few_shot_summary, harmonic_mean, performance_drop  # registers SUMMARIES["few_shot"]
from .unlearning_summary import unlearning_summary

SUMMARIES.update(forgetting=unlearning_summary, learn_forget=unlearning_summary)
from .plasticity import dormant_fraction, effective_rank, inactive_fraction, online_summary, slope  # registers SUMMARIES["online"]

__all__ = [
    "MetricInputError",
    "SUMMARIES",
    "accuracy_matrix",
    "average_accuracy",
    "average_incremental_accuracy",
    "bwt",
    "class_mean_accuracy",
    "few_shot_summary",
    "dormant_fraction",
    "effective_rank",
    "final_accuracy",
    "forgetting",
    "forgetting_first_final",
    "from_avalanche",
    "harmonic_mean",
    "inactive_fraction",
    "learning_accuracy",
    "online_summary",
    "model_utility",
    "qa_unlearning_summary",
    "rouge_l_recall",
    "per_class_counts",
    "performance_drop",
    "seen_class_accuracies",
    "slope",
    "step_test_sizes",
    "summarize",
    "summarize_run",
    "unlearning_summary",
    "truth_ratio",
    "truth_ratio_score",
]
