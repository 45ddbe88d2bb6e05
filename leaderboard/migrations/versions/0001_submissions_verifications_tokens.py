"""Submissions, verification outcomes and tokens; submissions and verifications append-only.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APPEND_ONLY = ("submissions", "verifications")


def upgrade() -> None:
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitter", sa.Text, nullable=False),
        sa.Column("preset", sa.String(200), nullable=False, index=True),
        sa.Column("family", sa.String(32), nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("group_key", sa.String(64), nullable=False, index=True),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("recipe", sa.String(16), nullable=False),
        sa.Column("git_commit", sa.Text, nullable=False),
        sa.Column("club_version", sa.Text, nullable=False),
        sa.Column("device", sa.Text, nullable=False),
        sa.Column("wall_seconds", sa.Float, nullable=False),
        sa.Column("peak_memory_bytes", sa.BigInteger, nullable=False),
        sa.Column("trainable_parameters", sa.BigInteger, nullable=True),
        sa.Column("derived", sa.Text, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("submission_id", sa.Integer, sa.ForeignKey("submissions.id"), nullable=False, index=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("first_differing_step", sa.Integer, nullable=True),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("commit", sa.Text, nullable=False),
        sa.CheckConstraint("outcome IN ('reproduced', 'diverged')", name="outcome_is_known"),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION club_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only: accepted rows are never altered or removed', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW EXECUTE FUNCTION club_append_only()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION club_append_only()")
    else:
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: accepted rows are never altered or removed'); END"
                )


def downgrade() -> None:
    raise NotImplementedError("accepted submissions are never removed: the leaderboard has no downgrade")
