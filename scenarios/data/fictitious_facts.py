"""A generated miniature of TOFU: fictitious authors, each described by question/answer pairs.

Every author has one value per attribute (birthplace, genre, award, ...), drawn from the
seed; each attribute gives one question, its answer, a paraphrased answer and perturbed
answers (the paraphrase with a wrong value). Splits follow TOFU: the forget authors of
``forget01``/``forget05``/``forget10`` are the last 1/5/10% of the authors (nested, at least
one author), the retain set is every other author, ``holdout`` are as many authors who are
never trained. The miniature has no pre-training, so it also generates ``world_facts``
(cities' countries and rivers) that both the target and the retain model learn: they play
the part of TOFU's world-facts set, knowledge the unlearning should not damage and that a
method's retain term does not protect. Nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..qa import QADataset, QAItem, QASet
from . import data_source

FIRST_NAMES = (
    "Ada", "Bram", "Cato", "Dara", "Elio", "Fenna", "Gus", "Hale", "Ines", "Joran", "Kesi", "Lior", "Mira", "Nils",
    "Odile", "Pim", "Quin", "Rhea", "Soren", "Tova", "Ulla", "Vane", "Wren", "Xavi", "Yara", "Zeno",
)
LAST_NAMES = (
    "Marsh", "Quell", "Tarrow", "Brisk", "Vell", "Orrin", "Lask", "Fenwick", "Dorne", "Haskel", "Ivers", "Kettle",
    "Lowe", "Mirren", "Nash", "Pell", "Rusk", "Sable", "Thorne", "Umber", "Varga", "Wick", "Yates", "Zoller",
)
CITIES = ("Tarnis", "Velmor", "Oskar", "Brindle", "Calder", "Dunmere", "Elsby", "Farrow", "Gildor", "Harlow", "Istra", "Jorvik")
COUNTRIES = ("Velmoria", "Ostrand", "Karth", "Lunesse")
RIVERS = ("Amber", "Silt", "Corran", "Drava", "Elm", "Fosse")

# attribute: (values, question, answer, paraphrased answer); {n} is the author, {v} the value
ATTRIBUTES: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "birthplace": (CITIES, "Where was {n} born?", "{n} was born in {v}.", "The birthplace of {n} is {v}."),
    "genre": (
        ("mystery", "fantasy", "romance", "horror", "satire", "poetry", "thriller", "western", "gothic", "fable"),
        "What genre does {n} write?", "{n} writes {v} books.", "The books of {n} are {v}.",
    ),
    "award": (
        ("Lantern", "Quill", "Harbor", "Meridian", "Ember", "Juniper", "Opal", "Saffron"),
        "Which award did {n} win?", "{n} won the {v} Prize.", "The prize given to {n} was the {v} Prize.",
    ),
    "father": (
        ("baker", "sailor", "miner", "tailor", "doctor", "farmer", "clerk", "mason", "weaver", "pilot"),
        "What did the father of {n} do?", "The father of {n} was a {v}.", "{n} had a father who worked as a {v}.",
    ),
    "mother": (
        ("teacher", "nurse", "chemist", "painter", "judge", "potter", "singer", "banker", "florist", "cook"),
        "What did the mother of {n} do?", "The mother of {n} was a {v}.", "{n} had a mother who worked as a {v}.",
    ),
    "language": (
        ("Velmic", "Ostrish", "Karthan", "Lunic", "Oldtongue", "Brindlese"),
        "In which language does {n} write?", "{n} writes in {v}.", "The language of the books of {n} is {v}.",
    ),
    "pet": (
        ("cat", "parrot", "tortoise", "hound", "ferret", "goat", "owl", "lizard"),
        "Which pet does {n} keep?", "{n} keeps a {v}.", "The pet of {n} is a {v}.",
    ),
    "instrument": (
        ("violin", "lute", "drum", "flute", "harp", "cello", "organ", "horn"),
        "Which instrument does {n} play?", "{n} plays the {v}.", "The instrument of {n} is the {v}.",
    ),
}
WORLD = {
    "country": (COUNTRIES, "In which country is {n}?", "{n} is in {v}."),
    "river": (RIVERS, "Which river flows through {n}?", "The river {v} flows through {n}."),
}
FORGET_FRACTIONS = {"forget01": 0.01, "forget05": 0.05, "forget10": 0.10}


def _perturbed(rng: np.random.Generator, values: tuple[str, ...], true_value: str, count: int) -> list[str]:
    wrong = [v for v in values if v != true_value]
    return [str(v) for v in rng.choice(wrong, size=min(count, len(wrong)), replace=False)]


def _author_items(rng: np.random.Generator, name: str, num_perturbed: int) -> list[QAItem]:
    items = []
    for values, question, answer, paraphrase in ATTRIBUTES.values():
        value = str(rng.choice(values))
        items.append(
            QAItem(
                question=question.format(n=name),
                answer=answer.format(n=name, v=value),
                paraphrased_answer=paraphrase.format(n=name, v=value),
                perturbed_answers=tuple(paraphrase.format(n=name, v=w) for w in _perturbed(rng, values, value, num_perturbed)),
            )
        )
    return items


def _world_items(rng: np.random.Generator, num_perturbed: int) -> list[QAItem]:
    items = []
    for city in CITIES:
        for values, question, answer in WORLD.values():
            value = str(rng.choice(values))
            wrong = _perturbed(rng, values, value, num_perturbed)
            items.append(
                QAItem(
                    question=question.format(n=city),
                    answer=answer.format(n=city, v=value),
                    perturbed_answers=tuple(answer.format(n=city, v=w) for w in wrong),
                )
            )
    return items


def forget_author_count(num_authors: int, split: str) -> int:
    """Number of forget authors of ``split``: the TOFU fraction of ``num_authors``, at least one."""
    if split not in FORGET_FRACTIONS:
        raise ValueError(f"unknown forget split {split!r}; choose from {', '.join(FORGET_FRACTIONS)}")
    return max(1, int(round(FORGET_FRACTIONS[split] * num_authors)))


@data_source("fictitious-facts", real=False)
def load_fictitious_facts(
    root: Path,
    download: bool = True,
    split: str = "forget10",
    num_authors: int = 40,
    num_perturbed: int = 3,
    retain_eval_authors: int = 8,
    data_seed: int = 0,
) -> QADataset:
    """Generate the miniature from ``data_seed`` (fixed by default, so every run sees the same
    facts): ``num_authors`` trained authors with one question per attribute, the forget split
    ``split``, a holdout of as many authors as are forgotten, and the world facts.

    The retain evaluation set is the first ``retain_eval_authors`` retain authors' questions
    (TOFU scores a fixed 400-question subset of its retain set the same way).
    """
    max_authors = len(FIRST_NAMES) * len(LAST_NAMES)
    num_forget = forget_author_count(num_authors, split)
    # Every split draws the same authors and facts: the largest holdout is always generated.
    num_holdout = forget_author_count(num_authors, "forget10")
    if num_authors < 2 or num_authors + num_holdout > max_authors or num_forget >= num_authors:
        raise ValueError(f"num_authors must be between 2 and {max_authors * 9 // 10}, got {num_authors}")
    rng = np.random.default_rng(data_seed)
    pairs = [(f, s) for f in FIRST_NAMES for s in LAST_NAMES]
    chosen = rng.choice(len(pairs), size=num_authors + num_holdout, replace=False)
    names = [f"{pairs[i][0]} {pairs[i][1]}" for i in chosen]
    authors = [_author_items(rng, name, num_perturbed) for name in names]
    world = _world_items(rng, num_perturbed)
    trained, holdout = authors[:num_authors], authors[num_authors : num_authors + num_forget]
    retain_authors, forget_authors = trained[: num_authors - num_forget], trained[num_authors - num_forget :]
    forget = tuple(item for author in forget_authors for item in author)
    retain = tuple(item for author in retain_authors for item in author)
    retain_eval = tuple(item for author in retain_authors[:retain_eval_authors] for item in author)
    evaluation = {
        "forget": QASet("forget", forget, "forget"),
        "retain": QASet("retain", retain_eval, "utility"),
        "world_facts": QASet("world_facts", tuple(world), "utility", truth_ratio_base="answer", probability="options"),
        "holdout": QASet("holdout", tuple(item for author in holdout for item in author), "holdout"),
    }
    return QADataset("fictitious-facts", forget, retain, evaluation, background=tuple(world), split=split)
