"""Sweeps: the grid, the local and Ray backends (which agree run by run), kill and relaunch,
failed runs, the report, and one run over two processes with torchrun."""

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from benchmarks.report import write_report
from benchmarks.report_plots import SIZE
from benchmarks.run import main as run_main
from benchmarks.sweep import Progress, SweepState, configure, main as sweep_main, parse_args
from benchmarks.sweep_backends import gpu_slots
from benchmarks.sweep_grid import Cell, Grid, parse_seeds
from benchmarks.errors import UsageError
from scenarios import class_order_for

ROOT = Path(__file__).resolve().parent.parent
GRID = ["--methods", "finetune,nmc", "--seeds", "0-1", "--set", "epochs=2", "--device", "cpu"]
CELLS = {f"digits-cil/{m}/seed-{s}" for m in ("finetune", "nmc") for s in (0, 1)}
DDP_TOLERANCE = 0.03  # final accuracy, two processes against one


def ray_or_skip():
    """Ray, or a skip where it is not installed; in CI (CI=true) a missing Ray fails the test."""
    if os.environ.get("CI") == "true":
        import ray

        return ray
    return pytest.importorskip("ray")


def results(sweep_dir: Path) -> dict[str, dict]:
    """Every result of a sweep by cell (the run folder's parent, relative to the sweep folder)."""
    found = {p.parent.parent.relative_to(sweep_dir).as_posix(): json.loads(p.read_text()) for p in sweep_dir.rglob("result.json")}
    assert len(found) == len(list(sweep_dir.rglob("result.json"))), "one run folder per cell"
    return found


def comparable(report: dict) -> dict:
    """A report's numbers without what differs between two sweeps of the same grid (paths)."""
    return {"scenarios": report["scenarios"], "runs": [{k: v for k, v in r.items() if k != "path"} for r in report["runs"]]}


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    printed = io.StringIO()
    with redirect_stdout(printed):
        code = sweep_main([*GRID, "--workers", "2", "--out", str(out)])
    assert code == 0, printed.getvalue()
    return out, printed.getvalue()


@pytest.fixture(scope="module")
def ray_instance():
    ray = ray_or_skip()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_local_sweep_runs_the_grid_as_ordinary_run_folders(local_sweep):
    out, printed = local_sweep
    found = results(out)
    assert set(found) == CELLS
    for cell, result in found.items():
        scenario, method, seed = cell.split("/")
        assert (result["method"]["name"], result["scenario"]["name"], f"seed-{result['seed']}") == (method, scenario, seed)
        assert result["method"]["hyperparameters"]["epochs"] == 2
    state = json.loads((out / "state.json").read_text())
    assert {c: r["status"] for c, r in state["runs"].items()} == dict.fromkeys(CELLS, "done")
    assert all((out / r["run_dir"] / "result.json").is_file() for r in state["runs"].values())
    assert json.loads((out / "sweep.json").read_text())["grid"]["methods"] == ["finetune", "nmc"]
    lines = [line for line in printed.splitlines() if "] done " in line]  # plain progress lines off a terminal
    assert len(lines) == 4 and lines[-1].startswith("[4/4 done, 0 running, 0 failed, about 0s left]")


def test_a_sweep_folder_is_submitted_to_the_leaderboard_in_one_command(local_sweep, tmp_path):
    from leaderboard.cli import main as leaderboard_main

    out, _ = local_sweep
    db = tmp_path / "board.db"
    assert leaderboard_main(["submit", str(out), "--db", str(db)]) == 0
    shown = io.StringIO()
    with redirect_stdout(shown):
        assert leaderboard_main(["show", "digits-cil", "--db", str(db)]) == 0
    rows = {line.split()[1]: line.split() for line in shown.getvalue().splitlines()[2:] if line.strip()}
    assert set(rows) == {"finetune", "nmc"}  # one row per method, both seeds in it
    assert all(row[7] == "2" for row in rows.values()), shown.getvalue()  # the seeds column


def test_local_and_ray_sweeps_agree_run_by_run(local_sweep, ray_instance, tmp_path):
    local_dir, _ = local_sweep
    ray_dir = tmp_path / "ray"
    assert sweep_main([*GRID, "--backend", "ray", "--out", str(ray_dir)]) == 0
    local, ray = results(local_dir), results(ray_dir)
    assert set(ray) == set(local) == CELLS
    for cell in CELLS:
        assert ray[cell]["accuracy_matrix"] == local[cell]["accuracy_matrix"], cell
    local_report = json.loads((write_report(local_dir) / "report.json").read_text())
    ray_report = json.loads((write_report(ray_dir) / "report.json").read_text())
    assert comparable(ray_report) == comparable(local_report)
    assert len(ray_report["runs"]) == 4


def test_ray_without_a_shared_file_system_sends_run_folders_back(local_sweep, ray_instance, tmp_path):
    local_dir, _ = local_sweep
    out = tmp_path / "sent-back"
    grid = ["--methods", "nmc", "--seeds", "1", "--set", "epochs=2", "--device", "cpu"]
    assert sweep_main([*grid, "--backend", "ray", "--send-back", "--out", str(out)]) == 0
    local, sent = results(local_dir), results(out)
    assert set(sent) == {"digits-cil/nmc/seed-1"}
    for cell, result in sent.items():
        assert result["accuracy_matrix"] == local[cell]["accuracy_matrix"]
        header = (out / cell / "stdout.log").read_text().splitlines()[0]
        assert "--out " in header and "club-cell-" in header and str(out) not in header  # ran in the task's own folder


def test_a_killed_sweep_relaunched_completes_without_rerunning_finished_runs(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["--methods", "finetune", "--seeds", "0", "--grid", "scenario.order=3,4", "--set", "epochs=30", "--device", "cpu",
            "--workers", "1", "--out", str(out)]
    first, second = out / "digits-cil/finetune/scenario.order=3/seed-0", out / "digits-cil/finetune/scenario.order=4/seed-0"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.sweep", *args], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, killed = time.time() + 300, False
    while time.time() < deadline and proc.poll() is None:
        if list(first.glob("*/result.json")) and list(second.glob("*/checkpoint.pt")):  # second run at least one step in
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.01)
    proc.wait()
    assert killed, "the sweep ended before it could be killed midway"
    deadline = time.time() + 20  # no run outlives its sweep (PR_SET_PDEATHSIG)
    while time.time() < deadline and any(str(out) in _cmdline(p) for p in Path("/proc").glob("[0-9]*")):
        time.sleep(0.1)
    assert not any(str(out) in _cmdline(p) for p in Path("/proc").glob("[0-9]*"))
    (done_result,) = first.glob("*/result.json")
    (interrupted,) = second.glob("*/config.json")
    assert not (interrupted.parent / "result.json").exists()
    mtime = done_result.stat().st_mtime_ns

    assert sweep_main(args) == 0  # the same command again
    assert "1 already finished" in capsys.readouterr().out
    assert done_result.stat().st_mtime_ns == mtime  # the finished run was not run again
    assert (first / "stdout.log").read_text().count("--- ") == 1
    assert [p.name for p in second.glob("*/result.json")] == ["result.json"]
    assert (interrupted.parent / "result.json").exists(), "the interrupted run folder itself was continued"
    assert f"--resume {interrupted.parent}" in (second / "stdout.log").read_text()
    assert "resuming" in (second / "stdout.log").read_text()

    # the class order is a swept variable: each cell has its order seed's permutation, and the
    # report shows the spread over orders
    for folder, order in ((first, 3), (second, 4)):
        result = json.loads(next(folder.glob("*/result.json")).read_text())
        assert result["scenario"]["options"]["order"] == order
        assert result["scenario"]["class_order"] == class_order_for(10, "seed", order)
    report = write_report(out)
    spread = json.loads((report / "report.json").read_text())["scenarios"]["digits-cil"]["rows"][0]["orders"]
    assert [o["order"] for o in spread["orders"]] == [3, 4] and spread["between_orders"]["n"] == 2
    assert "Spread over class orders" in (report / "report.md").read_text()


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


BROKEN_PLUGIN = '''
from methods import get_method, register_method


@register_method("deliberately-failing")
class DeliberatelyFailing(get_method("finetune")):
    """Fine-tuning that raises on its second step, every time."""

    def learn(self, step):
        if step.index == 1:
            raise RuntimeError("deliberate failure at step 1")
        super().learn(step)
'''


def test_a_failing_run_is_retried_then_reported_failed_while_the_rest_completes(tmp_path, capsys):
    plugin = tmp_path / "failing_method.py"
    plugin.write_text(BROKEN_PLUGIN)
    out = tmp_path / "sweep"
    code = sweep_main(["--methods", "deliberately-failing,finetune", "--seeds", "0", "--set", "epochs=2", "--device", "cpu",
                       "--workers", "2", "--plugin", str(plugin), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1
    runs = json.loads((out / "state.json").read_text())["runs"]
    failed = runs["digits-cil/deliberately-failing/seed-0"]
    assert failed["status"] == "failed" and failed["attempts"] == 2
    assert "step 2/5: RuntimeError: deliberate failure at step 1" in failed["error"]  # the run's one-line error
    assert runs["digits-cil/finetune/seed-0"]["status"] == "done"
    assert (out / runs["digits-cil/finetune/seed-0"]["run_dir"] / "result.json").is_file()
    log = (out / "digits-cil/deliberately-failing/seed-0/stdout.log").read_text()
    assert log.count("--- ") == 2 and "--resume" in log  # the retry continued from the last finished step
    retry = next(line for line in printed.splitlines() if "retry   digits-cil/deliberately-failing/seed-0: attempt 1 failed: " in line)
    failure = next(line for line in printed.splitlines() if "failed digits-cil/deliberately-failing/seed-0 after 2 attempt(s): " in line)
    assert "RuntimeError: deliberate failure at step 1" in retry and "RuntimeError: deliberate failure at step 1" in failure
    report = (write_report(out) / "report.md").read_text()
    assert "## Failed runs" in report and "deliberate failure at step 1" in report


def test_report_tables_and_plots(local_sweep, tmp_path):
    import matplotlib.image

    local_dir, _ = local_sweep
    copy = tmp_path / "sweep"
    shutil.copytree(local_dir, copy)
    shutil.copytree(copy / "digits-cil/nmc/seed-0", copy / "digits-cil/nmc/.seed-0.old")  # a temporary copy: not a run
    folder = write_report(copy, tmp_path / "report")
    markdown = (folder / "report.md").read_text()
    html = (folder / "report.html").read_text()
    data = json.loads((folder / "report.json").read_text())
    rows = {r["label"]: r for r in data["scenarios"]["digits-cil"]["rows"]}
    assert set(rows) == {"finetune", "nmc"} and all(r["n"] == 2 for r in rows.values())
    finals = [r["metrics"]["final_accuracy"] for r in data["runs"] if r["label"] == "nmc"]
    assert rows["nmc"]["stats"]["final_accuracy"]["mean"] == pytest.approx(sum(finals) / 2)
    table_rows = [line for line in markdown.splitlines() if line.startswith("| nmc | 2 | ")]
    assert len(table_rows) == 1 and " ± " in table_rows[0]
    for cell in table_rows[0].strip("| ").split(" | "):  # the HTML holds the same table
        assert f"<td>{cell}</td>" in html
    pngs = sorted(folder.glob("*.png"))
    assert [p.name for p in pngs] == ["digits-cil-accuracy-per-step.png", "digits-cil-final-accuracy.png", "digits-cil-forgetting-vs-accuracy.png"]
    for png in pngs:
        assert f"({png.name})" in markdown and f'src="{png.name}"' in html
        image = matplotlib.image.imread(png)
        assert image.shape[:2] == (SIZE[1], SIZE[0])
        assert len({tuple(px) for px in image.reshape(-1, image.shape[2])[::7]}) > 20, f"{png.name} is blank"


def test_report_of_a_folder_without_results_is_one_line(tmp_path, capsys):
    from benchmarks.report import main as report_main

    assert report_main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no result.json" in err


def test_a_sweep_file_names_the_same_grid_as_the_flags(tmp_path):
    yaml_file, toml_file = tmp_path / "grid.yaml", tmp_path / "grid.toml"
    yaml_file.write_text("methods: [finetune, nmc]\nseeds: 0-2\nset: {epochs: 2}\ngrid: {scenario.order: [0, 1], lr: [0.01, 0.1]}\n"
                         "backend: ray\ngpus_per_run: 0.25\n")
    toml_file.write_text('methods = ["finetune", "nmc"]\nseeds = [0, 1, 2]\nbackend = "ray"\ngpus_per_run = 0.25\n[set]\nepochs = 2\n'
                         '[grid]\n"scenario.order" = [0, 1]\nlr = [0.01, 0.1]\n')
    flags = ["--methods", "finetune,nmc", "--seeds", "0-2", "--set", "epochs=2", "--grid", "scenario.order=0,1", "--grid", "lr=0.01,0.1",
             "--backend", "ray", "--gpus-per-run", "0.25", "--out", str(tmp_path / "a")]
    grid, execution, _ = configure(parse_args(flags))
    for file in (yaml_file, toml_file):
        from_file, file_execution, _ = configure(parse_args([str(file), "--out", str(tmp_path / "a")]))
        assert from_file == grid and file_execution == execution
    cells = grid.cells()
    assert len(cells) == 2 * 2 * 2 * 3
    assert cells[0].path == "digits-cil/finetune/scenario.order=0_lr=0.01/seed-0"
    assert cells[0].arguments(grid)[-4:] == ["--set", "scenario.order=0", "--set", "lr=0.01"]
    assert execution.backend == "ray" and execution.gpus_per_run == 0.25


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--methods", "nope"], "unknown method 'nope'"),
        (["--methods", "finetune", "--scenarios", "nope"], "unknown scenario 'nope'"),
        (["--methods", "finetune", "--seeds", "a-b"], "--seeds expects numbers"),
        (["--methods", "finetune", "--set", "typo=1"], "has no setting 'typo'"),
        (["--methods", "finetune", "--grid", "lr"], "--grid expects key=value1,value2"),
        (["--methods", "finetune", "--grid", "lr=0.1,0.2", "--set", "lr=0.1"], "both set (--set) and swept (--grid)"),
        (["--methods", "finetune", "--workers", "0"], "--workers must be at least 1"),
        (["--methods", "finetune", "--address", "auto"], "--address is an option of --backend ray"),
        (["--methods", "finetune", "--scenarios", "digits-fscil"], "cannot run scenario 'digits-fscil'"),
        (["--methods", "finetune", "--backend", "slurm"], "invalid choice: 'slurm'"),
        (["--seeds", "0"], "--methods is required"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_2(tmp_path, capsys, args, needle):
    code = sweep_main([*args, "--out", str(tmp_path / "sweep")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not (tmp_path / "sweep").exists(), "a refused sweep leaves no folder"


def test_ray_backend_without_ray_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    code = sweep_main(["--methods", "finetune", "--backend", "ray", "--out", str(tmp_path / "sweep")])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "needs Ray: pip install 'club[sweep]'" in err
    assert not (tmp_path / "sweep").exists()


def test_a_sweep_folder_keeps_its_grid(tmp_path, capsys):
    out = tmp_path / "sweep"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"grid": Grid(["er"], ["digits-cil"], [0]).to_json()}))
    assert sweep_main(["--methods", "finetune", "--out", str(out)]) == 2
    assert "holds another sweep's grid" in capsys.readouterr().err
    assert sweep_main(["--resume", str(tmp_path)]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert sweep_main(["--resume", str(out), "--methods", "er"]) == 2
    assert "drop --methods" in capsys.readouterr().err
    stored = {"grid": Grid(["er"], ["digits-cil"], [0]).to_json(), "execution": {"backend": "ray", "send_back": True, "workers": 3}}
    (out / "sweep.json").write_text(json.dumps(stored))
    grid, execution, _ = configure(parse_args(["--resume", str(out)]))
    assert grid.methods == ["er"] and (execution.backend, execution.send_back, execution.workers) == ("ray", True, 3)
    _, execution, _ = configure(parse_args(["--resume", str(out), "--backend", "local"]))  # Ray's options stay behind
    assert (execution.backend, execution.send_back, execution.workers) == ("local", False, 3)


def test_seeds_and_gpu_shares():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3,0-1,3") == [3, 0, 1]
    assert gpu_slots(["0", "1"], 0.5) == ["0", "1", "0", "1"]
    assert gpu_slots(["0", "1"], 0.3) == ["0", "1"] * 3
    assert gpu_slots(["2", "3", "5", "7"], 2) == ["2,3", "5,7"]
    with pytest.raises(UsageError, match="whole GPUs"):
        gpu_slots(["0", "1"], 1.5)


def test_progress_projects_the_time_left(tmp_path):
    cells = [Cell("digits-cil", "finetune", (), s) for s in range(6)]
    state = SweepState(tmp_path, cells)
    for cell in cells[:2]:
        state.update(cell, status="done")
    for cell in cells[2:4]:
        state.update(cell, status="running")
    progress = Progress(state, capacity=2, out=io.StringIO())
    assert progress.time_left() == "time left known after the first run"
    progress.durations = [10.0, 30.0]  # mean 20 s
    now = time.monotonic()
    progress.started = {cells[2].path: now - 5, cells[3].path: now - 15}
    # two pending runs of 20 s, and 15 s + 5 s left of the running ones, on two workers: 30 s
    assert progress.line() == "2/6 done, 2 running, 0 failed, about 30s left"
    printed, terminal = io.StringIO(), io.StringIO()
    live = Progress(state, capacity=2, out=printed, live=terminal)  # on a terminal: events above one live line
    live.event("done    digits-cil/finetune/seed-0 (8.0s)")
    assert printed.getvalue() == "done    digits-cil/finetune/seed-0 (8.0s)\n"
    assert terminal.getvalue().endswith("\r\033[Ksweep: 2/6 done, 0 running, 0 failed, time left known after the first run")


def test_torchrun_two_processes_on_cpu_write_one_result_close_to_one_process(tmp_path, capsys):
    args = ["--method", "joint", "--set", "epochs=2", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    two = tmp_path / "two"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "benchmarks.run", *args, "--out", str(two)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list(two.iterdir())) == 1 and len(list(two.rglob("result.json"))) == 1, "rank 0 alone writes"
    assert proc.stdout.count("result: ") == 1
    result = json.loads(next(two.rglob("result.json")).read_text())
    assert result["environment"]["distributed"] == {"world_size": 2, "backend": "gloo"}

    assert run_main([*args, "--out", str(tmp_path / "one")]) == 0
    one = json.loads(next((tmp_path / "one").rglob("result.json")).read_text())
    assert "distributed" not in one["environment"]
    assert abs(result["metrics"]["final_accuracy"] - one["metrics"]["final_accuracy"]) <= DDP_TOLERANCE
    assert one["metrics"]["final_accuracy"] > 0.9  # joint training: the comparison is not between two failures


def test_a_method_that_cannot_run_data_parallel_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it; refused before joining any process group
    code = run_main(["--method", "ssd", "--scenario", "digits-forget-class", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "cannot run over several processes" in err
    assert not any(tmp_path.iterdir())
