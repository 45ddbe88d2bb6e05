"""Recipes: every method × real preset runs a config entry, is refused, or is flagged; never silently digits defaults."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

from benchmarks.oracle import ORACLE_METHOD
from benchmarks.recipes import INERT, RecipeRefused, main as recipes_main, resolve_recipe, runs_preset
from benchmarks.run import main as run_main
from fixtures_cifar import CIFAR10_FOLDER, CIFAR10_LABEL_NAMES, ROW_BYTES, write_pickle
from leaderboard.schema import RECIPE_FLAGS
from methods import get_method, method_names
from methods.configs import ConfigError, config_methods, method_config, parse_config, preset_hyperparameters, with_learning_recipe
from methods.registry import MODALITIES
from methods.unlearning import UnlearningMethod
from scenarios import PRESETS, PROTOCOL_CAPABILITIES, PROTOCOL_MODALITY, is_real_source

CIFAR10 = PRESETS["cifar10-b0inc2"]
DIGITS = PRESETS["digits-cil"]
FORGETTING = [p for p in PRESETS.values() if p.real and PROTOCOL_CAPABILITIES.get(p.protocol) == "forgets" and PROTOCOL_MODALITY[p.protocol] == "image"]
CLASS_INCREMENTAL = [p for p in PRESETS.values() if p.real and p.protocol == "class_incremental"]
DEVICE_OPTIONS = {"compile", "cuda_graphs", "optimizer_impl", "tf32", "backbone_dtype"}  # methods/acceleration.py
TOFU = [p for p in PRESETS.values() if p.real and PROTOCOL_MODALITY[p.protocol] == "text"]
UNLEARNING = [
    n for n in method_names("image") if issubclass(get_method(n), UnlearningMethod) and get_method(n).__module__ == "methods.unlearning"
]


def built_in_real_pairs():
    for modality in MODALITIES:
        for name in method_names(modality):
            cls = get_method(name, modality)
            if not cls.__module__.startswith("methods."):
                continue  # a plugin registered by another test
            for preset in PRESETS.values():
                if preset.real and runs_preset(cls, preset):
                    yield name, cls, preset


def test_real_presets_are_decided_by_the_data_source_alone():
    assert not DIGITS.real and not PRESETS["synthetic-cil"].real and not PRESETS["facts-forget10"].real
    assert CIFAR10.real and PRESETS["cub-b0inc10"].real and PRESETS["tofu-forget01"].real
    assert {p.real for p in PRESETS.values() if p.source == "cifar100"} == {True}
    assert not is_real_source("digits") and is_real_source("mnist")


def test_no_method_runs_a_real_preset_silently():
    undecided = []
    for name, cls, preset in built_in_real_pairs():
        config = method_config(name)
        named = config is not None and preset.name in {*config.presets, *config.refused, *config.unverified}
        family = ":" in name  # avalanche:<Strategy>: no per-strategy config, every real pair warns (below)
        if not named and not family:
            undecided.append(f"{name} on {preset.name}")
        try:
            recipe = resolve_recipe(name, cls, preset, {})
        except RecipeRefused as refusal:
            assert "\n" not in str(refusal)
            continue
        assert recipe.flag in RECIPE_FLAGS[:3]
        if recipe.flag == "unverified":
            assert recipe.warning and "\n" not in recipe.warning, (name, preset.name)
        else:
            assert recipe.warning is None, (name, preset.name)
    assert not undecided, f"decide these pairs in methods/configs/<method>.json: {undecided}"


def test_every_entry_of_a_decided_method_is_complete():
    """A config entry gives every hyperparameter that changes what the method learns a value."""
    for name, cls, preset in built_in_real_pairs():
        config = method_config(name)
        if config is None or preset.name not in config.presets:
            continue
        recipe = resolve_recipe(name, cls, preset, {})
        assert recipe.flag in ("reference", "club"), (name, preset.name, recipe.gap)


@pytest.mark.parametrize("method", config_methods())
def test_config_files_name_presets_the_method_runs_and_hyperparameters_it_has(method):
    config = method_config(method)
    classes = [get_method(method, m) for m in MODALITIES if method in method_names(m)]
    # A method's file may also hold the learning recipe of presets it does not run itself
    # (finetune: the forgetting presets), when another file inherits it there.
    inherited = {p for m in config_methods() if method_config(m).learning_recipe == method for p in method_config(m).presets}
    for preset in [*config.presets, *config.refused, *config.unverified]:
        assert preset in PRESETS and PRESETS[preset].real, (method, preset)
        assert any(runs_preset(cls, PRESETS[preset]) for cls in classes) or preset in inherited, (method, preset)
    for preset, entry in config.presets.items():
        defaults = get_method(method, PROTOCOL_MODALITY[PRESETS[preset].protocol]).hyperparameters()
        for key, value in entry.items():
            assert key in defaults, (method, preset, key)
            default = defaults[key]
            kinds = (int, float) if type(default) is float else type(default)
            assert isinstance(value.value, kinds) and (type(default) is bool) == (type(value.value) is bool), (method, preset, key)
    assert set(config.inert) <= {k for cls in classes for k in cls.hyperparameters()}


def fake_config(doc):
    return lambda method: parse_config({"method": method, "version": 1, **doc}, method)


def test_flags_reference_club_unverified_modified(monkeypatch):
    cls = get_method("finetune")
    every = {k: {"value": v, "source": "a reference"} for k, v in cls.hyperparameters().items() if k != "probe_layer"}
    monkeypatch.setattr("benchmarks.recipes.method_config", fake_config({"presets": {CIFAR10.name: every}}))
    reference = resolve_recipe("finetune", cls, CIFAR10, {})
    assert reference.flag == "reference" and reference.warning is None
    assert reference.origins["lr"] == {"source": "a reference"} and "inert" in reference.origins["probe_layer"]
    assert resolve_recipe("finetune", cls, CIFAR10, {"lr": every["lr"]["value"]}).flag == "reference"  # same value
    modified = resolve_recipe("finetune", cls, CIFAR10, {"lr": 0.5})
    assert modified.flag == "modified" and "--set lr=0.5" in modified.origins["lr"]["modified"]

    club = {**every, "lr": {"value": 0.1, "club": "why"}}
    monkeypatch.setattr("benchmarks.recipes.method_config", fake_config({"presets": {CIFAR10.name: club}}))
    assert resolve_recipe("finetune", cls, CIFAR10, {}).flag == "club"

    partial = {k: v for k, v in every.items() if k != "weight_decay"}
    monkeypatch.setattr("benchmarks.recipes.method_config", fake_config({"presets": {CIFAR10.name: partial}}))
    gap = resolve_recipe("finetune", cls, CIFAR10, {})
    assert gap.flag == "unverified" and "no recipe value for weight_decay" in gap.warning
    assert gap.origins["weight_decay"] == {"unverified": "keyword default, tuned for CLUB's embedded data"}


def test_flags_without_a_config(monkeypatch):
    cls = get_method("finetune")
    monkeypatch.setattr("benchmarks.recipes.method_config", lambda method: None)
    unverified = resolve_recipe("finetune", cls, CIFAR10, {})
    assert unverified.flag == "unverified" and unverified.values == {}
    assert unverified.warning.startswith("finetune on cifar10-b0inc2: no recipe for this preset")
    embedded = resolve_recipe("finetune", cls, DIGITS, {})
    assert embedded.flag == "club" and embedded.warning is None
    assert all("club" in origin or "inert" in origin for origin in embedded.origins.values())
    assert resolve_recipe("finetune", cls, DIGITS, {"epochs": 2}).flag == "modified"


def test_refused_preset(monkeypatch):
    monkeypatch.setattr("benchmarks.recipes.method_config", fake_config({"presets": {}, "refused": {CIFAR10.name: "it cannot"}}))
    with pytest.raises(RecipeRefused, match="method 'finetune' does not run scenario 'cifar10-b0inc2': it cannot"):
        resolve_recipe("finetune", get_method("finetune"), CIFAR10, {})


@pytest.mark.parametrize(
    "doc",
    [
        {"presets": {"x": {"lr": {"value": 1}}}},
        {"presets": {"x": {"lr": {"value": 1, "source": "a", "club": "b"}}}},
        {"presets": {"x": {"lr": {"value": 1, "source": ""}}}},
        {"presets": {"x": {"lr": 0.1}}},
        {"presets": {"x": {}}},
        {"presets": {"x": {"lr": {"value": 1, "club": "b"}}}, "refused": {"x": "no"}},
        {"presets": {}, "unverified": {"x": "two\nlines"}},
        {"presets": {}, "defaults": {}},
        {"presets": {}, "learning_recipe": ""},
        {"presets": {}, "learning_recipe": "m"},
    ],
)
def test_malformed_config_is_one_line_error(doc):
    with pytest.raises(ConfigError) as error:
        parse_config({"method": "m", "version": 1, **doc}, "m")
    assert "\n" not in str(error.value) and "methods/configs/m.json" in str(error.value)


def test_a_learning_recipe_is_read_from_one_file():
    """``learning_recipe`` adds the named file's values to the presets it names, recording where
    they come from; repeating one of them, or a chain of learning recipes, is a one-line error."""
    learning = parse_config({"method": "finetune", "version": 1, "presets": {"p": {"lr": {"value": 0.1, "source": "a paper"}}}}, "finetune")
    beta = {"beta": {"value": 1.0, "club": "why"}}
    doc = {"method": "m", "version": 1, "learning_recipe": "finetune", "presets": {"p": beta, "q": beta, "r": {}}}
    config = parse_config(doc, "m")
    assert config.learning_recipe == "finetune" and config.presets["r"] == {}
    with pytest.raises(ConfigError, match="preset 'r' must map hyperparameters to values \\(its learning recipe names none\\)"):
        with_learning_recipe(config, learning)
    merged = with_learning_recipe(parse_config({**doc, "presets": {"p": beta, "q": beta}}, "m"), learning)
    assert list(merged.presets["p"]) == ["lr", "beta"] and merged.presets["q"] == config.presets["q"]
    assert merged.presets["p"]["lr"].value == 0.1
    assert merged.presets["p"]["lr"].origin == {"source": "the preset's learning recipe, methods/configs/finetune.json: a paper"}
    assert with_learning_recipe(parse_config({**doc, "presets": {"p": {}}}, "m"), learning).presets["p"]["lr"].value == 0.1

    repeats = parse_config({**doc, "presets": {"p": {"lr": {"value": 0.1, "source": "a paper"}}}}, "m")
    chained = parse_config({"method": "finetune", "version": 1, "presets": {}, "learning_recipe": "x"}, "finetune")
    errors = [
        (repeats, learning, "lr come from the learning recipe"),
        (config, None, "learning_recipe 'finetune' has no config file"),
        (config, chained, "has a learning recipe itself"),
    ]
    for inheriting, recipe, message in errors:
        with pytest.raises(ConfigError, match=message) as error:
            with_learning_recipe(inheriting, recipe)
        assert "\n" not in str(error.value) and str(error.value).startswith("methods/configs/m.json")


def test_unlearning_methods_learn_with_the_retrain_oracles_recipe():
    """On every real forgetting preset, the values an unlearning method learns with are the
    oracle's (finetune's entry for the preset), each recorded with its source: the gap to the
    oracle compares unlearning, not two training recipes."""
    assert {"ssd", "salun", "scrub", "ga", "graddiff", "npo", "npo-rt", "retrain", "finetune-retain"} <= set(UNLEARNING)
    assert [p.name for p in FORGETTING] == [
        "cifar10-forget-class", "cifar10-forget-random", "cifar100-forget-class", "cifar20-forget-subclass", "cifar100-b0inc10-forget"
    ]
    learning = set(get_method(ORACLE_METHOD).hyperparameters()) - set(INERT)
    assert learning == {"backbone", "epochs", "batch_size", "lr", "optimizer", "momentum", "weight_decay"}
    for preset in FORGETTING:
        oracle = preset_hyperparameters(ORACLE_METHOD, preset.name)
        assert set(oracle) == learning, preset.name
        for name in UNLEARNING:
            recipe = resolve_recipe(name, get_method(name), preset, {})
            assert {key: recipe.values[key] for key in learning} == oracle, (name, preset.name)
            for key in learning:
                assert next(iter(recipe.origins[key].values())).startswith("the preset's learning recipe, methods/configs/finetune.json: ")
            assert recipe.flag == "club" and "constant learning rate" in recipe.origins["epochs"]["club"]  # no schedule


def test_unlearning_methods_refuse_the_class_incremental_presets():
    assert len(CLASS_INCREMENTAL) == 9
    for preset in CLASS_INCREMENTAL:
        for name in UNLEARNING:
            reason = f"{name} is an unlearning method, and this class-incremental stream has no forget request"
            with pytest.raises(RecipeRefused, match=f"'{name}' does not run scenario '{preset.name}': {reason}"):
                resolve_recipe(name, get_method(name), preset, {})


def test_text_methods_on_tofu_flag_only_the_generation_length():
    """TOFU generates up to 200 tokens of prompt and answer (eval.generation.max_length), CLUB up to
    200 answer tokens: the one value flagged; the evaluation batch size changes no answer."""
    assert [p.name for p in TOFU] == ["tofu-forget01", "tofu-forget05", "tofu-forget10"]
    for name in ("ga", "graddiff", "npo", "npo-rt"):
        for preset in TOFU:
            recipe = resolve_recipe(name, get_method(name, "text"), preset, {})
            assert recipe.flag == "club" and "inert" in recipe.origins["eval_batch_size"]
            assert [key for key, origin in recipe.origins.items() if "club" in origin] == ["max_new_tokens"]
            assert recipe.values["max_new_tokens"] == 200 and "max_length 200" in recipe.origins["max_new_tokens"]["club"]


def test_lora_recipes_are_flagged_and_refuse_partial_forgetting():
    lora = get_method("lora")
    decided = 0
    for preset in PRESETS.values():
        if not preset.real or not runs_preset(lora, preset):
            continue
        decided += 1
        if preset in FORGETTING:
            with pytest.raises(RecipeRefused, match="S-LoRA forgets by deleting a whole task's LoRA module"):
                resolve_recipe("lora", lora, preset, {})
            continue
        recipe = resolve_recipe("lora", lora, preset, {})
        assert recipe.flag == "club" and recipe.values["peft"] == "lora", preset.name
        assert {k for k, origin in recipe.origins.items() if "inert" in origin} == {"probe_layer", "momentum", "length", "prefix_layers", *DEVICE_OPTIONS}
        assert {k for k, origin in recipe.origins.items() if "source" in origin} == {"centroids_per_task"}
    assert decided == 17  # 9 class-incremental, 3 few-shot, 5 forgetting presets


def test_recipes_command_lists_each_value_with_its_source(capsys):
    assert recipes_main(["--method", "ease", "--scenario", "cub-b0inc10", "--scenario", "cifar10-forget-class"]) == 0
    out = capsys.readouterr().out
    assert "ease on cub-b0inc10: reference" in out
    assert re.search(r"lr\s+0\.008\s+source: sun-hailong/CVPR24-Ease exps/ease_cub_in21k\.json", out)
    assert "ease on cifar10-forget-class: refused: " in out
    assert out.strip().endswith("2 method × real preset pairs: 1 reference, 0 club, 0 unverified, 1 refused")


def test_recipes_summary_counts_every_pair(capsys):
    assert recipes_main(["--summary"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    counts = re.fullmatch(r"(\d+) method × real preset pairs: (\d+) reference, (\d+) club, (\d+) unverified, (\d+) refused", lines[-1])
    total, *parts = map(int, counts.groups())
    assert total == sum(parts) == len(lines) - 2 >= len(list(built_in_real_pairs()))  # plugins of other tests too


def test_recipes_command_rejects_unknown_names(capsys):
    assert recipes_main(["--method", "bogus"]) == 2
    assert capsys.readouterr().err.startswith("error: unknown method or scenario bogus")


def test_refused_run_stops_before_loading_data(tmp_path, capsys):
    assert run_main(["--method", "ease", "--scenario", "cifar10-forget-class", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: method 'ease' does not run scenario 'cifar10-forget-class': EASE forgets")
    assert not list(tmp_path.iterdir())


def write_cifar10_every_class(root: Path, per_batch: int = 10) -> None:
    """CIFAR-10 in its on-disk format, every class in every batch (labels cycle 0..9)."""
    rng = np.random.default_rng(0)
    folder = root / CIFAR10_FOLDER

    def batch(label: str) -> dict:
        data = rng.integers(0, 256, size=(per_batch, ROW_BYTES), dtype=np.uint8)
        return {"batch_label": label, "labels": [i % 10 for i in range(per_batch)], "data": data, "filenames": [f"{i}.png" for i in range(per_batch)]}

    for i in range(1, 6):
        write_pickle(folder / f"data_batch_{i}", batch(f"training batch {i} of 5"))
    write_pickle(folder / "test_batch", batch("testing batch 1 of 1"))
    write_pickle(folder / "batches.meta", {"num_cases_per_batch": per_batch, "label_names": list(CIFAR10_LABEL_NAMES), "num_vis": ROW_BYTES})


def test_unverified_run_warns_once_and_records_the_flag(tmp_path, capsys):
    write_cifar10_every_class(tmp_path / "data")
    args = ["--scenario", "cifar10-b0inc2", "--data-dir", str(tmp_path / "data"), "--device", "cpu"]
    assert run_main(["--method", "knn", *args, "--out", str(tmp_path / "a")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning")]
    assert warnings == [warnings[0]] and warnings[0].startswith("warning: knn on cifar10-b0inc2: no recipe for this preset (")
    (result,) = (tmp_path / "a").glob("*/result.json")
    method = json.loads(result.read_text())["method"]
    assert method["recipe"] == "unverified" and set(method["recipe_sources"]) == {"k", "features"}
    assert method["recipe_sources"]["k"] == {"unverified": "keyword default, tuned for CLUB's embedded data"}

    assert run_main(["--method", "knn", *args, "--out", str(tmp_path / "b"), "--set", "k=3"]) == 0
    (result,) = (tmp_path / "b").glob("*/result.json")
    method = json.loads(result.read_text())["method"]
    assert method["recipe"] == "modified" and method["recipe_sources"]["k"] == {"modified": "--set k=3 (recipe: 1)"}


def test_malformed_config_stops_a_run_in_one_line(monkeypatch, tmp_path, capsys):
    def broken(method):
        raise ConfigError(f"methods/configs/{method}.json: broken")

    monkeypatch.setattr("benchmarks.recipes.method_config", broken)
    assert run_main(["--method", "finetune", "--out", str(tmp_path)]) == 1
    assert recipes_main(["--method", "finetune"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["error: methods/configs/finetune.json: broken"] * 2
