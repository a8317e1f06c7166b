"""`refundwatch`: run the API, worker, sandbox or the demo; migrate; mint merchant tokens."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from cli import support_cmds
from config.settings import Settings, SettingsError, load_settings

app = typer.Typer(help="Refund-timeout alerts and escalation.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as err:
        typer.secho(str(err), fg=typer.colors.RED, err=True)
        typer.secho("Set the variables above (see README, Configuration).", err=True)
        raise typer.Exit(2) from None


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
) -> None:
    """Serve the HTTP API (platform, support, merchant app, Twilio webhooks)."""
    import uvicorn

    from api.app import create_app
    from config.logging import configure_logging

    settings = _settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from config.logging import configure_logging
    from worker import run_worker

    settings = _settings()
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

    settings = _settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    scheduler_command(settings, run_once, day)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to DATABASE_URL."""
    from db.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    typer.echo("database is up to date")


@token_app.command("merchant")
def token_merchant(merchant_id: str) -> None:
    """Print the in-app API token for one merchant."""
    from api.auth import merchant_token

    settings = _settings()
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


support_cmds.register(app)  # refund show, refunds at-risk, losses, merchant show

if __name__ == "__main__":
    app()
