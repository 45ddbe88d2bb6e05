"""Verification on submission: schema, per-class counts, provenance, scenario and every number re-derived."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures_leaderboard import real_result, variant
from leaderboard import InvalidResult
from leaderboard.verify import MalformedJSON, ScenarioUnavailable, canonical_json, parse_document, sha256_text, verify_result


@pytest.mark.parametrize(
    "method,scenario,family,steps",
    [
        ("finetune", "digits-cil", "class_incremental", 5),
        ("nmc", "digits-fscil", "few_shot", 4),
        ("finetune", "digits-online-cil", "online", 5),
        ("ssd", "digits-forget-class", "unlearning", 2),
        ("ssd", "digits-cil-forget", "unlearning", 7),
        ("ga", "facts-forget10", "language", 2),
    ],
)
def test_real_results_of_every_family_are_accepted(method, scenario, family, steps):
    tiny_qa = ["--set", "scenario.num_authors=4", "--set", "scenario.finetune_epochs=2", "--set", "max_new_tokens=4"]
    result = real_result(method, scenario, "--set", "epochs=1", *(tiny_qa if family == "language" else []))
    verified = verify_result(result)
    assert verified.track.family == family and verified.preset == scenario and verified.method == method
    assert len(verified.curve) == steps and all(v is None or 0 <= v <= 1 for v in verified.curve)
    assert verified.content_hash == sha256_text(canonical_json(result))
    assert verified.compute["wall_seconds"] > 0 and verified.compute["device"]
    assert verified.compute["trainable_parameters"] == result["method"]["trainable_parameters"]
    assert verified.summary["metrics"].keys() == result["metrics"].keys()


def _mutate(path: str, value):
    def apply(doc: dict) -> None:
        *parents, last = path.split(".")
        target = doc
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if value is DELETE:
            del target[int(last) if isinstance(target, list) else last]
        else:
            target[int(last) if isinstance(target, list) else last] = value

    return apply


DELETE = object()


def _swap_class_order(doc: dict) -> None:
    order = doc["scenario"]["class_order"]
    order[0], order[1] = order[1], order[0]


def _drop_last_step(doc: dict) -> None:
    doc["scenario"]["steps"].pop()
    doc["steps"].pop()


REFUSALS = {
    "tampered metric": (_mutate("metrics.final_accuracy", 0.95), "metrics.final_accuracy: claimed 0.95, recomputed 0.19"),
    "tampered curve value": (_mutate("metrics.seen_class_accuracy.1", 0.9), "metrics.seen_class_accuracy[1]: claimed 0.9, recomputed"),
    "tampered matrix": (_mutate("accuracy_matrix.4.0", 0.5), "accuracy_matrix[4][0]: claimed 0.5, recomputed 0.0"),
    "invented metric": (_mutate("metrics.best_ever", 1.0), "metrics.best_ever: claimed 1.0, but the records derive no such number"),
    "correct > total": (_mutate("steps.4.evaluations.seen_test.per_class.3", [40, 36]), "step 4, set seen_test, class 3: correct 40 > total 36"),
    "fractional count": (_mutate("steps.0.evaluations.seen_test.per_class.0", [35.5, 36]), "counts must be [correct, total] integers"),
    "negative count": (_mutate("steps.0.evaluations.seen_test.per_class.0", [-1, 36]), "negative count -1"),
    "missing step": (_drop_last_step, "scenario.steps: claimed 4 steps, scenario digits-cil with seed 0 makes 5"),
    "missing step record": (_mutate("steps.4", DELETE), "step"),  # the schema's own message
    "NaN metric": (_mutate("metrics.forgetting", float("nan")), "metrics.forgetting is not a finite number"),
    "wrong class order": (_swap_class_order, "scenario.class_order: claimed [6, 4, 2"),
    "another seed's scenario": (_mutate("seed", 1), "scenario.class_order: claimed [4, 6, 2, 7, 3, 5, 9, 0, 8, 1], scenario digits-cil with seed 1 makes"),
    "wrong step classes": (_mutate("scenario.steps.1.classes", [2, 4]), "unknown class ids ['5']"),  # the records no longer fit the claimed classes
    "wrong train size": (_mutate("scenario.steps.0.train_size", 1000), "scenario.steps[0].train_size: claimed 1000"),
    "unknown preset": (_mutate("scenario.name", "digits-cil-v2"), "scenario.name 'digits-cil-v2' is not a scenario preset"),
    "bad override": (_mutate("scenario.overrides", {"increment": 3}), "does not divide 10 classes into whole steps"),
    "no source hashes": (_mutate("method.source_sha256", DELETE), "provenance: method.source_sha256"),
    "bad source hash": (_mutate("method.source_sha256", {"methods/finetune.py": "abc"}), "is not a SHA-256 hex digest"),
    "no git commit": (_mutate("environment.git_commit", None), "provenance: environment.git_commit is missing"),
    "no CLUB version": (_mutate("environment.packages", {}), "provenance: environment.packages.club is missing"),
    "no configuration": (_mutate("method.hyperparameters", DELETE), "provenance: method.hyperparameters"),
    "unknown recipe flag": (_mutate("method.recipe", "best"), "method.recipe must be one of reference, club, unverified, modified"),
    "tampered wall time": (_mutate("timing.train_seconds", 0.001), "timing.train_seconds: claimed 0.001, recomputed"),
    "tampered parameters": (_mutate("method.trainable_parameters", 10), "method.trainable_parameters: claimed 10, recomputed 50826"),
    "records out of order": (_mutate("steps.2.step", 3), "steps[2].step must be 2 (records in step order)"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_each_refusal_is_one_line_naming_its_reason(case):
    mutate, reason = REFUSALS[case]
    doc = real_result()
    mutate(doc)
    with pytest.raises(InvalidResult) as refused:
        verify_result(doc)
    message = str(refused.value)
    assert reason in message and "\n" not in message, message


def test_strict_json_refuses_nan_and_malformed_text():
    text = json.dumps(real_result()).replace('"forgetting": 0.99', '"forgetting": NaN, "x": 0.99', 1)
    with pytest.raises(InvalidResult, match="holds NaN, which JSON does not allow"):
        parse_document(text)
    with pytest.raises(MalformedJSON, match="not a JSON document"):
        parse_document(b'{"schema_version": 1,')
    with pytest.raises(MalformedJSON):
        parse_document(b"\xff\xfe")
    assert parse_document(json.dumps(real_result())) == real_result()


def test_a_result_without_a_recipe_flag_is_unverified_and_seeds_share_a_row():
    doc = real_result()
    assert verify_result(doc).recipe == doc["method"]["recipe"] == "club"  # digits: CLUB's own values
    del doc["method"]["recipe"]
    assert verify_result(doc).recipe == "unverified"
    other_seed = copy.deepcopy(doc)
    other_seed["seed"] = 1  # its scenario would differ; group identity does not look at it
    from leaderboard.verify import group_key

    assert group_key(other_seed) == group_key(doc)
    assert group_key(variant(doc, 1)) != group_key(doc)
    assert verify_result(variant(doc, 1)).content_hash != verify_result(doc).content_hash


@settings(max_examples=25, deadline=None)
@given(key=st.sampled_from(["final_accuracy", "average_incremental_accuracy", "average_accuracy", "forgetting", "bwt"]),
       delta=st.floats(min_value=1e-5, max_value=1.0) | st.floats(min_value=-1.0, max_value=-1e-5))
def test_any_changed_summary_number_is_refused_with_both_values(key, delta):
    doc = real_result()
    recomputed = doc["metrics"][key]
    doc["metrics"][key] = recomputed + delta
    with pytest.raises(InvalidResult) as refused:
        verify_result(doc)
    assert str(refused.value) == f"metrics.{key}: claimed {json.dumps(recomputed + delta)}, recomputed {json.dumps(recomputed)}"


def test_a_scenario_whose_data_is_not_here_cannot_be_checked(tmp_path):
    doc = real_result()
    doc["scenario"]["name"] = "cifar10-b0inc2"
    with pytest.raises(ScenarioUnavailable, match="cannot rebuild scenario cifar10-b0inc2 to check it: .*cifar10"):
        verify_result(doc, data_dir=tmp_path)
