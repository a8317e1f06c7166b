"""The one settings object, built from the environment at start-up.

Every process (API, worker, scheduler, CLI) calls :func:`load_settings` once at its entry point
and passes the result down; nothing reads the environment at import time.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from config.policy_file import parse_duration

__all__ = ["Settings", "SettingsError", "load_settings"]

DEFAULT_POLICY = Path(__file__).with_name("policy.default.yaml")
DEFAULT_RISK_RULES = Path(__file__).with_name("risk_rules.default.yaml")


class SettingsError(RuntimeError):
    """Raised with one human-readable line per bad or missing setting."""


def _seconds(value: object) -> object:
    """'120' or 120 (seconds), or a duration such as '90s', '5m', '2h'."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str):
        return parse_duration(value)
    return value


Seconds = Annotated[int, BeforeValidator(_seconds)]


def _split_tokens(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        default="sqlite+aiosqlite:///.data/refundwatch.db",
        validation_alias="DATABASE_URL",
    )
    temporal_address: str = Field(default="localhost:7233", validation_alias="TEMPORAL_ADDRESS")
    temporal_namespace: str = Field(default="default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field(default="refundwatch", validation_alias="TEMPORAL_TASK_QUEUE")

    twilio_account_sid: str = Field(validation_alias="TWILIO_ACCOUNT_SID")
    # Authenticates our REST requests and checks webhook signatures.
    twilio_auth_token: SecretStr = Field(validation_alias="TWILIO_AUTH_TOKEN")
    # During an auth-token rotation, the other token Twilio may still sign webhooks with (it
    # signs with the primary only): see docs/operations.md, "Rotating the Twilio auth token".
    twilio_webhook_auth_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, validation_alias="TWILIO_WEBHOOK_AUTH_TOKENS"
    )
    twilio_from_number: str = Field(validation_alias="TWILIO_FROM_NUMBER")
    # Unset means the real Twilio API; the demo and tests point it at twilio_sandbox/.
    twilio_api_base_url: str | None = Field(default=None, validation_alias="TWILIO_API_BASE_URL")
    # How long one REST request to Twilio may take; a create with no answer by then is settled
    # from Twilio's records on the next try (activities/send_settle.py).
    twilio_request_timeout_s: Seconds = Field(
        default=15, ge=1, le=120, validation_alias="TWILIO_REQUEST_TIMEOUT"
    )
    # Such a create counts as never sent (and is sent again under its key) once Twilio's
    # records have not shown it for this long.
    send_settle_after_s: Seconds = Field(
        default=20, ge=0, le=600, validation_alias="REFUNDWATCH_SEND_SETTLE_AFTER"
    )
    public_base_url: str = Field(validation_alias="PUBLIC_BASE_URL")
    # Where the merchants' action links point (/m/<token> in every SMS); a short public host
    # keeps the SMS short. Unset: PUBLIC_BASE_URL.
    link_base_url: str | None = Field(default=None, validation_alias="REFUNDWATCH_LINK_BASE_URL")

    policy_path: Path = Field(default=DEFAULT_POLICY, validation_alias="REFUNDWATCH_POLICY")
    risk_rules_path: Path = Field(
        default=DEFAULT_RISK_RULES, validation_alias="REFUNDWATCH_RISK_RULES"
    )

    platform_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        validation_alias="REFUNDWATCH_PLATFORM_TOKENS"
    )
    support_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        validation_alias="REFUNDWATCH_SUPPORT_TOKENS"
    )
    # Merchant tokens are minted from this secret (`refundwatch token merchant ID`), so the API
    # can tell which merchant is calling without a token table.
    # Action links (/m/<token>) are signed with a key derived from it (domain/action_links.py).
    merchant_token_secret: SecretStr = Field(validation_alias="REFUNDWATCH_MERCHANT_TOKEN_SECRET")

    # Outbound pacing shared by all workers (pacing/, docs/pacing.md). Twilio's defaults:
    # 1 call per second per account, 1 SMS per second per long code.
    calls_per_second: int = Field(
        default=1, ge=1, le=1000, validation_alias="REFUNDWATCH_CALLS_PER_SECOND"
    )
    sms_per_second: int = Field(
        default=1, ge=1, le=1000, validation_alias="REFUNDWATCH_SMS_PER_SECOND"
    )

    sms_per_merchant_per_hour: int = Field(
        default=4, ge=1, le=100, validation_alias="REFUNDWATCH_SMS_PER_MERCHANT_PER_HOUR"
    )
    log_format: str = Field(default="console", validation_alias="REFUNDWATCH_LOG_FORMAT")
    log_level: str = Field(default="info", validation_alias="REFUNDWATCH_LOG_LEVEL")

    # Prometheus: the worker (Temporal SDK metrics) and the scheduler serve /metrics on this port;
    # unset = no metrics listener. The API serves /metrics on its own port either way.
    metrics_port: int | None = Field(
        default=None, ge=1, le=65535, validation_alias="REFUNDWATCH_METRICS_PORT"
    )
    metrics_host: str = Field(default="127.0.0.1", validation_alias="REFUNDWATCH_METRICS_HOST")
    # The worker's tuning (docs/operations.md, "Sizing"). Pollers: concurrent long polls per
    # task queue (one poller caps first-task pickup near 55 workflows/s on the dev server).
    # Sticky cache: workflows kept in memory between tasks (~0.2 MiB each); a wake-up that
    # misses it replays the whole history. Sends waiting for the shared rate limit hold an
    # activity slot each: with too few slots the overflow would wait in Temporal's queue in
    # arrival, not priority, order.
    worker_workflow_pollers: int = Field(
        default=8, ge=1, le=100, validation_alias="REFUNDWATCH_WORKER_WORKFLOW_POLLERS"
    )
    worker_activity_pollers: int = Field(
        default=8, ge=1, le=100, validation_alias="REFUNDWATCH_WORKER_ACTIVITY_POLLERS"
    )
    # Workflow tasks held at once. A held task's clock (``workflow.now()``) started when it
    # was polled, so while the worker's CPU is saturated a timer it starts is late by the
    # task's wait inside the worker (measured: ~2.5 s on watches started in a burst, with 100).
    # Fewer slots move that wait into Temporal's queue, but each slot is also held for the
    # completion round trip: with 8, the dev server backlogged the tasks no poller could take
    # and fell behind under a burst. docs/benchmarks.md (capacity, quiet machine) has the figures.
    worker_max_workflow_tasks: int = Field(
        default=100, ge=2, le=10000, validation_alias="REFUNDWATCH_WORKER_MAX_WORKFLOW_TASKS"
    )
    worker_max_activities: int = Field(
        default=1000, ge=1, le=100000, validation_alias="REFUNDWATCH_WORKER_MAX_ACTIVITIES"
    )
    worker_max_local_activities: int = Field(
        default=200, ge=1, le=100000, validation_alias="REFUNDWATCH_WORKER_MAX_LOCAL_ACTIVITIES"
    )
    worker_sticky_cache: int = Field(
        default=1000, ge=0, le=1000000, validation_alias="REFUNDWATCH_WORKER_STICKY_CACHE"
    )
    # Run workflow code in Temporal's sandbox (the default: a workflow importing or calling
    # something non-deterministic fails its task). Off saves the worker the sandbox's
    # per-workflow module set-up and proxied module access (docs/benchmarks.md measures how
    # much); tests/test_replay.py still checks determinism on recorded histories.
    worker_sandbox: bool = Field(default=True, validation_alias="REFUNDWATCH_WORKER_SANDBOX")
    # Database connections per process (the API, worker and scheduler each have a pool): this
    # many kept open, as many again opened under a peak and closed after. Below the API's
    # concurrent requests, connections are opened and closed per request: each costs a TCP
    # and TLS-negotiation round trip set and milliseconds of CPU (docs/benchmarks.md).
    db_pool_size: int = Field(
        default=10, ge=1, le=1000, validation_alias="REFUNDWATCH_DB_POOL_SIZE"
    )
    # The worker's own health endpoint (/livez, /readyz); unset = none. Ready = it completed a
    # task, or Temporal saw its pollers, within REFUNDWATCH_WORKER_READY_WINDOW.
    worker_health_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias="REFUNDWATCH_WORKER_HEALTH_PORT"
    )
    worker_health_host: str = Field(
        default="127.0.0.1", validation_alias="REFUNDWATCH_WORKER_HEALTH_HOST"
    )
    worker_ready_window_s: Seconds = Field(
        default=90, ge=5, le=3600, validation_alias="REFUNDWATCH_WORKER_READY_WINDOW"
    )
    # Scheduler: how often the reconciler runs, how long past its deadline an open refund may
    # stay before it is flagged overdue, and when (UTC, HH:MM) yesterday's loss report is written.
    reconcile_every_s: Seconds = Field(default=120, validation_alias="REFUNDWATCH_RECONCILE_EVERY")
    overdue_grace_s: Seconds = Field(default=900, validation_alias="REFUNDWATCH_OVERDUE_GRACE")
    report_at: str = Field(default="00:05", validation_alias="REFUNDWATCH_REPORT_AT")

    # Outbound webhooks to the platform (docs/webhooks.md): unset URL = decisions are recorded
    # but not sent. Several comma-separated secrets while rotating: each signs every delivery.
    platform_webhook_url: str | None = Field(
        default=None, validation_alias="REFUNDWATCH_PLATFORM_WEBHOOK_URL"
    )
    platform_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        validate_default=True,
        validation_alias="REFUNDWATCH_PLATFORM_WEBHOOK_SECRET",
    )
    # Also tell the platform each in-app notice, reminder sent, read receipt and stage change
    # (notice.created, reminder.sent, notice.read, notice.acknowledged, refund.stage_changed),
    # so it can push them in its own app. Off by default: about five more events per watch.
    platform_notice_events: bool = Field(
        default=False, validation_alias="REFUNDWATCH_PLATFORM_NOTICE_EVENTS"
    )
    platform_webhook_timeout_s: Seconds = Field(
        default=10, ge=1, le=60, validation_alias="REFUNDWATCH_PLATFORM_WEBHOOK_TIMEOUT"
    )
    platform_webhook_max_retry_interval_s: Seconds = Field(
        default=600, ge=1, validation_alias="REFUNDWATCH_PLATFORM_WEBHOOK_MAX_RETRY_INTERVAL"
    )
    platform_webhook_give_up_after_s: Seconds = Field(
        default=3 * 24 * 3600, ge=60, validation_alias="REFUNDWATCH_PLATFORM_WEBHOOK_GIVE_UP_AFTER"
    )
    # Disputes: where the API keeps merchants' evidence files (see evidence/), and the limits of
    # one submission. Files are held in memory while checked, hence the ceiling on the size.
    # How long an answer (keypad, SMS, in-app) waits for its watch before it is kept and
    # delivered later by the scheduler: under Twilio's 15 s TwiML fetch timeout.
    answer_timeout_s: Seconds = Field(
        default=8, ge=1, le=15, validation_alias="REFUNDWATCH_ANSWER_TIMEOUT"
    )
    # The <Say> voice per merchant language: one Twilio lists for that language (Polly.Zhiyu
    # speaks cmn-CN, Polly.Joanna en-US; twilio.com/docs/voice/twiml/say/text-speech). The
    # default "man" voice has no Mandarin: a zh-CN prompt without a voice may not be spoken.
    voice_zh_cn: str = Field(
        default="Polly.Zhiyu-Neural", validation_alias="REFUNDWATCH_VOICE_ZH_CN"
    )
    voice_en: str = Field(default="Polly.Joanna-Neural", validation_alias="REFUNDWATCH_VOICE_EN")
    evidence_dir: Path = Field(
        default=Path(".data/evidence"), validation_alias="REFUNDWATCH_EVIDENCE_DIR"
    )
    evidence_max_file_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        le=100 * 1024 * 1024,
        validation_alias="REFUNDWATCH_EVIDENCE_MAX_FILE_BYTES",
    )
    evidence_max_files: int = Field(
        default=5, ge=1, le=50, validation_alias="REFUNDWATCH_EVIDENCE_MAX_FILES"
    )

    @field_validator(
        "platform_tokens",
        "support_tokens",
        "platform_webhook_secrets",
        "twilio_webhook_auth_tokens",
        mode="before",
    )
    @classmethod
    def _tokens(cls, value: object) -> object:
        return _split_tokens(value)

    @field_validator("platform_tokens", "support_tokens")
    @classmethod
    def _non_empty(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value:
            raise ValueError("needs at least one token (comma-separated)")
        if any(len(token.get_secret_value()) < 16 for token in value):
            raise ValueError("every token must be at least 16 characters long")
        return value

    @field_validator("platform_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        # Kept exactly as given (a trailing slash may matter to the receiver's router).
        if not value:
            return None  # empty = unset (compose passes ${VAR:-})
        if not re.match(r"https?://[^/]+", value):
            raise ValueError("must be an http(s) URL such as https://platform.example.com/hooks")
        return value

    @field_validator("platform_webhook_secrets")
    @classmethod
    def _webhook_secrets(cls, value: list[SecretStr], info: ValidationInfo) -> list[SecretStr]:
        if info.data.get("platform_webhook_url") and not value:
            raise ValueError("is required when REFUNDWATCH_PLATFORM_WEBHOOK_URL is set")
        if any(len(secret.get_secret_value()) < 16 for secret in value):
            raise ValueError("every secret must be at least 16 characters long")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str) -> str:
        if not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must look like a Twilio account SID: 'AC' followed by 32 hex digits")
        return value

    @field_validator("voice_zh_cn", "voice_en")
    @classmethod
    def _voice(cls, value: str) -> str:
        if value in ("man", "woman") or re.fullmatch(r"(Polly|Google)\.[A-Za-z0-9-]+", value):
            return value
        raise ValueError(
            "must be a Twilio voice such as Polly.Zhiyu-Neural or Google.cmn-CN-Standard-A"
        )

    @field_validator("twilio_from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not re.fullmatch(r"\+[1-9]\d{6,14}", value):
            raise ValueError("must be an E.164 phone number such as +14155550100")
        return value

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"https?://[^/]+", value):
            raise ValueError("must be an http(s) URL such as https://refundwatch.example.com")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalise_database_url(value)

    @field_validator("policy_path", "risk_rules_path")
    @classmethod
    def _exists(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"file {value} does not exist")
        return value

    @field_validator("reconcile_every_s")
    @classmethod
    def _reconcile_every(cls, value: int) -> int:
        if value < 5:
            raise ValueError("must be at least 5 seconds")
        return value

    @field_validator("report_at")
    @classmethod
    def _report_at(cls, value: str) -> str:
        match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", value.strip())
        if not match:
            raise ValueError("must be a UTC time of day as HH:MM, such as 00:05")
        return match.group(0)

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"console", "json"}:
            raise ValueError("must be 'console' or 'json'")
        return value


def normalise_database_url(url: str) -> str:
    """Accept the URLs people write (postgresql://, sqlite:///) and pick our async drivers."""
    if url.startswith(("postgres://", "postgresql://")):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ValueError("must be a postgresql:// or sqlite:/// URL")


_ENV_NAMES = {name: str(field.validation_alias) for name, field in Settings.model_fields.items()}


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; on error raise one message naming each setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            env_name = _ENV_NAMES.get(field, field)
            reason = "is required but not set" if error["type"] == "missing" else error["msg"]
            lines.append(f"{env_name}: {reason}")
        raise SettingsError("bad configuration:\n  " + "\n  ".join(lines)) from None
