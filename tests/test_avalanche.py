"""Avalanche interop: its strategies as CLUB methods, CLUB scenarios as Avalanche benchmarks,
Avalanche evaluations as CLUB records (issue 13)."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import runner
from benchmarks.run import main
from leaderboard import recompute_metrics, validate_result
from methods import StreamInfo, get_method, load_lazy_methods, method_names
from methods.supervised import SupervisedMethod
from metrics import forgetting_first_final, from_avalanche, summarize
from scenarios import PRESETS, apply_overrides, build_scenario, to_avalanche

ROOT = Path(__file__).resolve().parent.parent
CPU = ["--device", "cpu"]


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def result_of(out: str) -> dict:
    return json.loads(Path(out.strip().splitlines()[-1].removeprefix("result: ")).read_text())


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return build_scenario(PRESETS["digits-cil"], 0, tmp_path_factory.mktemp("data"))


def test_avalanche_is_imported_only_for_its_methods_and_its_absence_is_one_line(tmp_path):
    script = (
        "import sys\n"
        "from benchmarks.run import main\n"
        "from methods import get_method\n"
        "get_method('finetune')\n"
        "print('imported after finetune:', 'avalanche' in sys.modules)\n"
        "sys.modules['avalanche'] = None  # as if avalanche-lib were not installed\n"
        "print('list exit', main(['--list']))\n"
        f"print('run exit', main(['--method', 'avalanche:EWC', '--out', {str(tmp_path)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert "imported after finetune: False" in done.stdout
    assert "list exit 0" in done.stdout and "  avalanche:* methods need avalanche, which is not installed: pip install -e '.[avalanche]'" in done.stdout
    assert "finetune" in done.stdout and "run exit 1" in done.stdout
    assert done.stderr == "error: method 'avalanche:EWC' needs avalanche, which is not installed: pip install -e '.[avalanche]'\n"
    assert not any(tmp_path.iterdir())


def test_list_shows_the_strategies_that_run_and_their_protocols(capsys):
    code, out, _ = run(["--list"], capsys)
    assert code == 0
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  avalanche:")}
    assert {"avalanche:Naive", "avalanche:EWC", "avalanche:iCaRL", "avalanche:DER", "avalanche:GDumb"} <= set(lines)
    assert "[online]" in lines["avalanche:ER_ACE"] and "[online]" not in lines["avalanche:EWC"]
    assert "avalanche:PNNStrategy" not in lines and "avalanche:BiC" not in lines


@pytest.mark.parametrize(
    "args,code,needle",
    [
        (["--method", "avalanche:PNNStrategy"], 2, "cannot run on CLUB's protocols: one column per task, chosen by the task label at test time"),
        (["--method", "avalanche:PackNet"], 2, "task label at test time"),
        (["--method", "avalanche:BiC"], 2, "MultiStepLR"),
        (["--method", "avalanche:EWC", "--scenario", "digits-online-cil"], 2, "does not declare online = True"),
        (["--method", "avalanche:Naive", "--scenario", "digits-fscil"], 2, "does not declare few_shot = True"),
        (["--method", "avalanche:NoSuchStrategy"], 2, "unknown method 'avalanche:NoSuchStrategy'; choose from"),
        (["--method", "avalanche:EWC", "--set", "ewc_lambda=strong"], 2, "ewc_lambda=strong: expected a number"),
        (["--method", "avalanche:EWC", "--set", "model=x"], 2, "has no setting 'model'"),
        (["--method", "avalanche:Replay", "--set", "storage_policy=fifo"], 2, "storage_policy must be one of experience_balanced, class_balanced, reservoir"),
    ],
)
def test_refusals_are_one_line_before_training(tmp_path, capsys, args, code, needle):
    got, _, err = run([*args, *CPU, "--out", str(tmp_path)], capsys)
    assert got == code and err.count("\n") == 1 and needle in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())


def test_settings_are_the_strategy_keyword_arguments_with_typed_defaults():
    ewc = get_method("avalanche:EWC").hyperparameters()
    device_options = {"probe_layer", "compile", "cuda_graphs", "optimizer_impl", "tf32"}  # Avalanche runs its own loop
    training = {k: v for k, v in SupervisedMethod.hyperparameters().items() if k not in device_options}
    assert {k: ewc[k] for k in training} == training and ewc["reset_optimizer"] is True
    assert {k: ewc[k] for k in ("ewc_lambda", "mode", "decay_factor", "keep_importance_data")} == {
        "ewc_lambda": 0.4, "mode": "separate", "decay_factor": None, "keep_importance_data": False,
    }  # fmt: skip
    for name in [n for n in method_names() if n.startswith("avalanche:")]:
        settings = get_method(name).hyperparameters()
        assert {k: settings[k] for k in training} == training  # CLUB's optimizer setting names the optimiser
        own = set(settings) - set(training)
        assert not {"model", "criterion", "device", "plugins", "evaluator", "train_mb_size", "train_epochs", "eval_mb_size"} & own
        assert all(v is None or isinstance(v, (bool, int, float, str)) for v in settings.values())
    assert get_method("avalanche:Replay").hyperparameters()["storage_policy"] == "experience_balanced"
    assert get_method("avalanche:FromScratchTraining").hyperparameters()["fromscratchtraining_reset_optimizer"] is True


def _names():
    load_lazy_methods()
    slow = {"avalanche:MER"}  # its meta-updates take ~20 s even for one epoch
    return [pytest.param(n, marks=pytest.mark.slow) if n in slow else n for n in method_names() if n.startswith("avalanche:")]


@pytest.mark.parametrize("name", _names())
def test_every_listed_strategy_learns_predicts_and_checkpoints(digits, name):
    """Two steps of one epoch, then the checkpoint the runner writes, restored and trained on
    the next step, predicts exactly as the live method."""
    info = StreamInfo(digits.input_shape, digits.num_classes, len(digits.steps), "mlp")
    torch.manual_seed(0)
    method = get_method(name)(info, torch.device("cpu"), epochs=1)
    method.learn(digits.steps[0])
    method.learn(digits.steps[1])
    checkpoint = io.BytesIO()
    torch.save(method, checkpoint)
    rng = torch.get_rng_state()
    method.learn(digits.steps[2])
    with torch.no_grad():
        live = method.predict(digits.test_x)
    assert live.shape == (len(digits.test_y), 6) and torch.isfinite(live).all()
    torch.set_rng_state(rng)
    checkpoint.seek(0)
    restored = torch.load(checkpoint, weights_only=False)
    restored.learn(digits.steps[2])
    with torch.no_grad():
        assert torch.equal(restored.predict(digits.test_x), live)


@pytest.fixture(scope="module")
def side_by_side(tmp_path_factory):
    """CLUB's baselines and Avalanche's counterparts on digits-cil, seed 0, the same (default)
    settings: with fewer epochs single runs of either sometimes stall on a step."""
    out = tmp_path_factory.mktemp("runs")
    found = {}
    for method, extra in [
        ("finetune", []), ("avalanche:Naive", []),
        ("er", []), ("avalanche:Replay", ["--set", "storage_policy=reservoir", "--set", "mem_size=200"]),
        ("joint", []), ("avalanche:Cumulative", []),
    ]:  # fmt: skip
        assert main(["--method", method, "--seed", "0", *CPU, *extra, "--out", str(out)]) == 0
        (path,) = out.glob(f"digits-cil_{method}_s0_*/result.json")
        found[method] = json.loads(path.read_text())
    return found


@pytest.mark.parametrize("club,avalanche", [("finetune", "avalanche:Naive"), ("er", "avalanche:Replay"), ("joint", "avalanche:Cumulative")])
def test_avalanche_matches_club_within_two_points(side_by_side, club, avalanche):
    ours, theirs = side_by_side[club]["metrics"], side_by_side[avalanche]["metrics"]
    assert abs(ours["final_accuracy"] - theirs["final_accuracy"]) <= 0.02
    assert side_by_side[avalanche]["method"]["details"]["strategy"].startswith("avalanche.training")


@pytest.mark.parametrize("name", ["avalanche:EWC", "avalanche:LwF", "avalanche:GDumb", "avalanche:iCaRL", "avalanche:DER"])
def test_strategies_run_to_a_valid_result(tmp_path, capsys, name):
    code, out, err = run(["--method", name, *CPU, "--set", "epochs=2", "--out", str(tmp_path)], capsys)
    assert code == 0 and "Traceback" not in err and "Warning" not in err
    result = result_of(out)
    validate_result(result)
    assert result["method"]["name"] == name and result["method"]["hyperparameters"]["epochs"] == 2
    assert len(result["accuracy_matrix"]) == 5 and 0.0 <= result["metrics"]["final_accuracy"] <= 1.0
    again = recompute_metrics(result)
    assert again["accuracy_matrix"] == result["accuracy_matrix"]
    assert again["metrics"]["forgetting_first_final"] == pytest.approx(result["metrics"]["forgetting_first_final"])


def test_online_stream_runs_within_the_update_budget(tmp_path, capsys):
    code, out, _ = run(["--method", "avalanche:Naive", "--scenario", "digits-online-cil", *CPU, "--out", str(tmp_path)], capsys)
    assert code == 0
    result = result_of(out)
    validate_result(result)
    steps = result["steps"]
    assert all(s["online"]["gradient_steps"] == -(-sum(t for _, t in s["online"]["windows"]) // 10) for s in steps)
    assert result["metrics"]["online_accuracy"] > 0.3


def test_interrupted_run_resumes_to_the_same_result(tmp_path, capsys, monkeypatch):
    """A-GEM keeps an iterator between experiences: the checkpoint must restore it exactly."""
    settings = ["--method", "avalanche:AGEM", "--seed", "1", *CPU, "--set", "epochs=1"]
    code, out, _ = run([*settings, "--out", str(tmp_path / "straight")], capsys)
    straight = result_of(out)

    save = runner.save_checkpoint

    def save_then_stop(run_dir, state, stream):
        save(run_dir, state, stream)
        if state.next_step == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "save_checkpoint", save_then_stop)
    assert main([*settings, "--out", str(tmp_path / "stopped")]) == 130
    monkeypatch.setattr(runner, "save_checkpoint", save)
    (run_dir,) = (tmp_path / "stopped").iterdir()
    capsys.readouterr()
    code, out, _ = run(["--resume", str(run_dir)], capsys)
    assert code == 0 and "resuming" in out
    assert result_of(out)["accuracy_matrix"] == straight["accuracy_matrix"]


@pytest.mark.filterwarnings("ignore:No loggers specified")
def test_club_stream_as_avalanche_benchmark_trained_by_avalanche_and_scored_by_club(digits):
    """Avalanche's own loop on to_avalanche(digits-cil): the same experiences, and CLUB's records
    (through metrics.from_avalanche) give back Avalanche's ExperienceAccuracy values."""
    from avalanche.evaluation.metrics import accuracy_metrics, confusion_matrix_metrics, forgetting_metrics
    from avalanche.models import IncrementalClassifier
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from methods.avalanche_adapter import BackboneWithHead
    from methods.backbones import build_backbone

    benchmark = to_avalanche(digits)
    assert [list(e.classes_in_this_experience) for e in benchmark.train_stream] == [list(s.classes) for s in digits.steps]
    assert [list(e.classes_in_this_experience) for e in benchmark.test_stream] == [list(s.classes) for s in digits.steps]
    for experience, step in zip(benchmark.train_stream, digits.steps):  # class by class, CLUB's order within a class
        data, by_class = experience.dataset, torch.argsort(step.y, stable=True)
        assert torch.equal(torch.stack([data[i][0] for i in range(len(data))]), step.x[by_class].float() / 255)
        assert [int(data[i][1]) for i in range(len(data))] == step.y[by_class].tolist()

    torch.manual_seed(0)
    backbone = build_backbone("mlp", digits.input_shape)
    model = BackboneWithHead(backbone, IncrementalClassifier(backbone.out_dim))
    evaluator = EvaluationPlugin(
        accuracy_metrics(experience=True),
        forgetting_metrics(stream=True),
        confusion_matrix_metrics(stream=True, save_image=False),
        loggers=[],
    )
    strategy = Naive(
        model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), criterion=torch.nn.CrossEntropyLoss(),
        train_mb_size=32, train_epochs=2, eval_mb_size=512, evaluator=evaluator,
    )  # fmt: skip
    results = []
    for i, experience in enumerate(benchmark.train_stream):
        strategy.train(experience)
        results.append(strategy.eval(benchmark.test_stream[: i + 1]))

    summary = summarize(from_avalanche(results), [s.classes for s in digits.steps])
    for i, row in enumerate(summary["accuracy_matrix"]):
        for j in range(i + 1):
            assert row[j] == pytest.approx(results[i][f"Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp{j:03d}"], abs=1e-12)
    forgetting = results[-1]["StreamForgetting/eval_phase/test_stream"]
    assert summary["metrics"]["forgetting_first_final"] == pytest.approx(forgetting)
    assert forgetting_first_final(summary["accuracy_matrix"]) == pytest.approx(-summary["metrics"]["bwt"])


def test_online_stream_as_avalanche_benchmark_has_club_batches(tmp_path):
    stream = build_scenario(PRESETS["digits-online-blurry"], 0, tmp_path)
    benchmark = to_avalanche(stream)
    assert [e.classes_in_this_experience for e in benchmark.train_stream] == [sorted(set(s.y.tolist())) for s in stream.steps]
    batches = [b for s in stream.steps for b in stream.batches(s, 0, torch.device("cpu"))]
    online = list(benchmark.train_online_stream)
    assert len(online) == len(batches) and not online[0].access_task_boundaries  # the stream is task-free
    for exp, batch in zip(online[:: len(online) // 7], batches[:: len(online) // 7]):
        assert [int(exp.dataset[i][1]) for i in range(len(exp.dataset))] == batch.y.tolist()
    permuted = build_scenario(apply_overrides(PRESETS["digits-label-permuted"], {"num_tasks": 3}), 0, tmp_path)
    tests = list(to_avalanche(permuted).test_stream)
    assert [[int(e.dataset[i][1]) for i in range(5)] for e in tests] == [permuted.task_test_set(j)[1][:5].tolist() for j in range(3)]


def test_streams_with_forget_steps_are_not_converted(tmp_path):
    stream = build_scenario(PRESETS["digits-cil-forget"], 0, tmp_path)
    with pytest.raises(ValueError, match="forget steps"):
        to_avalanche(stream)
