"""The leaderboard database: migrations, duplicates, append-only submissions, hashed tokens."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from fixtures_leaderboard import database, real_result, variant  # noqa: F401  (fixture)
from leaderboard.store import AppendOnly, DuplicateSubmission, Store, Submission, database_url
from leaderboard.verify import verify_result

SQL_AND_HTML = "Robert'); DROP TABLE submissions;-- <b>bold</b> & \"quoted\""


def test_open_migrates_to_head_and_reopening_keeps_every_row(database):
    store = Store(database)
    entry = store.add(verify_result(real_result()), "alice")
    store.close()
    again = Store(database)
    with again.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    assert again.submission(entry).submitter == "alice"
    assert again.presets() == [("digits-cil", "class_incremental", 1)]
    again.close()


def test_a_duplicate_is_refused_and_a_variant_is_not(database):
    store = Store(database)
    first = store.add(verify_result(real_result()), "alice")
    with pytest.raises(DuplicateSubmission, match=f"duplicate: entry {first} holds the same result"):
        store.add(verify_result(real_result()), "bob")
    second = store.add(verify_result(variant(real_result(), 1)), "bob")
    board = store.board("digits-cil")
    assert [s.id for s in board.submissions] == [first, second] and board.family == "class_incremental"
    assert store.board("digits-fscil") is None
    store.close()


def test_accepted_submissions_are_never_altered_or_removed(database):
    store = Store(database)
    verified = verify_result(real_result())
    entry = store.add(verified, "alice")
    store.add_verification(entry, "reproduced", None, "identical", "abc")
    with store.sessions() as session:  # through the ORM: refused before any SQL is sent
        row = session.get(Submission, entry)
        row.method = "better"
        with pytest.raises(AppendOnly):
            session.flush()
        session.rollback()
        session.delete(session.get(Submission, entry))
        with pytest.raises(AppendOnly):
            session.flush()
        session.rollback()
        with pytest.raises(AppendOnly):
            session.execute(sa.update(Submission).values(method="better"))
    for statement in ("UPDATE submissions SET method = 'better'", "DELETE FROM submissions", "DELETE FROM verifications",
                      "UPDATE verifications SET outcome = 'diverged'"):  # by hand: the database's triggers refuse
        with pytest.raises(DBAPIError, match="append-only"):
            with store.engine.begin() as connection:
                connection.execute(sa.text(statement))
    kept = store.submission(entry)
    assert kept.method == "finetune" and kept.document == verified.canonical
    assert [v.outcome for v in store.verifications(entry)] == ["reproduced"]
    store.close()


def test_tokens_are_stored_hashed_and_checked(database):
    store = Store(database)
    secret = store.create_token("alice")
    assert store.token_name(secret) == "alice"
    assert store.token_name(secret + "x") is None and store.token_name("") is None
    with store.engine.connect() as connection:
        stored = connection.execute(sa.text("SELECT name, token_hash FROM tokens")).all()
    assert len(stored) == 1 and secret not in repr(stored)
    with pytest.raises(ValueError, match="already exists"):
        store.create_token("alice")
    store.close()


def test_strings_with_sql_and_html_meaning_are_stored_verbatim(database):
    store = Store(database)
    doc = real_result()
    doc["method"]["name"] = SQL_AND_HTML
    entry = store.add(verify_result(doc), SQL_AND_HTML)
    row = store.submission(entry)
    assert row.method == SQL_AND_HTML and row.submitter == SQL_AND_HTML
    assert store.presets() == [("digits-cil", "class_incremental", 1)]  # the table is still there
    store.close()


def test_database_url_defaults_to_a_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.delenv("CLUB_LEADERBOARD_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert database_url(None) == f"sqlite:///{tmp_path / 'leaderboard.db'}"
    assert database_url("postgresql+psycopg://u@h/db") == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("CLUB_LEADERBOARD_DB", str(tmp_path / "x.db"))
    assert database_url(None) == f"sqlite:///{tmp_path / 'x.db'}"
