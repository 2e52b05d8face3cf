"""Documents a hotline answers from (Markdown, text, HTML, PDF), cut into passages.

A passage (chunk) never crosses a heading, ends at a paragraph end where it can, and stays under
about `max_tokens` tokens (estimated: 4/3 per word, one per Chinese character). Each keeps its
document's title and the path of headings above it, which go into what is indexed and into the
evidence of an answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from ivr.text.normalize import CJK_CHARS
from ivr.tts.sentences import split_sentences

SUFFIXES = frozenset({".md", ".markdown", ".txt", ".html", ".htm", ".pdf"})
_CJK = re.compile(f"[{CJK_CHARS}]")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
# an error code or model number: letters and digits in one word ("E1410", "R740"; not "2U"),
# also next to Chinese ("E1410错误")
_CODE = re.compile(r"(?<![a-z0-9_])(?=[a-z_]*\d)(?=\d*[a-z])[a-z0-9_]{3,}(?![a-z0-9_])",
                   re.IGNORECASE)


@dataclass(frozen=True)
class Chunk:
    """One passage: where it comes from (`source` relative to the plan) and its text."""

    source: str
    title: str
    headings: tuple[str, ...]
    text: str

    @property
    def indexed_text(self) -> str:
        """What retrieval sees: the title and headings give a short paragraph its topic."""
        return f"{self.place}\n{self.text}"

    @property
    def place(self) -> str:
        """The document's title and the headings above the passage: "Manual > Beep codes"."""
        return " > ".join((self.title, *self.headings))

    def headed_by(self, codes: set[str]) -> bool:
        """Whether one of the headings above the passage names one of `codes` (lower case):
        the section on "E1410: processor internal error" is what E1410 means."""
        return any(code.lower() in codes for heading in self.headings
                   for code in _CODE.findall(heading))

    @property
    def sentences(self) -> list[str]:
        """The passage's sentences and list items, as written (list marks dropped): what a
        quoted answer is made of."""
        lines = (_LIST_MARK.sub("", line).strip() for line in self.text.split("\n"))
        return [s for line in lines if line for s in split_sentences(line)]


@dataclass(frozen=True)
class Block:
    """A paragraph (or list item, table row) under its heading path."""

    headings: tuple[str, ...]
    text: str


def codes(text: str) -> set[str]:
    """The error codes and model numbers `text` names, lower case ("E1410" -> {"e1410"})."""
    return {code.lower() for code in _CODE.findall(text)}


def document_files(folder: Path) -> list[Path]:
    """The readable documents under `folder` (recursively, hidden ones skipped), sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def approx_tokens(text: str) -> int:
    """A tokenizer-free estimate: 4/3 tokens a word, one a Chinese character."""
    cjk = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return cjk + math.ceil(words * 4 / 3)


def read_document(path: Path) -> tuple[str, list[Block]]:
    """(title, blocks) of one file, by its suffix."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _read_pdf(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    if suffix in (".html", ".htm"):
        parser = _HTMLBlocks()
        parser.feed(text)
        parser.close()
        return parser.title or _title_from_name(path), parser.blocks
    if suffix in (".md", ".markdown"):
        return _markdown_blocks(text, path)
    return _text_blocks(text, path)


def chunk_document(source: str, title: str, blocks: list[Block],
                   max_tokens: int = 512) -> list[Chunk]:
    """Pack consecutive paragraphs under the same headings into passages of at most
    `max_tokens`; a longer paragraph is cut at sentence ends (a longer sentence by words)."""
    chunks: list[Chunk] = []
    pending: list[str] = []
    headings: tuple[str, ...] = ()

    def flush() -> None:
        if pending:
            chunks.append(Chunk(source, title, headings, "\n\n".join(pending)))
            pending.clear()

    for block in blocks:
        if block.headings != headings:
            flush()
            headings = block.headings
        for piece in _pieces(block.text, max_tokens):
            if pending and approx_tokens("\n\n".join([*pending, piece])) > max_tokens:
                flush()
            pending.append(piece)
    flush()
    return chunks


def _pieces(text: str, max_tokens: int) -> list[str]:
    """`text` whole if it fits, else sentence runs (and word runs of an overlong sentence)."""
    if approx_tokens(text) <= max_tokens:
        return [text]
    pieces: list[str] = []
    for sentence in split_sentences(text):
        if approx_tokens(sentence) <= max_tokens:
            if pieces and approx_tokens(pieces[-1] + " " + sentence) <= max_tokens:
                pieces[-1] += ("" if _CJK.search(sentence[:1]) else " ") + sentence
            else:
                pieces.append(sentence)
            continue
        units = list(sentence) if _CJK.search(sentence) else sentence.split()
        step = max(1, max_tokens if _CJK.search(sentence) else max_tokens * 3 // 4)
        joiner = "" if _CJK.search(sentence) else " "
        pieces += [joiner.join(units[i:i + step]) for i in range(0, len(units), step)]
    return pieces


def _title_from_name(path: Path) -> str:
    return re.sub(r"[-_]+", " ", path.stem).strip().capitalize()


def _paragraphs(text: str) -> list[str]:
    """Paragraphs (blank-line separated), each with its lines joined."""
    return [" ".join(line.strip() for line in part.splitlines()).strip()
            for part in re.split(r"\n\s*\n", text) if part.strip()]


def _markdown_blocks(text: str, path: Path) -> tuple[str, list[Block]]:
    title, stack, blocks = "", [], []
    lines: list[str] = []

    def paragraph_end() -> None:
        for para in _paragraphs("\n".join(lines)):
            blocks.append(Block(tuple(h for _, h in stack), para))
        lines.clear()

    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading is None:
            # a list item is a paragraph of its own
            if re.match(r"^\s*([-*+]|\d+[.)])\s+", line):
                lines.append("")
            lines.append(line)
            continue
        paragraph_end()
        level, name = len(heading.group(1)), heading.group(2)
        if level == 1 and not title:
            title = name
            continue
        stack = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, name)]
    paragraph_end()
    return title or _title_from_name(path), blocks


def _text_blocks(text: str, path: Path) -> tuple[str, list[Block]]:
    """Plain text: a short first line without a final full stop is the title."""
    paragraphs = _paragraphs(text)
    title = ""
    first = text.strip().splitlines()[0].strip() if text.strip() else ""
    if first and len(first) <= 100 and not first.endswith((".", "。")):
        title = first
        paragraphs[0] = paragraphs[0][len(first):].strip()
    return title or _title_from_name(path), [Block((), p) for p in paragraphs if p]


def _read_pdf(path: Path) -> tuple[str, list[Block]]:
    """Each page's paragraphs under a "page N" heading (PDF text has no reliable headings)."""
    from pypdf import PdfReader

    reader = PdfReader(path)
    title = (reader.metadata.title if reader.metadata else None) or _title_from_name(path)
    blocks = [Block((f"page {number}",), para)
              for number, page in enumerate(reader.pages, start=1)
              for para in _paragraphs(page.extract_text() or "")]
    return str(title), blocks


class _HTMLBlocks(HTMLParser):
    """Headings h1-h6 and text blocks (p, li, td, pre, ...) of an HTML page; script, style and
    navigation are skipped; the first h1 (or <title>) is the title."""

    _BLOCKS = frozenset({"p", "li", "td", "th", "pre", "blockquote", "dd", "dt", "div",
                         "section", "article", "tr", "br"})
    _SKIP = frozenset({"script", "style", "nav", "header", "footer", "noscript", "template"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.blocks: list[Block] = []
        self._stack: list[tuple[int, str]] = []
        self._text: list[str] = []
        self._skipping = 0
        self._heading: int | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag == "title":
            self._in_title = True
        elif re.fullmatch(r"h[1-6]", tag):
            self._end_block()
            self._heading = int(tag[1])
        elif tag in self._BLOCKS:
            self._end_block()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            name, level = " ".join("".join(self._text).split()), self._heading
            self._text, self._heading = [], None
            if level == 1 and not any(lvl == 1 for lvl, _ in self._stack):
                self.title = name
                self._stack = [(1, name)]
            else:
                self._stack = [(lvl, h) for lvl, h in self._stack if lvl < level] + [(level, name)]
        elif tag in self._BLOCKS:
            self._end_block()

    def handle_data(self, data: str) -> None:
        if self._in_title and not self.title:
            self.title = data.strip()
        elif not self._skipping and not self._in_title:
            self._text.append(data)

    def close(self) -> None:
        super().close()
        self._end_block()

    def _end_block(self) -> None:
        text = " ".join("".join(self._text).split())
        self._text = []
        if text and self._heading is None:
            self.blocks.append(Block(tuple(h for lvl, h in self._stack if lvl > 1), text))
