"""`ivr bench turn`: false cut-ins and end-of-turn delay, fixed silence vs the turn model and
the transcript of the turn so far (the shipped default of English and Mandarin plans).

Each item of a paused-utterance set is voiced (English by piper, Mandarin by Kokoro, through
G.711) and replayed through the production endpointer and judge (turn_eval.replay) under each
way of ending turns; dev and held-out are reported side by side, with the model's inference time
on this machine. The transcript is whisper tiny.en's for English and whisper base's (Mandarin or
English, as a clinic call detects it) for Mandarin. With
`--calls PLAN` every paused turn is also played into a whole call on that plan (model work
taking its measured time), once without and once with the session's continuation (talk resumed
right after a turn joins it): how many the dialog heard whole, as one turn.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ivr.audio.turn import FIXED_SILENCE_MS, TurnJudge, TurnPolicy, policy_for
from ivr.audio.turn_eval import TurnOutcome, outcome, replay
from ivr.audio.turn_set import TurnItem, VoicedTurn
from ivr.dialplan.model import EndOfTurn
from ivr.qa.latency import percentiles


@dataclass(frozen=True)
class Way:
    """One way of ending turns: a name and the policy it gives a node waiting for an item (its
    slot kind and language)."""

    name: str
    policy: Callable[[TurnItem], TurnPolicy]


def judged(item: TurnItem) -> TurnPolicy:
    """The policy of a node waiting for `item` in a plan that switches the model on, in any
    language: digit, phone and ID slots wait longer, open questions are judged at 200 ms."""
    return policy_for(EndOfTurn(model=True), None, item.slot, (item.lang,))


FIXED = Way(f"fixed silence {FIXED_SILENCE_MS} ms",
            lambda item: TurnPolicy(model=False, max_silence_ms=FIXED_SILENCE_MS))
SHIPPED = Way("shipped: model + transcript",
              lambda item: policy_for(None, None, item.slot, (item.lang,)))
"""The node defaults of a plan in the item's language; measured with the transcript judge."""
MODEL_ALONE = Way("model alone, same bounds", judged)
"""The model's policies judged by the audio model without the transcript check."""


def model_at(threshold: float) -> Way:
    """The model's policy with the transcript check and another threshold on open questions
    (for tuning on dev; in any language, shipped or not)."""
    def policy(item: TurnItem) -> TurnPolicy:
        base = judged(item)
        return base if item.slot else TurnPolicy(**{**vars(base), "threshold": threshold})

    return Way(f"model + transcript, threshold {threshold:g}", policy)


def bench(sets: dict[str, list[TurnItem]], voice: Callable[[TurnItem], VoicedTurn],
          judge: TurnJudge, text_judge: Callable[[str], TurnJudge],
          thresholds: tuple[float, ...] = (),
          progress: Callable[[str], None] = lambda _: None) -> dict:
    """Figures per way and set part, plus inference ms (p50/p95) over every pause the audio
    model judged. `judge` is the audio model alone; `text_judge(lang)` adds the transcript
    check in a language, as the shipped policy runs it (also at each of `thresholds`)."""
    figures: dict = {"ways": {}, "items": {}, "load_average": [round(os.getloadavg()[0], 1)]}
    compute: list[float] = []
    runs = [(FIXED, None), (MODEL_ALONE, None), (SHIPPED, text_judge),
            *((model_at(p), text_judge) for p in thresholds)]
    for part, items in sets.items():
        voiced = [voice(item) for item in items]
        figures["items"][part] = {"paused": sum(i.paused for i in items),
                                  "complete": sum(not i.paused for i in items)}
        for way, way_judge in runs:
            outcomes = []
            for turn in voiced:
                progress(f"{part} {way.name} {turn.item.id}")
                item_judge = judge if way_judge is None else way_judge(turn.item.lang)
                run = replay(turn, item_judge, way.policy(turn.item))
                if way is MODEL_ALONE:
                    compute += [v.compute_s for v in run.verdicts if v.probability is not None]
                outcomes.append(outcome(turn, run))
            figures["ways"].setdefault(way.name, {})[part] = summarise(outcomes)
    p50, p95 = percentiles([c * 1000 for c in compute])
    figures["inference_ms"] = {"p50": round(p50, 1), "p95": round(p95, 1), "n": len(compute)}
    figures["load_average"].append(round(os.getloadavg()[0], 1))
    return figures


def summarise(outcomes: list[TurnOutcome]) -> dict:
    """Cut-in rate on paused turns; delay p50/p95 on complete open-question turns, apart from
    complete slot turns (digits, IDs: they wait longer by design) and paused turns not cut."""
    paused = [o for o in outcomes if o.paused]
    complete = [o for o in outcomes if not o.paused]
    delays = [o.delay_s for o in complete if o.delay_s is not None and not o.slot]
    slot_delays = [o.delay_s for o in complete if o.delay_s is not None and o.slot]
    paused_delays = [o.delay_s for o in paused if o.delay_s is not None]
    p50, p95 = percentiles(delays)
    pp50, pp95 = percentiles(paused_delays)
    return {"cut": sum(o.cut for o in paused), "paused": len(paused),
            "cut_rate": round(sum(o.cut for o in paused) / max(1, len(paused)), 3),
            "cut_ids": [o.id for o in paused if o.cut],
            "complete_cut": sum(o.cut for o in complete),
            "delay_p50_s": round(p50, 3), "delay_p95_s": round(p95, 3),
            "slot_delay_max_s": round(max(slot_delays, default=float("nan")), 3),
            "paused_delay_p50_s": round(pp50, 3), "paused_delay_p95_s": round(pp95, 3),
            "max_delay_s": round(max(delays + slot_delays + paused_delays,
                                     default=float("nan")), 3),
            "fallback_ends": sum(o.fallback for o in outcomes)}


def render(figures: dict) -> str:
    """A table: one row per way, dev and held-out side by side."""
    parts = list(figures["items"])
    head = f"{'':34}" + "".join(f" | {p:^45}" for p in parts)
    columns = " | cut-ins     delay p50  p95  slot   max  fb"
    sub = f"{'way of ending turns':34}" + columns * len(parts)
    lines = [head, sub, "-" * len(sub)]
    for name, by_part in figures["ways"].items():
        row = f"{name:34}"
        for part in parts:
            f = by_part[part]
            row += (f" | {f['cut']:2d}/{f['paused']:<2d} {f['cut_rate'] * 100:4.0f}%  "
                    f"{f['delay_p50_s']:5.2f} {f['delay_p95_s']:5.2f} {f['slot_delay_max_s']:5.2f} "
                    f"{f['max_delay_s']:5.2f} "
                    f"{f['fallback_ends']:3d}")
        lines.append(row)
    counts = ", ".join(f"{p}: {c['paused']} paused + {c['complete']} complete"
                       for p, c in figures["items"].items())
    inf = figures["inference_ms"]
    lines += ["", f"turns: {counts}",
              "cut-ins: paused turns ended > 0.3 s before their speech did; delay (s): end of "
              "speech -> turn end, complete open-question turns; slot: the longest such delay "
              "of complete digit/ID turns; max: over all turns not cut; fb: turns ended by the "
              "silence bound",
              f"model inference (features + ONNX, 1 thread, own process): p50 {inf['p50']:.0f} ms, "
              f"p95 {inf['p95']:.0f} ms over {inf['n']} pauses; 1-minute load average at start "
              f"and end {figures['load_average']} (it ends turns later when the cores are busy)"]
    for name, by_part in figures["ways"].items():
        for part in parts:
            if by_part[part]["cut_ids"]:
                lines.append(f"cut ({name}, {part}): {', '.join(by_part[part]['cut_ids'])}")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`ivr bench turn`'s options."""
    parser.add_argument("--set", type=Path, default=None, metavar="SET.yaml",
                        help="paused-utterance set (default: tests/data/paused_utterances.yaml; "
                             "Mandarin callers: tests/data/paused_utterances_zh.yaml; round 2, "
                             "written blind: paused_utterances_round2.yaml, "
                             "paused_utterances_zh_round2.yaml)")
    parser.add_argument("--thresholds", default="", metavar="P,P...",
                        help="also measure the model at these thresholds (tune on dev only)")
    parser.add_argument("--calls", type=Path, default=None, metavar="PLAN.yaml",
                        help="also play every paused turn into a call on this plan, without and "
                             "with the continuation: how many the dialog heard whole")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def run(args: argparse.Namespace) -> int:
    """`ivr bench turn`: voice the set, replay it every way, print the table (or JSON)."""
    from tqdm import tqdm

    from ivr.audio.turn import shared_turn_model
    from ivr.audio.turn_set import DEFAULT_SET, load_turn_set, caller_voices, voice_turn

    voices = caller_voices()
    sets = load_turn_set(args.set or DEFAULT_SET)
    thresholds = tuple(float(p) for p in args.thresholds.split(",") if p)
    with tqdm(desc="turn", unit="replay") as bar:
        figures = bench(sets, lambda item: voice_turn(item, voices),
                        TurnJudge(shared_turn_model()), text_judges(), thresholds,
                        progress=lambda _: bar.update())
    lines = [render(figures)]
    if args.calls is not None:
        with tqdm(desc="calls", unit="call") as bar:
            figures["calls"] = heard_whole(sets, lambda item: voice_turn(item, voices), args.calls,
                                           progress=lambda: bar.update())
        lines += ["", f"paused turns in whole calls on {args.calls.name} (model work takes its "
                      "measured time): heard whole, as one turn"]
        lines += [f"  {way:34}" + "".join(f" | {p}: {f['whole']:2d}/{f['paused']:<2d}"
                                          for p, f in by_part.items())
                  for way, by_part in figures["calls"].items()]
        lines += [f"not whole ({way}, {part}): {'; '.join(f['missed'])}"
                  for way, by_part in figures["calls"].items()
                  for part, f in by_part.items() if f["missed"]]
    print(json.dumps(figures, indent=2) if args.json else "\n".join(lines))
    return 0


CONTINUATION = {"continuation off": 0, "shipped continuation": None}
"""`SessionConfig.continue_ms` per way (None: the default)."""


def heard_whole(sets: dict[str, list[TurnItem]], voice: Callable[[TurnItem], VoicedTurn],
                plan_path: Path, progress: Callable[[], None] = lambda: None) -> dict:
    """Each paused turn played after the greeting of a call on `plan_path`, paced: whether the
    dialog heard it whole, as one turn: every piece the endpointer ended but the first joined
    the turn before it (`turn.continued`), none taken for a backchannel and dropped."""
    import asyncio
    import dataclasses

    from ivr.audio.frames import silence
    from ivr.dialplan.loader import load_dialplan
    from ivr.events import EventLog, ManualClock
    from ivr.session.engines import build_engines
    from ivr.session.offline import run_offline
    from ivr.session.session import CallSession, SessionConfig

    loaded = load_dialplan(plan_path)
    engines = build_engines(loaded.plan.asr_model, loaded.plan.languages[:1])
    default = SessionConfig()

    figures: dict = {}
    for part, items in sets.items():
        voiced = [voice(item) for item in items if item.paused]
        for way, continue_ms in CONTINUATION.items():
            config = default if continue_ms is None else dataclasses.replace(
                default, continue_ms=continue_ms)
            missed = []
            for turn in voiced:
                clock = ManualClock()
                events = EventLog(clock)
                session = CallSession("bench", loaded, engines, events, config=config)
                asyncio.run(run_offline(session, clock, silence(6000) + turn.pcm, paced=True))
                pieces = [e for e in events.of_kind("speech.end") if not e.data.get("dropped")]
                if len(pieces) - len(events.of_kind("turn.continued")) != 1 \
                        or events.of_kind("backchannel"):
                    heard = " / ".join(e.data["text"] for e in events.of_kind("asr.final"))
                    missed.append(f"{turn.item.id} ({heard})")
                progress()
            figures.setdefault(way, {})[part] = {"whole": len(voiced) - len(missed),
                                                 "paused": len(voiced), "missed": missed}
    return figures


TRANSCRIPT_ASR = {"en": ("whisper-tiny.en", ("en",)), "zh": ("whisper-base", ("zh", "en"))}
"""The recogniser that writes the turn so far per caller language, as the bundled plans run it
(the clinic's whisper base tells Mandarin from English on every turn)."""


def text_judges() -> Callable[[str], TurnJudge]:
    """Per language, the turn model with the recogniser's text of the turn so far (run after
    the model, so its time adds to the delay: on a call the two run side by side at the same
    pause); each recogniser is loaded on first use."""
    from ivr.asr.whisper import WhisperASR
    from ivr.audio.turn import shared_turn_model
    from ivr.session.engines import asr_model_dir

    judges: dict[str, TurnJudge] = {}

    def judge_for(lang: str) -> TurnJudge:
        if lang not in judges:
            model, languages = TRANSCRIPT_ASR[lang]
            asr = WhisperASR(asr_model_dir(model))
            judges[lang] = TurnJudge(shared_turn_model(), lambda pcm, rate: asr.transcribe(
                pcm, rate, languages).raw_text)
        return judges[lang]

    return judge_for
