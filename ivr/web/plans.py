"""Dialplan files as the console edits them: validation with the loader `ivr dialplan check`
uses (same messages), atomic writes that never put a broken plan over the live file, diffs,
and the history of saved versions in the call store (who, when, hash) for rollback.

The running `ivr serve` hot-reloads a plan from its file, so writing the file is going live.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ivr.dialplan.loader import load_dialplan
from ivr.errors import DialplanError, IvrError
from ivr.store import schema
from ivr.web.accounts import utcnow

FOUND_ON_DISK = "the file as found on disk"  # note of a version the console did not write


class PlanNotFound(IvrError):
    """No plan file of that name in the dialplans folder."""


class EditConflict(IvrError):
    """The live file changed since the editor loaded it."""


@dataclass(frozen=True)
class Check:
    """A plan text's validation: `problems` empty means valid (then `sha256` is the hash calls
    will record, plan and knowledge file together, and `name` the plan's name)."""

    problems: list[str]
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None
    name: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Saved:
    """What a save did: `check` failed (nothing written), or the file changed from `before`
    to `after` (equal: nothing to do) and `version` is its history id."""

    check: Check
    before: str
    after: str
    version: int | None = None


@dataclass(frozen=True)
class DiffLine:
    kind: str  # file | hunk | add | del | same
    text: str


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def diff(before: str, after: str, name: str) -> list[DiffLine]:
    """A unified diff of two plan texts, line by line with each line's kind."""
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                     f"{name} (live)", f"{name} (edited)", lineterm=""):
        kind = ("file" if line.startswith(("---", "+++")) else "hunk" if line.startswith("@@")
                else "add" if line.startswith("+") else "del" if line.startswith("-")
                else "same")
        lines.append(DiffLine(kind, line))
    return lines


class PlanFiles:
    """The `*.yaml` plans directly in one folder, and their saved versions in the store."""

    def __init__(self, folder: Path, engine: sa.Engine) -> None:
        self.folder = folder
        self.engine = engine
        self._write_lock = threading.Lock()

    def names(self) -> list[str]:
        return sorted(p.name for p in self.folder.glob("*.yaml")
                      if p.is_file() and not p.name.startswith("."))

    def path(self, name: str) -> Path:
        """The live file of plan `name` (PlanNotFound unless it is one of `names()`)."""
        if name not in self.names():
            raise PlanNotFound(f"no dialplan {name!r} in {self.folder}")
        return self.folder / name

    def read(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def check_live(self, name: str) -> Check:
        """The live file's validation, as `ivr dialplan check` prints it."""
        return _validate(self.path(name), self.path(name))

    def check(self, name: str, text: str) -> Check:
        """Validate an edited text of plan `name` without touching the live file."""
        temp = self._temp_copy(self.path(name), text)
        try:
            return _validate(temp, self.path(name))
        finally:
            temp.unlink(missing_ok=True)

    def save(self, name: str, text: str, user: str, base_sha256: str | None = None,
             note: str = "") -> Saved:
        """Validate `text` and, if valid, make it the live file atomically (temp file, fsync,
        rename) and record it as a version. A broken text is never written over the live
        file. `base_sha256`: the live text the editor started from (EditConflict if the file
        changed since)."""
        live = self.path(name)
        with self._write_lock:
            before = live.read_text(encoding="utf-8")
            if base_sha256 and sha256_text(before) != base_sha256:
                raise EditConflict(f"{name} changed on disk since you opened it: reload it, "
                                   "then make your edit again")
            temp = self._temp_copy(live, text)
            try:
                result = _validate(temp, live)
                if not result.ok or text == before:
                    return Saved(result, before, before)
                self._remember(name, before)
                os.replace(temp, live)
                _fsync_dir(live.parent)
            finally:
                temp.unlink(missing_ok=True)
            version = self._record(name, text, user, note)
        return Saved(result, before, text, version)

    def rollback(self, name: str, version_id: int, user: str) -> Saved:
        """Make a saved version live again (validated like any save)."""
        version = self.version(name, version_id)
        if version is None:
            raise PlanNotFound(f"no version {version_id} of {name}")
        return self.save(name, version["content"], user, note=f"rollback to version {version_id}")

    def history(self, name: str) -> list[dict[str, Any]]:
        """Saved versions of plan `name`, newest first (without their text)."""
        v = schema.dialplan_versions.c
        query = (sa.select(v.id, v.sha256, v.saved_by, v.saved_at, v.note)
                 .where(v.plan == name).order_by(v.id.desc()))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def version(self, name: str, version_id: int) -> dict[str, Any] | None:
        v = schema.dialplan_versions
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(v).where(v.c.plan == name, v.c.id == version_id)
                               ).mappings().first()
        return dict(row) if row else None

    # ---- internals ------------------------------------------------------------------------
    def _temp_copy(self, live: Path, text: str) -> Path:
        """`text` in a hidden file beside the live one (so a knowledge_file resolves the
        same), with the live file's permissions, flushed to disk."""
        fd, name = tempfile.mkstemp(dir=live.parent, prefix=f".{live.name}.", suffix=".console")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(text.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            os.chmod(name, live.stat().st_mode & 0o7777)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise
        return Path(name)

    def _remember(self, name: str, live_text: str) -> None:
        """Before the first save, or after an edit outside the console, keep the live text as
        a version, so a rollback can always return to it."""
        v = schema.dialplan_versions.c
        with self.engine.connect() as conn:
            last = conn.scalar(sa.select(v.sha256).where(v.plan == name)
                               .order_by(v.id.desc()).limit(1))
        if last != sha256_text(live_text):
            self._record(name, live_text, "-", FOUND_ON_DISK)

    def _record(self, name: str, text: str, user: str, note: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(schema.dialplan_versions.insert().values(
                plan=name, sha256=sha256_text(text), content=text, saved_by=user,
                saved_at=utcnow(), note=note)).inserted_primary_key[0]


def _validate(path: Path, shown_as: Path) -> Check:
    """Load `path` with the dialplan loader; messages name `shown_as` (the live file)."""
    try:
        loaded = load_dialplan(path)
    except DialplanError as exc:
        return Check(str(exc).replace(str(path), str(shown_as)).splitlines())
    return Check([], [w.replace(str(path), str(shown_as)) for w in loaded.warnings],
                 loaded.sha256, loaded.plan.name)


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
