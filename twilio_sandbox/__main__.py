"""`python -m twilio_sandbox`: serve the sandbox with uvicorn."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import structlog
import uvicorn
from pydantic import ValidationError

from config.logging import configure_logging
from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig, Timing
from twilio_sandbox.scenario import Scenario, ScenarioError, describe_errors, load_scenario


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m twilio_sandbox",
        description="A local Twilio-compatible server with scripted phone numbers "
        "(docs/twilio-sandbox.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to bind (8765)")
    parser.add_argument(
        "--account-sid",
        default=os.environ.get("TWILIO_ACCOUNT_SID"),
        help="account SID clients authenticate with (default: $TWILIO_ACCOUNT_SID)",
    )
    parser.add_argument(
        "--auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN"),
        help="auth token for Basic auth and webhook signatures (default: $TWILIO_AUTH_TOKEN)",
    )
    parser.add_argument("--scenario", help="scenario YAML (default: SMS delivered, no answer)")
    parser.add_argument("--inbound-sms-url", help="where inbound SMS webhooks are posted")
    parser.add_argument(
        "--ring-seconds", type=float, default=Timing().ring_seconds, help="default ring time"
    )
    parser.add_argument(
        "--calls-per-second",
        type=int,
        default=1,
        help="the account's CPS, Twilio's default 1: creates beyond it are queued and start at "
        "that rate (0 = no limit, kinder than any Twilio account)",
    )
    parser.add_argument(
        "--cps-overflow",
        choices=["queue", "refuse"],
        default="queue",
        help="calls beyond the CPS: queue (Twilio) or refuse with 429 / 20429 (stricter)",
    )
    parser.add_argument(
        "--log-format",
        choices=["console", "json"],
        default=os.environ.get("REFUNDWATCH_LOG_FORMAT", "console"),
    )
    parser.add_argument("--log-level", default=os.environ.get("REFUNDWATCH_LOG_LEVEL", "info"))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.account_sid or not args.auth_token:
        parser.error("give --account-sid and --auth-token (or set TWILIO_ACCOUNT_SID and "
                     "TWILIO_AUTH_TOKEN)")  # fmt: skip
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
        config = SandboxConfig(
            account_sid=args.account_sid,
            auth_token=args.auth_token,
            scenario=scenario,
            timing=Timing(ring_seconds=args.ring_seconds),
            inbound_sms_url=args.inbound_sms_url,
            calls_per_second=args.calls_per_second,
            cps_overflow=args.cps_overflow,
        )
    except ScenarioError as err:
        parser.exit(2, f"{err}\nFix the scenario file and start again.\n")
    except ValidationError as err:
        parser.exit(2, f"invalid option:\n{describe_errors(err)}\n")
    configure_logging(fmt=args.log_format, level=args.log_level)
    structlog.get_logger("twilio_sandbox").info(
        "sandbox_starting", host=args.host, port=args.port, scenario=args.scenario
    )
    # Keep idle connections longer than clients do (httpx and twilio-python's aiohttp keep
    # them 5 s, uvicorn's default too): a close racing a reuse resets the client's request.
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_level="warning",
        timeout_keep_alive=30,
    )


if __name__ == "__main__":
    main()
