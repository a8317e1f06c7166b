"""One readable line per audit record, for the CLI table and the timeline page.

The audit ``detail`` never holds phone numbers or names (contact ids and indexes only), so these
lines are safe to show as they are.
"""

from __future__ import annotations

from typing import Any

__all__ = ["describe_audit"]

_CHANNEL = {"sms": "SMS", "call": "Call", "in_app": "In-app notice"}


def _step(detail: dict[str, Any]) -> str:
    step = detail.get("step")
    attempt = detail.get("attempt")
    if step and attempt and attempt != 1:
        return f" (step {step}, attempt {attempt})"
    return f" (step {step})" if step else ""


def _provider_status(kind: str, detail: dict[str, Any]) -> str:
    channel, _, status = kind.partition(".")
    text = f"{_CHANNEL.get(channel, channel)} {status.replace('-', ' ')}"
    extras = [
        f"answered by {detail['answered_by']}" if detail.get("answered_by") else "",
        f"{detail['duration']} s" if detail.get("duration") not in (None, "", "0", 0) else "",
        f"error {detail['error_code']}" if detail.get("error_code") else "",
    ]
    extra = ", ".join(e for e in extras if e)
    return text + (f" ({extra})" if extra else "") + _step(detail)


def describe_audit(kind: str, actor: str, detail: dict[str, Any]) -> str:
    d = detail
    if actor == "twilio":
        return _provider_status(kind, d)
    if kind == "refund.received":
        return f"Refund received from the platform: {d.get('amount')} (order {d.get('order_id')})"
    if kind == "risk.assessed":
        reasons = "; ".join(str(r) for r in d.get("reasons", [])) or "no reasons"
        tracked = "watched" if d.get("tracked") else "not watched"
        return f"Risk {d.get('score')} ({d.get('level')}), {tracked}: {reasons}"
    if kind == "workflow.started":
        return f"Watch started (policy {d.get('policy')})"
    if kind in ("ladder.planned", "ladder.replanned"):
        steps = ", ".join(str(s.get("step")) for s in d.get("steps", []))
        verb = "planned" if kind == "ladder.planned" else "re-planned"
        return f"Escalation {verb}: {steps or 'no steps left'}"
    if kind == "step.skipped":
        return f"Step {d.get('step')} skipped: {d.get('reason')}"
    if kind == "step.moved_earlier":
        return f"Step {d.get('step')} moved earlier: {d.get('reason')}"
    if kind == "step.failed":
        return f"Step {d.get('step')} failed: {d.get('error')}"
    if kind == "stage.changed":
        return f"Stage → {d.get('stage')}"
    if kind == "notice.in_app":
        return f"In-app notice shown{_step(d)}"
    if kind.startswith("send."):
        channel = _CHANNEL.get(str(d.get("channel")), str(d.get("channel")))
        result = kind.removeprefix("send.")
        if result in ("sms", "call"):
            return f"{channel} handed to the provider{_step(d)}"
        code = f", error {d['error_code']}" if d.get("error_code") else ""
        return f"{channel} {result.replace('_', ' ')}{code}{_step(d)}"
    if kind == "call.no_result":
        return f"No call result after {d.get('waited_s')} s: moving on"
    if kind == "merchant.answered":
        return f"Merchant answered {d.get('action')} by {d.get('channel')} ({d.get('raw')!s})"
    if kind == "escalation.stopped":
        cancelled = ", ".join(d.get("cancelled_steps", [])) or "none"
        return f"Escalation stopped after the answer; cancelled steps: {cancelled}"
    if kind == "platform.resolution":
        return f"Platform resolution: {d.get('resolution')}"
    if kind == "platform.deadline":
        return f"Platform moved the deadline to {d.get('deadline_at')}"
    if kind == "refund.resolved":
        return f"Closed: resolved ({d.get('resolution')}), {d.get('amount')} saved"
    if kind == "refund.timed_out":
        via = d.get("last_channel") or "no channel"
        return f"Closed: timed out, {d.get('amount')} lost (last reached by {via})"
    if kind == "refund.evidence_missed":
        return f"Closed: evidence window missed, {d.get('amount')} lost"
    if kind == "dispute.dispute":
        return f"Merchant disputed by {d.get('channel')}: evidence due {d.get('evidence_due')}"
    if kind == "dispute.reject":
        return f"Merchant rejected as abnormal by {d.get('channel')} (risk reasons as evidence)"
    if kind == "evidence.planned":
        steps = ", ".join(str(s.get("step")) for s in d.get("steps", []))
        return f"Evidence reminders planned before {d.get('evidence_due')}: {steps or 'none'}"
    if kind == "evidence.late":
        return f"Evidence {d.get('evidence_id')} arrived after the evidence window"
    if kind == "platform.told":
        return f"Platform told: {d.get('type')} (event {d.get('event_id')})"
    if kind == "evidence.submitted":
        files = len(d.get("files", []))
        by = "risk gate reasons" if d.get("source") == "risk_gate" else f"{files} file(s)"
        return f"Evidence {d.get('evidence_id')} submitted: {d.get('category')}, {by}"
    if kind == "webhook.acknowledged":
        return f"Platform acknowledged webhook {d.get('type')} (attempt {d.get('attempts')})"
    if kind == "webhook.refused":
        return f"Platform refused webhook {d.get('type')} with 410 Gone: not retried"
    if kind == "webhook.abandoned":
        return f"Webhook {d.get('type')} abandoned after {d.get('attempts')} attempts"
    if kind == "support.viewed":
        return f"Record viewed by {actor} ({d.get('view')})"
    if kind == "link.opened":
        return f"Merchant page opened from the SMS link ({d.get('client') or 'unknown browser'})"
    if kind == "link.used":
        return "Merchant page: a button pressed or a photo sent"
    if kind == "link.revoked":
        return f"Merchant's action link switched off: {d.get('reason')}"
    if kind == "link.refused":
        return f"Merchant page refused: {d.get('reason')}"
    shown = ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, dict | list))
    return f"{kind} {shown}".strip()
