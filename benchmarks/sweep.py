"""``python -m benchmarks.sweep``: methods × scenarios × seeds (× grid points), each an ordinary run.

Examples::

    python -m benchmarks.sweep --methods finetune,er,nmc --seeds 0-4 --out sweeps/digits
    python -m benchmarks.sweep --methods er --seeds 0-2 --grid scenario.order=0,1,2 --grid lr=0.01,0.05
    python -m benchmarks.sweep sweep.yaml --backend ray --address auto --gpus-per-run 0.25
    python -m benchmarks.sweep --resume sweeps/digits          # or the same command again
    python -m benchmarks.report sweeps/digits

Every run is ``python -m benchmarks.run`` with its own ``--out`` folder under the sweep folder
(``<scenario>/<method>[/<grid point>]/seed-<n>/``), so a sweep folder is a tree of ordinary
run folders. Launched again, a sweep skips the runs that have a ``result.json`` and continues
interrupted ones with ``--resume``. A run that fails is tried once more (from its last
finished step), then recorded as failed with its error while the others go on.
``sweep.json`` holds the grid, ``state.json`` every run's status (rewritten atomically).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from .errors import UsageError
from .sweep_backends import BackendUnavailable, LocalBackend, RayBackend
from .sweep_cell import Attempt, finished, run_folder
from .sweep_grid import Cell, Grid, parse_grid, parse_names, parse_seeds, read_sweep_file

SWEEP_JSON = "sweep.json"
STATE_JSON = "state.json"
LOCK = ".sweep.lock"
ATTEMPTS = 2  # a failed run is tried once more, then recorded as failed
DEFAULT_SCENARIO = "digits-cil"


@dataclass
class Execution:
    """How a sweep runs (not what): these may change from one launch of a sweep to the next."""

    backend: str = "local"
    address: str | None = None
    workers: int | None = None
    cpus_per_run: int = 1
    gpus_per_run: float | None = None  # None: one GPU per run when runs use GPUs
    send_back: bool = False


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, as every usage error
        raise UsageError(message)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog="python -m benchmarks.sweep", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", type=Path, help="a sweep file (.yaml, .yml or .toml) naming the options below; flags override it")
    p.add_argument("--methods", help="comma-separated registered methods")
    p.add_argument("--scenarios", help=f"comma-separated scenario presets (default {DEFAULT_SCENARIO})")
    p.add_argument("--seeds", help="seeds, e.g. 0-4 or 0,2,5 (default 0)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="a setting of every run (as benchmarks.run --set); repeatable")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2", help="a setting swept over values, e.g. scenario.order=0,1,2; repeatable (Cartesian product)")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE", help="a file or module that registers methods; repeatable")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="device of every run (default auto)")
    p.add_argument("--data-dir", type=Path, help="dataset cache of every run (default: the runs' own default)")
    p.add_argument("--out", type=Path, help="the sweep folder (default sweeps/sweep-<date>-<time>)")
    p.add_argument("--resume", type=Path, metavar="SWEEP_DIR", help="continue the sweep in SWEEP_DIR with the grid it stored")
    p.add_argument("--backend", choices=["local", "ray"], help="local worker processes (default) or Ray tasks")
    p.add_argument("--address", help="Ray cluster to use (ray://host:10001 or auto); default: a local Ray instance")
    p.add_argument("--workers", type=int, help="runs at once (local default: CPU cores / cpus-per-run, or one per GPU share)")
    p.add_argument("--cpus-per-run", type=int, help="CPU cores (and threads) of each run (default 1)")
    p.add_argument("--gpus-per-run", type=float, help="GPUs of each run, a fraction to share a GPU (default 1 when runs use GPUs)")
    p.add_argument("--send-back", action="store_true", default=None, help="Ray without a shared file system: run folders come back to the driver")
    return p.parse_args(argv)


def configure(args: argparse.Namespace) -> tuple[Grid, Execution, Path]:
    """The grid, how to run it and the sweep folder, from the flags, a sweep file or a stored sweep."""
    grid_flags = [f for f in ("methods", "scenarios", "seeds", "device", "data_dir") if getattr(args, f) is not None]
    grid_flags += [f for f in ("settings", "grid", "plugin") if getattr(args, f)]
    stored_execution: dict[str, Any] = {}
    if args.resume is not None:
        if args.file is not None or grid_flags or args.out is not None:
            given = "a sweep file" if args.file is not None else f"--{(grid_flags or ['out'])[0].replace('_', '-')}"
            raise UsageError(f"--resume takes the grid from {args.resume / SWEEP_JSON}; drop {given}")
        stored = _read_sweep_json(args.resume)
        if stored is None:
            raise UsageError(f"--resume {args.resume}: not a sweep folder (no readable {SWEEP_JSON})")
        try:
            grid, stored_execution, sweep_dir = Grid.from_json(stored["grid"]), stored.get("execution", {}), args.resume
        except (KeyError, TypeError):
            raise UsageError(f"--resume {args.resume}: {SWEEP_JSON} does not describe a grid") from None
        file_options: dict[str, Any] = {}
    else:
        file_options = read_sweep_file(args.file) if args.file is not None else {}
        grid = _grid(args, file_options)
        out = args.out or (Path(file_options["out"]) if "out" in file_options else None)
        sweep_dir = out or Path("sweeps") / f"sweep-{time.strftime('%Y%m%d-%H%M%S')}"
        stored = _read_sweep_json(sweep_dir)
        if stored is not None:
            if stored.get("grid") != grid.to_json():
                raise UsageError(
                    f"{sweep_dir} holds another sweep's grid ({SWEEP_JSON}); choose another --out, or continue it with --resume {sweep_dir}"
                )
            stored_execution = stored.get("execution", {})
    fields = {k: v for k, v in {**stored_execution, **file_options}.items() if k in Execution.__dataclass_fields__}
    flags = {k: getattr(args, k) for k in Execution.__dataclass_fields__ if getattr(args, k) is not None}
    previous = fields.get("backend", "local")
    if flags.get("backend", previous) != previous:  # another backend than stored: its Ray options go
        fields = {k: v for k, v in fields.items() if k not in ("address", "send_back")}
    execution = Execution(**{**fields, **flags})
    _check_execution(execution)
    return grid, execution, sweep_dir


def _grid(args: argparse.Namespace, file: dict[str, Any]) -> Grid:
    from .settings import parse_pairs

    methods = args.methods if args.methods is not None else file.get("methods")
    if methods is None:
        raise UsageError("--methods is required (or a sweep file naming methods, or --resume SWEEP_DIR)")
    seeds = args.seeds if args.seeds is not None else file.get("seeds", "0")
    settings = parse_pairs([*file.get("set", []), *args.settings])
    grid = {**file.get("grid", {}), **parse_grid(args.grid)}
    both = sorted(set(grid) & set(settings))
    if both:
        raise UsageError(f"{both[0]!r} is both set (--set) and swept (--grid); keep one")
    if any(not values for values in grid.values()):
        raise UsageError("every --grid setting needs at least one value")
    file_plugins = file.get("plugins", [])
    plugins = [*([file_plugins] if isinstance(file_plugins, str) else file_plugins), *args.plugin]
    data_dir = args.data_dir if args.data_dir is not None else file.get("data_dir")
    return Grid(
        methods=parse_names(methods, "--methods"),
        scenarios=parse_names(args.scenarios if args.scenarios is not None else file.get("scenarios", DEFAULT_SCENARIO), "--scenarios"),
        seeds=parse_seeds(",".join(map(str, seeds)) if isinstance(seeds, list) else seeds),
        settings=settings,
        grid=grid,
        plugins=[str(Path(p).resolve()) if Path(p).is_file() else p for p in plugins],
        device=args.device or file.get("device", "auto"),
        data_dir=str(Path(data_dir).expanduser().resolve()) if data_dir is not None else None,
    )


def _check_execution(execution: Execution) -> None:
    kinds = {"backend": str, "address": str, "workers": int, "cpus_per_run": int, "gpus_per_run": (int, float), "send_back": bool}
    for name, kind in kinds.items():
        value = getattr(execution, name)
        if value is not None and (not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))):
            raise UsageError(f"{name} must be {'a number' if name == 'gpus_per_run' else kind.__name__}, got {value!r}")
    if execution.backend not in ("local", "ray"):
        raise UsageError(f"--backend must be local or ray, got {execution.backend!r}")
    if execution.workers is not None and execution.workers < 1:
        raise UsageError("--workers must be at least 1")
    if execution.cpus_per_run < 1:
        raise UsageError("--cpus-per-run must be at least 1")
    if execution.gpus_per_run is not None and execution.gpus_per_run < 0:
        raise UsageError("--gpus-per-run cannot be negative")
    if execution.backend == "local" and (execution.address or execution.send_back):
        raise UsageError(f"--{'address' if execution.address else 'send-back'} is an option of --backend ray")


def _read_sweep_json(sweep_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((sweep_dir / SWEEP_JSON).read_text())
    except (OSError, ValueError):
        return None


def validate(grid: Grid) -> None:
    """Refuse, before any run starts, what every run of a cell would refuse: unknown names,
    a method a scenario's protocol cannot run, settings a method does not have."""
    from methods import get_method, load_plugin
    from scenarios import PRESETS, PROTOCOL_MODALITY

    from .run import check_capability
    from .settings import split_settings

    for plugin in grid.plugins:
        try:
            load_plugin(plugin)
        except (ImportError, FileNotFoundError, ValueError, TypeError) as e:
            raise UsageError(f"--plugin {plugin}: {e}") from None
    for scenario in grid.scenarios:
        if scenario not in PRESETS:
            raise UsageError(f"unknown scenario {scenario!r}; choose from {', '.join(PRESETS)}")
        for method in grid.methods:
            try:
                method_cls = get_method(method, PROTOCOL_MODALITY[PRESETS[scenario].protocol])
            except KeyError as e:
                raise UsageError(f"scenario {scenario}: {e.args[0]}") from None
            check_capability(method, method_cls, PRESETS[scenario])
            for point in grid.points():
                split_settings({**grid.settings, **dict(point)}, method, method_cls.hyperparameters())


class SweepState:
    """``state.json``: each cell's status (``pending``, ``running``, ``done``, ``failed``,
    ``interrupted``), attempts in this launch, seconds, run folder and error."""

    def __init__(self, sweep_dir: Path, cells: list[Cell]) -> None:
        self.path = sweep_dir / STATE_JSON
        try:
            previous = json.loads(self.path.read_text()).get("runs", {})
        except (OSError, ValueError):
            previous = {}
        self.runs: dict[str, dict[str, Any]] = {c.path: {**previous.get(c.path, {}), "status": "pending", "attempts": 0} for c in cells}

    def update(self, cell: Cell, **fields: Any) -> None:
        self.runs[cell.path].update(fields)

    def count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.runs.values())

    def save(self) -> None:
        from .files import write_json

        counts = {s: self.count(s) for s in ("done", "running", "failed", "pending", "interrupted")}
        write_json(self.path, {"updated": time.strftime("%Y-%m-%dT%H:%M:%S"), "counts": counts, "runs": self.runs})


class Progress:
    """Runs done, running and failed and the projected time left: a live line on a terminal,
    a plain line per event otherwise (logs, CI)."""

    def __init__(self, state: SweepState, capacity: int, out: TextIO | None = None, live: TextIO | None = None) -> None:
        self.state, self.capacity, self.out = state, capacity, out or sys.stdout
        self.live = live if live is not None else (sys.stderr if sys.stderr.isatty() else None)
        self.durations: list[float] = []
        self.started: dict[str, float] = {}

    def line(self) -> str:
        s, in_flight = self.state, len(self.started)
        running = min(in_flight, self.capacity)
        queued = f", {in_flight - running} queued" if in_flight > running else ""
        return f"{s.count('done')}/{len(s.runs)} done, {running} running{queued}, {s.count('failed')} failed, {self.time_left()}"

    def time_left(self) -> str:
        """The runs left times the mean run time so far, shared by the runs that execute at once
        (the ``capacity`` oldest attempts in flight count as running, minus their time so far)."""
        if not self.durations:
            return "time left known after the first run"
        mean = sum(self.durations) / len(self.durations)
        now = time.monotonic()
        starts = sorted(self.started.values())
        running, waiting = starts[: self.capacity], len(starts[self.capacity :])
        pending = self.state.count("pending") + waiting
        work = pending * mean + sum(max(0.0, mean - (now - t)) for t in running)
        return f"about {_duration(work / max(1, min(self.capacity, pending + len(running))))} left"

    def event(self, message: str) -> None:
        if self.live is not None:
            self.live.write("\r\033[K")
            print(message, file=self.out, flush=True)
            self.refresh()
        else:
            print(f"[{self.line()}] {message}", file=self.out, flush=True)

    def refresh(self) -> None:
        if self.live is not None:
            self.live.write(f"\r\033[Ksweep: {self.line()}")
            self.live.flush()

    def close(self) -> None:
        if self.live is not None:
            self.live.write("\r\033[K")
            self.live.flush()


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def drive(grid: Grid, sweep_dir: Path, backend: Any, progress_out: TextIO | None = None) -> SweepState:
    """Run every unfinished cell of ``grid`` on ``backend``, at most ``backend.window`` at a time;
    a failed attempt is retried (``ATTEMPTS`` in all), and state.json follows every change."""
    progress_out = progress_out or sys.stdout
    root = sweep_dir.resolve()  # runs (and Ray workers) may start in another working directory
    cells = grid.cells()
    state = SweepState(sweep_dir, cells)
    progress = Progress(state, backend.capacity, progress_out)
    queue: deque[tuple[Cell, int]] = deque()
    for cell in cells:
        if finished(sweep_dir / cell.path):
            state.update(cell, status="done", run_dir=f"{cell.path}/{run_folder(sweep_dir / cell.path).name}", error=None)
        else:
            queue.append((cell, 1))
    skipped = len(cells) - len(queue)
    state.save()
    print(
        f"sweep {sweep_dir}: {len(cells)} runs, {skipped} already finished; {backend.description}",
        file=progress_out,
        flush=True,
    )
    in_flight: dict[Any, tuple[Cell, int]] = {}
    try:
        while queue or in_flight:
            changed = False
            while queue and len(in_flight) < backend.window:
                cell, number = queue.popleft()
                handle = backend.submit(root / cell.path, cell.arguments(grid))
                in_flight[handle] = (cell, number)
                progress.started[cell.path] = time.monotonic()
                state.update(cell, status="running", attempts=number)
                changed = True
            if changed:
                state.save()
            progress.refresh()
            ended = backend.wait(list(in_flight), timeout=1.0)
            for handle in ended:
                cell, number = in_flight.pop(handle)
                progress.started.pop(cell.path, None)
                outcome: Attempt = backend.outcome(handle, root / cell.path)
                _record(state, progress, queue, cell, number, outcome)
            if ended:
                state.save()
    except KeyboardInterrupt:
        backend.stop(list(in_flight))
        for cell, _ in in_flight.values():
            state.update(cell, status="interrupted")
        state.save()
        progress.close()
        raise
    progress.close()
    print(_summary(sweep_dir, state, skipped), file=progress_out, flush=True)
    return state


def _record(state: SweepState, progress: Progress, queue: deque, cell: Cell, number: int, outcome: Attempt) -> None:
    run_dir = f"{cell.path}/{outcome.run_dir}" if outcome.run_dir else None
    if outcome.seconds and not outcome.skipped:
        progress.durations.append(outcome.seconds)
    if outcome.status == "done":
        state.update(cell, status="done", run_dir=run_dir, seconds=round(outcome.seconds, 2), error=None)
        how = "already finished" if outcome.skipped else f"{'resumed, ' if outcome.resumed else ''}{outcome.seconds:.1f}s"
        progress.event(f"done    {cell.path} ({how})")
    elif outcome.status == "failed" and number < ATTEMPTS:
        state.update(cell, status="pending", run_dir=run_dir, error=outcome.error)
        queue.appendleft((cell, number + 1))
        progress.event(f"retry   {cell.path}: attempt {number} failed: {outcome.error}")
    else:
        state.update(cell, status="failed", run_dir=run_dir, seconds=round(outcome.seconds, 2), error=outcome.error)
        progress.event(f"failed  {cell.path}: {outcome.error}")


def _summary(sweep_dir: Path, state: SweepState, skipped: int) -> str:
    failed = {path: r for path, r in state.runs.items() if r["status"] == "failed"}
    lines = [
        f"sweep {sweep_dir}: {state.count('done')} of {len(state.runs)} runs done ({skipped} finished before this launch), "
        f"{len(failed)} failed"
    ]
    lines += [f"  failed {path} after {r['attempts']} attempt(s): {r['error']}" for path, r in failed.items()]
    lines.append(f"report: python -m benchmarks.report {sweep_dir}")
    return "\n".join(lines)


class SweepLock:
    """One driver per sweep folder at a time (an advisory ``flock`` on ``.sweep.lock``)."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / LOCK
        self.file: TextIO | None = None

    def __enter__(self) -> SweepLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "a+")
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return self
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise UsageError(f"{self.path.parent} is being run by another sweep ({holder}); wait for it or stop it first") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"pid {os.getpid()}")
        self.file.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()


def make_backend(execution: Execution, device: str) -> Any:
    if execution.backend == "ray":
        return RayBackend(execution.address, execution.workers, execution.cpus_per_run, execution.gpus_per_run, device, execution.send_back)
    return LocalBackend(execution.workers, execution.cpus_per_run, execution.gpus_per_run, device)


def main(argv: list[str] | None = None) -> int:
    previous_handler, sweep_dir = None, None
    try:
        args = parse_args(argv)
        grid, execution, sweep_dir = configure(args)
        validate(grid)
        backend = make_backend(execution, grid.device)  # before anything is written: it may be unavailable
        try:
            with SweepLock(sweep_dir):
                from .files import write_json

                write_json(sweep_dir / SWEEP_JSON, {"grid": grid.to_json(), "execution": asdict(execution)})
                if threading.current_thread() is threading.main_thread():  # SIGTERM stops the sweep as Ctrl-C does
                    previous_handler = signal.signal(signal.SIGTERM, _interrupt)
                state = drive(grid, sweep_dir, backend)
        finally:
            backend.close()
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BackendUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        again = f": continue with python -m benchmarks.sweep --resume {sweep_dir}" if sweep_dir is not None else ""
        print(f"interrupted{again}", file=sys.stderr)
        return 130
    finally:
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    return 1 if state.count("failed") else 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
