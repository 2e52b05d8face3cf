"""Console users and their sessions, kept in the call store: argon2 password hashes, roles,
lock-out after repeated failures, server-side sessions with a CSRF token each.

No HTTP here: `ivr.web.auth` puts this behind cookies and forms.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ivr.errors import IvrError
from ivr.store import schema

ROLES = ("admin", "qa")
MAX_FAILURES = 5                          # wrong passwords in a row before the lock-out
LOCKOUT = dt.timedelta(minutes=15)
SESSION_TTL = dt.timedelta(hours=12)
MIN_PASSWORD = 8
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")

_hasher = PasswordHasher()
# verified against when the name is unknown, so a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(IvrError):
    """A user cannot be created as asked; the message says why."""


@dataclass(frozen=True)
class User:
    """A logged-in console user."""

    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class Session:
    """A live login: who, and the CSRF token its forms carry."""

    user: User
    csrf_token: str


@dataclass(frozen=True)
class LoginResult:
    """`user` on success; otherwise `locked_until` when the account is locked out, or
    `disabled` when the password was right but an admin disabled the account."""

    user: User | None = None
    locked_until: dt.datetime | None = None
    disabled: bool = False


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC, PostgreSQL aware datetimes: always aware."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> None:
    """AccountError unless `name` is a valid user name."""
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(f"user name {name!r}: use letters, digits and . _ @ - "
                           "(up to 64, starting with a letter or digit)")


def check_role(role: str) -> None:
    """AccountError unless `role` is one of ROLES."""
    if role not in ROLES:
        raise AccountError(f"role {role!r}: use one of {', '.join(ROLES)}")


def hash_password(password: str) -> str:
    """The argon2id hash of a new password (AccountError if it is too short)."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


class Accounts:
    """Users and sessions on a call store's engine."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add_user(self, name: str, role: str, password: str) -> None:
        """Create a user; AccountError for a bad name, role, short password or a taken name."""
        check_name(name)
        check_role(role)
        password_hash = hash_password(password)
        users = schema.console_users
        with self.engine.begin() as conn:
            if conn.scalar(sa.select(users.c.name).where(users.c.name == name)):
                raise AccountError(f"user {name!r} exists already")
            conn.execute(users.insert().values(name=name, role=role,
                                               password_hash=password_hash,
                                               created_at=utcnow()))

    def count(self) -> int:
        """How many users there are (0: nobody can log in yet)."""
        with self.engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(schema.console_users))

    def login(self, name: str, password: str) -> LoginResult:
        """Check a password. Each wrong one counts; the MAX_FAILURES-th locks the account for
        LOCKOUT, during which even the right password is refused."""
        users = schema.console_users
        now = utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(users).where(users.c.name == name)).mappings().first()
            if row is None:
                _verify(_DUMMY_HASH, password)
                return LoginResult()
            locked_until = aware(row["locked_until"])
            if locked_until is not None and locked_until > now:
                return LoginResult(locked_until=locked_until)
            if _verify(row["password_hash"], password):
                if row["disabled"]:
                    return LoginResult(disabled=True)
                values: dict = {"failed_logins": 0, "locked_until": None}
                if _hasher.check_needs_rehash(row["password_hash"]):
                    values["password_hash"] = _hasher.hash(password)
                conn.execute(users.update().where(users.c.name == name).values(values))
                return LoginResult(user=User(row["name"], row["role"]))
            failures = row["failed_logins"] + 1
            if failures >= MAX_FAILURES:
                lock = now + LOCKOUT
                conn.execute(users.update().where(users.c.name == name).values(
                    failed_logins=0, locked_until=lock))
                return LoginResult(locked_until=lock)
            conn.execute(users.update().where(users.c.name == name).values(
                failed_logins=failures))
            return LoginResult()

    def start_session(self, user: User) -> str:
        """A new session for `user`; returns the cookie value (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        sessions = schema.console_sessions
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.expires_at < now))
            conn.execute(sessions.insert().values(
                token_sha256=_token_hash(token), user_name=user.name,
                csrf_token=secrets.token_urlsafe(32), created_at=now,
                expires_at=now + SESSION_TTL))
        return token

    def session(self, token: str) -> Session | None:
        """The live session a cookie value names, or None (unknown or expired)."""
        sessions, users = schema.console_sessions, schema.console_users
        query = (sa.select(users.c.name, users.c.role, sessions.c.csrf_token,
                           sessions.c.expires_at)
                 .join(users, users.c.name == sessions.c.user_name)
                 .where(sessions.c.token_sha256 == _token_hash(token),
                        users.c.disabled.is_(sa.false())))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or aware(row.expires_at) <= utcnow():
            return None
        return Session(User(row.name, row.role), row.csrf_token)

    def end_session(self, token: str) -> None:
        """Log out: the session is gone from the store."""
        sessions = schema.console_sessions
        with self.engine.begin() as conn:
            conn.execute(sessions.delete().where(sessions.c.token_sha256 == _token_hash(token)))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
