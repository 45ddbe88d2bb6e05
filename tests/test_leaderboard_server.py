"""The leaderboard server on loopback (uvicorn, real SQLite file, and PostgreSQL when available):
the API, the pages, and its security: tokens, limits, refusals, escaping."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from fixtures_leaderboard import database, live_server, real_result, variant  # noqa: F401  (fixture)
from leaderboard.server import Limits
from leaderboard.verify import canonical_json

SQL_AND_HTML = "Robert'); DROP TABLE submissions;-- <b>bold</b> & \"quoted\""


def post(client: httpx.Client, doc, token: str | None = "", raw: bytes | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post("/api/submissions", content=raw if raw is not None else json.dumps(doc).encode(), headers=headers)


def test_submit_then_read_boards_entries_records_and_pages(database):
    with live_server(database) as live, httpx.Client(base_url=live.url, timeout=60) as client:
        token = live.store.create_token("alice")
        doc = real_result()
        reply = post(client, doc, token)
        assert reply.status_code == 201, reply.text
        entry = reply.json()["id"]
        assert reply.json() == {"id": entry, "preset": "digits-cil", "page": f"/entries/{entry}", "board": "/boards/digits-cil"}
        other = post(client, variant(doc, 1), token).json()["id"]

        boards = client.get("/api/boards").json()["boards"]
        assert boards == [{"preset": "digits-cil", "family": "class_incremental", "title": "Class-incremental learning", "primary": "final_accuracy", "entries": 2}]
        board = client.get("/api/boards/digits-cil").json()
        assert sorted(e for row in board["rows"] for e in row["entries"]) == [entry, other]
        assert board["rows"][0]["values"]["final_accuracy"]["mean"] == pytest.approx(doc["metrics"]["final_accuracy"])
        assert board["rows"][0]["values"]["trainable_parameters"]["mean"] == doc["method"]["trainable_parameters"]

        view = client.get(f"/api/entries/{entry}").json()
        assert view["submitter"] == "alice" and view["method"] == "finetune" and view["recipe"] == doc["method"]["recipe"] == "club"
        assert view["provenance"]["source_sha256"] == doc["method"]["source_sha256"]
        assert view["provenance"]["git_commit"] == doc["environment"]["git_commit"]
        assert view["metrics"]["final_accuracy"] == pytest.approx(doc["metrics"]["final_accuracy"])
        records = client.get(view["links"]["result"])
        assert records.headers["content-disposition"].startswith("attachment")
        assert records.json() == doc and records.text == canonical_json(doc)  # every raw record, as submitted

        assert board["single_seed_last"] and not client.get("/api/boards/digits-cil?seeds=mixed").json()["single_seed_last"]
        assert "rank them below" in client.get("/boards/digits-cil?seeds=mixed").text
        page = client.get("/boards/digits-cil")
        assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get(f"/entries/{entry}").status_code == 200 and "Provenance" in client.get(f"/entries/{entry}").text
        assert client.get("/").status_code == 200 and "digits-cil" in client.get("/").text
        assert client.get("/boards/nope").status_code == 404 and client.get("/api/boards/nope").status_code == 404
        assert client.get("/api/entries/999").status_code == 404 and client.get("/entries/x").status_code == 404
        assert client.get("/static/board.js").status_code == 200


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A server with small limits: 200 kB bodies, 600 requests a minute."""
    db = tmp_path_factory.mktemp("db") / "leaderboard.db"
    with live_server(f"sqlite:///{db}", Limits(max_body_bytes=200_000, requests_per_minute=600)) as live:
        token = live.store.create_token("tester")
        with httpx.Client(base_url=live.url, timeout=60) as client:
            yield live, client, token


def test_no_token_or_a_wrong_token_is_401(secured):
    live, client, token = secured
    assert post(client, real_result(), None).status_code == 401
    wrong = post(client, real_result(), "club_not-a-token")
    assert wrong.status_code == 401 and wrong.json() == {"error": "the token is not valid"}
    basic = client.post("/api/submissions", content=b"{}", headers={"Authorization": f"Basic {token}"})
    assert basic.status_code == 401 and basic.headers["www-authenticate"] == "Bearer"


def test_oversized_body_is_413_and_malformed_json_is_400(secured):
    live, client, token = secured
    big = post(client, None, token, raw=b'{"pad": "' + b"x" * 300_000 + b'"}')
    assert big.status_code == 413 and "over the limit" in big.json()["error"]
    assert post(client, None, token, raw=b'{"schema_version": 1,').status_code == 400
    assert post(client, None, token, raw=b"\xff\xfe\x00").status_code == 400
    assert client.get("/api/boards").status_code == 200  # the server is still fine


def _swap_order(doc):
    doc["scenario"]["class_order"][:2] = doc["scenario"]["class_order"][1::-1]


def _correct_over_total(doc):
    doc["steps"][4]["evaluations"]["seen_test"]["per_class"]["9"] = [99, 36]


def _drop_step(doc):
    del doc["scenario"]["steps"][2], doc["steps"][2]


@pytest.mark.parametrize(
    "change,reason",
    [
        (lambda d: d["metrics"].update(final_accuracy=0.99), "metrics.final_accuracy: claimed 0.99, recomputed 0.19"),
        (_correct_over_total, "step 4, set seen_test, class 9: correct 99 > total 36"),
        (_drop_step, "scenario.steps[2].index must be 2 (steps in order)"),
        (_swap_order, "scenario.class_order: claimed [6, 4, 2, 7"),
    ],
    ids=["tampered metric", "correct > total", "missing step", "wrong class order"],
)
def test_refusals_name_their_reason(secured, change, reason):
    live, client, token = secured
    doc = real_result()
    change(doc)
    reply = post(client, doc, token)
    assert reply.status_code == 422 and reason in reply.json()["error"], reply.text


def test_nan_is_refused(secured):
    live, client, token = secured
    text = json.dumps(real_result()).replace('"final_accuracy": 0.1', '"final_accuracy": NaN, "was": 0.1', 1)
    assert "NaN" in text
    reply = post(client, None, token, raw=text.encode())
    assert reply.status_code == 422 and "NaN" in reply.json()["error"]


def test_a_duplicate_is_refused(secured):
    live, client, token = secured
    doc = variant(real_result(), 9001)
    first = post(client, doc, token)
    assert first.status_code == 201
    again = post(client, copy.deepcopy(doc), token)
    assert again.status_code == 409 and f"entry {first.json()['id']} holds the same result" in again.json()["error"]


def test_strings_with_sql_and_html_meaning_are_stored_and_shown_verbatim(secured):
    live, client, token = secured
    doc = variant(real_result(), 9002, method=SQL_AND_HTML)
    doc["method"]["hyperparameters"]["note"] = "<script>alert(1)</script>' OR 1=1 --"
    entry = post(client, doc, token).json()["id"]
    view = client.get(f"/api/entries/{entry}").json()
    assert view["method"] == SQL_AND_HTML and view["provenance"]["hyperparameters"]["note"] == doc["method"]["hyperparameters"]["note"]
    page = client.get(f"/entries/{entry}").text
    assert "<b>bold</b>" not in page and "<script>alert" not in page
    assert "Robert&#39;); DROP TABLE submissions;-- &lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;" in page
    board_page = client.get("/boards/digits-cil").text
    assert "<b>bold</b>" not in board_page and "\\u003cb\\u003ebold\\u003c/b\\u003e" in board_page  # data for textContent
    assert any(row["method"] == SQL_AND_HTML for row in client.get("/api/boards/digits-cil").json()["rows"])


def test_too_many_requests_is_429(tmp_path):
    with live_server(f"sqlite:///{tmp_path / 'lb.db'}", Limits(requests_per_minute=5)) as live, httpx.Client(base_url=live.url) as client:
        codes = [client.get("/api/boards").status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2
        limited = client.get("/")
        assert limited.status_code == 429 and limited.headers["retry-after"] == "60"
        assert client.get("/static/leaderboard.css").status_code == 200  # static files are not counted


def test_a_scenario_the_server_cannot_rebuild_is_503(secured):
    live, client, token = secured
    doc = real_result()
    doc["scenario"]["name"] = "cifar10-b0inc2"  # its data is not in the server's data directory
    reply = post(client, doc, token)
    assert reply.status_code == 503 and reply.json()["error"].startswith("cannot rebuild scenario cifar10-b0inc2 to check it")
