"""Alembic environment of the leaderboard database: run programmatically by ``store.migrate``
on the connection it passes in ``config.attributes["connection"]``."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
