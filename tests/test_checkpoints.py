"""Checkpoints hold only what changed: frozen backbones by recipe and hash, finished tasks'
modules once, the stream's own tensors by name; a resume still ends exactly as the run would."""

import json

import pytest
import torch

import benchmarks.runner as runner
from benchmarks.checkpoints import PARTS, load_checkpoint
from benchmarks.run import main
from methods import MethodError, StreamInfo, get_method
from methods.backbones.vit import build_vit

CPU = torch.device("cpu")


def _interrupted_then_resumed(tmp_path, monkeypatch, args, stop_after):
    """Run ``args`` until ``stop_after`` checkpoints are written, stop it as a kill would, look at
    the checkpoint, resume it, and return (the checkpoint seen without its named objects,
    the resumed result, the uninterrupted result)."""
    saves = []
    real_save = runner.save_checkpoint

    def save_then_stop(run_dir, state, stream):
        real_save(run_dir, state, stream)
        saves.append(run_dir)
        if len(saves) == stop_after:
            raise KeyboardInterrupt

    monkeypatch.setattr(runner, "save_checkpoint", save_then_stop)
    assert main([*args, "--out", str(tmp_path / "stopped")]) == 130
    monkeypatch.setattr(runner, "save_checkpoint", real_save)
    run_dir = saves[-1]
    seen = load_checkpoint(run_dir, CPU, None)  # what the file itself holds
    parts = sorted((run_dir / PARTS).glob("*.pt")) if (run_dir / PARTS).exists() else []
    assert main(["--resume", str(run_dir)]) == 0
    assert not (run_dir / "checkpoint.pt").exists() and not (run_dir / PARTS).exists()
    resumed = json.loads((run_dir / "result.json").read_text())
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    (straight_file,) = (tmp_path / "straight").glob("*/result.json")
    return seen, parts, resumed, json.loads(straight_file.read_text())


def test_a_frozen_vit_is_named_by_its_recipe_and_rebuilt_on_resume(tmp_path, monkeypatch, capsys):
    args = ["--method", "ease", "--set", "epochs=1", "--device", "cpu"]
    seen, _, resumed, straight = _interrupted_then_resumed(tmp_path, monkeypatch, args, stop_after=2)
    assert seen.method.model.vit is None  # named, not stored
    assert resumed["accuracy_matrix"] == straight["accuracy_matrix"]


def test_finished_task_modules_are_written_once(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("benchmarks.checkpoints.PART_BYTES", 1)  # the tiny ViT's adapters are small
    args = ["--method", "lora", "--set", "epochs=1", "--device", "cpu"]
    seen, parts, resumed, straight = _interrupted_then_resumed(tmp_path, monkeypatch, args, stop_after=3)
    assert len(parts) >= 3  # modules and heads of three finished tasks, one file each
    assert all(seen.method.model.modules_by_task[str(t)] is None for t in range(3))
    assert resumed["accuracy_matrix"] == straight["accuracy_matrix"]


def test_an_unlearning_method_keeps_the_streams_images_by_name(tmp_path, monkeypatch, capsys):
    args = ["--method", "retrain", "--scenario", "digits-cil-forget", "--set", "epochs=2", "--device", "cpu"]
    seen, _, resumed, straight = _interrupted_then_resumed(tmp_path, monkeypatch, args, stop_after=4)
    assert seen.method.memory and all(x is None and y is None for x, y, _, _ in seen.method.memory)
    assert resumed["accuracy_matrix"] == straight["accuracy_matrix"]
    assert [u["method"] for u in resumed["unlearning"]] == [u["method"] for u in straight["unlearning"]]


def test_a_backbone_changed_in_place_is_stored_and_one_that_rebuilds_differently_is_refused():
    torch.manual_seed(0)
    vit = build_vit("vit_tiny_club", (1, 8, 8)).requires_grad_(False)
    vit.seal()
    reference = vit.frozen_reference()
    rebuilt = reference.rebuild(CPU)
    assert all(torch.equal(a, b) for a, b in zip(vit.state_dict().values(), rebuilt.state_dict().values()))
    with torch.no_grad():
        next(vit.parameters()).mul_(0.5)  # a method dampening frozen weights
    assert vit.frozen_reference() is None  # then its weights are stored
    forged = type(reference)(**{**reference.__dict__, "sha256": "0" * 64})
    with pytest.raises(MethodError, match="differs from the one it was saved with"):
        forged.rebuild(CPU)


def test_a_trained_vit_is_never_named():
    method = get_method("finetune-vit")(StreamInfo((1, 8, 8), 10, 5, "mlp"), CPU)
    assert method.vit.frozen_reference() is None
