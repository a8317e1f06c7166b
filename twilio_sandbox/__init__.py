"""A local Twilio-compatible server with scripted merchants. See docs/twilio-sandbox.md."""

from twilio_sandbox.app import create_app
from twilio_sandbox.config import SandboxConfig, Timing
from twilio_sandbox.scenario import (
    CallBehaviour,
    CreateError,
    NumberBehaviour,
    Scenario,
    ScenarioError,
    SmsBehaviour,
    load_scenario,
)

__all__ = [
    "CallBehaviour",
    "CreateError",
    "NumberBehaviour",
    "SandboxConfig",
    "Scenario",
    "ScenarioError",
    "SmsBehaviour",
    "Timing",
    "create_app",
    "load_scenario",
]
