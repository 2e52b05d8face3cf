"""How well menus understand callers' own words: each labelled utterance is played as a caller
turn into a fresh `DialogEngine` of its plan, standing at its menu, and the decision the dialog
makes is compared with the label (a choice key, or `none`: the caller must not be routed).

The same engine as on calls, with and without matching by meaning, so the gain is visible."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ivr.dialog.engine import DialogEngine
from ivr.dialog.menus import MenuMeaning
from ivr.dialplan.loader import LoadedPlan, load_dialplan
from ivr.dialplan.model import MenuNode
from ivr.errors import IvrError
from ivr.events import EventLog, ManualClock
from ivr.kb.embedder import CachingEmbedder, Embedder
from ivr.safety.check import CALM_REPLY
from ivr.kb.retriever import KBEntry, Retriever


@dataclass
class MenuReport:
    """Counts per outcome: routed right, routed wrong (the costly error), not routed although
    the caller named a choice, and off-menu talk correctly (or wrongly) left alone."""

    name: str
    right: int = 0
    wrong: int = 0
    missed: int = 0
    none_kept: int = 0
    none_routed: int = 0
    guarded: int = 0      # a hand-off guard acted instead (the menu never saw the turn)
    asked: int = 0        # asked "is your question ...?" or which of two questions was meant
    answered: int = 0     # a caller who named a choice heard a knowledge-base answer instead
    none_answered: int = 0   # off-menu talk answered from the knowledge base
    errors: list[str] = field(default_factory=list)

    @property
    def routable(self) -> int:
        return self.right + self.wrong + self.missed + self.answered

    def line(self) -> str:
        total = self.routable + self.none_kept + self.none_routed + self.none_answered
        return (f"{self.name:<34} routed right {self.right}/{self.routable} "
                f"({self.right / max(self.routable, 1):.2f}), wrong {self.wrong}, "
                f"not understood {self.missed}, answered from the knowledge base "
                f"{self.answered}; off-menu left alone {self.none_kept}/"
                f"{self.none_kept + self.none_routed + self.none_answered} (answered "
                f"{self.none_answered}); asked which question was meant {self.asked}; "
                f"taken by a guard {self.guarded}; n={total + self.asked + self.guarded}")


class MenuRunner:
    """Plans, their knowledge and menu indexes, built once for a whole set."""

    def __init__(self, embedder: Embedder | None = None, plans_dir: Path = Path("dialplans")):
        if embedder is None:
            from ivr.kb.embedder import E5Embedder
            embedder = E5Embedder()
        self.embedder = embedder if isinstance(embedder, CachingEmbedder) \
            else CachingEmbedder(embedder)
        self.plans_dir = plans_dir
        self._plans: dict[str, tuple[LoadedPlan, Retriever, MenuMeaning]] = {}

    def plan(self, name: str) -> tuple[LoadedPlan, Retriever, MenuMeaning]:
        if name not in self._plans:
            loaded = load_dialplan(self.plans_dir / f"{name}.yaml")
            entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer))
                       for k in loaded.plan.knowledge]
            self._plans[name] = (loaded, Retriever(entries, self.embedder,
                                                   loaded.plan.answers.min_score),
                                 MenuMeaning(loaded.plan, self.embedder))
        return self._plans[name]

    def decide(self, plan: str, node: str, lang: str, text: str, meaning: bool) -> str:
        """The key the dialog routes `text` to at menu `node`, or `none`, or `answer:<entry>`
        (a knowledge-base answer at the menu, `answer:documents` from the plan's documents), or
        `ask:<reason>` (the caller is asked which question they meant), or `guard:<reason>`."""
        loaded, retriever, menus = self.plan(plan)
        menu = loaded.plan.nodes.get(node)
        if not isinstance(menu, MenuNode):
            raise IvrError(f"{plan}: node {node!r} is not a menu")
        engine = DialogEngine(loaded.plan, retriever, None, EventLog(ManualClock()),
                              menus=menus if meaning else None)
        engine.state.node, engine.state.language = node, lang
        step = engine.on_text(text, lang)
        if step.reason == "safety_check":   # asked whether they are safe, the caller says so
            step = engine.on_text(CALM_REPLY[lang], lang)
        if step.reason in ("menu_choice", "menu_answer"):   # routed, or answered there at once
            target = step.evidence.get("choice", step.node)
            return next((c.key or f"#{i}" for i, c in enumerate(menu.choices)
                         if c.next == target), "?")
        if step.reason in ("menu_no_match", "menu_repeat"):
            return "none"
        if step.reason == "menu_question":
            return f"answer:{step.evidence['entry']}"
        if step.reason == "document_answer":
            return "answer:documents"
        if step.reason in ("kb_confirm", "kb_choose"):
            return f"ask:{step.reason}"
        return f"guard:{step.reason}"


def load_menu_set(path: Path, section: str) -> list[dict]:
    try:
        rows = (yaml.safe_load(path.read_text(encoding="utf-8")) or {})[section]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise IvrError(f"{path}: no readable '{section}' list ({exc})") from None
    for i, row in enumerate(rows):
        if not {"plan", "node", "lang", "text", "expect"} <= set(row):
            raise IvrError(f"{path}: {section}[{i}] needs plan, node, lang, text and expect")
    return rows


def evaluate_menus(rows: list[dict], runner: MenuRunner, meaning: bool) -> dict[str, MenuReport]:
    """Reports per plan and language, plus 'all'."""
    reports: dict[str, MenuReport] = {}
    for row in rows:
        expect = "none" if row["expect"] in (None, "none") else str(row["expect"])
        got = runner.decide(row["plan"], row["node"], row["lang"], row["text"], meaning)
        for name in (f"{row['plan']} [{row['lang']}]", "all"):
            report = reports.setdefault(name, MenuReport(name))
            if got.startswith("guard:"):
                report.guarded += 1
            elif got.startswith("ask:"):
                report.asked += 1
            elif expect == "none":
                if got == "none":
                    report.none_kept += 1
                elif got.startswith("answer:"):
                    report.none_answered += 1
                else:
                    report.none_routed += 1
            elif got == expect:
                report.right += 1
            elif got == "none":
                report.missed += 1
            elif got.startswith("answer:"):
                report.answered += 1
            else:
                report.wrong += 1
            if got != expect and name == "all":
                report.errors.append(f"{row['plan']} [{row['lang']}] {row['text']!r}: "
                                     f"expected {expect}, got {got}")
    return reports


def outcome_counts(reports: dict[str, MenuReport]) -> Counter:
    """The 'all' report as a Counter (for tests and summaries)."""
    r = reports["all"]
    return Counter(right=r.right, wrong=r.wrong, missed=r.missed, none_kept=r.none_kept,
                   none_routed=r.none_routed, guarded=r.guarded, asked=r.asked,
                   answered=r.answered,
                   none_answered=r.none_answered)
