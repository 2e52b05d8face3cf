"""Cut text into sentences so the first one can be spoken while the rest is still being made."""

from __future__ import annotations

import re

# A sentence ends at . ! ? (followed by space/end, not inside "3.5" or "e.g.") or at CJK 。！？；
_END = re.compile(r"(?<!\b[A-Za-z])(?<!\be\.g)(?<!\bi\.e)(?<!\bMr)(?<!\bDr)(?<!\bMs)(?<!\bMrs)"
                  r"[.!?]+[\"')\]]*(?=\s)|[。！？；]")


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, stripped, empty ones dropped."""
    buffer = SentenceBuffer()
    return buffer.push(text) + buffer.flush()


class SentenceBuffer:
    """Accumulates streamed text (LLM tokens) and hands out each sentence once it is complete."""

    def __init__(self, min_chars: int = 12) -> None:
        self._text = ""
        self.min_chars = min_chars  # do not cut "Yes." alone off a longer first sentence

    def push(self, chunk: str) -> list[str]:
        self._text += chunk
        out: list[str] = []
        start = 0
        for match in _END.finditer(self._text):
            piece = self._text[start:match.end()].strip()
            if len(piece) >= self.min_chars or re.search(r"[\u3000-\u9fff]", piece):
                out.append(piece)
                start = match.end()
        self._text = self._text[start:]
        return out

    def flush(self) -> list[str]:
        rest, self._text = self._text.strip(), ""
        return [rest] if rest else []
