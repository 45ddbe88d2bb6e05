"""``python -m benchmarks.run --method NAME``: run one continual-learning benchmark end to end.

Examples::

    python -m benchmarks.run --method er                      # digits-cil, the embedded default
    python -m benchmarks.run --method ewc --set ewc_lambda=1000 --seed 3
    python -m benchmarks.run --method my_method --plugin my_method.py
    python -m benchmarks.run --resume runs/digits-cil_er_s0_20261123-101500
    python -m benchmarks.run --list

Every value is checked before any work: a mistake is one line on stderr and exit status 2; a
failure of the machine or of the files around the run (a missing dataset, a full disk, a
damaged checkpoint, a run folder another process works in) is one line and exit status 1;
``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from .packages import shadowing_message, version_text

if __name__ == "__main__":  # before anything heavy and CLUB's other packages: a folder named like one would replace it
    if (shadowed := shadowing_message()) is not None:
        print(f"error: {shadowed}", file=sys.stderr)
        sys.exit(1)

import torch  # noqa: E402

from leaderboard.schema import KIND_NAMES  # noqa: E402
from methods import Diverged, MethodError, StreamInfo, get_method, load_lazy_methods, load_plugin, method_entry, method_names  # noqa: E402
from methods.configs import ConfigError  # noqa: E402
from metrics import MetricInputError  # noqa: E402
from scenarios import PRESETS, PROTOCOL_CAPABILITIES, PROTOCOL_MODALITY, DatasetUnavailable, Preset, Stream, apply_overrides, build_scenario  # noqa: E402

from . import distributed  # noqa: E402
from .errors import EnvironmentFailure, UsageError  # noqa: E402
from .files import FolderLock, check_writable, make_run_folder, remove_stale_temporaries, write_json  # noqa: E402
from .logs import RunLog, check_wandb, run_start_fingerprint  # noqa: E402
from .recipes import Recipe, resolve_recipe  # noqa: E402
from .rng import rng_state, seed_everything, set_rng_state  # noqa: E402
from .checkpoints import CHECKPOINT, CheckpointMismatch, discard_checkpoint, load_checkpoint, remove_stale_parts  # noqa: E402
from .runner import RESULT, RunState, finish, run_steps  # noqa: E402
from .settings import check_config_values, parse_pairs, split_settings  # noqa: E402
from .threads import AUTO, parse_threads, use_threads  # noqa: E402

DEFAULT_SCENARIO = "digits-cil"
CONFIG = "config.json"
MAX_SEED = 2**32 - 1  # numpy's seed range
#: How a method obtains a capability that is not simply declared (for the refusal message).
CAPABILITY_HOWTO = {"forgets": "implement forget(step) (forgets = True)"}
#: Flags that ``--resume`` refuses: the run continues exactly as it was configured.
RESUME_CONFLICTS = {
    "method": "--method", "scenario": "--scenario", "seed": "--seed", "out": "--out", "data_dir": "--data-dir",
    "settings": "--set", "plugin": "--plugin", "wandb": "--wandb", "threads": "--threads",
}
CONFIG_FIELDS: dict[str, type] = {
    "method": str, "scenario": str, "seed": int, "device": str, "data_dir": str, "settings": dict, "plugins": list, "wandb": bool,
}
DEVICES = ("auto", "cpu", "cuda")


class _Parser(argparse.ArgumentParser):
    """argparse with its complaints raised as one-line :class:`UsageError` (no usage block)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


class _Version(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> NoReturn:
        print(version_text())
        parser.exit()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = _Parser(prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", help="registered method name (see --list)")
    p.add_argument("--scenario", help=f"scenario preset (default {DEFAULT_SCENARIO})")
    p.add_argument("--seed", type=int, help="seed of class order, initialisation and batching (default 0)")
    p.add_argument("--device", choices=DEVICES, help="auto (the default) picks CUDA when present")
    p.add_argument("--out", type=Path, help="directory that receives the run folder (default runs/)")
    p.add_argument("--data-dir", type=Path, help="dataset and oracle cache (default $CLUB_DATA or ~/.cache/club)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="method hyperparameter, or scenario.KEY=VALUE for the protocol; repeatable")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE", help="import a file or module that registers methods; repeatable")
    p.add_argument("--threads", type=str, metavar="N|auto", help="torch CPU threads (default auto: 1 for small models on the CPU, torch's default otherwise)")
    p.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (offline without an API key)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run from its last finished step")
    p.add_argument("--list", action="store_true", help="list methods and scenarios, then exit")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error")
    p.add_argument("--version", action=_Version, nargs=0, help="print the club version and where its packages load from")
    args = p.parse_args(argv)
    if args.resume is not None:
        given = [flag for name, flag in RESUME_CONFLICTS.items() if getattr(args, name, None) not in (None, [], False)]
        if given:
            raise UsageError(
                f"--resume continues a run exactly as it was configured; drop {', '.join(given)} "
                f"(start a new run to change them; --device may only name the device the run was made on)"
            )
    args.threads = parse_threads(args.threads) if args.threads is not None else None
    args.scenario = args.scenario or DEFAULT_SCENARIO
    args.seed = 0 if args.seed is None else args.seed
    args.out = args.out or Path("runs")
    args.data_dir = args.data_dir or Path(os.environ.get("CLUB_DATA", Path.home() / ".cache" / "club"))
    return args


def resolve_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available (use --device auto or cpu)")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def check_capability(method: str, method_cls: type, preset: Preset) -> None:
    """Refuse, before any training, a method without the capability the preset's protocol requires."""
    flag = PROTOCOL_CAPABILITIES.get(preset.protocol)
    if flag is not None and not getattr(method_cls, flag, False):
        modality = PROTOCOL_MODALITY[preset.protocol]
        able = [n for n in method_names(modality) if flag in method_entry(n, modality).capabilities]
        raise UsageError(
            f"method {method!r} cannot run scenario {preset.name!r} ({preset.protocol} protocol): it does not "
            f"{CAPABILITY_HOWTO.get(flag, f'declare {flag} = True')}; methods that can: {', '.join(able) or 'none'}"
        )


def list_choices() -> str:
    missing = load_lazy_methods()  # e.g. avalanche:<Strategy>, when Avalanche is installed
    lines = []
    for modality in ("image", "text"):
        lines.append("methods:" if modality == "image" else "language-model methods (question-answering scenarios):")
        for name in method_names(modality):
            entry = method_entry(name, modality)  # without importing the method's module
            flags = sorted(set(PROTOCOL_CAPABILITIES.values()) & set(entry.capabilities))
            also = f" [{', '.join(flags)}]" if flags else ""
            lines.append(f"  {name:<14} {entry.summary}{also}")
        if modality == "image":
            lines += [f"  {hint}" for hint in missing]
    lines.append("scenarios:")
    lines += [f"  {p.name:<20} {p.description}" for p in PRESETS.values()]
    return "\n".join(lines)


def new_config(args: argparse.Namespace) -> dict:
    if args.method is None:
        raise UsageError("--method is required (or --resume RUN_DIR, or --list)")
    return {
        "method": args.method,
        "scenario": args.scenario,
        "seed": args.seed,
        "device": args.device or "auto",
        "data_dir": str(args.data_dir),
        "settings": parse_pairs(args.settings),
        "plugins": [str(Path(p).resolve()) if Path(p).is_file() else p for p in args.plugin],
        "wandb": args.wandb,
        "threads": args.threads or AUTO,
    }


def load_config(run_dir: Path) -> dict:
    """``run_dir/config.json``, checked to be a run configuration."""
    path = run_dir / CONFIG
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume {run_dir}: not a run folder with a readable {CONFIG} ({e.__class__.__name__})") from None
    problem = None
    if not isinstance(config, dict):
        problem = "it is not a JSON object"
    else:
        for key, kind in CONFIG_FIELDS.items():
            if not isinstance(config.get(key), kind) or (kind is int and isinstance(config[key], bool)):
                problem = f"{key!r} is missing or not {KIND_NAMES[kind]}"
                break
        else:
            if config["device"] not in DEVICES or not all(isinstance(v, str) for v in [*config["settings"].values(), *config["plugins"]]):
                problem = "its device, settings or plugins are malformed"
            elif not _valid_threads(config.get("threads", AUTO)):  # absent in runs started before --threads
                problem = "'threads' is neither auto nor a positive integer"
    if problem:
        raise UsageError(f"--resume {run_dir}: {path} is not a CLUB run configuration ({problem}); restore it, or start a new run")
    return config


def _valid_threads(value: Any) -> bool:
    return value == AUTO or (type(value) is int and value >= 1)


def config_fingerprint(config: dict) -> str:
    """SHA-256 of a run configuration (as ``config.json`` holds it) in canonical JSON."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def load_plugins(specs: list[str]) -> None:
    """Import each plugin; its failure is one line naming the user's file and line."""
    for spec in specs:
        try:
            load_plugin(spec)
        except Exception as e:
            raise UsageError(f"--plugin {spec}: {plugin_problem(spec, e)}") from e


def plugin_problem(spec: str, error: Exception) -> str:
    """Where and why importing plugin ``spec`` failed: the innermost traceback frame in the
    plugin's own file or, for a module, outside CLUB and Python's import machinery."""
    own = Path(spec).resolve() if Path(spec).is_file() else None

    def place(filename: str, line: int | None) -> str:
        return f"line {line}" if own is not None and Path(filename).resolve() == own else f"{filename}, line {line}"

    if isinstance(error, SyntaxError):
        return f"{place(error.filename or '?', error.lineno)}: {type(error).__name__}: {error.msg} (--debug shows the traceback)"
    if isinstance(error, ModuleNotFoundError) and error.name and (spec == error.name or spec.startswith(error.name + ".")):
        return one_line(error)  # the plugin module itself is missing
    club = Path(__file__).resolve().parent.parent
    stdlib = Path(traceback.__file__).resolve().parent
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if own is not None and Path(f.filename).resolve() == own]
    outside = [
        f for f in frames
        if not f.filename.startswith("<") and not {club, stdlib} & set(Path(f.filename).resolve().parents)
    ]
    if not mine and not outside:
        return one_line(error)  # refused by CLUB's loader itself (a missing file, not a .py file)
    frame = (mine or outside)[-1]
    return f"{place(frame.filename, frame.lineno)}: {type(error).__name__}: {one_line(error)} (--debug shows the traceback)"


@dataclass
class Plan:
    """A run's checked inputs: everything decided before any work."""

    method_cls: type
    hparams: dict[str, Any]
    overrides: dict[str, Any]
    preset: Preset
    device: torch.device
    recipe: Recipe


def prepare(config: dict, args: argparse.Namespace) -> Plan:
    """Check every input of the run (names, values, capabilities, paths) without doing any work."""
    load_plugins(config["plugins"])
    if config["scenario"] not in PRESETS:
        raise UsageError(f"unknown scenario {config['scenario']!r}; choose from {', '.join(PRESETS)}")
    base_preset = PRESETS[config["scenario"]]
    try:
        method_cls = get_method(config["method"], PROTOCOL_MODALITY[base_preset.protocol])
    except KeyError as e:
        raise UsageError(f"scenario {config['scenario']}: {e.args[0]}") from None
    check_capability(config["method"], method_cls, base_preset)
    if not 0 <= config["seed"] <= MAX_SEED:
        raise UsageError(f"--seed {config['seed']}: a seed is an integer from 0 to {MAX_SEED}")
    defaults, domains = method_cls.hyperparameters(), method_cls.hyperparameter_domains()
    hparams, overrides = split_settings(config["settings"], config["method"], defaults, domains)
    recipe = resolve_recipe(config["method"], method_cls, base_preset, hparams)
    from_config = recipe.values
    check_config_values(from_config, defaults, domains, f"methods/configs/{config['method']}.json, preset {config['scenario']}")
    preset = apply_overrides(base_preset, overrides)
    device = resolve_device(args.device or config["device"])
    if config["wandb"]:
        check_wandb()
    data_dir = Path(config["data_dir"])
    if data_dir.exists() and not data_dir.is_dir():
        raise UsageError(f"--data-dir {data_dir} is a file, not a folder")
    if PROTOCOL_CAPABILITIES.get(base_preset.protocol) == "forgets":  # forget requests fill the oracle cache
        check_writable(data_dir / "oracles", "--data-dir")
    check_writable(args.resume if args.resume else args.out, "--resume" if args.resume else "--out")
    return Plan(method_cls, {**from_config, **hparams}, overrides, preset, device, recipe)


def read_checkpoint(run_dir: Path, device: torch.device, stream: Stream | None) -> RunState:
    """The run's checkpoint (:func:`benchmarks.checkpoints.load_checkpoint`; ``stream`` ``None``
    reads its own fields only); a file that cannot be read is reported as damaged, a frozen
    backbone or part that cannot be rebuilt as what it is."""
    path = run_dir / CHECKPOINT
    try:
        state = load_checkpoint(run_dir, device, stream)
    except (CheckpointMismatch, MethodError):  # a part file gone, a backbone that builds differently, weights not cached
        raise
    except Exception as e:  # empty, truncated, not a torch file, pickled classes gone
        state = e
    if not isinstance(state, RunState):
        why = f"{type(state).__name__}" if isinstance(state, Exception) else "not a checkpoint"
        raise EnvironmentFailure(
            f"{path} is damaged ({why}); delete it and --resume {path.parent} again to redo the run from its first step"
        )
    return state


def check_resumable(run_dir: Path, state: RunState | None, fingerprint: str, device: torch.device) -> None:
    """Refuse to continue ``run_dir`` under a configuration or on a device other than its own."""
    made_under = state.config_sha256 if state is not None else run_start_fingerprint(run_dir)
    if state is not None and not made_under:
        raise UsageError(f"--resume {run_dir}: its checkpoint records no config fingerprint (made by an older CLUB); start a new run")
    if made_under and made_under != fingerprint:
        raise UsageError(
            f"--resume {run_dir}: {CONFIG} differs from the configuration the run was started with (edited since?); "
            f"restore it, or start a new run with the new settings"
        )
    if state is not None and state.device != device.type:
        raise UsageError(
            f"--resume {run_dir}: the run computes on {state.device}; continuing on {device.type} would change its result "
            f"(--device {state.device})"
        )


@dataclass
class Progress:
    """How far :func:`execute` got, so that a failure can be reported against its run folder."""

    run_dir: Path | None = None
    log: RunLog | None = None
    state: RunState | None = None
    num_steps: int = 0

    def where(self) -> str:
        if self.state is None:
            return "before the first step"
        if self.state.next_step >= self.num_steps:
            return "writing the result"
        return f"step {self.state.next_step + 1}/{self.num_steps}"


def execute(args: argparse.Namespace, progress: Progress) -> Path:
    with ExitStack() as stack:
        resume = args.resume
        if resume is not None:
            if not resume.is_dir():
                raise UsageError(f"--resume {resume}: not a run folder")
            if distributed.rank() == 0:  # other ranks of a torchrun work in a private copy (below)
                stack.enter_context(FolderLock(resume))
            config = load_config(resume)
            if (resume / RESULT).exists():
                remove_stale_temporaries(resume)
                print(f"{resume} already finished", flush=True)
                return resume / RESULT
        else:
            config = new_config(args)
        plan = prepare(config, args)
        device, preset = plan.device, plan.preset
        args = distributed.start(args, config, plan.method_cls, device)  # under torchrun only rank 0 writes the run folder
        resume = args.resume

        fingerprint = config_fingerprint(config)
        state = None
        if resume is not None and (resume / CHECKPOINT).exists():
            state = read_checkpoint(resume, device, None)  # its fingerprint and device, before any work
        if resume is not None:
            check_resumable(resume, state, fingerprint, device)

        seed_everything(config["seed"])
        try:
            stream = build_scenario(preset, config["seed"], Path(config["data_dir"]))
        except (TypeError, ValueError) as e:
            raise UsageError(f"scenario {preset.name}: {one_line(e)}") from None
        if state is not None:
            remove_stale_parts(resume)
            state = read_checkpoint(resume, device, stream)  # frozen backbones built again, stream tensors from the stream
        if plan.recipe.warning:
            print(f"warning: {plan.recipe.warning}", file=sys.stderr, flush=True)
        progress.num_steps = len(stream.steps)
        if state is not None:
            set_rng_state(state.rng)
            run_dir = resume
            log = RunLog(run_dir, config, config["wandb"])
            at = ": every step is done; writing the result" if state.next_step >= len(stream.steps) else f" at step {state.next_step + 1}/{len(stream.steps)}"
            log.event("resume", f"resuming {run_dir}{at}", step=state.next_step)
        else:
            vocabulary = getattr(stream, "vocabulary", ())
            info = StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), preset.backbone, vocabulary)
            try:
                method = plan.method_cls(info, device, **plan.hparams)
            except ValueError as e:
                raise UsageError(f"method {config['method']!r}: {one_line(e)}") from None
            state = RunState(next_step=0, method=method, records=[], rng=rng_state(), config_sha256=fingerprint, device=device.type)
            if resume is None:
                stem = f"{config['scenario']}_{config['method']}_s{config['seed']}_{time.strftime('%Y%m%d-%H%M%S')}"
                run_dir = make_run_folder(args.out, stem)
                stack.enter_context(FolderLock(run_dir))
            else:
                run_dir = resume
            progress.run_dir = run_dir
            write_json(run_dir / CONFIG, config)
            log = RunLog(run_dir, config, config["wandb"])
            log.event(
                "run_start",
                f"{config['method']} on {stream.name}: {len(stream.steps)} steps, {stream.num_classes} classes, "
                f"device {device}, run folder {run_dir}",
                config=config,
                config_sha256=fingerprint,
            )
        progress.run_dir, progress.log, progress.state = run_dir, log, state
        use_threads(config.get("threads", AUTO), state.method, device)
        remove_stale_temporaries(run_dir)
        info = state.method.info
        try:
            run_steps(
                stream,
                state,
                run_dir,
                log,
                oracle_dir=Path(config["data_dir"]) / "oracles",
                make_method=lambda: plan.method_cls(info, device, **plan.hparams),
            )
            hparams = {**plan.method_cls.hyperparameters(), **plan.hparams}
            return finish(stream, state, {**config, "scenario_overrides": plan.overrides}, hparams, run_dir, log, plan.recipe.fields())
        except Diverged:
            discard_checkpoint(run_dir)  # continuing would diverge again
            raise


def failure(error: Exception, progress: Progress) -> tuple[int, str]:
    """Exit status and one-line message for ``error``; mid-run, it is also logged as an ``error`` event."""
    if isinstance(error, UsageError):
        code, message = 2, str(error)
    elif isinstance(error, (EnvironmentFailure, DatasetUnavailable, MethodError, ConfigError, MetricInputError)):
        code, message = 1, str(error)
    elif isinstance(error, OSError):
        code = 1
        message = f"{error.strerror or type(error).__name__}: {error.filename}" if error.filename else f"{type(error).__name__}: {error}"
    else:  # a bug, in a plugin or in CLUB: still one line, with where it happened
        frames = traceback.extract_tb(error.__traceback__)
        where = f" (at {frames[-1].filename}, line {frames[-1].lineno}; --debug shows the traceback)" if frames else ""
        code, message = 1, f"{type(error).__name__}: {error}{where}"
    message = one_line(message)
    if progress.log is not None:
        message = f"{progress.run_dir}: {progress.where()}: {message}"
        progress.log.failure("error", error=message, exit_code=code, step=progress.state.next_step if progress.state else None)
        progress.log.close()
    return code, message


def main(argv: list[str] | None = None) -> int:
    progress = Progress()
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
        if args.list:
            print(list_choices())
            return 0
        result = execute(args, progress)
    except KeyboardInterrupt:
        if progress.log is not None:
            progress.log.failure("interrupted", step=progress.state.next_step if progress.state else None)
            progress.log.close()
        if progress.run_dir is None:
            print("interrupted before the run folder was made; nothing to resume", file=sys.stderr)
        else:
            print(f"interrupted: continue with --resume {progress.run_dir}", file=sys.stderr)
        return 130
    except Exception as error:
        code, message = failure(error, progress)
        if debug:
            traceback.print_exception(error)
        print(f"error: {message}", file=sys.stderr)
        return code
    print(f"result: {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
