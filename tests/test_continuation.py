"""A caller who pauses mid-sentence: the end of turn takes the pause for the end and the bot
begins to reply; the caller goes on. The rest joins the turn (the reply stops, the dialog takes
the first part back and hears the whole sentence), except after a hand-off or a backchannel."""

from __future__ import annotations

from ivr.qa.synth import synth_caller

from conftest import call


def _decisions(events) -> list[dict]:
    return [e.data for e in events.of_kind("dialog.decision")]


def test_the_rest_of_a_sentence_joins_the_turn(engines, demo_plan, voice_en):
    # "I am abroad next week." alone nearly matches the data plans entry ("Is your question:
    # What data plans do you have?"); the whole sentence asks about roaming
    caller = synth_caller(voice_en, [(4.0, "I am abroad next week."),
                                     (0.4, "How much will calls cost me there?")])
    result, events = call(engines, demo_plan, caller)
    (went_on,) = events.of_kind("turn.continued")
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert "abroad" in heard[-1].lower() and "cost" in heard[-1].lower(), heard
    assert events.of_kind("barge_in")[0].t <= went_on.t
    final = _decisions(events)[-1]
    assert final["reason"] == "kb_match" and final["entry"] == "roaming", _decisions(events)


def test_an_answer_to_the_question_the_bot_begins_is_not_the_rest_of_the_turn(engines,
                                                                              demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "I am abroad next week."), (0.4, "Yes.")])
    result, events = call(engines, demo_plan, caller)
    assert not events.of_kind("turn.continued")
    final = _decisions(events)[-1]
    assert final.get("confirmed") and final["entry"] == "data_plans", _decisions(events)


def test_going_on_never_takes_back_a_hand_off(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "My husband has chest pain."),
                                     (0.6, "And he is sweating a lot.")])
    result, events = call(engines, demo_plan, caller)
    assert not events.of_kind("turn.continued")
    assert result.transfer is not None and result.transfer.reason == "emergency"


def test_a_backchannel_right_after_the_turn_lets_the_answer_play(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "How do I pay my bill?"), (0.6, "Okay.")])
    result, events = call(engines, demo_plan, caller)
    assert not events.of_kind("turn.continued")
    assert [d["reason"] for d in _decisions(events)] == ["start", "kb_match"]
    assert not events.of_kind("barge_in")


def test_a_joined_turn_keeps_the_words_of_both_parts(engines, demo_plan):
    """Whisper tiny.en hears these two parts' audio, joined, as "My customer ID is a B." alone
    (it stops where the first part ended); the parts' own texts are then what the dialog hears."""
    import asyncio

    from ivr.audio.turn_set import TurnItem, caller_voices, voice_turn
    from ivr.events import EventLog, ManualClock
    from ivr.session.session import JOIN_PAUSE, CallSession

    def speech(text: str) -> bytes:
        voiced = voice_turn(TurnItem("part", (text,), ()), voices)
        (start, end), = voiced.spans
        return voiced.pcm[int(start * 8000) * 2:int(end * 8000 + 1600) * 2]

    voices = caller_voices()
    joined = speech("My customer ID is A B,") + JOIN_PAUSE + speech("7 7, Q X.")
    alone = engines.asr.transcribe(joined, 8000, ("en",)).text
    assert "7" not in alone, alone   # the case this test is about

    async def recognise():
        session = CallSession("join", demo_plan, engines, EventLog(ManualClock()))
        return await session._recognise(joined, parts=("My customer ID is a B.", "7, 7, Q, X"))

    heard = asyncio.run(recognise()).text
    assert "customer" in heard.lower() and "7" in heard and "x" in heard.lower(), heard


def test_joins_stop_where_a_turn_would_end(engines, demo_plan):
    """Each join recognises the whole turn again: a caller going on piece after piece is joined
    only until the turn reaches the endpointer's longest turn, as one breath would be."""
    from ivr.audio.frames import silence
    from ivr.events import EventLog, ManualClock
    from ivr.session.session import CallSession, TakenTurn

    session = CallSession("chain", demo_plan, engines, EventLog(ManualClock()))
    session.playout.push(silence(1000))        # the bot is replying
    longest_s = session.config.endpointer.max_turn_ms / 1000
    session._taken = TakenTurn(silence(int(longest_s * 1000) - 2000), t_end=30.0, speech_s=17.0)
    assert session._continuing(30.5)
    session._taken = TakenTurn(silence(int(longest_s * 1000)), t_end=30.0, speech_s=20.0)
    assert not session._continuing(30.5)
