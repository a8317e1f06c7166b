"""A call's conversation: fetch TwiML, play it, follow <Gather> actions and <Redirect>s.

The callee is scripted (callee.py). Speech, pauses and unanswered gathers advance a simulated
clock (the call's reported duration) and wait a scaled-down real time. `<Say>` speaks only in
a voice Twilio lists for its language (voices.py); an unsupported pair is not spoken and takes
no time. A Call update (call_control.py) interrupts whatever is playing; timers on the
simulated clock (the async AMD result) fire as the clock passes them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin

from twilio_sandbox.call_control import CallControl, HangUp, NewTwiml
from twilio_sandbox.callee import Callee
from twilio_sandbox.resources import API_VERSION, Call
from twilio_sandbox.sandbox import Sandbox
from twilio_sandbox.store import EventValue
from twilio_sandbox.twiml import (
    Gather,
    Hangup,
    Pause,
    Play,
    Redirect,
    Say,
    TwimlError,
    Unsupported,
    gathered,
    parse_voice,
)
from twilio_sandbox.voices import DEFAULT_LANGUAGE, DEFAULT_VOICE, INVALID_VOICE, speaks

__all__ = ["Timer", "VoiceSession", "call_params"]

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_PLAY_SECONDS = 5.0  # the sandbox never downloads audio; assume a short clip


def call_params(call: Call, status: str) -> dict[str, str]:
    """The fields Twilio sends with every request about a call. AnsweredBy is not one of them:
    only the synchronous AMD's first TwiML request and the async AMD callback carry it."""
    return {
        "AccountSid": call.account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call.sid,
        "CallStatus": status,
        "Called": call.to,
        "Caller": call.from_,
        "Direction": "outbound-api",
        "From": call.from_,
        "To": call.to,
    }


def _speech_seconds(text: str) -> float:
    # About 4 Chinese characters or 15 Latin letters a second.
    cjk = len(_CJK.findall(text))
    return max(1.0, cjk / 4 + (len(text) - cjk) / 15)


@dataclass
class Timer:
    at: float  # simulated seconds after pickup
    fire: Callable[[], None]


@dataclass(frozen=True)
class _Fetch:
    url: str
    method: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Document:
    url: str | None  # None for TwiML given inline
    verbs: list[Say | Pause | Play | Gather | Redirect | Hangup | Unsupported]


_INTERRUPTED: Literal["interrupted"] = "interrupted"
_Step = _Fetch | Literal["interrupted"] | None


class VoiceSession:
    def __init__(
        self,
        sandbox: Sandbox,
        call: Call,
        callee: Callee,
        control: CallControl,
        *,
        start: float = 0.0,
        first_extra: dict[str, str] | None = None,
        timers: list[Timer] | None = None,
    ) -> None:
        self._sandbox = sandbox
        self._call = call
        self._callee = callee
        self._control = control
        self._first_extra = first_extra or {}
        self._timers = list(timers or [])
        self.seconds = start

    async def run(self) -> HangUp | None:
        """Play the call to its end; `seconds` is then how long it would have lasted. Returns
        the hang-up an update asked for, if one ended it."""
        call = self._call
        document: _Document | None = None
        if self._control.pending is not None:
            pass  # updated before it began: the update's TwiML runs instead
        elif call.url is not None:
            fetch = _Fetch(call.url, call.method, self._first_extra)
            document = await self._load(fetch, fallback=True)
        else:
            document = self._parse(None, call.twiml or "<Response/>")
        played = 0
        while True:
            instruction = self._control.take() if self._control.pending else None
            if isinstance(instruction, HangUp):
                return instruction
            if isinstance(instruction, NewTwiml):
                document = await self._replace(instruction)
                continue
            if document is None:
                return None
            if played == self._sandbox.config.max_twiml_documents:
                self._error(document.url, "loop", f"more than {played} TwiML documents: hung up")
                return None
            played += 1
            step = await self._play(document)
            if step == _INTERRUPTED:
                continue
            document = await self._load(step) if isinstance(step, _Fetch) else None

    async def _replace(self, instruction: NewTwiml) -> _Document | None:
        self._record("call.redirected", url=instruction.url)
        if instruction.url is not None:
            return await self._load(_Fetch(instruction.url, instruction.method), fallback=True)
        return self._parse(None, instruction.twiml or "<Response/>")

    def _record(self, kind: str, **data: EventValue) -> None:
        self._sandbox.store.record(kind, self._call.sid, **data)

    def _error(self, url: str | None, code: str | int, detail: str) -> None:
        self._record("twiml.error", url=url, code=code, error=detail)

    async def _elapse(self, seconds: float) -> bool:
        """Let `seconds` of the call pass; False if an update interrupted it."""
        scale = self._sandbox.config.timing.voice_time_scale
        target = self.seconds + seconds
        while True:
            due = [timer for timer in self._timers if timer.at <= target]
            step_to = max(self.seconds, min((timer.at for timer in due), default=target))
            waited = await self._control.sleep((step_to - self.seconds) * scale)
            if waited is not None:
                progressed = waited / scale if scale else 0.0
                self.seconds = min(step_to, self.seconds + progressed)
                return False
            self.seconds = step_to
            for timer in [t for t in due if t.at <= step_to]:
                self._timers.remove(timer)
                timer.fire()
            if step_to >= target:
                return True

    async def _load(self, step: _Fetch, *, fallback: bool = False) -> _Document | None:
        params = call_params(self._call, "in-progress") | step.extra
        result = await self._sandbox.webhooks.request(
            step.url, params, method=step.method, sid=self._call.sid
        )
        self._record(
            "twiml.fetched",
            url=step.url,
            method=step.method,
            http_status=result.status_code,
            error=result.error,
            twiml=result.text,
        )
        if not result.ok:
            self._error(step.url, 11200, result.error or f"HTTP {result.status_code}")
            if fallback and self._call.fallback_url:
                extra = {"ErrorCode": "11200", "ErrorUrl": step.url} | step.extra
                fallback_step = _Fetch(self._call.fallback_url, self._call.fallback_method, extra)
                return await self._load(fallback_step)
            return None
        return self._parse(step.url, result.text)

    def _parse(self, url: str | None, text: str) -> _Document | None:
        try:
            return _Document(url, parse_voice(text))
        except TwimlError as err:
            self._error(url, 12100, str(err))
            return None

    def _resolve(self, document: _Document, target: str | None, verb: str) -> str | None:
        """Relative URLs resolve against the document's own URL, as Twilio does."""
        url = urljoin(document.url, target or "") if document.url else (target or "")
        if not url.startswith(("http://", "https://")):
            self._error(document.url, 11100, f"<{verb}> has no absolute URL: {target!r}")
            return None
        return url

    async def _say(self, say: Say) -> bool:
        voice, language = say.voice or DEFAULT_VOICE, say.language or DEFAULT_LANGUAGE
        if not speaks(voice, language):
            code, message = INVALID_VOICE
            self._record("say.unsupported", text=say.text, voice=voice, language=language,
                         code=code, error=message)  # fmt: skip
            return True
        self._record("say", text=say.text, language=language, voice=voice, loop=say.loop)
        start = self.seconds
        finished = await self._elapse(_speech_seconds(say.text) * say.loop)
        callee = self._callee
        if callee.kind == "human":
            callee.hear()
        elif callee.kind == "machine":
            recorded = callee.records(start, self.seconds)
            self._call.voicemail.append((say.text, recorded))
            self._record("voicemail.heard", text=say.text, recorded=recorded,
                         start=round(start, 2), end=round(self.seconds, 2))  # fmt: skip
        return finished

    async def _prompt(self, verb: Say | Pause | Play) -> bool:
        if isinstance(verb, Say):
            return await self._say(verb)
        if isinstance(verb, Pause):
            self._record("pause", seconds=verb.length)
            return await self._elapse(verb.length)
        self._record("play", url=verb.url, loop=verb.loop)
        if self._callee.kind == "human":
            self._callee.hear()
        return await self._elapse(_PLAY_SECONDS * verb.loop)

    async def _gather(self, document: _Document, gather: Gather) -> _Step | Literal["next"]:
        for prompt in gather.prompts:
            if not await self._prompt(prompt):
                return _INTERRUPTED
        pressed = self._callee.press()
        digits, finished_on = gathered(gather, pressed if gather.wants_dtmf else "")
        self._record("gather", digits=digits or None, finished_on_key=finished_on or None)
        if not digits and not finished_on and not gather.action_on_empty_result:
            # Twilio waits, then goes on after <Gather>.
            return "next" if await self._elapse(gather.timeout) else _INTERRUPTED
        if not await self._elapse(max(1, len(pressed))):
            return _INTERRUPTED
        action = self._resolve(document, gather.action, "Gather")
        if action is None:
            return None
        extra = {"Digits": digits, "FinishedOnKey": finished_on, "msg": "Gather End"}
        return _Fetch(action, gather.method, extra)

    async def _play(self, document: _Document) -> _Step:
        """Run one document: the next one to fetch, an interruption, or None at the end."""
        for verb in document.verbs:
            if isinstance(verb, Say | Pause | Play):
                if not await self._prompt(verb):
                    return _INTERRUPTED
            elif isinstance(verb, Gather):
                outcome = await self._gather(document, verb)
                if outcome != "next":
                    return outcome
            elif isinstance(verb, Redirect):
                url = self._resolve(document, verb.url, "Redirect")
                return _Fetch(url, verb.method) if url is not None else None
            elif isinstance(verb, Hangup):
                self._record("hangup")
                return None
            elif isinstance(verb, Unsupported):
                self._record("twiml.unsupported", verb=verb.name)
        return None
