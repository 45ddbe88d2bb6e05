"""``python -m leaderboard``: submit (files, run folders, sweep folders; locally or to a server),
show, token, export, serve; one-line refusals and exit codes; the README's digits board order."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fixtures_leaderboard import live_server, real_result, real_run, variant
from leaderboard.cli import main

ROOT = Path(__file__).resolve().parent.parent
SQL_AND_HTML = "x'); DROP TABLE submissions;-- <b>bold</b> | [link](javascript:alert(1))"


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def write(doc: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_a_sweep_folder_is_submitted_in_one_command_and_a_resubmission_is_refused(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    sweep = tmp_path / "sweep"
    for i, where in enumerate(["lr=0.1/digits-cil_finetune_s0", "lr=0.01/seed=1/digits-cil_finetune_s0", "digits-cil_finetune_s0"]):
        write(variant(real_result(), i), sweep / where / "result.json")
        (sweep / where / "events.jsonl").write_text("{}\n")
    code, out, err = cli(capsys, "submit", str(sweep), "--db", db)
    assert code == 0 and err == "" and out.count("accepted: ") == 3
    code, out, err = cli(capsys, "submit", str(sweep), "--db", db)
    assert code == 2 and out == "" and len(err.splitlines()) == 3
    assert all(re.match(r"refused: .*result\.json: duplicate: entry \d holds the same result", line) for line in err.splitlines())


def test_each_refused_file_gets_one_line_and_exit_2(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    tampered = real_result()
    tampered["metrics"]["forgetting"] = 0.0
    bad = write(tampered, tmp_path / "bad" / "result.json")
    good = real_run()
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    code, out, err = cli(capsys, "submit", str(good), str(bad), str(tmp_path / "empty"), str(tmp_path / "missing"), str(broken), "--db", db)
    lines = err.splitlines()
    assert code == 2 and out.count("accepted: ") == 1 and len(lines) == 4
    assert f"refused: {tmp_path / 'empty'}: no result.json in this folder" in lines[0]
    assert f"refused: {tmp_path / 'missing'}: no such file or folder" in lines[1]
    assert f"refused: {bad}: metrics.forgetting: claimed 0.0, recomputed 0.99" in err
    assert f"refused: {broken}: not a JSON document" in err


def test_show_prints_the_board_and_refuses_an_unknown_one(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    assert cli(capsys, "submit", str(real_run()), "--db", db)[0] == 0
    code, out, err = cli(capsys, "show", "digits-cil", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0].startswith("digits-cil — Class-incremental learning, ranked by final_accuracy")
    assert lines[2].startswith("1 (single seed)  finetune  0.192")
    assert cli(capsys, "show", "digits-cil", "--mixed-seeds", "--db", db)[0] == 0
    code, out, err = cli(capsys, "show", "cifar100-b0inc10", "--db", db)
    assert code == 2 and err == "error: no entries on board 'cifar100-b0inc10' (boards: digits-cil)\n"


def test_submit_to_a_server_with_a_token_from_the_cli(tmp_path, capsys):
    db = tmp_path / "server.db"
    code, token, err = cli(capsys, "token", "create", "alice", "--db", str(db))
    token = token.strip()
    assert code == 0 and token.startswith("club_") and "shown once" in err
    assert cli(capsys, "token", "create", "alice", "--db", str(db))[0] == 2
    with live_server(f"sqlite:///{db}") as live:
        run_dir = real_run().parent
        code, out, err = cli(capsys, "submit", str(run_dir), "--server", live.url, "--token", token)
        assert code == 0 and f"→ entry 1 at {live.url}/entries/1" in out
        code, out, err = cli(capsys, "submit", str(run_dir), "--server", live.url, "--token", token)
        assert code == 2 and "duplicate: entry 1" in err
        code, out, err = cli(capsys, "submit", str(run_dir), "--server", live.url, "--token", "club_wrong")
        assert code == 2 and err == "error: the server refused the token: the token is not valid\n"
        assert live.store.board("digits-cil").submissions[0].submitter == "alice"
    code, out, err = cli(capsys, "submit", str(run_dir), "--server", "http://127.0.0.1:9", "--token", token)
    assert code == 1 and err.startswith("error: cannot reach http://127.0.0.1:9") and err.count("\n") == 1
    code, out, err = cli(capsys, "submit", str(run_dir), "--server", "http://127.0.0.1:9", "--token", "")
    assert code == 2 and "--server needs --token" in err


def test_an_unreachable_database_is_one_line_and_exit_1(capsys):
    code, out, err = cli(capsys, "show", "digits-cil", "--db", "postgresql+psycopg://nobody@127.0.0.1:9/none")
    assert code == 1 and err.startswith("error: cannot open the leaderboard database") and err.count("\n") == 1


def test_export_writes_static_pages_and_a_markdown_table(tmp_path, capsys):
    db = str(tmp_path / "lb.db")
    assert cli(capsys, "submit", str(real_run()), "--db", db)[0] == 0
    assert cli(capsys, "submit", str(write(variant(real_result(), 7, method=SQL_AND_HTML), tmp_path / "x.json")), "--db", db)[0] == 0
    site = tmp_path / "site"
    code, out, err = cli(capsys, "export", "--out", str(site), "--db", db)
    assert code == 0 and "wrote 1 boards" in out
    for name in ["index.html", "boards/digits-cil.html", "boards/digits-cil.json", "entries/1.html", "entries/2.json", "static/board.js", "static/plots.js"]:
        assert (site / name).is_file(), name
    assert json.loads((site / "entries/1.json").read_text()) == real_result()
    page = (site / "boards/digits-cil.html").read_text()
    assert 'src="../static/board.js"' in page and "<b>bold</b>" not in page
    assert '"entry": "../entries/{id}.html"' in page
    markdown = (site / "leaderboard.md").read_text()
    row = next(line for line in markdown.splitlines() if "DROP TABLE" in line)
    assert "<b>" not in row and "&lt;b&gt;bold&lt;/b&gt;" in row and "\\| \\[link\\]\\(javascript:alert\\(1\\)\\)" in row
    header = next(line for line in markdown.splitlines() if line.startswith("| rank"))
    assert row.count(" | ") == header.count(" | ")  # the escaped | did not add a column


def test_serve_starts_the_server_in_one_command(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "leaderboard", "serve", "--db", str(tmp_path / "lb.db"), "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = httpx.get(f"http://127.0.0.1:{port}/api/boards", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read().decode()[-2000:]
                time.sleep(0.2)
        assert reply.status_code == 200 and reply.json() == {"boards": []}
    finally:
        server.terminate()
        server.wait(30)


def readme_digits_table() -> list[tuple[str, float]]:
    """(method, final accuracy) of the README's table measured on digits-cil with the default methods."""
    lines = (ROOT / "README.md").read_text().splitlines()
    start = lines.index("| method | final accuracy | forgetting |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0].strip("`"), float(cells[1])))
    return rows


def test_the_digits_board_of_the_default_methods_has_the_readme_order(tmp_path, capsys):
    readme = readme_digits_table()
    assert len(readme) >= 6
    sweep = tmp_path / "runs"
    for method, _ in readme:
        shutil.copytree(real_run(method).parent, sweep / method)
    db = str(tmp_path / "lb.db")
    code, out, _ = cli(capsys, "submit", str(sweep), "--db", db)
    assert code == 0 and out.count("accepted: ") == len(readme)
    from leaderboard.store import Store, database_url
    from leaderboard.views import board_view

    board = board_view(Store(database_url(db)), "digits-cil")
    ranked = [(row["method"], row["values"]["final_accuracy"]["mean"]) for row in board["rows"]]
    expected = sorted(readme, key=lambda r: -r[1])
    assert [m for m, _ in ranked] == [m for m, _ in expected]
    for (method, value), (_, printed) in zip(ranked, expected):
        assert value == pytest.approx(printed, abs=0.0015), method
