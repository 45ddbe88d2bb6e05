"""``leaderboard.validate_result`` on hostile documents: every malformed result is one
``InvalidResult`` line, never another exception, and an accepted result's derived fields
equal their recomputation from its records.

The documents are real ``result.json`` files written by the runner on the embedded digits;
the property tests mutate them (types, values, deletions, reorderings, duplications).
"""

from __future__ import annotations

import copy
import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.run import main
from leaderboard import InvalidResult, recompute_metrics, validate_result

# name → (arguments of a small real run), the documents the tests mutate
RUNS = {
    "class_incremental": ["--method", "er", "--set", "epochs=1"],
    "few_shot": ["--method", "teen", "--scenario", "digits-fscil", "--set", "epochs=1"],
    "forgetting": ["--method", "ssd", "--scenario", "digits-forget-random", "--set", "epochs=1", "--set", "scenario.fraction=0.02"],
    "learn_forget": ["--method", "ssd", "--scenario", "digits-cil-forget", "--set", "epochs=1", "--set", "scenario.requests=L0 L1 U1:0"],
    "online": ["--method", "finetune", "--scenario", "digits-online-cil"],
    "qa_unlearning": [
        "--method", "npo-rt", "--scenario", "facts-forget10", "--set", "scenario.num_authors=4", "--set", "epochs=1",
        "--set", "max_new_tokens=4",
    ],
}  # fmt: skip
FAST = ("class_incremental",)  # the documents the default suite mutates; the rest run with -m slow


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    """The text of one real result per protocol, produced on first use."""
    out, data = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("data")
    cache: dict[str, str] = {}

    def get(name: str) -> str:
        if name not in cache:
            assert main([*RUNS[name], "--device", "cpu", "--out", str(out / name), "--data-dir", str(data)]) == 0
            (path,) = (out / name).glob("*/result.json")
            cache[name] = path.read_text()
        return cache[name]

    return get


def _assert_accepted_numbers_rederive(doc: dict) -> None:
    again = recompute_metrics(doc)
    for key, value in again.items():
        assert _same(value, doc[key]), key


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return type(a) is type(b) and a == b


def test_real_results_validate(documents):
    for name in FAST:
        doc = json.loads(documents(name))
        validate_result(doc)
        _assert_accepted_numbers_rederive(doc)


# --- the malformed documents the issue lists, and a few more ----------------------------------
def _set(path, value):
    def mutate(doc):
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        node[last] = value(node[last]) if callable(value) else value

    return mutate


def _delete(path):
    def mutate(doc):
        *parents, last = path
        node = doc
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


def _swap_records(doc):
    doc["steps"][0], doc["steps"][1] = doc["steps"][1], doc["steps"][0]


def _rename_set(doc):
    doc["steps"][2]["evaluations"]["seen"] = doc["steps"][2]["evaluations"].pop("seen_test")


def _extra_class(doc):
    doc["steps"][0]["evaluations"]["seen_test"]["per_class"]["7"] = [0, 5]


def _duplicate_record(doc):
    doc["steps"].insert(1, copy.deepcopy(doc["steps"][1]))


def _count_path(step=1, c="2"):
    return ("steps", step, "evaluations", "seen_test", "per_class", c)


MALFORMED = {
    "not an object": (lambda doc: doc.clear() or doc.update({"x": []}), "missing"),
    "counts as strings": (_set(_count_path(), ["3", "5"]), "[correct, total]"),
    "infinity as a total": (_set(_count_path(), [3, float("inf")]), "[correct, total]"),
    "NaN as a count": (_set(_count_path(), [float("nan"), 5]), "[correct, total]"),
    "booleans as counts": (_set(_count_path(), [True, True]), "[correct, total]"),
    "floats as counts": (_set(_count_path(), [3.0, 5.0]), "[correct, total]"),
    "correct above total": (_set(_count_path(), [6, 5]), "[correct, total]"),
    "a count of three numbers": (_set(_count_path(), [1, 2, 3]), "[correct, total]"),
    "a step record that is a list": (_set(("steps", 1), []), "steps[1]"),
    "a renamed evaluation set": (_rename_set, "KeyError"),
    "a class missing from a step": (_delete(_count_path(3, "0")), "classes [0] are missing"),
    "extra class ids": (_extra_class, "unknown class ids"),
    "an unknown protocol": (_set(("scenario", "protocol"), "class_incremental_v2"), "unknown"),
    "swapped step records": (_swap_records, "steps[0].step must be 0"),
    "a duplicated step record": (_duplicate_record, "step records for"),
    "true as schema_version": (_set(("schema_version",), True), "schema_version"),
    "true as seed": (_set(("seed",), True), "seed"),
    "a negative seed": (_set(("seed",), -1), "seed"),
    "schema_version 2": (_set(("schema_version",), 2), "schema_version 2"),
    "a forget step in a class-incremental stream": (_set(("scenario", "steps", 2, "kind"), "forget"), "only learns"),
    "scenario steps out of order": (_set(("scenario", "steps", 1, "index"), 3), "index must be 1"),
    "a class id beyond the class order": (_set(("scenario", "steps", 4, "classes"), [8, 10]), "distinct class ids"),
    "negative seconds": (_set(("steps", 0, "train_seconds"), -1.0), "train_seconds"),
    "a metric that does not re-derive": (_set(("metrics", "final_accuracy"), lambda v: v + 0.1), "metrics.final_accuracy: claimed"),
    "a metric as NaN": (_set(("metrics", "forgetting"), float("nan")), "metrics.forgetting: claimed NaN, recomputed"),
    "a deleted accuracy matrix": (_delete(("accuracy_matrix",)), "'accuracy_matrix' is missing"),
    "a deleted metric": (_delete(("metrics", "bwt")), "metrics.bwt: missing, recomputed"),
    "a metric as a string": (_set(("metrics", "final_accuracy"), lambda v: str(v)), "metrics.final_accuracy: claimed \""),
    "a huge count": (_set(_count_path(), [3, 10**400]), "[correct, total]"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_each_malformed_document_is_one_invalid_result_line(documents, name):
    doc = json.loads(documents("class_incremental"))
    mutate, needle = MALFORMED[name]
    mutate(doc)
    with pytest.raises(InvalidResult) as caught:
        validate_result(doc)
    message = str(caught.value)
    assert "\n" not in message and needle in message, message
    if "recomputed" not in message and "derive" not in message:  # the records themselves are malformed
        with pytest.raises(InvalidResult):
            recompute_metrics(doc)


@pytest.mark.parametrize("value", [None, True, 3, 2.5, "x", [], [1, 2], float("nan")])
def test_a_document_that_is_not_an_object(value):
    with pytest.raises(InvalidResult, match="JSON object"):
        validate_result(value)


# --- the property: mutate a real document, accept only what re-derives ------------------------
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-2, max_value=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=4),
    st.lists(st.integers(min_value=-1, max_value=12), max_size=3),
    st.just({}),
)
OPERATIONS = ("replace", "delete", "duplicate", "swap", "rename", "nudge", "reorder")


@st.composite
def mutations(draw):
    """A walk from the root to a node (stopping early at random, so upper levels are mutated
    as often as per-sample values) and what to do there."""
    depth = draw(st.integers(min_value=1, max_value=8))
    return depth, draw(st.sampled_from(OPERATIONS)), draw(VALUES), draw(st.randoms(use_true_random=False))


def mutate(doc: dict, how) -> dict:
    depth, operation, value, rng = how
    parent, key = None, None
    node = doc
    for _ in range(depth):
        children = list(node) if isinstance(node, dict) else list(range(len(node))) if isinstance(node, list) else []
        if not children:
            break
        parent, key = node, rng.choice(children)
        node = node[key]
    if parent is None:
        return doc
    if operation == "replace":
        parent[key] = value
    elif operation == "delete":
        del parent[key]
    elif operation == "duplicate":
        if isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), copy.deepcopy(node))
        else:
            parent[f"{key}{rng.choice(['', '_', '0'])}x"] = copy.deepcopy(node)
    elif operation == "swap":
        other = rng.choice(list(parent) if isinstance(parent, dict) else range(len(parent)))
        parent[key], parent[other] = parent[other], parent[key]
    elif operation == "rename" and isinstance(parent, dict):
        parent[rng.choice([str(value), f"{key} ", str(rng.randrange(12))])] = parent.pop(key)
    elif operation == "nudge":
        parent[key] = {0: lambda v: v, 1: lambda v: -v, 2: lambda v: v + 1, 3: lambda v: v * 2.5, 4: str, 5: lambda v: [v]}[
            rng.randrange(6)
        ](node) if isinstance(node, (int, float)) and not isinstance(node, bool) else value
    elif operation == "reorder" and isinstance(node, dict):
        items = list(node.items())
        rng.shuffle(items)
        parent[key] = dict(items)
    return doc


def _check_mutation(text: str, how) -> None:
    doc = mutate(json.loads(text), how)
    try:
        validate_result(doc)
    except InvalidResult as e:
        assert "\n" not in str(e)
        return
    _assert_accepted_numbers_rederive(doc)


PROPERTY = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip


@PROPERTY
@given(how=mutations())
def test_mutated_class_incremental_results_are_refused_or_rederive(documents, how):
    _check_mutation(documents("class_incremental"), how)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in RUNS if n not in FAST])
def test_mutated_results_of_every_protocol_are_refused_or_rederive(documents, name):
    text = documents(name)
    validate_result(json.loads(text))

    @PROPERTY
    @given(how=mutations())
    def check(how):
        _check_mutation(text, how)

    check()


def test_result_files_as_inputs_never_raise_anything_else():
    """Malformed JSON texts a user might submit: parsed, then refused in one line."""
    for text in ('{"schema_version": 1}', "[]", '{"steps": {}}', "NaN", '{"schema_version": 1, "method": {}, "scenario": {"steps": [{}]}, '
                 '"seed": 0, "environment": {}, "metrics": {}, "steps": [[]]}'):  # fmt: skip
        with pytest.raises(InvalidResult):
            validate_result(json.loads(text))
