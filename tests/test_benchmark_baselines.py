"""The issue's bar for the baselines on digits-cil (seed 0): finetune forgets, the others beat it."""

import json
import math

import pytest
import torch

from benchmarks.rng import seed_everything
from benchmarks.run import main
from methods import StreamInfo, get_method
from scenarios import PRESETS, build_scenario


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    found = {}
    for method in ["finetune", "joint", "nmc", "er", "ewc", "lwf"]:
        assert main(["--method", method, "--seed", "0", "--device", "cpu", "--out", str(out)]) == 0
        (path,) = out.glob(f"digits-cil_{method}_s0_*/result.json")
        found[method] = json.loads(path.read_text())
    return found


def test_finetune_forgets(results):
    assert results["finetune"]["metrics"]["forgetting"] > 0.5


@pytest.mark.parametrize("method", ["joint", "nmc", "er", "ewc", "lwf"])
def test_method_beats_finetune(results, method):
    assert results[method]["metrics"]["final_accuracy"] > results["finetune"]["metrics"]["final_accuracy"]


def test_joint_is_the_upper_bound(results):
    joint = results["joint"]["metrics"]["final_accuracy"]
    assert joint > 0.9
    assert all(joint >= r["metrics"]["final_accuracy"] for r in results.values())



def test_ewc_defaults_stay_finite_on_digits_cil_seed_1(tmp_path):
    """Issue 10, item 8: with λ = 1e5 this seed's penalty outgrew the step size (lr·λ·F above
    2(1 + momentum)), the loss reached 1e30 and every weight became NaN."""
    seed_everything(1)
    stream = build_scenario(PRESETS["digits-cil"], 1, tmp_path)

    class Watched(get_method("ewc")):
        losses: list[float] = []

        def loss(self, x, y, step):
            value = super().loss(x, y, step)
            self.losses.append(value.item())
            return value

    ewc = Watched(StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), "mlp"), torch.device("cpu"))
    for step in stream.steps:
        ewc.learn(step)
    assert all(math.isfinite(v) for v in ewc.losses) and max(ewc.losses) < 100
    assert all(torch.isfinite(p).all() for p in ewc.model.parameters())
    x, y = stream.seen_test_set(len(stream.steps) - 1)
    with torch.no_grad():
        assert (ewc.predict(x).argmax(1) == y).float().mean().item() > 0.15
