"""Document answers in a call: a caller on the hardware line, spoken by piper through G.711 and
heard by whisper, asks what only the plan's documents answer; the bot answers by quoting the
document's own sentence, and the caller hears it (transcribed back from the bot's audio)."""

from __future__ import annotations

import pytest

from ivr.audio.frames import FRAME_BYTES
from ivr.dialplan.loader import load_dialplan

from conftest import ROOT, scripted_call, transcribe, words

PLAN = ROOT / "dialplans" / "it-hardware-support.yaml"


@pytest.fixture(scope="module")
def hardware_plan():
    return load_dialplan(PLAN)


def test_a_question_the_documents_answer_is_heard_as_their_own_sentence(engines, hardware_plan,
                                                                         voice_en):
    # the serial number first (spoken as callers read a tag), then, at the problem menu, a
    # question no FAQ entry and no menu choice covers; "leave behind" sounds enough like
    # self-harm to the guard's net (0.37) that the caller may be asked whether they are safe
    # first ("yes")
    result, events, _ = scripted_call(engines, hardware_plan, voice_en, [
        "S N 4 4 7 1 9 2", "How much space should I leave behind the rack?", "Yes."])
    heard = [e.data["text"] for e in events.of_kind("asr.final")]
    assert len(heard) == 3 and {"space", "behind", "rack"} <= words(heard[1])
    [answer] = events.of_kind("kb.document_answer")
    assert answer.data["quoted"] is True
    assert answer.data["documents"] == ["knowledge/it-hardware-docs/rack-installation.txt"]
    decision = next(e for e in events.of_kind("dialog.decision")
                    if e.data["reason"] == "document_answer")
    assert decision.data["node"] == "problem_menu"          # the caller stays at the menu
    # what the caller heard after the decision: the documents' sentence, numbers included
    start = int(round(decision.t / 0.02)) * FRAME_BYTES
    said = words(transcribe(engines, result.bot_audio[start:start + 8000 * 2 * 8]))
    assert {"80", "space", "behind", "rack", "airflow"} <= said, said
    assert result.transfer is None
