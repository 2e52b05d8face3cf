"""Reading the labelled set files the evaluations run on (`tests/data/*.yaml`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ivr.errors import IvrError


def read_set_file(path: Path, what: str) -> Any:
    """The YAML in `path` (an empty file is {}); an unreadable one is an error naming it."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise IvrError(f"{path}: cannot read the {what}: {str(exc).splitlines()[0]}") from exc
