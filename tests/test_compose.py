"""docker-compose.yml checked without a Docker engine: services, images, health, settings, order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from workflows.search_attributes import ALL_KEYS

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return {str(k): str(v) for k, v in env.items()}


def test_every_part_of_the_stack_is_there(compose: dict[str, Any]) -> None:
    assert {"postgresql", "temporal", "temporal-ui", "api", "worker", "simulator"} <= set(compose["services"])


def test_temporal_uses_official_images_and_postgresql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("temporal", "temporal-ui", "temporal-setup"):
        assert services[name]["image"].startswith("temporalio/")
    assert env_of(services["temporal"])["DB"].startswith("postgres")
    assert services["postgresql"]["image"].startswith("postgres:")


def test_services_wait_for_what_they_need(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("postgresql", "temporal", "api", "simulator"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["temporal-setup"]["condition"] == "service_completed_successfully"
    assert services["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"


def test_notifications_are_delivered_by_the_outbox_relay_service_not_the_workers(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert env_of(services["worker"])["AFTERSALES_OUTBOX_RELAY_IN_WORKER"] == "false"
    relay = services["outbox-relay"]
    assert relay["command"] == ["python", "-m", "workers.outbox"]
    assert env_of(relay).get("AFTERSALES_OUTBOX_RELAY_IN_WORKER", "true") != "false"  # irrelevant there
    assert relay["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "container_name" not in relay and "ports" not in relay  # it scales like the worker


def test_worker_can_be_scaled(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker and "ports" not in worker


def test_app_environment_names_real_settings(compose: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    for name in ("api", "worker", "outbox-relay", "simulator", "migrate"):
        for key in env_of(compose["services"][name]):
            if key == "DATABASE_URL":
                continue
            assert key.startswith("AFTERSALES_"), key
            assert key.removeprefix("AFTERSALES_").lower() in fields, f"{name}: {key} is not a setting"


def test_ports_match_the_settings(compose: dict[str, Any]) -> None:
    api_env = env_of(compose["services"]["api"])
    assert (
        f"{api_env['AFTERSALES_API_PORT']}:{api_env['AFTERSALES_API_PORT']}"
        in compose["services"]["api"]["ports"]
    )
    sim_env = env_of(compose["services"]["simulator"])
    assert sim_env["AFTERSALES_PROVIDER_BASE_URL"].endswith(":" + sim_env["AFTERSALES_SIMULATOR_PORT"])


def test_ui_decodes_payloads_through_the_api_codec(compose: dict[str, Any]) -> None:
    ui = env_of(compose["services"]["temporal-ui"])
    assert ui["TEMPORAL_CODEC_ENDPOINT"].endswith("/codec")
    assert ui["TEMPORAL_CODEC_ENDPOINT"].startswith("http://localhost:")


def test_the_ui_sends_the_codec_sign_in_cookie_and_no_key(compose: dict[str, Any]) -> None:
    ui = env_of(compose["services"]["temporal-ui"])
    assert ui["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] == "true"
    assert ui["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8000/codec"  # exactly: no key in it
    api = env_of(compose["services"]["api"])
    assert "http://localhost:8080" in api["AFTERSALES_CODEC_CORS_ORIGINS"].split(",")  # the UI's origin


def test_keys_come_from_the_environment_never_from_the_file(compose: dict[str, Any]) -> None:
    for name in ("api", "worker", "migrate"):
        env = env_of(compose["services"][name])
        for key in ("AFTERSALES_CODEC_KEYS", "AFTERSALES_LOOKUP_HASH_KEY"):
            assert env[key].startswith("${" + key + ":?"), (
                f"{name}: {key} must be required from the environment"
            )
    for service in compose["services"].values():
        assert "ask_" not in " ".join(map(str, service.get("command", [])))


def test_setup_registers_every_search_attribute() -> None:
    script = (ROOT / "deploy" / "register-search-attributes.sh").read_text()
    registered = dict(re.findall(r"(\w+):(Keyword|Bool)", script))
    expected = {key.name: ("Bool" if key.name == "SlaBreached" else "Keyword") for key in ALL_KEYS}
    assert registered == expected


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    packages = ("domain", "store", "workflows", "activities", "workers", "api", "simulator", "core")
    for package in (*packages, "services", "cli"):
        assert f"COPY {package} " in dockerfile
