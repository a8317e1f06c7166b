"""Support commands across refunds: `refunds at-risk`, `losses`, `merchant show`.

Read-only, against DATABASE_URL. Tables with rich, JSON with ``--json``. Reading a merchant's
full record is audited as ``support.viewed`` by actor ``cli``. Personal data arrives here
already masked by ``support/``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from cli import common
from cli.common import JsonFlag
from config.settings import Settings
from support.formatting import money_text, thousands, utc_text

if TYPE_CHECKING:  # the heavy imports wait until a command runs: `refundwatch --help` stays fast
    from support.at_risk import AtRiskRefund
    from support.losses import Figures, LossesSummary
    from support.merchants import MerchantView

__all__ = ["register"]

refunds_app = typer.Typer(help="Lists of refunds.", no_args_is_help=True)
merchant_app = typer.Typer(
    help="One merchant: contacts, opt-outs, open refunds.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add `refunds at-risk`, `merchant show` and `losses` to the `refundwatch` app."""
    app.add_typer(refunds_app, name="refunds")
    app.add_typer(merchant_app, name="merchant")
    app.command("losses")(losses)


# ---------------------------------------------------------------------------- at-risk
async def _load_at_risk(
    settings: Settings, merchant_id: str | None, limit: int
) -> list[AtRiskRefund]:
    from support.at_risk import load_at_risk

    async with common.sessions(settings) as factory, factory() as session:
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
            common.time_left(row.seconds_left),
            utc_text(row.deadline_at),
            row.refund_id,
            row.merchant_id,
            f"{row.currency} {thousands(row.amount)}",
            common.risk_text(row.risk_score, row.risk_level),
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
    settings = common.settings()
    rows = common.run(settings, lambda s: _load_at_risk(s, merchant, limit))
    if as_json:
        common.echo_json_list(rows)
        return
    console = common.console()
    if not rows:
        console.print("No open watched refunds: nothing is about to time out.")
        return
    console.print(_at_risk_table(rows, f"{len(rows)} open watched refunds"))


# ---------------------------------------------------------------------------- losses
async def _load_losses(settings: Settings, since: datetime, until: datetime) -> LossesSummary:
    from support.losses import losses_summary

    async with common.sessions(settings) as factory, factory() as session:
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
    start, end = common.moment(since, "--since"), common.moment(until, "--until")
    if start >= end:
        raise typer.BadParameter("must be before --until", param_hint="--since")
    settings = common.settings()
    summary = common.run(settings, lambda s: _load_losses(s, start, end))
    if as_json:
        typer.echo(summary.model_dump_json(indent=2))
        return
    console = common.console()
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

    async with common.sessions(settings) as factory, factory() as session:
        view = await load_merchant_view(session, merchant_id)
        if view is None:
            return None
        await record_support_view(
            session,
            collapse=False,  # each CLI run is a person opening the record
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
    settings = common.settings()
    view = common.run(settings, lambda s: _load_merchant(s, merchant_id))
    if view is None:
        raise common.fail(
            f"merchant {merchant_id} not found",
            "Check the id (the platform's merchant_id); `refundwatch losses` lists merchants "
            "with refunds.",
        )
    if as_json:
        typer.echo(view.model_dump_json(indent=2))
        return
    console = common.console()
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
