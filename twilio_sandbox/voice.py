"""Following a call's TwiML: Say, Pause, Gather (scripted keys), Redirect, Hangup."""

from __future__ import annotations

import asyncio

# Parses the TwiML of our own API inside a local test double, never untrusted input.
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from urllib.parse import urljoin

from twilio_sandbox.callbacks import Deliverer
from twilio_sandbox.scenario import CallBehaviour
from twilio_sandbox.store import Store

__all__ = ["follow_call"]


def _verbs(root: ET.Element) -> Iterator[ET.Element]:
    yield from list(root)


async def follow_call(
    *,
    sid: str,
    url: str,
    base_params: dict[str, str],
    behaviour: CallBehaviour,
    deliverer: Deliverer,
    store: Store,
    max_documents: int,
    pause_cap: float,
) -> None:
    """Fetch the voice URL, speak, press the scripted keys, follow redirects, until hang-up."""
    digits = list(behaviour.digits)
    params = dict(base_params)
    next_url: str | None = url
    documents = 0
    while next_url is not None and documents < max_documents:
        documents += 1
        current = next_url
        next_url = None
        response = await deliverer.post(current, params, kind="voice")
        if response is None or response.status_code >= 400:
            store.record("twiml_error", sid=sid, url=current,
                         http_status=response.status_code if response else None)  # fmt: skip
            return
        try:
            root = ET.fromstring(response.text)  # noqa: S314
        except ET.ParseError:
            store.record("twiml_invalid", sid=sid, url=current)
            return
        store.record("twiml_fetched", sid=sid, url=current)
        params = dict(base_params)
        for verb in _verbs(root):
            if verb.tag == "Say":
                store.record("say", sid=sid, text=(verb.text or "").strip(),
                             language=verb.get("language"))  # fmt: skip
            elif verb.tag == "Pause":
                await asyncio.sleep(min(float(verb.get("length", "1")), pause_cap))
            elif verb.tag == "Gather":
                for child in verb:
                    if child.tag == "Say":
                        store.record("say", sid=sid, text=(child.text or "").strip(),
                                     language=child.get("language"))  # fmt: skip
                pressed = digits.pop(0) if digits else ""
                if pressed:
                    store.record("digits", sid=sid, digits=pressed)
                    next_url = urljoin(current, verb.get("action") or current)
                    params = {**base_params, "Digits": pressed, "FinishedOnKey": ""}
                    break
                store.record("gather_timeout", sid=sid)
            elif verb.tag == "Redirect":
                next_url = urljoin(current, (verb.text or current).strip())
                break
            elif verb.tag in ("Hangup", "Reject"):
                store.record("hangup", sid=sid)
                return
    if documents >= max_documents:
        store.record("call_loop_cut", sid=sid, documents=documents)
