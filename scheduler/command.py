"""What `refundwatch scheduler [--run-once JOB] [--day YYYY-MM-DD]` does; cli/main.py registers
it. One-shot runs print JSON on stdout (for cron jobs and scripts)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import date

import typer

from application.services import build_services
from config.settings import Settings
from db.engine import make_engine, make_session_factory
from scheduler.jobs import (
    JOBS,
    LeaseBusy,
    SchedulerContext,
    run_prices,
    run_reconcile,
    run_report,
)
from scheduler.lease import new_holder_id
from scheduler.report import DayNotOver
from scheduler.runner import run_scheduler

__all__ = ["scheduler_command"]


def _parse_day(day: str | None) -> date | None:
    if day is None:
        return None
    try:
        return date.fromisoformat(day)
    except ValueError:
        raise typer.BadParameter(
            f"{day!r} is not a date such as 2026-11-22", param_hint="--day"
        ) from None


async def _once(settings: Settings, job: str, day: date | None) -> dict[str, object]:
    if job == "report":
        engine = make_engine(settings.database_url)
        try:
            ctx = SchedulerContext(settings, make_session_factory(engine), new_holder_id())
            report = await run_report(ctx, day)
        finally:
            await engine.dispose()
        if isinstance(report, LeaseBusy):
            return {"job": job, "skipped": True, "lease_holder": report.holder}
        return {
            "job": job,
            "day": report.day.isoformat(),
            "created": report.created,
            "summary": report.summary,
        }
    if job == "prices":
        engine = make_engine(settings.database_url)
        try:
            ctx = SchedulerContext(settings, make_session_factory(engine), new_holder_id())
            prices = await run_prices(ctx)
        finally:
            await engine.dispose()
        if isinstance(prices, LeaseBusy):
            return {"job": job, "skipped": True, "lease_holder": prices.holder}
        return {"job": job, **asdict(prices)}
    services = await build_services(settings)
    try:
        ctx = SchedulerContext(settings, services.sessions, new_holder_id(), services)
        result = await run_reconcile(ctx)
    finally:
        await services.close()
    if isinstance(result, LeaseBusy):
        return {"job": job, "skipped": True, "lease_holder": result.holder}
    return {
        "job": job,
        **result.summary(),
        "started_refunds": result.started,
        "restarted_refunds": result.restarted,
        "failed_refunds": result.failed,
        "overdue_refunds": result.overdue,
    }


def _unreachable(settings: Settings, err: RuntimeError) -> typer.Exit:
    typer.secho(
        f"cannot reach Temporal at {settings.temporal_address}: {err}. "
        "Check TEMPORAL_ADDRESS and that the server is up, then start again.",
        fg=typer.colors.RED,
        err=True,
    )
    return typer.Exit(1)


def scheduler_command(settings: Settings, run_once: str | None, day: str | None) -> None:
    if run_once is None:
        if day is not None:
            raise typer.BadParameter("only with --run-once report", param_hint="--day")
        try:
            asyncio.run(run_scheduler(settings))
        except RuntimeError as err:
            if "client connect" not in str(err):
                raise
            raise _unreachable(settings, err) from None
        return
    if run_once not in JOBS:
        raise typer.BadParameter(
            f"{run_once!r} is not a job: use one of {', '.join(JOBS)}", param_hint="--run-once"
        )
    if day is not None and run_once != "report":
        raise typer.BadParameter("only with --run-once report", param_hint="--day")
    try:
        output = asyncio.run(_once(settings, run_once, _parse_day(day)))
    except DayNotOver as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    except RuntimeError as err:  # temporalio: "Failed client connect: …"
        if "client connect" not in str(err):
            raise
        raise _unreachable(settings, err) from None
    if output.get("skipped"):
        typer.secho(
            f"skipped: another scheduler instance ({output['lease_holder']}) is running "
            f"{run_once} right now; it is safe to try again in a moment",
            err=True,
        )
    typer.echo(json.dumps(output, indent=2, default=str))
