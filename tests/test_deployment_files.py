"""docker-compose.yml (no Docker here) checked against what the code expects."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from config.settings import Settings
from workflows import search_attributes as sa

ROOT = Path(__file__).parents[1]


def test_compose_services_start_in_order_with_our_settings() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgresql", "temporal-schema", "temporal", "temporal-setup", "temporal-ui",
            "migrate", "api", "worker"} <= set(services)  # fmt: skip
    assert services["temporal"]["depends_on"]["temporal-schema"]["condition"] == (
        "service_completed_successfully"
    )
    for role in ("api", "worker"):
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
