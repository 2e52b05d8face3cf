"""Warning signs of suicide that are no statement of self-harm: being gone ("she'll need the
account after I'm gone", 等我走了), goodbyes, being a burden, affairs put in order, means at hand
(pills saved up), a dangerous place. Veiled self-harm sounds like this on a service line and the
net, which reads the service request around it, scores it calm. A warning sign is never a
hand-off by itself; it gets the safety check ("are you safe right now?", `ivr.safety.check`).

The expressions are data (`warning_signs.yaml`), matched like the denials and the check's answers.
"""

from __future__ import annotations

from pathlib import Path

from ivr.safety.expressions import language_patterns
from ivr.text.normalize import pattern_form

__all__ = ["warning_sign"]

_DATA = Path(__file__).with_name("warning_signs.yaml")


def warning_sign(text: str) -> str | None:
    """The words of the first warning sign in `text` (judge it without the caller's denials),
    or None."""
    language, plain = pattern_form(text)
    match = language_patterns(_DATA)[language].search(plain)
    return text[match.start():match.end()] if match and match.group(0) else None
