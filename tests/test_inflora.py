"""InfLoRA: DualGPM, the designed A, k/v-only zero-initialised branches, the schedule, the recipe."""

import io
import math

import pytest
import torch

from methods import StreamInfo, get_method
from methods.configs import config_document, preset_hyperparameters
from methods.inflora import RETAIN, KVLoRA, dualgpm_update, inflora_cosine, project_off, protected_dims
from scenarios import PRESETS, build_scenario

DIGITS = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return build_scenario(PRESETS["digits-cil"], seed=0, data_dir=".")


def protector(space, dim: int) -> torch.Tensor:
    """Orthogonal projector onto the protected subspace of ``space``."""
    eye = torch.eye(dim, dtype=torch.float64)
    return eye - project_off(space, eye)


def energy_inside(space, cov: torch.Tensor) -> float:
    """Share of Σσ² of ``cov`` that its projection on the protected subspace keeps."""
    return float((protector(space, len(cov)) @ cov).square().sum() / cov.square().sum())


class InputsOf:
    """Stands in for a covariance record: keeps a block's attention inputs (tokens × D)."""

    def __init__(self) -> None:
        self.rows: list[torch.Tensor] = []

    def add(self, x: torch.Tensor) -> None:
        self.rows.append(x.detach().reshape(-1, x.shape[-1]))


def block_inputs(method, x: torch.Tensor) -> list[torch.Tensor]:
    """Every block's attention inputs on ``x`` with the method's current branches."""
    records = [InputsOf() for _ in range(method.vit.depth)]
    with torch.no_grad():
        method.vit(x, **method.hooks(records))
    return [torch.cat(r.rows).double() for r in records]


def test_dualgpm_grows_a_nested_subspace_to_the_threshold_and_switches_to_the_complement():
    dim, scales = 10, torch.tensor([2.0, 1.5, 1.2, 1.0], dtype=torch.float64)
    torch.manual_seed(0)
    updates = {"remove": 0, "retain": 0}
    for _ in range(20):
        space = None
        for threshold in [0.9, 0.92, 0.94, 0.96, 0.98]:
            directions = torch.randn(len(scales), dim, dtype=torch.float64)
            x = torch.randn(300, len(scales), dtype=torch.float64) * scales @ directions + 0.05 * torch.randn(300, dim, dtype=torch.float64)
            cov = x.T @ x / len(x)
            if space is None:  # first task: the leading directions whose cumulative σ² stays below λ
                s2 = torch.linalg.svdvals(cov) ** 2
                expected, old = max(1, int((torch.cumsum(s2 / s2.sum(), 0) < threshold).sum())), None
            else:  # later tasks: the fewest strongest new directions that bring the σ² inside to λ
                s2 = torch.linalg.svdvals(project_off(space, cov)) ** 2 / cov.square().sum()
                reach = energy_inside(space, cov) + torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(s2, 0)])
                expected, old = protected_dims(space) + int((reach < threshold).sum()), protector(space, dim)
                updates[space[1]] += 1
            space = dualgpm_update(space, cov, threshold)
            basis, kind = space
            assert torch.allclose(basis.T @ basis, torch.eye(basis.shape[1], dtype=torch.float64), atol=1e-8)
            assert protected_dims(space) == min(expected, dim)
            assert (kind == RETAIN) == (protected_dims(space) > dim / 2)
            if old is not None:
                assert torch.allclose(protector(space, dim) @ old, old, atol=1e-8)  # nested
                assert energy_inside(space, cov) >= threshold - 1e-9
    assert min(updates.values()) >= 5  # both representations were updated


def test_a_is_built_from_the_task_covariance_orthogonally_to_the_earlier_bases(digits):
    torch.manual_seed(0)
    method = get_method("inflora")(DIGITS, CPU, epochs=1)
    method.learn(digits.steps[0])
    earlier = list(method.spaces)
    method.learn(digits.steps[1])
    a = method.model.branches[1].a.double()
    dim, rank = method.vit.out_dim, method.rank
    for block in range(method.vit.depth):
        assert (a[block] @ protector(earlier[block], dim)).norm() < 1e-6 * a[block].norm()
        assert torch.allclose(a[block] @ a[block].T, torch.eye(rank, dtype=torch.float64) / 3, atol=1e-6)
    # Block 0 sees the patch embeddings, untouched by any branch: rebuild its covariance by hand.
    vit = method.vit.vit
    with torch.no_grad():
        tokens = vit.blocks[0].norm1(vit.norm_pre(vit._pos_embed(vit.patch_embed(method.vit.prepare(digits.steps[1].x)))))
    x = tokens.reshape(-1, dim).double()
    u = torch.linalg.svd(project_off(earlier[0], x.T @ x / len(x)))[0][:, :rank]
    assert torch.allclose(3 * a[0].T @ a[0], u @ u.T, atol=1e-4)


def test_only_key_and_value_get_branches_and_zero_b_keeps_the_frozen_function(digits):
    torch.manual_seed(0)
    method = get_method("inflora")(DIGITS, CPU, epochs=0)
    method.learn(digits.steps[0])  # A designed, B still zero
    x = digits.test_x[:64]
    with torch.no_grad():
        assert (method.predict(x) - method.model.heads[0](method.vit(x))).abs().max() < 1e-6
    branch = method.model.branches[0]
    assert {id(p) for p in method.trainable_parameters()} == {id(p) for p in [branch.b_k, branch.b_v, *method.model.heads[0].parameters()]}
    assert not branch.a.requires_grad and not torch.count_nonzero(branch.b_k) and not torch.count_nonzero(branch.b_v)
    dim = method.vit.out_dim
    b_k, b_v = torch.randn(dim, method.rank), torch.randn(dim, method.rank)
    tokens = torch.randn(2, 5, dim)
    out = KVLoRA(branch.a[0], b_k, b_v)(tokens)
    assert out.shape == (2, 5, 3 * dim) and not torch.count_nonzero(out[..., :dim])  # the query is untouched
    assert torch.allclose(out[..., dim : 2 * dim], tokens @ branch.a[0].T @ b_k.T, atol=1e-5)
    assert torch.allclose(out[..., 2 * dim :], tokens @ branch.a[0].T @ b_v.T, atol=1e-5)


def test_a_new_branch_does_not_act_on_old_inputs_within_the_protected_subspace(digits):
    torch.manual_seed(0)
    method = get_method("inflora")(DIGITS, CPU, epochs=2)
    method.learn(digits.steps[0])
    old_inputs, earlier = block_inputs(method, digits.steps[0].x), list(method.spaces)
    method.learn(digits.steps[1])
    new_inputs = block_inputs(method, digits.steps[1].x)
    branch = method.model.branches[1]
    dim = method.vit.out_dim
    for block in range(method.vit.depth):
        p = protector(earlier[block], dim)
        for b in (branch.b_k, branch.b_v):
            delta = (b[block] @ branch.a[block]).double()
            on_new = (new_inputs[block] @ delta.T).norm()
            assert on_new > 0  # the trained branch changes the new task's keys and values
            assert (old_inputs[block] @ p @ delta.T).norm() < 1e-5 * on_new
            # Whatever reaches old inputs comes through their unprotected part only.
            assert torch.allclose(old_inputs[block] @ delta.T, old_inputs[block] @ (torch.eye(dim, dtype=torch.float64) - p) @ delta.T, atol=1e-6)


def test_schedule_is_inflora_cosine_for_adam_and_annealing_for_sgd():
    epochs = 4
    expected = [math.cos(99 * math.pi * e / (200 * (epochs - 1))) for e in range(epochs)]
    assert [inflora_cosine(e, epochs) for e in range(epochs)] == pytest.approx(expected)
    assert expected[-1] == pytest.approx(math.cos(99 * math.pi / 200)) and inflora_cosine(0, 1) == 1.0
    for optimizer, kind in [("adam", "LambdaLR"), ("sgd", "CosineAnnealingLR")]:
        method = get_method("inflora")(DIGITS, CPU, epochs=epochs, lr=0.1, optimizer=optimizer)
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        schedule = method.lr_schedule(opt)
        assert type(schedule).__name__ == kind
        lrs = []
        for _ in range(epochs):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            schedule.step()
        if optimizer == "adam":
            assert lrs == pytest.approx([0.1 * f for f in expected])


def test_checkpoint_round_trip_predicts_the_same_and_keeps_learning(digits):
    torch.manual_seed(0)
    method = get_method("inflora")(DIGITS, CPU, epochs=1)
    method.learn(digits.steps[0])
    buffer = io.BytesIO()
    torch.save(method, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    x = digits.test_x[:50]
    with torch.no_grad():
        assert torch.equal(loaded.predict(x), method.predict(x))
    loaded.learn(digits.steps[1])
    assert loaded.predict(x).shape == (50, 4) and len(loaded.model.branches) == 2


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="rank"):
        get_method("inflora")(DIGITS, CPU, rank=65)
    with pytest.raises(ValueError, match="threshold"):
        get_method("inflora")(DIGITS, CPU, threshold_start=0.99, threshold_end=0.9)


def test_recipes_name_their_sources():
    """InfLoRA's own configs for CIFAR-100 and ImageNet-R; S-LoRA has none, so ``lora`` flags its values."""
    cifar, imr = preset_hyperparameters("inflora", "cifar100-b0inc10"), preset_hyperparameters("inflora", "imagenet-r-b0inc20")
    assert cifar == {**cifar, "rank": 10, "lr": 0.0005, "batch_size": 128, "epochs": 20, "threshold_start": 0.95, "threshold_end": 1.0, "optimizer": "adam"}
    assert imr == {**imr, "rank": 10, "lr": 0.0005, "batch_size": 128, "epochs": 50, "threshold_start": 0.98, "threshold_end": 1.0}
    inflora = config_document("inflora")["presets"]
    assert "mimg10_inflora.json" in inflora["imagenet-r-b0inc20"]["epochs"]["source"]
    imr_entries = inflora["imagenet-r-b0inc20"]
    assert all("source" in entry for key, entry in imr_entries.items() if key != "input_pipeline")
    assert "0.08" in imr_entries["input_pipeline"]["club"]  # InfLoRA's crop scale is not CLUB's: flagged
    assert "club" in inflora["cub-b0inc10"]["epochs"]  # no official CUB run: CLUB's value, flagged
    for preset, entries in config_document("lora")["presets"].items():
        for key, entry in entries.items():
            assert "InfLoRA" not in entry.get("source", ""), (preset, key)
            assert "methods.md" not in entry.get("source", "") + entry.get("club", "")
