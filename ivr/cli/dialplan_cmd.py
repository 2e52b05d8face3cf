"""`ivr dialplan check|schema`: what admins run before and while editing a dialplan."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ivr.errors import DialplanError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("dialplan", help="check dialplans or export their JSON Schema",
                            description="Work with dialplan YAML files.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="validate dialplan files",
        description="Validate each FILE and print every problem as file:line:column: field: "
                    "message. Exit status 0 when all are valid, 1 otherwise.")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=run_check)
    schema = actions.add_parser(
        "schema", help="print the dialplan JSON Schema (for editor autocompletion)",
        description="Print the JSON Schema of the dialplan language. Point your editor's YAML "
                    "plugin at it, e.g. '# yaml-language-server: $schema=dialplan.schema.json'.")
    schema.add_argument("-o", "--out", type=Path, help="write to a file instead of stdout")
    schema.set_defaults(func=run_schema)


def run_check(args: argparse.Namespace) -> int:
    from ivr.dialplan.loader import load_dialplan

    failed = 0
    for path in args.files:
        try:
            loaded = load_dialplan(path)
        except DialplanError as exc:
            failed += 1
            print(exc)
            continue
        plan = loaded.plan
        for note in loaded.warnings:
            print(note)
        print(f"{path}: ok ({plan.name}: {len(plan.nodes)} nodes, {len(plan.knowledge)} "
              f"knowledge entries, languages {', '.join(plan.languages)}; "
              f"sha256 {loaded.sha256[:12]})")
    return 1 if failed else 0


def run_schema(args: argparse.Namespace) -> int:
    from ivr.dialplan.model import Dialplan

    text = json.dumps(Dialplan.model_json_schema(), indent=2, ensure_ascii=False)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    else:
        print(text)
    return 0
