"""Checks a schema cannot express: references, languages, reachability, input-free loops.

Each problem is a (field path, message) pair; the loader turns the path into file:line:column.
"""

from __future__ import annotations

from typing import Iterator

from ivr.dialplan.model import (KEYED_KINDS, WAITING_TYPES, BranchNode, CollectNode,
                                ConverseNode, Dialplan, LookupNode, MenuNode, TransferNode)

Problem = tuple[tuple[str | int, ...], str]


def check(plan: Dialplan) -> list[Problem]:
    return [*_references(plan), *_languages(plan), *_confirm_languages(plan), *_topics(plan),
            *_reachability(plan), *_input_free_loops(plan), *_hotline(plan), *_raw_copy(plan),
            *_tools(plan)]


def _tools(plan: Dialplan) -> Iterator[Problem]:
    """Tools that nodes name exist; the slots a tool reads are collected somewhere; a lookup
    node's fixed arguments are parameters of its tool."""
    known = ", ".join(sorted(plan.tools)) or "none: declare them under tools"
    slots = {n.slot for n in plan.nodes.values() if isinstance(n, CollectNode)}
    for name, tool in plan.tools.items():
        for i, slot in enumerate(tool.reads):
            if slot not in slots:
                yield ("tools", name, "reads", i), (
                    f"slot '{slot}' is never collected, expected one of: "
                    f"{', '.join(sorted(slots)) or 'none'}")
    for name, node in plan.nodes.items():
        if isinstance(node, ConverseNode):
            for i, tool_name in enumerate(node.tools):
                if tool_name not in plan.tools:
                    yield ("nodes", name, "tools", i), (
                        f"unknown tool '{tool_name}', expected one of: {known}")
        if not isinstance(node, LookupNode):
            continue
        tool = plan.tools.get(node.tool)
        if tool is None:
            yield ("nodes", name, "tool"), f"unknown tool '{node.tool}', expected one of: {known}"
            continue
        parameters = tool.parameters.get("properties", {})
        for arg in node.args:
            if arg in tool.reads:
                yield ("nodes", name, "args", arg), (
                    f"'{arg}' is a slot the tool reads from the call: it cannot be fixed here")
            elif parameters and arg not in parameters:
                yield ("nodes", name, "args", arg), (
                    f"tool '{node.tool}' has no parameter '{arg}', expected one of: "
                    f"{', '.join(sorted(parameters))}")


def _raw_copy(plan: Dialplan) -> Iterator[Problem]:
    if plan.redaction.keep_raw and plan.redaction.raw_copy.enabled:
        yield (("redaction", "raw_copy", "enabled"), "keep_raw already writes everything as "
               "said; a raw copy needs redaction on (drop keep_raw or raw_copy)")


def warnings(plan: Dialplan) -> list[Problem]:
    """Settings that are valid but weaken the safety guards or the callers' privacy: the loader
    reports them, and a plan with warnings still loads."""
    found: list[Problem] = []
    esc = plan.escalation
    if esc.builtin_off:
        found.append((("escalation", "builtin_off"),
                      f"built-in safety phrases switched off ({', '.join(esc.builtin_off)}): "
                      f"callers who say these are not caught by the lexicon"))
    if not esc.semantic:
        found.append((("escalation", "semantic"), "the learned safety net is off: emergencies "
                      "described without a listed phrase are missed"))
    if not esc.anger.enabled:
        found.append((("escalation", "anger", "enabled"), "anger detection is off"))
    if plan.redaction.keep_raw:
        found.append((("redaction", "keep_raw"), "call records, transfer summaries and the "
                      "summary webhook keep card numbers, IDs, phone numbers and e-mails as said"))
    if plan.redaction.raw_copy.enabled and not plan.redaction.keep_raw:
        found.append((("redaction", "raw_copy"), "unredacted transcripts and recordings are "
                      "kept apart for the console role(s) "
                      f"{', '.join(plan.redaction.raw_copy.roles)}"))
    if not plan.transfer.emergency:
        found.append((("transfer",), "no transfer.emergency: emergencies and self-harm go to "
                      "transfer.default"))
    return found


def successors(plan: Dialplan, name: str) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(field path, target node) for every edge leaving node `name`."""
    node = plan.nodes[name]
    for field in ("next", "on_fail", "on_miss", "otherwise", "fallback"):
        target = getattr(node, field, None)
        if target:
            yield ("nodes", name, field), target
    if isinstance(node, MenuNode):
        for i, choice in enumerate(node.choices):
            yield ("nodes", name, "choices", i, "next"), choice.next
    if isinstance(node, BranchNode):
        for i, rule in enumerate(node.rules):
            yield ("nodes", name, "rules", i, "next"), rule.next


def _entry_points(plan: Dialplan) -> list[tuple[tuple[str | int, ...], str]]:
    points: list[tuple[tuple[str | int, ...], str]] = [(("start",), plan.start)]
    if plan.hours:
        points.append((("hours", "closed_node"), plan.hours.closed_node))
    if plan.transfer.fallback:
        points.append((("transfer", "fallback"), plan.transfer.fallback))
    return points


def _references(plan: Dialplan) -> Iterator[Problem]:
    known = ", ".join(sorted(plan.nodes))
    edges = _entry_points(plan) + [e for name in plan.nodes for e in successors(plan, name)]
    for path, target in edges:
        if target not in plan.nodes:
            yield path, f"unknown node '{target}', expected one of: {known}"
    for name, node in plan.nodes.items():
        if isinstance(node, TransferNode) and not node.target.startswith(("sip:", "sips:", "tel:")) \
                and node.target not in ("default", "emergency") and node.target not in plan.transfer.named:
            yield ("nodes", name, "target"), (
                f"unknown transfer target '{node.target}', expected default, emergency, a name "
                f"under transfer.named, or a SIP URI")
        if isinstance(node, CollectNode) and node.kind == "digits" and node.length is None:
            yield ("nodes", name, "length"), "a digits slot needs a length"
        if isinstance(node, CollectNode) and node.usual_length is not None \
                and node.kind not in KEYED_KINDS:
            yield ("nodes", name, "usual_length"), (
                f"usual_length applies to digits, phone and account slots, not '{node.kind}'")
        if isinstance(node, MenuNode):
            keys = [c.key for c in node.choices if c.key]
            for key in {k for k in keys if keys.count(k) > 1}:
                yield ("nodes", name, "choices"), f"key '{key}' is used by more than one choice"


def _language_fields(plan: Dialplan) -> Iterator[tuple[tuple[str | int, ...], dict]]:
    for field in type(plan.prompts).model_fields:
        yield ("prompts", field), getattr(plan.prompts, field)
    for i, entry in enumerate(plan.knowledge):
        yield ("knowledge", i, "answer"), entry.answer
    for name, node in plan.nodes.items():
        for field in ("say", "prompt", "reprompt", "announce", "question", "empty"):
            value = getattr(node, field, None)
            if isinstance(value, dict):
                yield ("nodes", name, field), value


def _languages(plan: Dialplan) -> Iterator[Problem]:
    for path, texts in _language_fields(plan):
        missing = [lang for lang in plan.languages if not texts.get(lang)]
        if missing:
            yield path, (f"missing text for declared language(s) {', '.join(missing)} "
                         f"(found {', '.join(sorted(texts)) or 'none'})")


def _confirm_languages(plan: Dialplan) -> Iterator[Problem]:
    """A per-language `answers.confirm_score` names declared languages only (a misspelt one,
    "EN", would leave the question silently off)."""
    scores = plan.answers.confirm_score
    for language in scores if isinstance(scores, dict) else ():
        if language not in plan.languages:
            yield ("answers", "confirm_score", language), (
                f"unknown language '{language}', expected one of: {', '.join(plan.languages)}")


def _topics(plan: Dialplan) -> Iterator[Problem]:
    ids = {entry.id for entry in plan.knowledge}
    for name, node in plan.nodes.items():
        for i, topic in enumerate(getattr(node, "topics", []) or []):
            if topic not in ids:
                yield ("nodes", name, "topics", i), (
                    f"unknown knowledge entry '{topic}', expected one of: {', '.join(sorted(ids))}")


def _reachability(plan: Dialplan) -> Iterator[Problem]:
    seen: set[str] = set()
    todo = [target for _, target in _entry_points(plan)]
    while todo:
        name = todo.pop()
        if name in seen or name not in plan.nodes:
            continue
        seen.add(name)
        todo.extend(target for _, target in successors(plan, name))
    for name in plan.nodes:
        if name not in seen:
            yield ("nodes", name), f"node '{name}' is unreachable from start"


def _input_free_loops(plan: Dialplan) -> Iterator[Problem]:
    """A cycle through nodes that never wait for the caller would spin forever."""
    graph = {name: [t for _, t in successors(plan, name) if t in plan.nodes]
             for name, node in plan.nodes.items() if node.type not in WAITING_TYPES}
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(name: str, stack: list[str]) -> Iterator[Problem]:
        state[name] = 1
        stack.append(name)
        for nxt in graph.get(name, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    yield ("nodes", nxt), (f"loop with no caller input: {' -> '.join(cycle + [nxt])}"
                                           f" (add a menu, collect or answer node to the loop)")
            elif nxt not in state:
                yield from visit(nxt, stack)
        stack.pop()
        state[name] = 2

    for name in graph:
        if name not in state:
            yield from visit(name, [])


def _hotline(plan: Dialplan) -> Iterator[Problem]:
    if len(set(plan.languages)) != len(plan.languages):
        yield ("languages",), "a language is listed twice"
    from ivr.tts.voices import DEFAULT_VOICES_FILE, load_voices

    voices = load_voices()
    for i, language in enumerate(plan.languages):
        if language not in voices:
            yield ("languages", i), (f"no voice for '{language}' in {DEFAULT_VOICES_FILE}, "
                                     f"expected one of: {', '.join(sorted(voices))}")
    slots = {n.slot: n.kind for n in plan.nodes.values() if isinstance(n, CollectNode)}
    slots["survey"] = "yes_no"
    for name, node in plan.nodes.items():
        if isinstance(node, MenuNode) and plan.escalation.human_key and node.escalation is None:
            for i, choice in enumerate(node.choices):
                if choice.key == plan.escalation.human_key:
                    yield ("nodes", name, "choices", i, "key"), (
                        f"key '{choice.key}' is escalation.human_key (it always transfers to a "
                        f"person): pick another key or override escalation.human_key here")
        if not isinstance(node, BranchNode):
            continue
        for i, rule in enumerate(node.rules):
            when, path = rule.when, ("nodes", name, "rules", i, "when")
            if not when.model_dump(exclude_none=True):
                yield path, "empty condition (always true): use 'otherwise' instead"
            if when.slot and when.slot not in slots:
                yield path + ("slot",), (f"slot '{when.slot}' is never collected, expected one "
                                         f"of: {', '.join(sorted(slots))}")
            if when.is_open is not None and plan.hours is None:
                yield path + ("is_open",), "is_open needs the plan's 'hours'"
            values = [when.equals] if when.equals is not None else (when.one_of or [])
            if slots.get(when.slot or "") == "yes_no" and not set(values) <= {"yes", "no"}:
                yield path, f"slot '{when.slot}' is yes/no: compare it with \"yes\" or \"no\""
