"""Few-shot methods and metrics: TEEN's calibration, TEEN vs NMC on digits-fscil, refusal of
methods that cannot run few-shot sessions, and the few-shot summary."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from benchmarks.errors import UsageError
from benchmarks.run import check_capability, list_choices, main
from leaderboard import recompute_metrics, validate_result
from methods import Method, get_method
from methods.teen import calibrate_prototypes
from metrics import few_shot_summary, harmonic_mean, performance_drop
from scenarios import PRESETS

FAST = ["--scenario", "digits-fscil", "--device", "cpu", "--set", "epochs=5"]


@pytest.fixture(scope="module")
def teen_and_nmc(tmp_path_factory):
    out = tmp_path_factory.mktemp("fscil_runs")
    results = {}
    for name, args in (("teen", ["--method", "teen"]), ("nmc", ["--method", "nmc", "--set", "train_first_step=true", "--set", "base_classifier=cosine"])):
        assert main(args + FAST + ["--out", str(out / name)]) == 0
        (path,) = (out / name).glob("*/result.json")
        results[name] = json.loads(path.read_text())
    return results


def test_teen_beats_nmc_on_novel_classes_with_the_same_frozen_backbone(teen_and_nmc):
    teen, nmc = teen_and_nmc["teen"], teen_and_nmc["nmc"]
    # Same seed, same base training: the base session's records are identical, so both share
    # one backbone and one set of base prototypes; only the novel prototypes differ.
    assert teen["steps"][0]["evaluations"] == nmc["steps"][0]["evaluations"]
    for key in ("train_first_step", "base_classifier", "temperature", "epochs"):
        assert teen["method"]["hyperparameters"][key] == nmc["method"]["hyperparameters"][key]
    t, n = teen["metrics"], nmc["metrics"]
    assert t["final_novel_accuracy"] > n["final_novel_accuracy"]
    assert t["final_harmonic_mean"] > n["final_harmonic_mean"]
    for m in (t, n):
        assert len(m["harmonic_mean"]) == 4 and m["harmonic_mean"][0] is None
        assert m["final_harmonic_mean"] == pytest.approx(harmonic_mean(m["final_base_accuracy"], m["final_novel_accuracy"]))
        assert m["performance_drop"] == pytest.approx(m["session_accuracy"][0] - m["session_accuracy"][-1])


def test_few_shot_results_validate_and_rederive(teen_and_nmc):
    result = teen_and_nmc["teen"]
    validate_result(result)
    assert result["scenario"]["protocol"] == "few_shot"
    assert result["scenario"]["options"]["samples"] == "seeded_sampler"
    again = recompute_metrics(result)
    for name, value in again["metrics"].items():
        assert value == pytest.approx(result["metrics"][name])


def test_calibration_moves_novel_prototypes_toward_similar_base_prototypes():
    torch.manual_seed(0)
    base = F.normalize(torch.randn(6, 16), dim=1)
    novel = F.normalize(base[2] + 0.15 * torch.randn(3, 16), dim=1)  # closest to base class 2
    assert torch.allclose(calibrate_prototypes(novel, base, alpha=0.0, tau=16.0), novel, atol=1e-6)
    out = calibrate_prototypes(novel, base, alpha=0.5, tau=16.0)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-6)
    assert ((out @ base[2]) > (novel @ base[2])).all()  # pulled toward the most similar base class
    # with a sharp softmax the shift is the single most similar base prototype
    sharp = calibrate_prototypes(novel, base, alpha=1.0, tau=1e4)
    assert torch.allclose(sharp, base[(novel @ base.T).argmax(dim=1)], atol=1e-4)
    # the formula of the paper, written out for one prototype
    w = torch.softmax(16.0 * novel[0] @ base.T, dim=0)
    shift = F.normalize(w @ base, dim=0)
    assert torch.allclose(out[0], F.normalize(0.5 * novel[0] + 0.5 * shift, dim=0), atol=1e-6)


def test_method_without_few_shot_flag_is_refused_before_training(tmp_path, capsys):
    code = main(["--method", "finetune", "--scenario", "digits-fscil", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "method 'finetune' cannot run scenario 'digits-fscil'" in err and "few_shot = True" in err
    assert "nmc" in err and "teen" in err  # names the methods that can
    assert not any(tmp_path.iterdir())  # refused before a run folder exists


def test_one_line_opts_a_method_in():
    class Plain(Method):
        pass

    class FewShot(Method):
        few_shot = True

    preset = PRESETS["digits-fscil"]
    with pytest.raises(UsageError, match="cannot run scenario"):
        check_capability("plain", Plain, preset)
    check_capability("few", FewShot, preset)
    check_capability("plain", Plain, PRESETS["digits-cil"])  # class-incremental needs no flag
    assert get_method("teen").few_shot and get_method("nmc").few_shot and not get_method("er").few_shot
    listing = list_choices()
    assert "[few_shot]" in next(line for line in listing.splitlines() if line.strip().startswith("teen"))


def test_few_shot_summary_by_hand():
    steps = [{"classes": [0, 1]}, {"classes": [2]}, {"classes": [3]}]
    counts = [
        {0: [8, 10], 1: [6, 10]},
        {0: [8, 10], 1: [4, 10], 2: [1, 5]},
        {0: [6, 10], 1: [4, 10], 2: [2, 5], 3: [3, 5]},
    ]
    records = [{"evaluations": {"seen_test": {"per_class": {str(c): v for c, v in r.items()}}}} for r in counts]
    m = few_shot_summary(steps, records)["metrics"]
    assert m["session_accuracy"] == pytest.approx([0.7, 0.52, 0.5])
    assert m["base_accuracy"] == pytest.approx([0.7, 0.6, 0.5])
    assert m["novel_accuracy"][0] is None and m["novel_accuracy"][1:] == pytest.approx([0.2, 0.5])
    assert m["harmonic_mean"][0] is None and m["harmonic_mean"][1:] == pytest.approx([0.3, 0.5])
    assert m["final_accuracy"] == pytest.approx(0.5) and m["performance_drop"] == pytest.approx(0.2)
    assert m["average_session_accuracy"] == pytest.approx((0.7 + 0.52 + 0.5) / 3)
    assert m["average_harmonic_mean"] == pytest.approx(0.4) and m["final_harmonic_mean"] == pytest.approx(0.5)
    assert harmonic_mean(0.0, 0.0) == 0.0 and performance_drop([0.9]) == 0.0
