"""Managing console users (admins, on the Users page and with `ivr console user ...`): list,
change a role, reset a password, disable, enable, remove.

Whatever ends a user's right to their sessions ends the sessions: disabling, removing and a
new password (a stolen session must not outlive the reset). A role change applies to the
next request of every session (the role is read with the session). No change may leave the
console without an enabled admin: the last one cannot be demoted, disabled or removed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from ivr.store import schema
from ivr.web.accounts import AccountError, aware, check_role, hash_password


@dataclass(frozen=True)
class UserInfo:
    """A console user as admins see it (never the password hash)."""

    name: str
    role: str
    disabled: bool
    locked_until: dt.datetime | None
    created_at: dt.datetime
    sessions: int

    @property
    def locked(self) -> bool:
        """Locked out now after too many wrong passwords."""
        return self.locked_until is not None and self.locked_until > dt.datetime.now(
            dt.timezone.utc)


CHANGES = {"role": "is now {value}", "password": "has a new password (sessions ended)",
           "disable": "is disabled (sessions ended)", "enable": "is enabled",
           "remove": "is removed"}
"""The changes `UserAdmin.apply` makes, and how each is reported."""


class LastAdminError(AccountError):
    """The change would leave no enabled admin."""


class UserAdmin:
    """User management on a call store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def users(self) -> list[UserInfo]:
        """Every user, by name, with how many live sessions each has."""
        users, sessions = schema.console_users, schema.console_sessions
        live = (sa.select(sa.func.count()).where(
            sessions.c.user_name == users.c.name,
            sessions.c.expires_at > dt.datetime.now(dt.timezone.utc)).scalar_subquery())
        query = sa.select(users.c.name, users.c.role, users.c.disabled, users.c.locked_until,
                          users.c.created_at, live.label("sessions")).order_by(users.c.name)
        with self.engine.connect() as conn:
            return [UserInfo(r.name, r.role, bool(r.disabled), aware(r.locked_until),
                             aware(r.created_at), r.sessions) for r in conn.execute(query)]

    def set_role(self, name: str, role: str) -> None:
        """Change `name`'s role (not the last enabled admin's to qa)."""
        check_role(role)
        with self.engine.begin() as conn:
            self._existing(conn, name)
            if role != "admin":
                self._keep_an_admin(conn, name, f"demote {name}")
            self._update(conn, name, role=role)

    def set_password(self, name: str, password: str) -> None:
        """A new password for `name` (argon2id); lifts a lock-out and ends their sessions."""
        password_hash = hash_password(password)
        with self.engine.begin() as conn:
            self._existing(conn, name)
            self._update(conn, name, password_hash=password_hash, failed_logins=0,
                         locked_until=None)
            self._end_sessions(conn, name)

    def disable(self, name: str) -> None:
        """`name` can no longer log in, and their sessions end now."""
        with self.engine.begin() as conn:
            self._existing(conn, name)
            self._keep_an_admin(conn, name, f"disable {name}")
            self._update(conn, name, disabled=True)
            self._end_sessions(conn, name)

    def enable(self, name: str) -> None:
        """`name` may log in again."""
        with self.engine.begin() as conn:
            self._existing(conn, name)
            self._update(conn, name, disabled=False)

    def remove(self, name: str) -> None:
        """Delete `name` and their sessions (the dialplan history and the raw views' audit log
        keep the name as written)."""
        users = schema.console_users
        with self.engine.begin() as conn:
            self._existing(conn, name)
            self._keep_an_admin(conn, name, f"remove {name}")
            self._end_sessions(conn, name)
            conn.execute(users.delete().where(users.c.name == name))

    def apply(self, change: str, name: str, value: str = "") -> str:
        """One of CHANGES to `name` (`value`: the role or the password); says what was done
        (AccountError for an unknown change, user or value)."""
        actions = {"role": lambda: self.set_role(name, value),
                   "password": lambda: self.set_password(name, value),
                   "disable": lambda: self.disable(name), "enable": lambda: self.enable(name),
                   "remove": lambda: self.remove(name)}
        if change not in actions:
            raise AccountError(f"unknown change {change!r}: use one of {', '.join(CHANGES)}")
        actions[change]()
        return CHANGES[change].format(value=value)

    # ---- helpers -------------------------------------------------------------------------------
    @staticmethod
    def _existing(conn: sa.Connection, name: str) -> None:
        users = schema.console_users
        if conn.scalar(sa.select(users.c.name).where(users.c.name == name)) is None:
            raise AccountError(f"there is no user {name!r}")

    @staticmethod
    def _keep_an_admin(conn: sa.Connection, name: str, change: str) -> None:
        """LastAdminError if `name` is the only enabled admin. The admins' rows are locked
        (PostgreSQL) so that two admins demoting each other at once cannot both succeed."""
        users = schema.console_users
        admins = list(conn.scalars(
            sa.select(users.c.name).where(users.c.role == "admin",
                                          users.c.disabled.is_(sa.false()))
            .with_for_update()))
        if admins == [name]:
            raise LastAdminError(f"cannot {change}: {name} is the only enabled admin (make "
                                 "another user admin first)")

    @staticmethod
    def _update(conn: sa.Connection, name: str, **values: object) -> None:
        users = schema.console_users
        conn.execute(users.update().where(users.c.name == name).values(**values))

    @staticmethod
    def _end_sessions(conn: sa.Connection, name: str) -> None:
        sessions = schema.console_sessions
        conn.execute(sessions.delete().where(sessions.c.user_name == name))
