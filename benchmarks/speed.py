"""``python -m benchmarks.speed --method M --scenario P``: where a run's time goes, next to the
throughput the method's backbone reaches alone on the same device.

The run is an ordinary one (the runner's loop, the method's recipe for the preset, ``--set``
values on top) in a temporary folder, with a clock on each phase:

- **start-up**: importing ``benchmarks.run`` (timed in a fresh interpreter), building the
  stream and the method;
- **training steps**: the method's optimiser loops (``fit``, online ``observe``);
- **feature passes**: the rest of learning (prototypes, covariances, online predictions);
- **unlearning**: forget steps;
- **evaluation** and **checkpointing** (after each step); **other**: the rest (oracles).

For each phase it reports seconds, share of the run, images per second and, for the passes
through the backbone (counted as they happen), the ratio to the **bare backbone**: the same
network alone, forward only (at the evaluation batch) or forward and backward with a linear
head (at the method's batch, and at the best batch up to ``--max-batch``), on the same device
and precision, measured before and after the run: the ratios use the mean of the two, and the
report gives how far they differ (``drift``; on a shared machine the device's speed moves). A
frozen ViT is measured training prompt tokens through all its blocks (the pass of prompt and
adapter tuning; as many as the method prepends, ``prompt_tokens``, at least one), another
frozen network with its input requiring a gradient. Online streams set the batch. The **whole
run** ratio is the images trained per second of the whole run over the bare
forward-and-backward throughput. The **floor** is the time the run's own passes would take at
the bare rates (:func:`floor`): the whole-run ratio the method's passes allow at those rates,
and how close this run came to it. Peak memory, the size of the last checkpoint, and the time
the full protocol would take (phases scaled from a run on ``--fraction`` of the data and
``--epochs`` epochs) close the report. ``--json FILE`` writes it all as JSON.

When the preset's dataset is not in the data directory, the run uses synthetic images with
the dataset's shape (:data:`REAL_SIZES`: classes, images per class, side) and says so;
``--image-size`` changes the side (e.g. 224 for ViT-sized input).

Examples::

    python -m benchmarks.speed --method ease --scenario synthetic-cil --set scenario.increment=5
    python -m benchmarks.speed --method l2p --scenario cifar100-b0inc10 --set pretrained=false \\
        --set backbone=vit_base_patch16_224 --image-size 224 --fraction 0.02 --epochs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook

from methods import StreamInfo
from scenarios import DatasetUnavailable, Preset, Stream, build_scenario

from .checkpoints import checkpoint_bytes
from .errors import EnvironmentFailure, UsageError
from .files import write_json
from .logs import RunLog
from .rng import rng_state, seed_everything, set_rng_state
from .run import config_fingerprint, new_config, one_line, parse_args as run_args, prepare
from .runner import EVAL_BATCH, RunState, _peak_memory, run_steps
from .threads import use_threads

#: The shape of each real dataset, for its synthetic stand-in: classes, training and test images
#: per class (rounded means of the published splits), image side, channels.
REAL_SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "cifar10": (10, 5000, 1000, 32, 3),
    "cifar100": (100, 500, 100, 32, 3),
    "mnist": (10, 6000, 1000, 28, 1),
    "emnist": (47, 2400, 400, 28, 1),
    "imagenet_r": (200, 120, 30, 224, 3),
    "imagenet_a": (200, 30, 8, 224, 3),
    "cub": (200, 30, 29, 224, 3),
    "omnibenchmark": (300, 299, 20, 224, 3),
    "vtab": (50, 36, 172, 224, 3),
    "miniimagenet": (100, 500, 100, 84, 3),
}
PHASES = ("start-up", "training steps", "feature passes", "unlearning", "evaluation", "checkpointing", "other")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True)
    p.add_argument("--scenario", default="digits-cil")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="as benchmarks.run")
    p.add_argument("--plugin", action="append", default=[])
    p.add_argument("--threads", default=None, help="as benchmarks.run (default auto)")
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument("--image-size", type=int, default=None, help="side of the synthetic stand-in's images")
    p.add_argument("--fraction", type=float, default=1.0, help="share of each class's images in the synthetic stand-in")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the measured run (the projection scales to the recipe's)")
    p.add_argument("--max-batch", type=int, default=256, help="largest batch tried for the bare backbone's best throughput")
    p.add_argument("--json", type=Path, default=None, help="also write the report as JSON to this file")
    return p.parse_args(argv)


def stand_in(preset: Preset, image_size: int | None, fraction: float) -> tuple[Preset, str]:
    """``preset`` on synthetic images shaped like its dataset (``fraction`` of each class)."""
    if preset.source == "synthetic":
        options = dict(preset.source_options)
    elif preset.source in REAL_SIZES:
        classes, train, test, side, channels = REAL_SIZES[preset.source]
        options = {"num_classes": classes, "train_per_class": train, "test_per_class": test, "image_size": side, "channels": channels}
    else:
        raise UsageError(f"no synthetic stand-in for {preset.source!r} data; put the dataset in the data directory")
    if image_size:
        options["image_size"] = image_size
    for key in ("train_per_class", "test_per_class"):
        full = options.get(key, 500 if key == "train_per_class" else 100)
        options[key] = max(1, round(full * fraction))
    what = f"synthetic stand-in: {options.get('num_classes', 10)} classes × {options['train_per_class']} train / {options['test_per_class']} test images, {options.get('image_size', 32)} px"
    return replace(preset, source="synthetic", source_options=options), what


class _Patched:
    """A clock's wrapper around an instance's attribute ``name``; pickled (in the measured run's
    checkpoints) as that attribute without the wrapper."""

    def __init__(self, owner: Any, name: str, call: Callable) -> None:
        self.owner, self.name, self.call = owner, name, call

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.call(*args, **kwargs)

    def __reduce__(self) -> tuple:
        return (_unpatched, (self.owner, self.name))


def _unpatched(owner: Any, name: str) -> Any:
    return getattr(type(owner), name).__get__(owner)


def patch(owner: Any, name: str, wrap: Callable[[Callable], Callable]) -> None:
    """Replace ``owner.name`` by ``wrap(owner.name)`` on this instance only."""
    setattr(owner, name, _Patched(owner, name, wrap(getattr(owner, name))))


class Clock:
    """Seconds and images of the training phase and the backbone's passes, per phase."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.training_seconds = 0.0
        self.training_images = 0
        self.optimizer_steps = 0
        self.passes: dict[str, int] = {}
        self.phase = "other"

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def timed_training(self, fn: Callable, images: Callable[..., int]) -> Callable:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.sync()
            t0, before = time.perf_counter(), self.phase
            self.phase = "training steps"
            try:
                return fn(*args, **kwargs)
            finally:
                self.sync()
                self.phase = before
                self.training_seconds += time.perf_counter() - t0
                self.training_images += images(*args, **kwargs)

        return wrapper

    def count_passes(self, network: nn.Module) -> None:
        """Count the images of every pass through ``network`` (its ``forward_tokens`` for a PEFT
        ViT, whose prompted passes skip ``forward``), under the phase running at the time."""
        def counting(inner: Callable) -> Callable:
            def counted(x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
                self.passes[self.phase] = self.passes.get(self.phase, 0) + len(x)
                return inner(x, *args, **kwargs)

            return counted

        patch(network, "forward_tokens" if hasattr(network, "forward_tokens") else "forward", counting)

    @contextlib.contextmanager
    def in_phase(self, phase: str) -> Iterator[None]:
        before, self.phase = self.phase, phase
        try:
            yield
        finally:
            self.phase = before

    def __call__(self, optimizer: Any, args: Any, kwargs: Any) -> None:  # optimiser step hook
        self.optimizer_steps += 1


def bare_network(method: Any) -> nn.Module | None:
    """The method's backbone: its ViT, its classifier's backbone, or PEC's teacher."""
    for candidate in (getattr(method, "vit", None), getattr(getattr(method, "model", None), "backbone", None), getattr(method, "teacher", None)):
        if isinstance(candidate, nn.Module):
            return candidate
    return None


def _throughput(step: Callable[[], Any], batch: int, device: torch.device, min_seconds: float = 1.0) -> float:
    """Images per second of ``step`` (one batch): two warm-up calls, then at least three timed
    ones and ``min_seconds``."""
    for _ in range(2):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    count, t0 = 0, time.perf_counter()
    while count < 3 or time.perf_counter() - t0 < min_seconds:
        step()
        count += 1
        if device.type == "cuda" and count % 10 == 0:
            torch.cuda.synchronize(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count * batch / (time.perf_counter() - t0)


def bare_throughput(method: Any, network: nn.Module, shape: tuple[int, ...], batch: int, max_batch: int) -> dict[str, Any]:
    """The backbone alone: forward at the evaluation batch and at ``batch``; forward and backward
    (linear head, cross-entropy, SGD step) at ``batch`` and, when ``max_batch`` exceeds it, at the
    best batch up to ``max_batch``. The network's weights, buffers and the RNG are left as found."""
    device = method.device
    was_training = network.training
    frozen = not any(p.requires_grad for p in network.parameters())
    state = rng_state()
    changing = [*(p for p in network.parameters() if p.requires_grad), *network.buffers()]
    kept = [t.detach().clone() for t in changing]

    def images(n: int) -> torch.Tensor:
        return torch.randint(0, 256, (n, *shape), dtype=torch.uint8, device=device)

    def forward(n: int) -> Callable[[], Any]:
        x = images(n)

        def run() -> Any:
            with torch.no_grad(), method.autocast():
                return network(x)

        return run

    def train_step(n: int) -> Callable[[], Any]:
        x = images(n)
        with torch.no_grad(), method.autocast():
            width = network(x[:1]).flatten(1).shape[1]
        head = nn.Linear(width, 10).to(device)
        params = [*head.parameters(), *(p for p in network.parameters() if p.requires_grad)]
        prompted = frozen and hasattr(network, "forward_tokens")
        if prompted:  # a frozen ViT: train prompt tokens through every block, as prompt and adapter tuning do
            prompt = nn.Parameter(torch.zeros(1, max(1, getattr(method, "prompt_tokens", 1)), width, device=device))
            params.append(prompt)
        optimizer = torch.optim.SGD(params, lr=1e-3)
        y = torch.randint(0, 10, (n,), device=device)
        prepare = getattr(network, "prepare", lambda u: u.float() / 255.0)

        def run() -> None:
            inputs = prepare(x).detach().requires_grad_(frozen and not prompted)  # else back-propagate to the input
            with method.autocast():
                features = network(inputs, prompts=prompt.expand(n, -1, -1)) if prompted else network(inputs)
                loss = F.cross_entropy(head(features.flatten(1)).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return run

    try:
        network.eval()
        out: dict[str, Any] = {
            "forward_eval_batch": EVAL_BATCH,
            "forward_images_per_second_at_eval_batch": _throughput(forward(EVAL_BATCH), EVAL_BATCH, device),
            "forward_images_per_second": _throughput(forward(batch), batch, device),
            "batch": batch,
        }
        network.train(was_training)
        out["train_images_per_second"] = _throughput(train_step(batch), batch, device)
        best, best_batch, n = out["train_images_per_second"], batch, batch * 2
        while n <= max_batch:
            try:
                rate = _throughput(train_step(n), n, device)
            except torch.OutOfMemoryError:
                break
            if rate <= best:
                break
            best, best_batch, n = rate, n, n * 2
        out["best_train_images_per_second"], out["best_batch"] = best, best_batch
        return out
    finally:
        network.train(was_training)
        set_rng_state(state)
        with torch.no_grad():
            for t, value in zip(changing, kept):
                t.copy_(value)


def bare_during(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The bare rates during a run: the mean of those measured before and after it (the best
    batch from after), with ``drift``, the largest relative change between the two: how much
    the device's speed moved while the run went, hence how uncertain the ratios are."""
    rates = ("forward_images_per_second_at_eval_batch", "forward_images_per_second", "train_images_per_second")
    out = dict(after)
    out.update({key: (before[key] + after[key]) / 2 for key in rates})
    out["drift"] = max(abs(after[key] / before[key] - 1) for key in rates)
    return out


def import_seconds() -> float:
    """Wall seconds of ``python -c "import benchmarks.run"`` in a fresh interpreter, plus importing
    ``torch._dynamo`` here: torch imports it when the first optimiser is made (1–2 s on a CPU),
    which belongs to start-up, not to the first training step."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import benchmarks.run"], check=True, cwd=Path(__file__).resolve().parent.parent)
    import torch._dynamo  # noqa: F401

    return time.perf_counter() - t0


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark with clocks on its phases; the report as a dictionary."""
    startup = import_seconds()
    t0 = time.perf_counter()
    run = run_args(["--method", args.method, "--scenario", args.scenario, "--device", args.device, "--seed", str(args.seed),
                    *(a for s in args.settings for a in ("--set", s)), *(a for p in args.plugin for a in ("--plugin", p)),
                    *(["--data-dir", str(args.data_dir)] if args.data_dir else []), *(["--threads", args.threads] if args.threads else [])])
    with tempfile.TemporaryDirectory(prefix="club-speed-") as folder:
        run.out = Path(folder)
        config = new_config(run)
        plan = prepare(config, run)
        hparams = dict(plan.hparams)
        recipe_epochs = hparams.get("epochs", plan.method_cls.hyperparameters().get("epochs"))
        if args.epochs is not None:
            hparams["epochs"] = args.epochs
        seed_everything(config["seed"])
        stream = None
        if plan.preset.source != "synthetic":
            with contextlib.suppress(DatasetUnavailable):
                stream, data = build_scenario(plan.preset, config["seed"], Path(config["data_dir"]), download=False), f"{plan.preset.source} data"
        if stream is None:
            preset, data = stand_in(plan.preset, args.image_size, args.fraction)
            stream = build_scenario(preset, config["seed"], Path(config["data_dir"]))
        elif args.fraction != 1.0 or args.image_size:
            raise UsageError("--fraction and --image-size shape the synthetic stand-in; this preset's data is present")
        info = StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), plan.preset.backbone, getattr(stream, "vocabulary", ()))
        method = plan.method_cls(info, plan.device, **hparams)
        threads = use_threads(config["threads"], method, plan.device)
        startup += time.perf_counter() - t0
        report = run_with_clocks(method, stream, plan, hparams, Path(folder), config, startup, args)
        report.update(data=data, threads=threads, recipe_epochs=recipe_epochs, measured_epochs=hparams.get("epochs"))
        report["projection"] = project(report, args.fraction if data != "real" else 1.0)
        return report


def run_with_clocks(method: Any, stream: Stream, plan: Any, hparams: dict, folder: Path, config: dict, startup: float, args: argparse.Namespace) -> dict[str, Any]:
    device = plan.device
    clock = Clock(device)
    network = bare_network(method)
    batch = getattr(stream, "batch_size", None) or int(getattr(method, "batch_size", 32))  # online streams set the batch
    if network is not None:
        before = bare_throughput(method, network, tuple(stream.input_shape), batch, batch)
        clock.count_passes(network)
    if hasattr(method, "fit"):
        patch(method, "fit", lambda fit: clock.timed_training(fit, lambda x, y, step: len(y) * method.epochs))
    if hasattr(method, "observe"):
        patch(method, "observe", lambda observe: clock.timed_training(observe, lambda batch: len(batch.y) * batch.updates))
    learn, forget = method.learn, method.forget
    learn_seconds = {"seconds": 0.0, "stepped": 0.0}

    def timed_learn(step: Any) -> None:
        steps_before, t0 = clock.optimizer_steps, time.perf_counter()
        with clock.in_phase("feature passes"):
            learn(step)
        clock.sync()
        seconds = time.perf_counter() - t0
        learn_seconds["seconds"] += seconds
        if not hasattr(method, "fit") and clock.optimizer_steps > steps_before:
            learn_seconds["stepped"] += seconds  # a method whose learn is its optimiser loop (e.g. PEC)
            clock.training_images += len(step.y) * getattr(method, "epochs", 1)

    def timed_forget(step: Any) -> None:
        with clock.in_phase("unlearning"):
            forget(step)

    patch(method, "learn", lambda _: timed_learn)
    patch(method, "forget", lambda _: timed_forget)
    state = RunState(next_step=0, method=method, records=[], rng=rng_state(), config_sha256=config_fingerprint(config), device=device.type)
    log = RunLog(folder, config, False)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    handle = register_optimizer_step_post_hook(clock)
    t0 = time.perf_counter()
    try:
        with clock.in_phase("evaluation"):  # what is not learning or forgetting: evaluation (and oracles, whose passes are not counted)
            run_steps(stream, state, folder, log, oracle_dir=folder / "oracles", make_method=lambda: plan.method_cls(method.info, device, **hparams))
    finally:
        handle.remove()
        log.close()
    total = time.perf_counter() - t0
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    checkpoint = sum(e.get("checkpoint_seconds", 0.0) for e in events if e.get("event") == "step_end")
    records = state.records
    evaluation = sum(r["eval_seconds"] for r in records)
    forgetting = sum(r["train_seconds"] for r in records if r["kind"] == "forget")
    training = clock.training_seconds + learn_seconds["stepped"]
    features = learn_seconds["seconds"] - clock.training_seconds - learn_seconds["stepped"]
    evaluated = sum(sum(t for _, t in e["per_class"].values()) for r in records for e in r["evaluations"].values())
    seconds = {
        "start-up": startup, "training steps": training, "feature passes": max(0.0, features), "unlearning": forgetting,
        "evaluation": evaluation, "checkpointing": checkpoint,
    }
    seconds["other"] = max(0.0, total - sum(v for k, v in seconds.items() if k != "start-up"))
    whole = startup + total
    images = {"training steps": clock.training_images, "evaluation": evaluated}
    passes_by_phase = dict(clock.passes)  # before the bare measurement passes through the same network
    bare = None
    if network is not None:
        bare = bare_during(before, bare_throughput(method, network, tuple(stream.input_shape), batch, args.max_batch))
    phases = {}
    for name in PHASES:
        entry: dict[str, Any] = {"seconds": seconds[name], "share": seconds[name] / whole if whole else 0.0}
        if images.get(name):
            entry["images"] = images[name]
            entry["images_per_second"] = images[name] / seconds[name] if seconds[name] else None
        passes = passes_by_phase.get(name)
        if passes:
            entry["backbone_passes"] = passes
            entry["passes_per_second"] = passes / seconds[name] if seconds[name] else None
        if bare is not None and entry.get("images_per_second") and name == "training steps":
            entry["bare_images_per_second"] = bare["train_images_per_second"]
            entry["ratio"] = entry["images_per_second"] / bare["train_images_per_second"]
        elif bare is not None and entry.get("passes_per_second") and name in ("feature passes", "evaluation"):
            entry["bare_images_per_second"] = bare["forward_images_per_second_at_eval_batch"]
            entry["ratio"] = entry["passes_per_second"] / bare["forward_images_per_second_at_eval_batch"]
        phases[name] = entry
    trained = clock.training_images
    report: dict[str, Any] = {
        "method": args.method, "scenario": args.scenario, "device": str(device), "settings": args.settings,
        "steps": len(stream.steps), "phases": phases, "bare": bare,
        "run_seconds": whole, "learning_seconds": training + max(0.0, features),
        "peak_memory_bytes": _peak_memory(device)["peak_memory_bytes"], "checkpoint_bytes": checkpoint_bytes(folder),
    }
    if bare is not None and trained:
        report["whole_run"] = {
            "trained_images_per_second": trained / whole,
            "trained_images_per_second_after_start_up": trained / total,
            "ratio": trained / whole / bare["train_images_per_second"],
            "ratio_after_start_up": trained / total / bare["train_images_per_second"],
        }
        report["floor"] = floor(trained, passes_by_phase, bare, total)
    return report


def floor(trained: int, passes: dict[str, int], bare: dict[str, Any], seconds_after_start_up: float) -> dict[str, Any]:
    """The least time the run's own passes take at the bare backbone's rates: each trained image
    at the bare forward-and-backward rate (at the method's batch), every other counted pass
    (queries, prototypes, teachers, evaluation) at the bare forward rate at the evaluation batch.

    ``whole_run_ratio`` (trained images per second of the floor over bare training) is the
    whole-run ratio the method's passes allow, start-up excluded, when each runs at the bare
    rate of its kind; ``pace`` is the floor's seconds over the run's (start-up excluded): 1 is a
    run with no cost beyond its passes. A method whose own pass is cheaper than the bare one of
    its kind (an adapter step next to prompt tuning through every block) can exceed 1."""
    forward_only = sum(passes.values()) - min(trained, passes.get("training steps", 0))
    seconds = trained / bare["train_images_per_second"] + forward_only / bare["forward_images_per_second_at_eval_batch"]
    return {
        "seconds": seconds,
        "forward_only_passes": forward_only,
        "whole_run_ratio": trained / seconds / bare["train_images_per_second"],
        "pace": seconds / seconds_after_start_up if seconds_after_start_up else None,
    }


def project(report: dict[str, Any], fraction: float) -> dict[str, Any]:
    """The full protocol's time from the measured phases: training scaled by the data and epoch
    ratios, the passes and evaluation by the data ratio, the rest as measured."""
    data = 1.0 / fraction
    epochs = (report["recipe_epochs"] or 1) / (report["measured_epochs"] or 1) if report.get("measured_epochs") else 1.0
    scale = {"training steps": data * epochs, "feature passes": data, "unlearning": data, "evaluation": data}
    phases = {name: entry["seconds"] * scale.get(name, 1.0) for name, entry in report["phases"].items()}
    return {"seconds": sum(phases.values()), "phases": phases, "data_scale": data, "epoch_scale": epochs}


def _fmt(value: Any, spec: str = ".1f") -> str:
    return "—" if value is None else format(value, spec)


def table(report: dict[str, Any]) -> str:
    lines = [
        f"{report['method']} on {report['scenario']} ({report['data']}), device {report['device']}, {report['threads']} thread(s), {report['steps']} steps",
        f"{'phase':<16}{'seconds':>9}{'share':>7}{'images/s':>11}{'passes/s':>11}{'bare/s':>10}{'ratio':>7}",
    ]
    for name, p in report["phases"].items():
        if not p["seconds"] and not p.get("images"):
            continue
        lines.append(
            f"{name:<16}{p['seconds']:>9.2f}{p['share']:>7.1%}{_fmt(p.get('images_per_second'), '.0f'):>11}"
            f"{_fmt(p.get('passes_per_second'), '.0f'):>11}{_fmt(p.get('bare_images_per_second'), '.0f'):>10}{_fmt(p.get('ratio'), '.2f'):>7}"
        )
    bare = report.get("bare")
    if bare:
        lines.append(
            f"bare backbone: forward {bare['forward_images_per_second_at_eval_batch']:.0f} img/s (batch {bare['forward_eval_batch']}), "
            f"{bare['forward_images_per_second']:.0f} img/s (batch {bare['batch']}); forward+backward {bare['train_images_per_second']:.0f} img/s "
            f"(batch {bare['batch']}), best {bare['best_train_images_per_second']:.0f} img/s (batch {bare['best_batch']}); "
            f"means of before and after the run, which differ by up to {bare['drift']:.0%}"
        )
    if "whole_run" in report:
        w = report["whole_run"]
        lines.append(f"whole run: {w['trained_images_per_second']:.0f} trained img/s = {w['ratio']:.2f} of bare training ({w['ratio_after_start_up']:.2f} after start-up)")
        f = report["floor"]
        lines.append(
            f"floor: this run's passes at the bare rates take {f['seconds']:.2f} s (trained images at bare forward+backward, "
            f"{f['forward_only_passes']} other passes at bare forward): whole run at most {f['whole_run_ratio']:.2f} of bare training; "
            f"this run went at {f['pace']:.2f} of the floor's pace after start-up"
        )
    lines.append(
        f"learning {report['learning_seconds']:.2f} s, evaluation {report['phases']['evaluation']['seconds']:.2f} s "
        f"({report['phases']['evaluation']['seconds'] / max(report['learning_seconds'], 1e-9):.2f}× learning); "
        f"peak memory {report['peak_memory_bytes'] / 2**20:.0f} MiB; last checkpoint {report['checkpoint_bytes'] / 2**20:.2f} MiB"
    )
    p = report["projection"]
    lines.append(f"projected full protocol: {p['seconds'] / 60:.1f} min (data ×{p['data_scale']:.3g}, epochs ×{p['epoch_scale']:.3g})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not 0.0 < args.fraction <= 1.0:
            raise UsageError(f"--fraction {args.fraction}: a share of each class's images, in (0, 1]")
        report = measure(args)
    except UsageError as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 2
    except (EnvironmentFailure, OSError) as e:
        print(f"error: {one_line(e)}", file=sys.stderr)
        return 1
    print(table(report))
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
