"""The command line: results, errors, plugins, datasets, and kill-and-resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.run import main
from leaderboard import recompute_metrics, validate_result

ROOT = Path(__file__).resolve().parent.parent
FAST = ["--set", "epochs=2", "--device", "cpu"]


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_result_json_holds_everything_to_rederive_the_numbers(tmp_path, capsys):
    code, out, _ = run(["--method", "er", "--out", str(tmp_path), *FAST, "--set", "buffer_size=50"], capsys)
    assert code == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith("result: ")
    path = Path(last.removeprefix("result: "))
    result = json.loads(path.read_text())
    validate_result(result)
    assert result["method"]["hyperparameters"]["buffer_size"] == 50
    assert result["method"]["hyperparameters"]["epochs"] == 2
    assert [s["classes"] for s in result["scenario"]["steps"]] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert sorted(result["scenario"]["class_order"]) == list(range(10))
    assert result["environment"]["packages"]["torch"] and result["environment"]["device"] == "cpu"
    assert all(r["train_seconds"] > 0 and r["peak_memory_bytes"] > 0 for r in result["steps"])
    again = recompute_metrics(result)
    assert again["accuracy_matrix"] == result["accuracy_matrix"]
    for name, value in again["metrics"].items():
        assert value == pytest.approx(result["metrics"][name])
    run_dir = path.parent
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events].count("step_end") == 5 and events[-1]["event"] == "run_end"
    assert not (run_dir / "checkpoint.pt").exists()
    assert not list(run_dir.glob(".*.tmp"))
    assert "accuracy matrix" in out and "final_accuracy" in out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--method", "nope"], "unknown method 'nope'; choose from"),
        (["--method", "er", "--scenario", "nope"], "unknown scenario 'nope'; choose from"),
        (["--method", "er", "--set", "lr"], "expects key=value"),
        (["--method", "er", "--set", "lr=fast"], "lr=fast: expected a number"),
        (["--method", "er", "--set", "epochs=2.5"], "expected an integer"),
        (["--method", "er", "--set", "momentum_typo=1"], "has no setting 'momentum_typo'"),
        (["--method", "er", "--plugin", "missing_file.py"], "does not exist"),
        (["--method", "er", "--set", "scenario.increment=3"], "whole steps"),
        ([], "--method is required"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, args, needle):
    code, out, err = run([*args, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not any(tmp_path.iterdir()), "a refused run must leave no run folder"


def test_list(capsys):
    code, out, _ = run(["--list"], capsys)
    assert code == 0 and "finetune" in out and "digits-cil" in out


def test_plugin_file_runs(tmp_path, capsys):
    code, out, _ = run(
        ["--method", "frozen-backbone", "--plugin", str(ROOT / "examples" / "frozen_backbone.py"), "--out", str(tmp_path), *FAST],
        capsys,
    )
    assert code == 0
    result = json.loads(Path(out.strip().splitlines()[-1].removeprefix("result: ")).read_text())
    assert result["method"]["name"] == "frozen-backbone"


def test_missing_dataset_offline_is_one_line(tmp_path, capsys, monkeypatch):
    import scenarios.data.cifar as cifar

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(cifar, "download_and_extract_archive", offline)
    code, _, err = run(["--method", "er", "--scenario", "cifar100-b0inc10", "--data-dir", str(tmp_path), "--out", str(tmp_path)], capsys)
    assert code == 1 and err.count("\n") == 1 and "cifar100" in err and "Traceback" not in err
    assert not list(tmp_path.glob("cifar100*")), "a run whose data is missing must leave no run folder"


def test_kill_and_resume_reproduces_the_uninterrupted_run(tmp_path, capsys):
    settings = ["--method", "er", "--seed", "3", "--device", "cpu", "--set", "epochs=40"]
    killed_out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.run", *settings, "--out", str(killed_out)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    run_dir = None
    while time.time() < deadline and proc.poll() is None:
        events = list(killed_out.glob("*/events.jsonl"))
        if events and events[0].read_text().count('"step_end"') >= 2:
            run_dir = events[0].parent
            busy = main(["--resume", str(run_dir)])  # a second process on the folder is refused
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert run_dir is not None, "the run ended before it could be killed"
    assert busy == 1 and "is in use by another process" in capsys.readouterr().err
    assert not (run_dir / "result.json").exists() and (run_dir / "checkpoint.pt").exists()
    (run_dir / ".checkpoint.pt.interrupted.tmp").write_bytes(b"what a kill during a write leaves")

    code, out, _ = run(["--resume", str(run_dir)], capsys)
    assert code == 0 and "resuming" in out
    assert not list(run_dir.glob("*.tmp")) and not list(run_dir.glob(".*.tmp"))
    resumed = json.loads((run_dir / "result.json").read_text())

    code, out, _ = run([*settings, "--out", str(tmp_path / "straight")], capsys)
    straight = json.loads(Path(out.strip().splitlines()[-1].removeprefix("result: ")).read_text())
    assert resumed["accuracy_matrix"] == straight["accuracy_matrix"]


def test_wandb_logs_offline_without_an_account(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    code, out, _ = run(["--method", "finetune", "--wandb", "--out", str(tmp_path), *FAST], capsys)
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1].removeprefix("result: ")).parent
    assert list(run_dir.glob("wandb/offline-run-*/*.wandb"))
