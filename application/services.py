"""What the application needs at run time (database, Temporal, policy, risk rules, evidence
store), built once at start-up by the API or the scheduler and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from config.policy_file import load_policy
from config.settings import Settings
from db.engine import SessionFactory, make_engine, make_session_factory
from domain.policy import EscalationPolicy
from evidence.store import EvidenceStore, LocalDirStore
from notifier.base import Notifier
from notifier.twilio_notifier import TwilioNotifier
from risk import RiskRules, load_rules

__all__ = ["Services", "build_services"]


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    temporal: Client
    risk_rules: RiskRules
    policy: EscalationPolicy
    evidence: EvidenceStore
    # Twilio, for what a webhook must do at once (leave a voicemail once the beep came).
    notifier: Notifier

    async def close(self) -> None:
        await self.notifier.close()
        await self.engine.dispose()


async def build_services(settings: Settings, temporal: Client | None = None) -> Services:
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    client = temporal or await Client.connect(
        settings.temporal_address, namespace=settings.temporal_namespace
    )
    return Services(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        temporal=client,
        risk_rules=load_rules(settings.risk_rules_path),
        policy=load_policy(settings.policy_path),
        evidence=LocalDirStore(settings.evidence_dir),
        notifier=TwilioNotifier.from_settings(settings),
    )
