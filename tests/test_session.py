"""Conversations through the real call session: piper caller over G.711 -> whisper -> dialog ->
LLM/piper -> bot audio, which is transcribed back to check what the bot said."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import numpy as np
import pytest

from ivr.audio.frames import FRAME_BYTES, PHONE_RATE, silence
from ivr.audio.g711 import phone_line
from ivr.qa.synth import synth_caller
from ivr.events import EventLog, ManualClock
from ivr.session.offline import run_offline
from ivr.session.session import CallSession, SessionConfig, TakenTurn

from conftest import call, transcribe, words


def turn_decisions(events) -> list[dict]:
    """Decisions on caller input (not the greeting)."""
    return [e.data for e in events.of_kind("dialog.decision") if e.data["reason"] != "start"]


def bot_audio_after(result, events, kind: str) -> bytes:
    """Bot audio from the first event of `kind` to the end of the call."""
    t = events.of_kind(kind)[0].t
    start = int(round(t / 0.02)) * FRAME_BYTES
    return result.bot_audio[start:]


def test_answers_a_knowledge_question_with_approved_facts(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "How much does roaming cost?")])
    result, events = call(engines, demo_plan, caller)
    heard = events.of_kind("asr.final")
    assert len(heard) == 1 and {"roaming", "cost"} <= words(heard[0].data["text"])
    decision = turn_decisions(events)[0]
    assert decision["actions"] == ["answer"] and decision["entry"] == "roaming"
    said = words(transcribe(engines, bot_audio_after(result, events, "asr.final")))
    assert {"five", "dollars"} <= said or "5" in said, said
    assert result.transfer is None


def test_greeting_is_spoken_first(engines, demo_plan):
    result, events = call(engines, demo_plan, silence(3000))
    assert {"reached", "mobile", "help"} <= words(transcribe(engines, result.bot_audio[:PHONE_RATE * 2 * 4]))
    assert events.of_kind("playout.first_frame")[0].t == 0.0


def test_out_of_scope_twice_transfers_with_summary(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "What's the weather in Paris tomorrow?"),
                                     (8.0, "Who won the football game last night?")])
    result, events = call(engines, demo_plan, caller)
    assert [d["reason"] for d in turn_decisions(events)] == ["out_of_scope", "cannot_help"]
    assert result.transfer is not None and result.transfer.target == "sip:agents@127.0.0.1:5070"
    assert "weather" in result.transfer.summary.lower()
    said = words(transcribe(engines, bot_audio_after(result, events, "asr.final")))
    assert {"sorry", "help"} <= said, said


def test_emergency_phrase_transfers_to_emergency_target(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "My father has chest pain and he is sweating.")])
    result, events = call(engines, demo_plan, caller)
    assert result.transfer is not None
    assert result.transfer.target == "sip:emergency@127.0.0.1:5070"
    assert result.transfer.reason == "emergency"
    assert not events.of_kind("llm.first_token")  # safety path never waits for the model


@pytest.mark.parametrize("request_", ["I want to speak to a real person.", "Person, please."])
def test_caller_asking_for_a_person_is_transferred(engines, demo_plan, voice_en, request_):
    caller = synth_caller(voice_en, [(4.0, request_)])
    result, _ = call(engines, demo_plan, caller)
    assert result.transfer is not None and result.transfer.reason == "caller_asked_for_human"


@pytest.mark.parametrize("turn", ["I don't want the insurance anymore.",
                                  "I'm all better now, thanks."])
def test_a_caller_giving_up_a_product_or_feeling_better_is_not_sent_to_crisis_help(
        engines, demo_plan, voice_en, turn):
    caller = synth_caller(voice_en, [(4.0, turn)])
    result, events = call(engines, demo_plan, caller)
    assert result.transfer is None or result.transfer.reason not in ("emergency", "self_harm"), \
        turn_decisions(events)
    assert turn_decisions(events), "the caller's turn was never decided"


def test_barge_in_stops_the_greeting_and_answers_the_caller(engines, demo_plan, voice_en):
    # The greeting lasts ~3.5 s; the caller starts talking at 1.0 s.
    caller = synth_caller(voice_en, [(1.0, "I lost my phone yesterday.")])
    events = EventLog(ManualClock())
    calls: list[tuple[str, int]] = []   # the driver callbacks, with how many events preceded

    def hook(name: str):
        return lambda: calls.append((name, len(events.events)))

    session = CallSession("test", demo_plan, engines, events, on_flush=hook("flush"),
                          on_first_frame=hook("first_frame"))
    result = asyncio.run(run_offline(session, events.clock, caller))
    barge = events.of_kind("barge_in")
    assert len(barge) == 1 and barge[0].data["dropped_s"] > 0.5
    # The driver is told to drop what it holds at the barge-in and at each decision, and when a
    # reply's first frame leaves
    after = [events.events[n - 1].kind for name, n in calls if name == "flush"]
    assert after[:3] == ["dialog.decision", "bot.paused", "barge_in"]
    assert after.count("dialog.decision") == 2
    assert sum(name == "first_frame" for name, _ in calls) == len(
        events.of_kind("playout.first_frame")) == 2
    # The greeting is paused while the caller talks, then dropped: nothing of it plays after
    # the pause.
    (paused,) = events.of_kind("bot.paused")
    assert paused.t < barge[0].t and not events.of_kind("bot.resumed")
    t_barge = paused.t
    t_reply = events.of_kind("asr.final")[0].t
    quiet = result.bot_audio[int(round(t_barge / 0.02) + 1) * FRAME_BYTES:
                             int(round(t_reply / 0.02)) * FRAME_BYTES]
    assert len(quiet) > 0 and not any(quiet)
    assert turn_decisions(events)[0]["entry"] == "lost_phone"


@pytest.mark.parametrize("word", ["Okay.", "Mhm.", "Yeah."])
def test_short_backchannel_does_not_stop_the_bot(engines, demo_plan, voice_en, word):
    caller = synth_caller(voice_en, [(0.6, word)])
    result, events = call(engines, demo_plan, caller)
    assert not events.of_kind("barge_in")
    assert len(events.of_kind("backchannel")) == 1
    # The whole greeting still played.
    assert {"reached", "help"} <= words(transcribe(engines, result.bot_audio[:PHONE_RATE * 2 * 5]))


def test_short_request_over_the_bot_barges_in(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(0.6, "Agent.")])
    result, events = call(engines, demo_plan, caller)
    assert len(events.of_kind("barge_in")) == 1
    assert result.transfer is not None and result.transfer.reason == "caller_asked_for_human"


def test_silence_and_noise_produce_no_turns(engines, demo_plan):
    rng = np.random.default_rng(7)
    noise = rng.normal(0, 0.03 * 32768, PHONE_RATE * 8).clip(-32768, 32767).astype("<i2").tobytes()
    for audio in (silence(10_000), phone_line(noise)):
        result, events = call(engines, demo_plan, audio)
        assert not events.of_kind("asr.final") and result.transfer is None


def test_dtmf_zero_transfers(engines, demo_plan):
    import asyncio

    from ivr.events import EventLog, ManualClock
    from ivr.session.session import CallSession

    async def scenario():
        events = EventLog(ManualClock())
        transfers = []
        session = CallSession("dtmf", demo_plan, engines, events, on_transfer=transfers.append)
        session.start()
        await session.settle()
        session.dtmf("0")
        await session.settle()
        while session.next_frame() is not None:
            pass
        await session.close("test")
        return transfers, events

    transfers, events = asyncio.run(scenario())
    assert [t.reason for t in transfers] == ["caller_pressed_0"]
    assert events.of_kind("call.end")[0].data["reason"] == "test"


def test_a_turn_is_decided_off_the_loop_and_a_key_waits_for_it(engines, demo_plan):
    """The dialog step (guard, retrieval, embeddings) runs on the executor, so the loop keeps
    serving audio meanwhile; a key pressed during it is taken once the step is done, never
    beside it."""
    import threading

    from ivr.asr.base import Transcript

    loop_thread = threading.get_ident()
    log: list[tuple[str, bool]] = []

    async def scenario():
        session = CallSession("off-loop", demo_plan, engines, EventLog(ManualClock()))
        session.start()
        await session.settle()
        dialog = session.dialog
        on_text, on_dtmf = dialog.on_text, dialog.on_dtmf

        def slow_text(*args):
            log.append(("text-start", threading.get_ident() == loop_thread))
            time.sleep(0.3)
            step = on_text(*args)
            log.append(("text-end", threading.get_ident() == loop_thread))
            return step

        def key(digit):
            log.append(("key", threading.get_ident() == loop_thread))
            return on_dtmf(digit)

        dialog.on_text, dialog.on_dtmf = slow_text, key
        heard = Transcript("How do I pay my bill?", "en", 0.0, 0.0, 1.5, 0.1)
        turn = asyncio.get_running_loop().create_task(session._respond(heard, TakenTurn(b"", 0.0, None)))
        ticks = 0
        while not log:  # the step has started
            await asyncio.sleep(0.01)
        session.dtmf("0")
        while len(log) < 2 and ticks < 500:
            await asyncio.sleep(0.01)   # the loop runs while the step is computed
            ticks += 1
        await session.settle()
        turn.cancel()
        await session.close("test")
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks >= 10, ticks
    assert log == [("text-start", False), ("text-end", False), ("key", True)], log


def test_a_key_waits_for_a_step_that_overran_its_timeout(engines, demo_plan):
    """A dialog step past `asr_timeout_s` fails the turn (the caller hears the fallback), but its
    thread cannot be stopped: a key pressed meanwhile is taken once that step is done, never
    beside it."""
    from ivr.asr.base import Transcript

    log: list[str] = []

    async def scenario():
        session = CallSession("straggler", demo_plan, engines, EventLog(ManualClock()),
                              config=SessionConfig(asr_timeout_s=0.1))
        session.start()
        await session.settle()
        dialog = session.dialog
        prepare, on_dtmf = dialog.prepare_turn, dialog.on_dtmf

        def slow_prepare(*args):
            log.append("step-start")
            time.sleep(0.6)
            prepare(*args)
            log.append("step-end")

        def key(digit):
            log.append("key")
            return on_dtmf(digit)

        dialog.prepare_turn, dialog.on_dtmf = slow_prepare, key
        heard = Transcript("How do I pay my bill?", "en", 0.0, 0.0, 1.5, 0.1)
        session._run(session._respond(heard, TakenTurn(b"", 0.0, None)))
        while not session.events.of_kind("error"):   # the step timed out; still running
            await asyncio.sleep(0.01)
        session.dtmf("1")
        for _ in range(200):
            if "key" in log:
                break
            await asyncio.sleep(0.01)
        await session.settle()
        await session.close("test")
        return session.events

    events = asyncio.run(scenario())
    assert "TimeoutError" in events.of_kind("error")[0].data["error"]
    assert log == ["step-start", "step-end", "key"], log


def test_asr_timeout_falls_back_and_transfers(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(4.0, "How do I pay my bill?")])
    result, events = call(engines, demo_plan, caller, SessionConfig(asr_timeout_s=0.001))
    assert events.of_kind("error")
    failures = events.of_kind("engine.failure")
    assert failures and {(f.data["stage"], f.data["timed_out"]) for f in failures} == {("asr", True)}
    assert result.transfer is not None and result.transfer.reason == "technical_failure"
    said = words(transcribe(engines, bot_audio_after(result, events, "error")))
    assert {"technical", "colleague"} & said, said


def always_phrased(loaded):
    """The plan with every answer given to the LLM (no verbatim fast path for close matches)."""
    from dataclasses import replace

    answers = loaded.plan.answers.model_copy(update={"verbatim_above": 1.01})
    return replace(loaded, plan=loaded.plan.model_copy(update={"answers": answers}))


def test_llm_down_still_answers_from_approved_text(engines, demo_plan, voice_en):
    from dataclasses import replace

    from ivr.llm.client import LLMClient, LLMSettings
    from ivr.llm.embedded import free_port

    dead = replace(engines, llm=LLMClient(LLMSettings(base_url=f"http://127.0.0.1:{free_port()}/v1")),
                   retrievers=engines.retrievers)
    caller = synth_caller(voice_en, [(4.0, "How do I pay my bill?")])
    result, events = call(dead, always_phrased(demo_plan), caller)
    assert events.of_kind("llm.error")
    said = words(transcribe(engines, bot_audio_after(result, events, "asr.final")))
    assert {"app", "debit"} <= said, said


@pytest.mark.parametrize("question,entry", [("How can I pay my bill?", "pay_bill"),
                                            ("What data plans do you have?", "data_plans")])
def test_every_spoken_answer_sentence_is_supported(engines, demo_plan, voice_en, question, entry):
    from ivr.dialog.grounding import is_supported

    caller = synth_caller(voice_en, [(4.0, question)])
    _, events = call(engines, always_phrased(demo_plan), caller)
    assert turn_decisions(events)[0]["entry"] == entry
    assert events.of_kind("llm.sentence") or events.of_kind("llm.over_budget")
    approved = next(k.answer["en"] for k in demo_plan.plan.knowledge if k.id == entry)
    answer_says = [e.data["text"] for e in events.of_kind("bot.say")[2:]]
    assert answer_says and all(is_supported(s, approved) for s in answer_says), answer_says


def test_prompts_are_synthesised_once_and_shared_by_calls(engines, demo_plan):
    import asyncio

    from ivr.events import EventLog, ManualClock
    from ivr.session.session import CallSession

    async def greet_at_once(count: int):
        sessions = [CallSession(f"burst-{i}", demo_plan, engines, EventLog(ManualClock()))
                    for i in range(count)]
        for session in sessions:
            session.start()
        for session in sessions:
            await session.settle()
        return sessions

    engines.prompt_audio.clear()
    sessions = asyncio.run(greet_at_once(4))
    audio = [b"".join(iter(s.next_frame, None)) for s in sessions]
    assert len(set(audio)) == 1 and len(audio[0]) > 8000 * 2 * 2
    greeting_sentences = [e.data["text"] for e in sessions[0].events.of_kind("bot.say")]
    assert set(engines.prompt_audio) == {("en", t) for t in greeting_sentences}


class CountingASR:
    """The real recogniser, counting what it is asked to transcribe."""

    def __init__(self, asr) -> None:
        self.asr, self.calls = asr, []

    def transcribe(self, pcm, rate, languages, *args, **kwargs):
        self.calls.append(len(pcm))
        return self.asr.transcribe(pcm, rate, languages, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.asr, name)


def test_a_turn_recognised_at_a_pause_is_not_recognised_again(engines, demo_plan, voice_en):
    from dataclasses import replace

    counting = CountingASR(engines.asr)
    caller = synth_caller(voice_en, [(4.0, "How much does roaming cost?")])
    config = SessionConfig(partial_every_s=0)
    result, events = call(replace(engines, asr=counting), demo_plan, caller, config)
    heard = events.of_kind("asr.final")
    assert len(heard) == 1 and {"roaming", "cost"} <= words(heard[0].data["text"])
    end = events.of_kind("speech.end")[0]
    # recognition started 120 ms into the silence, before the turn ended
    started = heard[0].data["speculative_at"]
    lead = config.speculative_asr_ms / 1000
    assert end.data["at"] + lead - 0.05 <= started <= end.data["at"] + lead + 0.05 < end.t
    assert len(counting.calls) == 1                     # the final result is the speculative one
    assert turn_decisions(events)[0]["entry"] == "roaming"
    off, off_events = call(replace(engines, asr=CountingASR(engines.asr)), demo_plan, caller,
                           SessionConfig(partial_every_s=0, speculative_asr_ms=0))
    assert off_events.of_kind("asr.final")[0].data["speculative_at"] is None


def test_a_caller_who_goes_on_after_a_pause_is_recognised_whole(engines, demo_plan, voice_en):
    from dataclasses import replace

    counting = CountingASR(engines.asr)
    # 400 ms between the halves: past the 120 ms speculation, short of any turn end
    caller = synth_caller(voice_en, [(4.0, "How much does roaming"), (0.4, "cost in Spain?")])
    result, events = call(replace(engines, asr=counting), demo_plan, caller,
                          SessionConfig(partial_every_s=0))
    heard = events.of_kind("asr.final")
    assert len(heard) == 1 and {"roaming", "spain"} <= words(heard[0].data["text"]), heard
    # two pauses recognised speculatively; the second (after the whole question) is kept
    assert len(counting.calls) == 2 and counting.calls[0] < counting.calls[1]
    assert heard[0].data["speculative_at"] > events.of_kind("speech.start")[0].data["at"] + 1.0


class SlowerASR:
    """The real recogniser, `delay_s` slower (a busier machine): what a paced call charges."""

    careful_decoding = False

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    def transcribe(self, pcm: bytes, rate: int, languages: tuple[str, ...] = ()):
        time.sleep(self.delay_s)
        return self.inner.transcribe(pcm, rate, languages)


def test_a_paced_call_charges_model_work_its_compute_time(engines, demo_plan, voice_en):
    """`ivr talk`'s timeline: while model work is in flight the call's clock keeps to the wall
    clock, so the reply starts as late as a caller would hear it; an instant run (tests, QA
    replay) answers in simulated time at once. The turn cannot be answered before its
    transcript is in, and recognition starts at 120 ms of silence."""
    caller = synth_caller(voice_en, [(4.0, "How much does roaming cost?")])
    slow = replace(engines, asr=SlowerASR(engines.asr, 0.6))

    def reply(paced: bool) -> float:
        events = EventLog(ManualClock())
        session = CallSession("test", demo_plan, slow, events)
        asyncio.run(run_offline(session, events.clock, caller, paced=paced))
        end = next(e for e in events.of_kind("speech.end") if e.t > 4.0)
        first = next(e for e in events.of_kind("playout.first_frame") if e.t >= end.t)
        assert turn_decisions(events)[0]["entry"] == "roaming"
        return first.t - end.data["at"]   # after the caller's last word

    paced = reply(paced=True)
    assert paced >= 0.12 + 0.6
    assert reply(paced=False) < 0.6


def _said_over(events) -> tuple[float, float]:
    """When the caller's last turn began, and when the last sentence of the bot's reply to the
    second turn (the sentence queued last: its question) began, on the call's clock."""
    first = events.of_kind("asr.final")[1].t
    sentences = [e for e in events.of_kind("bot.say") if e.t == first]
    question_at = first + sum(e.data["audio_s"] for e in sentences[:-1])
    return events.of_kind("speech.start")[-1].data["at"], question_at


@pytest.mark.parametrize("gap,answer,heard_as", [
    (8.5, "Yes.", "yes"),    # over "... is the light on each power supply green?": the answer
    (8.5, "No.", "no"),      # not taken for "no, stop" there
    (2.0, "Yes.", None),     # over "Let's check a few things together.": an acknowledgement
])
def test_an_answer_said_over_the_end_of_the_question_is_the_answer(engines, voice_en, gap,
                                                                   answer, heard_as):
    from ivr.dialplan.loader import load_dialplan
    from conftest import ROOT

    plan = load_dialplan(ROOT / "dialplans" / "it-hardware-support.yaml")
    caller = synth_caller(voice_en, [(10.0, "Hi, our server will not power on at all."),
                                     (7.0, "S N 4 4 7 1 9 2"), (gap, answer)])
    _, events = call(engines, plan, caller)
    started, question_at = _said_over(events)
    assert (started > question_at) == (heard_as is not None), (started, question_at)
    slots = {e.data["name"]: e.data["value"] for e in events.of_kind("slot")}
    assert slots.get("psu_led_green") == heard_as, slots
    assert len(events.of_kind("backchannel")) == (heard_as is None)
