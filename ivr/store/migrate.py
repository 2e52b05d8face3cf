"""Schema migrations with Alembic, run from code (no alembic.ini to keep next to the data).

A new migration: copy `migrations/versions/0001_calls.py` to the next number, set `revision`
and `down_revision`, write its `upgrade()`/`downgrade()` and change `ivr.store.schema` to
match; `tests/test_store.py` fails while the two disagree.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

logging.getLogger("alembic").setLevel(logging.WARNING)  # its per-step lines: ours says enough

from alembic import command  # noqa: E402 - after quieting its import-time log lines
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
PG_MIGRATION_LOCK = 0x1F0C_A115  # advisory lock id: one process migrates at a time

log = logging.getLogger("ivr.store")


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head() -> str:
    """This code's newest revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(connection: sa.Connection) -> tuple[str, ...]:
    """The revision(s) the database is at (empty for a new database)."""
    return MigrationContext.configure(connection).get_current_heads()


def upgrade(engine: sa.Engine, where: str, migrate: bool = True) -> None:
    """Bring the database to this code's head (with `migrate`; else only check that it is
    there); refuse a database newer than the code."""
    from ivr.store.store import StoreError

    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    newest = script.get_current_head()
    with engine.begin() as conn:
        if migrate and conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_MIGRATION_LOCK})
        at = current(conn)
        newer = [rev for rev in at if rev not in known]
        if newer:
            raise StoreError(
                f"the call store {where} has schema revision {', '.join(newer)}, which this "
                f"version of ivr does not know (its newest is {newest}): upgrade ivr, or give "
                "--store another database")
        if at == (newest,):
            return
        if not migrate:
            raise StoreError(f"the call store {where} is at schema revision "
                             f"{', '.join(at) or '(empty)'}, not {newest}: `ivr serve` "
                             "upgrades it when it starts")
        command.upgrade(alembic_config(conn), "head")
        log.info("call store %s: schema upgraded from %s to %s", where,
                 ", ".join(at) or "(empty)", newest)
