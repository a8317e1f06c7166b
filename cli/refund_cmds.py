"""Support commands on one refund: `refund show`, `refund evidence`, `refund webhooks`.

Read-only, against DATABASE_URL (and TEMPORAL_ADDRESS for workflow histories). Tables with rich,
JSON with ``--json``. Every full-record read (a refund's history, its evidence) is audited as
``support.viewed`` by actor ``cli``. Personal data arrives here already masked by ``support/``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli import common
from cli.common import JsonFlag
from config.settings import Settings
from support.formatting import thousands, utc_text

if TYPE_CHECKING:  # the heavy imports wait until a command runs: `refundwatch --help` stays fast
    from evidence.views import EvidenceView
    from support.platform_webhooks import OutboundEventView
    from support.refund_history import RefundHistory

__all__ = ["register"]

refund_app = typer.Typer(help="One refund: its whole history.", no_args_is_help=True)
_SOURCE_STYLE = {"audit": "cyan", "temporal": "magenta"}


def register(app: typer.Typer) -> None:
    """Add `refund show`, `refund evidence` and `refund webhooks` to the `refundwatch` app."""
    app.add_typer(refund_app, name="refund")


# ---------------------------------------------------------------------------- refund show
async def _load_history(settings: Settings, refund_id: str) -> RefundHistory | None:
    from temporalio.client import Client

    from db.audit import record_support_view
    from support.refund_history import load_history

    client: Client | None = None
    note: str | None = None
    try:
        client = await asyncio.wait_for(
            Client.connect(settings.temporal_address, namespace=settings.temporal_namespace), 10
        )
    except Exception as err:  # still show our own records
        note = (
            f"Temporal at {settings.temporal_address} unreachable ({type(err).__name__}): "
            "showing our records only; check TEMPORAL_ADDRESS"
        )
    async with common.sessions(settings) as factory, factory() as session:
        history = await load_history(session, client, refund_id)
        if history is None:
            return None
        await record_support_view(
            session,
            collapse=False,  # each CLI run is a person opening the record
            actor="cli",
            view="refund.history",
            refund_id=refund_id,
            merchant_id=history.refund.merchant_id,
        )
    if note is not None and history.refund.workflow_id is not None:
        history.temporal_note = note
    return history


@refund_app.command("show")
def refund_show(
    refund_id: Annotated[str, typer.Argument(help="The platform's refund id, e.g. R-1001")],
    only: Annotated[
        str | None, typer.Option(help="Show only one source: 'audit' or 'temporal'")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also show Temporal's side of each audit write")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """What happened with refund ID: our records and its Temporal history, in time order."""
    if only not in (None, "audit", "temporal"):
        raise typer.BadParameter("use 'audit' or 'temporal'", param_hint="--only")
    settings = common.settings()
    history = common.run(settings, lambda s: _load_history(s, refund_id))
    if history is None:
        raise common.unknown_refund(refund_id)
    if only is not None:
        history.entries = [e for e in history.entries if e.source == only]
    if as_json:
        typer.echo(history.model_dump_json(indent=2))
        return
    _print_history(history, show_all=show_all)


def _print_history(history: RefundHistory, *, show_all: bool) -> None:
    console = common.console()
    r = history.refund
    state = r.state + (f" ({r.resolution})" if r.resolution else "")
    console.print(f"[bold]Refund {r.refund_id}[/]  merchant {r.merchant_id}  order {r.order_id}")
    console.print(
        f"{r.currency} {thousands(r.amount)}  state [bold]{state}[/]  stage {r.stage}  "
        f"deadline {utc_text(r.deadline_at)} UTC  answer {r.merchant_answer or '—'}  "
        f"loss {f'{r.currency} {thousands(r.loss)}' if r.loss else '—'}"
    )
    reasons = "; ".join(str(reason.get("text", reason)) for reason in r.risk.get("reasons", []))
    console.print(
        f"risk {common.risk_text(r.risk.get('score'), r.risk.get('level'))}: {reasons or '—'}"
    )
    if r.attempts:
        attempts = Table(title="Notices, SMS and calls", title_justify="left")
        for column in ("channel", "step", "try", "to", "status", "sid", "error"):
            attempts.add_column(column)
        for a in r.attempts:
            attempts.add_row(
                a.channel,
                a.step,
                str(a.attempt),
                a.to or "—",
                a.status,
                a.provider_sid or "—",
                str(a.error_code or "—"),
            )
        console.print(attempts)
    table = Table(title="Timeline (UTC)", title_justify="left")
    table.add_column("time", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("what")
    for entry in history.entries:
        if entry.bookkeeping and not show_all:
            continue
        table.add_row(
            entry.at.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3],
            Text(entry.source, style=_SOURCE_STYLE[entry.source]),
            entry.actor,
            entry.summary,
        )
    console.print(table)
    folded = "" if show_all else f" ({history.count_bookkeeping()} audit writes folded: --all)"
    console.print(
        f"{history.count('audit')} audit records, {history.count('temporal')} Temporal events"
        + folded
    )
    if history.temporal_note:
        console.print(f"[yellow]Temporal: {history.temporal_note}[/]")


# ---------------------------------------------------------------------------- refund evidence
async def _load_evidence(settings: Settings, refund_id: str) -> list[EvidenceView] | None:
    from db.audit import record_support_view
    from db.models import Refund
    from evidence.views import load_evidence

    async with common.sessions(settings) as factory, factory() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            return None
        evidence = await load_evidence(session, refund_id, with_downloads=True)
        await record_support_view(
            session,
            collapse=False,  # each CLI run is a person opening the record
            actor="cli",
            view="evidence",
            refund_id=refund_id,
            merchant_id=refund.merchant_id,
        )
        return evidence


@refund_app.command("evidence")
def refund_evidence(
    refund_id: Annotated[str, typer.Argument(help="The platform's refund id, e.g. R-1001")],
    as_json: JsonFlag = False,
) -> None:
    """The evidence on refund ID: each submission, its note and its files (with sha256)."""
    settings = common.settings()
    evidence = common.run(settings, lambda s: _load_evidence(s, refund_id))
    if evidence is None:
        raise common.unknown_refund(refund_id)
    if as_json:
        common.echo_json_list(evidence)
        return
    console = common.console()
    if not evidence:
        console.print(f"No evidence on refund {refund_id}.")
        return
    table = Table(title=f"Evidence on refund {refund_id}", title_justify="left")
    for column in ("id", "submitted UTC", "by", "category"):
        table.add_column(column, no_wrap=True)
    table.add_column("note")
    table.add_column("files (id name type size sha256)")
    for item in evidence:
        files = "\n".join(
            f"{f.id} {f.filename} {f.content_type} {thousands(str(f.size_bytes))} B "
            f"{f.sha256[:16]}…"
            for f in item.files
        )
        table.add_row(
            str(item.id),
            utc_text(item.submitted_at),
            item.source,
            item.category,
            Text(item.note or "—"),  # Text: no rich markup from what merchants typed
            Text(files or "—"),
        )
    console.print(table)
    console.print("Download a file: GET /v1/support/evidence/files/<id> (support token).")


# ---------------------------------------------------------------------------- refund webhooks
async def _load_webhooks(settings: Settings, refund_id: str) -> list[OutboundEventView] | None:
    from support.platform_webhooks import load_outbound_events

    async with common.sessions(settings) as factory, factory() as session:
        return await load_outbound_events(session, refund_id)


@refund_app.command("webhooks")
def refund_webhooks(
    refund_id: Annotated[str, typer.Argument(help="The platform's refund id, e.g. R-1001")],
    as_json: JsonFlag = False,
) -> None:
    """What refund ID told the platform: each signed webhook and every delivery attempt."""
    settings = common.settings()
    events = common.run(settings, lambda s: _load_webhooks(s, refund_id))
    if events is None:
        raise common.unknown_refund(refund_id)
    if as_json:
        common.echo_json_list(events)
        return
    console = common.console()
    if not events:
        console.print(f"Refund {refund_id} has told the platform nothing yet.")
        return
    table = Table(title=f"Webhooks of refund {refund_id} (UTC)", title_justify="left")
    for column in ("created", "type", "event id", "delivery", "attempts"):
        table.add_column(column, no_wrap=True)
    table.add_column("last error", min_width=20)
    for event in events:
        tries = "\n".join(
            f"#{d.attempt} {d.at.astimezone(UTC):%H:%M:%S} {d.status_code or 'no answer'} "
            f"{d.duration_ms} ms"
            for d in event.deliveries
        )
        delivered = f"\n{utc_text(event.delivered_at)}" if event.delivered_at else ""
        table.add_row(
            utc_text(event.created_at),
            event.type,
            event.event_id,
            event.state.replace("_", " ") + delivered,
            tries or "—",
            event.last_error or "—",
        )
    console.print(table)
