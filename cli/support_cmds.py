"""Support commands: `refund show`, `refund evidence`, `refund webhooks`, `refunds at-risk`,
`losses`, `merchant show`.

Read-only, against DATABASE_URL (and TEMPORAL_ADDRESS for workflow histories). Tables with rich,
JSON with ``--json``. Every full-record read (a refund's history, a merchant) is audited as
``support.viewed`` by actor ``cli``. Personal data arrives here already masked by ``support/``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from config.settings import Settings, SettingsError, load_settings
from support.formatting import money_text, thousands, time_left_text, utc_text
from support.periods import PeriodError, parse_moment

if TYPE_CHECKING:  # the heavy imports wait until a command runs: `refundwatch --help` stays fast
    from pydantic import BaseModel

    from db.engine import SessionFactory
    from evidence.views import EvidenceView
    from support.at_risk import AtRiskRefund
    from support.losses import Figures, LossesSummary
    from support.merchants import MerchantView
    from support.platform_webhooks import OutboundEventView
    from support.refund_history import RefundHistory

__all__ = ["register"]

refund_app = typer.Typer(help="One refund: its whole history.", no_args_is_help=True)
refunds_app = typer.Typer(help="Lists of refunds.", no_args_is_help=True)
merchant_app = typer.Typer(
    help="One merchant: contacts, opt-outs, open refunds.", no_args_is_help=True
)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables")]
T = TypeVar("T")
_SOURCE_STYLE = {"audit": "cyan", "temporal": "magenta"}


def register(app: typer.Typer) -> None:
    """Add the support commands to the `refundwatch` app."""
    app.add_typer(refund_app, name="refund")
    app.add_typer(refunds_app, name="refunds")
    app.add_typer(merchant_app, name="merchant")
    app.command("losses")(losses)


# ---------------------------------------------------------------------------- plumbing
def _fail(message: str, hint: str, code: int = 1) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    typer.echo(hint, err=True)
    return typer.Exit(code)


def _unknown_refund(refund_id: str) -> typer.Exit:
    return _fail(
        f"refund {refund_id} not found",
        "Check the id (the platform's refund_id, e.g. R-1001); "
        "`refundwatch refunds at-risk` lists the open ones.",
    )


def _echo_json_list(items: Sequence[BaseModel]) -> None:
    typer.echo("[" + ",".join(item.model_dump_json() for item in items) + "]")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        raise _fail(str(err), "Set the variables above (see README, Configuration).", 2) from None


def _run(settings: Settings, job: Callable[[Settings], Coroutine[Any, Any, T]]) -> T:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import DBAPIError, OperationalError

    try:
        return asyncio.run(job(settings))
    except (OSError, OperationalError, DBAPIError) as err:
        where = make_url(settings.database_url).render_as_string(hide_password=True)
        raise _fail(
            f"cannot read the database at {where}: {type(err).__name__}",
            "Check DATABASE_URL and that the database is running and migrated "
            "(`refundwatch db upgrade`).",
            2,
        ) from None


@asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[SessionFactory]:
    from db.engine import make_engine, make_session_factory

    engine = make_engine(settings.database_url, pool_size=2)
    try:
        yield make_session_factory(engine)
    finally:
        await engine.dispose()


def _when(text: str, option: str) -> datetime:
    try:
        return parse_moment(text)
    except PeriodError as err:
        raise typer.BadParameter(str(err), param_hint=option) from None


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _time_left(seconds: int) -> Text:
    if seconds < 600:
        style = "bold red"
    elif seconds < 3600:
        style = "yellow"
    else:
        style = ""
    return Text(time_left_text(seconds), style=style)


def _risk(score: int | None, level: str | None) -> str:
    return f"{score} {level}" if score is not None else "—"


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
    async with _sessions(settings) as factory, factory() as session:
        history = await load_history(session, client, refund_id)
        if history is None:
            return None
        await record_support_view(
            session,
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
    settings = _settings()
    history = _run(settings, lambda s: _load_history(s, refund_id))
    if history is None:
        raise _unknown_refund(refund_id)
    if only is not None:
        history.entries = [e for e in history.entries if e.source == only]
    if as_json:
        typer.echo(history.model_dump_json(indent=2))
        return
    _print_history(history, show_all=show_all)


def _print_history(history: RefundHistory, *, show_all: bool) -> None:
    console = _console()
    r = history.refund
    state = r.state + (f" ({r.resolution})" if r.resolution else "")
    console.print(f"[bold]Refund {r.refund_id}[/]  merchant {r.merchant_id}  order {r.order_id}")
    console.print(
        f"{r.currency} {thousands(r.amount)}  state [bold]{state}[/]  stage {r.stage}  "
        f"deadline {utc_text(r.deadline_at)} UTC  answer {r.merchant_answer or '—'}  "
        f"loss {f'{r.currency} {thousands(r.loss)}' if r.loss else '—'}"
    )
    reasons = "; ".join(str(reason.get("text", reason)) for reason in r.risk.get("reasons", []))
    console.print(f"risk {_risk(r.risk.get('score'), r.risk.get('level'))}: {reasons or '—'}")
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

    async with _sessions(settings) as factory, factory() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            return None
        evidence = await load_evidence(session, refund_id, with_downloads=True)
        await record_support_view(
            session,
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
    settings = _settings()
    evidence = _run(settings, lambda s: _load_evidence(s, refund_id))
    if evidence is None:
        raise _unknown_refund(refund_id)
    if as_json:
        _echo_json_list(evidence)
        return
    console = _console()
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

    async with _sessions(settings) as factory, factory() as session:
        return await load_outbound_events(session, refund_id)


@refund_app.command("webhooks")
def refund_webhooks(
    refund_id: Annotated[str, typer.Argument(help="The platform's refund id, e.g. R-1001")],
    as_json: JsonFlag = False,
) -> None:
    """What refund ID told the platform: each signed webhook and every delivery attempt."""
    settings = _settings()
    events = _run(settings, lambda s: _load_webhooks(s, refund_id))
    if events is None:
        raise _unknown_refund(refund_id)
    if as_json:
        _echo_json_list(events)
        return
    console = _console()
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


# ---------------------------------------------------------------------------- at-risk
async def _load_at_risk(
    settings: Settings, merchant_id: str | None, limit: int
) -> list[AtRiskRefund]:
    from support.at_risk import load_at_risk

    async with _sessions(settings) as factory, factory() as session:
        return await load_at_risk(session, merchant_id=merchant_id, limit=limit)


def _at_risk_table(rows: list[AtRiskRefund], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("time left", "deadline UTC", "refund", "merchant", "amount", "risk", "stage"):
        table.add_column(column, no_wrap=True)
    table.add_column("last attempt")
    table.add_column("contact", no_wrap=True)
    table.add_column("answer", no_wrap=True)
    for row in rows:
        last = row.last_attempt
        table.add_row(
            _time_left(row.seconds_left),
            utc_text(row.deadline_at),
            row.refund_id,
            row.merchant_id,
            f"{row.currency} {thousands(row.amount)}",
            _risk(row.risk_score, row.risk_level),
            row.stage,
            f"{last.channel} {last.status} {utc_text(last.at)}" if last else "—",
            row.contact or "—",
            row.merchant_answer or "—",
        )
    return table


@refunds_app.command("at-risk")
def refunds_at_risk(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant's refunds")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many rows")] = 100,
    as_json: JsonFlag = False,
) -> None:
    """Open watched refunds: the nearest deadline first, then the largest amount."""
    settings = _settings()
    rows = _run(settings, lambda s: _load_at_risk(s, merchant, limit))
    if as_json:
        _echo_json_list(rows)
        return
    console = _console()
    if not rows:
        console.print("No open watched refunds: nothing is about to time out.")
        return
    console.print(_at_risk_table(rows, f"{len(rows)} open watched refunds"))


# ---------------------------------------------------------------------------- losses
async def _load_losses(settings: Settings, since: datetime, until: datetime) -> LossesSummary:
    from support.losses import losses_summary

    async with _sessions(settings) as factory, factory() as session:
        return await losses_summary(session, since=since, until=until)


def _figures_row(name: str, figures: Figures) -> list[str]:
    return [
        name,
        money_text(figures.saved),
        str(figures.saved_count),
        money_text(figures.lost),
        str(figures.lost_count),
        money_text(figures.open),
        str(figures.open_count),
    ]


def _figures_table(title: str, first: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(first, no_wrap=True)
    for column in ("saved", "#", "lost", "#", "open now", "#"):
        table.add_column(column, justify="right", no_wrap=True)
    return table


def losses(
    since: Annotated[
        str, typer.Option(help="Start: a date (2026-11-01), an ISO time, or an age (7d, 12h)")
    ] = "7d",
    until: Annotated[str, typer.Option(help="End (exclusive), same formats; default now")] = "now",
    top: Annotated[int, typer.Option(min=1, help="Merchants to list")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Money saved / lost in a window and open now, per channel and per merchant."""
    start, end = _when(since, "--since"), _when(until, "--until")
    if start >= end:
        raise typer.BadParameter("must be before --until", param_hint="--since")
    settings = _settings()
    summary = _run(settings, lambda s: _load_losses(s, start, end))
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    console = _console()
    console.print(
        f"[bold]Saved and lost from {utc_text(start)} to {utc_text(end)} UTC[/]"
        " (open: still open now)"
    )
    totals = summary.totals
    console.print(
        f"saved [green]{money_text(totals.saved, empty='0')}[/] ({totals.saved_count})   "
        f"lost [red]{money_text(totals.lost, empty='0')}[/] ({totals.lost_count})   "
        f"open {money_text(totals.open, empty='0')} ({totals.open_count})"
    )
    channels = _figures_table("By channel (first answer, else last contact)", "channel")
    for row in summary.by_channel:
        channels.add_row(*_figures_row(row.channel, row))
    console.print(channels)
    merchants = _figures_table("By merchant (most losses first)", "merchant")
    for merchant_row in summary.by_merchant[:top]:
        merchants.add_row(*_figures_row(merchant_row.merchant_id, merchant_row))
    console.print(merchants)
    if len(summary.by_merchant) > top:
        console.print(f"… {len(summary.by_merchant) - top} more merchants (use --top or --json)")


# ---------------------------------------------------------------------------- merchant show
async def _load_merchant(settings: Settings, merchant_id: str) -> MerchantView | None:
    from db.audit import record_support_view
    from support.merchants import load_merchant_view

    async with _sessions(settings) as factory, factory() as session:
        view = await load_merchant_view(session, merchant_id)
        if view is None:
            return None
        await record_support_view(
            session,
            actor="cli",
            view="merchant",
            merchant_id=merchant_id,
        )
        return view


@merchant_app.command("show")
def merchant_show(
    merchant_id: Annotated[str, typer.Argument(help="The platform's merchant id, e.g. m-1")],
    as_json: JsonFlag = False,
) -> None:
    """A merchant: masked contacts, SMS opt-outs, open refunds and totals."""
    settings = _settings()
    view = _run(settings, lambda s: _load_merchant(s, merchant_id))
    if view is None:
        raise _fail(
            f"merchant {merchant_id} not found",
            "Check the id (the platform's merchant_id); `refundwatch losses` lists merchants "
            "with refunds.",
        )
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    console = _console()
    console.print(
        f"[bold]Merchant {view.merchant_id}[/] ({view.name})  timezone {view.timezone}  "
        f"language {view.language}  quiet hours {view.quiet_hours or 'policy default'}"
    )
    contacts = Table(title="Contacts (masked)", title_justify="left")
    for column in ("priority", "name", "phone", "active", "SMS"):
        contacts.add_column(column, no_wrap=True)
    for c in view.contacts:
        contacts.add_row(
            str(c.priority),
            c.name,
            c.phone,
            "yes" if c.active else "no",
            Text("opted out", style="red") if c.sms_opted_out else "ok",
        )
    console.print(contacts)
    t = view.totals
    counts = ", ".join(f"{state} {count}" for state, count in t.refunds.items()) or "none"
    console.print(f"refunds: {counts}")
    console.print(
        f"saved {money_text(t.saved, empty='0')}   lost {money_text(t.lost, empty='0')}   "
        f"open {money_text(t.open, empty='0')}"
    )
    if view.open_refunds:
        console.print(_at_risk_table(view.open_refunds, "Open watched refunds"))
    else:
        console.print("No open watched refunds.")
