"""TwiML documents as data: voice verbs for the call interpreter, <Message> for SMS replies."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

__all__ = [
    "Gather",
    "Hangup",
    "Pause",
    "Play",
    "Redirect",
    "Say",
    "TwimlError",
    "Unsupported",
    "Verb",
    "gathered",
    "parse_messaging",
    "parse_voice",
]


class TwimlError(ValueError):
    """Twilio's 12100 "Document parse failure": the call ends."""


@dataclass(frozen=True)
class Say:
    text: str
    language: str | None = None
    voice: str | None = None
    loop: int = 1


@dataclass(frozen=True)
class Pause:
    length: float = 1.0


@dataclass(frozen=True)
class Play:
    url: str
    loop: int = 1


@dataclass(frozen=True)
class Redirect:
    url: str
    method: str = "POST"


@dataclass(frozen=True)
class Hangup:
    """<Hangup/>, and <Reject/> which on an outbound call also just ends it."""


@dataclass(frozen=True)
class Unsupported:
    name: str


@dataclass(frozen=True)
class Gather:
    action: str | None = None
    method: str = "POST"
    input: str = "dtmf"
    num_digits: int | None = None
    timeout: float = 5.0
    finish_on_key: str = "#"
    action_on_empty_result: bool = False
    prompts: tuple[Say | Pause | Play, ...] = ()

    @property
    def wants_dtmf(self) -> bool:
        return "dtmf" in self.input.split()


Verb = Say | Pause | Play | Gather | Redirect | Hangup | Unsupported


def _parse_root(text: str) -> ET.Element:
    try:
        # The TwiML comes from the application under test. Python's expat refuses entity
        # expansion bombs and ElementTree never loads external entities.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as err:
        raise TwimlError(f"document parse failure: {err}") from None
    if root.tag != "Response":
        raise TwimlError(f"the root element is <{root.tag}>, not <Response>")
    return root


def _number(element: ET.Element, name: str, default: float) -> float:
    raw = element.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise TwimlError(f"<{element.tag} {name}={raw!r}> is not a number") from None


def _loop(element: ET.Element) -> int:
    # loop="0" means "until the call ends"; a sandbox plays it a bounded number of times.
    loop = int(_number(element, "loop", 1))
    return 10 if loop <= 0 else loop


def _method(element: ET.Element) -> str:
    return "GET" if (element.get("method") or "POST").upper() == "GET" else "POST"


def _prompt(element: ET.Element) -> Say | Pause | Play | None:
    if element.tag == "Say":
        text = "".join(element.itertext()).strip()
        return Say(text, element.get("language"), element.get("voice"), _loop(element))
    if element.tag == "Pause":
        return Pause(_number(element, "length", 1))
    if element.tag == "Play":
        return Play((element.text or "").strip(), _loop(element))
    return None


def _gather(element: ET.Element) -> Gather:
    prompts = tuple(p for child in element if (p := _prompt(child)) is not None)
    return Gather(
        action=element.get("action") or None,
        method=_method(element),
        input=element.get("input") or "dtmf",
        num_digits=int(_number(element, "numDigits", 0)) or None,
        timeout=_number(element, "timeout", 5),
        finish_on_key=element.get("finishOnKey", "#"),
        action_on_empty_result=(element.get("actionOnEmptyResult") or "").lower() == "true",
        prompts=prompts,
    )


def _verb(element: ET.Element) -> Verb:
    if (prompt := _prompt(element)) is not None:
        return prompt
    if element.tag == "Gather":
        return _gather(element)
    if element.tag == "Redirect":
        url = (element.text or "").strip()
        if not url:
            raise TwimlError("<Redirect> needs a URL")
        return Redirect(url, _method(element))
    if element.tag in {"Hangup", "Reject"}:
        return Hangup()
    return Unsupported(element.tag)


def parse_voice(text: str) -> list[Verb]:
    return [_verb(element) for element in _parse_root(text)]


def parse_messaging(text: str) -> list[str]:
    """The bodies of the <Message> replies in a messaging response (empty if none)."""
    if not text.strip():
        return []
    replies = []
    for element in _parse_root(text):
        if element.tag == "Message":
            body = element.find("Body")
            replies.append("".join((body if body is not None else element).itertext()).strip())
    return replies


def gathered(gather: Gather, pressed: str) -> tuple[str, str]:
    """What Twilio posts as (Digits, FinishedOnKey) when the callee presses `pressed`."""
    digits = ""
    for key in pressed:
        if gather.finish_on_key and key == gather.finish_on_key:
            return digits, key
        digits += key
        if gather.num_digits is not None and len(digits) >= gather.num_digits:
            break
    return digits, ""
