"""Warning signs of suicide that are no statement of self-harm: being gone ("she'll need the
account after I'm gone", 等我走了), goodbyes, being a burden, affairs put in order, means at hand
(pills saved up), a dangerous place. Veiled self-harm sounds like this on a service line and the
net, which reads the service request around it, scores it calm. A warning sign is never a
hand-off by itself; it gets the safety check ("are you safe right now?", `ivr.safety.check`).

The expressions are data (`warning_signs.yaml`), matched like the denials (by sound in Chinese).
"""

from __future__ import annotations

from pathlib import Path

from ivr.safety.expressions import find_expressions

__all__ = ["warning_sign"]

_DATA = Path(__file__).with_name("warning_signs.yaml")


def warning_sign(text: str) -> str | None:
    """The words of the first warning sign in `text` (judge it without the caller's denials),
    or None."""
    found = find_expressions(_DATA, text)
    return text[found[0][0]:found[0][1]] if found else None
