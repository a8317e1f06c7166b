"""Answering machine detection (AMD) as Twilio documents it, on a simulated clock.

Create parameters and defaults (twilio-oai spec/json/twilio_api_v2010.json @ d50069b,
CreateCall; https://www.twilio.com/docs/voice/answering-machine-detection):
`MachineDetection` Enable | DetectMessageEnd (none by default), `AsyncAmd` (false),
`AsyncAmdStatusCallback`, `AsyncAmdStatusCallbackMethod` (POST), `MachineDetectionTimeout`
(30 s), `MachineDetectionSpeechThreshold` (2400 ms, 1000-6000), `…SpeechEndThreshold`
(1200 ms, 500-5000), `…SilenceTimeout` (5000 ms, 2000-10000). A bad value is 21234 "Invalid
Machine Detection configuration value".

Results: Enable returns "as soon as the called party is identified": `human`, `machine_start`,
`fax` or `unknown`; DetectMessageEnd returns `human`/`fax` at once and a machine only when its
greeting ends: `machine_end_beep`, or `machine_end_silence` when no beep came. `unknown` when
detection would take longer than MachineDetectionTimeout, or the line stays silent for the
silence timeout.

The sandbox's model of the callee (Twilio documents no timings): the callee speaks for its
greeting (a human's "hello?" 1 s, a voicemail greeting 12 s by default); speech shorter than
the speech threshold followed by the end threshold of silence is a human; longer speech is a
machine (machine_start at the threshold); a greeting ends at `greeting_seconds`, with its beep,
or is recognised as ended after the end threshold of silence; a fax tone is recognised after
2 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from twilio_sandbox.errors import TwilioApiError
from twilio_sandbox.form import Form
from twilio_sandbox.scenario import CallBehaviour

__all__ = ["AmdRequest", "Detection", "detect", "parse_amd"]

Mode = Literal["Enable", "DetectMessageEnd"]
_FAX_SECONDS = 2.0


@dataclass(frozen=True)
class AmdRequest:
    mode: Mode
    asynchronous: bool = False
    callback: str | None = None
    callback_method: str = "POST"
    timeout_seconds: float = 30.0
    speech_threshold: float = 2.4
    speech_end_threshold: float = 1.2
    silence_timeout: float = 5.0


@dataclass(frozen=True)
class Detection:
    answered_by: str
    seconds: float  # simulated seconds after pickup when the result is known

    @property
    def duration_ms(self) -> str:
        return str(round(self.seconds * 1000))


def _invalid(name: str, raw: str) -> TwilioApiError:
    return TwilioApiError(
        400, 21234, f"Invalid Machine Detection configuration value: {name}={raw!r}"
    )


def _millis(form: Form, name: str, low: int, high: int, default: float) -> float:
    raw = form.first(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise _invalid(name, raw)
    return int(raw) / 1000


def parse_amd(form: Form) -> AmdRequest | None:
    """The call's AMD settings from its create request; None without MachineDetection."""
    mode = form.first("MachineDetection")
    if mode is None:
        return None
    if mode not in {"Enable", "DetectMessageEnd"}:
        raise _invalid("MachineDetection", mode)
    raw_async = (form.first("AsyncAmd") or "false").lower()
    if raw_async not in {"true", "false"}:
        raise _invalid("AsyncAmd", raw_async)
    timeout = form.first("MachineDetectionTimeout") or "30"
    if not timeout.isdigit() or int(timeout) < 1:
        raise _invalid("MachineDetectionTimeout", timeout)
    method = (form.first("AsyncAmdStatusCallbackMethod") or "POST").upper()
    if method not in {"GET", "POST"}:
        raise TwilioApiError(400, 21209, f"Invalid AsyncAmdStatusCallbackMethod: {method!r}")
    return AmdRequest(
        mode="Enable" if mode == "Enable" else "DetectMessageEnd",
        asynchronous=raw_async == "true",
        callback=form.first("AsyncAmdStatusCallback"),
        callback_method=method,
        timeout_seconds=float(timeout),
        speech_threshold=_millis(form, "MachineDetectionSpeechThreshold", 1000, 6000, 2.4),
        speech_end_threshold=_millis(form, "MachineDetectionSpeechEndThreshold", 500, 5000, 1.2),
        silence_timeout=_millis(form, "MachineDetectionSilenceTimeout", 2000, 10000, 5.0),
    )


def _found(amd: AmdRequest, behaviour: CallBehaviour) -> Detection:
    if behaviour.answer == "fax":
        return Detection("fax", _FAX_SECONDS)
    greeting = behaviour.greeting
    if greeting <= 0:
        return Detection("unknown", amd.silence_timeout)
    if greeting < amd.speech_threshold:
        return Detection("human", greeting + amd.speech_end_threshold)
    if amd.mode == "Enable":
        return Detection("machine_start", amd.speech_threshold)
    if behaviour.beep:
        return Detection("machine_end_beep", greeting)
    return Detection("machine_end_silence", greeting + amd.speech_end_threshold)


def detect(amd: AmdRequest, behaviour: CallBehaviour) -> Detection:
    """What AMD reports for this callee, and when."""
    found = _found(amd, behaviour)
    if found.seconds > amd.timeout_seconds:
        return Detection("unknown", amd.timeout_seconds)
    return found
