"""Online streams, the online loop of the runner, UPGD, PEC and the plasticity metrics."""

from __future__ import annotations

import copy
import gzip
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.online import learn_online
from benchmarks.run import main
from leaderboard import recompute_metrics, validate_result
from methods import Method, MethodError, StreamInfo, get_method
from methods.training import make_optimizer
from methods.upgd_optimizer import UPGD
from metrics.plasticity import dormant_fraction, effective_rank, inactive_fraction, slope
from scenarios import PRESETS, DatasetUnavailable, apply_overrides, build_scenario, load_source

INFO = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")


@pytest.fixture(autouse=True)
def one_thread():
    """Batches of one sample: a second intra-op thread only adds contention on shared CPUs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def upgd_step(w: torch.Tensor, g: torch.Tensor, **options) -> torch.Tensor:
    p = torch.nn.Parameter(w.clone())
    optimizer = UPGD([p], **{"lr": 0.1, "weight_decay": 0.0, "sigma": 0.0, "beta_utility": 0.9, **options})
    p.grad = g.clone()
    optimizer.step()
    return p.detach() - w


# --- UPGD: exact updates -------------------------------------------------------------------------


def test_upgd_with_every_utility_at_the_max_steps_by_lr_times_one_minus_sigmoid_one():
    g = torch.tensor([1.0, 2.0, 4.0, -0.5])
    w = -1.0 / g  # utility −g·w = 1 for every weight
    delta = upgd_step(w, g)
    torch.testing.assert_close(delta, -0.1 * (1 - torch.sigmoid(torch.tensor(1.0))) * g)
    assert delta[0].item() == pytest.approx(-0.1 * 0.26894, rel=1e-4)


def test_upgd_weight_with_zero_utility_gets_half_a_step():
    delta = upgd_step(torch.tensor([0.0, -1.0]), torch.tensor([3.0, 1.0]))
    assert delta[0].item() == pytest.approx(-0.5 * 0.1 * 3.0)


def test_upgd_all_zero_utilities_give_no_nan_and_half_steps():
    delta = upgd_step(torch.zeros(5), torch.arange(5.0))
    assert torch.isfinite(delta).all()
    torch.testing.assert_close(delta, -0.5 * 0.1 * torch.arange(5.0))


def test_upgd_all_negative_utilities_take_full_steps_instead_of_flipping():
    g = torch.tensor([1.0, 2.0])
    delta = upgd_step(torch.tensor([1.0, 3.0]), g)  # utilities −1 and −6: nothing is useful
    torch.testing.assert_close(delta, -0.1 * g, atol=1e-6, rtol=0)


def test_upgd_weight_decay_and_global_max_over_groups():
    a, b = torch.nn.Parameter(torch.tensor([-1.0])), torch.nn.Parameter(torch.tensor([-0.5]))
    optimizer = UPGD([{"params": [a]}, {"params": [b]}], lr=0.1, weight_decay=0.5, sigma=0.0)
    a.grad, b.grad = torch.tensor([1.0]), torch.tensor([1.0])  # utilities 1 and 0.5: η = 1 over both groups
    optimizer.step()
    gate = lambda u: 1 - torch.sigmoid(torch.tensor(u)).item()  # noqa: E731
    assert a.item() == pytest.approx(-1.0 * (1 - 0.05) - 0.1 * gate(1.0))
    assert b.item() == pytest.approx(-0.5 * (1 - 0.05) - 0.1 * gate(0.5))


def test_non_protecting_upgd_without_noise_is_plain_sgd():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    twin = copy.deepcopy(net)
    upgd = make_optimizer(net.parameters(), "upgd-nonprotecting", 0.05, weight_decay=0.0, sigma=0.0)
    sgd = torch.optim.SGD(twin.parameters(), lr=0.05)
    for _ in range(5):
        x, y = torch.randn(8, 6), torch.randint(0, 3, (8,))
        for model, optimizer in ((net, upgd), (twin, sgd)):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    for p, q in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q)


def test_any_supervised_method_can_train_with_upgd():
    method = get_method("finetune")(INFO, torch.device("cpu"), optimizer="upgd")
    assert isinstance(method.make_optimizer(), UPGD)
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_method("finetune")(INFO, torch.device("cpu"), optimizer="upgd2")


# --- streams -------------------------------------------------------------------------------------


def stream_of(preset: str, **overrides):
    return build_scenario(apply_overrides(PRESETS[preset], overrides), 0, Path("unused"))


def test_label_permuted_stream_remaps_labels_per_task_lazily():
    stream = stream_of("digits-label-permuted", task_length=50, num_tasks=120)
    assert len(stream.steps) == 120 and stream.protocol == "online"
    first = stream.steps[0]
    assert len(first.y) == 50 and first.num_seen_classes == 10
    perm = stream.permutation.permutation(1)
    assert sorted(perm.tolist()) == list(range(10)) and not torch.equal(perm, stream.permutation.permutation(0))
    x, y = stream.task_test_set(1)
    assert torch.equal(y, perm[stream.test_y]) and torch.equal(x, stream.test_x)
    assert set(stream.evaluation_sets(0)) == {"task_test"}
    assert len(stream.evaluation_sets(119)) == 121  # the current task's set and every task's, at the end
    assert len(stream.steps[100:]) == 20 and stream.steps[100:][0].index == 100


def test_input_permuted_stream_shuffles_pixels():
    stream = stream_of("digits-input-permuted", task_length=10, num_tasks=3)
    x, y = stream.task_test_set(2)
    perm = stream.permutation.permutation(2)
    assert torch.equal(x.flatten(2), stream.test_x.flatten(2)[:, :, perm]) and torch.equal(y, stream.test_y)


def test_one_class_per_task_stream_in_batches_of_one():
    stream = stream_of("digits-online-cil", increment=1, batch_size=1)
    assert len(stream.steps) == 10 and all(set(s.y.tolist()) == {s.index} for s in stream.steps)
    batches = list(stream.batches(stream.steps[1], 1, torch.device("cpu")))
    assert len(batches) == len(stream.steps[1].y) and all(len(b.y) == 1 for b in batches)
    assert batches[0].num_seen_classes == 2 and batches[0].task.classes == (1,)


def test_task_free_blurry_stream_mixes_boundaries_and_hides_them():
    stream = stream_of("digits-online-blurry")
    step = stream.steps[0]
    assert stream.task_info(step) is None
    assert len(step.y) % stream.batch_size == 0
    tail = set(step.y[-50:].tolist())
    assert tail & {2, 3} and tail & {0, 1}  # the next task's classes arrive before the boundary
    assert step.num_seen_classes == 4  # ... and enter the label space with them


# --- the online loop -----------------------------------------------------------------------------


class Greedy(Method):
    """Takes two optimiser steps per batch, whatever the budget."""

    def __init__(self, info, device):
        super().__init__(info, device)
        self.w = torch.nn.Parameter(torch.zeros(10))
        self.optimizer = torch.optim.SGD([self.w], lr=0.1)

    def observe(self, batch):
        for _ in range(2):
            self.optimizer.zero_grad()
            self.w.sum().backward()
            self.optimizer.step()

    def predict(self, x):
        return self.w.detach().expand(len(x), -1)


def test_compute_budget_is_enforced_per_batch():
    stream = stream_of("digits-label-permuted", task_length=4, num_tasks=2, updates_per_batch=1)
    with pytest.raises(MethodError, match="took 2 optimiser steps on one batch; the stream's budget is 1"):
        learn_online(Greedy(INFO, torch.device("cpu")), stream, stream.steps[0], 0)
    loose = stream_of("digits-label-permuted", task_length=4, num_tasks=2, updates_per_batch=2)
    record = learn_online(Greedy(INFO, torch.device("cpu")), loose, loose.steps[0], 0)
    assert record["gradient_steps"] == 8 and record["windows"][0][1] == 4


def run_cli(tmp_path: Path, capsys, method: str, scenario: str, *settings: str) -> dict:
    args = ["--method", method, "--scenario", scenario, "--device", "cpu", "--out", str(tmp_path)]
    for setting in settings:
        args += ["--set", setting]
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0
    path = Path(out.strip().splitlines()[-1].removeprefix("result: "))
    result = json.loads(path.read_text())
    result["_dir"] = str(path.parent)
    return result


def test_pec_one_class_per_task_batch_one_is_split_invariant(tmp_path, capsys):
    accuracy = {}
    for increment in (1, 2):
        result = run_cli(tmp_path, capsys, "pec", "digits-online-cil", f"scenario.increment={increment}", "scenario.batch_size=1")
        assert result["scenario"]["options"]["batch_size"] == 1
        assert result["metrics"]["gradient_steps"] == sum(s["train_size"] for s in result["scenario"]["steps"])
        accuracy[increment] = result["metrics"]["final_accuracy"]
    assert accuracy[1] >= 0.85
    assert abs(accuracy[1] - accuracy[2]) <= 0.01


@pytest.mark.parametrize("method", ["upgd", *(pytest.param(m, marks=pytest.mark.slow) for m in ("sgd", "adam", "pec", "er"))])
def test_label_permuted_digits_with_100_shifts(tmp_path, capsys, method):
    result = run_cli(
        tmp_path, capsys, method, "digits-label-permuted",
        "scenario.task_length=5", "scenario.num_tasks=100", "scenario.window=5", "scenario.probe_every=25",
    )
    validate_result(result)
    metrics = result["metrics"]
    assert len(result["scenario"]["steps"]) == 100
    per_task = metrics["online_accuracy_per_task"]
    assert len(per_task) == 100 and all(0 <= a <= 1 for a in per_task)
    assert len(metrics["online_accuracy_per_window"]) == 100
    assert math.isfinite(metrics["online_accuracy_slope"]) and len(metrics["final_accuracy_per_task"]) == 100
    assert metrics["gradient_steps"] == 500
    if method != "pec":  # PEC has no shared feature layer to probe
        assert metrics["probe_steps"] == [0, 25, 50, 75, 99] and 0 <= metrics["final_dormant_fraction"] <= 1
        assert len(metrics["dormant_fraction[active<1%]"]) == 5 and all(0 <= v <= 1 for v in metrics["dormant_fraction[active<1%]"])
        assert 1 <= metrics["final_effective_rank"] <= 150
    assert recompute_metrics(result)["metrics"] == result["metrics"]
    assert (Path(result["_dir"]) / "online_accuracy.png").read_bytes()[:4] == b"\x89PNG"


def test_online_er_and_knn_learn_online_class_incremental_streams(tmp_path, capsys):
    knn = run_cli(tmp_path, capsys, "knn", "digits-online-cil")
    assert knn["metrics"]["final_accuracy"] > 0.9 and knn["metrics"]["gradient_steps"] == 0
    er = run_cli(tmp_path, capsys, "er", "digits-online-blurry", "scenario.updates_per_batch=2")
    assert er["metrics"]["gradient_steps"] == 2 * sum(s["train_size"] for s in er["scenario"]["steps"]) // 10
    assert er["metrics"]["final_accuracy"] > 0.3 and "accuracy_matrix" in er


def test_l2_init_penalises_the_distance_to_the_initial_weights():
    method = get_method("l2-init")(INFO, torch.device("cpu"), l2_init=0.5)
    method.model.grow(4)
    x, y = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8), torch.tensor([0, 1, 3])
    plain = torch.nn.functional.cross_entropy(method.model(x), y)
    assert method.loss(x, y, None).item() == pytest.approx(plain.item())  # θ = θ₀
    with torch.no_grad():
        method.model.head.bias += 1.0
    plain = torch.nn.functional.cross_entropy(method.model(x), y)
    assert method.loss(x, y, None).item() == pytest.approx(plain.item() + 0.5 * 4)
    method.model.grow(6)  # new head rows start at their own initial values
    assert method.loss(x, y, None).item() == pytest.approx(torch.nn.functional.cross_entropy(method.model(x), y).item() + 0.5 * 4)


# --- metrics -------------------------------------------------------------------------------------


def test_plasticity_metrics_on_hand_computed_examples():
    assert slope([0.2, 0.4, 0.6]) == pytest.approx(0.2) and math.isnan(slope([0.5]))
    h = np.array([[0.0, 1.0, 2.0], [0.0, 3.0, 0.0]])
    assert dormant_fraction(h) == pytest.approx(1 / 3)  # unit 0 never fires
    assert dormant_fraction(h, tau=1.0) == pytest.approx(2 / 3)  # unit scores 0, 2, 1 (mean |h| per unit / their mean)
    assert effective_rank(np.eye(4)) == pytest.approx(4.0)
    assert effective_rank(np.ones((5, 3))) == pytest.approx(1.0)
    assert effective_rank(np.zeros((2, 2))) == 0.0


def test_loss_of_plasticity_dormant_units_are_active_on_under_one_percent_of_inputs():
    h = np.zeros((200, 3))
    h[:2, 0] = 5.0  # active on 1% of the inputs: not dormant
    h[:1, 1] = 5.0  # active on 0.5%: dormant
    h[:, 2] = np.linspace(-1.0, 1.0, 200)  # never exactly 0: active on every input
    assert inactive_fraction(h) == pytest.approx(1 / 3)
    assert inactive_fraction(h, threshold=0.02) == pytest.approx(2 / 3)
    assert dormant_fraction(h) == 0.0  # by Sokar's score every unit has some mean activation


@pytest.mark.parametrize("bad", [np.full((4, 3), np.nan), np.array([[np.inf, 1.0], [0.0, 1.0]]), np.zeros((0, 3)), np.zeros((3, 0))])
def test_plasticity_metrics_of_nan_inf_or_empty_features_are_nan(bad):
    assert math.isnan(dormant_fraction(bad)) and math.isnan(inactive_fraction(bad)) and math.isnan(effective_rank(bad))


def test_slope_of_non_finite_accuracies_is_nan():
    assert math.isnan(slope([0.1, float("inf"), 0.3])) and math.isnan(slope([0.1, float("nan")]))


# --- MNIST / EMNIST from IDX files ---------------------------------------------------------------


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(folder: Path, name: str, array: np.ndarray, gz: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    (folder / (name + ".gz" if gz else name)).write_bytes(gzip.compress(data) if gz else data)


def test_mnist_reads_torchvision_idx_files_plain_or_gzipped(tmp_path):
    rng = np.random.default_rng(0)
    train, test = rng.integers(0, 256, (6, 28, 28)), rng.integers(0, 256, (3, 28, 28))
    folder = tmp_path / "MNIST" / "raw"
    write_idx(folder, "train-images-idx3-ubyte", train, gz=True)
    write_idx(folder, "train-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 9]), gz=True)
    write_idx(folder, "t10k-images-idx3-ubyte", test, gz=False)
    write_idx(folder, "t10k-labels-idx1-ubyte", np.array([5, 6, 7]), gz=False)
    data = load_source("mnist", tmp_path, download=False)
    assert data.train_x.shape == (6, 1, 28, 28) and data.train_x.dtype == torch.uint8
    assert torch.equal(data.train_x[:, 0], torch.from_numpy(train.astype(np.uint8)))
    assert data.train_y.tolist() == [0, 1, 2, 3, 4, 9] and data.test_y.tolist() == [5, 6, 7]


def test_emnist_images_are_transposed_upright(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (4, 28, 28))
    folder = tmp_path / "EMNIST" / "raw"
    for part in ("train", "test"):
        write_idx(folder, f"emnist-balanced-{part}-images-idx3-ubyte", images, gz=part == "test")
        write_idx(folder, f"emnist-balanced-{part}-labels-idx1-ubyte", np.array([0, 10, 36, 46]), gz=False)
    data = load_source("emnist", tmp_path, download=False)
    assert torch.equal(data.test_x[:, 0], torch.from_numpy(images.astype(np.uint8)).transpose(1, 2))
    assert data.num_classes == 47 and data.class_names[10] == "A"


def test_missing_or_corrupt_mnist_is_one_line(tmp_path):
    with pytest.raises(DatasetUnavailable, match="download is off") as missing:
        load_source("mnist", tmp_path, download=False)
    assert "\n" not in str(missing.value)
    folder = tmp_path / "MNIST" / "raw"
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (folder).mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"\x00\x00\x08\x03" + (5).to_bytes(4, "big"))
    with pytest.raises(DatasetUnavailable, match="corrupt file .*truncated header"):
        load_source("mnist", tmp_path, download=False)


def test_probe_layer_picks_the_probed_features_and_rejects_unknown_layers():
    info = StreamInfo((1, 8, 8), 10, 5, "mlp")
    x = torch.randint(0, 17, (6, 1, 8, 8), dtype=torch.uint8)
    default = get_method("sgd")(info, torch.device("cpu"))
    hidden = get_method("sgd")(info, torch.device("cpu"), probe_layer="net.3")
    assert default.features(x).shape == (6, 128)
    first = hidden.features(x)
    assert first.shape == (6, 256) and (first >= 0).all()  # after the first ReLU
    with pytest.raises(ValueError, match="probe_layer 'nope' is not a layer of mlp; choose from net, net.0"):
        get_method("sgd")(info, torch.device("cpu"), probe_layer="nope")


def test_method_that_cannot_learn_online_is_refused_before_training(tmp_path, capsys):
    code = main(["--method", "ease", "--scenario", "digits-label-permuted", "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "does not declare online = True; methods that can: " in err
    able = set(err.split("methods that can: ")[1].split(", "))  # plugins loaded by other tests may add to it
    assert {"adam", "er", "finetune", "knn", "l2-init", "pec", "sgd", "upgd"} <= able and "ease" not in able
    assert not any(tmp_path.iterdir())  # no run folder


# Online accuracy of each method on digits-online-cil in batches of 1 (seed 0), as the loop that
# read every batch's hits to the host one sample at a time (CLUB at 5f4c6a9) scored it.
PER_SAMPLE_LOOP_ACCURACY = {"sgd": 0.8734353268428373, "upgd": 0.8198887343532685, "pec": 0.8351877607788595}


@pytest.mark.parametrize("method", sorted(PER_SAMPLE_LOOP_ACCURACY))
def test_the_online_loop_scores_as_the_per_sample_loop_did(method, tmp_path, capsys):
    args = ["--method", method, "--scenario", "digits-online-cil", "--set", "scenario.batch_size=1", "--device", "cpu"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    (result,) = tmp_path.glob("*/result.json")
    assert json.loads(result.read_text())["metrics"]["online_accuracy"] == PER_SAMPLE_LOOP_ACCURACY[method]


def test_windows_count_hits_across_batch_boundaries():
    from benchmarks.online import _Windows

    windows = _Windows(4)
    windows.add(0, 3, None)  # before any class arrived: all missed
    windows.add(3, 3, torch.tensor([True, True, False]))  # crosses into the second window
    windows.add(6, 5, torch.tensor([True, False, True, True, True]))
    assert windows.counts() == [[1, 4], [2, 4], [3, 3]]
