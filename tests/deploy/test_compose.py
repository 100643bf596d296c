"""deploy/docker-compose.yml runs the Kubernetes shape on one Docker host: checked without
Docker (CI has no engine) by reading the file as compose would."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.manifests import BASE, COMPOSE, DEPLOY, cli_command, engine_reads
from tests.deploy.manifests import settings_from_file as settings_from
from tests.deploy.render import containers, pod_spec, render
from tests.deploy.shutdown_budget import stop_seconds

ENGINE = ("migrate", "server", "scheduler", "worker")
LONG_RUNNING = ("server", "scheduler", "worker")


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    # PyYAML's safe loader resolves the `<<: *engine` merge keys as compose does.
    compose = yaml.safe_load(COMPOSE.read_text())
    found: dict[str, Any] = compose["services"]
    return found


def kubernetes_args() -> dict[str, list[str]]:
    """Each role's container args in the Kubernetes base."""
    args = {}
    for doc in render(BASE):
        if pod_spec(doc) is not None:
            role = doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
            [container] = containers(doc)
            args[role] = container["args"]
    return args


def seconds(duration: str) -> float:
    """A compose duration such as ``1m30s`` or ``45s``, in seconds."""
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, f"not a compose duration: {duration!r}"
    minutes, secs = (int(part or 0) for part in parts.groups())
    return minutes * 60.0 + secs


def mounted_config(service: dict[str, Any]) -> Path:
    """The host file mounted where CAMPAIGN_ENGINE_CONFIG points."""
    target = service["environment"]["CAMPAIGN_ENGINE_CONFIG"]
    [source] = [
        volume.split(":")[0] for volume in service["volumes"] if volume.split(":")[1] == target
    ]
    return (COMPOSE.parent / source).resolve()


def test_compose_runs_the_same_engine_commands_as_the_kubernetes_base(
    services: dict[str, Any],
) -> None:
    expected = kubernetes_args()

    assert set(expected) == set(ENGINE)
    for role in ENGINE:
        assert services[role]["command"] == expected[role], role
        cli_command(services[role]["command"])


def test_migrations_run_once_after_the_databases_and_before_every_process(
    services: dict[str, Any],
) -> None:
    migrate = services["migrate"]

    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    assert {"postgres", "redis"} <= set(services)
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    for role in LONG_RUNNING:
        condition = services[role]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", role


def test_compose_runs_several_of_each_process_and_two_schedulers(
    services: dict[str, Any],
) -> None:
    replicas = {role: services[role]["deploy"]["replicas"] for role in LONG_RUNNING}

    assert replicas["scheduler"] == 2
    assert replicas["server"] >= 2
    assert replicas["worker"] >= 2


def test_stop_grace_periods_cover_each_process_s_graceful_stop(
    services: dict[str, Any], tmp_path: Path
) -> None:
    settings = settings_from(mounted_config(services["worker"]).read_text(), tmp_path)
    for role in LONG_RUNNING:
        command = services[role]["command"]
        assert seconds(services[role]["stop_grace_period"]) >= stop_seconds(settings, command)


def test_every_engine_container_reads_the_kubernetes_config_file(
    services: dict[str, Any], tmp_path: Path
) -> None:
    for role in ENGINE:
        assert mounted_config(services[role]) == (BASE / "campaign-engine.toml").resolve(), role
    settings = settings_from(mounted_config(services["server"]).read_text(), tmp_path)
    assert settings.server.host == "0.0.0.0"


def test_engine_containers_run_read_only_with_a_writable_tmp(services: dict[str, Any]) -> None:
    for role in ENGINE:
        assert services[role]["read_only"] is True, role
        assert "/tmp" in services[role]["tmpfs"], role


def env_file_keys(path: Path) -> set[str]:
    lines = path.read_text().splitlines()
    return {line.partition("=")[0] for line in lines if line and not line.startswith("#")}


def test_environment_names_are_ones_the_engine_reads(services: dict[str, Any]) -> None:
    secret_keys = env_file_keys(DEPLOY / "k8s" / "overlays" / "example" / "secrets.example.env")
    example = env_file_keys(DEPLOY / "env.example")

    for role in ENGINE:
        service = services[role]
        assert service["env_file"] == [".env"], role
        assert all(engine_reads(name) for name in service["environment"]), role
    assert example and all(engine_reads(name) for name in example)
    # The same names as the Kubernetes Secret's keys (less what compose sets itself).
    assert example <= secret_keys
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()


def test_the_proxy_balances_the_servers_once_they_are_ready(
    services: dict[str, Any], tmp_path: Path
) -> None:
    proxy = services["proxy"]
    settings = settings_from(mounted_config(services["server"]).read_text(), tmp_path)
    [conf] = [v.split(":")[0] for v in proxy["volumes"] if "/etc/nginx/conf.d/" in v]
    forwards = re.findall(r"set \$servers (\S+):(\d+);", (DEPLOY / conf).read_text())

    assert proxy["depends_on"] == {"server": {"condition": "service_healthy"}}
    assert "/readyz" in " ".join(services["server"]["healthcheck"]["test"])
    assert forwards == [("server", str(settings.server.port))]
    assert "ports" not in services["server"], "servers are reached through the proxy"
