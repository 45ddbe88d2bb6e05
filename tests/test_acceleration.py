"""The device options (methods/acceleration.py) change how a run computes, not what it predicts;
the thread count is part of a run's configuration."""

import json
from pathlib import Path

import pytest
import torch

from benchmarks.run import main
from methods import StreamInfo, get_method
from methods.acceleration import optimizer_options
from scenarios import PRESETS, build_scenario

DIGITS = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return build_scenario(PRESETS["digits-cil"], seed=0, data_dir=".")


def _predictions(name: str, digits, steps: int = 2, **settings) -> torch.Tensor:
    torch.manual_seed(0)
    method = get_method(name)(DIGITS, CPU, **settings)
    for step in digits.steps[:steps]:
        method.learn(step)
    with torch.no_grad(), method.autocast():
        return method.predict(digits.test_x).float()


@pytest.mark.parametrize("implementation", ["for-loop", "foreach", "fused"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_every_optimizer_implementation_predicts_like_the_default(digits, optimizer, implementation):
    plain = _predictions("finetune", digits, epochs=3, optimizer=optimizer)
    other = _predictions("finetune", digits, epochs=3, optimizer=optimizer, optimizer_impl=implementation)
    assert torch.equal(plain.argmax(1), other.argmax(1))
    assert torch.allclose(plain, other, atol=1e-4)


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_the_cpu_default_adam_updates_like_the_for_loop_bit_for_bit(digits, optimizer):
    assert optimizer_options("auto", optimizer, CPU) == {"foreach": True}
    auto = _predictions("finetune", digits, epochs=3, optimizer=optimizer, weight_decay=5e-4)
    assert torch.equal(auto, _predictions("finetune", digits, epochs=3, optimizer=optimizer, weight_decay=5e-4, optimizer_impl="for-loop"))


def test_tf32_is_a_no_op_on_the_cpu(digits):
    assert torch.equal(_predictions("finetune", digits, epochs=2), _predictions("finetune", digits, epochs=2, tf32=False))


def test_a_bf16_frozen_backbone_predicts_within_bf16_rounding(digits):
    plain = _predictions("simplecil", digits)
    half = _predictions("simplecil", digits, backbone_dtype="bfloat16")
    method = get_method("simplecil")(DIGITS, CPU, backbone_dtype="bfloat16")
    assert next(method.vit.parameters()).dtype == torch.bfloat16
    assert (plain.argmax(1) == half.argmax(1)).float().mean() >= 0.95
    assert torch.allclose(plain, half, atol=0.05)


def test_cuda_only_options_are_refused_in_one_line_on_the_cpu(tmp_path, capsys):
    assert main(["--method", "er", "--set", "cuda_graphs=true", "--device", "cpu", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cuda_graphs=true needs a CUDA device" in err
    assert main(["--method", "finetune-vit", "--set", "backbone_dtype=bfloat16", "--device", "cpu", "--out", str(tmp_path)]) == 2
    assert "trains its ViT" in capsys.readouterr().err


@pytest.mark.slow
def test_compiled_steps_predict_like_eager_ones(digits):
    """torch.compile of the training and evaluation steps (tens of seconds of compilation)."""
    plain = _predictions("finetune", digits, epochs=2)
    compiled = _predictions("finetune", digits, epochs=2, compile=True)
    assert torch.equal(plain.argmax(1), compiled.argmax(1))
    assert torch.allclose(plain, compiled, atol=1e-4)


def test_threads_are_part_of_the_configuration_and_kept_on_resume(tmp_path, capsys):
    assert main(["--method", "finetune", "--set", "epochs=1", "--threads", "1", "--device", "cpu", "--out", str(tmp_path)]) == 0
    (run_dir,) = tmp_path.iterdir()
    assert json.loads((run_dir / "config.json").read_text())["threads"] == 1
    assert json.loads((run_dir / "result.json").read_text())["environment"]["torch_threads"] == 1
    capsys.readouterr()
    assert main(["--resume", str(run_dir), "--threads", "2"]) == 2
    assert "drop --threads" in capsys.readouterr().err
    assert main(["--method", "er", "--threads", "0", "--out", str(tmp_path)]) == 2
    assert "--threads 0: expected auto or a positive integer" in capsys.readouterr().err


def test_auto_threads_give_a_small_model_one_thread(tmp_path):
    torch.set_num_threads(2)
    try:
        assert main(["--method", "finetune", "--set", "epochs=1", "--device", "cpu", "--out", str(tmp_path)]) == 0
        (result,) = Path(tmp_path).glob("*/result.json")
        assert json.loads(result.read_text())["environment"]["torch_threads"] == 1
    finally:
        torch.set_num_threads(1)
