"""`refundwatch`: run the API, worker, sandbox or the demo; migrate; mint merchant tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

import bench  # the package only (a docstring): where its files are installed
from cli import common, link_cmds, refund_cmds, report_cmds

app = typer.Typer(help="Refund-timeout alerts and escalation.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
# The installed bench/simulate.yaml: `refundwatch simulate` works from any directory.
SIMULATION_PARAMS = Path(bench.__file__).parent / "simulate.yaml"


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
) -> None:
    """Serve the HTTP API (platform, support, merchant app, Twilio webhooks)."""
    import uvicorn

    from api.app import create_app
    from config.logging import configure_logging

    settings = common.settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    # Idle keep-alive connections outlive a client's (5 s in httpx and aiohttp, 60 s in common
    # load balancers): a close racing a client's reuse is an answerless reset for that request.
    uvicorn.run(
        create_app(settings), host=host, port=port, log_level="warning", timeout_keep_alive=75
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from config.logging import configure_logging
    from worker import run_worker

    settings = common.settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    asyncio.run(run_worker(settings))


@app.command()
def scheduler(
    run_once: Annotated[
        str | None,
        typer.Option(
            "--run-once", metavar="JOB", help="Run one job (reconcile, report or prices), exit"
        ),
    ] = None,
    day: Annotated[
        str | None,
        typer.Option(help="With --run-once report: the UTC day, YYYY-MM-DD (default yesterday)"),
    ] = None,
) -> None:
    """Run the scheduler (reconciler, daily loss report) until SIGTERM/SIGINT."""
    from config.logging import configure_logging
    from scheduler.command import scheduler_command

    settings = common.settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    scheduler_command(settings, run_once, day)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL."""
    from db.migrate import upgrade

    settings = common.settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@token_app.command("merchant")
def token_merchant(merchant_id: str) -> None:
    """Print the in-app API token for one merchant."""
    from api.auth import merchant_token

    settings = common.settings()
    typer.echo(merchant_token(settings.merchant_token_secret.get_secret_value(), merchant_id))


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option(help="Keep serving API and Temporal UI after the summary")
    ] = True,
    data_dir: Annotated[Path, typer.Option(help="Where the demo keeps its files")] = Path(
        ".data/demo"
    ),
) -> None:
    """Run the whole system locally and play a short demo."""
    from demo.run import run_demo

    raise typer.Exit(asyncio.run(run_demo(data_dir=data_dir, serve=serve)))


@app.command()
def simulate(
    params: Annotated[Path, typer.Option(help="Parameters file (YAML)")] = SIMULATION_PARAMS,
    seed: Annotated[int | None, typer.Option(help="Overrides the file's seed")] = None,
    refunds: Annotated[
        int | None, typer.Option(help="Overrides population.refunds (per arm)")
    ] = None,
    save: Annotated[bool, typer.Option(help="Write bench/results/simulate.json and .png")] = True,
    keep_files: Annotated[
        bool, typer.Option(help="Keep the run's policies, scenario and process logs")
    ] = False,
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential/--parallel",
            help="One workflow arm after the other (default: steadier timing on a small "
            "machine), or both at once (about half the time, twice the load)",
        ),
    ] = True,
) -> None:
    """Money-saved simulation: a seeded population of refunds through the real stack
    (Temporal dev server, API, worker, Twilio sandbox) on compressed time; full ladder vs
    in-app only vs no alerts. Needs PostgreSQL as the tests do (TEST_DATABASE_ADMIN_URL)."""
    from rich.console import Console

    from bench import simulate as sim
    from bench import simulate_output as output
    from config.logging import configure_logging

    configure_logging(fmt="console", level="warning")  # the report is the output
    console = Console(highlight=False, width=160)
    try:
        loaded = sim.load(params, seed=seed, refunds=refunds)
    except sim.ParamsError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        typer.secho("Fix the parameters file (see the comments in it) and run again.", err=True)
        raise typer.Exit(2) from None
    try:
        result = asyncio.run(
            sim.run_simulation(
                loaded,
                progress=lambda line: console.print(f"[dim]{line}[/]"),
                keep_files=keep_files,
                sequential=sequential,
            )
        )
    except (OSError, RuntimeError) as err:
        typer.secho(f"simulation failed: {err}", fg=typer.colors.RED, err=True)
        typer.secho(
            "Check that PostgreSQL answers on 127.0.0.1:5432 (or TEST_DATABASE_ADMIN_URL) "
            "and read the process logs named above.",
            err=True,
        )
        raise typer.Exit(1) from None
    output.print_result(result, console)
    if save:
        output.save_result(result)


refund_cmds.register(app)  # refund show, refund evidence, refund webhooks
link_cmds.register(app)  # links revoke
report_cmds.register(app)  # refunds at-risk, losses, merchant show

if __name__ == "__main__":
    app()


@app.command("sms-lengths")
def sms_lengths() -> None:
    """Segments of every default SMS template in each language (with a production link)."""
    from rich.console import Console
    from rich.table import Table

    from domain.sms_length import sms_length
    from messages.sms_samples import TEMPLATES, sample

    table = Table(title="default SMS templates: encoding, length, segments")
    for column in ("template", "language", "encoding", "units", "segments"):
        table.add_column(column)
    for template in TEMPLATES:
        for language in ("zh-CN", "en"):
            length = sms_length(sample(template, language))
            table.add_row(
                template, language, length.encoding, str(length.units), str(length.segments)
            )
    Console().print(table)
