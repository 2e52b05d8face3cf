"""Hand-off to humans inside real calls: emergencies while the bot speaks and before the caller
finishes, anger across turns, a calm caller on a loud line, and the summary the agent gets."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ivr.audio.g711 import phone_line
from ivr.dialplan.loader import load_dialplan
from ivr.events import EventLog, ManualClock
from ivr.qa.synth import synth_caller
from ivr.session.offline import ScriptTurn, run_script
from ivr.safety.semantic import load_head
from ivr.session.session import CallSession

from conftest import DEMO_PLAN, call


def test_emergency_while_the_bot_speaks_interrupts_it(engines, demo_plan, voice_en):
    caller = synth_caller(voice_en, [(1.0, "My husband has chest pain.")])
    result, events = call(engines, demo_plan, caller)
    assert events.of_kind("barge_in") or events.of_kind("asr.partial")
    assert result.transfer is not None and result.transfer.reason == "emergency"


def test_emergency_is_acted_on_before_the_caller_stops_talking(engines, demo_plan, voice_en):
    # one breath, no pause a turn could end at: the interim check must catch it mid-sentence
    caller = synth_caller(voice_en, [(4.0, "I can't breathe and it started an hour ago after "
                                           "dinner and it is getting worse and worse every minute.")])
    result, events = call(engines, demo_plan, caller)
    partial = events.of_kind("asr.partial")
    assert partial, [e.kind for e in events.events]
    ends = events.of_kind("speech.end")
    transfer_decided = next(e for e in events.of_kind("dialog.decision")
                            if e.data["reason"] == "emergency")
    assert not ends or transfer_decided.t < ends[0].t
    assert result.transfer is not None and result.transfer.target.startswith("sip:emergency")


def test_a_past_emergency_heard_mid_sentence_waits_for_the_end_of_the_turn(
        engines, demo_plan, voice_en):
    # the interim results hold "heart attack" with "last year" long before the question comes
    # (before the guard deferred them, the call was handed over there); the whole turn is a
    # calm booking, so the caller must not be handed to emergency help
    caller = synth_caller(voice_en, [(1.0, "Last year my father had a heart attack and since "
                                           "then the specialist wants to see him every few "
                                           "months, so could I book his next check up please.")])
    result, events = call(engines, demo_plan, caller)
    heard = [e.data["text"].lower() for e in events.of_kind("asr.final")]
    assert any("heart attack" in text for text in heard), heard
    assert result.transfer is None or result.transfer.reason != "emergency", result.transfer
    assert not [e for e in events.of_kind("dialog.decision") if e.data["reason"] == "emergency"]


def _script_call(engines, plan, voice, turns):
    clock = ManualClock()
    events = EventLog(clock)
    session = CallSession("guard", plan, engines, events)
    script = [ScriptTurn(audio=phone_line(b"".join(s.pcm for s in voice.speak_all(t))))
              for t in turns]
    return asyncio.run(run_script(session, clock, script)), events


def test_one_hostile_turn_transfers_with_evidence(engines, demo_plan, voice_en):
    result, events = _script_call(engines, demo_plan, voice_en, [
        "This is a scam, you stole my money and I want it back, you useless idiots!"])
    assert result.transfer is not None and result.transfer.reason == "angry_caller"
    decision = next(e.data for e in events.of_kind("dialog.decision")
                    if e.data["reason"] == "angry_caller")
    assert decision["trigger"] == "hostile_turn" and decision["anger"] >= 0.6
    assert decision.get("hostile_words") or decision.get("net_angry")
    assert "upset" in result.transfer.summary or "angry" in result.transfer.summary


def test_described_emergency_without_a_listed_phrase_is_transferred(engines, demo_plan, voice_en):
    result, events = _script_call(engines, demo_plan, voice_en, [
        "My dad's lips have gone blue and he is gasping for air."])
    assert result.transfer is not None and result.transfer.reason == "emergency"
    assert result.transfer.target.startswith("sip:emergency")


def test_suicidal_caller_is_put_through_to_help(engines, demo_plan, voice_en):
    result, events = _script_call(engines, demo_plan, voice_en, [
        "Honestly I think everyone would be better off if I was dead."])
    assert result.transfer is not None and result.transfer.reason == "self_harm"
    assert result.transfer.target.startswith("sip:emergency")
    said = " ".join(e.data["text"] for e in events.of_kind("bot.say"))
    assert "glad you told me" in said


def test_frustrated_caller_out_of_scope_is_offered_a_person(engines, demo_plan, voice_en):
    result, events = _script_call(engines, demo_plan, voice_en, [
        # (said as "I'm fed up, the fridge...", the turn ended at the comma on this AMD AVX2
        # machine and whisper tiny.en wrote "I am set up.", which the net takes for self-harm:
        # test_guard's strict xfail on that fragment)
        "This is the third time the fridge you repaired has broken, I'm fed up.", "Yes please."])
    decisions = [e.data["reason"] for e in events.of_kind("dialog.decision")]
    assert "offer_human" in decisions, decisions
    said = " ".join(e.data["text"] for e in events.of_kind("bot.say"))
    assert "You can ask about" not in said and "put you through" in said
    assert result.transfer is not None and result.transfer.reason == "caller_accepted_offer"


def test_calm_caller_on_a_loud_noisy_line_is_not_escalated(engines, demo_plan, voice_en):
    rng = np.random.default_rng(11)
    caller = synth_caller(voice_en, [(4.0, "How do I pay my bill?"),
                                     (7.0, "And what data plans do you have?")], gain=3.0)
    samples = np.frombuffer(caller, "<i2").astype(np.float32)
    samples += rng.normal(0, 0.02 * 32768, samples.size)
    noisy = np.clip(samples, -32768, 32767).astype("<i2").tobytes()
    result, events = call(engines, demo_plan, noisy)
    assert result.transfer is None
    assert events.of_kind("anger") and not any(e.data["escalate"] for e in events.of_kind("anger"))


def test_full_summary_goes_to_the_webhook(tmp_path, engines, voice_en, webhook):
    port, received = webhook
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(DEMO_PLAN.read_text().replace(
        "  emergency: sip:emergency@127.0.0.1:5070",
        f"  emergency: sip:emergency@127.0.0.1:5070\n"
        f"  summary_webhook: http://127.0.0.1:{port}/summary"))
    plan = load_dialplan(plan_path)
    caller = synth_caller(voice_en, [(4.0, "How much does roaming cost?"),
                                     (8.0, "Can I talk to a real person please?")])
    result, events = call(engines, plan, caller)
    assert result.transfer is not None
    assert len(received) == 1 and received[0]["call_id"] == "test"
    assert "roaming" in received[0]["full"].lower()
    assert events.of_kind("summary.webhook")[0].data["status"] == 204
    assert len(result.transfer.summary) <= 200 and result.transfer.summary.isascii()


def test_guard_runs_off_the_event_loop_before_the_turn(engines, demo_plan):
    session = CallSession("mood", demo_plan, engines, EventLog(ManualClock()))
    calls: list[str] = []
    guard = session.dialog.guard
    real = guard.assess
    guard.assess = lambda rules, text, *a, **k: (calls.append(text),
                                                 real(rules, text, *a, **k))[1]
    session.dialog.prepare_turn("this is ridiculous", None, 1.0)
    session.dialog.start()
    session.dialog.on_text("this is ridiculous")      # uses the verdict computed ahead
    assert calls == ["this is ridiculous"]
    session.dialog.on_text("something else entirely")  # nothing ahead: assessed here
    assert calls == ["this is ridiculous", "something else entirely"]


def test_offer_policy_asks_before_handing_a_hostile_caller_over(engines, demo_plan):
    from ivr.dialog.actions import Say
    from ivr.dialog.engine import DialogEngine
    from ivr.kb.retriever import KBEntry, Retriever

    plan = demo_plan.plan
    offer = plan.model_copy(update={"escalation": plan.escalation.model_copy(
        update={"anger": plan.escalation.anger.model_copy(update={"on_hostile": "offer"})})})
    entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in plan.knowledge]
    dialog = DialogEngine(offer, Retriever(entries, engines.embedder, plan.answers.min_score),
                          None, EventLog(ManualClock()))
    dialog.start()
    first = dialog.on_text("You useless idiots stole my money, this is a scam!")
    assert first.reason == "angry_offer" and first.transfer is None
    assert "put you through" in " ".join(a.text for a in first.actions if isinstance(a, Say))
    accepted = dialog.on_text("Yes please.")
    assert accepted.reason == "caller_accepted_offer" and accepted.transfer is not None


VEILED = "I'm so tired of everything so please cancel the extra line for me"
# a warning sign (ivr/safety/warning_signs.yaml) the net scores under the check bar
WARNING_SIGN = "Please put my son down as the main contact on the account for when I'm gone."


@pytest.mark.parametrize("turn", [VEILED, WARNING_SIGN])
def test_a_caller_who_sounds_somewhat_like_self_harm_is_asked_and_handed_over_on_no(
        engines, demo_plan, voice_en, turn):
    """Below the hand-off, above the calibrated check bar or with a warning sign of suicide:
    asked once, then "no" is a hand-off."""
    result, events = _script_call(engines, demo_plan, voice_en, [turn, "No."])
    decisions = [e.data for e in events.of_kind("dialog.decision")]
    asked = next(d for d in decisions if d["reason"] == "safety_check")
    if turn == VEILED:
        assert load_head().thresholds["self_harm_check"] <= asked["safety_check"]
    else:
        assert asked["warning_sign"].lower() == "when i'm gone", asked
    said = " ".join(e.data["text"] for e in events.of_kind("bot.say"))
    assert "Are you safe right now?" in said
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert [e.data["answer"] for e in events.of_kind("dialog.safety_check")] == ["unsafe"], heard
    assert result.transfer is not None and result.transfer.reason == "self_harm"
    assert result.transfer.target.startswith("sip:emergency")


def test_a_caller_who_is_fine_goes_on_with_what_they_asked(engines, demo_plan, voice_en):
    result, events = _script_call(engines, demo_plan, voice_en, [
        VEILED, "Yes, I'm fine.", "How do I pay my bill?"])
    reasons = [e.data["reason"] for e in events.of_kind("dialog.decision")]
    assert "safety_check" in reasons and result.transfer is None, reasons
    # ("Yes." and "I'm fine." may come as two turns, the second going on with the first: the
    # check is answered again with both parts)
    answers = [e.data["answer"] for e in events.of_kind("dialog.safety_check")]
    assert answers and set(answers) == {"safe"}, answers
    # the request held during the check is what the bot answers next, not "yes I'm fine";
    # and the check is asked once a call
    after = reasons[reasons.index("safety_check") + 1]
    assert after not in ("safety_check", "not_understood"), reasons
    assert reasons.count("safety_check") == 1, reasons
