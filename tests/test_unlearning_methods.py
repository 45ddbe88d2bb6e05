"""Unlearning methods on digits with the small MLP, forgetting one class (the papers' checks: SSD, NPO, SalUn, SCRUB)."""

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.oracle import retrain_oracle
from benchmarks.run import main
from benchmarks.runner import evaluate_sets
from leaderboard import recompute_metrics
from methods import Diverged, Method, StreamInfo, get_method, register_method
from methods.configs import config_document, preset_hyperparameters
from metrics import unlearning_summary
from scenarios import PRESETS, PROTOCOL_MODALITY, Step, build_scenario

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
    method.memory = list(trained.memory)
    torch.manual_seed(1)
    method.forget(stream.steps[1])
    return method


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _reference_importance(x, y, weight, bias, batch_size):
    """SSD's calc_importance for a linear softmax classifier, by hand: the mean over consecutive
    batches of the squared gradient of the batch-mean cross-entropy, (1/n)·(p − onehot)ᵀx."""
    total_w, total_b, count = np.zeros_like(weight), np.zeros_like(bias), 0
    for start in range(0, len(y), batch_size):
        xb, yb = x[start : start + batch_size], y[start : start + batch_size]
        residual = _softmax(xb @ weight.T + bias) - np.eye(len(bias))[yb]
        total_w += (residual.T @ xb / len(yb)) ** 2
        total_b += residual.mean(0) ** 2
        count += 1
    return total_w / count, total_b / count


def test_ssd_official_batching_gives_the_official_selection(info):
    """Retain samples of classes 1–3 interleaved, forget class 0, a linear classifier: the
    official I_D (retain sorted class by class, then forget, consecutive batches) selects other
    parameters than shuffled batches do."""
    rng = np.random.default_rng(0)
    means = rng.normal(0, 1.5, (4, 5))
    draw = lambda c, k: means[c] + 0.7 * rng.normal(size=(k, 5))  # noqa: E731
    rx, ry = np.concatenate([draw(c, 1) for _ in range(6) for c in (1, 2, 3)]), np.array([1, 2, 3] * 6)
    fx, fy = draw(0, 8), np.zeros(8, dtype=np.int64)
    weight, bias = means.copy(), rng.normal(0, 0.3, 4)
    alpha, batch = 3.0, 4
    order = np.argsort(ry, kind="stable")
    i_d = _reference_importance(np.concatenate([rx[order], fx]), np.concatenate([ry[order], fy]), weight, bias, batch)
    i_f = _reference_importance(fx, fy, weight, bias, batch)
    expected = [
        np.where(f > alpha * d, np.minimum(d / f, 1.0), 1.0) * theta for theta, d, f in zip((weight, bias), i_d, i_f)
    ]
    selected = [f > alpha * d for d, f in zip(i_d, i_f)]
    assert 0 < sum(int(m.sum()) for m in selected) < weight.size + bias.size

    changed = {}
    for batching in ("sorted", "shuffled"):
        ssd = get_method("ssd")(info, CPU, ssd_alpha=alpha, ssd_batch_size=batch, ssd_batching=batching)
        ssd.model = torch.nn.Linear(5, 4).double()
        with torch.no_grad():
            ssd.model.weight.copy_(torch.from_numpy(weight))
            ssd.model.bias.copy_(torch.from_numpy(bias))
        forget = Step(1, "forget", torch.from_numpy(fx), torch.from_numpy(fy), (0,), 0, 4,
                      retain_x=torch.from_numpy(rx), retain_y=torch.from_numpy(ry), sample_ids=torch.arange(8))
        torch.manual_seed(0)
        ssd.unlearn(forget)
        after = [ssd.model.weight.detach().numpy(), ssd.model.bias.detach().numpy()]
        changed[batching] = [a != theta for a, theta in zip(after, (weight, bias))]
        if batching == "sorted":
            for a, e in zip(after, expected):
                np.testing.assert_allclose(a, e, rtol=1e-5)  # the method scores in float32
            assert ssd.dampened == sum(int(m.sum()) for m in selected)
    assert all((c == m).all() for c, m in zip(changed["sorted"], selected))
    assert not all((c == m).all() for c, m in zip(changed["shuffled"], selected))


def test_ssd_on_digits_official_batching_forgets_nothing_and_shuffled_forgets(trained, info, stream):
    """Forgetting digit 0 at α = 10: with the official batching I_D is large (near-single-class
    batches) and a handful of parameters pass I_f > α·I_D; shuffled batches mix classes, I_D
    shrinks, far more pass and the digit is forgotten (README, Unlearning)."""
    sets = stream.evaluation_sets(1)
    retain_before = _accuracy(trained, *sets["retain_test"])
    assert _accuracy(trained, *sets["forget_test/1"]) > 0.95
    official = _unlearned("ssd", trained, info, stream)
    assert official.ssd_batching == "sorted" and official.dampened < 50
    assert _accuracy(official, *sets["forget_test/1"]) > 0.9
    shuffled = _unlearned("ssd", trained, info, stream, ssd_batching="shuffled")
    assert shuffled.dampened > 10 * official.dampened
    assert _accuracy(shuffled, *sets["forget_test/1"]) <= 0.05
    assert _accuracy(shuffled, *sets["forget_train/1"]) <= 0.05
    assert retain_before - _accuracy(shuffled, *sets["retain_test"]) <= 0.03


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
    # UnCLe's stability of U1 (step 3 forgets both classes of task 1): mean over steps 3..6 of
    # chance (1/2) minus the accuracy on its forgotten test data
    forgotten = [_counted(result["steps"][k]["evaluations"]["forget_test/3"]) for k in range(3, 7)]
    assert requests[0]["stability[uncle,unlearned]"] == pytest.approx(np.mean([0.5 - a for a in forgotten]))
    assert 0 < result["metrics"]["stability[uncle,learned]"] <= 1.5
    again = recompute_metrics(result)
    assert again["unlearning"] == result["unlearning"] and again["accuracy_matrix"] == matrix
    assert len(list((tmp_path / "oracles").glob("*.pt"))) == 2


def _counted(evaluation):
    counts = evaluation["per_class"].values()
    return sum(c for c, _ in counts) / sum(t for _, t in counts)


def test_task_module_deletion_drops_whole_tasks_only(tmp_path):
    from methods import MethodError
    from methods.unlearning import TaskModuleDeletion
    from scenarios import forgetting_stream, learn_forget_stream, load_source

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
    # The forgetting protocol learns one task and forgets a class, a sub-class or samples of it:
    # never a whole task (lora and ease refuse those presets).
    for mode in ("class", "subclass", "random"):
        one_task = forgetting_stream(digits, seed=0, mode=mode, forget="3")
        method = Deleting(StreamInfo(one_task.input_shape, 10, 2, "mlp"), CPU)
        method.learn(one_task.steps[0])
        with pytest.raises(MethodError, match="whole task modules only"):
            method.forget(one_task.steps[1])


def test_salun_masks_gradients_only_while_unlearning(stream, info):
    """SalUn's saliency mask exists only during a forget request; learning is plain training."""
    torch.manual_seed(0)
    method = get_method("salun")(info, CPU, epochs=1, unlearn_epochs=1)
    method.learn(stream.steps[0])
    before = [p.detach().clone() for p in method.model.parameters()]
    method.forget(stream.steps[1])
    assert method.mask is None
    changed = [(p.detach() != b) for p, b in zip(method.model.parameters(), before)]
    assert any(c.any() for c in changed) and not all(c.all() for c in changed)  # masked: some weights frozen


class RecordingSalUn(get_method("salun")):
    """SalUn recording its mask and, per training batch, how many of its samples are forget samples."""

    def saliency_mask(self, x, y):
        self.recorded_mask = super().saliency_mask(x, y)
        return self.recorded_mask

    def unlearn(self, step):
        forget = {bytes(xi.numpy()) for xi in step.x}
        self.batches_seen = []

        def record(module, inputs):
            if module.training:
                self.batches_seen.append((sum(bytes(xi.numpy()) in forget for xi in inputs[0]), len(inputs[0])))

        handle = self.model.register_forward_pre_hook(record)
        try:
            super().unlearn(step)
        finally:
            handle.remove()


@pytest.mark.parametrize("passes", ["separate", "mixed"])
def test_salun_follows_the_reference_random_labelling(trained, info, stream, passes):
    """RL.py: SGD with momentum and weight decay, every weight outside the saliency mask exactly
    as before unlearning; D_f then D_r in separate passes (CIFAR-10 branch) or one mixed pass
    (CIFAR-100 branch)."""
    method = RecordingSalUn(info, CPU, unlearn_epochs=2, salun_passes=passes)
    method.model = copy.deepcopy(trained.model)
    before = [p.detach().clone() for p in method.model.parameters()]
    torch.manual_seed(1)
    method.forget(stream.steps[1])
    mask = method.recorded_mask
    total = sum(m.numel() for m in mask)
    assert sum(int(m.sum()) for m in mask) == int(0.5 * total)
    for p, b, m in zip(method.model.parameters(), before, mask):
        assert torch.equal(p.detach()[m == 0], b[m == 0])  # not moved by weight decay or momentum
    assert sum(int((p.detach() != b)[m == 1].sum()) for p, b, m in zip(method.model.parameters(), before, mask)) > 0.9 * total / 2
    forget_size, retain_size = len(stream.steps[1].y), len(stream.steps[1].retain_y)
    seen = method.batches_seen
    if passes == "separate":
        per_epoch = [(min(256, forget_size - i), min(256, forget_size - i)) for i in range(0, forget_size, 256)]
        per_epoch += [(0, min(256, retain_size - i)) for i in range(0, retain_size, 256)]
        assert seen == per_epoch * 2
    else:
        assert sum(f for f, _ in seen) == 2 * forget_size and sum(n for _, n in seen) == 2 * (forget_size + retain_size)
        assert sum(0 < f < n for f, n in seen) >= len(seen) - 1  # batches mix forget and retain samples


def test_salun_random_labels_cover_every_class_including_the_true_one(info):
    method = get_method("salun")(info, CPU)
    method.model.grow(10)
    torch.manual_seed(0)
    y = torch.arange(10).repeat(1000)
    labels = method.random_labels(y)
    assert set(labels.tolist()) == set(range(10))
    assert (labels == y).float().mean().item() == pytest.approx(0.1, abs=0.01)


def test_npo_log_ratio_is_zero_before_the_first_update_on_a_batchnorm_network(stream):
    """Item 7 of issue 10: model and frozen reference both in eval mode, so on a BatchNorm
    network (the small CNN) ℓ_θ − ℓ_ref is 0 on the first forget batch (one class only); in train
    mode the batch's own statistics would put it far from 0."""
    info = StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), "small_cnn")

    class Watched(get_method("npo")):
        def forget_loss(self, fx, fy):
            if not hasattr(self, "first_log_ratio"):
                with torch.no_grad():
                    reference = torch.nn.functional.cross_entropy(self.reference(fx), fy, reduction="none")
                    self.first_log_ratio = self.per_sample_nll(fx, fy) - reference
                    train_mode = copy.deepcopy(self.model).train()
                    self.train_mode_log_ratio = torch.nn.functional.cross_entropy(train_mode(fx), fy, reduction="none") - reference
            return super().forget_loss(fx, fy)

    torch.manual_seed(0)
    npo = Watched(info, CPU, epochs=1, unlearn_steps=2, beta=1.0)
    npo.learn(stream.steps[0])
    statistics = {n: b.clone() for n, b in npo.model.named_buffers() if "running" in n}
    assert statistics
    npo.forget(stream.steps[1])
    assert npo.first_log_ratio.abs().max().item() < 1e-5
    assert npo.train_mode_log_ratio.abs().max().item() > 0.1  # the fixture tells the two modes apart
    assert all(torch.equal(b, statistics[n]) for n, b in npo.model.named_buffers() if n in statistics)


UNLEARNING_PRESETS = [
    "cifar10-forget-class", "cifar10-forget-random", "cifar100-forget-class", "cifar20-forget-subclass", "cifar100-b0inc10-forget"
]
TOFU_PRESETS = ["tofu-forget01", "tofu-forget05", "tofu-forget10"]


@pytest.mark.parametrize(
    "method, presets",
    [(m, UNLEARNING_PRESETS) for m in ("retrain", "finetune-retain", "ssd", "salun", "scrub")]
    + [(m, UNLEARNING_PRESETS + TOFU_PRESETS) for m in ("ga", "graddiff", "npo", "npo-rt")],
)
def test_unlearning_configs_give_every_value_a_source_or_a_reason(method, presets):
    doc = config_document(method)
    assert doc["method"] == method and sorted(doc["presets"]) == sorted(presets)
    for preset, entries in doc["presets"].items():
        defaults = get_method(method, PROTOCOL_MODALITY[PRESETS[preset].protocol]).hyperparameters()
        for key, entry in entries.items():
            assert key in defaults, (preset, key)
            assert set(entry) in ({"value", "source"}, {"value", "club"}) and (entry.get("source") or entry.get("club")), (preset, key)
            assert type(entry["value"]) is type(defaults[key]), (preset, key)


def test_unlearning_configs_pin_the_reference_values():
    def entry(method, preset, key):
        return config_document(method)["presets"][preset][key]

    keys = ("ssd_alpha", "ssd_lambda", "ssd_batch_size", "ssd_batching")
    ssd = {p: {k: entry("ssd", p, k)["value"] for k in keys} for p in UNLEARNING_PRESETS}
    assert ssd["cifar100-forget-class"] == {"ssd_alpha": 10.0, "ssd_lambda": 1.0, "ssd_batch_size": 64, "ssd_batching": "sorted"}
    assert ssd["cifar10-forget-random"] == {"ssd_alpha": 10.0, "ssd_lambda": 1.0, "ssd_batch_size": 128, "ssd_batching": "concatenated"}
    assert "forget_random_main.py" in entry("ssd", "cifar10-forget-random", "ssd_batching")["source"]
    assert "fine class" in entry("ssd", "cifar20-forget-subclass", "ssd_batching")["club"]
    salun = {k: e["value"] for k, e in config_document("salun")["presets"]["cifar10-forget-random"].items()}
    assert salun == {"saliency_ratio": 0.5, "unlearn_epochs": 10, "unlearn_lr": 0.013, "unlearn_batch_size": 256,
                     "unlearn_momentum": 0.9, "unlearn_weight_decay": 5e-4, "salun_passes": "separate"}
    assert "Classification/README.md" in entry("salun", "cifar10-forget-random", "unlearn_lr")["source"]
    assert entry("salun", "cifar100-forget-class", "salun_passes")["value"] == "mixed"
    assert "RL.py" in entry("salun", "cifar100-forget-class", "salun_passes")["source"]
    scrub = {k: e["value"] for k, e in config_document("scrub")["presets"]["cifar10-forget-class"].items()}
    assert scrub == {"scrub_epochs": 3, "scrub_max_epochs": 2, "scrub_lr": 5e-4, "scrub_temperature": 4.0, "scrub_alpha": 0.001,
                     "scrub_gamma": 0.99, "scrub_forget_batch_size": 512, "scrub_retain_batch_size": 256}
    assert all("large_scale_unlearning.ipynb" in e["source"] for e in config_document("scrub")["presets"]["cifar10-forget-class"].values())
    npo = {k: e["value"] for k, e in config_document("npo-rt")["presets"]["tofu-forget05"].items()}
    assert npo == {
        "lr": 2e-5, "epochs": 10, "batch_size": 32, "weight_decay": 0.01, "warmup_epochs": 1.0, "beta": 0.1, "retain_weight": 1.0,
        "max_new_tokens": 200,
    }
    assert "TOFU/config/forget.yaml (eval.generation: max_length 200" in entry("npo-rt", "tofu-forget05", "max_new_tokens")["club"]
    assert "config/forget.yaml (eval.generation: max_length 200" in entry("ga", "tofu-forget10", "max_new_tokens")["club"]
    assert entry("ga", "tofu-forget01", "epochs")["value"] == 5 and "locuslab/tofu" in entry("ga", "tofu-forget01", "epochs")["source"]
    assert all("club" in e for e in config_document("npo")["presets"]["cifar100-forget-class"].values())


def test_learning_recipes_of_the_forgetting_presets():
    """The original model and the oracle of each forgetting preset train as the reference that
    defined the preset trained its original model (finetune's entries, one file for all)."""
    def learning(preset):
        return {k: e["value"] for k, e in config_document("finetune")["presets"][preset].items()}

    salun = {"backbone": "resnet18", "epochs": 182, "batch_size": 256, "lr": 0.1, "optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4}
    assert learning("cifar10-forget-class") == learning("cifar10-forget-random") == salun
    ssd = {"backbone": "resnet18", "batch_size": 64, "lr": 0.1, "optimizer": "sgd", "momentum": 0.9, "weight_decay": 5e-4}
    assert learning("cifar100-forget-class") == {**ssd, "epochs": 200} and learning("cifar20-forget-subclass") == {**ssd, "epochs": 40}
    assert learning("cifar100-b0inc10-forget") == learning("cifar100-b0inc10")  # PyCIL's class-incremental CIFAR-100 values
    entries = config_document("finetune")["presets"]
    assert "OPTML-Group/Unlearn-Saliency Classification/arg_parser.py" in entries["cifar10-forget-random"]["batch_size"]["source"]
    assert "src/conf.py Cifar20_EPOCHS = 40" in entries["cifar20-forget-subclass"]["epochs"]["club"]
    assert "src/pretrain_model.py (-b default 64)" in entries["cifar100-forget-class"]["batch_size"]["source"]
    assert all("club" in e for e in entries["cifar100-b0inc10-forget"].values())
    for method in ("ssd", "salun", "scrub", "ga", "graddiff", "npo", "npo-rt", "retrain", "finetune-retain"):
        doc = config_document(method)
        assert doc["learning_recipe"] == "finetune"
        assert not any(set(doc["presets"][p]) & set(entries[p]) for p in UNLEARNING_PRESETS), method  # never repeated
    assert all(entries == {} for entries in config_document("retrain")["presets"].values())


def test_the_oracle_trains_with_the_presets_learning_recipe(stream, info, tmp_path, monkeypatch):
    """The oracle of a forgetting preset is built with finetune's entry for the preset; on the
    embedded presets, which have none, with the keyword defaults (the cached oracles and the
    README's figures stay valid)."""
    built = []

    class RecordingFinetune(get_method("finetune")):
        def __init__(self, info, device, **hyperparameters):
            built.append(hyperparameters)
            super().__init__(info, device, **hyperparameters)

        def learn(self, step):
            pass  # the recipe is what is checked here; training it is the runner tests' job

    monkeypatch.setattr("benchmarks.oracle.get_method", lambda name: RecordingFinetune)
    paths = set()
    for name in ["digits-forget-class", *UNLEARNING_PRESETS]:
        retrain_oracle(dataclasses.replace(stream, name=name), 1, info, CPU, tmp_path)
        expected = preset_hyperparameters("finetune", name)
        assert built[-1] == expected and (name == "digits-forget-class") == (expected == {}), name
        paths |= {p.name for p in tmp_path.glob("*.pt")}
    assert len(paths) == 5  # the cache key holds the recipe: one file per recipe (the two CIFAR-10 presets share SalUn's)
