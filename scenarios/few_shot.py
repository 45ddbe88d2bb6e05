"""Few-shot class-incremental sessions (FSCIL): a base session, then N-way K-shot sessions.

Source: Tao et al., "Few-Shot Class-Incremental Learning", CVPR 2020, which set the benchmark
shapes used since: CIFAR-100 and miniImageNet with 60 base classes then 8 sessions of 5-way
5-shot, CUB-200 with 100 base classes then 10 sessions of 10-way 5-shot. The base session holds
every training sample of its classes; a later session holds K samples of each of its N classes.
After every session the model is tested on all test samples of the classes seen so far.

Which K samples form each session decides much of a run's result, so the field uses fixed
published lists: the ``index_list/<dataset>/session_<k>.txt`` files distributed with CEC (Zhang
et al., CVPR 2021) and reused by FACT and TEEN. Point ``index_list`` at such a folder to use
exactly those samples; without it a seeded sampler draws them. The stream's options record which
was used (``samples``), the lists' SHA-256, and the training rows of every few-shot session.

List format (one folder, files ``session_1.txt`` … ``session_<1+sessions>.txt``, one sample per
line; ``session_1.txt`` is the base session and may be left out: the base session is then every
training sample of labels ``0 … base−1``, which is what the CEC/TEEN code trains on). A line names a training sample either by its row
number in the dataset's training set (CIFAR-100: the row of the ``train`` pickle, e.g. ``29774``)
or by its file path, matched on its trailing components against the data source's ``train_ids``
(miniImageNet: ``MINI-ImageNet/train/n03544143/n0354414300000811.jpg`` is matched by its file
name; CUB-200: ``CUB_200_2011/images/101.White_Pelican/White_Pelican_0081_96148.jpg`` by class
folder and file name). The classes of a session are the classes of its samples, in label order.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .class_incremental import class_order_for, order_option
from .data import ImageDataset
from .presets import Preset, register_preset, register_protocol
from .stream import Step, Stream

PROTOCOL = "few_shot"
SESSION_FILE = "session_{}.txt"


def read_session_lists(folder: str | Path, num_sessions: int) -> list[list[str] | None]:
    """The entries of ``session_1.txt`` … ``session_<num_sessions>.txt`` in ``folder``
    (``None`` for a missing ``session_1.txt``: the base session is then implied)."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValueError(f"index_list {folder} is not a folder holding session_1.txt … session_{num_sessions}.txt")
    extra = folder / SESSION_FILE.format(num_sessions + 1)
    if extra.exists():
        raise ValueError(f"index_list {folder} has {extra.name}, more sessions than the {num_sessions} of this protocol")
    lists: list[list[str] | None] = []
    for k in range(1, num_sessions + 1):
        path = folder / SESSION_FILE.format(k)
        if k == 1 and not path.exists():
            lists.append(None)
            continue
        if not path.is_file():
            raise ValueError(f"index_list {folder}: {path.name} is missing (expected session_1.txt … session_{num_sessions}.txt)")
        entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not entries:
            raise ValueError(f"index_list {path} is empty")
        lists.append(entries)
    return lists


def lists_digest(folder: str | Path, num_sessions: int) -> str:
    """SHA-256 over the session files in order, so a result names the exact lists it used."""
    digest = hashlib.sha256()
    for k in range(1, num_sessions + 1):
        path = Path(folder).expanduser() / SESSION_FILE.format(k)
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()


def resolve_entries(dataset: ImageDataset, entries: Sequence[str], where: str) -> np.ndarray:
    """Training-set rows of ``entries``: row numbers, or paths matched against ``dataset.train_ids``."""
    n = len(dataset.train_y)
    if not dataset.train_ids:
        rows = []
        for entry in entries:
            if not entry.isdigit():
                raise ValueError(f"{where}: {entry!r} is not a row number, and data source {dataset.name} does not name its samples")
            if int(entry) >= n:
                raise ValueError(f"{where}: row {entry} is outside the {n} training samples of {dataset.name}")
            rows.append(int(entry))
        return np.array(rows, dtype=np.int64)
    depth = dataset.train_ids[0].count("/") + 1
    row_of = {sample_id: row for row, sample_id in enumerate(dataset.train_ids)}
    rows = []
    for entry in entries:
        key = "/".join(entry.replace("\\", "/").split("/")[-depth:])
        if key not in row_of:
            raise ValueError(f"{where}: {entry!r} names no training sample of {dataset.name}")
        rows.append(row_of[key])
    return np.array(rows, dtype=np.int64)


def _listed_sessions(
    dataset: ImageDataset, index_list: str | Path, base: int, ways: int, shots: int, sessions: int
) -> tuple[list[list[int]], list[np.ndarray]]:
    """Classes (dataset labels) and training rows of every session, from published lists."""
    lists = read_session_lists(index_list, 1 + sessions)
    labels = dataset.train_y.numpy()
    classes, rows, seen = [], [], set()
    for k, entries in enumerate(lists):
        where = f"index_list {Path(index_list) / SESSION_FILE.format(k + 1)}"
        if entries is None:  # no session_1.txt: the base session is labels 0 … base−1 in full
            session_rows = np.flatnonzero(labels < base)
        else:
            session_rows = resolve_entries(dataset, entries, where)
        if len(np.unique(session_rows)) != len(session_rows):
            raise ValueError(f"{where} lists a sample twice")
        session_classes, counts = np.unique(labels[session_rows], return_counts=True)
        expected = base if k == 0 else ways
        if len(session_classes) != expected:
            raise ValueError(f"{where} holds {len(session_classes)} classes, the protocol expects {expected}")
        if k > 0 and (counts != shots).any():
            raise ValueError(f"{where} holds {counts.min()}–{counts.max()} samples per class, the protocol expects {shots}")
        repeated = seen.intersection(session_classes.tolist())
        if repeated:
            raise ValueError(f"{where} repeats class {min(repeated)} of an earlier session")
        seen.update(session_classes.tolist())
        classes.append(session_classes.tolist())
        rows.append(session_rows)
    return classes, rows


def _sampled_sessions(
    dataset: ImageDataset, order: str | int | Sequence[int], seed: int, base: int, ways: int, shots: int, sessions: int
) -> tuple[list[list[int]], list[np.ndarray]]:
    """Classes and training rows of every session: all base samples, K seeded draws per novel class.

    A novel class's shots are drawn by a generator seeded with ``(seed, label)``, so they do not
    depend on the class order or on the other classes.
    """
    order_labels = class_order_for(dataset.num_classes, order, seed)
    labels = dataset.train_y.numpy()
    classes = [order_labels[:base]] + [order_labels[base + s * ways : base + (s + 1) * ways] for s in range(sessions)]
    rows = [np.flatnonzero(np.isin(labels, classes[0]))]
    for session_classes in classes[1:]:
        drawn = []
        for label in session_classes:
            candidates = np.flatnonzero(labels == label)
            if len(candidates) < shots:
                raise ValueError(f"class {dataset.class_names[label]!r} has {len(candidates)} training samples, fewer than {shots} shots")
            drawn.append(np.sort(np.random.default_rng([seed, label]).choice(candidates, size=shots, replace=False)))
        rows.append(np.concatenate(drawn))
    return classes, rows


def few_shot_stream(
    dataset: ImageDataset,
    base: int,
    ways: int,
    shots: int,
    sessions: int,
    seed: int,
    order: str | int | Sequence[int] = "fixed",
    index_list: str | None = None,
    name: str | None = None,
) -> Stream:
    """A base session of ``base`` classes (all their training data), then ``sessions`` sessions of
    ``ways`` new classes with ``shots`` training samples each, from ``index_list`` or drawn from ``seed``.

    ``order`` is the class order of the sampler (``fixed``: the dataset's labels, as in the
    field's benchmarks; ``seed``; or an explicit list); published lists fix the classes themselves.
    Classes beyond ``base + sessions·ways`` are left out of training and test data.
    """
    for key, value, least in (("base", base, 1), ("ways", ways, 1), ("shots", shots, 1), ("sessions", sessions, 1)):
        if not isinstance(value, int) or value < least:
            raise ValueError(f"{key} must be an integer ≥ {least}, got {value!r}")
    used = base + sessions * ways
    if used > dataset.num_classes:
        raise ValueError(f"{base} base classes + {sessions} sessions × {ways} ways need {used} classes, {dataset.name} has {dataset.num_classes}")
    if index_list is not None:
        if order != "fixed":
            raise ValueError("order cannot be combined with index_list: the lists fix the classes of every session")
        classes, rows = _listed_sessions(dataset, index_list, base, ways, shots, sessions)
    else:
        classes, rows = _sampled_sessions(dataset, order, seed, base, ways, shots, sessions)

    class_order = [label for session_classes in classes for label in session_classes]
    relabel = torch.full((dataset.num_classes,), -1, dtype=torch.int64)
    relabel[torch.tensor(class_order)] = torch.arange(used)
    steps: list[Step] = []
    start = 0
    for index, (session_classes, session_rows) in enumerate(zip(classes, rows)):
        idx = torch.from_numpy(session_rows)
        steps.append(
            Step(
                index=index,
                kind="learn",
                x=dataset.train_x[idx],
                y=relabel[dataset.train_y[idx]],
                classes=tuple(range(start, start + len(session_classes))),
                task_id=index,
                num_seen_classes=start + len(session_classes),
            )
        )
        start += len(session_classes)
    test_y = relabel[dataset.test_y]
    keep = test_y >= 0
    options = {
        "base": base,
        "ways": ways,
        "shots": shots,
        "sessions": sessions,
        "order": order_option(order),
        "samples": "index_list" if index_list is not None else "seeded_sampler",
        "index_list": None if index_list is None else str(Path(index_list).expanduser().resolve()),
        "index_list_sha256": None if index_list is None else lists_digest(index_list, 1 + sessions),
        "session_rows": [r.tolist() for r in rows[1:]],  # training rows of each few-shot session
    }
    return Stream(
        name=name or f"{dataset.name}-fscil-b{base}-{ways}way{shots}shot",
        source=dataset.name,
        protocol=PROTOCOL,
        steps=steps,
        test_x=dataset.test_x[keep],
        test_y=test_y[keep],
        class_order=tuple(class_order),
        class_names=tuple(dataset.class_names[c] for c in class_order),
        options=options,
    )


def _fscil(name: str, description: str, source: str, backbone: str, base: int, ways: int, shots: int, sessions: int) -> None:
    options = {"base": base, "ways": ways, "shots": shots, "sessions": sessions}
    register_preset(Preset(name, description, source, PROTOCOL, backbone, options))


register_protocol(PROTOCOL, few_shot_stream, capability="few_shot")
_fscil("digits-fscil", "sklearn digits 8×8, 4 base classes then 3 sessions of 2-way 5-shot (embedded)", "digits", "mlp", 4, 2, 5, 3)
_fscil("cifar100-fscil", "CIFAR-100, 60 base classes then 8 sessions of 5-way 5-shot (TOPIC/CEC)", "cifar100", "resnet18", 60, 5, 5, 8)
_fscil("miniimagenet-fscil", "miniImageNet 84×84, 60 base classes then 8 sessions of 5-way 5-shot (TOPIC/CEC)", "miniimagenet", "resnet18", 60, 5, 5, 8)
_fscil("cub200-fscil", "CUB-200-2011, 100 base classes then 10 sessions of 10-way 5-shot (TOPIC/CEC)", "cub", "resnet18", 100, 10, 5, 10)
