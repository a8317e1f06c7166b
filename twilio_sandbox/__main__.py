"""`python -m twilio_sandbox`: run the local Twilio stand-in."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import uvicorn

from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig
from twilio_sandbox.scenario import Scenario, ScenarioError, load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m twilio_sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--account-sid", default=os.environ.get("TWILIO_ACCOUNT_SID"))
    parser.add_argument("--auth-token", default=os.environ.get("TWILIO_AUTH_TOKEN"))
    parser.add_argument("--scenario", type=Path, help="YAML file: behaviour per phone number")
    parser.add_argument("--inbound-sms-url", help="where merchants' SMS are posted (our webhook)")
    args = parser.parse_args()
    if not args.account_sid or not args.auth_token:
        parser.error("--account-sid and --auth-token (or TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN)")
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario()
    except ScenarioError as err:
        parser.error(str(err))
    config = SandboxConfig(
        account_sid=args.account_sid,
        auth_token=args.auth_token,
        scenario=scenario,
        inbound_sms_url=args.inbound_sms_url,
    )
    uvicorn.run(create_app(config), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
