"""Replay of a stored entry: run it again from what was submitted and compare its records.

The entry is re-run with ``python -m benchmarks.run`` in a subprocess (the leaderboard never
imports the training stack): the same method, hyperparameters, scenario overrides, seed,
plugins, device and thread count, from the same code commit —

- when the repository's checkout is at that commit with no uncommitted changes, in it;
- otherwise, when the repository has the commit, in a temporary ``git worktree`` of it,
  removed afterwards;
- a commit the repository lacks, or a result produced from uncommitted changes (a commit
  ending in ``-dirty``), cannot be replayed exactly: :class:`ReplayRefused`, one line.

Every step's per-class records ``[correct, total]`` of every evaluation set are compared
with the stored ones: ``reproduced`` when all are equal (on a CPU, runs are deterministic),
``diverged`` otherwise, with the first step that differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator


class ReplayRefused(ValueError):
    """The entry cannot be replayed exactly here (one line)."""


class ReplayFailed(RuntimeError):
    """The replay was started but did not produce a result (one line)."""


@dataclass(frozen=True)
class Outcome:
    outcome: str  # "reproduced" or "diverged"
    first_differing_step: int | None
    detail: str
    commit: str


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=120)


def repository(path: Path | None) -> Path:
    """The CLUB git checkout to replay from: ``path``, or the one this package lives in."""
    start = path or Path(__file__).resolve().parent.parent
    try:
        found = _git(start, "rev-parse", "--show-toplevel")
    except (OSError, subprocess.SubprocessError) as e:
        raise ReplayRefused(f"cannot run git to find the CLUB checkout: {e}") from None
    root = Path(found.stdout.strip()) if found.returncode == 0 else None
    if root is None or not (root / "benchmarks" / "run.py").is_file():
        raise ReplayRefused(f"{start} is not a git checkout of CLUB: pass --repo PATH")
    return root


@contextlib.contextmanager
def checkout(repo: Path, commit: str) -> Iterator[Path]:
    """A folder holding ``commit`` of ``repo``: the checkout itself or a temporary worktree."""
    if commit.endswith("-dirty"):
        raise ReplayRefused(f"the entry was produced from uncommitted changes ({commit}): it cannot be replayed exactly")
    head = _git(repo, "rev-parse", "HEAD").stdout.strip()
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    if head == commit and not dirty:
        yield repo
        return
    if _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        raise ReplayRefused(f"commit {commit} is not in the repository at {repo}: fetch it to replay this entry")
    with tempfile.TemporaryDirectory(prefix="club-replay-") as tmp:
        tree = Path(tmp) / "club"
        added = _git(repo, "worktree", "add", "--detach", str(tree), commit)
        if added.returncode != 0:
            raise ReplayFailed(f"git worktree add {commit}: {' '.join(added.stderr.split())}")
        try:
            yield tree
        finally:
            _git(repo, "worktree", "remove", "--force", str(tree))


def _setting(value: Any) -> str:
    """A stored value as ``--set`` text that ``benchmarks.settings`` reads back as the same value."""
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # plain text stays text
        return json.dumps(value)  # text that would parse as JSON ("1", "true") is quoted
    return json.dumps(value)


def _plugins(document: dict) -> list[str]:
    """The plugins to load: files must be on this machine with the SHA-256 the entry recorded."""
    hashes = document["method"]["source_sha256"]
    plugins = []
    for spec in document["method"].get("plugins", []):
        path = Path(spec)
        if spec.endswith(".py") or path.is_absolute():
            if not path.is_file():
                raise ReplayRefused(f"plugin {spec} is not on this machine")
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if hashes.get(path.name) not in (None, digest):
                raise ReplayRefused(f"plugin {spec} has changed since the run (SHA-256 {digest[:12]}…, recorded {hashes[path.name][:12]}…)")
        plugins += ["--plugin", spec]
    return plugins


def command(document: dict, out: Path) -> list[str]:
    """The ``benchmarks.run`` command line that re-runs ``document``'s run into ``out``."""
    method, scenario = document["method"], document["scenario"]
    device = document["environment"]["device"].split(":")[0]
    args = [sys.executable, "-m", "benchmarks.run", "--method", method["name"], "--scenario", scenario["name"]]
    args += ["--seed", str(document["seed"]), "--device", device, "--out", str(out)]
    for key, value in method["hyperparameters"].items():
        args += ["--set", f"{key}={_setting(value)}"]
    for key, value in scenario["overrides"].items():
        args += ["--set", f"scenario.{key}={_setting(value)}"]
    return args + _plugins(document)


def compare_records(stored: list[dict], replayed: list[dict]) -> tuple[int | None, str]:
    """The first step whose per-class records differ (``None`` if none) and what differs."""
    for i in range(max(len(stored), len(replayed))):
        if i >= len(stored) or i >= len(replayed):
            return i, f"step {i} exists only in the {'replay' if i >= len(stored) else 'stored entry'}"
        mine, theirs = stored[i]["evaluations"], replayed[i]["evaluations"]
        for name in sorted(set(mine) | set(theirs)):
            a = (mine.get(name) or {}).get("per_class")
            b = (theirs.get(name) or {}).get("per_class")
            if a != b:
                if a is None or b is None:
                    return i, f"step {i}: set {name} exists only in the {'replay' if a is None else 'stored entry'}"
                cls = next(c for c in sorted(set(a) | set(b), key=lambda c: int(c)) if a.get(c) != b.get(c))
                return i, f"step {i}, set {name}, class {cls}: stored {json.dumps(a.get(cls))}, replay {json.dumps(b.get(cls))}"
    return None, f"{len(stored)} steps: every per-class record is identical"


def replay(document: dict, repo: Path, data_dir: Path | None = None, timeout: float | None = None) -> Outcome:
    """Re-run ``document`` from its commit in ``repo`` and compare its per-class records."""
    commit = document["environment"]["git_commit"]
    with checkout(repo, commit) as tree, tempfile.TemporaryDirectory(prefix="club-replay-runs-") as out:
        args = command(document, Path(out))
        if data_dir is not None:
            args += ["--data-dir", str(data_dir)]
        threads = str(document["environment"].get("torch_threads") or 1)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        env.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        try:
            done = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ReplayFailed(f"the replay did not finish within {timeout:g} s") from None
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines or not lines[-1].startswith("result: "):
            errors = done.stderr.strip().splitlines()
            raise ReplayFailed(f"the replay failed (exit {done.returncode}): {errors[-1] if errors else 'no message'}")
        result = json.loads(Path(lines[-1].removeprefix("result: ")).read_text())
    ran = result["environment"].get("git_commit")
    if ran != commit:
        raise ReplayFailed(f"the replay ran commit {ran}, not the entry's {commit}")
    step, detail = compare_records(document["steps"], result["steps"])
    return Outcome("reproduced" if step is None else "diverged", step, detail, commit)
