"""Text normalisation, in one place: the guards, the phrase matcher, the slot parsers, the
grounding check and the anger scoring all read caller and bot text through these functions.

* `prepare`: Unicode NFKC (full-width forms to ASCII), straight apostrophes, traditional Chinese
  characters folded to simplified ones (whisper often writes traditional), length-preserving so
  character spans still index the original text.
* `tokenize`: normalised `Token`s with spans and clause numbers (see its doc), used for phrase
  matching; `normalize_text` joins them.
* `simple_normalize`: lower case, punctuation to spaces (for whole-utterance comparisons such as
  phantom phrases and backchannels).
* `content_units`: the content words of a sentence, or character pairs for Chinese.
* `stem` (Snowball, English) and `pinyin` (toneless, per character) for inflection- and
  sound-level comparison.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["AUXILIARIES", "CJK_CHARS", "STOPWORDS", "NEGATIONS", "Token", "asks_something",
           "content_units", "has_cjk", "is_cjk", "normalize_text", "pattern_form", "pinyin",
           "prepare",
           "simple_normalize", "sound_form", "stem", "to_simplified", "tokenize",
           "digits_as_hanzi",
           "spoken_number"]

CJK_CHARS = "\u3007\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
"""Character-class body of the CJK ideographs (for regular expressions)."""
_CJK_RE = re.compile(f"[{CJK_CHARS}]")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'",
                              "\u00b4": "'"})

NEGATIONS = frozenset({"not", "no", "cannot", "never", "nothing", "nobody"})
STOPWORDS = frozenset("""a an the and or but if of to in on at for with by from is are was were
be been am it its this that these those you your we our us i me my can will would could should do
does did have has had so as up out about into than then there here just also very please any all
more most some such only own same too""".split())
"""Function words that carry no content (negations are not among them: "not breathing")."""


def is_cjk(ch: str) -> bool:
    """True for one CJK ideograph."""
    return bool(_CJK_RE.match(ch))


def has_cjk(text: str) -> bool:
    """True when `text` holds any CJK ideograph."""
    return bool(_CJK_RE.search(text))


@lru_cache(maxsize=8192)
def _simplified_char(ch: str) -> str:
    import zhconv

    out = zhconv.convert(ch, "zh-cn")
    return out if len(out) == 1 else ch


def to_simplified(text: str) -> str:
    """Traditional Chinese characters as simplified ones, character by character (same length)."""
    if not has_cjk(text):
        return text
    return "".join(_simplified_char(ch) if is_cjk(ch) else ch for ch in text)


def pattern_form(text: str) -> tuple[str, str]:
    """(language, text) as the safety data files' regular expressions match it: "zh" and the text
    folded to simplified characters when it holds any, else "en" and the text in lower case with
    typographic apostrophes straightened. Same length, so a match's span is a span of `text`."""
    if has_cjk(text):
        return "zh", to_simplified(text)
    return "en", text.lower().replace("\u2019", "'")


def prepare(text: str) -> str:
    """NFKC, straight apostrophes, simplified Chinese; the same length as `text` (NFKC is skipped
    in the rare case, such as ligatures, where it would change the length)."""
    nfkc = unicodedata.normalize("NFKC", text)
    if len(nfkc) != len(text):
        nfkc = text
    return to_simplified(nfkc.translate(_APOSTROPHES))


def simple_normalize(text: str) -> str:
    """Lower case, punctuation to spaces, collapsed whitespace, simplified Chinese."""
    return " ".join(re.sub(r"[^\w\s]", " ", prepare(text).lower()).split())


# ---- tokens -------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(rf"\.{{2,}}|[{CJK_CHARS}]|[^\W_{CJK_CHARS}]+(?:'[^\W_{CJK_CHARS}]+)*"
                       rf"|[.!?;。！？；]")
_CLAUSE_END = set(".!?;。！？；")
_DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# One apostrophe-free token -> canonical tokens.
_CONTRACTIONS: dict[str, tuple[str, ...]] = {
    "cant": ("cannot",), "cann't": ("cannot",), "dont": ("do", "not"), "doesnt": ("does", "not"),
    "didnt": ("did", "not"), "isnt": ("is", "not"), "arent": ("are", "not"),
    "wasnt": ("was", "not"), "werent": ("were", "not"), "wont": ("will", "not"),
    "wouldnt": ("would", "not"), "couldnt": ("could", "not"), "shouldnt": ("should", "not"),
    "havent": ("have", "not"), "hasnt": ("has", "not"), "aint": ("is", "not"),
    "im": ("i", "am"), "ive": ("i", "have"), "ill": ("i", "will"), "youre": ("you", "are"),
    "theyre": ("they", "are"), "theres": ("there", "is"), "whats": ("what", "is"),
    "thats": ("that", "is"), "hes": ("he", "is"), "shes": ("she", "is"), "its": ("it", "is"),
    "lets": ("let", "us"), "wanna": ("want", "to"), "gonna": ("going", "to"),
    "gotta": ("got", "to"), "gimme": ("give", "me"), "youve": ("you", "have"),
}
# Two canonical tokens -> one.
_MERGES: dict[tuple[str, str], str] = {("can", "not"): "cannot"}


@dataclass(frozen=True)
class Token:
    """One normalised token and the characters of the original text it came from."""

    norm: str
    start: int
    end: int
    clause: int
    cjk: bool


def tokenize(text: str) -> list[Token]:
    """Normalised tokens of `text` with their character spans: lower case, a possessive "'s"
    dropped, apostrophes dropped inside words, contractions canonicalised (`cant`/`can not` ->
    `cannot`, `dont` -> `do not`, `im` -> `i am`, `wanna` -> `want to` ...), digit runs spelled
    out digit by digit ("911" -> "nine one one"), each CJK character a token of its own
    (simplified). Sentence punctuation (. ! ? ; 。！？；) starts a new clause; an ellipsis does not."""
    prepared = prepare(text)
    raw: list[Token] = []
    clause = 0
    for m in _TOKEN_RE.finditer(prepared):
        word = m.group(0)
        if word.startswith(".."):  # an ellipsis is a hesitation, not the end of a clause
            continue
        if word in _CLAUSE_END:
            clause += 1
            continue
        if is_cjk(word):
            raw.append(Token(word, m.start(), m.end(), clause, True))
            continue
        low = word.lower()
        if low.endswith("'s") and low.replace("'", "") not in _CONTRACTIONS:
            low = low[:-2]  # possessive: "operator's" -> "operator"
        low = low.replace("'", "")
        for sub in re.finditer(r"\d+|[^\d]+", low):  # "3g" -> "three", "g"
            piece = sub.group(0)
            start, end = m.start(), m.end()
            if piece.isdigit():
                for d in piece:
                    raw.append(Token(_DIGITS[int(d)] if d.isascii() else d, start, end, clause,
                                     False))
            else:
                for canon in _CONTRACTIONS.get(piece, (piece,)):
                    raw.append(Token(canon, start, end, clause, False))
    out: list[Token] = []
    for tok in raw:
        if out and not tok.cjk and not out[-1].cjk and out[-1].clause == tok.clause \
                and (out[-1].norm, tok.norm) in _MERGES:
            prev = out.pop()
            out.append(Token(_MERGES[(prev.norm, tok.norm)], prev.start, tok.end, tok.clause,
                             False))
        else:
            out.append(tok)
    return out


def normalize_text(text: str) -> str:
    """The normalised form of `text` (tokens joined by spaces), e.g. "I can't" -> "i cannot"."""
    return " ".join(t.norm for t in tokenize(text))


def content_units(text: str) -> set[str]:
    """Content words of `text` (stemmed, no stop words, three letters or more), or its character
    pairs when it is Chinese (no word boundaries)."""
    toks = tokenize(text)
    cjk = "".join(t.norm for t in toks if t.cjk)
    if cjk:
        return {cjk[i:i + 2] for i in range(len(cjk) - 1)}
    return {stem(t.norm) for t in toks if len(t.norm) > 2 and t.norm not in STOPWORDS}


_QUESTION_WORDS = frozenset("what how when where which who whom whose why".split())
AUXILIARIES = frozenset("do does did can could will would should may might must".split())
"""Auxiliaries that open or invert a question ("can I ...", "how much does ...")."""
_QUESTION_OPENERS = AUXILIARIES | frozenset("is are was were am shall have has had cannot".split())
_ASKING = _QUESTION_OPENERS | frozenset("much many long often far soon kind time".split())
_LEAD_FILLERS = frozenset("um uh er erm so well hi hello hey ok okay yeah yes right and but oh".split())
_CJK_QUESTION = re.compile("[吗呢么？?]|什么|怎么|怎样|多少|多久|多长|几[个点天号月年次]|哪|是否|能不能|可不可以|"
                           "有没有|是不是|会不会|要不要|行不行")


def asks_something(text: str) -> bool:
    """Whether `text` is put as a question ("what voltage do the supplies take", "can I ...",
    "...?", 要多久) rather than told ("the server won't power on")."""
    if "?" in text or (has_cjk(text) and _CJK_QUESTION.search(text)):
        return True
    words = [t.norm for t in tokenize(text) if not t.cjk]
    opener = _opener(words)
    if opener in _QUESTION_OPENERS or opener in _QUESTION_WORDS:
        return True
    # a question word inside, asking ("... how does that work"), not joining a clause ("the
    # signal where I live")
    return any(w in _QUESTION_WORDS and following in _ASKING
               for w, following in zip(words, words[1:]))


def opens_with_question_word(text: str) -> bool:
    """Whether `text`'s first word past fillers is what, how, where, which ... ("um what's
    error code e two zero one one": a question, however many digits it reads out)."""
    return _opener([t.norm for t in tokenize(text) if not t.cjk]) in _QUESTION_WORDS


def _opener(words: list[str]) -> str:
    return next((w for w in words if w not in _LEAD_FILLERS), "")


# ---- stems and sounds ---------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Snowball (Porter 2) stem of one lower-case English word: killing, killed -> kill."""
    return _stemmer().stemWord(word)


@lru_cache(maxsize=65536)
def pinyin(ch: str) -> str:
    """Toneless pinyin of one CJK character (its most common reading), or "" for others.
    Homophones the recogniser writes (痛/通, 救/就) share it."""
    if not is_cjk(ch):
        return ""
    from pypinyin import Style, lazy_pinyin

    return lazy_pinyin(ch, style=Style.NORMAL)[0]


_SYLLABLE_CHARS: dict[str, str] = {}   # toneless syllable -> its private-use character


@lru_cache(maxsize=65536)
def _sound_char(ch: str) -> str:
    syllable = pinyin(ch)
    if not syllable:
        return ch
    # one private-use character per syllable, numbered as syllables are first met: the same in
    # a pattern and in the text it is matched on, within one process
    return _SYLLABLE_CHARS.setdefault(syllable, chr(0xE000 + len(_SYLLABLE_CHARS)))


def sound_form(text: str) -> str:
    """`text` with every Chinese character replaced by one character per toneless syllable
    (same length): homophones the recogniser writes (指住, 纸住 for 止住) become equal, so a
    regular expression in this form (its Chinese literals folded alike) matches them."""
    return "".join(_sound_char(ch) for ch in text) if has_cjk(text) else text


# ---- Arabic digits as Chinese numerals ----------------------------------------------------------

_HANZI_DIGITS = "零一二三四五六七八九"


def _number_as_hanzi(run: str) -> str:
    """One run of Arabic digits as a Mandarin speaker reads it: up to two digits as a number
    ("12" -> "十二", "30" -> "三十", "3" -> "三"), longer runs (phone numbers) digit by digit."""
    if len(run) > 2 or (len(run) == 2 and run[0] == "0"):
        return "".join(_HANZI_DIGITS[int(d)] for d in run)
    value = int(run)
    if value < 10:
        return _HANZI_DIGITS[value]
    tens, units = divmod(value, 10)
    return ("" if tens == 1 else _HANZI_DIGITS[tens]) + "十" + (_HANZI_DIGITS[units] if units else "")


def digits_as_hanzi(text: str) -> str:
    """Arabic digit runs in `text` as Chinese numerals ("12月3号" -> "十二月三号",
    "138 1234 5678" -> "一三八 一二三四 五六七八"), so that a recogniser writing digits and a
    reference writing characters are compared as the same words (character error rates)."""
    return re.sub(r"[0-9]+", lambda m: _number_as_hanzi(m.group(0)), text)


def spoken_number(digits: str, language: str) -> str:
    """A number read back digit by digit in groups, as people read phone numbers: 3 digits, then
    fours ("139 0012 2333"; in Chinese 一三九 零零一二 二三三三, which a voice reads digit by digit
    rather than as a quantity), and ten English digits as 3-3-4 ("555 123 4567"). Anything but
    digits is kept as it is."""
    if not digits.isdigit() or len(digits) <= 4:
        groups = [digits]
    elif language == "en" and len(digits) == 10:
        groups = [digits[:3], digits[3:6], digits[6:]]
    else:
        groups = [digits[:3]] + [digits[i:i + 4] for i in range(3, len(digits), 4)]
    if language == "zh":
        return "，".join("".join(_HANZI_DIGITS[int(d)] for d in group) if group.isdigit()
                        else group for group in groups)
    return ", ".join(" ".join(group) for group in groups)
