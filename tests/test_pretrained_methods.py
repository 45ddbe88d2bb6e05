"""Pre-trained-model methods: exact checks of L2P, EASE and LoRA mechanics, and the digits bar
(InfLoRA's own checks are in test_inflora.py)."""

import json
import os

import pytest
import torch
import torch.nn.functional as F

from benchmarks.run import main
from methods import MethodError, StreamInfo, get_method
from methods.backbones import WeightsUnavailable, build_backbone, build_vit
from methods.backbones.peft import PEFT_KINDS, PEFTPool
from methods.ease import ensemble_logits, prototype_complement
from methods.l2p import select_entries
from scenarios import PRESETS, build_scenario

DIGITS = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return build_scenario(PRESETS["digits-cil"], seed=0, data_dir=".")


@pytest.mark.parametrize("num_classes,expected", [(100, 122_980), (200, 199_880)])
def test_l2p_trainable_parameters_of_vit_b16(num_classes, expected):
    info = StreamInfo((3, 224, 224), num_classes, 10, "vit_base_patch16_224")
    method = get_method("l2p")(info, CPU, pretrained=False, pool_size=10, length=5, top_k=5)
    assert method.vit.out_dim == 768 and method.vit.weights == "vit_base_patch16_224.augreg_in21k_ft_in1k:random-init"
    assert method.num_trainable() == 10 * 5 * 768 + 10 * 768 + 768 * num_classes + num_classes == expected


def test_real_weights_offline_fail_fast_in_one_line(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", "/nonexistent-club-cache")
    with pytest.raises(WeightsUnavailable, match="pretrained=false") as e:
        build_vit("vit_base_patch16_224_in21k", (3, 224, 224))
    assert "\n" not in str(e.value) and "augreg_in21k" in str(e.value)


def test_lora_with_zero_b_gives_the_frozen_backbones_logits(digits):
    torch.manual_seed(0)
    method = get_method("lora")(DIGITS, CPU)
    x = digits.test_x[:64]
    method.current_task = 0
    step = digits.steps[0]
    method.task_classes[0] = (0, 2)
    method.model.modules_by_task["0"] = PEFTPool("lora", 1, 64, method.vit.depth, rank=4)
    method.model.heads["0"] = torch.nn.Linear(64, 2)
    with torch.no_grad():
        adapted = method.task_logits(x, 0)
        frozen = method.model.heads["0"](method.vit(x))
    assert (adapted - frozen).abs().max() < 1e-6
    assert step.index == 0


@pytest.mark.parametrize("kind", PEFT_KINDS)
def test_every_peft_kind_attaches_and_trains(kind):
    torch.manual_seed(0)
    vit = build_backbone("vit_tiny_club", (1, 8, 8)).requires_grad_(False)
    pool = PEFTPool(kind, 3, vit.out_dim, vit.depth, length=2, rank=4, layers=2)
    x = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    idx = torch.tensor([[0, 1], [1, 2], [2, 0], [0, 0]])
    out = vit(x, **pool.hooks(idx))
    assert out.shape == (4, vit.out_dim)
    out.square().sum().backward()
    grads = [p.grad for p in pool.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_l2p_masks_other_tasks_head_rows(digits):
    torch.manual_seed(0)
    method = get_method("l2p")(DIGITS, CPU, epochs=1)
    method.learn(digits.steps[0])
    step = digits.steps[1]
    method.current = list(step.classes)
    method.model.zero_grad()
    method.loss(step.x[:32], step.y[:32], step).backward()
    grad = method.model.head.weight.grad
    others = [c for c in range(10) if c not in step.classes]
    assert torch.count_nonzero(grad[others]) == 0 and torch.count_nonzero(method.model.head.bias.grad[others]) == 0
    assert grad[list(step.classes)].abs().sum() > 0


def test_l2p_selection_per_sample_and_batch_vote():
    sim = torch.tensor([[0.9, 0.1, 0.5], [0.1, 0.9, 0.5], [0.2, 0.8, 0.1]])
    assert select_entries(sim, 1, batchwise=False).flatten().tolist() == [0, 1, 1]
    assert select_entries(sim, 1, batchwise=True).flatten().tolist() == [1, 1, 1]


def test_l2p_per_sample_prediction_does_not_depend_on_batch_mates(digits):
    torch.manual_seed(0)
    method = get_method("l2p")(DIGITS, CPU, epochs=1)
    method.learn(digits.steps[0])
    x = digits.test_x[:16]
    with torch.no_grad():
        alone = torch.cat([method.predict(x[i : i + 1]) for i in range(4)])
        together = method.predict(x)[:4]
    assert torch.allclose(alone, together, atol=1e-5)


def test_ease_complement_weights_are_a_softmax_over_later_classes():
    protos = torch.zeros(2, 3, 2)
    protos[0] = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # class 0 (task 0) is like class 1
    protos[1, 1:] = torch.tensor([[5.0, 5.0], [-5.0, 5.0]])
    out = prototype_complement(protos, torch.tensor([0, 1, 1]))
    w = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    assert torch.allclose(out[1, 0], w[0] * protos[1, 1] + w[1] * protos[1, 2])
    assert torch.equal(out[:, 1:], protos[:, 1:]) and torch.equal(out[0], protos[0])


def test_ease_reweighting_divides_alpha_by_the_other_subspaces():
    cos = torch.tensor([[[1.0, 0.0]], [[0.5, 0.2]], [[0.3, 0.9]]])  # 3 subspaces, 1 sample, 2 classes
    logits = ensemble_logits(cos, torch.tensor([0, 2]), alpha=0.5)
    assert torch.allclose(logits, torch.tensor([[1.0 + 0.25 * 0.8, 0.9 + 0.25 * 0.2]]))


def test_ease_prototype_complement_between_zero_filled_and_true_prototypes(digits):
    """Accuracy with old-class blocks zero-filled < with the complement ≤ with the true prototypes."""
    torch.manual_seed(0)
    method = get_method("ease")(DIGITS, CPU, epochs=2)
    for step in digits.steps:
        method.learn(step)
    train_x = torch.cat([s.x for s in digits.steps])
    train_y = torch.cat([s.y for s in digits.steps])
    with torch.no_grad():
        oracle = torch.stack(
            [torch.stack([method.subspace_features(train_x[train_y == c], j).mean(0) for c in range(10)]) for j in range(5)]
        )
        zero = method.protos.clone()  # real blocks only: old classes of later subspaces are 0
        accuracy = {
            name: (method.logits(digits.test_x, p).argmax(1) == digits.test_y).float().mean().item()
            for name, p in [("zero", zero), ("complement", method.classifier_prototypes()), ("oracle", oracle)]
        }
    assert accuracy["zero"] < accuracy["complement"] <= accuracy["oracle"] + 0.01, accuracy


def test_drop_task_removes_a_tasks_module_and_classes(digits):
    torch.manual_seed(0)
    for name in ["ease", "lora"]:
        method = get_method(name)(DIGITS, CPU, epochs=1, batch_size=128)
        for step in digits.steps[:3]:
            method.learn(step)
        method.drop_task(1)
        assert "1" not in method.model.modules_by_task
        with torch.no_grad():
            pred = method.predict(digits.test_x[:200]).argmax(1)
        assert not set(pred.tolist()) & set(digits.steps[1].classes)


@pytest.fixture(scope="module")
def digits_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    found = {}
    for method in ["finetune", "simplecil", "ease", "lora", "inflora", "l2p"]:
        assert main(["--method", method, "--device", "cpu", "--out", str(out)]) == 0
        (path,) = out.glob(f"digits-cil_{method}_s0_*/result.json")
        found[method] = json.loads(path.read_text())
    return found


@pytest.mark.parametrize("method", ["simplecil", "ease", "lora", "inflora", "l2p"])
def test_pretrained_method_beats_finetune_on_digits(digits_results, method):
    result = digits_results[method]
    assert result["metrics"]["final_accuracy"] > digits_results["finetune"]["metrics"]["final_accuracy"]
    assert result["method"]["details"]["backbone_weights"] == "vit_tiny_club:random-init"
    assert result["method"]["recipe"] == "club"  # the embedded digits run CLUB's own keyword defaults
    assert result["method"]["hyperparameters"]["input_pipeline"] == "club"


def test_usage_errors_are_one_line(capsys):
    assert main(["--method", "ease", "--set", "peft=bogus", "--out", os.devnull]) == 2
    assert main(["--method", "l2p", "--set", "backbone=mlp", "--out", os.devnull]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)


def test_ease_moni_adam_mode_trains_the_first_adapter_only(digits):
    """adapter_num=1 (the reference's OmniBenchmark mode): one adapter, PTM block joined, plain cosine."""
    torch.manual_seed(0)
    method = get_method("ease")(DIGITS, CPU, epochs=1, adapter_num=1)
    for step in digits.steps:
        method.learn(step)
    assert list(method.model.modules_by_task) == ["0"] and method.protos.shape == (1, 10, 64)
    x = digits.test_x[:100]
    with torch.no_grad():
        logits = method.predict(x)
        ptm = method.vit(x)
        # The reference scores [f_ptm, f_0, f_1, ..., f_4] against [p_ptm, p_0, 0, ..., 0]; the later
        # adapters are untrained (zero up-projection), so their features are the PTM's.
        feats = torch.cat([ptm, method.subspace_features(x, 0), *[ptm] * 4], dim=1)
        weights = torch.cat([method.ptm_protos, method.protos[0], torch.zeros(10, 4 * 64)], dim=1)
        reference = F.normalize(feats, dim=1) @ F.normalize(weights, dim=1).T
    assert torch.equal(logits.argmax(1), reference.argmax(1))
    ratio = reference / logits
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-4)  # one positive factor per sample
    accuracy = (logits.argmax(1) == digits.test_y[:100]).float().mean()
    assert accuracy > 0.5
    with pytest.raises(MethodError, match="adapter_num=1 cannot delete a task"):
        method.drop_task(1)


def test_ease_adapter_num_must_be_minus_one_or_positive():
    with pytest.raises(ValueError, match="adapter_num"):
        get_method("ease")(DIGITS, CPU, adapter_num=0)


def test_l2p_max_grad_norm_zero_leaves_gradients_alone():
    method = get_method("l2p")(DIGITS, CPU, max_grad_norm=0.0)
    for p in method.trainable_parameters():
        p.grad = torch.full_like(p, 10.0)
    method.before_update()
    assert all(torch.all(p.grad == 10.0) for p in method.trainable_parameters())
    method.max_grad_norm = 1.0
    method.before_update()
    assert torch.sqrt(sum((p.grad**2).sum() for p in method.trainable_parameters())) == pytest.approx(1.0, rel=1e-4)
