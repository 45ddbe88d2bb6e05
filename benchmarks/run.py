"""``python -m benchmarks.run --method NAME``: run one continual-learning benchmark end to end.

Examples::

    python -m benchmarks.run --method er                      # digits-cil, the embedded default
    python -m benchmarks.run --method ewc --set ewc_lambda=1000 --seed 3
    python -m benchmarks.run --method my_method --plugin my_method.py
    python -m benchmarks.run --resume runs/digits-cil_er_s0_20261123-101500
    python -m benchmarks.run --list
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from methods import MethodError, StreamInfo, get_method, load_lazy_methods, load_plugin, method_names
from methods.configs import preset_hyperparameters
from scenarios import PRESETS, PROTOCOL_CAPABILITIES, PROTOCOL_MODALITY, DatasetUnavailable, Preset, apply_overrides, build_scenario

from .errors import UsageError
from .files import write_json
from .logs import RunLog
from .rng import rng_state, seed_everything, set_rng_state
from .runner import CHECKPOINT, RESULT, RunState, finish, run_steps
from .settings import parse_pairs, split_settings

DEFAULT_SCENARIO = "digits-cil"
CONFIG = "config.json"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", help="registered method name (see --list)")
    p.add_argument("--scenario", default=DEFAULT_SCENARIO, help=f"scenario preset (default {DEFAULT_SCENARIO})")
    p.add_argument("--seed", type=int, default=0, help="seed of class order, initialisation and batching")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto picks CUDA when present")
    p.add_argument("--out", type=Path, default=Path("runs"), help="directory that receives the run folder")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("CLUB_DATA", Path.home() / ".cache" / "club")), help="dataset cache (env CLUB_DATA)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="KEY=VALUE", help="method hyperparameter, or scenario.KEY=VALUE for the protocol; repeatable")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE_OR_MODULE", help="import a file or module that registers methods; repeatable")
    p.add_argument("--wandb", action="store_true", help="also log to Weights & Biases (offline without an API key)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run from its last finished step")
    p.add_argument("--list", action="store_true", help="list methods and scenarios, then exit")
    return p.parse_args(argv)


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
        able = [n for n in method_names() if getattr(get_method(n), flag, False)]
        raise UsageError(
            f"method {method!r} cannot run scenario {preset.name!r} ({preset.protocol} protocol): it does not "
            f"declare {flag} = True; methods that can: {', '.join(able) or 'none'}"
        )


def list_choices() -> str:
    missing = load_lazy_methods()  # e.g. avalanche:<Strategy>, when Avalanche is installed
    lines = []
    for modality in ("image", "text"):
        lines.append("methods:" if modality == "image" else "language-model methods (question-answering scenarios):")
        for name in method_names(modality):
            cls = get_method(name, modality)
            doc = (cls.__doc__ or "").strip().splitlines()
            flags = sorted({f for f in PROTOCOL_CAPABILITIES.values() if getattr(cls, f, False)})
            also = f" [{', '.join(flags)}]" if flags else ""
            lines.append(f"  {name:<14} {doc[0] if doc else ''}{also}")
        if modality == "image":
            lines += [f"  {hint}" for hint in missing]
    lines.append("scenarios:")
    lines += [f"  {p.name:<20} {p.description}" for p in PRESETS.values()]
    return "\n".join(lines)


def new_config(args: argparse.Namespace) -> dict:
    if not args.method:
        raise UsageError("--method is required (or --resume RUN_DIR, or --list)")
    return {
        "method": args.method,
        "scenario": args.scenario,
        "seed": args.seed,
        "device": args.device,
        "data_dir": str(args.data_dir),
        "settings": parse_pairs(args.settings),
        "plugins": [str(Path(p).resolve()) if Path(p).is_file() else p for p in args.plugin],
        "wandb": args.wandb,
    }


def load_config(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / CONFIG).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume {run_dir}: not a run folder with a readable {CONFIG} ({e.__class__.__name__})") from None


def new_run_dir(out: Path, config: dict) -> Path:
    stem = f"{config['scenario']}_{config['method']}_s{config['seed']}_{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir, n = out / stem, 1
    while run_dir.exists():
        n += 1
        run_dir = out / f"{stem}-{n}"
    run_dir.mkdir(parents=True)
    return run_dir


def execute(args: argparse.Namespace) -> Path:
    config = load_config(args.resume) if args.resume else new_config(args)
    for plugin in config["plugins"]:
        try:
            load_plugin(plugin)
        except (ImportError, FileNotFoundError, ValueError, TypeError) as e:
            raise UsageError(f"--plugin {plugin}: {e}") from None
    if config["scenario"] not in PRESETS:
        raise UsageError(f"unknown scenario {config['scenario']!r}; choose from {', '.join(PRESETS)}")
    try:
        method_cls = get_method(config["method"], PROTOCOL_MODALITY[PRESETS[config["scenario"]].protocol])
    except KeyError as e:
        raise UsageError(f"scenario {config['scenario']}: {e.args[0]}") from None
    check_capability(config["method"], method_cls, PRESETS[config["scenario"]])
    hparams, overrides = split_settings(config["settings"], config["method"], method_cls.hyperparameters())
    hparams = {**preset_hyperparameters(config["method"], config["scenario"]), **hparams}
    config["scenario_overrides"] = overrides
    preset = apply_overrides(PRESETS[config["scenario"]], overrides)
    device = resolve_device(config["device"])
    if args.resume and (args.resume / RESULT).exists():
        print(f"{args.resume} already finished", flush=True)
        return args.resume / RESULT

    seed_everything(config["seed"])
    try:
        stream = build_scenario(preset, config["seed"], Path(config["data_dir"]))
    except (TypeError, ValueError) as e:
        raise UsageError(f"scenario {preset.name}: {e}") from None
    checkpoint = args.resume / CHECKPOINT if args.resume else None
    if checkpoint is not None and checkpoint.exists():
        state: RunState = torch.load(checkpoint, map_location=device, weights_only=False)
        set_rng_state(state.rng)
        run_dir = args.resume
        log = RunLog(run_dir, config, config["wandb"])
        log.event("resume", f"resuming {run_dir} at step {state.next_step + 1}/{len(stream.steps)}", step=state.next_step)
    else:
        vocabulary = getattr(stream, "vocabulary", ())
        info = StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), preset.backbone, vocabulary)
        try:
            method = method_cls(info, device, **hparams)
        except ValueError as e:
            raise UsageError(f"method {config['method']!r}: {e}") from None
        state = RunState(next_step=0, method=method, records=[], rng=rng_state())
        run_dir = args.resume or new_run_dir(args.out, config)
        write_json(run_dir / CONFIG, {k: v for k, v in config.items() if k != "scenario_overrides"})
        log = RunLog(run_dir, config, config["wandb"])
        log.event(
            "run_start",
            f"{config['method']} on {stream.name}: {len(stream.steps)} steps, {stream.num_classes} classes, "
            f"device {device}, run folder {run_dir}",
            config=config,
        )
    info = state.method.info
    run_steps(
        stream,
        state,
        run_dir,
        log,
        oracle_dir=Path(config["data_dir"]) / "oracles",
        make_method=lambda: method_cls(info, device, **hparams),
    )
    hparams = {**method_cls.hyperparameters(), **hparams}
    return finish(stream, state, config, hparams, run_dir, log)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.list:
            print(list_choices())
            return 0
        result = execute(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (DatasetUnavailable, MethodError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: continue with --resume RUN_DIR", file=sys.stderr)
        return 130
    print(f"result: {result}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
