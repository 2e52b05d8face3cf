"""Menus that listen: a caller's own words matched to a menu choice by meaning, and the short
re-prompt that names the choices instead of reading the whole menu again."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.dialplan.model import Dialplan, MenuNode
from ivr.kb.embedder import Embedder
from ivr.kb.retriever import best_per_owner, top_two
from ivr.text.normalize import simple_normalize

REPEAT_REQUESTS = frozenset({
    "repeat", "repeat that", "repeat please", "please repeat", "say that again", "again",
    "menu", "the menu", "main menu", "options", "what are the options", "what were the options",
    "can you repeat that", "could you repeat that", "pardon", "come again",
    "重复", "再说一遍", "再说一次", "重复一遍", "请重复", "菜单", "有哪些选项", "再讲一遍", "什么",
})


def is_repeat_request(text: str) -> bool:
    """True for a caller asking to hear the menu again."""
    return simple_normalize(text).strip(" ?？。.!！") in REPEAT_REQUESTS


@dataclass(frozen=True)
class MenuGuess:
    """The choice (index into the node's choices) the caller's words mean, if any, with the
    best and second-best choice scores as evidence."""

    choice: int | None
    score: float
    runner_up: float


class MenuMeaning:
    """Every menu choice's words, embedded once per plan version (as e5 queries: short phrases
    against short phrases, the same space the knowledge base uses)."""

    def __init__(self, plan: Dialplan, embedder: Embedder) -> None:
        self.embedder = embedder
        self.min_score, self.margin = plan.menus.min_score, plan.menus.margin
        self._rows: dict[str, list[int]] = {}     # node -> the choice of each of its vectors
        texts: list[str] = []
        spans: dict[str, tuple[int, int]] = {}
        for name, node in plan.nodes.items():
            if not isinstance(node, MenuNode):
                continue
            start = len(texts)
            owners = []
            for index, choice in enumerate(node.choices):
                for phrases in choice.words.values():
                    texts.extend(phrases)
                    owners.extend([index] * len(phrases))
            self._rows[name] = owners
            spans[name] = (start, len(texts))
        vectors = embedder.queries(texts) if texts else np.zeros((0, 1), np.float32)
        self._vectors = {name: vectors[a:b] for name, (a, b) in spans.items()}

    def guess(self, node: str, text: str, choices: int) -> MenuGuess:
        """What `text` means among the `choices` of menu `node` (by meaning only)."""
        owners = self._rows.get(node)
        if not owners or not text.strip():
            return MenuGuess(None, 0.0, 0.0)
        scores = self._vectors[node] @ self.embedder.queries([text])[0]
        index, top, second, _ = top_two(best_per_owner(scores, owners, choices))
        chosen = index if top >= self.min_score and top - second >= self.margin else None
        return MenuGuess(chosen, top, second)


def options_text(node: MenuNode, language: str, fallback: str) -> str:
    """The choices named briefly in `language`: each choice's first word ("press 5" where it
    has none), joined as a speaker would ("billing, data plans or roaming")."""
    zh = language.startswith("zh")
    named = []
    for choice in node.choices:
        words = choice.words.get(language) or choice.words.get(fallback) or []
        if words:
            named.append(words[0])
        elif choice.key:
            named.append(f"按{choice.key}" if zh else f"press {choice.key}")
    if len(named) < 2:
        return "".join(named)
    if zh:
        return "、".join(named[:-1]) + "或" + named[-1]
    return ", ".join(named[:-1]) + " or " + named[-1]
