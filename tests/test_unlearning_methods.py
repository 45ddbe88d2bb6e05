"""Unlearning methods on digits with the small MLP, forgetting one class (methods.md checks)."""

import copy
import json
from pathlib import Path

import pytest
import torch

from benchmarks.oracle import retrain_oracle
from benchmarks.run import main
from benchmarks.runner import evaluate_sets
from leaderboard import recompute_metrics
from methods import Diverged, Method, StreamInfo, get_method, register_method
from metrics import unlearning_summary
from scenarios import PRESETS, build_scenario

CPU = torch.device("cpu")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    return build_scenario(PRESETS["digits-forget-class"], 0, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def info(stream):
    return StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), "mlp")


@pytest.fixture(scope="module")
def trained(stream, info):
    """The MLP after learning every digit at the default recipe (20 epochs, SGD 0.05)."""
    torch.manual_seed(0)
    method = get_method("ssd")(info, CPU)
    method.learn(stream.steps[0])
    return method


def _accuracy(method, x, y):
    with torch.no_grad():
        return (method.predict(x).argmax(1) == y).float().mean().item()


def _unlearned(name, trained, info, stream, **hparams):
    method = get_method(name)(info, CPU, **hparams)
    method.model = copy.deepcopy(trained.model)
    method.memory_x, method.memory_y, method.memory_ids = trained.memory_x, trained.memory_y, trained.memory_ids
    torch.manual_seed(1)
    method.forget(stream.steps[1])
    return method


def test_ssd_at_defaults_forgets_the_class_and_keeps_the_rest(trained, info, stream):
    sets = stream.evaluation_sets(1)
    retain_before = _accuracy(trained, *sets["retain_test"])
    assert _accuracy(trained, *sets["forget_test/1"]) > 0.95
    ssd = _unlearned("ssd", trained, info, stream)
    assert ssd.dampened > 0
    assert _accuracy(ssd, *sets["forget_test/1"]) <= 0.05
    assert _accuracy(ssd, *sets["forget_train/1"]) <= 0.05
    assert retain_before - _accuracy(ssd, *sets["retain_test"]) <= 0.03


def test_retrain_matches_the_oracle_best(trained, info, stream, tmp_path):
    oracle = retrain_oracle(stream, 1, info, CPU, tmp_path)
    assert not oracle.cached and retrain_oracle(stream, 1, info, CPU, tmp_path).cached
    learn_record = {"step": 0, "kind": "learn", "train_seconds": 1.0, "evaluations": evaluate_sets(trained, stream, 0)}
    steps = [stream.describe_step(i) for i in range(2)]
    gaps = {}
    for name in ("retrain", "ssd", "ga", "finetune-retain"):
        try:
            method = _unlearned(name, trained, info, stream)
        except Diverged:  # GA's ascent may blow up within its 100 steps: a model that cannot be scored
            continue
        record = {
            "step": 1,
            "kind": "forget",
            "train_seconds": 1.0,
            "evaluations": evaluate_sets(method, stream, 1),
            "oracle": {"train_seconds": oracle.train_seconds, "cached": True, "evaluations": evaluate_sets(oracle.method, stream, 1)},
        }
        summary = unlearning_summary(steps, [learn_record, record])
        gaps[name] = summary["metrics"]["avg_gap"]
        if name == "retrain":
            assert summary["metrics"]["forget_acc"] <= 0.01 and summary["metrics"]["forget_test_acc"] <= 0.01
    assert gaps["retrain"] == min(gaps.values()), gaps
    assert gaps["retrain"] < 0.02


def _steps_above(name, trained, info, stream, steps, **hparams):
    """Unlearning iterations (1-based) until retain accuracy first drops below 0.9, or None."""
    rx, ry = stream.evaluation_sets(1)["retain_train"]
    cls = get_method(name)

    class Watched(cls):
        def after_unlearning_iteration(self, iteration):
            if self.first_below is None and _accuracy(self, rx, ry) < 0.9:
                self.first_below = iteration + 1
            self.model.train()

    method = Watched(info, CPU, unlearn_steps=steps, **hparams)
    method.first_below = None
    method.model = copy.deepcopy(trained.model)
    torch.manual_seed(2)
    try:
        method.forget(stream.steps[1])
    except Diverged:  # gradient ascent left running ends with a non-finite loss
        pass
    return method.first_below, method


def test_npo_keeps_retain_accuracy_twice_as_long_as_ga(trained, info, stream):
    ga_steps, ga = _steps_above("ga", trained, info, stream, 300)
    assert ga_steps is not None, "gradient ascent left running must collapse retain accuracy"
    rx, ry = stream.evaluation_sets(1)["retain_train"]
    assert _accuracy(ga, rx, ry) < 0.5
    npo_steps, npo = _steps_above("npo", trained, info, stream, 2 * ga_steps, beta=1.0)
    assert npo_steps is None, f"NPO (beta=1) fell below 0.9 retain accuracy at step {npo_steps}, GA at {ga_steps}"
    fx, fy = stream.evaluation_sets(1)["forget_train/1"]
    assert _accuracy(npo, fx, fy) <= 0.05
    with torch.no_grad():
        assert torch.isfinite(npo.per_sample_nll(fx, fy)).all()


@pytest.mark.parametrize("name", ["npo-rt", "salun", "scrub", "graddiff"])
def test_retain_using_methods_forget_at_their_defaults(name, trained, info, stream):
    sets = stream.evaluation_sets(1)
    method = _unlearned(name, trained, info, stream, **({"unlearn_steps": 40} if name == "graddiff" else {}))
    assert method.needs_retain
    forget = _accuracy(method, *sets["forget_train/1"])
    retain = _accuracy(method, *sets["retain_test"])
    if name == "graddiff":  # a short run; the ascent term dominates once it is left running
        assert retain > 0.9
    else:
        assert forget <= 0.05 and retain > 0.9


def test_declared_retain_needs():
    needing = ("retrain", "finetune-retain", "graddiff", "npo-rt", "ssd", "salun", "scrub")
    assert all(get_method(n).needs_retain for n in needing)
    assert not get_method("ga").needs_retain and not get_method("npo").needs_retain


@register_method("test-retain-probe")
class RetainProbe(Method):
    """Records whether its forget step carried the retain set."""

    needs_retain = False
    seen: list = []

    def learn(self, step):
        self.num_outputs = step.num_seen_classes

    def predict(self, x):
        return torch.zeros(len(x), self.num_outputs, device=x.device)

    def forget(self, step):
        RetainProbe.seen.append(step.retain_x is not None)


def test_runner_gives_retain_data_only_to_methods_that_declare_it(tmp_path, capsys):
    RetainProbe.seen.clear()
    args = ["--scenario", "digits-forget-random", "--out", str(tmp_path), "--data-dir", str(tmp_path), "--device", "cpu"]
    assert main(["--method", "test-retain-probe", *args]) == 0
    RetainProbe.needs_retain = True
    try:
        assert main(["--method", "test-retain-probe", *args]) == 0
    finally:
        RetainProbe.needs_retain = False
    assert RetainProbe.seen == [False, True]
    capsys.readouterr()


def test_learn_forget_program_end_to_end(tmp_path, capsys):
    args = ["--method", "ssd", "--scenario", "digits-cil-forget", "--out", str(tmp_path), "--data-dir", str(tmp_path)]
    assert main([*args, "--device", "cpu", "--set", "epochs=5"]) == 0
    out = capsys.readouterr().out
    result = json.loads(Path(out.strip().splitlines()[-1].removeprefix("result: ")).read_text())
    steps = result["scenario"]["steps"]
    assert [s["kind"] for s in steps] == ["learn", "learn", "learn", "forget", "learn", "forget", "learn"]
    matrix = result["accuracy_matrix"]
    assert len(matrix) == 7 and len(matrix[0]) == 5 and matrix[0][1] is None and matrix[6][4] is not None
    requests = result["unlearning"]
    assert [q["step"] for q in requests] == [3, 5]
    for q in requests:
        for key in ("forget_acc", "retain_acc", "test_acc", "mia_efficacy[confidence,svc]", "mia[entropy,logreg]"):
            assert key in q["method"] and key in q["oracle"]
        assert q["oracle"]["forget_acc"] == 0.0
        for key in ("avg_gap", "kl_to_oracle[forget_train]", "js_to_oracle[forget_train]", "spill", "speed_up"):
            assert q[key] is not None
        assert q["relapse[final]"] is not None and q["relapse[max]"] >= q["relapse[final]"]
    forget_record = result["steps"][3]
    assert len(forget_record["evaluations"]["forget_train/3"]["nll"]) == steps[3]["train_size"]
    assert "relapse[final]" in result["metrics"]
    again = recompute_metrics(result)
    assert again["unlearning"] == result["unlearning"] and again["accuracy_matrix"] == matrix
    assert len(list((tmp_path / "oracles").glob("*.pt"))) == 2


def test_task_module_deletion_drops_whole_tasks_only(tmp_path):
    from methods import MethodError
    from methods.unlearning import TaskModuleDeletion
    from scenarios import learn_forget_stream, load_source

    class PerTaskModules(Method):
        def learn(self, step):
            self.modules = getattr(self, "modules", set()) | {step.task_id}

    class Deleting(TaskModuleDeletion, PerTaskModules):
        def drop_task(self, task_id):
            self.modules.remove(task_id)

    digits = load_source("digits", tmp_path)
    stream = learn_forget_stream(digits, seed=0, requests="L0 L1 U0 U1:0", increment=2)
    method = Deleting(StreamInfo(stream.input_shape, 10, 4, "mlp"), CPU)
    method.learn(stream.steps[0])
    method.learn(stream.steps[1])
    method.forget(stream.steps[2])
    assert method.modules == {1}
    with pytest.raises(MethodError, match="whole task modules only"):
        method.forget(stream.steps[3])


def test_salun_masks_gradients_only_while_unlearning(stream, info):
    """SalUn's saliency mask exists only during a forget request; learning is plain training."""
    torch.manual_seed(0)
    method = get_method("salun")(info, CPU, epochs=1, unlearn_steps=5)
    method.learn(stream.steps[0])
    before = [p.detach().clone() for p in method.model.parameters()]
    method.forget(stream.steps[1])
    assert method.mask is None
    changed = [(p.detach() != b) for p, b in zip(method.model.parameters(), before)]
    assert any(c.any() for c in changed) and not all(c.all() for c in changed)  # masked: some weights frozen
