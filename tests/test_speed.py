"""The speed reports: ``benchmarks.speed`` on the embedded digits and ``benchmarks.speed_compare``
against a checkout (here, this one)."""

import json
from pathlib import Path

import torch

from benchmarks import speed, speed_compare
from methods import StreamInfo, get_method
from scenarios import PRESETS, build_scenario

ROOT = Path(__file__).resolve().parent.parent


def test_speed_reports_every_phase_next_to_the_bare_backbone(tmp_path, capsys):
    out = tmp_path / "speed.json"
    assert speed.main(["--method", "finetune", "--device", "cpu", "--max-batch", "32", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    training = report["phases"]["training steps"]
    stream = build_scenario(PRESETS["digits-cil"], 0, tmp_path)
    epochs = get_method("finetune").hyperparameters()["epochs"]
    assert training["images"] == epochs * sum(len(step.y) for step in stream.steps)  # every image, every epoch
    assert training["ratio"] == training["images_per_second"] / report["bare"]["train_images_per_second"] > 0
    assert report["phases"]["evaluation"]["seconds"] > 0 and report["checkpoint_bytes"] > 0
    assert 0 < report["whole_run"]["ratio"] < report["whole_run"]["ratio_after_start_up"]
    assert abs(sum(p["share"] for p in report["phases"].values()) - 1) < 1e-6
    floor, bare = report["floor"], report["bare"]
    assert bare["drift"] >= 0
    assert floor["forward_only_passes"] >= len(stream.test_y) > 0  # the last evaluation passes every test image
    expected = training["images"] / bare["train_images_per_second"] + floor["forward_only_passes"] / bare["forward_images_per_second_at_eval_batch"]
    assert abs(floor["seconds"] - expected) < 1e-9
    assert abs(floor["pace"] - floor["seconds"] / (report["run_seconds"] - report["phases"]["start-up"]["seconds"])) < 1e-9
    printed = capsys.readouterr().out
    assert "training steps" in printed and "whole run:" in printed and "bare backbone:" in printed and "floor:" in printed and "before and after the run" in printed


def test_the_bare_measurement_leaves_the_network_and_the_rng_as_found():
    stream = build_scenario(PRESETS["digits-cil"], 0, ".")
    method = get_method("finetune")(StreamInfo(stream.input_shape, stream.num_classes, len(stream.steps), "mlp"), torch.device("cpu"))
    network = method.model.backbone
    weights = {k: v.clone() for k, v in network.state_dict().items()}
    rng = torch.get_rng_state()
    rates = speed.bare_throughput(method, network, tuple(stream.input_shape), 32, 32)
    assert rates["best_batch"] == 32 and rates["train_images_per_second"] > 0  # no best-batch search at max_batch = batch
    assert all(torch.equal(weights[k], v) for k, v in network.state_dict().items())
    assert torch.equal(rng, torch.get_rng_state())


def test_the_bare_rates_of_a_run_are_the_mean_of_before_and_after_with_their_drift():
    keys = ("forward_images_per_second_at_eval_batch", "forward_images_per_second", "train_images_per_second")
    before = dict.fromkeys(keys, 100.0)
    after = {**dict.fromkeys(keys, 100.0), "train_images_per_second": 80.0, "best_batch": 64}
    during = speed.bare_during(before, after)
    assert during["train_images_per_second"] == 90.0 and during["forward_images_per_second"] == 100.0
    assert during["best_batch"] == 64 and abs(during["drift"] - 0.2) < 1e-12


def test_speed_refuses_bad_input_in_one_line(capsys):
    assert speed.main(["--method", "finetune", "--fraction", "0"]) == 2
    assert speed.main(["--method", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "--fraction 0.0" in err and "unknown method 'nope'" in err and "Traceback" not in err


def test_speed_compare_runs_both_checkouts_side_by_side(tmp_path, capsys):
    assert speed_compare.main(["--baseline", str(tmp_path)]) == 2
    assert "is not a CLUB checkout" in capsys.readouterr().err
    out = tmp_path / "compare.json"
    assert speed_compare.main(["--baseline", str(ROOT), "--only", "import", "--repeat", "1", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())["import"]
    assert figures["baseline"]["seconds"] > 0 and figures["current"]["seconds"] > 0
    assert '| import time | `python -c "import benchmarks.run"` |' in capsys.readouterr().out
