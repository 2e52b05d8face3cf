"""Robust phrase spotting in recognised speech (emergencies, "a person please", anger words).

`PhraseMatcher` finds configured phrases in ASR text, final or partial, in English-like languages
(space-separated words) and in Chinese (no word boundaries), tolerating the errors a phone-line
recogniser makes.

How text is compared
--------------------
1. Normalisation (the same for phrases and caller text): `ivr.text.normalize.tokenize` (NFKC,
   lower case, contractions canonicalised, digits spelled out, traditional Chinese folded to
   simplified, one token per CJK character, clause numbers from sentence punctuation).
2. Token similarity, in [0, 1]: for Latin words the largest of the edit-distance ratio
   (rapidfuzz), 0.95 for the same Snowball stem (kill/killing/killed, breathe/breathing), 0.9
   for a plural, and 0.95 x the ratio of phonetic keys, counted only for words of four letters
   or more whose keys' ratio is >= 0.85 and when the shorter word has at least 70 % of the
   longer one's letters (`phonetic_key`, a Metaphone-like code implemented here because no
   library does th-fronting: voiced/unvoiced pairs merged, vowels dropped, "th" after the first
   letter counted as "f" because phone lines and accents confuse them; a leading "th" as "t").
   So "pane" ~ "pain", "breath" ~ "breathe", "brief" ~ "breathe", "hard" ~ "heart", while short
   words ("for"/"fire", "gun"/"can") do not sound alike. CJK characters: 0.9 for the same
   toneless pinyin (痛/通), 0.8 for pinyin that southern and accented Mandarin blurs (zh/z,
   ch/c, sh/s, n/l, -ng/-n).
3. Phrase alignment: a weighted semi-global edit distance between the phrase's tokens and any
   stretch of the text. Substituting phrase token p by text token t costs w(p) * (1 - sim(p, t)),
   dropping a phrase token costs w(p), an extra text token inside the stretch costs its weight
   (filler words such as "really", "um", 很 cost half a unit). w is the word length (at least 3;
   stopwords count half) and 1 per CJK character. score = 1 - cost / sum(w). Split or merged
   words ("heartattack", "over dose") are caught by also comparing the spelling of the phrase and
   of the stretch with spaces removed, counted only at >= 0.9.
4. A match needs `score >= threshold` (default 0.8; 0.75 for CJK phrases) and every content word
   of the phrase must itself be close: >= 0.85 for words of four letters or fewer, >= 0.7 for
   longer ones; in a phrase with one content word ("transfer me", "on fire") the small words
   must be close too (>= 0.85: "how long does a number transfer take" is no "transfer me").
   One-word phrases of fewer than six letters match only exactly (or as a plural),
   CJK phrases of fewer than three characters only exactly (a filler inside, 胸很痛, is still
   allowed). A CJK phrase may have characters substituted (homophones) or fillers inserted, but
   none left out: 我要人 is not 我要人工.
   "I have a chess game" scores 0.67 against "chest pain" ("game" is not "pain"): no match.
   Word order: when no ordered alignment is found, a phrase of two or more content words and no
   negation also matches when all its content words occur, spelled alike or with the same stem
   (no sound-alikes), within one clause and a few words of each other ("pain in my chest"),
   scoring 0.85 x their mean similarity.
5. Exclusions: phrases that, when found exactly within the same clause and overlapping a match,
   cancel it ("fire my agent" is not a fire; 人工智能 is not 人工). Clause boundaries are the
   sentence punctuation the recogniser writes (. ! ? ; 。！？；).

Decision on "fire my agent": with the recommended exclusions it is NOT an emergency (the
exclusion "fire my" covers the verb sense), but it IS a request for a human when "agent" is a
human phrase: handing a caller to a person by mistake is cheap, so the human list stays broad.
Negation ("I don't have chest pain") is deliberately not used to cancel emergencies: "I can't
breathe" is itself negated, and a false emergency hand-off is the safer error.

Partial text: with `partial=True` the last text token may be an unfinished word: it matches a
phrase word it is a prefix of (at least 3 letters and half the word: "chest pa" does not,
"can't brea" does); such matches come back with `complete=False`, so a caller of the matcher
can act on complete matches at once and wait one more partial for the others.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Iterable, Mapping

from rapidfuzz.distance import Levenshtein

from ivr.text.normalize import NEGATIONS, Token, is_cjk as _is_cjk_char, pinyin, stem, tokenize

__all__ = ["PhraseMatch", "PhraseMatcher", "phonetic_key", "token_similarity"]

_STOPWORDS = frozenset({
    "a", "an", "the", "to", "my", "me", "i", "is", "am", "are", "of", "in", "on", "at", "for",
    "with", "and", "or", "it", "do", "you", "your", "be", "this", "that", "so", "can"})
"""Words that weigh half in an alignment (a narrower list than `STOPWORDS`: "have", "there"
and "up" carry meaning in short guard phrases such as "throwing up")."""
_FILLERS_LATIN = frozenset({
    "really", "even", "just", "so", "very", "um", "uh", "er", "erm", "ah", "oh", "like", "please",
    "actually", "totally", "barely", "hardly", "properly", "literally", "now", "right", "well"})
_FILLERS_CJK = frozenset("很好太真有点的了啊呀吧呢嗯呃哦就都也还个")   # 个, a measure word: 找个客服


# --- similarity ----------------------------------------------------------------------------------



def _ratio(a: str, b: str) -> float:
    return Levenshtein.normalized_similarity(a, b)


_VOWELS = set("aeiou")
_PHONETIC_MAP = {"b": "P", "p": "P", "d": "T", "t": "T", "g": "K", "k": "K", "q": "K", "c": "K",
                 "v": "F", "f": "F", "z": "S", "s": "S", "j": "X", "m": "M", "n": "N", "l": "L",
                 "r": "R"}


@lru_cache(maxsize=8192)
def phonetic_key(word: str) -> str:
    """A Metaphone-like sound code of one Latin word: consonant classes only, voiced and
    unvoiced pairs merged (b/p, d/t, g/k, v/f, z/s), "ph" and non-initial "th" as F, "ch"/"sh"/"j"/soft g
    as X, soft c as S, silent letters dropped, vowels dropped except a leading one (A),
    repeats collapsed. "pain" and "pane" -> PN; "breathe", "breath" and "brief" -> PRF."""
    w = re.sub(r"[^a-z]", "", word.lower())
    if not w:
        return ""
    for prefix, repl in (("kn", "n"), ("gn", "n"), ("wr", "r"), ("ps", "s"), ("x", "s")):
        if w.startswith(prefix):
            w = repl + w[len(prefix):]
    if w.endswith("mb"):
        w = w[:-1]
    out: list[str] = []
    i = 0
    while i < len(w):
        c, nxt = w[i], w[i + 1] if i + 1 < len(w) else ""
        code = ""
        step = 1
        if w.startswith("tch", i):
            code, step = "X", 3
        elif c in "cs" and nxt == "h" or (c == "t" and w.startswith("tio", i)):
            code, step = "X", 2
        elif c == "t" and nxt == "h":
            code, step = ("T" if i == 0 else "F"), 2
        elif c == "p" and nxt == "h":
            code, step = "F", 2
        elif c == "g" and nxt == "h":
            code, step = ("K" if i == 0 else ""), 2
        elif c == "c" and nxt == "k":
            code, step = "K", 2
        elif c == "w" and nxt == "h":
            code, step = "W", 2
        elif c == "q" and nxt == "u":
            code, step = "KW", 2
        elif c == "c":
            code = "S" if nxt in ("e", "i", "y") else "K"
        elif c == "g":
            code = "X" if nxt in ("e", "i", "y") and i + 1 < len(w) else "K"
        elif c == "x":
            code = "KS"
        elif c in _VOWELS:
            code = "A" if i == 0 else ""
        elif c == "y":
            code = "A" if i == 0 and nxt not in _VOWELS else ("Y" if nxt in _VOWELS else "")
        elif c == "w":
            code = "W" if nxt in _VOWELS else ""
        elif c == "h":
            code = "H" if i == 0 and nxt in _VOWELS else ""
        else:
            code = _PHONETIC_MAP.get(c, "")
        for ch in code:
            if not out or out[-1] != ch:
                out.append(ch)
        i += step
    return "".join(out)


PHONETIC_WEIGHT = 0.95
PHONETIC_MIN_LETTERS = 4  # short words sound alike too easily: "for"/"fire", "gun"/"can"


_FUZZY_INITIALS = (("zh", "z"), ("ch", "c"), ("sh", "s"))
_FUZZY_FINALS = (("ang", "an"), ("eng", "en"), ("ing", "in"))


@lru_cache(maxsize=65536)
def _fuzzy_pinyin(syllable: str) -> str:
    """Pinyin with the distinctions southern and accented Mandarin blurs merged (zh/z, ch/c,
    sh/s, n/l, -ng/-n): how a recogniser's near-homophones are found."""
    for hard, soft in _FUZZY_INITIALS:
        if syllable.startswith(hard):
            syllable = soft + syllable[len(hard):]
    if syllable.startswith("l"):
        syllable = "n" + syllable[1:]
    for hard, soft in _FUZZY_FINALS:
        if syllable.endswith(hard):
            syllable = syllable[: -len(hard)] + soft
    return syllable


@lru_cache(maxsize=65536)
def _sound(char: str) -> str:
    """A Chinese character's pinyin with the near-homophones merged (`_fuzzy_pinyin`)."""
    return _fuzzy_pinyin(pinyin(char))


CJK_HOMOPHONE = 0.9
ORDER_FREE_WEIGHT = 0.85
CJK_NEAR_HOMOPHONE = 0.8
STEM_MATCH = 0.95


@lru_cache(maxsize=65536)
def token_similarity(a: str, b: str) -> float:
    """Similarity of two normalised tokens in [0, 1] (see the module doc)."""
    if a == b:
        return 1.0
    if _is_cjk_char(a[:1]) or _is_cjk_char(b[:1]):
        pa, pb = pinyin(a), pinyin(b)
        if not pa or not pb:
            return 0.0
        if pa == pb:
            return CJK_HOMOPHONE
        return CJK_NEAR_HOMOPHONE if _fuzzy_pinyin(pa) == _fuzzy_pinyin(pb) else 0.0
    if len(a) > 2 and len(b) > 2 and stem(a) == stem(b):
        return STEM_MATCH
    spelled = _ratio(a, b)
    ka, kb = phonetic_key(a), phonetic_key(b)
    sounded = 0.0
    if ka and kb and min(len(a), len(b)) >= PHONETIC_MIN_LETTERS \
            and min(len(a), len(b)) / max(len(a), len(b)) >= 0.7:
        key_ratio = _ratio(ka, kb)
        if key_ratio >= 0.85 and min(len(ka), len(kb)) >= 2 or ka == kb:
            sounded = PHONETIC_WEIGHT * key_ratio
    plural = 0.9 if a.rstrip("s") == b.rstrip("s") or a.removesuffix("es") == b \
        or b.removesuffix("es") == a else 0.0
    return max(spelled, sounded, plural)


def _written_similarity(a: str, b: str) -> float:
    """Equal, the same stem, or a spelling slip; no sound-alikes (for order-free matching,
    where sound-alike words scattered over a sentence would find phrases that are not there)."""
    if a == b:
        return 1.0
    if len(a) > 2 and len(b) > 2 and stem(a) == stem(b):
        return STEM_MATCH
    return _ratio(a, b)


def _exact_or_plural(a: str, b: str) -> float:
    """1 for equal tokens, 0.9 for a plural ("agent"/"agents"), else 0."""
    if a == b:
        return 1.0
    return 0.9 if len(a) > 2 and len(b) > 2 and (a + "s" == b or b + "s" == a) else 0.0


def _prefix_similarity(prefix: str, word: str) -> float:
    """How well an unfinished last word `prefix` starts `word` (0 when too short to tell)."""
    if _is_cjk_char(word[:1]) or len(prefix) >= len(word):
        return 0.0
    if len(prefix) < max(3, (len(word) + 1) // 2):
        return 0.0
    return _ratio(prefix, word[:len(prefix)])


# --- matching ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PhraseMatch:
    """One phrase found in a text.

    `phrase` is the configured phrase as written, `language` the key it was configured under,
    `span` the (start, end) character offsets of the matched stretch in the text that was
    searched, `matched` that stretch, `score` in [0, 1] (1 = exact after normalisation) and
    `complete` False when the match relies on an unfinished last word of partial text.
    """

    phrase: str
    language: str
    span: tuple[int, int]
    matched: str
    score: float
    complete: bool = True

    @property
    def exact(self) -> bool:
        return self.score >= 0.9999


@dataclass(frozen=True)
class _Phrase:
    text: str
    language: str
    tokens: tuple[str, ...]
    weights: tuple[float, ...]
    cjk: bool
    fuzzy: bool
    joined: str

    @property
    def one_content_word(self) -> bool:
        """A Latin phrase whose meaning rests on its small words too ("transfer me", "on
        fire"): they must be there, else every "number transfer" would be "transfer me"."""
        return not self.cjk and sum(1 for t in self.tokens if t not in _STOPWORDS) == 1


def _weight(token: str, cjk: bool) -> float:
    if cjk:
        return 1.0
    base = max(3.0, float(len(token)))
    return base / 2 if token in _STOPWORDS else base


def _insert_cost(token: str, cjk: bool) -> float:
    if cjk:
        return 0.5 if token in _FILLERS_CJK else 1.0
    if token in _FILLERS_LATIN:
        return 0.5
    return _weight(token, False)


class PhraseMatcher:
    """Finds configured phrases in recognised text, tolerant of ASR errors (see the module doc).

    `phrases`: phrases per language code, e.g. {"en": ["chest pain"], "zh": ["胸痛"]}.
    `exclusions`: phrases per language that cancel an overlapping match in the same clause.
    `threshold` / `cjk_threshold`: the minimum phrase score for Latin / Chinese phrases.
    """

    def __init__(self, phrases: Mapping[str, Iterable[str]],
                 exclusions: Mapping[str, Iterable[str]] | None = None,
                 threshold: float = 0.8, cjk_threshold: float = 0.75) -> None:
        if not 0 < threshold <= 1 or not 0 < cjk_threshold <= 1:
            raise ValueError("thresholds must be in (0, 1]")
        self.threshold = threshold
        self.cjk_threshold = cjk_threshold
        self._phrases: list[_Phrase] = []
        seen: set[tuple[str, ...]] = set()
        for language, items in phrases.items():
            for text in items:
                compiled = self._compile(text, language)
                if compiled is not None and compiled.tokens not in seen:
                    seen.add(compiled.tokens)
                    self._phrases.append(compiled)
        self._exclusions: list[tuple[str, ...]] = []
        for items in (exclusions or {}).values():
            for text in items:
                toks = tuple(t.norm for t in tokenize(text))
                if toks:
                    self._exclusions.append(toks)

    @staticmethod
    def _compile(text: str, language: str) -> _Phrase | None:
        toks = tuple(t.norm for t in tokenize(text))
        if not toks:
            return None
        cjk = any(_is_cjk_char(t) for t in toks)
        if cjk:
            fuzzy = len(toks) >= 3
        else:
            fuzzy = len(toks) > 1 or len(toks[0]) >= 6
        return _Phrase(text, language, toks, tuple(_weight(t, cjk) for t in toks), cjk, fuzzy,
                       "".join(toks))

    @property
    def phrases(self) -> list[str]:
        """The configured phrases (duplicates after normalisation removed)."""
        return [p.text for p in self._phrases]

    def find(self, text: str, partial: bool = False,
             languages: Iterable[str] | None = None) -> PhraseMatch | None:
        """The best-scoring match in `text`, or None. `partial`: `text` is an interim ASR result
        whose last word may be unfinished. `languages`: only phrases configured under these."""
        found = self.find_all(text, partial, languages)
        return found[0] if found else None

    def find_all(self, text: str, partial: bool = False,
                 languages: Iterable[str] | None = None) -> list[PhraseMatch]:
        """Every phrase found in `text`, best first (one match per phrase)."""
        tokens = tokenize(text)
        if not tokens:
            return []
        wanted = set(languages) if languages is not None else None
        blocked = self._excluded_ranges(tokens)
        # read once per text, not once per phrase: where each word occurs, and the sounds of
        # its Chinese characters
        starts: dict[str, list[int]] = {}
        for i, token in enumerate(tokens):
            starts.setdefault(token.norm, []).append(i)
        sounds = {_sound(t.norm) for t in tokens if t.cjk}
        matches: list[PhraseMatch] = []
        for phrase in self._phrases:
            if wanted is not None and phrase.language not in wanted:
                continue
            found = self._match(phrase, tokens, partial, blocked, starts, sounds)
            if found is None:
                continue
            score, first, last, complete = found
            start, end = tokens[first].start, tokens[last].end
            matches.append(PhraseMatch(phrase.text, phrase.language, (start, end),
                                       text[start:end], round(score, 4), complete))
        matches.sort(key=lambda m: (-m.score, m.span[0]))
        return matches

    # ---- internals ------------------------------------------------------------------------
    def _excluded_ranges(self, tokens: list[Token]) -> list[tuple[int, int]]:
        norms = [t.norm for t in tokens]
        ranges: list[tuple[int, int]] = []
        for excl in self._exclusions:
            n = len(excl)
            for i in range(len(tokens) - n + 1):
                if tuple(norms[i:i + n]) == excl and tokens[i].clause == tokens[i + n - 1].clause:
                    ranges.append((i, i + n - 1))
        return ranges

    def _threshold(self, phrase: _Phrase) -> float:
        return self.cjk_threshold if phrase.cjk else self.threshold

    def _match(self, phrase: _Phrase, tokens: list[Token], partial: bool,
               blocked: list[tuple[int, int]], starts: dict[str, list[int]],
               sounds: set[str]) -> tuple[float, int, int, bool] | None:
        """(score, first token, last token, complete) of the best alignment that no exclusion
        overlaps, or None. `starts`: each word's positions in `tokens`; `sounds`: the sounds of
        their Chinese characters."""
        def free(first: int, last: int) -> bool:
            return not any(first <= b_last and b_first <= last for b_first, b_last in blocked)

        best = self._exact(phrase, tokens, free, starts)
        if best is not None:
            return best
        if not self._possible(phrase, tokens, partial, sounds):
            return self._joined(phrase, tokens, free) if phrase.fuzzy and not phrase.cjk else None
        if not phrase.fuzzy:
            return self._aligned(phrase, tokens, partial, False, free)
        candidates = [c for c in (self._aligned(phrase, tokens, partial, True, free),
                                  None if phrase.cjk else self._joined(phrase, tokens, free))
                      if c is not None]
        if candidates:
            return max(candidates, key=lambda c: c[0])
        return None if phrase.cjk else self._unordered(phrase, tokens, free)

    def _unordered(self, phrase: _Phrase, tokens: list[Token],
                   free: Callable[[int, int], bool]) -> tuple[float, int, int, bool] | None:
        """Every content word of the phrase within one clause, in any order, close together
        ("pain in my chest" for "chest pain"). Phrases with a negation keep their order."""
        content = [t for t in phrase.tokens if t not in _STOPWORDS]
        if len(content) < 2 or any(t in NEGATIONS for t in content):
            return None
        places: list[list[tuple[int, float]]] = []
        for word in content:
            need = max(0.85, self._min_token(word, phrase))
            found = [(j, s) for j, tok in enumerate(tokens)
                     if not tok.cjk and (s := _written_similarity(word, tok.norm)) >= need]
            if not found:
                return None
            places.append(found)
        best: tuple[float, int, int, bool] | None = None
        for combo in itertools.product(*places):
            where = [j for j, _ in combo]
            first, last = min(where), max(where)
            if len(set(where)) < len(where) or last - first > len(content) + 3 \
                    or tokens[first].clause != tokens[last].clause or not free(first, last):
                continue
            score = ORDER_FREE_WEIGHT * sum(s for _, s in combo) / len(combo)
            if score >= self.threshold and (best is None or score > best[0]):
                best = (score, first, last, True)
        return best

    @staticmethod
    def _exact(phrase: _Phrase, tokens: list[Token], free: Callable[[int, int], bool],
               starts: dict[str, list[int]]) -> tuple[float, int, int, bool] | None:
        n = len(phrase.tokens)
        for i in starts.get(phrase.tokens[0], ()):
            if i + n <= len(tokens) \
                    and all(tokens[i + k].norm == phrase.tokens[k] for k in range(1, n)) \
                    and free(i, i + n - 1):
                return 1.0, i, i + n - 1, True
        return None

    def _aligned(self, phrase: _Phrase, tokens: list[Token], partial: bool, fuzzy: bool,
                 free: Callable[[int, int], bool]) -> tuple[float, int, int, bool] | None:
        """Weighted semi-global alignment; with fuzzy=False only fillers and (in partial mode) an
        unfinished last word are tolerated."""
        p, w = phrase.tokens, phrase.weights
        m, n = len(p), len(tokens)
        total = sum(w)
        inf = float("inf")

        def sim(k: int, j: int) -> tuple[float, bool]:
            t = tokens[j].norm
            s = token_similarity(p[k], t) if fuzzy else _exact_or_plural(p[k], t)
            if partial and j == n - 1 and s < 0.85:
                ps = _prefix_similarity(t, p[k])
                if ps > s and (fuzzy or ps >= 0.9999):
                    return ps, False
            return s, True

        # cost[k][j]: cheapest alignment of phrase tokens [0, k) ending at text token j-1;
        # start: its first text token; ok: every phrase word passed its own check; done: no
        # unfinished last word used
        cost = [[inf] * (n + 1) for _ in range(m + 1)]
        start = [[-1] * (n + 1) for _ in range(m + 1)]
        ok = [[True] * (n + 1) for _ in range(m + 1)]
        done = [[True] * (n + 1) for _ in range(m + 1)]
        for j in range(n + 1):
            cost[0][j], start[0][j] = 0.0, j
        for k in range(1, m + 1):
            cost[k][0] = cost[k - 1][0] + w[k - 1]
            start[k][0] = 0
            ok[k][0] = False
            for j in range(1, n + 1):
                s, complete = sim(k - 1, j - 1)
                min_tok = self._min_token(p[k - 1], phrase)
                options = [
                    (cost[k - 1][j - 1] + w[k - 1] * (1 - s), start[k - 1][j - 1],
                     ok[k - 1][j - 1] and s >= min_tok, done[k - 1][j - 1] and complete),
                    (cost[k - 1][j] + (inf if phrase.cjk else w[k - 1]), start[k - 1][j],
                     ok[k - 1][j] and min_tok == 0.0, done[k - 1][j]),
                ]
                if start[k][j - 1] >= 0 and cost[k][j - 1] < inf:  # extra text word inside
                    ins = _insert_cost(tokens[j - 1].norm, tokens[j - 1].cjk)
                    if not fuzzy and ins > 0.5:
                        ins = inf
                    options.append((cost[k][j - 1] + ins, start[k][j - 1], ok[k][j - 1],
                                    done[k][j - 1]))
                options = [o for o in options if o[0] < inf]
                if not options:
                    continue
                # prefer alignments that pass the per-token checks, then lower cost
                c, st, good, comp = min(options, key=lambda o: (not o[2], o[0]))
                cost[k][j], start[k][j], ok[k][j], done[k][j] = c, st, good, comp
        best: tuple[float, int, int, bool] | None = None
        for j in range(1, n + 1):
            if not ok[m][j] or cost[m][j] == inf:
                continue
            score = 1 - cost[m][j] / total
            first, last = start[m][j], j - 1
            if first > last or tokens[first].cjk != phrase.cjk or not free(first, last) \
                    or tokens[first].clause != tokens[last].clause:
                continue
            if score >= self._threshold(phrase) - 1e-9 and (best is None or score >= best[0]):
                best = (score, first, last, done[m][j])
        return best

    def _possible(self, phrase: _Phrase, tokens: list[Token], partial: bool,
                  sounds: set[str]) -> bool:
        """Cheap necessary condition for an alignment: every content word of the phrase is close
        to some text word (CJK: half of the phrase's characters sound like one in the text,
        `sounds`)."""
        if phrase.cjk:
            return 2 * sum(1 for ch in phrase.tokens if _sound(ch) in sounds) \
                >= len(phrase.tokens)
        last = tokens[-1].norm
        for word in phrase.tokens:
            need = self._min_token(word, phrase)
            if need == 0.0:
                continue
            if not any(token_similarity(word, t.norm) >= need for t in tokens if not t.cjk) \
                    and not (partial and _prefix_similarity(last, word) >= need):
                return False
        return True

    @staticmethod
    def _min_token(token: str, phrase: _Phrase) -> float:
        if phrase.cjk:
            return 0.0
        if token in _STOPWORDS:
            return 0.85 if phrase.one_content_word else 0.0
        return 0.85 if len(token) <= 4 else 0.7

    def _joined(self, phrase: _Phrase, tokens: list[Token],
                free: Callable[[int, int], bool]) -> tuple[float, int, int, bool] | None:
        """Split or merged words: compare with the spaces removed (counted at >= 0.9 only)."""
        target = phrase.joined
        if len(target) < 6:
            return None
        m = len(phrase.tokens)
        best: tuple[float, int, int, bool] | None = None
        for size in {max(1, m - 1), m + 1}:
            if size == m:
                continue
            for i in range(len(tokens) - size + 1):
                window = tokens[i:i + size]
                if any(t.cjk for t in window) or window[0].clause != window[-1].clause:
                    continue
                joined = "".join(t.norm for t in window)
                if abs(len(joined) - len(target)) > 0.1 * len(target) or joined[0] != target[0]:
                    continue  # cannot reach 0.9
                score = _ratio(joined, target)  # spelling only: keys of long strings collide
                if score >= max(0.9, self.threshold) and free(i, i + size - 1) \
                        and (best is None or score > best[0]):
                    best = (score, i, i + size - 1, True)
        return best
