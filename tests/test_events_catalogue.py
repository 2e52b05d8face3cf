"""The event catalogue and the one reader: every kind the code emits is catalogued with the
fields it passes, records carry their schema version and read back as written, and the log masks
personal data before anything sees it."""

from __future__ import annotations

import ast
import json
import logging
from pathlib import Path

import pytest

from ivr.events import CATALOGUE, SCHEMA_VERSION, EventLog, EventSchemaError, ManualClock
from ivr.record import CallRecord, RecordError, parse_line, read_events

from conftest import ROOT

CARD = "4532015112830366"


def emit_sites() -> list[tuple[str, int, str, set[str], bool]]:
    """(file, line, kind, keyword fields, passes **fields) of every `.emit("kind", ...)` in ivr/.
    Calls whose kind is not a literal replay recorded events (benchmarks): a strict log checks
    those as they run."""
    sites = []
    for path in sorted((ROOT / "ivr").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "emit" and node.args):
                continue
            first = node.args[0]
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            if not all(isinstance(o, ast.Constant) for o in options):
                continue
            fields = {k.arg for k in node.keywords if k.arg is not None}
            spread = any(k.arg is None for k in node.keywords)
            sites += [(str(path.relative_to(ROOT)), node.lineno, o.value, fields, spread)
                      for o in options]
    return sites


def test_every_emitted_kind_is_catalogued_with_the_fields_it_passes():
    sites = emit_sites()
    assert len(sites) > 40
    for where, line, kind, fields, spread in sites:
        spec = CATALOGUE.get(kind)
        assert spec is not None, f"{where}:{line}: {kind!r} is not in ivr.events.CATALOGUE"
        unknown = fields - set(spec.fields)
        assert spec.open or not (unknown or spread), f"{where}:{line}: {kind}: {unknown}"
        missing = set(spec.fields) - spec.optional - fields
        assert spread or not missing, f"{where}:{line}: {kind} lacks {missing}"


def test_every_catalogued_kind_is_emitted_somewhere():
    emitted = {kind for _, _, kind, _, _ in emit_sites()}
    assert set(CATALOGUE) - emitted == set()


def test_every_line_carries_the_schema_version_and_reads_back(tmp_path: Path):
    path, clock = tmp_path / "call.jsonl", ManualClock()
    log = EventLog(clock, path, fsync=False, strict=True)
    log.emit("call.start", call_id="c-20261125101500", caller="+15550100", dialplan="p.yaml",
             dialplan_sha256="ab" * 32)
    clock.advance(1.25)
    log.emit("asr.final", text="how much is roaming", language="en", rtf=0.1, compute_s=0.2)
    log.close()
    assert all(json.loads(line)["v"] == SCHEMA_VERSION for line in path.read_text().splitlines())
    back = read_events(path)
    assert [(e.t, e.kind, e.data) for e in back] == [(e.t, e.kind, e.data) for e in log.events]
    assert all(abs(a.wall - b.wall) < 1e-3 for a, b in zip(back, log.events))
    assert back[1]["text"] == "how much is roaming" and back[1]["t"] == 1.25


def test_the_reader_skips_a_line_still_being_written_and_refuses_newer_schemas(tmp_path: Path):
    path = tmp_path / "call.jsonl"
    path.write_text('{"t": 0, "kind": "sip.answered", "wall": 1.0}\n{"t": 0.5, "kind": "dt')
    assert [e.kind for e in read_events(path)] == ["sip.answered"]   # unversioned: v1
    with pytest.raises(RecordError, match="v99"):
        parse_line(json.dumps({"t": 0, "kind": "x", "wall": 0, "v": 99}))
    path.write_text('{"t": 0, "kind": "sip.answered", "wall": 1.0}\nnot json\n')
    with pytest.raises(RecordError, match=r"call.jsonl:2:"):
        read_events(path)


def test_call_record_reads_like_its_json_lines(tmp_path: Path):
    path = tmp_path / "c.jsonl"
    log = EventLog(ManualClock(), path, fsync=False, strict=True)
    log.emit("bot.say", text="Hello.", audio_s=1.0)
    log.emit("bot.say", text="Bye.", audio_s=0.5)
    log.emit("media.stats", rx_frames=10)
    log.close()
    record = CallRecord.read(path)
    assert record.finished and record.kinds() == ["bot.say", "bot.say", "media.stats"]
    assert record.said() == "Hello. Bye." and record.one("media.stats")["rx_frames"] == 10
    assert record.wav == tmp_path / "c.wav"
    with pytest.raises(LookupError, match="expected one 'bot.say', got 2"):
        record.one("bot.say")


def test_strict_logs_refuse_events_outside_the_catalogue():
    log = EventLog(ManualClock(), strict=True)
    with pytest.raises(EventSchemaError, match="not in the catalogue"):
        log.emit("call.strat", call_id="x")
    with pytest.raises(EventSchemaError, match="field 'digit' is int, expected str"):
        log.emit("dtmf", digit=5)
    with pytest.raises(EventSchemaError, match="missing field 'text'"):
        log.emit("bot.say", audio_s=1.0)
    assert log.events == []


def test_production_logs_warn_once_and_record_anyway(caplog):
    log = EventLog(ManualClock(), strict=False)
    with caplog.at_level(logging.WARNING, logger="ivr.events"):
        log.emit("call.strat", call_id="x")
        log.emit("call.strat", call_id="y")
    assert [e.kind for e in log.events] == ["call.strat", "call.strat"]
    assert caplog.text.count("not in the catalogue") == 1


def test_the_log_masks_before_writing_and_before_listeners(tmp_path: Path):
    path = tmp_path / "call.jsonl"
    log = EventLog(ManualClock(), path, fsync=False, strict=True)
    heard = []
    log.subscribe(heard.append)
    log.emit("call.start", call_id="20261125-101500-w1-0001", caller="+15550100",
             dialplan="p.yaml", dialplan_sha256="0" * 64)
    log.emit("asr.final", text=f"my card is {CARD}", language="en", rtf=0.1, compute_s=0.1)
    log.emit("call.end", reason="x", turns=1, slots={"card": CARD}, summary=f"card {CARD}",
             summary_full=f"Caller: my card is {CARD}")
    log.close()
    assert CARD not in path.read_text() and CARD not in repr(heard)
    assert heard[1]["text"] == "my card is [card ••••0366]" and heard == log.events
    # signalling identifiers are written as they are (the call id would look like a card)
    assert heard[0]["call_id"] == "20261125-101500-w1-0001" and heard[0]["caller"] == "+15550100"


def test_a_log_without_a_redactor_keeps_raw_text():
    log = EventLog(ManualClock(), redactor=None)
    log.emit("slot", name="card", value=CARD)
    assert log.events[0]["value"] == CARD
