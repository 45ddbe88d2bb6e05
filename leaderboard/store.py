"""The leaderboard's database: accepted submissions, verification outcomes and submit tokens.

SQLAlchemy over a SQLite file by default (no setup) or PostgreSQL by URL. The schema is
versioned with Alembic (``leaderboard/migrations``); opening a store upgrades it to the
latest revision. Accepted submissions and verification outcomes are append-only: this module
only inserts them, a session refuses to flush or execute an update or delete of either, and
database triggers (created by the first migration) refuse ``UPDATE`` and ``DELETE`` on both
tables. A document whose content hash is already stored is refused as a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Integer, String, Text, create_engine, event, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, deferred, mapped_column, sessionmaker

from .verify import Verified

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
DEFAULT_DB = "leaderboard.db"


class Base(DeclarativeBase):
    pass


class Submission(Base):
    """An accepted ``result.json``, with what boards need of it already derived."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    submitter: Mapped[str] = mapped_column(Text)
    preset: Mapped[str] = mapped_column(String(200), index=True)
    family: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(Text)
    group_key: Mapped[str] = mapped_column(String(64), index=True)
    seed: Mapped[int] = mapped_column(BigInteger)
    recipe: Mapped[str] = mapped_column(String(16))
    git_commit: Mapped[str] = mapped_column(Text)
    club_version: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(Text)
    wall_seconds: Mapped[float] = mapped_column(Float)
    peak_memory_bytes: Mapped[int] = mapped_column(BigInteger)
    trainable_parameters: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    derived: Mapped[str] = mapped_column(Text)  # JSON {"summary": recomputed, "curve": per step, "config": verify.config_of}
    document: Mapped[str] = deferred(mapped_column(Text))  # the canonical JSON of the result

    def derived_data(self) -> dict[str, Any]:
        return json.loads(self.derived)


class Verification(Base):
    """The outcome of replaying a submission: ``reproduced`` or ``diverged`` (at a step)."""

    __tablename__ = "verifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))
    first_differing_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text)
    commit: Mapped[str] = mapped_column(Text)


class Token(Base):
    """A submit token: its name and the SHA-256 of the secret (the secret itself is never stored)."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


APPEND_ONLY = (Submission, Verification)


class DuplicateSubmission(ValueError):
    """The same document (same content hash) is already on the board."""


class AppendOnly(RuntimeError):
    """Something tried to alter or remove an accepted submission or a verification outcome."""


class StoreUnavailable(RuntimeError):
    """The database cannot be opened or reached (one line)."""


@dataclass(frozen=True)
class Board:
    """The accepted submissions of one preset (without their documents)."""

    preset: str
    family: str
    submissions: list[Submission]
    verifications: dict[int, Verification]  # latest outcome per submission id


def database_url(db: str | None) -> str:
    """A SQLAlchemy URL from ``--db``: a URL as is, anything else a SQLite file path.
    Default: ``$CLUB_LEADERBOARD_DB`` or ``./leaderboard.db``."""
    db = db or os.environ.get("CLUB_LEADERBOARD_DB") or DEFAULT_DB
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the writer
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _refuse_changes(session: Session, flush_context: Any, instances: Any) -> None:
    for obj in [*session.dirty, *session.deleted]:
        if isinstance(obj, APPEND_ONLY) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnly(f"{type(obj).__tablename__} are append-only: row {obj.id} cannot be altered or removed")


def _refuse_bulk_changes(state: Any) -> None:
    if (state.is_update or state.is_delete) and any(
        mapper.class_ in APPEND_ONLY for mapper in state.all_mappers
    ):
        raise AppendOnly("submissions and verifications are append-only: no UPDATE or DELETE")


def migrate(engine: Engine) -> None:
    """Upgrade the database to the latest Alembic revision (creating it when empty)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(7411)"))  # one migrating process at a time
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class Store:
    """Accepted submissions, verification outcomes and tokens in one database."""

    def __init__(self, url: str) -> None:
        from alembic.util import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        sqlite = url.startswith("sqlite")
        try:
            self.engine = create_engine(url, connect_args={"timeout": 30} if sqlite else {}, pool_pre_ping=not sqlite)
            if sqlite:
                event.listen(self.engine, "connect", _sqlite_pragmas)
            migrate(self.engine)
        except (SQLAlchemyError, CommandError, OSError, ImportError) as e:
            where = self.engine.url.render_as_string(hide_password=True) if hasattr(self, "engine") else "at the given URL"
            reason = " ".join(str(e).split())[:300]
            raise StoreUnavailable(f"cannot open the leaderboard database {where}: {reason}") from None
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "before_flush", _refuse_changes)
        event.listen(self.sessions, "do_orm_execute", _refuse_bulk_changes)

    def close(self) -> None:
        self.engine.dispose()

    # -- submissions -----------------------------------------------------------------------
    def add(self, verified: Verified, submitter: str) -> int:
        """Store an accepted result; its id. :class:`DuplicateSubmission` when already stored."""
        doc = verified.document
        row = Submission(
            content_hash=verified.content_hash,
            accepted_at=_now(),
            submitter=submitter,
            preset=verified.preset,
            family=verified.track.family,
            method=verified.method,
            group_key=verified.group_key,
            seed=doc["seed"],
            recipe=verified.recipe,
            git_commit=doc["environment"]["git_commit"],
            club_version=doc["environment"]["packages"]["club"],
            device=verified.compute["device"],
            wall_seconds=verified.compute["wall_seconds"],
            peak_memory_bytes=verified.compute["peak_memory_bytes"],
            trainable_parameters=verified.compute["trainable_parameters"],
            derived=json.dumps({"summary": verified.summary, "curve": verified.curve, "config": verified.config}, allow_nan=False),
            document=verified.canonical,
        )
        existing = self._id_of(verified.content_hash)
        if existing is not None:
            raise DuplicateSubmission(f"duplicate: entry {existing} holds the same result (content hash {verified.content_hash[:16]}…)")
        try:
            with self.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            existing = self._id_of(verified.content_hash)
            if existing is None:
                raise
            raise DuplicateSubmission(f"duplicate: entry {existing} holds the same result (content hash {verified.content_hash[:16]}…)") from None
        return row.id

    def _id_of(self, content_hash: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(Submission.id).where(Submission.content_hash == content_hash))

    def presets(self) -> list[tuple[str, str, int]]:
        """``(preset, family, number of submissions)`` of every board, by preset name."""
        with self.sessions() as session:
            rows = session.execute(
                select(Submission.preset, Submission.family, func.count()).group_by(Submission.preset, Submission.family).order_by(Submission.preset)
            )
            return [(preset, family, count) for preset, family, count in rows]

    def board(self, preset: str) -> Board | None:
        """Every accepted submission of ``preset`` (documents left out) and their latest verification."""
        with self.sessions() as session:
            submissions = list(session.scalars(select(Submission).where(Submission.preset == preset).order_by(Submission.id)))
            if not submissions:
                return None
            latest = self._latest_verifications(session, [s.id for s in submissions])
        return Board(preset, submissions[0].family, submissions, latest)

    def submission(self, entry: int, with_document: bool = True) -> Submission | None:
        from sqlalchemy.orm import undefer

        with self.sessions() as session:
            query = select(Submission).where(Submission.id == entry)
            if with_document:
                query = query.options(undefer(Submission.document))
            return session.scalar(query)

    # -- verifications ---------------------------------------------------------------------
    def add_verification(self, entry: int, outcome: str, first_differing_step: int | None, detail: str, commit: str) -> Verification:
        row = Verification(
            submission_id=entry, checked_at=_now(), outcome=outcome, first_differing_step=first_differing_step, detail=detail, commit=commit
        )
        with self.sessions.begin() as session:
            session.add(row)
        return row

    def verifications(self, entry: int) -> list[Verification]:
        with self.sessions() as session:
            return list(session.scalars(select(Verification).where(Verification.submission_id == entry).order_by(Verification.id)))

    @staticmethod
    def _latest_verifications(session: Session, ids: list[int]) -> dict[int, Verification]:
        latest: dict[int, Verification] = {}
        for row in session.scalars(select(Verification).where(Verification.submission_id.in_(ids)).order_by(Verification.id)):
            latest[row.submission_id] = row
        return latest

    # -- tokens ----------------------------------------------------------------------------
    def create_token(self, name: str) -> str:
        """A new secret for submitter ``name`` (shown once; only its SHA-256 is stored)."""
        if not name.strip():
            raise ValueError("a token needs a non-empty name")
        secret = "club_" + secrets.token_urlsafe(32)
        try:
            with self.sessions.begin() as session:
                session.add(Token(name=name, token_hash=_sha256(secret), created_at=_now()))
        except IntegrityError:
            raise ValueError(f"a token named {name!r} already exists") from None
        return secret

    def token_name(self, secret: str) -> str | None:
        """The name of the token whose secret is ``secret``, compared in constant time; ``None`` if none."""
        digest = _sha256(secret)
        with self.sessions() as session:
            row = session.scalar(select(Token).where(Token.token_hash == digest))
        if row is None or not hmac.compare_digest(row.token_hash, digest):
            return None
        return row.name
