"""`ivr eval slots`: how many slots a plan takes from one sentence, through the dialog that runs
on calls.

A set (`tests/data/slots_dev.yaml`, `slots_holdout.yaml`) lists sentences callers say at a node
of the plan, each with every slot value it carries; `today` fixes the date relative dates count
from:

    today: "2026-12-01"
    items:
      - {lang: en, at: main_menu, expect: {appointment_date: "2026-12-08", phone: "13812345678"},
         text: "I'd like to book next Tuesday, my number is 138 1234 5678"}

Each sentence is one caller turn into a fresh dialog of the plan standing at `at` (menus by
meaning, guards and free-speech slots as on calls). An item is right when, after that turn, the
dialog holds exactly its slots with exactly its values, filled or waiting for their node (a date
said with a cancellation waits until the phone number is given): a slot missed, a wrong value,
or a slot the caller never said all make it wrong. Each set runs twice, as the plan ships and with
`slots.free_speech` off (one slot per prompt, as before), so the two can be compared.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.errors import IvrError
from ivr.qa.set_files import read_set_file


@dataclass(frozen=True)
class SlotItem:
    """One sentence said at a node, and every slot value it carries."""

    lang: str
    at: str
    text: str
    expect: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class SlotSet:
    path: Path
    today: datetime.date
    items: tuple[SlotItem, ...]


@dataclass(frozen=True)
class SlotResult:
    item: SlotItem
    filled: tuple[tuple[str, str], ...]
    reason: str

    @property
    def right(self) -> bool:
        return dict(self.filled) == dict(self.item.expect)


def load_slot_set(path: Path) -> SlotSet:
    """Read and check a set; errors name the file and the item."""
    raw = read_set_file(path, "slot set")
    if not isinstance(raw, dict) or not isinstance(raw.get("items"), list) \
            or not isinstance(raw.get("today"), str):
        raise IvrError(f"{path}: a slot set holds 'today:' (an ISO date) and 'items:', a list")
    try:
        today = datetime.date.fromisoformat(raw["today"])
    except ValueError as exc:
        raise IvrError(f"{path}: 'today' is not an ISO date: {raw['today']!r}") from exc
    items = []
    for n, item in enumerate(raw["items"], 1):
        where = f"{path}: item {n}"
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str)
                                                 for k in ("lang", "at", "text")):
            raise IvrError(f"{where}: needs 'lang', 'at' (a node) and 'text'")
        expect = item.get("expect")
        if not isinstance(expect, dict) or not expect:
            raise IvrError(f"{where}: 'expect' maps each slot said to its value")
        items.append(SlotItem(item["lang"], item["at"], item["text"],
                              tuple((str(k), str(v)) for k, v in expect.items())))
    return SlotSet(path, today, tuple(items))


CALLER_ANSWERS = {"en": {True: "yes", False: "no"}, "zh": {True: "对", False: "不对"}}


class SlotRunner:
    """A plan's dialog (engines loaded once), one sentence at a time, with free-speech slots
    on (as shipped) or off."""

    def __init__(self, loaded: Any) -> None:
        from ivr.dialplan.model import SlotUnderstanding
        from ivr.qa.kb_eval import KBRunner

        self.dialogs = KBRunner(loaded)
        self.plans = {on: loaded.plan.model_copy(update={"slots": SlotUnderstanding(
            free_speech=on)}) for on in (True, False)}

    def run(self, item: SlotItem, today: datetime.date, free_speech: bool = True) -> SlotResult:
        plan = self.plans[free_speech]
        if item.at not in plan.nodes:
            raise IvrError(f"node '{item.at}' is not in plan {plan.name}")
        noon = datetime.datetime.combine(today, datetime.time(12), datetime.timezone.utc)
        engine = self.dialogs.engine(plan, now=noon)
        engine.state.node, engine.state.language = item.at, item.lang
        step = engine.on_text(item.text, item.lang)
        if engine.state.number_heard:
            # A number of unusual length read back ("I heard ..., is that right?"): the caller
            # says yes when it is the number they said, no otherwise.
            meant = dict(item.expect).get(plan.nodes[engine.state.node].slot)
            step = engine.on_text(CALLER_ANSWERS[item.lang][engine.state.number_heard == meant],
                                  item.lang)
        taken = {**engine.state.slots, **engine.slots_heard_ahead()}
        return SlotResult(item, tuple(sorted(taken.items())), step.reason)


def evaluate_slots(slot_set: SlotSet, runner: SlotRunner,
                   free_speech: bool = True) -> list[SlotResult]:
    return [runner.run(item, slot_set.today, free_speech) for item in slot_set.items]


def slot_table(title: str, results: list[SlotResult], errors: bool = False) -> str:
    """Right / total per language and per node, then the wrong ones when asked."""
    lines = [title]
    groups: dict[str, list[SlotResult]] = {"all": results}
    for key in (lambda r: f"[{r.item.lang}]", lambda r: f"at {r.item.at}"):
        for r in results:
            groups.setdefault(key(r), []).append(r)
    for name, group in groups.items():
        right = sum(r.right for r in group)
        lines.append(f"  {name:<20} {right:>3}/{len(group):<3} right ({right / len(group):.0%})")
    if errors:
        for r in results:
            if not r.right:
                lines.append(f"    [{r.item.lang}] at {r.item.at}: {r.item.text!r}\n"
                             f"      expected {dict(r.item.expect)}, filled {dict(r.filled)} "
                             f"({r.reason})")
    return "\n".join(lines)
