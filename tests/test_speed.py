"""The speed reports: ``benchmarks.speed`` on the embedded digits and ``benchmarks.speed_compare``
against a checkout (here, this one)."""

import json
from pathlib import Path

from benchmarks import speed, speed_compare
from methods import get_method
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
    assert floor["forward_only_passes"] >= len(stream.test_y) > 0  # the last evaluation passes every test image
    expected = training["images"] / bare["train_images_per_second"] + floor["forward_only_passes"] / bare["forward_images_per_second_at_eval_batch"]
    assert abs(floor["seconds"] - expected) < 1e-9
    assert abs(floor["pace"] - floor["seconds"] / (report["run_seconds"] - report["phases"]["start-up"]["seconds"])) < 1e-9
    printed = capsys.readouterr().out
    assert "training steps" in printed and "whole run:" in printed and "bare backbone:" in printed and "floor:" in printed


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
