"""``python -m benchmarks.speed_compare --baseline DIR``: this checkout against another one (e.g.
an older commit in a ``git worktree``), side by side on the same machine.

Each measurement runs the same command in both checkouts (``PYTHONPATH`` pointing at each, the
same interpreter and packages), alternating baseline and current ``--repeat`` times so that the
machine's load falls on both; the report gives medians and the ratio current/baseline, with the
command next to each figure. On a shared machine only the ratios mean something.

Measurements (``--only`` picks some):

- ``import``: ``python -c "import benchmarks.run"``;
- ``default``: ``python -m benchmarks.run --method ease`` (the README's first command);
- ``online``: ``sgd``, ``upgd`` and ``pec`` on ``digits-online-cil`` with batches of 1 and on
  ``digits-label-permuted`` (batch 1): samples per second of the whole command and of the online
  loop (the training time of every step after the first, which also pays torch's one-time
  import of ``torch._dynamo``), and whether the online accuracy is identical;
- ``ease20``: EASE on ``synthetic-cil`` in 20 tasks at 32 px: learning and evaluation time;
- ``checkpoint``: the checkpoint of a random-init ViT-B/16 run (L2P and EASE, synthetic 224 px,
  two tasks finished): its size on disk (killed after the second step, as a crash would).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from .files import write_json

CURRENT = Path(__file__).resolve().parent.parent
ONLINE = {
    "digits-online-cil (batch 1)": ["--scenario", "digits-online-cil", "--set", "scenario.batch_size=1"],
    "digits-label-permuted": ["--scenario", "digits-label-permuted"],
}
VIT_B = [
    "--scenario", "synthetic-cil", "--set", "pretrained=false", "--set", "backbone=vit_base_patch16_224",
    "--set", "scenario.image_size=224", "--set", "scenario.train_per_class=2", "--set", "scenario.test_per_class=1",
    "--set", "epochs=1", "--device", "cpu",
]


#: ``--torch-threads one`` (default) runs both checkouts with ``OMP_NUM_THREADS=1``; ``default``
#: leaves it unset, as a user's shell does (torch's own thread count in the baseline, ``--threads
#: auto`` in a checkout that has it).
THREAD_ENV = {"one": {"OMP_NUM_THREADS": "1"}, "default": {}}
_threads = "one"


def _env(repo: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    return {**env, "PYTHONPATH": str(repo), **THREAD_ENV[_threads], "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}


def timed(repo: Path, args: list[str]) -> tuple[float, Path]:
    """Wall seconds of ``python ARGS`` run with ``repo`` first on the path, in a fresh folder
    (returned: runs write there)."""
    folder = Path(tempfile.mkdtemp(prefix="club-compare-"))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], cwd=folder, env=_env(repo), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, folder


def result_of(folder: Path) -> dict[str, Any]:
    (path,) = folder.glob("**/result.json")
    return json.loads(path.read_text())


def run_args(*args: str) -> list[str]:
    return ["-m", "benchmarks.run", *args, "--out", "runs"]


def side_by_side(baseline: Path, repeat: int, measure: Callable[[Path], dict[str, float]]) -> dict[str, dict[str, float]]:
    """``measure`` in both checkouts, alternating, ``repeat`` times; the median of each figure."""
    figures: dict[str, dict[str, list[float]]] = {"baseline": {}, "current": {}}
    for _ in range(repeat):
        for name, repo in (("baseline", baseline), ("current", CURRENT)):
            for key, value in measure(repo).items():
                figures[name].setdefault(key, []).append(value)
    return {name: {key: statistics.median(values) for key, values in found.items()} for name, found in figures.items()}


def online_samples(result: dict[str, Any]) -> int:
    return sum(total for step in result["steps"] for _, total in step["online"]["windows"])


def measure_online(args: list[str]) -> Callable[[Path], dict[str, float]]:
    def measure(repo: Path) -> dict[str, float]:
        seconds, folder = timed(repo, run_args(*args, "--device", "cpu"))
        result = result_of(folder)
        samples = online_samples(result)
        return {
            "samples_per_second": samples / seconds,
            # steps after the first: the first also pays torch's one-time import of torch._dynamo,
            # which torch does when the first optimiser is made
            "loop_samples_per_second": online_samples({"steps": result["steps"][1:]}) / sum(s["train_seconds"] for s in result["steps"][1:]),
            "online_accuracy": result["metrics"]["online_accuracy"],
        }

    return measure


def measure_ease20(repo: Path) -> dict[str, float]:
    seconds, folder = timed(repo, run_args("--method", "ease", "--scenario", "synthetic-cil", "--set", "scenario.increment=5", "--device", "cpu"))
    timing = result_of(folder)["timing"]
    return {"wall_seconds": seconds, "learn_seconds": timing["train_seconds"], "eval_seconds": timing["eval_seconds"],
            "eval_per_learn": timing["eval_seconds"] / timing["train_seconds"]}


def checkpoint_size(repo: Path, method: str) -> dict[str, float]:
    """Bytes of the checkpoint (and its parts) after the second finished step of a ViT-B run."""
    folder = Path(tempfile.mkdtemp(prefix="club-compare-"))
    proc = subprocess.Popen([sys.executable, *run_args("--method", method, *VIT_B)], cwd=folder, env=_env(repo),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while proc.poll() is None:
            events = list(folder.glob("runs/*/events.jsonl"))
            if events and events[0].read_text().count('"step_end"') >= 2:
                os.kill(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    finally:
        proc.wait()
    run_dir = events[0].parent
    files = [run_dir / "checkpoint.pt", *(run_dir / "checkpoint-parts").glob("*.pt")]
    return {"checkpoint_bytes": float(sum(f.stat().st_size for f in files if f.is_file()))}


def _line(label: str, command: str, result: dict[str, dict[str, float]], key: str, unit: str, better: str = "higher") -> str:
    old, new = result["baseline"][key], result["current"][key]
    ratio = new / old if old else float("nan")
    return f"| {label} | `{command}` | {old:.4g} {unit} | {new:.4g} {unit} | {ratio:.3g} |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed_compare", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, required=True, help="the other checkout (a folder holding benchmarks/, methods/, ...)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", action="append", choices=("import", "default", "online", "ease20", "checkpoint"))
    p.add_argument("--json", type=Path, help="also write every median as JSON")
    p.add_argument("--torch-threads", choices=tuple(THREAD_ENV), default="one",
                   help="one: OMP_NUM_THREADS=1 for both checkouts (default); default: unset, as in a user's shell")
    args = p.parse_args(argv)
    global _threads
    _threads = args.torch_threads
    baseline = args.baseline.resolve()
    if not (baseline / "benchmarks" / "run.py").is_file():
        print(f"error: --baseline {baseline} is not a CLUB checkout", file=sys.stderr)
        return 2
    chosen = args.only or ["import", "default", "online", "ease20", "checkpoint"]
    rows = ["| figure | command | baseline | current | current/baseline |", "| --- | --- | --- | --- | --- |"]
    report: dict[str, Any] = {}

    def add(name: str, result: dict[str, dict[str, float]], *lines: str) -> None:
        report[name] = result
        rows.extend(lines)
        print("\n".join(lines), flush=True)

    if "import" in chosen:
        command = 'python -c "import benchmarks.run"'
        result = side_by_side(baseline, args.repeat, lambda repo: {"seconds": timed(repo, ["-c", "import benchmarks.run"])[0]})
        add("import", result, _line("import time", command, result, "seconds", "s"))
    if "default" in chosen:
        command = "python -m benchmarks.run --method ease"
        result = side_by_side(baseline, args.repeat, lambda repo: {"seconds": timed(repo, run_args("--method", "ease"))[0]})
        add("default", result, _line("default command, wall", command, result, "seconds", "s"))
    if "online" in chosen:
        for method in ("sgd", "upgd", "pec"):
            for label, scenario in ONLINE.items():
                command = "python -m benchmarks.run " + shlex.join(["--method", method, *scenario, "--device", "cpu"])
                result = side_by_side(baseline, args.repeat, measure_online(["--method", method, *scenario]))
                same = result["baseline"]["online_accuracy"] == result["current"]["online_accuracy"]
                add(f"online {method} {label}", result,
                    _line(f"{method}, {label}: samples/s, whole command", command, result, "samples_per_second", "/s"),
                    _line(f"{method}, {label}: samples/s, online loop (steps 2+)", command, result, "loop_samples_per_second", "/s"),
                    f"| {method}, {label}: online accuracy | `{command}` | {result['baseline']['online_accuracy']:.6f} | "
                    f"{result['current']['online_accuracy']:.6f} | {'identical' if same else 'DIFFERENT'} |")
    if "ease20" in chosen:
        command = "python -m benchmarks.run --method ease --scenario synthetic-cil --set scenario.increment=5 --device cpu"
        result = side_by_side(baseline, args.repeat, measure_ease20)
        add("ease20", result, *(_line(f"EASE 20 tasks: {key}", command, result, key, unit)
                                for key, unit in (("wall_seconds", "s"), ("learn_seconds", "s"), ("eval_seconds", "s"), ("eval_per_learn", "×"))))
    if "checkpoint" in chosen:
        for method in ("l2p", "ease"):
            command = "python -m benchmarks.run " + shlex.join(["--method", method, *VIT_B]) + "  (size after step 2)"
            result = side_by_side(baseline, 1, lambda repo, m=method: checkpoint_size(repo, m))
            add(f"checkpoint {method}", result, _line(f"ViT-B {method} checkpoint", command, result, "checkpoint_bytes", "B"))
    print("\n" + "\n".join(rows))
    if args.json:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
