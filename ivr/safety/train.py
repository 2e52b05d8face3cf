"""Train the guard's learned net and calibrate its thresholds:

    python -m ivr.safety.train [--dev SET.yaml ...] [--out ivr/safety/model/guard_head.npz]

1. Reads the labelled caller turns of `training/*.tsv` (`label<TAB>text`, English and Chinese),
   drops any that also occur in the development or held-out sets (after normalisation), and
   embeds them with the shipped multilingual e5 model (embeddings cached in
   ~/.cache/ivr/guard_embeddings.npz, so a run after a small data change takes seconds).
2. Fits a softmax layer (multinomial logistic regression, class-balanced, L2) with numpy, keeps
   the training embeddings for the head's nearest-neighbour vote, and fits a second softmax layer
   over the turns' hashed n-grams (`ivr.safety.ngrams`) the same way.
3. Calibrates the thresholds on the development sets only (`DEV_SETS`: escalation_dev.yaml to
   _dev8.yaml; never on the held-out sets, nor on `READ_ONLY_SETS`), for the
   net as it runs beside the built-in lexicon in `EscalationGuard`:
   * the vetoes: the net's calm score above which it overrules a lexicon emergency (or request
     for a person): the highest calm score of any real emergency (request) the lexicon finds in
     the dev sets, plus a wide margin (0.3); and the floor, the urgent score below which a
     lexicon emergency is overruled: 0.3 x the lowest of any real urgent turn it finds there;
   * urgent (emergency + self-harm probability): the highest threshold that keeps every urgent
     dev turn the lexicon misses, raised only if it flags more than 2.5 % of the calm dev turns
     (lexicon and net together);
   * self_harm_check: the self-harm probability from which a turn the guard does not hand over
     gets the safety check ("are you safe right now?"): at most 3 % of the calm turns are asked
     in each language, on every development set (the read ones too), and never below 0.2;
   * human: the best F2 (a missed request for a person is worse than a false one) among the
     thresholds that send at most 3 % of the calm dev turns to a person; angry and frustrated:
     the best F1 on the dev sets.
4. Writes the head with its thresholds and the sha256 of the training data.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ivr.safety.ngrams import BUCKETS, NgramLayer, NgramRows, softmax
from ivr.safety.semantic import HEAD_PATH, NET_CLASSES, Head

TRAINING_DIR = Path(__file__).parent / "training"
REPO = Path(__file__).resolve().parents[2]
DEV_SETS = tuple(REPO / "tests" / "data" / f"escalation_{name}.yaml"
                 for name in ("dev", "dev2", "dev3", "dev4", "dev5", "dev6", "dev7", "dev8"))
# Read for errors but not calibrated on. (Dev sets 9 to 14, read so, are now training data,
# training/train_dev*.tsv. Calibrated on, dev 9's indirect self-harm turns, which the net then
# scored near 0, brought the floor to 0.0015 and the urgent threshold to 0.84.)
READ_ONLY_SETS = tuple(REPO / "tests" / "data" / f"escalation_{name}.yaml"
                       for name in ("dev15", "dev16", "dev17", "dev18", "dev19"))
HOLDOUT_SETS = tuple(REPO / "tests" / "data" / f"escalation_{name}.yaml"
                     for name in ("holdout4", "holdout5", "holdout7", "holdout11", "holdout12",
                                  "holdout13", "holdout14", "holdout15", "holdout16"))
VETO_MARGIN = 0.3
FLOOR_MARGIN = 0.3
# Half the 5 % target: on every blind set so far, calm callers were sent to emergency help two to
# three times as often as on the development sets the threshold was chosen on.
MAX_CALM_FALSE_URGENT = 0.025
MAX_CALM_FALSE_HUMAN = 0.03
# A calm caller asked "are you safe right now?" is puzzled for a moment, not handed over: a
# budget a little wider than the hand-off's, and never below the floor. (At 5 % the bar was
# 0.31, and the menus' and FAQ questions' calm service talk was asked 3-5 % of the time.)
MAX_CALM_SAFETY_CHECK = 0.03
SAFETY_CHECK_MIN = 0.2
EMBEDDING_CACHE = Path.home() / ".cache" / "ivr" / "guard_embeddings.npz"


def training_sha256(directory: Path = TRAINING_DIR) -> str:
    """The sha256 of the training files, in name order (the head records what it was fit on)."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.tsv")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_training(directory: Path = TRAINING_DIR,
                  exclude: set[str] = frozenset()) -> tuple[list[str], list[str], int]:
    """(texts, labels, dropped): the training turns, minus those whose normalised text is in
    `exclude`."""
    from ivr.text.normalize import normalize_text

    texts, labels, dropped = [], [], 0
    for path in sorted(directory.glob("*.tsv")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            label, sep, text = line.partition("\t")
            if not sep or label not in NET_CLASSES or not text.strip():
                raise ValueError(f"{path}:{n}: expected LABEL<TAB>TEXT with a label in "
                                 f"{', '.join(NET_CLASSES)}")
            if normalize_text(text) in exclude:
                dropped += 1
                continue
            texts.append(text.strip())
            labels.append(label)
    return texts, labels, dropped


def embed_cached(embedder, texts: list[str], cache: Path) -> np.ndarray:
    """Query embeddings of `texts`, computing only those not in the `cache` file (keyed by the
    text's sha256 and the model's output size) and adding them to it."""
    from tqdm import tqdm

    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    known: dict[str, np.ndarray] = {}
    if cache.exists():
        with np.load(cache) as data:
            known = dict(zip((str(k) for k in data["keys"]), data["vectors"]))
    todo = sorted({k: t for k, t in zip(keys, texts) if k not in known}.items())
    for i in tqdm(range(0, len(todo), 64), desc="embedding", unit="batch"):
        batch = todo[i:i + 64]
        known.update(zip((k for k, _ in batch), embedder.queries([t for _, t in batch])))
    if todo:
        cache.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(known)
        np.savez(cache, keys=np.array(names), vectors=np.stack([known[k] for k in names]))
    return np.stack([known[k] for k in keys])


def fit_softmax(x: np.ndarray | NgramRows, y: np.ndarray, classes: int, l2: float = 1e-5,
                epochs: int = 600, lr: float = 0.05, init_scale: float = 0.01,
                seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class-balanced multinomial logistic regression by full-batch Adam: (weights, bias). `x`:
    dense rows (embeddings) or a text batch's sparse n-grams."""
    if isinstance(x, NgramRows):
        n, d, times, gradient = x.count, BUCKETS, x.times, x.transposed_times
    else:
        (n, d), times, gradient = x.shape, (lambda w: x @ w.T), (lambda e: e.T @ x)
    w = np.random.default_rng(seed).normal(0, init_scale, (classes, d))
    b = np.zeros(classes)
    counts = np.bincount(y, minlength=classes).astype(float)
    sample_weight = (n / (classes * np.maximum(counts, 1)))[y]
    onehot = np.eye(classes)[y]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for step in range(1, epochs + 1):
        p = softmax(times(w) + b)
        err = (p - onehot) * sample_weight[:, None] / sample_weight.sum()
        grads = [gradient(err) + l2 * w, err.sum(axis=0)]
        for i, (param, grad) in enumerate(zip((w, b), grads)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad ** 2
            param -= lr * (m[i] / (1 - 0.9 ** step)) / (np.sqrt(v[i] / (1 - 0.999 ** step)) + 1e-8)
    return w, b


def _best_fbeta(scores: np.ndarray, positive: np.ndarray, lexicon_hit: np.ndarray,
                beta: float = 1.0, calm: np.ndarray | None = None,
                max_calm_share: float = 1.0) -> float:
    """The threshold with the best F-beta of (lexicon hit or score >= threshold) among those that
    take at most `max_calm_share` of the `calm` turns; where a range of thresholds ties, its
    middle (the widest margin on both sides)."""
    b2 = beta * beta
    grid = np.round(np.arange(0.2, 0.96, 0.025), 3)
    results = []
    for t in grid:
        predicted = lexicon_hit | (scores >= t)
        if calm is not None and (predicted & calm).sum() > max_calm_share * calm.sum():
            results.append(-1.0)
            continue
        tp = float((predicted & positive).sum())
        denominator = b2 * positive.sum() + predicted.sum()
        results.append((1 + b2) * tp / denominator if denominator else 0.0)
    best = max(results)
    tied = [t for t, r in zip(grid, results) if r >= best - 1e-9]
    return float(tied[len(tied) // 2])


def calibrate(head: Head, dev_paths: Sequence[Path], embed: Callable[[list[str]], np.ndarray]
              ) -> dict[str, float]:
    """Thresholds for the net beside the built-in lexicon, from the development sets (`embed`:
    texts -> query embeddings)."""
    from ivr.dialplan.model import Escalation
    from ivr.qa.escalation_eval import load_set
    from ivr.safety.denial import without_denials
    from ivr.safety.guard import _too_short
    from ivr.safety.lexicon import compile_rules
    from ivr.safety.negation import declined

    items = [item for path in dev_paths for item in load_set(path)]
    rules = compile_rules(Escalation())
    texts = [i.text for i in items]
    probs = head.probabilities(embed(texts), texts)
    col = {c: probs[:, k] for k, c in enumerate(head.classes)}
    labels = np.array([i.label for i in items])

    def hits(cls: str, among: Sequence[str] = texts) -> np.ndarray:
        return np.array([bool(t) and rules.matchers[cls].find(t) is not None for t in among])

    judged = ~np.array([_too_short(t) for t in texts])   # turns the net may overrule
    # urgency is judged as the guard judges it: without the caller's denials ("nobody's hurt")
    calm_words = [without_denials(t)[0] for t in texts]
    changed = [k for k, (t, c) in enumerate(zip(texts, calm_words)) if t != c]
    urgent_probs = probs.copy()
    if changed:
        rests = [calm_words[k] or "." for k in changed]
        urgent_probs[changed] = head.probabilities(embed(rests), rests)
        for k in changed:
            judged[k] = not _too_short(calm_words[k])
    ucol = {c: urgent_probs[:, k] for k, c in enumerate(head.classes)}

    def veto(found: np.ndarray, positive: np.ndarray, scores: dict = col) -> float:
        calm_of_real = scores["neutral"][found & positive & judged]
        return round(min(0.95, float(calm_of_real.max(initial=0.0)) + VETO_MARGIN), 4)

    urgent_label = np.isin(labels, ("emergency", "self_harm"))
    urgent_lex = hits("emergency", calm_words) | hits("self_harm", calm_words)
    urgent = ucol["emergency"] + ucol["self_harm"]
    urgent[[k for k in changed if not calm_words[k]]] = 0.0   # nothing left to judge
    thresholds = {"urgent_veto": veto(urgent_lex, urgent_label, ucol),
                  "urgent_floor": round(FLOOR_MARGIN * float(
                      urgent[urgent_lex & urgent_label & judged].min(initial=1.0)), 4)}
    urgent_lex &= ~(judged & ((ucol["neutral"] >= thresholds["urgent_veto"])
                              | (urgent < thresholds["urgent_floor"])))
    judged = ~np.array([_too_short(t) for t in texts])
    human_lex = np.array([(m := rules.matchers["human"].find(t)) is not None
                          and not declined(t, m.span) for t in texts])
    thresholds["human_veto"] = veto(human_lex, labels == "human")
    human_lex &= ~(judged & (col["neutral"] >= thresholds["human_veto"]))
    # an item's earlier turns (`context`) count as on a call: an emergency told before the
    # labelled turn ("he's still out there") is caught there, and a calm caller is a false alarm
    # if any of their turns is
    for k, item in enumerate(items):
        if item.context:
            earlier = list(item.context)
            scores = head.probabilities(embed(earlier), earlier)
            neutral = scores[:, head.classes.index("neutral")]
            said = (scores[:, head.classes.index("emergency")]
                    + scores[:, head.classes.index("self_harm")])
            found = [(rules.matchers["emergency"].find(t) or rules.matchers["self_harm"].find(t))
                     is not None and (_too_short(t) or (n < thresholds["urgent_veto"]
                                                        and u >= thresholds["urgent_floor"]))
                     for t, n, u in zip(earlier, neutral, said)]
            urgent_lex[k] |= any(found)
            urgent[k] = max(urgent[k], float(said.max()))
    missed = urgent[urgent_label & ~urgent_lex]
    calm = labels == "neutral"
    t_recall = float(missed.min()) * 0.98 if missed.size else 0.9
    calm_scores = np.sort(urgent[calm & ~urgent_lex])
    # the lexicon's own false alarms use up the budget first
    allowed = max(0, int(MAX_CALM_FALSE_URGENT * calm.sum()) - int((calm & urgent_lex).sum()))
    t_precision = float(calm_scores[-allowed - 1]) + 1e-6 if allowed < calm_scores.size else 0.0
    # every urgent dev turn kept; higher only if that breaks the calm false-alarm budget. (The
    # lowest threshold within the budget was tried: out-of-scope chit-chat and interim fragments,
    # which the dev set has few of, then went to emergency help.)
    thresholds["urgent"] = round(max(t_recall, t_precision), 4)
    rest = ~urgent_label
    # a missed "person please" keeps a caller who asked for one talking to a machine (F2), but a
    # calm caller taken out of their menu is not helped either: at most 3 % of calm dev turns
    human_net = np.where(judged, col["human"], 0.0)   # the guard asks the net on judged turns only
    thresholds["human"] = _best_fbeta(human_net[rest], labels[rest] == "human",
                                      human_lex[rest], beta=2.0,
                                      calm=labels[rest] == "neutral",
                                      max_calm_share=MAX_CALM_FALSE_HUMAN)
    rest &= labels != "human"
    hostile_lex = hits("anger")
    thresholds["angry"] = _best_fbeta(col["angry"][rest], labels[rest] == "angry",
                                      hostile_lex[rest])
    upset = col["angry"] + col["frustrated"]
    thresholds["frustrated"] = _best_fbeta(upset[rest], labels[rest] == "frustrated",
                                           hits("frustration")[rest])
    print(f"urgent threshold: recall-keeping {t_recall:.3f}, "
          f"{MAX_CALM_FALSE_URGENT:.1%} calm false alarms "
          f"{t_precision:.3f} -> {thresholds['urgent']}", file=sys.stderr)
    return thresholds


class _Embedded:
    """Precomputed query embeddings as an embedder (for running the guard itself)."""

    def __init__(self, texts: list[str], vectors: np.ndarray) -> None:
        self._vectors = dict(zip(texts, vectors))

    def queries(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._vectors[t] for t in texts])


def calibrate_safety_check(head: Head, paths: Sequence[Path],
                           embed: Callable[[list[str]], np.ndarray]) -> float:
    """The self-harm probability from which a calm-sounding turn gets the safety check ("are you
    safe right now?"), run through the guard itself: in each language at most
    `MAX_CALM_SAFETY_CHECK` of the calm turns of `paths` are asked (turns the guard already hands
    over are not; those with a warning sign of suicide are asked whatever the net says), and
    never below `SAFETY_CHECK_MIN`."""
    from ivr.dialplan.model import Escalation
    from ivr.qa.escalation_eval import load_set
    from ivr.safety.denial import without_denials
    from ivr.safety.guard import EscalationGuard
    from ivr.safety.lexicon import compile_rules
    from ivr.safety.semantic import SemanticNet
    from ivr.safety.warning import warning_sign

    calm = [i for path in paths for i in load_set(path) if i.label == "neutral" and not i.context]
    rests = [without_denials(i.text)[0] for i in calm]
    texts = sorted({t for t in (*(i.text for i in calm), *rests) if t})
    net = SemanticNet(_Embedded(texts, embed(texts)), head)  # type: ignore[arg-type]
    rules = compile_rules(Escalation())
    guard = EscalationGuard(net)
    asked: dict[str, list[float]] = {}
    counts: dict[str, int] = {}
    for item, rest in zip(calm, rests):
        counts[item.lang] = counts.get(item.lang, 0) + 1
        if guard.urgent(rules, item.text) is not None:
            continue
        if warning_sign(rest):    # asked whatever the net says: uses up the budget first
            asked.setdefault(item.lang, []).append(float("inf"))
        elif (score := guard.check_score(item.text)) is not None:
            asked.setdefault(item.lang, []).append(score)
    bars = []
    for language, scores in asked.items():
        ranked = sorted(scores, reverse=True)
        quota = int(MAX_CALM_SAFETY_CHECK * counts[language])
        bars.append(ranked[quota] + 1e-6 if quota < len(ranked) else 0.0)
    return round(max([SAFETY_CHECK_MIN, *bars]), 4)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.safety.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dev", type=Path, action="append", default=None,
                        help="development set for calibration (repeatable; default: the "
                             "shipped ones)")
    parser.add_argument("--holdout", type=Path, action="append", default=None,
                        help="held-out set (repeatable; default: the shipped one): only "
                             "excluded from training, never read otherwise")
    parser.add_argument("--out", type=Path, default=HEAD_PATH, help="where to write the head")
    parser.add_argument("--cache", type=Path, default=EMBEDDING_CACHE,
                        help="embeddings of earlier runs, reused when a text is unchanged")
    args = parser.parse_args(argv)

    from ivr.kb.embedder import E5Embedder
    from ivr.qa.escalation_eval import load_set
    from ivr.text.normalize import normalize_text

    dev = args.dev or list(DEV_SETS)
    evaluation = {normalize_text(i.text)
                  for path in (*dev, *READ_ONLY_SETS, *(args.holdout or HOLDOUT_SETS))
                  if path.exists() for i in load_set(path)}
    texts, labels, dropped = read_training(exclude=evaluation)
    print(f"{len(texts)} training turns ({dropped} dropped: also in an evaluation set)",
          file=sys.stderr)
    embedder = E5Embedder(threads=2)
    vectors = embed_cached(embedder, texts, args.cache)
    y = np.array([NET_CLASSES.index(label) for label in labels])
    weights, bias = fit_softmax(vectors, y, len(NET_CLASSES))
    print("fitting the n-gram layer", file=sys.stderr)
    ngram_weights, ngram_bias = fit_softmax(NgramRows(texts), y, len(NET_CLASSES), epochs=300,
                                            lr=0.1, init_scale=0.0)
    head = Head(NET_CLASSES, weights.astype(np.float32), bias.astype(np.float32), {},
                training_sha256(), vectors.astype(np.float32), y,
                NgramLayer(ngram_weights.astype(np.float16), ngram_bias.astype(np.float32)))
    train_acc = float((head.probabilities(vectors, texts).argmax(axis=1) == y).mean())
    print(f"training accuracy {train_acc:.3f}", file=sys.stderr)
    embed = lambda t: embed_cached(embedder, t, args.cache)  # noqa: E731
    thresholds = calibrate(head, dev, embed)
    # every development set, the read ones too: the check's budget is per language, and most of
    # the Chinese calm turns are in the newer sets
    thresholds["self_harm_check"] = calibrate_safety_check(
        replace(head, thresholds=thresholds), [*dev, *READ_ONLY_SETS], embed)
    head = replace(head, thresholds=thresholds)
    head.save(args.out)
    print(f"wrote {args.out}: thresholds {thresholds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
