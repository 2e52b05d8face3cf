"""`ivr eval`: measure the bot's guards on labelled sets.

    ivr eval escalation SET.yaml [SET.yaml ...] [--dialplan PLAN.yaml ...] [--audio]
    ivr eval guard SET.yaml [SET.yaml ...] --dialplan PLAN.yaml [--save F.json] [--compare F.json]
    ivr eval menus tests/data/menu_meaning.yaml [--section dev] [--errors]
    ivr eval kb tests/data/kb/acme-mobile.yaml --dialplan dialplans/acme-mobile.yaml [--part dev]
    ivr eval slots tests/data/slots_dev.yaml --dialplan dialplans/clinic-appointments.yaml
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ivr.errors import IvrError

DEFAULT_PLANS_DIR = Path("dialplans")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="measure guards and answers on labelled sets",
                            description="Evaluate the bot's guards and answers on labelled sets.")
    kinds = parser.add_subparsers(dest="eval_kind", metavar="KIND", required=True)
    esc = kinds.add_parser(
        "escalation", help="precision/recall of the hand-off guards, per dialplan",
        description="Precision and recall of the hand-off guards (emergency, self-harm, "
                    "\"a person please\", anger, frustration) on labelled sets such as "
                    "tests/data/escalation_dev.yaml to _dev8.yaml (tuned on), _dev15 to "
                    "_dev19 (read) and escalation_holdout4, 5, 7, 11 to 16 (never tuned on). Each "
                    "utterance is played as a caller turn into a fresh dialog of each dialplan, so the figures are those "
                    "of the code and rules that run on calls. --audio speaks each utterance "
                    "(English with piper, Mandarin with Kokoro; normal and +12 dB), passes it "
                    "through a G.711 line and the plan's whisper model, and gives the dialog "
                    "what was heard with the audio.")
    esc.add_argument("sets", type=Path, nargs="+", metavar="SET.yaml", help="labelled utterances")
    esc.add_argument("--dialplan", type=Path, action="append", default=None, metavar="PLAN.yaml",
                     help="plan whose rules to measure (repeatable; default: every plan in "
                          "dialplans/)")
    esc.add_argument("--audio", action="store_true", help="through TTS, G.711 and ASR")
    esc.add_argument("--limit", type=int, default=None, metavar="N",
                     help="only the first N utterances of each set")
    esc.add_argument("--lang", action="append", default=None, metavar="LANG",
                     help="only this language (repeatable)")
    esc.add_argument("--errors", action="store_true", help="list every misclassified utterance")
    esc.add_argument("--tts-noise", action="store_true",
                     help="audio mode: let piper vary its prosody at random (runs then differ)")
    esc.add_argument("--min-recall", type=float, default=None, metavar="R",
                     help="exit 1 when any class with items has recall below R")
    esc.set_defaults(func=run_escalation)
    guard = kinds.add_parser(
        "guard", help="the hand-off guard alone on every turn, before and after a change",
        description="Run only the hand-off guard (EscalationGuard.assess, as calls run it, with "
                    "the plan's effective rules and the shipped net) on every single turn of the "
                    "sets, and count per part (held-out: a file name with 'holdout') and language "
                    "the urgent turns handed over, requests put through, hostile turns found, and "
                    "calm turns sent to emergency help, to a person or taken for hostile. --save "
                    "keeps the verdicts; --compare shows what moved since a saved run: the "
                    "counts, each development turn that changed, and only how many held-out "
                    "turns did (their text is never printed or saved).")
    guard.add_argument("sets", type=Path, nargs="+", metavar="SET.yaml", help="labelled utterances")
    guard.add_argument("--dialplan", type=Path, required=True, metavar="PLAN.yaml",
                       help="plan whose effective rules to run")
    guard.add_argument("--save", type=Path, default=None, metavar="RUN.json",
                       help="write this run's verdicts here")
    guard.add_argument("--compare", type=Path, default=None, metavar="RUN.json",
                       help="a run saved before, to compare this one with")
    guard.set_defaults(func=run_guard)
    menus = kinds.add_parser(
        "menus", help="how menus understand callers' own words",
        description="Play each labelled utterance of a set such as tests/data/menu_meaning.yaml "
                    "into a fresh dialog standing at its menu, with the shipped dialplan, and "
                    "count right, wrong and missed routes, with and without matching by meaning.")
    menus.add_argument("set", type=Path, metavar="SET.yaml", help="labelled menu utterances")
    menus.add_argument("--section", action="append", default=None, metavar="NAME",
                       help="list in the file to run (repeatable; default: dev and holdout)")
    menus.add_argument("--errors", action="store_true", help="list every wrong decision")
    menus.set_defaults(func=run_menus)
    kb = kinds.add_parser(
        "kb", help="how a plan answers: in scope right, out of scope declined, nothing invented",
        description="Ask each question of a set such as tests/data/kb/acme-mobile.yaml as the "
                    "first caller turn of a fresh dialog of the plan (knowledge, documents, "
                    "menus, guards and the LLM as on calls) and report in-scope questions "
                    "answered correctly, out-of-scope and adversarial ones declined, FAQ "
                    "retrieval top-1/top-3, invented facts, and the latency of each answer "
                    "path, per part (dev, heldout) and language.")
    kb.add_argument("sets", type=Path, nargs="+", metavar="QUESTIONS.yaml", help="question sets")
    kb.add_argument("--dialplan", type=Path, required=True, metavar="PLAN.yaml",
                    help="the plan whose answers to measure")
    kb.add_argument("--part", choices=["dev", "heldout"], default=None,
                    help="only this part of the sets (default: both, reported apart)")
    kb.add_argument("--llm-url", default=None,
                    help="OpenAI-compatible base URL (default: the embedded llama.cpp server, "
                         "started when the plan uses an LLM)")
    kb.add_argument("--llm-model", default="default", help="model name for --llm-url")
    kb.add_argument("--errors", action="store_true",
                    help="list every wrong answer and every invented number")
    kb.set_defaults(func=run_kb)
    slots = kinds.add_parser(
        "slots", help="slots taken from one sentence (\"next Tuesday, my number is ...\")",
        description="Play each sentence of a set such as tests/data/slots_dev.yaml (tuned on) "
                    "or slots_holdout.yaml (never tuned on) as one caller turn into a fresh "
                    "dialog of the plan standing at the item's node, and count the items whose "
                    "slots were all filled right and no others: as the plan ships, and with "
                    "slots.free_speech off (one slot per prompt).")
    slots.add_argument("sets", type=Path, nargs="+", metavar="SET.yaml", help="slot sets")
    slots.add_argument("--dialplan", type=Path, required=True, metavar="PLAN.yaml",
                       help="the plan whose dialog to measure")
    slots.add_argument("--errors", action="store_true", help="list every wrong item")
    slots.set_defaults(func=run_slots)


def run_menus(args: argparse.Namespace) -> int:
    from ivr.qa.menu_eval import MenuRunner, evaluate_menus, load_menu_set

    runner = MenuRunner()
    for section in args.section or ["dev", "holdout"]:
        rows = load_menu_set(args.set, section)
        for meaning in (False, True):
            reports = evaluate_menus(rows, runner, meaning)
            print(f"{section}: {'words and meaning' if meaning else 'listed words only'}")
            for name in sorted(reports, key=lambda n: (n == "all", n)):
                print("  " + reports[name].line())
            if args.errors and meaning:
                print("\n".join("    " + error for error in reports["all"].errors))
        print()
    return 0


def run_kb(args: argparse.Namespace) -> int:
    import contextlib

    from tqdm import tqdm

    from ivr.dialplan.loader import load_dialplan
    from ivr.llm.client import LLMClient, LLMSettings
    from ivr.qa.kb_eval import KBRunner, load_questions, reports

    sets = [(path, load_questions(path)) for path in args.sets]
    loaded = load_dialplan(args.dialplan)
    with contextlib.ExitStack() as stack:
        url = args.llm_url
        if loaded.plan.uses_llm and not url:
            from ivr.llm.embedded import EmbeddedLLMServer
            from ivr.models.locator import smollm2_gguf

            url = stack.enter_context(EmbeddedLLMServer(smollm2_gguf())).base_url
        llm = LLMClient(LLMSettings(base_url=url, model=args.llm_model,
                                    embedded=not args.llm_url)) if url else None
        runner = KBRunner(loaded, llm)
        for path, questions in sets:
            chosen = [q for q in questions if args.part in (None, q.part)]
            with tqdm(total=len(chosen), desc=f"kb {path.name}", unit="q") as bar:
                results = runner.run(chosen, progress=lambda _r: bar.update())
            title = f"{path} on {args.dialplan.name}"
            for report in reports(title, results):
                print(report.table(errors=args.errors and report.title == title))
                print()
    return 0


def run_slots(args: argparse.Namespace) -> int:
    from ivr.dialplan.loader import load_dialplan
    from ivr.qa.slot_eval import SlotRunner, evaluate_slots, load_slot_set, slot_table

    sets = [load_slot_set(path) for path in args.sets]
    loaded = load_dialplan(args.dialplan)
    runner = SlotRunner(loaded)
    for free_speech in (False, True):
        label = "free speech" if free_speech else "one slot per prompt"
        for slot_set in sets:
            results = evaluate_slots(slot_set, runner, free_speech)
            print(slot_table(f"{slot_set.path} on {args.dialplan.name}, {label}", results,
                             errors=args.errors and free_speech))
            print()
    return 0


def run_escalation(args: argparse.Namespace) -> int:
    from ivr.qa.escalation_eval import TurnRunner, evaluate

    for path in args.sets:
        if not path.exists():
            raise IvrError(f"{path}: no such set file")
    plans = args.dialplan or sorted(DEFAULT_PLANS_DIR.glob("*.yaml"))
    if not plans:
        raise IvrError("no dialplan given and none in ./dialplans: pass --dialplan PLAN.yaml")
    from ivr.kb.embedder import CachingEmbedder, E5Embedder

    # one embedding of each utterance serves every plan: the embedding is most of the cost
    embedder = CachingEmbedder(E5Embedder(threads=2), size=16384)
    low: list[str] = []
    for plan in plans:
        runner = TurnRunner(plan, embedder)
        for set_path in args.sets:
            report = evaluate(set_path, plan, audio=args.audio, limit=args.limit,
                              languages=args.lang, progress=True, runner=runner,
                              tts_noise=args.tts_noise)
            table = report.table() if args.errors else report.table().split("\nerrors (")[0]
            print(table)
            for lang, part in report.by_language().items():
                print(f"  [{lang}] " + "  ".join(
                    f"{cls} {_fmt(s.precision)}/{_fmt(s.recall)}"
                    for cls, s in part.per_class.items() if s.support or s.predicted)
                    + f"  (precision/recall); calm sent to emergency "
                      f"{part.calm_false_urgent[0]}/{part.calm_false_urgent[1]}; asked whether "
                      f"safe: self-harm {part.safety_checks['self_harm'][0]}, calm "
                      f"{part.safety_checks['neutral'][0]}")
            print()
            if args.min_recall is not None:
                low += [f"{plan.name} {set_path.name} {cls}" for cls, s in report.per_class.items()
                        if not math.isnan(s.recall) and s.recall < args.min_recall]
    if low:
        print(f"recall below {args.min_recall}: {', '.join(low)}")
        return 1
    return 0


def run_guard(args: argparse.Namespace) -> int:
    from ivr.qa import guard_eval

    for path in (*args.sets, args.dialplan, *([args.compare] if args.compare else [])):
        if not path.exists():
            raise IvrError(f"{path}: no such file")
    before = guard_eval.load(args.compare) if args.compare else None
    turns = guard_eval.guard_turns(args.sets, args.dialplan, progress=True)
    if args.save:
        guard_eval.save(turns, args.save)
    print(f"guard alone: {len(turns)} turns of {len(args.sets)} set(s) on {args.dialplan.name}")
    print(guard_eval.table(guard_eval.tally(turns),
                           guard_eval.tally(before) if before is not None else None))
    if before is not None:
        moved, held_out = guard_eval.changes(before, turns)
        print(f"\ndevelopment turns that changed: {len(moved)}")
        for was, now in moved:
            print(f"  {now.set} [{now.lang}] {now.label}: {was.kind} -> {now.kind}  {now.text!r}")
        print("held-out turns that changed: " + (", ".join(
            f"{name} {n}" for name, n in sorted(held_out.items())) or "none"))
    return 0


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.2f}"
