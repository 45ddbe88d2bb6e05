"""Hostile inputs to the command line: each is refused before any work (one line, exit 2 for a
user's mistake, 1 for an environment failure, no run folder left), or, when it strikes
mid-run, ends the run with one line and a run folder holding only ``config.json`` and
``events.jsonl`` with an ``error`` event. Then resume, concurrency and the oracle cache."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib.util
import io
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import benchmarks.runner as runner
from benchmarks.files import FolderLock
from benchmarks.run import main
from leaderboard import recompute_metrics, validate_result
from methods import get_method

ROOT = Path(__file__).resolve().parent.parent
UPFRONT_CPU_SECONDS = 2.0

PLUGINS = {
    "bad_syntax.py": "from methods import register_method\n\ndef broken(:\n    pass\n",
    "raising.py": "import math\n\nvalue = math.sqrt(4)\nraise RuntimeError('the plugin is broken')\n",
    "notes.txt": "not python\n",
    "duplicate.py": "from methods import get_method, register_method\n\n\n@register_method('er')\nclass Again(get_method('finetune')):\n    pass\n",
    "weighted.py": (
        "from typing import Annotated\n\nfrom methods import get_method, register_method\nfrom methods.domains import Positive\n\n\n"
        "@register_method('weighted-finetune')\nclass Weighted(get_method('finetune')):\n"
        "    def __init__(self, info, device, *, weight: Annotated[float, Positive] = 0.5, **kwargs):\n"
        "        super().__init__(info, device, **kwargs)\n        self.weight = weight\n"
    ),
    "nan_logits.py": (
        "import torch\n\nfrom methods import get_method, register_method\n\n\n@register_method('nan-logits')\n"
        "class NanLogits(get_method('finetune')):\n    def predict(self, x):\n        return super().predict(x) * float('nan')\n"
    ),
}


def _disk_full(monkeypatch):
    def save_checkpoint(run_dir, state, stream):
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "checkpoint.pt"))

    monkeypatch.setattr(runner, "save_checkpoint", save_checkpoint)


def _config_value(values):
    def patch(monkeypatch):
        import benchmarks.run

        real = benchmarks.run.resolve_recipe
        monkeypatch.setattr(benchmarks.run, "resolve_recipe", lambda *args: dataclasses.replace(real(*args), values=values))

    return patch


def _no_gdown(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gdown" else real(name, *a))


# (arguments, exit code, text stderr must hold, "upfront" or "midrun", optional monkeypatch setup)
CASES = {
    # hyperparameter values, checked against their declared domains
    "negative lr": (["--method", "er", "--set", "lr=-1"], 2, "lr must be > 0"),
    "zero batch size": (["--method", "er", "--set", "batch_size=0"], 2, "batch_size must be >= 1"),
    "negative batch size": (["--method", "er", "--set", "batch_size=-4"], 2, "batch_size must be >= 1"),
    "zero epochs": (["--method", "er", "--set", "epochs=0"], 2, "epochs must be >= 1"),
    "negative buffer": (["--method", "er", "--set", "buffer_size=-5"], 2, "buffer_size must be >= 0"),
    "lr NaN": (["--method", "er", "--set", "lr=NaN"], 2, "lr=NaN: expected a finite number"),
    "lr nan": (["--method", "er", "--set", "lr=nan"], 2, "lr=nan: expected a finite number"),
    "lr Infinity": (["--method", "er", "--set", "lr=Infinity"], 2, "expected a finite number"),
    "lr -inf": (["--method", "er", "--set", "lr=-inf"], 2, "expected a finite number"),
    "lr 1e999": (["--method", "er", "--set", "lr=1e999"], 2, "expected a finite number"),
    "epochs inf": (["--method", "er", "--set", "epochs=INF"], 2, "expected a finite number"),
    "momentum 1.5": (["--method", "er", "--set", "momentum=1.5"], 2, "momentum must be in [0, 1)"),
    "unknown optimizer": (["--method", "er", "--set", "optimizer=sgdd"], 2, "optimizer must be one of"),
    "unknown backbone": (["--method", "er", "--set", "backbone=resnet1000"], 2, "backbone must be one of"),
    "unknown peft": (["--method", "ease", "--set", "peft=bogus"], 2, "peft must be one of"),
    "saliency ratio 0": (["--method", "salun", "--scenario", "digits-forget-class", "--set", "saliency_ratio=0"], 2, "saliency_ratio must be in (0, 1]"),
    "boolean epochs": (["--method", "er", "--set", "epochs=true"], 2, "expected an integer"),
    "a setting twice": (["--method", "er", "--set", "lr=0.1", "--set", "lr=0.2"], 2, "given twice"),
    "config value out of domain": (["--method", "er"], 2, "methods/configs/er.json, preset digits-cil: lr=-1.0: lr must be > 0", _config_value({"lr": -1.0})),
    "config value of the wrong type": (["--method", "er"], 2, "epochs='20' is not a finite int", _config_value({"epochs": "20"})),
    "config value NaN": (["--method", "er"], 2, "lr=nan is not a finite float", _config_value({"lr": float("nan")})),
    "plugin's own domain": (["--method", "weighted-finetune", "--plugin", "{tmp}/weighted.py", "--set", "weight=-1"], 2, "weight must be > 0"),
    # seeds and flags
    "negative seed": (["--method", "er", "--seed", "-1"], 2, "--seed -1: a seed is an integer from 0"),
    "seed beyond numpy": (["--method", "er", "--seed", "4294967296"], 2, "a seed is an integer"),
    "seed not a number": (["--method", "er", "--seed", "abc"], 2, "invalid int value"),
    "unknown device": (["--method", "er", "--device", "tpu"], 2, "invalid choice"),
    "empty method": (["--method", ""], 2, "unknown method ''"),
    # capability, checked before training
    "er cannot forget": (["--method", "er", "--scenario", "digits-forget-class"], 2, "does not implement forget(step)"),
    "ewc is not online": (["--method", "ewc", "--scenario", "digits-online-cil"], 2, "does not declare online = True"),
    # scenario options
    "negative forget fraction": (["--method", "ssd", "--scenario", "digits-forget-random", "--set", "scenario.fraction=-0.1"], 2, "forget fraction must be in (0, 1)"),
    "NaN increment": (["--method", "er", "--set", "scenario.increment=NaN"], 2, "expected a finite number"),
    # paths
    "out is a file": (["--method", "er", "--out", "{tmp}/a_file"], 2, "is a file, not a folder"),
    "out under a file": (["--method", "er", "--out", "{tmp}/a_file/runs"], 2, "cannot write there"),
    "out on a system path": (["--method", "er", "--out", "/sys/club-runs"], 2, "cannot write there"),
    "data dir is a file": (["--method", "ssd", "--scenario", "digits-forget-class", "--data-dir", "{tmp}/a_file"], 2, "is a file, not a folder"),
    "oracle cache unwritable": (["--method", "ssd", "--scenario", "digits-forget-class", "--data-dir", "/sys/club-data"], 2, "oracles: cannot write there"),
    # plugins
    "plugin syntax error": (["--method", "er", "--plugin", "{tmp}/bad_syntax.py"], 2, "bad_syntax.py: line 3: SyntaxError"),
    "plugin raises at import": (["--method", "er", "--plugin", "{tmp}/raising.py"], 2, "raising.py: line 4: RuntimeError: the plugin is broken"),
    "plugin not python": (["--method", "er", "--plugin", "{tmp}/notes.txt"], 2, "is not a Python file (.py)"),
    "plugin is a folder": (["--method", "er", "--plugin", "{tmp}/"], 2, "is a folder"),
    "plugin registers a taken name": (["--method", "er", "--plugin", "{tmp}/duplicate.py"], 2, "duplicate.py: line 4: ValueError: method 'er' is already registered"),
    "plugin module missing": (["--method", "er", "--plugin", "no_such_club_plugin"], 2, "No module named 'no_such_club_plugin'"),
    # resume with flags it would silently drop
    "resume with method": (["--resume", "{tmp}", "--method", "er"], 2, "drop --method"),
    "resume with settings": (["--resume", "{tmp}", "--set", "lr=0.1", "--seed", "3"], 2, "drop --seed, --set"),
    "resume with out": (["--resume", "{tmp}", "--out", "{tmp}/o", "--scenario", "digits-cil"], 2, "drop --scenario, --out"),
    "resume a file": (["--resume", "{tmp}/a_file"], 2, "not a run folder"),
    "resume nothing": (["--resume", "{tmp}/no_such_run"], 2, "not a run folder"),
    # environment failures
    "dataset missing": (["--method", "teen", "--scenario", "miniimagenet-fscil", "--data-dir", "{tmp}/empty"], 1, "miniimagenet"),
    "gdown missing": (["--method", "ease", "--scenario", "imagenet-r-b0inc20", "--data-dir", "{tmp}/empty"], 1, "needs the gdown package", _no_gdown),
    # mid-run failures: one line, and only config.json + events.jsonl with an error event
    "training diverges": (["--method", "er", "--set", "lr=1e30", "--set", "epochs=1"], 1, "step 1/5: method 'er' diverged"),
    "NaN logits": (["--method", "nan-logits", "--plugin", "{tmp}/nan_logits.py", "--set", "epochs=1"], 1, "step 1/5: method 'nan-logits' diverged: its predictions hold NaN"),
    "disk full mid-run": (["--method", "nmc"], 1, "step 1/5: No space left on device", _disk_full),
}
MIDRUN = {"training diverges", "NaN logits", "disk full mid-run"}


@pytest.fixture
def hostile(tmp_path):
    for name, text in PLUGINS.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "a_file").write_text("not a folder\n")
    return tmp_path


@pytest.mark.parametrize("name", CASES)
def test_hostile_input(name, hostile, capsys, monkeypatch):
    args, code, needle, *setup = CASES[name]
    for patch in setup:
        patch(monkeypatch)
    out = hostile / "out"
    args = [a.replace("{tmp}", str(hostile)) for a in args]
    if "--out" not in args and "--resume" not in args:
        args += ["--out", str(out)]
    if "--data-dir" not in args and "--resume" not in args:
        args += ["--data-dir", str(hostile / "data")]
    if "--method" in args:  # methods are imported on first use: importing one (timm, ...) is not the work measured
        with contextlib.suppress(KeyError):
            get_method(args[args.index("--method") + 1])
    start = time.process_time()
    assert main(args) == code
    work = time.process_time() - start
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert needle in err, err
    runs = sorted(out.iterdir()) if out.is_dir() else []
    if name in MIDRUN:
        (run_dir,) = runs
        assert sorted(p.name for p in run_dir.iterdir()) == ["config.json", "events.jsonl"]
        last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
        assert last["event"] == "error" and last["exit_code"] == code and needle in last["error"]
    else:
        assert runs == [], "a refused run must leave no run folder"
        assert work < UPFRONT_CPU_SECONDS, f"the check took {work:.2f} s of work"


def test_every_builtin_hyperparameter_has_a_domain_its_defaults_and_configs_satisfy():
    from benchmarks.settings import check_config_values
    from methods import get_method, method_names
    from methods.configs import CONFIG_DIR, config_document, preset_hyperparameters
    from scenarios import PRESETS, PROTOCOL_MODALITY

    for modality in ("image", "text"):
        for name in method_names(modality):
            cls = get_method(name, modality)
            if not cls.__module__.startswith("methods."):
                continue  # registered by another test, not built in
            defaults, domains = cls.hyperparameters(), cls.hyperparameter_domains()
            for key, default in defaults.items():
                if isinstance(default, (int, float)) and not isinstance(default, bool):
                    assert key in domains, f"{name}.{key} has no domain"
                if key in domains:
                    assert domains[key].problem(default) is None, f"{name}.{key}={default!r}: {domains[key].problem(default)}"
    configs = sorted(CONFIG_DIR.glob("*.json"))
    assert configs
    for path in configs:
        for preset in config_document(path.stem)["presets"]:
            cls = get_method(path.stem, PROTOCOL_MODALITY[PRESETS[preset].protocol])  # ga.json holds image and text presets
            values = preset_hyperparameters(path.stem, preset)
            check_config_values(values, cls.hyperparameters(), cls.hyperparameter_domains(), f"{path.name}, preset {preset}")


def test_implementing_forget_is_the_capability_to_forget():
    from benchmarks.errors import UsageError
    from benchmarks.run import check_capability
    from methods import Method
    from scenarios import PRESETS

    class Plain(Method):
        pass

    class Forgetting(Method):
        def forget(self, step):
            pass

    class OptedOut(Forgetting):
        forgets = False

    for preset in ("digits-forget-class", "digits-cil-forget"):
        with pytest.raises(UsageError, match="does not implement forget"):
            check_capability("plain", Plain, PRESETS[preset])
        check_capability("forgetting", Forgetting, PRESETS[preset])
    assert Forgetting.forgets and not OptedOut.forgets and not Plain.forgets


def test_debug_shows_the_traceback_of_a_plugin(hostile, capsys):
    assert main(["--method", "er", "--plugin", str(hostile / "raising.py"), "--debug", "--out", str(hostile / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "the plugin is broken" in err
    assert err.splitlines()[-1].startswith("error: --plugin") and "line 4" in err.splitlines()[-1]


def test_version_names_the_distribution_and_where_the_packages_load_from(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("club ") and f"packages loaded from {ROOT}" in out


def test_a_folder_named_like_a_package_is_reported_in_one_line(tmp_path):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "__init__.py").write_text("# the user's own metrics package\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--method", "er"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"the folder {tmp_path / 'metrics'} stands in for CLUB's package 'metrics'" in proc.stderr
    assert not (tmp_path / "runs").exists()


# --- resume ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A digits-cil run stopped by Ctrl-C after its second step (checkpoint at step 2): exit
    status, run folder and stderr."""
    out = tmp_path_factory.mktemp("interrupted")
    real = runner.save_checkpoint

    def save_then_interrupt(run_dir, state, stream):
        real(run_dir, state, stream)
        if state.next_step == 2:
            raise KeyboardInterrupt

    err = io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err):
        patch.setattr(runner, "save_checkpoint", save_then_interrupt)
        code = main(["--method", "er", "--set", "epochs=2", "--device", "cpu", "--out", str(out), "--data-dir", str(out / "data")])
    (run_dir,) = [p for p in out.iterdir() if p.name.startswith("digits-cil")]
    return code, run_dir, err.getvalue()


def _copy(interrupted, tmp_path) -> Path:
    return Path(shutil.copytree(interrupted[1], tmp_path / interrupted[1].name))


def test_ctrl_c_names_the_folder_to_resume(interrupted):
    code, run_dir, err = interrupted
    assert code == 130
    assert err == f"interrupted: continue with --resume {run_dir}\n"
    assert json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])["event"] == "interrupted"


def _edit_config(key, value):
    def edit(run_dir):
        config = json.loads((run_dir / "config.json").read_text())
        config[key] = value
        (run_dir / "config.json").write_text(json.dumps(config))

    return edit


def _write(name, data: bytes | str):
    def edit(run_dir):
        path = run_dir / name
        path.write_bytes(data) if isinstance(data, bytes) else path.write_text(data)

    return edit


def _truncate(run_dir):
    path = run_dir / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _made_on_cuda(run_dir):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    state.device = "cuda"
    torch.save(state, run_dir / "checkpoint.pt")


RESUME_CASES = {
    "method edited to finetune": (_edit_config("method", "finetune"), 2, "differs from the configuration the run was started with"),
    "seed edited": (_edit_config("seed", 3), 2, "differs from the configuration"),
    "settings edited": (_edit_config("settings", {"epochs": "2", "buffer_size": "50"}), 2, "differs from the configuration"),
    "config is a list": (_write("config.json", "[]"), 2, "is not a CLUB run configuration (it is not a JSON object)"),
    "config without a method": (_edit_config("method", None), 2, "'method' is missing or not a string"),
    "config with a boolean seed": (_edit_config("seed", True), 2, "'seed' is missing or not an integer"),
    "config not JSON": (_write("config.json", "{"), 2, "not a run folder with a readable config.json"),
    "empty checkpoint": (_write("checkpoint.pt", b""), 1, "checkpoint.pt is damaged"),
    "truncated checkpoint": (_truncate, 1, "checkpoint.pt is damaged"),
    "checkpoint of something else": (lambda d: torch.save({"weights": torch.zeros(2)}, d / "checkpoint.pt"), 1, "checkpoint.pt is damaged (not a checkpoint)"),
    "made on another device": (_made_on_cuda, 2, "the run computes on cuda; continuing on cpu would change its result"),
}


@pytest.mark.parametrize("name", RESUME_CASES)
def test_resume_refuses_what_it_cannot_trust(name, interrupted, tmp_path, capsys):
    edit, code, needle = RESUME_CASES[name]
    run_dir = _copy(interrupted, tmp_path)
    edit(run_dir)
    assert main(["--resume", str(run_dir)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and needle in err, err
    assert not (run_dir / "result.json").exists()


def test_resume_in_a_folder_another_process_holds_is_refused(interrupted, tmp_path, capsys):
    run_dir = _copy(interrupted, tmp_path)
    with FolderLock(run_dir):
        assert main(["--resume", str(run_dir)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is in use by another process" in err


def test_resume_finishes_and_removes_stale_temporary_files(interrupted, tmp_path, capsys):
    run_dir = _copy(interrupted, tmp_path)
    stale = [run_dir / ".checkpoint.pt.k1ll3d.tmp", run_dir / ".result.json.x7y8z9.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    (run_dir / "mine.tmp").write_text("not the runner's")  # a user's file: left alone
    assert main(["--resume", str(run_dir), "--device", "cpu"]) == 0  # --device naming the run's own device is allowed
    out = capsys.readouterr().out
    assert f"resuming {run_dir} at step 3/5" in out
    assert not list(run_dir.glob(".*.tmp")) and (run_dir / "mine.tmp").exists()
    validate_result(json.loads((run_dir / "result.json").read_text()))


def test_a_kill_while_the_result_is_written_resumes_without_step_6_of_5(interrupted, tmp_path, capsys, monkeypatch):
    run_dir = _copy(interrupted, tmp_path)
    real = runner.write_json

    def interrupt_result(path, data):
        if Path(path).name == "result.json":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(runner, "write_json", interrupt_result)
    assert main(["--resume", str(run_dir)]) == 130
    monkeypatch.setattr(runner, "write_json", real)
    assert not (run_dir / "result.json").exists() and (run_dir / "checkpoint.pt").exists()
    capsys.readouterr()
    assert main(["--resume", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run_dir}: every step is done; writing the result" in out and "6/5" not in out
    assert (run_dir / "result.json").exists()


# --- concurrency ----------------------------------------------------------------------------
def test_eight_runs_started_at_once_into_one_out_all_succeed(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(8)
    out = tmp_path / "runs"

    def start():
        barrier.wait()
        os._exit(main(["--method", "nmc", "--device", "cpu", "--out", str(out), "--data-dir", str(tmp_path / "data")]))

    processes = [context.Process(target=start) for _ in range(8)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=600)
    assert [p.exitcode for p in processes] == [0] * 8
    folders = sorted(out.iterdir())
    assert len(folders) == 8 and all((f / "result.json").exists() for f in folders)


# --- the retrain-oracle cache ---------------------------------------------------------------
def test_a_tampered_oracle_cache_entry_is_detected_and_rebuilt(tmp_path, capsys):
    args = ["--method", "ssd", "--scenario", "digits-forget-class", "--set", "epochs=1", "--device", "cpu", "--data-dir", str(tmp_path / "data")]

    def run(out):
        assert main([*args, "--out", str(tmp_path / out)]) == 0
        captured = capsys.readouterr()
        (path,) = (tmp_path / out).glob("*/result.json")
        return json.loads(path.read_text()), captured.err

    first, err = run("first")
    assert err == ""
    request = first["unlearning"][0]
    assert request["speed_up"] is not None and request["speed_up_basis"] == "method and oracle trained in this run, same hardware"
    (entry,) = (tmp_path / "data" / "oracles").glob("*.pt")
    saved = torch.load(entry, weights_only=True)
    name = next(iter(saved["model"]))
    saved["model"][name] = saved["model"][name] + 1.0  # edited weights, stale hash
    torch.save(saved, entry)

    second, err = run("second")
    assert err.count("\n") == 1 and err.startswith("warning: retrain-oracle cache entry") and "does not match its SHA-256" in err
    assert second["metrics"]["avg_gap"] == first["metrics"]["avg_gap"]  # the rebuilt oracle is the original one
    assert second["unlearning"][0]["oracle"] == request["oracle"]

    entry.write_bytes(entry.read_bytes()[:100])  # a truncated entry
    third, err = run("third")
    assert "warning: retrain-oracle cache entry" in err and "unreadable" in err
    assert third["metrics"]["avg_gap"] == first["metrics"]["avg_gap"]

    fourth, err = run("fourth")  # the rewritten entry is trusted again
    assert err == "" and fourth["steps"][1]["oracle"]["cached"] is True
    assert fourth["unlearning"][0]["speed_up_basis"] == "method and oracle read from the cache, same hardware"

    elsewhere = json.loads(json.dumps(fourth))
    elsewhere["steps"][1]["oracle"]["hardware"]["machine"] = "0123456789abcdef"
    again = recompute_metrics(elsewhere)
    assert again["unlearning"][0]["speed_up"] is None
    assert again["unlearning"][0]["speed_up_basis"] == "not comparable: oracle read from the cache on other hardware"
