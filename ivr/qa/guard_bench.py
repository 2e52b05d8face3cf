"""What the hand-off guard costs per caller turn, on real text (`ivr bench guard`)."""

from __future__ import annotations

import time
from typing import Iterable

from ivr.dialplan.model import Escalation
from ivr.kb.embedder import CachingEmbedder, Embedder
from ivr.safety.guard import EscalationGuard
from ivr.safety.lexicon import compile_rules
from ivr.safety.semantic import SemanticNet

__all__ = ["guard_timings"]


def guard_timings(texts: Iterable[str], embedder: Embedder,
                  progress: bool = False) -> dict[str, list[float]]:
    """Seconds per turn, by stage: the lexicon alone (every guard class), the e5 embedding of the
    turn (which the knowledge-base search needs anyway and shares), the net's head, and the
    whole guard with the net when the embedding is not yet cached and when it is."""
    lexicon_rules = compile_rules(Escalation(semantic=False))
    net_rules = compile_rules(Escalation())
    out: dict[str, list[float]] = {"lexicon only": [], "embedding (shared with KB search)": [],
                                   "net head": [], "guard with net, cold": [],
                                   "guard with net, embedding cached": []}
    texts = list(texts)
    if progress:
        from tqdm import tqdm
        texts = tqdm(texts, desc="guard", unit="turn")
    for text in texts:
        cache = CachingEmbedder(embedder)
        net = SemanticNet(cache)
        started = time.perf_counter()
        EscalationGuard(None).assess(lexicon_rules, text)
        out["lexicon only"].append(time.perf_counter() - started)
        started = time.perf_counter()
        vector = embedder.queries([text])
        out["embedding (shared with KB search)"].append(time.perf_counter() - started)
        started = time.perf_counter()
        net.head.probabilities(vector, [text])
        out["net head"].append(time.perf_counter() - started)
        started = time.perf_counter()
        EscalationGuard(net).assess(net_rules, text)
        out["guard with net, cold"].append(time.perf_counter() - started)
        started = time.perf_counter()
        EscalationGuard(net).assess(net_rules, text)
        out["guard with net, embedding cached"].append(time.perf_counter() - started)
    return out
