"""One readable line per audit record, for the CLI table and the timeline page, in the reader's
language (the one catalogue, messages/i18n.py; English by default, as the CLI prints).

The audit ``detail`` never holds phone numbers or names (contact ids and indexes only), so these
lines are safe to show as they are. Values (stages, actions, channels, ids) stay as recorded.
"""

from __future__ import annotations

from typing import Any

from messages.i18n import N_, Gettext, gettext_for

__all__ = ["describe_audit"]

_CHANNEL = {"sms": N_("SMS"), "call": N_("Call"), "in_app": N_("In-app notice")}


def _step(_: Gettext, detail: dict[str, Any]) -> str:
    step = detail.get("step")
    attempt = detail.get("attempt")
    if step and attempt and attempt != 1:
        return " " + _("(step %(step)s, attempt %(attempt)s)") % {"step": step, "attempt": attempt}
    return " " + _("(step %(step)s)") % {"step": step} if step else ""


def _channel(_: Gettext, channel: str) -> str:
    return _(_CHANNEL[channel]) if channel in _CHANNEL else channel


def _provider_status(_: Gettext, kind: str, detail: dict[str, Any]) -> str:
    channel, _dot, status = kind.partition(".")
    text = f"{_channel(_, channel)} {status.replace('-', ' ')}"
    extras = [
        _("answered by %(who)s") % {"who": detail["answered_by"]}
        if detail.get("answered_by")
        else "",
        f"{detail['duration']} s" if detail.get("duration") not in (None, "", "0", 0) else "",
        _("error %(code)s") % {"code": detail["error_code"]} if detail.get("error_code") else "",
    ]
    extra = ", ".join(e for e in extras if e)
    return text + (f" ({extra})" if extra else "") + _step(_, detail)


def describe_audit(kind: str, actor: str, detail: dict[str, Any], language: str = "en") -> str:
    _ = gettext_for(language)
    d = detail
    g = d.get
    if actor == "twilio":
        return _provider_status(_, kind, d)
    if kind == "refund.received":
        return _("Refund received from the platform: %(amount)s (order %(order)s)") % {
            "amount": g("amount"),
            "order": g("order_id"),
        }
    if kind == "risk.assessed":
        reasons = "; ".join(str(r) for r in g("reasons", [])) or _("no reasons")
        tracked = _("watched") if g("tracked") else _("not watched")
        return _("Risk %(score)s (%(level)s), %(tracked)s: %(reasons)s") % {
            "score": g("score"),
            "level": g("level"),
            "tracked": tracked,
            "reasons": reasons,
        }
    if kind == "workflow.started":
        return _("Watch started (policy %(policy)s)") % {"policy": g("policy")}
    if kind in ("ladder.planned", "ladder.replanned"):
        steps = ", ".join(str(s.get("step")) for s in g("steps", [])) or _("no steps left")
        if kind == "ladder.planned":
            return _("Escalation planned: %(steps)s") % {"steps": steps}
        return _("Escalation re-planned: %(steps)s") % {"steps": steps}
    if kind == "step.skipped":
        return _("Step %(step)s skipped: %(reason)s") % {"step": g("step"), "reason": g("reason")}
    if kind == "step.moved_earlier":
        return _("Step %(step)s moved earlier: %(reason)s") % {
            "step": g("step"),
            "reason": g("reason"),
        }
    if kind == "step.failed":
        return _("Step %(step)s failed: %(error)s") % {"step": g("step"), "error": g("error")}
    if kind == "stage.changed":
        return _("Stage → %(stage)s") % {"stage": g("stage")}
    if kind == "notice.in_app":
        return _("In-app notice shown") + _step(_, d)
    if kind == "send.absent":
        return _("%(channel)s never reached the provider (not in its records)") % {
            "channel": _channel(_, str(g("channel")))
        } + _step(_, d)
    if kind.startswith("send."):
        channel = _channel(_, str(g("channel")))
        result = kind.removeprefix("send.")
        if result in ("sms", "call"):
            return _("%(channel)s handed to the provider") % {"channel": channel} + _step(_, d)
        code = ", " + _("error %(code)s") % {"code": d["error_code"]} if g("error_code") else ""
        return f"{channel} {result.replace('_', ' ')}{code}{_step(_, d)}"
    if kind == "call.no_result":
        return _("No call result after %(s)s s: moving on") % {"s": g("waited_s")}
    if kind == "merchant.answered":
        return _("Merchant answered %(action)s by %(channel)s (%(raw)s)") % {
            "action": g("action"),
            "channel": g("channel"),
            "raw": str(g("raw")),
        }
    if kind == "escalation.stopped":
        cancelled = ", ".join(g("cancelled_steps", [])) or _("none")
        return _("Escalation stopped after the answer; cancelled steps: %(steps)s") % {
            "steps": cancelled
        }
    if kind == "platform.resolution":
        return _("Platform resolution: %(resolution)s") % {"resolution": g("resolution")}
    if kind == "resolution.read_at_deadline":
        return _("Platform resolution read from our records at the deadline (event %(event)s)") % {
            "event": g("event_id")
        }
    if kind == "platform.deadline":
        return _("Platform moved the deadline to %(at)s") % {"at": g("deadline_at")}
    if kind == "refund.resolved":
        return _("Closed: resolved (%(resolution)s), %(amount)s saved") % {
            "resolution": g("resolution"),
            "amount": g("amount"),
        }
    if kind == "refund.timed_out":
        via = g("last_channel") or _("no channel")
        return _("Closed: timed out, %(amount)s lost (last reached by %(via)s)") % {
            "amount": g("amount"),
            "via": via,
        }
    if kind == "refund.evidence_missed":
        return _("Closed: evidence window missed, %(amount)s lost") % {"amount": g("amount")}
    if kind == "dispute.dispute":
        return _("Merchant disputed by %(channel)s: evidence due %(due)s") % {
            "channel": g("channel"),
            "due": g("evidence_due"),
        }
    if kind == "dispute.reject":
        return _("Merchant rejected as abnormal by %(channel)s (risk reasons as evidence)") % {
            "channel": g("channel")
        }
    if kind == "evidence.planned":
        steps = ", ".join(str(s.get("step")) for s in g("steps", [])) or _("none")
        return _("Evidence reminders planned before %(due)s: %(steps)s") % {
            "due": g("evidence_due"),
            "steps": steps,
        }
    if kind == "evidence.late":
        return _("Evidence %(id)s arrived after the evidence window") % {"id": g("evidence_id")}
    if kind == "platform.told":
        return _("Platform told: %(type)s (event %(event)s)") % {
            "type": g("type"),
            "event": g("event_id"),
        }
    if kind == "evidence.submitted":
        files = len(g("files", []))
        by = (
            _("risk gate reasons")
            if g("source") == "risk_gate"
            else _("%(n)s file(s)") % {"n": files}
        )
        return _("Evidence %(id)s submitted: %(category)s, %(by)s") % {
            "id": g("evidence_id"),
            "category": g("category"),
            "by": by,
        }
    if kind == "webhook.acknowledged":
        return _("Platform acknowledged webhook %(type)s (attempt %(n)s)") % {
            "type": g("type"),
            "n": g("attempts"),
        }
    if kind == "webhook.refused":
        return _("Platform refused webhook %(type)s with 410 Gone: not retried") % {
            "type": g("type")
        }
    if kind == "webhook.abandoned":
        return _("Webhook %(type)s abandoned after %(n)s attempts") % {
            "type": g("type"),
            "n": g("attempts"),
        }
    if kind == "support.viewed":
        return _("Record viewed by %(actor)s (%(view)s)") % {"actor": actor, "view": g("view")}
    if kind == "link.opened":
        return _("Merchant page opened from the SMS link (%(client)s)") % {
            "client": g("client") or _("unknown browser")
        }
    if kind == "link.used":
        return _("Merchant page: a button pressed or a photo sent")
    if kind == "link.revoked":
        return _("Merchant's action link switched off: %(reason)s") % {"reason": g("reason")}
    if kind == "link.refused":
        return _("Merchant page refused: %(reason)s") % {"reason": g("reason")}
    shown = ", ".join(f"{k}={v}" for k, v in d.items() if not isinstance(v, dict | list))
    return f"{kind} {shown}".strip()
