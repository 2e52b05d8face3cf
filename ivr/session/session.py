"""One call session, independent of what feeds it (SIP, a WAV file, a recorded call).

The driver calls `feed()` with each 20 ms caller frame and `next_frame()` for each 20 ms bot
frame, both from the event loop's thread, and awaits `settle()` if it runs in simulated time.
Model work runs in an executor so the driver's loop keeps its 20 ms pace. The session calls the
driver back: `on_flush()` when bot audio already taken with `next_frame()` must not be played
now (a barge-in, a new decision, a pause; it returns how many frames it dropped, so that a pause
can put them back), `on_first_frame()` when the frame just taken starts a
reply, `on_transfer(request)` and `on_hangup(reason)` once the bot has finished speaking.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import logging
import math
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, AsyncIterator, Callable, Coroutine

from ivr.asr.base import Transcript
from ivr.audio.echo import EchoCanceller
from ivr.audio.endpointer import Endpointer, EndpointerConfig, SpeechEvent
from ivr.audio.turn import (FIXED_WAIT, TurnJudge, TurnPolicy, as_question, policy_for,
                            shared_turn_model, with_text)
from ivr.audio.frames import FRAME_BYTES, PHONE_RATE, FrameBuffer, rms_dbfs
from ivr.dialog.actions import (Answer, Converse, DocumentAnswer, Hangup, Lookup, Say, Step,
                                Transfer)
from ivr.dialog.engine import DialogCheckpoint, DialogEngine
from ivr.dialog.summary import SummaryTurn
from ivr.dialplan.loader import LoadedPlan
from ivr.dialplan.model import Dialplan
from ivr.events import EventLog
from ivr.dialog.menus import MenuMeaning
from ivr.kb.passages import PassageRetriever, plan_documents
from ivr.kb.retriever import KBEntry, Retriever
from ivr.session.engines import Engines
from ivr.text.normalize import tokenize
from ivr.text.redact import Redactor
from ivr.tts.base import Speech
from ivr.tts.sentences import split_sentences


PROMPT_CACHE_SIZE = 512  # sentences; a prompt is ~3 s of 8 kHz audio, ~50 kB


@dataclass(frozen=True)
class TransferRequest:
    """What the driver needs to hand the caller to a human."""

    call_id: str
    target: str
    reason: str
    summary: str
    fallback: str | None = None


log = logging.getLogger("ivr.session")


@dataclass(frozen=True)
class Speculation:
    """Recognition of a turn started at a pause: `voiced_end`, the call time of the turn's last
    voiced frame then; `at`, the call time it started; `result`, its task (a transcript, or
    None when it failed)."""

    voiced_end: float
    at: float
    result: asyncio.Task


@dataclass
class TakenTurn:
    """The caller's last turn, kept so that talk resumed right after it joins it: its audio, the
    call time its speech ended, its voiced seconds, the dialog before it (None until the turn
    reaches the dialog) and whether its step hands the call over or ends it (never taken back, nor
    is a turn that sent a look-up to a tool that is not read-only: `CallSession._settled`)."""

    audio: bytes
    t_end: float
    speech_s: float | None
    before: DialogCheckpoint | None = None
    final: bool = False
    reply_at: float | None = None  # call time the first frame of the bot's reply to it played
    text: str = ""                 # what the dialog heard of it


JOIN_PAUSE = bytes(2 * PHONE_RATE // 5)  # 200 ms of silence between the two parts of a joined turn
JOIN_KEEP = 0.75  # a joined turn recognised with fewer words than this share of its parts' own
                  # lost some (whisper at times stops where the first part ended): the parts' text
LONGEST_PAUSE_S = 1.5  # the dialplan's bound on `end_of_turn.max_silence_ms`: a silence this long
                       # ends any turn, so talk after it is never the rest of one


@dataclass(frozen=True)
class SessionConfig:
    endpointer: EndpointerConfig = field(default_factory=EndpointerConfig)
    end_of_turn_model: bool = True  # Smart Turn available for nodes whose plan switches it on
                                    # (`end_of_turn: {model: true}`; ivr/audio/turn.py)
    barge_in_ms: int = 700          # speech that stops the bot at once; shorter talk over the
                                    # bot is transcribed first: "mhm" is ignored, "stop" barges in
    barge_pause_ms: int = 200       # talk over the bot this long pauses its audio meanwhile, so
                                    # a caller is not talked over; it resumes where it stopped if
                                    # the talk was a backchannel or noise (0: never pauses)
    asr_timeout_s: float = 10.0
    tts_timeout_s: float = 10.0
    partial_every_s: float = 1.0    # interim ASR for emergency phrases while the caller talks
                                    # (0 turns it off)
    continue_ms: int = 1000         # caller talk after a pause in which the bot began its reply,
                                    # when the caller has heard at most this much of it (too
                                    # little to be answering it), is the rest of their turn (a
                                    # pause the end of turn took for the end): the reply stops
                                    # and the two parts are heard as one (0: off)
    speculative_asr_ms: int = 120   # after this much silence, recognise the turn so far; kept
                                    # as the final result if the turn ends without more speech,
                                    # so recognition overlaps the end-of-turn wait (0: off); the
                                    # turn model's verdict at 200 ms waits for its text
    echo_margin_db: float = 15.0    # while the bot speaks, caller audio must be louder than the
    echo_window_ms: int = 500       # bot's loudest frame of the last window minus this margin:
                                    # line echo comes back ~20 dB down, a caller talking over the
                                    # bot is about as loud as the bot...
    echo_cancel: bool = True        # ...until the echo canceller has the echo path (drivers feed
                                    # it with `played`): then the bot's echo is taken out of the
                                    # caller's audio and only what is left must clear the echo
    echo_residual_margin_db: float = 6.0  # left over, by this margin, so a quiet caller counts


class CallSession:
    """Caller frames -> endpointer -> ASR -> dialog -> TTS -> bot frames, with barge-in."""

    def __init__(self, call_id: str, loaded: LoadedPlan, engines: Engines, events: EventLog,
                 on_transfer: Callable[[TransferRequest], None] | None = None,
                 config: SessionConfig | None = None, caller_number: str = "",
                 on_hangup: Callable[[str], None] | None = None,
                 now: datetime.datetime | None = None,
                 on_flush: Callable[[], int | None] | None = None,
                 on_first_frame: Callable[[], None] | None = None) -> None:
        self.call_id = call_id
        self.plan = loaded.plan
        self.engines = engines
        self.events = events
        self.config = config or SessionConfig()
        self.on_transfer = on_transfer
        self.on_hangup = on_hangup
        self.on_flush = on_flush
        self.on_first_frame = on_first_frame
        self.endpointer = Endpointer(self.config.endpointer, PHONE_RATE)
        self._turn_judge: TurnJudge | None = None  # built when a node first judges pauses
        self._turn_policy = TurnPolicy()
        now = now or datetime.datetime.now(datetime.timezone.utc)
        self.dialog = DialogEngine(self.plan, knowledge_index(engines, loaded), engines.llm, events,
                                   caller_number, now, menus=menu_index(engines, loaded),
                                   documents=document_index(engines, loaded))
        self.playout = FrameBuffer()
        self.ended = False
        self._work: asyncio.Task[None] | None = None
        self._interjection: asyncio.Task[None] | None = None
        self._partial: asyncio.Task[None] | None = None
        self._next_partial_t = 0.0
        self._utterance_handled = False
        self._background: set[asyncio.Task[Any]] = set()
        self._speculation: Speculation | None = None
        # The dialog engine is used from executor threads (interim checks, the final turn's
        # embeddings and guard) and from the loop: one call's uses never overlap.
        self._dialog_lock = asyncio.Lock()
        # a step that overran `asr_timeout_s`: its thread may still be changing the dialog
        self._straggler: asyncio.Future[Any] | None = None
        self._after_playout: Transfer | Hangup | None = None
        self._speech_started_busy = False
        # the caller began talking over the last thing the bot had to say (a node's question)
        self._over_question = False
        self._last_said_s = 0.0   # audio seconds of the last action spoken (all its sentences)
        self._barged = False
        self._taken: TakenTurn | None = None      # the caller's last turn
        self._continues: TakenTurn | None = None  # the turn the caller's current talk goes on with
        self._paused_at: float | None = None  # call time the bot's audio was paused
        self._first_frame_pending = False
        self._quiet_since = 0.0
        self._bot_levels: deque[float] = deque(maxlen=max(1, self.config.echo_window_ms // 20))
        self.echo = EchoCanceller() if self.config.echo_cancel else None
        self._echo_levels: deque[float] = deque(maxlen=max(1, self.config.echo_window_ms // 20))
        # What leaves the dialog (the record, transfer headers, the webhook) is masked; the
        # dialog itself keeps what the caller said.
        self.redactor = plan_redactor(self.plan)
        events.redactor = self.redactor
        events.emit("call.start", call_id=call_id, caller=caller_number,
                    dialplan=str(loaded.path), dialplan_sha256=loaded.sha256,
                    at=now.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds"))

    # ---- driver interface -------------------------------------------------------------------
    def start(self) -> None:
        """Greet the caller (the dialplan's start node, or its after-hours node)."""
        self._run(self._execute(self.dialog.start(), caller_said=""))

    def feed(self, frame: bytes) -> None:
        """One 20 ms caller frame (8 kHz PCM16)."""
        if self.ended:
            return
        if self.echo is not None:
            frame = self.echo.cancel(frame)
            self._echo_levels.append(self.echo.echo_dbfs)
            self._set_echo_floor()
        now = self.events.clock.now()
        for event in self.endpointer.process(frame, now):
            if event.kind.name == "PAUSE":
                if event.silence_ms == self.config.speculative_asr_ms:
                    self._speculate(event)
                if self._turn_policy.model and event.silence_ms == self._turn_policy.judge_ms:
                    self._in_background(self._judge(event, self._turn_policy))
                elif self._turn_policy.model \
                        and event.silence_ms == self._turn_policy.question_ms:
                    self._in_background(self._hear_question(event))
            elif event.kind.name == "START":
                self._speculation = None
                self._speech_started_busy = self.bot_busy
                self._over_question = self.bot_busy and not self._work_running \
                    and self.playout.duration_s <= self._last_said_s
                self._barged = self._utterance_handled = False
                self._continues = self._taken if self._continuing(event.t) else None
                self._next_partial_t = now + self.config.partial_every_s
                self.events.emit("speech.start", at=round(event.t, 3), bot_busy=self.bot_busy)
            elif event.dropped:
                self.events.emit("speech.end", at=round(event.t, 3), speech_ms=event.speech_ms,
                                 dropped=True)
            else:
                self._on_utterance(event.audio, event.t, event.speech_ms)
        self._check_talk_over(now)
        if not self.endpointer.in_speech:
            self._turn_policy = self._node_turn_policy()
        self._maybe_check_partial(now)
        self._check_no_input(now)

    def dtmf(self, digit: str) -> None:
        """A key the caller pressed (RFC 2833 or SIP INFO: the driver does not care which)."""
        self.events.emit("dtmf", digit=self.recorded_key(digit))
        self._quiet_since = self.events.clock.now()
        self._taken = None   # talk after a key goes on with nothing said before it
        self._step_now_or_after(lambda: self.dialog.on_dtmf(digit), f"[key {digit}]",
                                interrupt=True)

    def recorded_key(self, digit: str) -> str:
        """`digit` as the record may keep it: "•" while a secret slot is being collected."""
        return "•" if self.dialog.keys_secret else digit

    def transfer_failed(self, request: TransferRequest, status: str) -> None:
        """The driver could not connect the transfer: tell the caller, follow the fallback."""
        self.events.emit("transfer.failed", target=request.target, status=status)
        self._step_now_or_after(lambda: self.dialog.on_transfer_failed(status, request.fallback),
                                "")

    def next_frame(self) -> bytes | None:
        """The bot's next 20 ms frame, or None for silence."""
        frame = None if self.paused else self.playout.pop()
        self._bot_levels.append(rms_dbfs(frame) if frame is not None else float("-inf"))
        self._set_echo_floor()
        if frame is not None and self._taken is not None and self._taken.reply_at is None:
            self._taken.reply_at = self.events.clock.now()
        if frame is not None and self._first_frame_pending:
            self._first_frame_pending = False
            self.events.emit("playout.first_frame")
            if self.on_first_frame:
                self.on_first_frame()
        if (frame is None and self._after_playout is not None and not self._work_running
                and not self.paused):
            self._finish_after_playout()
        return frame

    def played(self, frame: bytes | None) -> None:
        """The bot frame the line sent at this tick (None: silence), once per tick in step with
        `feed`: the echo canceller's reference. A driver that never calls it keeps the level
        gate alone."""
        if self.echo is not None:
            self.echo.reference(frame)

    def _set_echo_floor(self) -> None:
        """Caller frames quieter than this are the bot's echo, not the caller: the bot's loudest
        recent frame less the margin, or, once the echo path is known, the loudest recent echo
        estimate less what the canceller takes out of it, plus a margin (never stricter)."""
        floor = max(self._bot_levels, default=-math.inf) - self.config.echo_margin_db
        if self.echo is not None and self.echo.converged:
            floor = min(floor, max(self._echo_levels, default=-math.inf) - self.echo.erle_db
                        + self.config.echo_residual_margin_db)
        elif self.echo is not None and self.echo.echo_free_dbfs is not None:
            # a line without echo: only what it carries while the bot talks is below a caller
            floor = min(floor, self.echo.echo_free_dbfs + self.config.echo_residual_margin_db)
        self.endpointer.echo_floor_dbfs = floor

    @property
    def working(self) -> bool:
        """Model work (recognition, the dialog step, synthesis, ...) is in flight."""
        return any(not t.done() for t in self._tasks)

    async def settle(self) -> None:
        """Wait until no model work is in flight (simulated-time drivers)."""
        while pending := [t for t in self._tasks if not t.done()]:
            await asyncio.wait(pending)

    @property
    def _tasks(self) -> list[asyncio.Task[None]]:
        return [t for t in (self._work, self._interjection, self._partial, *self._background)
                if t is not None]

    async def close(self, reason: str) -> None:
        """End the session (hang-up, transfer done, shutdown); idempotent."""
        if self.ended:
            return
        self.ended = True
        self._stop_bot()
        for task in (self._interjection, self._partial):
            if task is not None:
                task.cancel()
        if pending := self._tasks:
            await asyncio.wait(pending)
        await self.dialog.aclose()
        summary = self.dialog.summary(reason)
        self.events.emit("call.end", reason=reason, turns=len(self.dialog.state.turns),
                         slots=self.dialog.recorded_slots, summary=summary.short,
                         summary_full=summary.full)

    @property
    def transfer_pending(self) -> bool:
        """A transfer or hang-up is decided and waits for the bot to finish speaking."""
        return self._after_playout is not None

    @property
    def bot_busy(self) -> bool:
        """The bot is speaking or preparing to speak (or paused while the caller talks)."""
        return len(self.playout) > 0 or self._work_running

    @property
    def paused(self) -> bool:
        """The bot's audio is held while the caller talks over it (see `barge_pause_ms`)."""
        return self._paused_at is not None

    @property
    def audio_waiting(self) -> bool:
        """Bot audio is ready to play now (not held by a pause): a driver that finds its line
        empty meanwhile has a gap in the bot's speech."""
        return len(self.playout) > 0 and not self.paused

    # ---- turn handling -----------------------------------------------------------------------
    @property
    def _work_running(self) -> bool:
        return self._work is not None and not self._work.done()

    def _run(self, coro: Any) -> None:
        self._stop_work()
        self._work = asyncio.get_running_loop().create_task(self._guarded(coro))

    async def _guarded(self, coro: Any) -> None:
        """No exception ends a call silently: any failure becomes a fallback and a transfer."""
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
            log.error("call %s: %s; the caller hears the fallback", self.call_id, error,
                      exc_info=True)
            self.events.emit("error", error=error)
            async with self._dialog_lock:  # it only reads the plan: no wait for a straggler
                step = self.dialog.technical_fallback(error)
            try:
                await self._execute(step, caller_said="")
            except Exception as speak_exc:  # noqa: BLE001 - TTS itself is down: transfer anyway
                self.events.emit("error", error=f"fallback prompt failed: {speak_exc}")
                self._after_playout = step.transfer

    def _stop_work(self) -> None:
        if self._work_running:
            self._work.cancel()  # type: ignore[union-attr]

    def _stop_bot(self) -> None:
        self._stop_work()
        self._paused_at = None
        self.playout.clear()
        self._flush_line()

    def _flush_line(self) -> int:
        """Bot audio the driver has already taken but not yet sent is dropped too; how many
        frames it dropped."""
        return (self.on_flush() or 0) if self.on_flush else 0

    def _check_talk_over(self, now: float) -> None:
        """Caller speech over the bot: pause the bot's audio after `barge_pause_ms` of it, stop
        the bot after `barge_in_ms`; resume a pause once the talk has turned out to be a
        backchannel or noise (it ended and nothing came of it)."""
        ep, config = self.endpointer, self.config
        if ep.in_speech and self._speech_started_busy and not self._barged and self.bot_busy:
            if ep.voiced_ms >= config.barge_in_ms:
                self._barge_in()
            elif not self.paused and 0 < config.barge_pause_ms <= ep.voiced_ms:
                self._paused_at = now
                self.events.emit("bot.paused", held_s=round(self.playout.duration_s, 3))
                self.playout.rewind(self._flush_line())
        elif self.paused and not ep.in_speech and not (
                self._interjection is not None and not self._interjection.done()):
            paused_s, self._paused_at = now - self._paused_at, None  # type: ignore[operator]
            self.events.emit("bot.resumed", paused_s=round(paused_s, 3))

    def _barge_in(self) -> None:
        self._barged = True
        self.events.emit("barge_in", dropped_s=round(self.playout.duration_s, 3))
        self._stop_bot()  # a transfer already decided still goes ahead

    @property
    def turn_judge(self) -> TurnJudge:
        """The end-of-turn judge; its model process starts only when a node first uses it (the
        model is off by default)."""
        if self._turn_judge is None:
            self._turn_judge = TurnJudge(shared_turn_model() if self.config.end_of_turn_model
                                         else None)
        return self._turn_judge

    @turn_judge.setter
    def turn_judge(self, judge: TurnJudge) -> None:
        self._turn_judge = judge

    def _node_turn_policy(self) -> TurnPolicy:
        """The current node's end-of-turn policy, applied to the endpointer for the next turn."""
        node = self.plan.nodes.get(self.dialog.state.node)
        policy = policy_for(self.plan.end_of_turn, getattr(node, "end_of_turn", None),
                            getattr(node, "kind", None) if getattr(node, "type", "") == "collect"
                            else None, tuple(self.plan.languages))
        if policy.model and self.turn_judge.model is None:  # no model here: the fixed wait
            policy = replace(policy, model=False,
                             max_silence_ms=min(policy.max_silence_ms, FIXED_WAIT.max_silence_ms))
        self.endpointer.wait((policy.judge_ms if policy.model else 0,
                              policy.question_ms if policy.model else 0,
                              self.config.speculative_asr_ms), policy.max_silence_ms)
        return policy

    def _speculate(self, pause: SpeechEvent) -> None:
        """At a short silence, start recognising the turn so far; the end of the turn takes the
        result if the caller has not spoken since (talk over the bot is left to the final)."""
        if self.config.speculative_asr_ms <= 0 or (self._speech_started_busy
                                                   and not self._barged):
            return
        task = self._in_background(self._try_recognise(pause.audio))
        self._speculation = Speculation(pause.t, self.events.clock.now(), task)

    async def _transcribe(self, audio: bytes, careful: bool = False) -> Transcript:
        """The recogniser on `audio`, off the event loop, within the ASR timeout (`careful`:
        its slower, more thorough decoding)."""
        transcribe = self.engines.asr.transcribe
        if careful:
            transcribe = functools.partial(transcribe, careful=True)
        return await self._in_executor(transcribe, audio, PHONE_RATE, tuple(self.plan.languages),
                                       timeout=self.config.asr_timeout_s, stage="asr")

    async def _read_number_again(self, transcript: Transcript, audio: bytes) -> Transcript:
        """A read-out number the waiting node cannot take, or not at its usual length (a digit
        gained or lost: 12 digits for an 11-digit mobile number), read once more from the
        audio, carefully; that reading is kept when the node takes it at that length, else
        the first one."""
        if not self.engines.asr.careful_decoding:
            return transcript
        async with self._dialog_held():
            if not self.dialog.misread_number(transcript.text):
                return transcript
        try:
            again = await self._transcribe(audio, careful=True)
        except Exception:  # noqa: BLE001 - the first reading stands
            return transcript
        async with self._dialog_held():
            taken = not again.rejected and self.dialog.reads_number(again.text)
        self.events.emit("asr.reread", first=transcript.text, text=again.text, taken=taken,
                         compute_s=round(again.compute_s, 3))
        return again if taken else transcript

    async def _try_recognise(self, audio: bytes) -> Transcript | None:
        try:
            return await self._transcribe(audio)
        except Exception:  # noqa: BLE001 - the final recognition runs as usual
            return None

    def _in_background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `work` beside the media path; the call's end waits for or cancels it."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _judge(self, pause: SpeechEvent, policy: TurnPolicy) -> None:
        """At a short silence, ask the turn model (off the event loop) whether the caller has
        finished; end the turn there if so and the caller has stayed silent meanwhile."""
        try:
            verdict = await self._in_executor(self.turn_judge.judge, pause.audio, PHONE_RATE,
                                              policy, timeout=self.config.asr_timeout_s)
        except (asyncio.TimeoutError, RuntimeError):  # executor shut down or stuck: the bound holds
            return
        speculation = self._speculation
        if verdict.complete and speculation is not None and speculation.voiced_end == pause.t:
            transcript = await speculation.result
            verdict = with_text(verdict, None if transcript is None else transcript.raw_text)
        end = self.endpointer.end_at_pause(pause) if verdict.complete and not self.ended else None
        self.events.emit("turn.judged", at=round(pause.t, 3), complete=verdict.complete,
                         probability=None if verdict.probability is None
                         else round(verdict.probability, 3),
                         compute_s=round(verdict.compute_s, 3), ended=end is not None,
                         error=verdict.error, text=verdict.text)
        if end is not None:
            self._on_utterance(end.audio, end.t, end.speech_ms)

    async def _hear_question(self, pause: SpeechEvent) -> None:
        """At `question_ms` of silence in a turn the model has not ended: end it there if the
        speculative transcript of the same audio is a whole question and the caller has stayed
        silent meanwhile."""
        speculation = self._speculation
        if speculation is None or speculation.voiced_end != pause.t:
            return  # no transcript of this audio (talk over the bot, speculation off)
        transcript = await speculation.result
        verdict = as_question(None if transcript is None else transcript.raw_text)
        end = self.endpointer.end_at_pause(pause) if verdict.complete and not self.ended else None
        self.events.emit("turn.question", at=round(pause.t, 3), question=verdict.complete,
                         ended=end is not None, text=verdict.text)
        if end is not None:
            self._on_utterance(end.audio, end.t, end.speech_ms)

    def _check_no_input(self, now: float) -> None:
        if self.bot_busy or self.endpointer.in_speech or self._after_playout is not None \
                or (self._interjection is not None and not self._interjection.done()):
            self._quiet_since = now
        elif now - self._quiet_since >= self.plan.no_input_timeout_s:
            self._quiet_since = now
            self.events.emit("no_input", node=self.dialog.state.node)
            self._step_now_or_after(self.dialog.on_no_input, "")

    def _maybe_check_partial(self, now: float) -> None:
        """While the caller talks, re-recognise the utterance so far about once a second and act
        on an emergency phrase at once instead of waiting for the end of the turn."""
        speculating = 0 < self.config.speculative_asr_ms <= self.endpointer.silent_ms
        if (self.config.partial_every_s <= 0 or not self.endpointer.in_speech or speculating
                or self._utterance_handled or now < self._next_partial_t
                or (self._partial is not None and not self._partial.done())):
            return  # (in a pause the speculative recognition has the same audio in hand)
        self._next_partial_t = now + self.config.partial_every_s
        self._partial = asyncio.get_running_loop().create_task(
            self._check_partial(self.endpointer.current_audio))

    async def _check_partial(self, audio: bytes) -> None:
        try:
            transcript = await self._transcribe(audio)
        except Exception as exc:  # noqa: BLE001 - the final result will still be checked
            self.events.emit("asr.partial_error", error=f"{type(exc).__name__}: {exc}")
            return
        step = None
        if not transcript.rejected:
            async with self._dialog_held():
                step = await self._off_loop(self.dialog.check_partial, transcript.text)
        if step is None or self._utterance_handled:
            return
        self._utterance_handled = True
        self._heard(transcript.text)
        self.events.emit("asr.partial", text=transcript.text)
        self._stop_bot()
        self._run(self._execute(step, caller_said=transcript.text))

    def _continuing(self, start: float) -> bool:
        """Whether caller speech starting at call time `start` goes on with their last turn."""
        taken = self._taken
        if not self.bot_busy or taken is None or self._settled(taken) \
                or self.config.continue_ms <= 0:
            return False
        heard = 0.0 if taken.reply_at is None else start - taken.reply_at
        long_s = len(taken.audio) / (2 * PHONE_RATE)  # a chain of joins stops where a turn would
        return (0 <= start - taken.t_end < LONGEST_PAUSE_S
                and heard <= self.config.continue_ms / 1000
                and long_s * 1000 < self.config.endpointer.max_turn_ms)

    def _settled(self, taken: TakenTurn) -> bool:
        """Whether `taken` can no longer be taken back: its step hands the call over or ends
        it, or it sent a look-up that may have acted (a tool that is not read-only)."""
        return taken.final or (taken.before is not None and self.dialog.acted_since(taken.before))

    def _on_utterance(self, audio: bytes, t_end: float, speech_ms: int) -> None:
        self.events.emit("speech.end", at=round(t_end, 3), speech_ms=speech_ms)
        speculation, self._speculation = self._speculation, None
        if speculation is not None and abs(speculation.voiced_end - t_end) > 0.005:
            speculation = None        # the caller spoke again after that pause
        continues, self._continues = self._continues, None
        if self._utterance_handled:
            return  # already acted on from an interim result
        taken = TakenTurn(audio, t_end, speech_ms / 1000)
        if self._speech_started_busy and not self._barged:
            # Short talk over the bot: the bot keeps speaking while we find out what it was.
            self._interjection = asyncio.get_running_loop().create_task(
                self._guarded(self._interject(taken, continues)))
            return
        self._run(self._turn(taken, speculation, continues))

    async def _recognise(self, audio: bytes, speculation: Speculation | None = None,
                         parts: tuple[str, str] | None = None) -> Transcript | None:
        """The caller's `audio` recognised (the speculative result if there is one) and
        recorded; None if nothing usable was said. `parts`: the texts of a joined turn's two
        parts as each was heard alone, taken instead where the whole lost words (`JOIN_KEEP`)."""
        transcript = await speculation.result if speculation is not None else None
        if transcript is None:
            speculation = None
            transcript = await self._transcribe(audio)
        if parts is not None and len(tokenize(transcript.text)) < JOIN_KEEP * sum(
                len(tokenize(part)) for part in parts):
            transcript = replace(transcript, text=" ".join(part for part in parts if part),
                                 rejected=None)
        if transcript.rejected:
            self.events.emit("asr.rejected", reason=transcript.rejected, raw=transcript.raw_text)
            return None
        transcript = await self._read_number_again(transcript, audio)
        self._heard(transcript.text)
        self.events.emit("asr.final", text=transcript.text, language=transcript.language,
                         rtf=round(transcript.rtf, 3), compute_s=round(transcript.compute_s, 3),
                         speculative_at=None if speculation is None
                         else round(speculation.at, 3))
        return transcript

    async def _turn(self, taken: TakenTurn, speculation: Speculation | None = None,
                    continues: TakenTurn | None = None, heard: Transcript | None = None) -> None:
        """Recognise a caller turn and respond. A turn that `continues` the one before (the
        caller paused, the bot began to reply, the caller went on) is joined to it, unless that
        one's step hands over or ends the call: the two parts are recognised as one utterance
        and the dialog, taken back to before the first part, hears them together. `heard`: the
        second part already recognised alone (an interjection's)."""
        before, parts = None, None
        if continues is not None:
            async with self._dialog_held():  # the first part's step, if it started, is done
                joined = not self._settled(continues)
            if joined:
                self.events.emit("turn.continued", after=round(continues.t_end, 3))
                rest = heard
                if rest is None and speculation is not None:
                    rest = await speculation.result
                if rest is None:
                    rest = await self._transcribe(taken.audio)
                parts = (continues.text, rest.text)
                taken = TakenTurn(continues.audio + JOIN_PAUSE + taken.audio, taken.t_end,
                                  (continues.speech_s or 0.0) + (taken.speech_s or 0.0))
                before, speculation = continues.before, None
        self._taken = taken
        if transcript := await self._recognise(taken.audio, speculation, parts):
            await self._respond(transcript, taken, before)

    async def _interject(self, taken: TakenTurn, continues: TakenTurn | None) -> None:
        transcript = await self._recognise(taken.audio)
        async with self._dialog_held():
            # the guard's and the knowledge base's embeddings, off the event loop
            meaning = "backchannel" if transcript is None else await self._off_loop(
                self.dialog.classify_interjection, transcript.text, self._over_question,
                continues is not None)
        if meaning == "backchannel":
            self.events.emit("backchannel", text=transcript.text if transcript else "")
            return
        self._barge_in()
        if meaning == "turn" and continues is not None:
            self._run(self._turn(taken, None, continues, transcript))
        elif meaning in ("turn", "answer") and transcript is not None:
            self._taken = taken = replace(taken, speech_s=None)  # too short for its voice to tell
            self._run(self._respond(transcript, taken))

    async def _respond(self, transcript: Transcript, taken: TakenTurn,
                       rewind: DialogCheckpoint | None = None) -> None:
        """The dialog's step on a recognised turn (first taken back to `rewind`), then acted on."""
        text, audio, speech_s = transcript.text, taken.audio, taken.speech_s
        taken.text = text
        async with self._dialog_held():
            if rewind is not None:
                self.dialog.rewind(rewind)
            taken.before = rewind or self.dialog.checkpoint()
            # the guard first: a turn it hands over never waits for the LLM's slot reading
            await self._off_loop(self.dialog.prepare_turn, text, audio, speech_s)
            await self.dialog.read_slots(text)
            step = await self._off_loop(self._decide, taken, text, transcript.language, audio,
                                        speech_s)
        await self._execute(step, caller_said=text)

    def _decide(self, taken: TakenTurn, *turn: Any) -> Step:
        """`dialog.on_text(*turn)`, noting on `taken` whether it hands over or ends the call
        (noted even when the turn is cancelled meanwhile: the step runs to its end)."""
        step = self.dialog.on_text(*turn)
        taken.final = any(isinstance(a, (Transfer, Hangup)) for a in step.actions)
        return step

    async def _off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)`, a dialog step, on the executor: its embeddings (a model-service call on a
        SIP worker), voice analysis and retrieval never stall the 20 ms audio of the calls on
        this loop. The caller holds `_dialog_held`. A turn cancelled meanwhile (the caller
        spoke again, pressed a key, hung up) still waits for the step to finish, so the lock is
        never free while a step is changing the dialog; a step over `asr_timeout_s` (a hung model
        service) fails the turn, and the caller hears the fallback."""
        work = asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args))
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.config.asr_timeout_s)
        except asyncio.TimeoutError:
            self._straggler = work   # the next step waits for it (`_dialog_held`)
            raise
        except asyncio.CancelledError:
            while not work.done():
                try:
                    await asyncio.wait([work])
                except asyncio.CancelledError:
                    continue
            raise

    @property
    def _dialog_busy(self) -> bool:
        return self._dialog_lock.locked() or (self._straggler is not None
                                              and not self._straggler.done())

    @contextlib.asynccontextmanager
    async def _dialog_held(self) -> AsyncIterator[None]:
        """The dialog to oneself: the lock, and any step abandoned on a timeout finished, since
        its thread cannot be stopped and would otherwise change the dialog beside the next one."""
        async with self._dialog_lock:
            if self._straggler is not None:
                await asyncio.wait([self._straggler])
                self._straggler = None
            yield

    def _step_now_or_after(self, decide: Callable[[], Step | None], caller_said: str,
                           interrupt: bool = False) -> None:
        """A quick dialog step (a key, the caller's silence, a failed transfer): now, on the loop,
        when no other step holds the dialog, else as soon as that one is done, so two steps never
        change the dialog at once. `interrupt`: a step stops what the bot is saying."""
        def act(step: Step | None) -> None:
            if step is None:
                return
            if interrupt:
                self._stop_bot()
            self._run(self._execute(step, caller_said=caller_said))

        if not self._dialog_busy:
            act(decide())
            return

        async def after() -> None:
            async with self._dialog_held():
                step = decide()
            act(step)

        self._in_background(self._guarded(after()))

    # ---- acting ------------------------------------------------------------------------------
    def _decided(self, step: Step) -> None:
        self.events.emit("dialog.decision", reason=step.reason, node=step.node,
                         actions=[type(a).__name__.lower() for a in step.actions], **step.evidence)

    async def _execute(self, step: Step, caller_said: str) -> None:
        self._decided(step)
        self._flush_line()
        spoken: list[str] = []
        actions = deque(step.actions)
        while actions:
            action = actions.popleft()
            if isinstance(action, Say):
                spoken += [s async for s in self._speak_stream(_single(action.text),
                                                                fixed=True)]
            elif isinstance(action, (Answer, Converse, DocumentAnswer)):
                spoken += [s async for s in self._speak_stream(self.dialog.speak(action))]
            elif isinstance(action, Lookup):
                # what was said before plays while the tool answers; then its result is said
                # and the plan walks on, within the same turn
                looked = await self.dialog.look_up(action)
                self._decided(looked)
                actions.extendleft(reversed(looked.actions))
            else:
                self._after_playout = action
        entry = next((a.entry.id for a in step.actions if isinstance(a, Answer)), None)
        self.dialog.state.turns.append(SummaryTurn(
            caller_said, " ".join(spoken), type(step.actions[-1]).__name__.lower()
            if step.actions else "", step.reason, entry))

    def _finish_after_playout(self) -> None:
        action, self._after_playout = self._after_playout, None
        if isinstance(action, Transfer):
            summary = self.dialog.summary(action.reason)
            request = TransferRequest(self.call_id, action.target, action.reason,
                                      self._redact(summary.short), action.fallback)
            self.events.emit("transfer.request", target=request.target, reason=request.reason,
                             summary=summary.short, summary_full=summary.full)
            if self.plan.transfer.summary_webhook:
                self._in_background(self._post_summary(action.reason))
            if self.on_transfer:
                self.on_transfer(request)
        elif isinstance(action, Hangup):
            self.events.emit("hangup.request", reason=action.reason)
            if self.on_hangup:
                self.on_hangup(action.reason)

    async def _post_summary(self, reason: str) -> None:
        """The full summary (LLM-written where it answers in time) to the plan's webhook."""
        from ivr.dialog.summary import llm_summary
        from ivr.session.webhook import post_json

        state = self.dialog.state
        slots = self.dialog.recorded_slots
        summary = await llm_summary(self.engines.llm, state.turns, slots, reason,
                                    state.mood, state.language, timeout_s=4.0)
        body = {"call_id": self.call_id, "reason": reason, "short": self._redact(summary.short),
                "full": self._redact(summary.full), "source": summary.source,
                "slots": self._redact(slots)}
        result = await post_json(self.plan.transfer.summary_webhook, body,
                                 what=f"call {self.call_id} summary")
        if result.ok:
            self.events.emit("summary.webhook", status=result.status, source=summary.source)
        else:
            self.events.emit("summary.webhook", status=result.status, error=result.error)

    def _redact(self, value: Any) -> Any:
        return self.redactor.value(value) if self.redactor else value

    def _heard(self, text: str) -> None:
        """Each caller utterance, before it is written: a number read out across two turns is
        masked in both (see `Redactor.heard`)."""
        if self.redactor is not None:
            self.redactor.heard(text)

    async def _speak_stream(self, sentences: AsyncIterator[str],
                            fixed: bool = False) -> AsyncIterator[str]:
        """Synthesise sentence by sentence into playout, so the first plays while the rest is
        made; yields each sentence once it is queued. `fixed` text (the plan's prompts) is
        synthesised once per process and shared by every call."""
        language = self.dialog.state.language
        voice = self.engines.voice(language)
        first = True
        self._last_said_s = 0.0
        async for text in sentences:
            for sentence in split_sentences(text):
                if fixed:
                    speech = await self._prompt_audio(language, sentence)
                else:
                    speech = await self._in_executor(voice.speak, sentence,
                                                     timeout=self.config.tts_timeout_s,
                                                     stage="tts")
                if first:
                    first = False
                    self._first_frame_pending = True
                    self.events.emit("tts.first_audio", compute_s=round(speech.compute_s, 3),
                                     rtf=round(speech.compute_s / max(speech.audio_s, 1e-3), 3),
                                     source=speech.source)
                pad = (-len(speech.pcm)) % FRAME_BYTES
                self.playout.push(speech.pcm + bytes(pad))
                self._last_said_s += (len(speech.pcm) + pad) / (2 * PHONE_RATE)
                self.events.emit("bot.say", text=speech.text, audio_s=round(speech.audio_s, 3))
                yield sentence

    async def _prompt_audio(self, language: str, sentence: str) -> Speech:
        """A prompt's audio from the process-wide cache; calls that ask for the same prompt at
        once (a burst of new calls all greeting) share one synthesis."""
        cache, key = self.engines.prompt_audio, (language, sentence)
        entry = cache.get(key)
        if isinstance(entry, Speech):
            return entry
        loop = asyncio.get_running_loop()
        if entry is None or entry.get_loop() is not loop or (
                entry.done() and (entry.cancelled() or entry.exception() is not None)):
            entry = loop.create_task(self._in_executor(
                self.engines.voice(language).speak, sentence, timeout=self.config.tts_timeout_s,
                stage="tts"))
            cache[key] = entry
            while len(cache) > PROMPT_CACHE_SIZE:
                cache.pop(next(iter(cache)))
        speech = await asyncio.shield(entry)
        cache[key] = speech
        return speech

    async def _in_executor(self, fn: Callable[..., Any], *args: Any, timeout: float,
                           stage: str = "") -> Any:
        """`fn(*args)` on the executor within `timeout`; a failing model `stage` (asr, tts) is
        recorded as an `engine.failure` before the exception goes on to the caller's handling."""
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(None, functools.partial(fn, *args)), timeout)
        except Exception as exc:
            if stage:
                self.events.emit("engine.failure", stage=stage,
                                 timed_out=isinstance(exc, asyncio.TimeoutError),
                                 error=f"{type(exc).__name__}: {exc}")
            raise


async def _single(text: str) -> AsyncIterator[str]:
    yield text


def plan_redactor(plan: Dialplan) -> Redactor | None:
    """The plan's redaction (built-in rules and its patterns), or None where it keeps raw text."""
    settings = plan.redaction
    if settings.keep_raw:
        return None
    return Redactor((p.name, p.regex) for p in settings.patterns)


def knowledge_index(engines: Engines, loaded: LoadedPlan) -> Retriever:
    """Question vectors (and the menu words', see `menu_index`, and the document index, see
    `document_index`) are computed once per plan version and shared by every call on it."""
    if loaded.sha256 not in engines.retrievers:
        entries = [KBEntry(k.id, tuple(k.questions), dict(k.answer)) for k in loaded.plan.knowledge]
        engines.retrievers[loaded.sha256 + ":menus"] = MenuMeaning(loaded.plan, engines.embedder)
        engines.retrievers[loaded.sha256 + ":documents"] = plan_documents(loaded, engines.embedder)
        engines.retrievers[loaded.sha256] = Retriever(entries, engines.embedder,
                                                      loaded.plan.answers.min_score)
    return engines.retrievers[loaded.sha256]


def document_index(engines: Engines, loaded: LoadedPlan) -> PassageRetriever | None:
    """The plan's document passages (None without documents), built with its knowledge index."""
    knowledge_index(engines, loaded)
    return engines.retrievers[loaded.sha256 + ":documents"]


def menu_index(engines: Engines, loaded: LoadedPlan) -> MenuMeaning:
    """Every menu choice's words as vectors, built with the plan's knowledge index."""
    knowledge_index(engines, loaded)
    return engines.retrievers[loaded.sha256 + ":menus"]
