"""A call's conversation: fetch TwiML, play it, follow <Gather> actions and <Redirect>s.

The callee is scripted: at each <Gather> it presses the next entry of its `digits`. Speech,
pauses and unanswered gathers advance a simulated clock (the call's reported duration) and
wait a scaled-down real time.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urljoin

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
    Verb,
    gathered,
    parse_voice,
)

__all__ = ["VoiceSession", "call_params"]

_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_PLAY_SECONDS = 5.0  # the sandbox never downloads audio; assume a short clip


def call_params(call: Call, status: str) -> dict[str, str]:
    """The fields Twilio sends with every request about a call."""
    params = {
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
    if call.answered_by:
        params["AnsweredBy"] = call.answered_by
    return params


def _speech_seconds(text: str) -> float:
    # About 4 Chinese characters or 15 Latin letters a second.
    cjk = len(_CJK.findall(text))
    return max(1.0, cjk / 4 + (len(text) - cjk) / 15)


@dataclass(frozen=True)
class _Fetch:
    url: str
    method: str
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Document:
    url: str | None  # None for TwiML given inline with the create request
    verbs: list[Verb]


class VoiceSession:
    def __init__(self, sandbox: Sandbox, call: Call, pressed: list[str]) -> None:
        self._sandbox = sandbox
        self._call = call
        self._pressed = list(pressed)
        self.seconds = 0.0

    async def run(self) -> None:
        """Play the call to its end; `seconds` is then how long it would have lasted."""
        call = self._call
        if call.url is not None:
            document = await self._load(_Fetch(call.url, call.method), fallback=True)
        else:
            document = self._parse(None, call.twiml or "<Response/>")
        played = 0
        while document is not None:
            if played == self._sandbox.config.max_twiml_documents:
                self._error(document.url, "loop", f"more than {played} TwiML documents: hung up")
                return
            played += 1
            step = await self._play(document)
            document = await self._load(step) if step is not None else None

    def _record(self, kind: str, **data: EventValue) -> None:
        self._sandbox.store.record(kind, self._call.sid, **data)

    def _error(self, url: str | None, code: str | int, detail: str) -> None:
        self._record("twiml.error", url=url, code=code, error=detail)

    async def _elapse(self, seconds: float) -> None:
        self.seconds += seconds
        await asyncio.sleep(seconds * self._sandbox.config.timing.voice_time_scale)

    async def _load(self, step: _Fetch, *, fallback: bool = False) -> _Document | None:
        params = call_params(self._call, "in-progress") | step.extra
        result = await self._sandbox.webhooks.request(step.url, params, method=step.method)
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
                extra = {"ErrorCode": "11200", "ErrorUrl": step.url}
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

    async def _prompt(self, verb: Say | Pause | Play) -> None:
        if isinstance(verb, Say):
            self._record("say", text=verb.text, language=verb.language, loop=verb.loop)
            await self._elapse(_speech_seconds(verb.text) * verb.loop)
        elif isinstance(verb, Pause):
            self._record("pause", seconds=verb.length)
            await self._elapse(verb.length)
        else:
            self._record("play", url=verb.url, loop=verb.loop)
            await self._elapse(_PLAY_SECONDS * verb.loop)

    async def _gather(self, document: _Document, gather: Gather) -> _Fetch | Literal["next", "end"]:
        for prompt in gather.prompts:
            await self._prompt(prompt)
        pressed = self._pressed.pop(0) if self._pressed else ""
        digits, finished_on = gathered(gather, pressed if gather.wants_dtmf else "")
        self._record("gather", digits=digits or None, finished_on_key=finished_on or None)
        if not digits and not finished_on and not gather.action_on_empty_result:
            await self._elapse(gather.timeout)  # Twilio waits, then goes on after <Gather>
            return "next"
        await self._elapse(max(1, len(pressed)))
        action = self._resolve(document, gather.action, "Gather")
        if action is None:
            return "end"
        extra = {"Digits": digits, "FinishedOnKey": finished_on, "msg": "Gather End"}
        return _Fetch(action, gather.method, extra)

    async def _play(self, document: _Document) -> _Fetch | None:
        """Run one document; the next one to fetch, or None when the call ends."""
        for verb in document.verbs:
            if isinstance(verb, Say | Pause | Play):
                await self._prompt(verb)
            elif isinstance(verb, Gather):
                outcome = await self._gather(document, verb)
                if outcome == "end":
                    return None
                if isinstance(outcome, _Fetch):
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
