"""Settings and the policy file: bad input fails at start-up naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.policy_file import PolicyError, load_policy, parse_duration
from config.settings import SettingsError, load_settings
from domain.masking import mask_phone, structlog_masker
from domain.money import MoneyError, format_money, from_minor, to_minor

GOOD = {
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "TWILIO_AUTH_TOKEN": "secret",
    "TWILIO_FROM_NUMBER": "+14155550000",
    "PUBLIC_BASE_URL": "https://rw.example.com/",
    "REFUNDWATCH_PLATFORM_TOKENS": "platform-token-0000001,platform-token-0000002",
    "REFUNDWATCH_SUPPORT_TOKENS": "support-token-00000001",
    "REFUNDWATCH_MERCHANT_TOKEN_SECRET": "s3cret",
}


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/rw")
    settings = load_settings()
    assert settings.database_url == "postgresql+asyncpg://u@db:5432/rw"
    assert settings.public_base_url == "https://rw.example.com"
    assert len(settings.platform_tokens) == 2


def test_bad_and_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "not-a-sid")
    monkeypatch.delenv("PUBLIC_BASE_URL")
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(SettingsError) as err:
        load_settings()
    message = str(err.value)
    assert "TWILIO_ACCOUNT_SID: " in message
    assert "32 hex" in message
    assert "PUBLIC_BASE_URL: is required but not set" in message
    assert "DATABASE_URL: " in message


def test_policy_file_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text(
        "version: x\nsteps:\n  - {name: sms, channel: fax, before_deadline: 2h}\n"
        "  - {name: call, channel: call, before_deadline: soon}\n"
    )
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert "steps.0.channel" in str(err.value)
    assert "steps.1.before_deadline" in str(err.value)
    assert "'soon'" in str(err.value)


def test_policy_step_needs_exactly_one_placement(tmp_path: Path) -> None:
    bad = tmp_path / "policy.yaml"
    bad.write_text("version: x\nsteps:\n  - {name: sms, channel: sms}\n")
    with pytest.raises(PolicyError, match="exactly one of"):
        load_policy(bad)


def test_durations() -> None:
    assert [parse_duration(v) for v in ("90s", "5m", "24h", "2d", 30)] == [
        90,
        300,
        86400,
        172800,
        30,
    ]
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("tomorrow")


def test_money_in_minor_units() -> None:
    assert to_minor("2400.5", "CNY") == 240050
    assert to_minor("1500", "JPY") == 1500
    assert from_minor(240050, "CNY").as_tuple().exponent == -2
    assert format_money(123456789, "USD") == "USD 1,234,567.89"
    with pytest.raises(MoneyError, match="at most 2 decimal places"):
        to_minor("1.005", "USD")


def test_phone_numbers_are_masked_in_log_events() -> None:
    assert mask_phone("+8613812345678") == "+86138****5678"
    event = structlog_masker(
        None, "info", {"event": "call to +8613812345678 failed", "to": "+14155550100"}
    )
    assert "12345678" not in str(event)
    assert "5550100" not in str(event)
    kept = {"event": "sent", "sid": "SM52048700123", "timestamp": "2026-11-23T08:58:40Z"}
    assert structlog_masker(None, "info", dict(kept)) == kept
