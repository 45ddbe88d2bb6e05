"""The method registry, plugins, and the parts of the baselines that can be checked exactly."""

import copy

import pytest
import torch
import torch.nn.functional as F

from methods import Method, StreamInfo, get_method, load_plugin, method_names, register_method
from methods.backbones import build_backbone
from methods.er import ReservoirBuffer
from methods.ewc import diagonal_fisher
from methods.supervised import IncrementalClassifier
from scenarios import PRESETS, build_scenario

INFO = StreamInfo(input_shape=(1, 8, 8), num_classes=10, num_steps=5, backbone="mlp")


def test_builtin_baselines_are_registered():
    assert {"finetune", "joint", "nmc", "ewc", "lwf", "er"} <= set(method_names())


def test_registering_a_name_twice_is_an_error():
    with pytest.raises(ValueError, match="already registered"):

        @register_method("finetune")
        class Again(Method):
            pass


def test_unknown_method_names_the_choices():
    with pytest.raises(KeyError, match="choose from .*finetune"):
        get_method("nope")


def test_the_catalog_lists_every_builtin_as_its_class_describes_itself():
    import importlib
    import pkgutil

    import methods
    from methods.catalog import BUILT_IN
    from methods.registry import _REGISTRY, method_entry

    for info in pkgutil.walk_packages(methods.__path__, "methods."):
        importlib.import_module(info.name)  # every module of the package, listed or not
    for modality, registered in _REGISTRY.items():
        built_in = {name for name, cls in registered.items() if cls.__module__.startswith("methods.") and ":" not in name}
        assert built_in == set(BUILT_IN[modality]), f"{modality}: catalog and registered built-ins differ"
        for name in built_in:
            assert method_entry(name, modality) == BUILT_IN[modality][name], f"{modality} {name}: the catalog entry is stale"


def test_a_method_module_is_imported_when_the_method_is_first_asked_for(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys, benchmarks.run\n"
        "heavy = ('timm', 'torchvision', 'sklearn.cluster', 'transformers', 'scipy.stats', 'methods.ease', 'methods.lora')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "from methods import get_method\n"
        "get_method('finetune')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "get_method('lora')\n"
        "print('methods.lora' in sys.modules, 'timm' in sys.modules, 'sklearn.cluster' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path).stdout.splitlines()
    assert out == ["[]", "[]", "True False False"]  # timm comes with the first ViT built, scikit-learn with k-means


def test_a_family_of_prefixed_names_loads_its_module_on_demand(tmp_path, monkeypatch):
    import sys

    from methods.catalog import FAMILIES, Family
    from methods.registry import _REGISTRY

    (tmp_path / "club_test_family.py").write_text(
        "from methods import Method, register_method\n"
        "@register_method('fam:one')\n"
        "class One(Method):\n"
        "    'The first member.'\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FAMILIES, "fam", Family("club_test_family"))
    try:
        assert "fam:one" not in method_names() and "club_test_family" not in sys.modules
        assert get_method("fam:one").__name__ == "One"
        assert "fam:one" in method_names()
        with pytest.raises(KeyError, match="unknown method 'fam:two'"):
            get_method("fam:two")
    finally:
        _REGISTRY["image"].pop("fam:one", None)
        sys.modules.pop("club_test_family", None)


def test_hyperparameters_collect_along_the_class_hierarchy():
    hp = get_method("er").hyperparameters()
    assert hp["buffer_size"] == 200 and hp["lr"] == 0.05 and hp["backbone"] == "auto"


def test_plugin_file_can_subclass_a_builtin(tmp_path):
    path = tmp_path / "user_method.py"
    path.write_text(
        "from methods import get_method, register_method\n"
        "@register_method('user-finetune-test')\n"
        "class UserFinetune(get_method('finetune')):\n"
        "    def __init__(self, info, device, *, extra: float = 1.5, **kw):\n"
        "        super().__init__(info, device, **kw)\n"
    )
    load_plugin(str(path))
    cls = get_method("user-finetune-test")
    assert issubclass(cls, get_method("finetune"))
    assert cls.hyperparameters()["extra"] == 1.5
    assert cls.__module__ == "club_plugin_user_method"


@pytest.mark.parametrize("name,shape,dim", [("mlp", (1, 8, 8), 128), ("small_cnn", (1, 8, 8), 128), ("resnet18", (3, 32, 32), 512)])
def test_backbones_take_uint8_images(name, shape, dim):
    net = build_backbone(name, shape).eval()
    x = torch.randint(0, 256, (2, *shape), dtype=torch.uint8)
    assert net(x).shape == (2, dim) == (2, net.out_dim)


def test_head_growth_keeps_old_rows():
    model = IncrementalClassifier(build_backbone("mlp", (1, 8, 8)))
    model.grow(2)
    old = model.head.weight.detach().clone()
    model.grow(4)
    assert model.head.out_features == 4
    assert torch.equal(model.head.weight[:2], old)


def test_reservoir_is_a_uniform_sample():
    torch.manual_seed(0)
    counts = torch.zeros(100)
    for _ in range(300):
        buf = ReservoirBuffer(10)
        for chunk in torch.arange(100).split(7):
            buf.add(chunk[:, None], chunk)
        assert len(buf) == 10 and buf.seen == 100
        assert torch.equal(buf.x[:, 0], buf.y) and len(set(buf.y.tolist())) == 10
        counts[buf.y] += 1
    # each item is kept with probability 0.1: 30 expected out of 300 draws, the early ones too
    assert counts[:50].mean() == pytest.approx(30, rel=0.15)
    assert counts[50:].mean() == pytest.approx(30, rel=0.15)


def test_fisher_equals_mean_squared_per_sample_gradient():
    torch.manual_seed(0)
    model = IncrementalClassifier(build_backbone("mlp", (1, 8, 8)))
    model.grow(3)
    x = torch.randint(0, 256, (5, 1, 8, 8), dtype=torch.uint8)
    y = torch.tensor([0, 1, 2, 1, 0])
    fisher = diagonal_fisher(model, x, y, torch.device("cpu"), batch_size=2)
    expected = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    for i in range(5):
        model.zero_grad()
        F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]).backward()
        for n, p in model.named_parameters():
            expected[n] += p.grad.pow(2) / 5
    for n in expected:
        assert torch.allclose(fisher[n], expected[n], atol=1e-7)


def test_lwf_teacher_is_a_frozen_copy(tmp_path):
    lwf = get_method("lwf")(INFO, torch.device("cpu"), epochs=1)
    stream = build_scenario(PRESETS["digits-cil"], 0, tmp_path)
    lwf.learn(stream.steps[0])
    before = copy.deepcopy(lwf.model.state_dict())
    lwf.learn(stream.steps[1])
    assert all(torch.equal(before[k], v) for k, v in lwf.teacher.state_dict().items())
    assert not any(p.requires_grad for p in lwf.teacher.parameters())
