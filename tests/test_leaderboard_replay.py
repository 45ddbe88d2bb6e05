"""``python -m leaderboard verify ENTRY``: a real digits-cil entry is re-run from its commit and
reproduced; an entry whose stored records were altered in the database is found diverged.

The entry comes from a clean commit of a snapshot of this checkout (so the test does not
depend on whether the working tree has uncommitted changes), run as a subprocess the way a
user runs it; a later commit in the snapshot makes the replay use a ``git worktree``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from leaderboard.cli import main
from leaderboard.store import Store

ROOT = Path(__file__).resolve().parent.parent


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env).stdout.strip()


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    """A git repository holding this checkout's files in one commit, and a real run made from it."""
    repo = tmp_path_factory.mktemp("club") / "club"
    for name in git(ROOT, "ls-files", "-co", "--exclude-standard").splitlines():
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "snapshot")
    commit = git(repo, "rev-parse", "HEAD")
    runs = tmp_path_factory.mktemp("runs")
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--method", "finetune", "--set", "epochs=3", "--device", "cpu", "--out", str(runs)],
        cwd=repo, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = Path(done.stdout.strip().splitlines()[-1].removeprefix("result: "))
    assert json.loads(result.read_text())["environment"]["git_commit"] == commit
    return repo, commit, result


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def test_a_real_entry_is_reproduced_and_altered_records_diverge(snapshot, tmp_path, capsys):
    repo, commit, result = snapshot
    db = tmp_path / "lb.db"
    assert cli(capsys, "submit", str(result), "--db", str(db))[0] == 0
    (repo / "README.md").write_text("a later change\n")  # HEAD moves on: the replay needs a worktree of the entry's commit
    git(repo, "commit", "-qam", "later")
    code, out, err = cli(capsys, "verify", "1", "--db", str(db), "--repo", str(repo))
    assert code == 0, err
    assert out.splitlines()[-1] == "entry 1: reproduced — 5 steps: every per-class record is identical"
    assert git(repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone

    # Someone edits the stored records behind the store's back (the append-only trigger must be removed first).
    store = Store(f"sqlite:///{db}")
    document = json.loads(store.submission(1).document)
    document["steps"][3]["evaluations"]["seen_test"]["per_class"]["2"][0] -= 1
    with store.engine.begin() as connection:
        connection.execute(sa.text("DROP TRIGGER submissions_no_update"))
        connection.execute(sa.text("UPDATE submissions SET document = :d WHERE id = 1"), {"d": json.dumps(document)})
    git(repo, "checkout", "-q", commit)  # now the checkout itself is at the entry's commit: replayed in place
    code, out, err = cli(capsys, "verify", "1", "--db", str(db), "--repo", str(repo))
    assert code == 3
    assert out.splitlines()[-1].startswith("entry 1: diverged at step 3 — step 3, set seen_test, class 2: stored [")
    assert [(v.outcome, v.first_differing_step) for v in store.verifications(1)] == [("reproduced", None), ("diverged", 3)]
    from leaderboard.views import board_view

    row = board_view(store, "digits-cil")["rows"][0]
    assert (row["reproduced"], row["diverged"]) == (0, 1)  # the latest outcome counts
    store.close()


def test_entries_that_cannot_be_replayed_exactly_are_refused_in_one_line(snapshot, tmp_path, capsys):
    repo, commit, result = snapshot
    db = str(tmp_path / "lb.db")
    for i, claimed in enumerate([commit + "-dirty", "0" * 40]):
        doc = json.loads(result.read_text())
        doc["environment"]["git_commit"] = claimed
        path = tmp_path / f"{i}.json"
        path.write_text(json.dumps(doc))
        assert cli(capsys, "submit", str(path), "--db", db)[0] == 0
    code, out, err = cli(capsys, "verify", "1", "--db", db, "--repo", str(repo))
    assert code == 2 and err == f"error: entry 1 cannot be replayed: the entry was produced from uncommitted changes ({commit}-dirty): it cannot be replayed exactly\n"
    code, out, err = cli(capsys, "verify", "2", "--db", db, "--repo", str(repo))
    assert code == 2 and f"commit {'0' * 40} is not in the repository at {repo}" in err and err.count("\n") == 1
    assert cli(capsys, "verify", "7", "--db", db, "--repo", str(repo))[2] == "error: no entry 7 in the leaderboard database\n"
    assert cli(capsys, "verify", "x", "--db", db)[0] == 2
    code, out, err = cli(capsys, "verify", "1", "--db", db, "--repo", str(tmp_path))
    assert code == 2 and "is not a git checkout of CLUB: pass --repo PATH" in err
