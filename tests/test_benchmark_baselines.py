"""The issue's bar for the baselines on digits-cil (seed 0): finetune forgets, the others beat it."""

import json

import pytest

from benchmarks.run import main


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
