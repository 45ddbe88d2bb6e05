"""The leaderboard's tracks: which numbers a board of each protocol family shows and ranks by.

There is one board per scenario preset; its protocol puts it in a family, and the family
decides the columns (recomputed metric names of ``metrics``), the primary column the board
is ranked by, and the per-step curve drawn for selected rows. Every board also shows the
compute of each run: wall time, device, peak memory and trainable parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

HIGHER, LOWER = "higher", "lower"


@dataclass(frozen=True)
class Column:
    """A metric column. ``better`` is ``HIGHER``, ``LOWER`` or ``None`` (a number with no
    better side, e.g. the forget accuracy, which should match the retrain oracle's); ``kind``
    is ``"number"`` or ``"list"`` (one value per step, shown but not ranked)."""

    key: str
    label: str
    better: str | None = HIGHER
    kind: str = "number"


@dataclass(frozen=True)
class Track:
    """A protocol family: its protocols, columns, primary column and per-step curve."""

    family: str
    title: str
    protocols: tuple[str, ...]
    columns: tuple[Column, ...]
    primary: str
    curve_label: str
    curve: Callable[[Mapping[str, Any], Mapping[str, Any]], list[float | None]]

    def column(self, key: str) -> Column:
        return next(c for c in (*self.columns, *COMPUTE) if c.key == key)


def _seen_class_accuracy(result: Mapping[str, Any], summary: Mapping[str, Any]) -> list[float | None]:
    """Accuracy on the test data of every class seen so far, after each step (Σ correct / Σ total)."""
    curve: list[float | None] = []
    for record in result["steps"]:
        counts = record["evaluations"]["seen_test"]["per_class"].values()
        total = sum(t for _, t in counts)
        curve.append(sum(c for c, _ in counts) / total if total else None)
    return curve


def _online_accuracy(result: Mapping[str, Any], summary: Mapping[str, Any]) -> list[float | None]:
    return list(summary["metrics"]["online_accuracy_per_task"])


def _model_utility(result: Mapping[str, Any], summary: Mapping[str, Any]) -> list[float | None]:
    return [step["model_utility"] for step in summary["language_model"]["per_step"]]


#: Compute columns, the same on every board (derived from the step records by ``verify``).
COMPUTE = (
    Column("wall_seconds", "wall time (s)", LOWER),
    Column("trainable_parameters", "trainable parameters", LOWER),
    Column("peak_memory_bytes", "peak memory (MB)", LOWER),
)

TRACKS: dict[str, Track] = {
    track.family: track
    for track in (
        Track(
            "class_incremental",
            "Class-incremental learning",
            ("class_incremental",),
            (
                Column("final_accuracy", "final accuracy"),
                Column("average_incremental_accuracy", "average incremental accuracy"),
                Column("forgetting", "forgetting", LOWER),
                Column("bwt", "backward transfer"),
            ),
            "final_accuracy",
            "seen-class accuracy after each step",
            _seen_class_accuracy,
        ),
        Track(
            "few_shot",
            "Few-shot class-incremental learning",
            ("few_shot",),
            (
                Column("average_session_accuracy", "average session accuracy"),
                Column("final_accuracy", "last session accuracy"),
                Column("final_base_accuracy", "base accuracy"),
                Column("final_novel_accuracy", "novel accuracy"),
                Column("final_harmonic_mean", "harmonic mean"),
                Column("performance_drop", "performance drop", LOWER),
                Column("session_accuracy", "session accuracies", None, "list"),
            ),
            "average_session_accuracy",
            "accuracy after each session",
            _seen_class_accuracy,
        ),
        Track(
            "online",
            "Online continual learning and plasticity",
            ("online",),
            (
                Column("online_accuracy", "online accuracy"),
                Column("final_accuracy", "final accuracy"),
                Column("online_accuracy_slope", "online accuracy slope per task"),
                Column("final_dormant_fraction", "dormant units", LOWER),
                Column("final_effective_rank", "effective rank"),
            ),
            "online_accuracy",
            "online accuracy of each task",
            _online_accuracy,
        ),
        Track(
            "unlearning",
            "Unlearning on images",
            ("forgetting", "learn_forget"),
            (
                Column("avg_gap", "average gap to the retrain oracle", LOWER),
                Column("forget_acc", "forget accuracy", None),
                Column("retain_acc", "retain accuracy"),
                Column("test_acc", "test accuracy"),
                Column("mia_efficacy[confidence,svc]", "MIA efficacy", None),
                Column("spill", "spill", LOWER),
                Column("relapse[max]", "relapse", LOWER),
                Column("speed_up", "speed-up over retraining"),
            ),
            "avg_gap",
            "seen-class accuracy after each step",
            _seen_class_accuracy,
        ),
        Track(
            "language",
            "Unlearning on language (TOFU)",
            ("qa_unlearning",),
            (
                Column("forget_quality", "forget quality"),
                Column("model_utility", "model utility"),
                Column("forget_rouge_l", "forget ROUGE-L", None),
                Column("retain_rouge_l", "retain ROUGE-L"),
            ),
            "forget_quality",
            "model utility after each step",
            _model_utility,
        ),
    )
}
FAMILY_OF_PROTOCOL = {protocol: track.family for track in TRACKS.values() for protocol in track.protocols}


def track_of(protocol: str) -> Track | None:
    """The track of a result's ``scenario.protocol``, or ``None`` when it has none."""
    family = FAMILY_OF_PROTOCOL.get(protocol)
    return None if family is None else TRACKS[family]

