"""What the human agent is told when a call is handed over.

`build_summary` is deterministic and always works: who is calling (from the slots), what they
want (their first substantial request, and their latest words if different), what the bot tried,
why it transfers, and the caller's mood. `short` fits a SIP header (printable ASCII, at most
200 characters, no quotes or backslashes, so it can also sit inside a quoted header parameter);
`full` is the multi-line note for the agent's screen.

`llm_summary` asks the LLM for a short note from the transcript, within a timeout, and adds it
below the deterministic lines of `full` (which it never replaces: a small model's prose can leave
out what the caller asked about); on any error, timeout or empty reply the summary is the
deterministic one. `short` is never taken from the LLM (caller speech must not reach a SIP
header through a model).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol, Sequence, Union

from ivr.text.normalize import is_cjk

__all__ = ["AgentSummary", "SummaryTurn", "build_summary", "llm_summary", "ascii_safe",
           "mood_label", "REASON_TEXT", "SHORT_MAX"]

SHORT_MAX = 200

REASON_TEXT: dict[str, str] = {
    "emergency": "possible emergency",
    "self_harm": "caller may be at risk of self-harm",
    "caller_accepted_offer": "caller accepted the offer of a person",
    "caller_asked_for_human": "caller asked for a person",
    "caller_pressed_0": "caller pressed 0",
    "cannot_help": "the bot could not help",
    "technical_failure": "technical problem in the bot",
    "angry_caller": "caller is upset",
    "anger": "caller is upset",
}


@dataclass(frozen=True)
class SummaryTurn:
    """One exchange: what the caller said, what the bot answered, and (optionally) the
    decision behind it (`action`/`reason` as in `Decision`, `entry` the KB entry id)."""

    caller: str
    bot: str = ""
    action: str = ""
    reason: str = ""
    entry: str | None = None


TurnLike = Union[SummaryTurn, tuple, Mapping[str, Any]]


@dataclass(frozen=True)
class AgentSummary:
    """The hand-over note. `short` for the SIP header, `full` for the agent's screen;
    `source` is "rules" or "llm" (which wrote `full`)."""

    reason: str
    language: str
    mood: str
    caller: str
    wants: str
    tried: tuple[str, ...]
    short: str
    full: str
    source: str = "rules"
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "language": self.language, "mood": self.mood,
                "caller": self.caller, "wants": self.wants, "tried": list(self.tried),
                "short": self.short, "full": self.full, "source": self.source}


class ChatClient(Protocol):
    """Anything with the `LLMClient.complete` shape."""

    async def complete(self, messages: list[dict[str, str]]) -> str: ...


# --- helpers -----------------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9 \-_.,;:=/'()!?#@+%&*]")


def ascii_safe(text: str) -> str:
    """Printable ASCII without quotes, backslashes, angle brackets or control characters:
    accents are stripped ("é" -> "e"), anything else dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text).translate({0x2019: "'", 0x2018: "'",
                                                             0x201C: "'", 0x201D: "'", 0x22: "'"})
    folded = folded.encode("ascii", "ignore").decode("ascii")
    return " ".join(_SAFE.sub(" ", folded).split())


def mood_label(mood: Any) -> str:
    """"calm", "frustrated" or "angry" from a label, a number in [0, 1], or an
    `AngerAssessment` (its smoothed score, and `escalate`)."""
    if mood is None:
        return "calm"
    if isinstance(mood, str):
        return mood.strip().lower() or "calm"
    if hasattr(mood, "smoothed"):
        if getattr(mood, "escalate", False):
            return "angry"
        value = float(mood.smoothed)
    else:
        value = float(mood)
    return "angry" if value >= 0.45 else "frustrated" if value >= 0.2 else "calm"


def _turn(item: TurnLike) -> SummaryTurn:
    if isinstance(item, SummaryTurn):
        return item
    if isinstance(item, Mapping):
        return SummaryTurn(str(item.get("caller", "")), str(item.get("bot", "")),
                           str(item.get("action", "")), str(item.get("reason", "")),
                           item.get("entry"))
    caller, bot = (list(item) + ["", ""])[:2]
    return SummaryTurn(str(caller or ""), str(bot or ""))


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 3)].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit - 3]
    return cut + "..."


def _first_sentence(text: str) -> str:
    parts = re.split(r"(?<=[.!?。！？])\s*", text.strip(), maxsplit=1)
    return parts[0] if parts else ""


def _substantial(text: str) -> bool:
    words = text.split()
    cjk = sum(1 for ch in text if is_cjk(ch))
    return not text.startswith("[key") and (len(words) >= 3 or cjk >= 4)


def _who(slots: Mapping[str, Any]) -> str:
    keys = ("name", "account", "account_number", "phone", "caller_id", "customer_id")
    parts = [f"{k}={slots[k]}" for k in keys if slots.get(k) not in (None, "")]
    parts += [f"{k}={v}" for k, v in slots.items() if k not in keys and v not in (None, "")]
    return ", ".join(parts) if parts else "unknown caller"


def _tried(turns: Sequence[SummaryTurn]) -> list[str]:
    """What the bot did, in order; a transfer turn (explicit, or the last turn when no turn
    carries an action: its reply is then the hand-over announcement) is left out."""
    tried: list[str] = []
    implicit = not any(t.action for t in turns)
    for i, t in enumerate(turns):
        if t.action == "transfer" or (implicit and i == len(turns) - 1):
            continue
        if t.entry:
            item = f"answered from KB '{t.entry}'"
        elif t.reason in ("out_of_scope", "cannot_help"):
            item = "said it could not help"
        elif t.bot:
            item = f"said: {_clip(_first_sentence(t.bot), 60)}"
        else:
            continue
        if not tried or tried[-1] != item:
            tried.append(item)
    return tried


# --- public API --------------------------------------------------------------------------------

def build_summary(turns: Sequence[TurnLike], slots: Mapping[str, Any] | None, reason: str,
                  mood: Any = None, language: str = "en") -> AgentSummary:
    """Deterministic hand-over note (see the module doc). `turns`: `SummaryTurn`s, (caller, bot)
    tuples as in `DialogState.turns`, or dicts; `slots`: what the bot collected (name, account,
    ...); `reason`: the transfer reason code; `mood`: a label, a score or an AngerAssessment."""
    slots = dict(slots or {})
    items = [_turn(t) for t in turns]
    said = [t.caller.strip() for t in items if t.caller.strip()]
    first = next((s for s in said if _substantial(s)), said[0] if said else "")
    last = said[-1] if said else ""
    wants = first or "(nothing recognised)"
    if last and last != first:
        wants_full = f"{first} | latest: {last}" if first else last
    else:
        wants_full = wants
    tried = _tried(items)
    mood_text = mood_label(mood)
    why = REASON_TEXT.get(reason, reason.replace("_", " "))
    who = _who(slots)

    full_lines = [
        f"Reason: {why} ({reason})",
        f"Caller: {who}; language {language}; mood {mood_text}",
        f"Wants: {_clip(wants_full, 400)}",
        "Bot tried: " + ("; ".join(tried) if tried else "nothing yet"),
        f"Turns: {len(items)}",
    ]
    full = "\n".join(full_lines)
    short = _short(reason, mood_text, language, slots, first or last, tried)
    return AgentSummary(reason, language, mood_text, who, wants_full, tuple(tried), short, full,
                        details={"turns": len(items)})


def _short(reason: str, mood: str, language: str, slots: Mapping[str, Any], said: str,
           tried: Sequence[str]) -> str:
    head = f"reason={ascii_safe(reason)}; mood={mood}; lang={ascii_safe(language)}"
    account = slots.get("account") or slots.get("account_number") or slots.get("customer_id")
    if account:
        head += f"; acct={ascii_safe(str(account))[:24]}"
    kb = [t.split("'")[1] for t in tried if t.startswith("answered from KB '")]
    if kb:
        head += "; kb=" + ",".join(ascii_safe(k) for k in kb[-3:])
    said_ascii = ascii_safe(said)
    if re.search(r"[A-Za-z0-9]", said_ascii):  # Chinese speech leaves only punctuation
        room = SHORT_MAX - len(head) - len("; said=")
        if room >= 12:
            head += "; said=" + _clip(said_ascii, room)
    return head[:SHORT_MAX]


SYSTEM_PROMPT = ("You write hand-over notes for call-centre agents. In at most three short "
                 "sentences in English, say what the caller wants, what the automated assistant "
                 "already tried, and why the call is being transferred. Use only facts from the "
                 "transcript. No greetings, no advice to the agent.")


async def llm_summary(llm_client: ChatClient | None, turns: Sequence[TurnLike],
                      slots: Mapping[str, Any] | None, reason: str, mood: Any = None,
                      language: str = "en", timeout_s: float = 4.0,
                      max_chars: int = 600) -> AgentSummary:
    """The deterministic summary with the LLM's note from the transcript added to `full`; on
    any error, timeout, or an empty reply, the deterministic summary unchanged (source
    "rules")."""
    base = build_summary(turns, slots, reason, mood, language)
    if llm_client is None:
        return base
    transcript = []
    for t in (_turn(x) for x in turns):
        if t.caller:
            transcript.append(f"Caller: {t.caller}")
        if t.bot:
            transcript.append(f"Assistant: {t.bot}")
    user = ("Transcript:\n" + ("\n".join(transcript) or "(empty)")
            + f"\n\nCollected details: {base.caller}\nTransfer reason: {REASON_TEXT.get(reason, reason)}"
            + f"\nCaller mood: {base.mood}")
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
    try:
        text = await asyncio.wait_for(llm_client.complete(messages), timeout_s)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure falls back to the rules
        return replace(base, details={**base.details, "llm_error": f"{type(exc).__name__}: {exc}"})
    text = " ".join(re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", " ", text or "").split())
    if len(text) < 10:
        return replace(base, details={**base.details, "llm_error": "empty reply"})
    return replace(base, full=f"{base.full}\nNote: {_clip(text, max_chars)}", source="llm")
