"""A synthetic call's event stream, shaped and timed like a real SIP call's (see a worker's
`recordings/*.jsonl`): for the store's tests and its write-latency benchmark."""

from __future__ import annotations

from typing import Any, Iterator

Step = tuple[float, str, dict[str, Any]]  # (seconds after the previous event, kind, data)

QUESTION = "How much does roaming cost if I travel to Canada?"
ANSWER = ["Roaming in the European Union is included in every plan.",
          "Elsewhere it costs five dollars a day."]
ASK_HUMAN = "Can I speak to a real person please?"
TRANSFER_TARGET = "sip:agents@127.0.0.1:5070"


def timed(steps: Iterator[Step]) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """(call time, kind, data): the delays summed up, and `at` made absolute."""
    t = 0.0
    for delay, kind, data in steps:
        t = round(t + delay, 3)
        if "at" in data:
            data = {**data, "at": round(t + data["at"], 3)}
        yield t, kind, data


def call_events(call_id: str, questions: int = 1, end: str = "transferred",
                worker: str = "w1") -> Iterator[Step]:
    """Greeting, `questions` answered questions, then: `transferred` (the caller asks for a
    person), `caller_hangup` (the caller hangs up after the last answer) or `open` (the
    stream stops mid-call, as when the worker is killed)."""
    yield 0.0, "sip.invite", {"remote": "<sip:+15550100@127.0.0.1> via 127.0.0.1:5062",
                              "sip_call_id": f"{call_id}@sipp", "worker": worker}
    yield 0.0, "call.start", {"call_id": call_id, "caller": "+15550100",
                              "dialplan": "/plans/acme-mobile.yaml", "dialplan_sha256": "ab" * 32}
    yield 0.05, "sip.answered", {}
    yield 0.02, "sip.media", {"recording": f"/recordings/{call_id}.wav"}
    yield 0.0, "dialog.node", {"node": "welcome", "type": "say"}
    yield 0.0, "dialog.decision", {"reason": "start", "node": "welcome", "actions": ["say"]}
    yield 0.3, "tts.first_audio", {"compute_s": 0.3, "rtf": 0.2}
    yield 0.0, "bot.say", {"text": "Hello, you've reached Acme Mobile.", "audio_s": 2.0}
    yield 0.1, "bot.say", {"text": "How can I help you today?", "audio_s": 1.3}
    yield 0.0, "playout.first_frame", {}
    yield 0.02, "rtp.first_frame", {}
    for _ in range(questions):
        yield from _turn(QUESTION, {"reason": "kb_match", "node": "questions",
                                    "actions": ["answer"], "score": 0.94, "runner_up": 0.84,
                                    "entry": "roaming"}, ANSWER, llm=True)
    if end == "open":
        yield 4.0, "speech.start", {"at": -0.1, "bot_busy": False}
        return
    if end == "transferred":
        yield from _turn(ASK_HUMAN, {"reason": "caller_asked_for_human", "node": "questions",
                                     "actions": ["say", "transfer"], "phrase": "real person",
                                     "net": "lexicon"},
                         ["Let me put you through to a colleague who can help."])
        yield 2.3, "transfer.request", {"target": TRANSFER_TARGET,
                                        "reason": "caller_asked_for_human",
                                        "summary": "reason=caller_asked_for_human; kb=roaming",
                                        "summary_full": "Reason: caller asked for a person"}
        yield 0.0, "transfer.refer", {"target": TRANSFER_TARGET, "refer_to": TRANSFER_TARGET}
        yield 0.1, "transfer.status", {"status": 100, "reason": "Trying", "final": False}
        yield 0.2, "transfer.status", {"status": 200, "reason": "OK", "outcome": "connected",
                                       "final": True}
        yield 0.0, "sip.hangup", {"reason": "transferred"}
        by = "bot"
    else:
        by = "caller"
    yield 0.05, "sip.disconnected", {"status": 200, "reason": "Normal call clearing", "by": by}
    yield 0.01, "call.end", {"reason": end, "turns": questions + 2, "slots": {},
                             "summary": "reason=" + end, "summary_full": "Reason: " + end}
    yield 0.0, "media.stats", {"rx_frames": 1500, "tx_underruns": 0, "max_pump_gap_ms": 9.5}


def _turn(said: str, decision: dict[str, Any], answer: list[str], llm: bool = False
          ) -> Iterator[Step]:
    # speech.start/end carry `at`, when speech really started/ended: relative here, made
    # absolute by `timed`
    yield 4.0, "speech.start", {"at": -0.1, "bot_busy": False}
    yield 2.5, "speech.end", {"at": -0.7, "speech_ms": 2300}
    yield 0.8, "asr.final", {"text": said, "language": "en", "rtf": 0.22, "compute_s": 0.8}
    yield 0.1, "anger", {"score": 0.0, "smoothed": 0.0, "escalate": False, "verdict": "calm"}
    yield 0.01, "dialog.decision", decision
    if llm:
        yield 0.6, "llm.first_token", {"latency_s": 0.6}
        yield 0.4, "llm.sentence", {"text": "Roaming costs five dollars a day.", "supported": False}
    yield 0.3, "tts.first_audio", {"compute_s": 0.3, "rtf": 0.2}
    for i, sentence in enumerate(answer):
        yield 0.2 * bool(i), "bot.say", {"text": sentence, "audio_s": 2.5}
    yield 0.0, "playout.first_frame", {}
    yield 0.02, "rtp.first_frame", {}
