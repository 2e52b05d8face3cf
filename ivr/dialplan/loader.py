"""Load and check dialplan files; every problem is reported as file:line:column, field path,
what was found and what was expected."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from ivr.dialplan.checks import check, warnings
from ivr.dialplan.model import NODE_TYPES, Dialplan, KnowledgeEntry
from ivr.dialplan.yaml_positions import parse, position
from ivr.errors import DialplanError
from ivr.kb.documents import SUFFIXES, document_files


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan with where it came from and the hash call records keep (the plan file
    and its knowledge file and documents together)."""

    plan: Dialplan
    path: Path
    sha256: str
    warnings: tuple[str, ...] = ()
    documents: tuple[Path, ...] = ()
    """The files under the plan's document folders."""


def load_dialplan(path: Path) -> LoadedPlan:
    """Read, parse and validate; raises DialplanError listing every problem found."""
    raw, data, root = _read_yaml(path, expect="a mapping with 'name', 'prompts', 'transfer', "
                                              "'start' and 'nodes'", kind=dict)
    try:
        plan = Dialplan.model_validate(data)
    except ValidationError as exc:
        raise DialplanError("\n".join(_describe(path, root, err) for err in exc.errors())) from exc
    digest = hashlib.sha256(raw)
    if plan.knowledge_file:
        entries, kb_raw = _load_knowledge(path.parent / plan.knowledge_file, path, root)
        digest.update(kb_raw)
        plan = plan.model_copy(update={"knowledge": [*plan.knowledge, *entries]})
    documents = _document_files(plan, path, root)
    for document in documents:
        digest.update(document.relative_to(path.parent).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(document.read_bytes()).digest())
    problems = check(plan)
    if problems:
        raise DialplanError("\n".join(
            f"{_where(path, root, loc)}: {_field(loc)}: {message}" for loc, message in problems))
    notes = tuple(f"{_where(path, root, loc)}: warning: {_field(loc)}: {message}"
                  for loc, message in warnings(plan))
    return LoadedPlan(plan, path, digest.hexdigest(), notes, documents)


def _read_yaml(path: Path, expect: str, kind: type) -> tuple[bytes, Any, yaml.Node | None]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DialplanError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data, root = parse(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DialplanError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        if "expected ',' or" in problem:
            problem += " (inside [...] or {...}, quote text that has ? : , or # in it)"
        raise DialplanError(f"{where}: invalid YAML: {problem}") from exc
    if not isinstance(data, kind):
        raise DialplanError(f"{path}:1:1: expected {expect}, found "
                            f"{'an empty file' if data is None else type(data).__name__}")
    return raw, data, root


def _load_knowledge(kb_path: Path, plan_path: Path, plan_root: yaml.Node | None
                    ) -> tuple[list[KnowledgeEntry], bytes]:
    if not kb_path.exists():
        line, column = position(plan_root, ("knowledge_file",))
        raise DialplanError(f"{plan_path}:{line}:{column}: knowledge_file: {kb_path} not found")
    raw, data, root = _read_yaml(kb_path, expect="a list of entries with id, questions, answer",
                                 kind=list)
    try:
        return TypeAdapter(list[KnowledgeEntry]).validate_python(data), raw
    except ValidationError as exc:
        raise DialplanError("\n".join(_describe(kb_path, root, err, "knowledge.")
                                      for err in exc.errors())) from exc


def _document_files(plan: Dialplan, plan_path: Path, root: yaml.Node | None
                    ) -> tuple[Path, ...]:
    """Every document under the plan's folders; a folder that is missing, or holds no
    readable document, is an error at its line."""
    if plan.documents is None:
        return ()
    found: list[Path] = []
    problems = []
    for i, name in enumerate(plan.documents.folders):
        folder = plan_path.parent / name
        files = document_files(folder) if folder.is_dir() else []
        if not folder.is_dir():
            problems.append((i, f"folder {folder} not found"))
        elif not files:
            problems.append((i, f"no documents in {folder} (expected "
                                f"{', '.join(sorted(SUFFIXES))} files)"))
        found += files
    if problems:
        raise DialplanError("\n".join(
            f"{_where(plan_path, root, ('documents', 'folders', i))}: documents.folders.{i}: "
            f"{message}" for i, message in problems))
    return tuple(dict.fromkeys(found))


def _where(path: Path, root: yaml.Node | None, loc: tuple) -> str:
    line, column = position(root, loc)
    return f"{path}:{line}:{column}"


def _field(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _describe(path: Path, root: yaml.Node | None, error: dict, label: str = "") -> str:
    # Drop the discriminator tag pydantic inserts for node unions ("nodes.x.say.next").
    loc = tuple(p for i, p in enumerate(error["loc"])
                if not (i == 2 and error["loc"][0] == "nodes" and isinstance(p, str)
                        and p in NODE_TYPES))
    message = error["msg"].removeprefix("Value error, ")
    kinds = ", ".join(sorted(NODE_TYPES))
    if error["type"] == "union_tag_invalid":
        loc = (*loc, "type")
        message = f"unknown node type '{error['ctx']['tag']}', expected one of: {kinds}"
    elif error["type"] == "union_tag_not_found":
        message = f"missing 'type', expected one of: {kinds}"
    elif error["type"] == "string_type" and isinstance(error.get("input"), (bool, int, float)):
        message += (" (YAML reads unquoted yes/no/on/off as true/false and 12 as a number: "
                    "quote it, \"yes\" / \"12\")")
    found = "" if error["type"] in _NO_FOUND else f" (found {error.get('input')!r:.60})"
    return f"{_where(path, root, loc)}: {label}{_field(loc)}: {message}{found}"


_NO_FOUND = frozenset({"missing", "value_error", "union_tag_invalid", "union_tag_not_found"})

