"""A local Twilio-compatible server: REST API 2010-04-01 for Messages and Calls, signed
status and AMD callbacks, TwiML-driven calls with scripted callees, inbound SMS, as strict as
Twilio by default. See docs/twilio-sandbox.md."""

from twilio_sandbox.app import create_app
from twilio_sandbox.config import CallbackPolicy, SandboxConfig, Timing
from twilio_sandbox.delivery_faults import DeliveryFaults
from twilio_sandbox.faults import FaultPolicy
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
    "CallbackPolicy",
    "CreateError",
    "DeliveryFaults",
    "FaultPolicy",
    "NumberBehaviour",
    "SandboxConfig",
    "Scenario",
    "ScenarioError",
    "SmsBehaviour",
    "Timing",
    "create_app",
    "load_scenario",
]
