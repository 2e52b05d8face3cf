"""The QA rubric: which criteria score a call, their titles, weights and parameters, from a YAML
file the admin edits (the default ships as `ivr/qa/rubric.yaml`). Every problem in the file is
reported as file:line:column, the field, what is wrong and what was found."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ivr.dialplan.yaml_positions import parse, position
from ivr.errors import IvrError
from ivr.qa import criteria, criteria_timing
from ivr.qa.call_facts import CallFacts, Score

DEFAULT_RUBRIC = Path(__file__).with_name("rubric.yaml")


@dataclass(frozen=True)
class Check:
    """A criterion the rubric can name: its parameters' model and the function that scores."""

    params: type[criteria.Params]
    score: Callable[[CallFacts, Any], Score]


CHECKS: dict[str, Check] = {
    "greeting": Check(criteria.GreetingParams, criteria.greeting),
    "closing": Check(criteria.ClosingParams, criteria.closing),
    "resolution": Check(criteria.ResolutionParams, criteria.resolution),
    "emergency": Check(criteria.EmergencyParams, criteria.emergency),
    "latency": Check(criteria_timing.LatencyParams, criteria_timing.latency),
    "barge_ins": Check(criteria_timing.BargeInParams, criteria_timing.barge_ins),
    "silences": Check(criteria_timing.SilenceParams, criteria_timing.silences),
    "repeats": Check(criteria_timing.RepeatParams, criteria_timing.repeats),
    "sentiment": Check(criteria.SentimentParams, criteria.sentiment),
    "survey": Check(criteria.SurveyParams, criteria.survey),
}
"""Every criterion id a rubric may use."""


class RubricError(IvrError):
    """A rubric file that cannot be used; the message lists every problem with file:line."""


class _CriterionFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    title: str = Field(min_length=1)
    weight: float = Field(ge=0)
    params: dict[str, Any] = Field(default_factory=dict)


class _RubricFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    criteria: list[_CriterionFile] = Field(min_length=1)


@dataclass(frozen=True)
class Criterion:
    """One criterion of a loaded rubric, its parameters validated."""

    id: str
    title: str
    weight: float
    params: criteria.Params

    def score(self, call: CallFacts) -> Score:
        return CHECKS[self.id].score(call, self.params)


@dataclass(frozen=True)
class Rubric:
    """A loaded rubric: its name (kept with every score) and criteria in file order."""

    name: str
    path: Path
    criteria: tuple[Criterion, ...]


def load_rubric(path: Path) -> Rubric:
    """Read and validate a rubric file; RubricError lists every problem found."""
    try:
        data, root = parse(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RubricError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RubricError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise RubricError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}"
                          ) from None
    if not isinstance(data, dict):
        raise RubricError(f"{path}:1:1: expected a mapping with 'name' and 'criteria', found "
                          f"{'an empty file' if data is None else type(data).__name__}")
    try:
        parsed = _RubricFile.model_validate(data)
    except ValidationError as exc:
        raise RubricError("\n".join(_problem(path, root, tuple(e["loc"]), _message(e))
                                    for e in exc.errors())) from None
    loaded, problems, seen = [], [], set()
    for i, item in enumerate(parsed.criteria):
        where = ("criteria", i)
        check = CHECKS.get(item.id)
        if check is None:
            problems.append(_problem(path, root, (*where, "id"), f"unknown criterion "
                                     f"'{item.id}', expected one of: {', '.join(CHECKS)}"))
        elif item.id in seen:
            problems.append(_problem(path, root, (*where, "id"), f"'{item.id}' is already "
                                     "in the rubric (each criterion once)"))
        else:
            seen.add(item.id)
            try:
                loaded.append(Criterion(item.id, item.title, item.weight,
                                        check.params.model_validate(item.params)))
            except ValidationError as exc:
                takes = (f"unknown parameter; {item.id} takes: "
                         f"{', '.join(check.params.model_fields)}")
                problems += [_problem(path, root, (*where, "params", *e["loc"]),
                                      takes if e["type"] == "extra_forbidden" else _message(e))
                             for e in exc.errors()]
    if problems:
        raise RubricError("\n".join(problems))
    if not any(c.weight > 0 for c in loaded):
        raise RubricError(f"{path}:{position(root, ('criteria',))[0]}: criteria: every weight "
                          "is 0; give at least one criterion a weight")
    return Rubric(parsed.name, path, tuple(loaded))


@functools.lru_cache(maxsize=1)
def default_rubric() -> Rubric:
    """The shipped rubric (read once per process)."""
    return load_rubric(DEFAULT_RUBRIC)


def _problem(path: Path, root: yaml.Node | None, loc: tuple, message: str) -> str:
    line, column = position(root, loc)
    return f"{path}:{line}:{column}: {'.'.join(str(p) for p in loc) or '(top level)'}: {message}"


def _message(error: Any) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field"
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "missing":
        return message
    if error["type"] == "string_type" and isinstance(error.get("input"), (bool, int, float)):
        message += " (YAML reads unquoted yes/no/on/off as true/false: quote it, \"yes\")"
    return f"{message} (found {error.get('input')!r:.60})"
