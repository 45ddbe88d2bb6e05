"""The benchmark loop: for each step, learn, evaluate, checkpoint; then score and write the result.

A checkpoint (the pickled method, the records so far, every RNG state, and the fingerprint
of the configuration and the device it was made under) is written atomically after each
finished step, so a run killed at any moment restarts from its last finished step with
``--resume`` and ends with the same numbers as an uninterrupted run. It stores only what the
run changed (:mod:`benchmarks.checkpoints`): frozen backbones by recipe and hash, finished
tasks' modules once, the stream's own tensors by name.

A model whose outputs are NaN or infinite is never scored: :func:`evaluate` stops the run
with :class:`~methods.Diverged`.
"""

from __future__ import annotations

import hashlib
import json
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch
from torch.optim.optimizer import register_optimizer_step_pre_hook

from leaderboard.schema import SCHEMA_VERSION
from methods import Diverged, Method
from methods.base import usable_logits
from metrics import summarize_run
from scenarios import OnlineStream, Stream
from scenarios.qa import QASet

from .checkpoints import discard_checkpoint, save_checkpoint
from .environment import environment, hardware, source_sha256
from .files import json_safe, remove_stale_temporaries, write_json
from .logs import RunLog
from .online import learn_online, probe_features
from .oracle import retrain_oracle
from .plots import plot_online
from .qa_evaluation import evaluate_qa, reference_fingerprint
from .rng import rng_state, set_rng_state

RESULT = "result.json"
ONLINE_PLOT = "online_accuracy.png"
EVAL_BATCH = 512
# Stored log-probabilities are floored here: JSON cannot hold −inf (a class a method rules out,
# e.g. after deleting its module), and KL/JS to the oracle stay finite and recomputable.
LOG_PROB_FLOOR = -1000.0


@dataclass
class RunState:
    """Everything needed to continue a run after its last finished step."""

    next_step: int
    method: Method
    records: list[dict[str, Any]]
    rng: dict[str, Any]
    config_sha256: str = ""  # fingerprint of the run's config.json (benchmarks.run.config_fingerprint)
    device: str = ""  # the device type the run computes on; resuming elsewhere would change its numbers


def evaluate(
    method: Method, x: torch.Tensor, y: torch.Tensor, num_classes: int, outputs: str | None = None
) -> dict[str, Any]:
    """``{"per_class": {class: [correct, total]}}`` of the method's argmax prediction on ``(x, y)``.

    ``outputs="scores"`` adds each sample's ``nll`` (−log p of its label), ``entropy`` of the
    prediction and ``correct`` (0/1); ``"log_probabilities"`` adds every class's log-probability
    (floored at ``LOG_PROB_FLOOR``).
    """
    correct = torch.zeros(num_classes, dtype=torch.int64)
    total = torch.bincount(y, minlength=num_classes)
    usable = torch.ones((), dtype=torch.bool, device=method.device)
    samples: dict[str, list] = {"nll": [], "entropy": [], "correct": [], "log_probabilities": []}
    with torch.no_grad(), method.autocast():
        for start in range(0, len(y), EVAL_BATCH):
            xb = x[start : start + EVAL_BATCH].to(method.device, non_blocking=True)
            yb = y[start : start + EVAL_BATCH]
            logits = method.predict(xb)
            if logits.shape != (len(yb), num_classes):
                raise RuntimeError(
                    f"{type(method).__name__}.predict returned shape {tuple(logits.shape)}, "
                    f"expected ({len(yb)}, {num_classes}): one logit per class seen so far"
                )
            usable &= usable_logits(logits)
            hit = logits.argmax(1).cpu() == yb
            correct += torch.bincount(yb[hit], minlength=num_classes)
            if outputs is not None:
                log_p = torch.log_softmax(logits.float(), 1).clamp_min(LOG_PROB_FLOOR).cpu()
                samples["nll"] += (-log_p.gather(1, yb[:, None])[:, 0]).tolist()
                samples["entropy"] += (-(log_p.exp() * log_p).nan_to_num().sum(1)).tolist()
                samples["correct"] += hit.int().tolist()
                if outputs == "log_probabilities":
                    samples["log_probabilities"] += log_p.tolist()
    if not bool(usable):
        raise Diverged(f"method {method.name!r} diverged: its predictions hold NaN or infinite logits")
    result: dict[str, Any] = {"per_class": {str(c): [int(correct[c]), int(total[c])] for c in range(num_classes)}}
    if outputs is not None:
        result.update({k: v for k, v in samples.items() if k != "log_probabilities" or outputs == "log_probabilities"})
    return result


def evaluate_sets(method: Method, stream: Stream, step_index: int) -> dict[str, dict[str, Any]]:
    """Every evaluation set of ``stream`` after ``step_index``: labelled images with the
    per-sample outputs the stream asks for, question-answering sets as per-sample records."""
    outputs = stream.per_sample_outputs(step_index)
    num_classes = stream.steps[step_index].num_seen_classes
    return {
        name: evaluate_qa(method, data) if isinstance(data, QASet) else evaluate(method, *data, num_classes, outputs.get(name))
        for name, data in stream.evaluation_sets(step_index).items()
    }


def train_reference(stream: Stream, make_method: Callable[[], Method], cache_dir: Path) -> dict[str, Any]:
    """Train a fresh method on the stream's reference step and evaluate it there, leaving the
    global RNG as it found it (so the run's own model starts from the same state).

    The evaluations are cached in ``cache_dir`` under a fingerprint of everything they
    depend on (:func:`reference_fingerprint`), so a later run that would train the same
    reference model (another method, the same seed) reads them instead.
    """
    step = stream.reference_step()
    state = rng_state()
    try:
        reference = make_method()
        path = Path(cache_dir) / f"reference-{reference_fingerprint(stream, reference, state)}.json"
        warning = None
        if path.exists():
            try:
                saved = json.loads(path.read_text())
                if saved.pop("sha256", None) != _json_sha256(saved):
                    raise ValueError("its content does not match its SHA-256")
                return {**saved, "cached": True}
            except (OSError, ValueError, AttributeError) as e:  # unreadable or edited: trained again and rewritten
                warning = f"reference-model cache entry {path} is damaged ({e.__class__.__name__}: {e}): trained again and rewritten"
        t0 = time.perf_counter()
        reference.learn(step)
        t1 = time.perf_counter()
        evaluations = evaluate_sets(reference, stream, step.index)
        record = {"train_seconds": t1 - t0, "eval_seconds": time.perf_counter() - t1, "evaluations": evaluations}
        stored = json_safe(record)
        write_json(path, {**stored, "sha256": _json_sha256(stored)})
        return {**record, "cached": False, **({"warning": warning} if warning else {})}
    finally:
        set_rng_state(state)


def _json_sha256(document: Any) -> str:
    """SHA-256 of a JSON document in canonical form (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _peak_memory(device: torch.device) -> dict[str, Any]:
    if device.type == "cuda":
        return {"peak_memory_bytes": torch.cuda.max_memory_allocated(device), "memory_kind": "cuda_max_allocated"}
    return {"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "memory_kind": "cpu_max_rss"}


class UpdatedParameters:
    """Counts the distinct parameters that any optimiser updates while it is active (through
    torch's global optimiser hook): the parameters a method trains during a step."""

    def __init__(self) -> None:
        self.sizes: dict[int, int] = {}

    def __call__(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        for group in optimizer.param_groups:
            self.sizes.update((id(p), p.numel()) for p in group["params"] if p.grad is not None)

    def __enter__(self) -> "UpdatedParameters":
        self.handle = register_optimizer_step_pre_hook(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.handle.remove()

    @property
    def count(self) -> int:
        return sum(self.sizes.values())


def run_steps(
    stream: Stream,
    state: RunState,
    run_dir: Path,
    log: RunLog,
    oracle_dir: Path | None = None,
    make_method: Callable[[], Method] | None = None,
) -> None:
    """Learn (or forget) and evaluate every step from ``state.next_step`` on, checkpointing after each.

    Retain data reaches ``forget`` only for methods that declare ``needs_retain``. After a
    forget step of an image stream the retrain oracle (cached in ``oracle_dir``) is evaluated
    on the same sets and stored in the record under ``"oracle"``. A stream with a reference
    step (the retain model of a question-answering stream) has ``make_method()`` build a fresh
    method that learns it just before the step it stands for (or reads its evaluations from
    ``oracle_dir``); they are stored under ``"reference"`` in that step's record.
    """
    method = state.method
    online_stream = isinstance(stream, OnlineStream)
    label_space = stream.steps[state.next_step - 1].num_seen_classes if online_stream and state.next_step else 0
    reference_step = stream.reference_step()
    for step in stream.steps[state.next_step :]:
        reference = None
        if reference_step is not None and reference_step.index == step.index and make_method is not None:
            reference = train_reference(stream, make_method, oracle_dir or run_dir / "oracles")
            if "warning" in reference:
                log.warning(reference.pop("warning"), step=step.index)
            how = "cached, trained" if reference["cached"] else "trained"
            log.event("reference", f"reference model: {how} in {reference['train_seconds']:.2f}s", step=step.index)
        if method.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(method.device)
        t0 = time.perf_counter()
        online = None
        with UpdatedParameters() as updated:
            if step.kind == "learn" and online_stream:
                online = learn_online(method, stream, step, label_space)  # predict each batch, then train on it
                label_space = online["label_space"]
            elif step.kind == "learn":
                method.learn(step)
            else:
                method.forget(step if method.needs_retain else replace(step, retain_x=None, retain_y=None))
        if method.device.type == "cuda":
            torch.cuda.synchronize(method.device)
        t1 = time.perf_counter()
        evaluations = evaluate_sets(method, stream, step.index)
        probe = probe_features(method, stream, step.index) if online_stream else None
        t2 = time.perf_counter()
        per_class = next((e["per_class"] for e in evaluations.values() if e["per_class"]), None)  # seen_test first; none for QA sets
        seen_acc = None if per_class is None else sum(c for c, _ in per_class.values()) / max(1, sum(t for _, t in per_class.values()))
        record = {
            "step": step.index,
            "kind": step.kind,
            "train_seconds": t1 - t0,
            "eval_seconds": t2 - t1,
            **_peak_memory(method.device),
            "trained_parameters": updated.count,
            "evaluations": evaluations,
            **({"online": online} if online else {}),
            **({"probe": probe} if probe else {}),
            **({"reference": reference} if reference is not None else {}),
        }
        if step.kind == "forget" and reference_step is None:
            oracle = retrain_oracle(stream, step.index, method.info, method.device, oracle_dir or run_dir / "oracles")
            if oracle.warning:
                log.warning(oracle.warning, step=step.index)
            record["hardware"] = hardware(method.device)  # where train_seconds was measured, for speed_up
            record["oracle"] = {
                "train_seconds": oracle.train_seconds,
                "cached": oracle.cached,
                "hardware": oracle.hardware,
                "evaluations": evaluate_sets(oracle.method, stream, step.index),
            }
        done = replace(state, next_step=step.index + 1, records=[*state.records, record], rng=rng_state())
        t3 = time.perf_counter()
        save_checkpoint(run_dir, done, stream)
        checkpoint_seconds = time.perf_counter() - t3
        state.next_step, state.records, state.rng = done.next_step, done.records, done.rng  # only once it is on disk
        log.event(
            "step_end",
            f"step {step.index + 1}/{len(stream.steps)}  {step.kind} classes {list(step.classes)}  "
            + ("" if seen_acc is None else f"seen-class accuracy {seen_acc:.4f}  ")
            + f"train {t1 - t0:.2f}s  eval {t2 - t1:.2f}s",
            step=step.index,
            seen_class_accuracy=seen_acc,
            train_seconds=t1 - t0,
            eval_seconds=t2 - t1,
            checkpoint_seconds=checkpoint_seconds,
        )


def build_result(stream: Stream, config: dict, hparams: dict, records: list[dict], device: torch.device) -> dict:
    """The ``result.json`` document: config, environment, raw records and derived metrics."""
    steps = [stream.describe_step(s.index) for s in stream.steps]
    return {
        "schema_version": SCHEMA_VERSION,
        "method": {"name": config["method"], "hyperparameters": hparams, "plugins": config["plugins"]},
        "scenario": {
            "name": stream.name,
            "source": stream.source,
            "protocol": stream.protocol,
            "options": stream.options,
            "overrides": config["scenario_overrides"],
            "class_order": list(stream.class_order),
            "class_names": list(stream.class_names),
            "steps": steps,
        },
        "seed": config["seed"],
        "environment": environment(device),
        **summarize_run(stream.protocol, steps, records),
        "steps": records,
        "timing": {
            "train_seconds": sum(r["train_seconds"] for r in records),
            "eval_seconds": sum(r["eval_seconds"] for r in records),
            "peak_memory_bytes": max(r["peak_memory_bytes"] for r in records),
        },
    }


def finish(
    stream: Stream, state: RunState, config: dict, hparams: dict, run_dir: Path, log: RunLog, recipe: dict[str, Any]
) -> Path:
    """Write ``result.json`` (atomically), drop the checkpoint, print the summary table.

    ``recipe`` holds the ``recipe`` flag and ``recipe_sources`` of the method's hyperparameters
    (``benchmarks.recipes``), stored in ``result["method"]``."""
    result = build_result(stream, config, hparams, state.records, state.method.device)
    result["method"].update(recipe)
    result["method"]["details"] = state.method.details()
    result["method"]["source_sha256"] = source_sha256(type(state.method), config["plugins"])
    # The most parameters trained within one step (0 for a method that trains nothing).
    result["method"]["trainable_parameters"] = max(r["trained_parameters"] for r in state.records)
    path = run_dir / RESULT
    write_json(path, result)
    if isinstance(stream, OnlineStream):
        plot_online(result, run_dir / ONLINE_PLOT)
    discard_checkpoint(run_dir)
    remove_stale_temporaries(run_dir)
    print(summary_table(result), flush=True)
    log.event("run_end", result=str(path), **{k: v for k, v in result["metrics"].items() if isinstance(v, float)})
    log.close(result["metrics"])
    return path


def summary_table(result: dict) -> str:
    """The accuracy matrix and the headline metrics as plain text."""
    lines = [f"\n{result['method']['name']} on {result['scenario']['name']} (seed {result['seed']})"]
    if "accuracy_matrix" in result:
        lines.append("accuracy matrix (row: after step i, column: test data of step j)")
        for i, row in enumerate(result["accuracy_matrix"]):
            lines.append(f"  {i:>3} " + " ".join("   -  " if v is None else f"{v:6.3f}" for v in row))
    for name, value in result["metrics"].items():
        if isinstance(value, (int, float)) or value is None:
            lines.append(f"  {name:<30} {'n/a' if value is None or value != value else f'{value:.4f}'}")
    return "\n".join(lines)
