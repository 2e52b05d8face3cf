"""Load and check dialplan files; every problem is reported as file:line:column."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from ivr.dialplan.model import Dialplan
from ivr.dialplan.yaml_positions import parse, position
from ivr.errors import DialplanError


@dataclass(frozen=True)
class LoadedPlan:
    """A validated plan with where it came from and the hash call records keep."""

    plan: Dialplan
    path: Path
    sha256: str


def load_dialplan(path: Path) -> LoadedPlan:
    """Read, parse and validate; raises DialplanError listing every problem found."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DialplanError(f"{path}: cannot read dialplan: {exc.strerror}") from exc
    try:
        text = raw.decode("utf-8")
        data, root = parse(text)
    except UnicodeDecodeError as exc:
        raise DialplanError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise DialplanError(f"{where}: invalid YAML: {problem}") from exc
    if not isinstance(data, dict):
        raise DialplanError(f"{path}:1:1: expected a mapping with 'name', 'prompts', 'transfer', ..."
                            f" found {type(data).__name__}")
    try:
        plan = Dialplan.model_validate(data)
    except ValidationError as exc:
        raise DialplanError("\n".join(_describe(path, root, err) for err in exc.errors())) from exc
    return LoadedPlan(plan, path, hashlib.sha256(raw).hexdigest())


def _describe(path: Path, root: yaml.Node | None, error: dict) -> str:
    loc = tuple(error["loc"])
    line, column = position(root, loc)
    field = ".".join(str(p) for p in loc) or "(top level)"
    message = error["msg"].removeprefix("Value error, ")
    found = "" if error["type"] in ("missing", "value_error") else f" (found {error.get('input')!r:.60})"
    return f"{path}:{line}:{column}: {field}: {message}{found}"
