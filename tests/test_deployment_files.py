"""docker-compose.yml (no Docker here) checked against what the code expects."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from config.settings import Settings
from workflows import search_attributes as sa

ROOT = Path(__file__).parents[1]


def test_compose_services_start_in_order_with_our_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
            "migrate", "api", "worker", "scheduler"} <= set(services)  # fmt: skip
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    for role in ("api", "worker", "scheduler"):
        needs = services[role]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully"
        assert needs["temporal-setup"]["condition"] == "service_completed_successfully"
        env = set(services[role]["environment"])
        required = {
            str(field.validation_alias)
            for field in Settings.model_fields.values()
            if field.is_required()
        }
        assert required <= env, f"{role} lacks {required - env}"
    assert "auto-setup" not in (ROOT / "docker-compose.yml").read_text()


def test_setup_job_creates_exactly_our_search_attributes() -> None:
    script = (ROOT / "deploy" / "temporal-setup.sh").read_text()
    created = dict(re.findall(r"(Refund\w+)=(\w+)", script))
    expected = {key.name: key.indexed_value_type.name for key in sa.ALL}
    assert {k: v.upper() for k, v in created.items()} == expected


def test_refundwatch_services_run_our_commands_with_known_settings() -> None:
    """Every REFUNDWATCH_/TWILIO_/TEMPORAL_ variable compose sets is one the Settings object
    reads (a typo would be silently ignored), and the values it sets are valid."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    known = {str(field.validation_alias) for field in Settings.model_fields.values()}
    commands = {"api": "api", "worker": "worker", "scheduler": "scheduler", "migrate": "db"}
    for role, command in commands.items():
        service = services[role]
        assert service["command"][:2] == ["refundwatch", command]
        env = service["environment"]
        ours = {name for name in env if name.startswith(("REFUNDWATCH_", "TWILIO_", "TEMPORAL_"))}
        assert ours <= known, f"{role} sets unknown settings {ours - known}"
    scheduler = services["scheduler"]
    assert scheduler["stop_grace_period"] == "30s"  # above the scheduler's 20 s drain
    for role in ("worker", "scheduler"):
        env = services[role]["environment"]
        port = env["REFUNDWATCH_METRICS_PORT"]
        # scraped from the other containers
        assert env["REFUNDWATCH_METRICS_HOST"] == "0.0.0.0"  # noqa: S104
        health = env.get("REFUNDWATCH_WORKER_HEALTH_PORT")  # the worker's /livez, /readyz
        assert [str(p) for p in services[role]["expose"]] == [port, *([health] if health else [])]
    worker = services["worker"]
    health_port = worker["environment"]["REFUNDWATCH_WORKER_HEALTH_PORT"]
    assert f"localhost:{health_port}/readyz" in " ".join(worker["healthcheck"]["test"])
    literal = {k: v for k, v in scheduler["environment"].items() if "${" not in str(v)}
    overrides = {
        name: literal[str(field.validation_alias)]
        for name, field in Settings.model_fields.items()
        if str(field.validation_alias) in literal and name not in {"database_url"}
    }
    checked = Settings.model_validate(
        {
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_auth_token": "t",
            "twilio_from_number": "+14155550000",
            "public_base_url": "https://rw.example.com",
            "platform_tokens": "p" * 16,
            "support_tokens": "s" * 16,
            "merchant_token_secret": "m",
            **overrides,
        }
    )
    assert checked.reconcile_every_s == 120
    assert checked.metrics_port == 9464


def test_image_contains_every_package() -> None:
    """The Dockerfile copies packages one by one: a new package must be added there too."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        pattern.rstrip("*")
        for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = set(re.findall(r"^COPY (\S+) \./\1\s*$", dockerfile, flags=re.MULTILINE))
    missing = [name for name in packages if (ROOT / name).is_dir() and name not in copied]
    assert not missing, f"Dockerfile does not COPY {missing}"
    for module in pyproject["tool"]["setuptools"]["py-modules"]:
        assert f"COPY {module}.py ./" in dockerfile
