"""The language-model track: TOFU metrics, the TOFU loader on its on-disk format, the generated
fictitious-facts miniature, and GA against NPO on it end to end through the command line."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.run import main
from fixtures_tofu import write_tofu
from leaderboard import recompute_metrics, validate_result
from methods import get_method, method_names
from metrics import MetricInputError
from metrics.language import (
    model_utility,
    normalized_answer_probability,
    qa_unlearning_summary,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_score,
)
from scenarios import PRESETS, DatasetUnavailable, build_scenario, load_source
from scenarios.data.fictitious_facts import forget_author_count
from scenarios.qa import QAStream


# ---- metrics on inputs with known answers -------------------------------------------------
def test_rouge_l_recall_is_the_longest_common_subsequence_over_reference_tokens():
    assert rouge_l_recall("the cat sat", "The cat sat on the mat.") == pytest.approx(3 / 6)
    assert rouge_l_recall("a x b y c", "a b c") == 1.0  # a subsequence, not a substring
    assert rouge_l_recall("", "a b") == 0.0 and rouge_l_recall("a b", "") == 0.0


@pytest.mark.parametrize(
    "generation, answer, recall",
    [
        # Porter stemming: writes/write, novels/novel, books/book match; wrote/write do not
        ("She write novel", "She writes novels.", 1.0),
        ("he wrote the book", "He writes books.", 2 / 3),
        ("Jaime Vasquez's books explore themes", "The books of Jaime Vasquez explored true crime themes.", 4 / 9),
    ],
)
def test_rouge_l_recall_stems_as_tofu(generation, answer, recall):
    from rouge_score import rouge_scorer

    assert rouge_l_recall(generation, answer) == pytest.approx(recall)
    # TOFU's call (evaluate_util.py eval_rouge_recall): scorer.score(ground_truth, generation)
    tofu = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(answer, generation)["rougeL"].recall
    assert rouge_l_recall(generation, answer) == pytest.approx(tofu)


def test_probabilities_and_truth_ratios():
    # answer avg NLL 0 (P=1) against three options of P=1/3 each: 1 / (1 + 1) = 0.5
    assert normalized_answer_probability(np.array([0.0]), np.full((1, 3), math.log(3)))[0] == pytest.approx(0.5)
    ratio = truth_ratio(np.array([1.0, 3.0]), np.array([[2.0, 2.0], [1.0, 3.0]]))
    assert ratio == pytest.approx([math.exp(-1), math.exp(1)])
    assert truth_ratio_score(ratio, "forget") == pytest.approx(math.exp(-1))  # mean of min(R, 1/R)
    assert truth_ratio_score(ratio, "utility") == pytest.approx((1 - math.exp(-1)) / 2)  # mean of max(0, 1-R)
    assert model_utility([1.0, 0.5]) == pytest.approx(2 / 3) and model_utility([0.9, 0.0]) == 0.0


def _evaluation(answer_nll, role="forget"):
    n = len(answer_nll)
    return {
        "per_class": {}, "role": role, "truth_ratio_base": "paraphrased", "probability": "answer",
        "per_sample": {
            "answer_nll": answer_nll, "answer_tokens": [2] * n, "paraphrased_nll": answer_nll, "paraphrased_tokens": [2] * n,
            "perturbed_nll": [[4.0, 6.0]] * n, "perturbed_tokens": [[2, 2]] * n,
            "generation": ["yes"] * n, "answer": ["yes it is"] * n,
        },
    }


def test_summary_scores_the_reference_as_perfectly_forgotten_and_a_shifted_model_as_not():
    reference = {"forget": _evaluation([8.0, 9.0, 10.0, 11.0]), "retain": _evaluation([1.0, 1.5, 2.0, 2.5], "utility")}
    unlearned = {"forget": _evaluation([0.1, 0.2, 0.3, 0.4]), "retain": reference["retain"]}
    records = [
        {"step": 0, "kind": "learn", "evaluations": unlearned, "reference": {"evaluations": reference}},
        {"step": 1, "kind": "forget", "evaluations": reference},
    ]
    summary = qa_unlearning_summary([], records)
    assert summary["language_model"]["retain_model"]["forget_quality"] == 1.0
    assert summary["language_model"]["per_step"][0]["forget_quality"] < 0.05  # all four ratios on one side
    assert summary["metrics"]["forget_quality"] == 1.0
    assert summary["metrics"]["retain_rouge_l"] == pytest.approx(1 / 3)
    assert summary["metrics"]["model_utility"] > 0


@pytest.mark.parametrize(
    "broken, message",
    [
        (lambda e: e["forget"]["per_sample"].pop("paraphrased_nll"), "paraphrased answer"),
        (lambda e: e["forget"]["per_sample"].update(perturbed_nll=[], perturbed_tokens=[]), "perturbed answers"),
        (lambda e: e["forget"]["per_sample"].update(perturbed_nll=[[4.0, 6.0], [4.0]]), "perturbed answers"),
        (lambda e: e.update(forget=_evaluation([])), "no questions"),
        (lambda e: e["forget"]["per_sample"].update(answer_tokens=[2]), "token counts"),
    ],
)
def test_qa_metrics_on_incomplete_records_give_one_line_errors(broken, message):
    evaluations = {"forget": _evaluation([1.0, 2.0]), "retain": _evaluation([1.0, 1.5], "utility")}
    broken(evaluations)
    records = [{"step": 0, "kind": "forget", "evaluations": evaluations, "reference": {"evaluations": evaluations}}]
    with pytest.raises(MetricInputError, match=message) as error:
        qa_unlearning_summary([], records)
    assert isinstance(error.value, ValueError) and "\n" not in str(error.value)


# ---- data: TOFU's files and the generated miniature -----------------------------------------
def test_tofu_loads_from_the_json_lines_files_of_the_hugging_face_repository(tmp_path):
    write_tofu(tmp_path, "forget01")
    stream = build_scenario(PRESETS["tofu-forget01"], 0, tmp_path, download=False)
    assert isinstance(stream, QAStream) and stream.protocol == "qa_unlearning"
    learn, forget = stream.steps
    assert (len(learn.qa), len(forget.qa), len(forget.retain_qa)) == (12, 3, 9)
    assert stream.reference_step().qa == forget.retain_qa
    sets = stream.evaluation_sets(1)
    assert set(sets) == {"forget", "retain", "real_authors", "world_facts", "holdout"}
    assert sets["forget"].items[0].paraphrased_answer.startswith("It is true")
    assert len(sets["world_facts"].items[0].perturbed_answers) == 2 and sets["world_facts"].probability == "options"


def test_tofu_missing_or_malformed_files_give_one_line_errors(tmp_path, capsys):
    with pytest.raises(DatasetUnavailable, match="forget05.json is missing"):
        load_source("tofu", tmp_path, download=False, split="forget05")
    folder = write_tofu(tmp_path, "forget05")
    (folder / "retain95.json").write_text('{"question": "q"}\n')
    with pytest.raises(DatasetUnavailable, match="has no field 'answer'"):
        load_source("tofu", tmp_path, download=False, split="forget05")
    code = main(["--scenario", "tofu-forget10", "--method", "npo", "--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: ") and err.count("\n") == 1 and "HF_HUB_OFFLINE" in err


def test_fictitious_facts_splits_are_nested_disjoint_and_reproducible(tmp_path):
    data = {s: load_source("fictitious-facts", tmp_path, split=s, num_authors=40) for s in ("forget01", "forget05", "forget10")}
    assert [forget_author_count(40, s) for s in data] == [1, 2, 4]
    assert [len(d.forget) for d in data.values()] == [8, 16, 32]
    ten = data["forget10"]
    assert set(data["forget01"].forget) <= set(data["forget05"].forget) <= set(ten.forget)
    assert not set(ten.forget) & set(ten.retain)
    holdout_questions = {i.question for i in ten.evaluation["holdout"].items}
    assert not holdout_questions & {i.question for i in (*ten.forget, *ten.retain)}
    assert load_source("fictitious-facts", tmp_path).forget == ten.forget
    assert all(len(i.perturbed_answers) == 3 for s in ten.evaluation.values() if s.role != "holdout" for i in s.items)


def test_text_methods_are_registered_apart_from_image_methods(tmp_path, capsys):
    assert {"ga", "graddiff", "npo", "npo-rt"} <= set(method_names("text"))
    assert get_method("npo", "text").modality == "text"
    assert "er" not in method_names("text")
    assert main(["--scenario", "facts-forget10", "--method", "er", "--out", str(tmp_path)]) == 2
    assert "unknown method 'er'; choose from ga, graddiff, npo, npo-rt" in capsys.readouterr().err
    assert main(["--list"]) == 0 and "npo-rt" in capsys.readouterr().out


# ---- the offline miniature end to end: GA against NPO ---------------------------------------
MINIATURE = [
    "--scenario", "facts-forget10", "--device", "cpu",
    "--set", "scenario.num_authors=20", "--set", "epochs=30", "--set", "max_new_tokens=24",
]  # fmt: skip


@pytest.fixture(scope="module")
def miniature_results(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("runs")
    results = {}
    for method in ("ga", "npo"):
        assert main(["--method", method, "--out", str(out), *MINIATURE]) == 0
        (path,) = out.glob(f"facts-forget10_{method}_*/result.json")
        results[method] = json.loads(path.read_text())
    return results


def test_miniature_result_rederives_from_its_records(miniature_results):
    result = miniature_results["npo"]
    validate_result(result)
    assert result["method"]["hyperparameters"]["beta"] == 0.1
    assert [s["train_size"] for s in result["scenario"]["steps"]] == [184, 16]
    assert "reference" in result["steps"][0] and "generation" in result["steps"][1]["evaluations"]["forget"]["per_sample"]
    # The retain model is the same for GA and NPO (same data, recipe and seed): the NPO run reads
    # the evaluations the GA run cached instead of training it again.
    ga_reference, npo_reference = (miniature_results[m]["steps"][0]["reference"] for m in ("ga", "npo"))
    assert not ga_reference["cached"] and npo_reference["cached"]
    assert npo_reference["evaluations"] == ga_reference["evaluations"]
    again = recompute_metrics(result)
    for name, value in result["metrics"].items():
        assert again["metrics"][name] == pytest.approx(value), name


def test_miniature_shows_npo_forget_quality_and_model_utility_next_to_ga(miniature_results):
    ga, npo = (miniature_results[m]["language_model"] for m in ("ga", "npo"))
    target, retain = npo["per_step"][0], npo["retain_model"]
    lines = [f"{'model':<14}{'forget quality':>16}{'model utility':>15}{'forget ROUGE-L':>16}{'retain ROUGE-L':>16}"]
    for name, s in (("target", target), ("retain", retain), ("ga", ga["per_step"][1]), ("npo", npo["per_step"][1])):
        lines.append(f"{name:<14}{s['forget_quality']:>16.3g}{s['model_utility']:>15.3f}{s['forget_rouge_l']:>16.3f}{s['retain_rouge_l']:>16.3f}")
    print("\n" + "\n".join(lines))
    # The suite trains a model that knows the facts, and a retain model that never saw the forget set.
    assert target["forget_rouge_l"] > 0.9 and target["retain_rouge_l"] > 0.9
    assert retain["forget_quality"] == 1.0 and target["forget_quality"] < 0.05
    assert retain["forget_probability"] < 0.5 * target["forget_probability"]
    ga_end, npo_end = ga["per_step"][1], npo["per_step"][1]
    # Both forget (the forget answers become unlikely), GA more destructively than NPO: NPO's
    # gradient fades once a sample is forgotten, so it keeps more of the retain answers.
    for end in (ga_end, npo_end):
        assert end["forget_probability"] < 0.1 * target["forget_probability"]
    assert npo_end["retain_probability"] > 3 * ga_end["retain_probability"]
    assert npo_end["model_utility"] >= ga_end["model_utility"]
    assert npo_end["forget_quality"] >= ga_end["forget_quality"]


# ---- TOFU end to end offline: the fixture files and a tiny local Hugging Face model ---------
def _tiny_hf_model(folder: Path, texts: list[str]) -> Path:
    transformers = pytest.importorskip("transformers")
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=300, min_frequency=1, special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>")
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=128,
                                     eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_tofu_runs_end_to_end_with_a_hugging_face_model(tmp_path, capsys):
    folder = write_tofu(tmp_path / "data", "forget01")
    texts = [line for f in folder.glob("*.json") for line in f.read_text().splitlines()]
    model = _tiny_hf_model(tmp_path / "model", texts)
    args = ["--scenario", "tofu-forget01", "--method", "npo-rt", "--device", "cpu", "--data-dir", str(tmp_path / "data"),
            "--out", str(tmp_path / "runs"), "--set", f"scenario.backbone=hf:{model}", "--set", "scenario.finetune_epochs=3",
            "--set", "scenario.finetune_lr=1e-2", "--set", "max_new_tokens=8", "--set", "epochs=2"]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    (path,) = (tmp_path / "runs").glob("*/result.json")
    result = json.loads(path.read_text())
    validate_result(result)
    learned = result["steps"][0]["evaluations"]["forget"]["per_sample"]
    assert all(t > 0 for t in learned["answer_tokens"]) and len(learned["generation"]) == 3
    assert set(result["steps"][0]["reference"]["evaluations"]) == {"forget", "retain", "real_authors", "world_facts", "holdout"}
    metrics = result["metrics"]
    assert 0 <= metrics["forget_quality"] <= 1 and metrics["model_utility"] is not None
    # unlearning raised the forget answers' NLL above the fine-tuned model's
    after = result["steps"][1]["evaluations"]["forget"]["per_sample"]
    assert sum(after["answer_nll"]) > sum(learned["answer_nll"])
