"""deploy/k8s: the kustomize base and the example overlay, validated without a cluster.

Every rendered document is checked against the Kubernetes API schemas (kubernetes-validate,
strict: unknown fields are errors), then against what the engine needs: the commands exist,
the probes answer, the grace periods cover a graceful stop, every secret and config
reference resolves, and the process model (2 schedulers, autoscaled workers, servers behind
a disruption budget) holds.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app, create_metrics_app
from tests.deploy.manifests import (
    BASE,
    K8S,
    OVERLAY,
    cli_command,
    engine_reads,
    settings_from_file,
)
from tests.deploy.render import Doc, containers, pod_spec, render, strip_name_hashes
from tests.deploy.shutdown_budget import stop_seconds

# The oldest Kubernetes the manifests promise to work on, and the newest the schemas know.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.utils.latest_version()]
ROLES = {"migrate", "worker", "scheduler", "server"}


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def component(doc: Doc) -> str:
    return str(doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"])


def workloads(docs: list[Doc]) -> dict[str, Doc]:
    """Each engine role's workload (Job or Deployment), by its component label."""
    return {component(d): d for d in docs if pod_spec(d) is not None}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector["matchLabels"].items())


@pytest.fixture(scope="module")
def base() -> list[Doc]:
    return render(BASE)


@pytest.fixture(scope="module")
def overlay() -> list[Doc]:
    return render(OVERLAY)


@pytest.fixture(params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> list[Doc]:
    docs: list[Doc] = request.getfixturevalue(request.param)
    return docs


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_every_document_is_valid_against_the_kubernetes_schemas(folder: Path, version: str) -> None:
    docs = render(folder)
    assert docs
    for doc in docs:
        where = f"{folder.name}: {doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{where} against {version}: {path}: {exc.message}")


def test_the_schema_check_refuses_a_misspelt_field(base: list[Doc]) -> None:
    server = yaml.safe_load(yaml.safe_dump(one(base, "Deployment", "campaign-engine-server")))
    server["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(server, KUBERNETES_VERSIONS[0], strict=True)


def test_the_base_has_each_engine_role_once(base: list[Doc]) -> None:
    roles = workloads(base)
    assert set(roles) == ROLES
    assert roles["migrate"]["kind"] == "Job"
    assert {roles[r]["kind"] for r in ROLES - {"migrate"}} == {"Deployment"}


def test_every_container_runs_a_real_campaign_engine_command(rendered: list[Doc]) -> None:
    expected = {
        "migrate": "upgrade",
        "worker": "worker",
        "scheduler": "scheduler",
        "server": "serve",
    }
    for role, doc in workloads(rendered).items():
        [container] = containers(doc)
        assert "command" not in container, "the image's entrypoint (tini) must stay PID 1"
        assert cli_command(container["args"]).name == expected[role], role


def test_migrations_run_as_a_job_that_is_not_restarted_in_place(base: list[Doc]) -> None:
    job = workloads(base)["migrate"]
    [container] = containers(job)

    assert container["args"] == ["db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1


def test_applying_the_migrate_phase_alone_gives_the_job_all_it_reads(overlay: list[Doc]) -> None:
    phase = [
        d
        for d in overlay
        if d["metadata"].get("labels", {}).get("campaign-engine/phase") == "migrate"
    ]
    names = {(d["kind"], d["metadata"]["name"]) for d in phase}
    [job] = [d for d in phase if d["kind"] == "Job"]
    spec = pod_spec(job)
    assert spec is not None
    secrets = {
        e["valueFrom"]["secretKeyRef"]["name"]
        for e in containers(job)[0]["env"]
        if "valueFrom" in e
    }

    assert {kind for kind, _ in names} == {"Namespace", "ConfigMap", "Secret", "Job"}
    assert {
        ("ConfigMap", v["configMap"]["name"]) for v in spec["volumes"] if "configMap" in v
    } <= names
    assert {("Secret", name) for name in secrets} <= names
    assert ("Namespace", job["metadata"]["namespace"]) in names


def test_schedulers_run_two_replicas_spread_over_nodes_with_a_disruption_budget(
    rendered: list[Doc],
) -> None:
    scheduler = workloads(rendered)["scheduler"]
    labels = scheduler["spec"]["template"]["metadata"]["labels"]

    assert scheduler["spec"]["replicas"] == 2
    [spread] = scheduler["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    budgets = [d for d in rendered if d["kind"] == "PodDisruptionBudget"]
    mine = [b for b in budgets if selects(b["spec"]["selector"], labels)]
    assert [b["spec"]["maxUnavailable"] for b in mine] == [1]


def test_the_autoscaler_drives_the_worker_deployment_from_the_queue_metric(
    rendered: list[Doc],
) -> None:
    worker = workloads(rendered)["worker"]
    [hpa] = [d for d in rendered if d["kind"] == "HorizontalPodAutoscaler"]
    target = hpa["spec"]["scaleTargetRef"]

    assert (target["apiVersion"], target["kind"], target["name"]) == (
        worker["apiVersion"],
        worker["kind"],
        worker["metadata"]["name"],
    )
    # A replica count in the Deployment would undo the autoscaler's at every apply.
    assert "replicas" not in worker["spec"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    [metric] = hpa["spec"]["metrics"]
    assert metric["external"]["metric"]["name"] == "campaign_engine_dial_queue_jobs"
    assert metric["external"]["target"]["type"] == "AverageValue"


def test_the_prometheus_adapter_rule_serves_the_metric_the_autoscaler_reads(
    base: list[Doc],
) -> None:
    [hpa] = [d for d in base if d["kind"] == "HorizontalPodAutoscaler"]
    name = hpa["spec"]["metrics"][0]["external"]["metric"]["name"]
    values = yaml.safe_load((K8S / "prometheus-adapter-rules.yaml").read_text())
    [rule] = values["rules"]["external"]

    assert rule["name"]["as"] == name
    assert rule["seriesQuery"].startswith(f"{name}{{")
    # Every server reports the same engine-wide queue: the max over pods, never their sum.
    assert rule["metricsQuery"].startswith("max(")


async def get(app: Any, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
        return await client.get(path)


async def test_the_server_probes_and_the_autoscaler_metric_are_served_by_the_app(
    base: list[Doc], runtime: Runtime
) -> None:
    server = workloads(base)["server"]
    [container] = containers(server)
    paths = {container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe")}
    readiness = container["readinessProbe"]["httpGet"]["path"]
    annotations = server["spec"]["template"]["metadata"]["annotations"]
    app = create_app(runtime)
    answers = {path: (await get(app, path)).status_code for path in {*paths, readiness}}
    scraped = await get(create_metrics_app(runtime), annotations["prometheus.io/path"])

    assert (paths, readiness) == ({"/healthz"}, "/readyz")
    assert answers == {"/healthz": 200, "/readyz": 200}
    assert "# TYPE campaign_engine_dial_queue_jobs gauge" in scraped.text


def test_prometheus_scrapes_the_metrics_listener_which_the_service_does_not_expose(
    rendered: list[Doc], tmp_path: Path
) -> None:
    server = workloads(rendered)["server"]
    [container] = containers(server)
    annotations = server["spec"]["template"]["metadata"]["annotations"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    [service] = [d for d in rendered if d["kind"] == "Service"]
    settings = settings_from_file(config_file(rendered), tmp_path)

    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == settings.server.metrics_port
    assert ports["metrics"] == settings.server.metrics_port
    assert settings.server.metrics_host == "0.0.0.0"
    assert {p["targetPort"] for p in service["spec"]["ports"]} == {"http"}


def test_servers_have_probes_on_their_port_and_a_budget_that_selects_only_them(
    rendered: list[Doc],
) -> None:
    roles = workloads(rendered)
    server = roles["server"]
    labels = server["spec"]["template"]["metadata"]["labels"]
    [container] = containers(server)
    ports = {port["name"] for port in container["ports"]}

    assert server["spec"]["replicas"] >= 2
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["port"] in ports, probe
    [budget] = [
        d
        for d in rendered
        if d["kind"] == "PodDisruptionBudget" and selects(d["spec"]["selector"], labels)
    ]
    assert budget["spec"]["maxUnavailable"] == 1
    others = [roles[r]["spec"]["template"]["metadata"]["labels"] for r in ROLES - {"server"}]
    assert not any(selects(budget["spec"]["selector"], other) for other in others)


def test_the_service_reaches_the_servers_on_the_port_the_config_listens_on(
    rendered: list[Doc], tmp_path: Path
) -> None:
    server = workloads(rendered)["server"]
    [container] = containers(server)
    [service] = [d for d in rendered if d["kind"] == "Service"]
    [port] = service["spec"]["ports"]
    [named] = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    settings = settings_from_file(config_file(rendered), tmp_path)

    labels = server["spec"]["template"]["metadata"]["labels"]
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    assert named["containerPort"] == settings.server.port
    assert settings.server.host == "0.0.0.0"


def config_file(docs: list[Doc]) -> str:
    [config_map] = [d for d in docs if d["kind"] == "ConfigMap"]
    [text] = config_map["data"].values()
    return str(text)


def test_the_grace_period_covers_each_process_s_graceful_stop(
    rendered: list[Doc], tmp_path: Path
) -> None:
    settings = settings_from_file(config_file(rendered), tmp_path)
    for role, doc in workloads(rendered).items():
        spec = pod_spec(doc)
        assert spec is not None
        [container] = containers(doc)
        pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("exec", {})
        pause = float(pre_stop["command"][1]) if pre_stop else 0.0
        needed = stop_seconds(settings, container["args"], pause)
        assert spec["terminationGracePeriodSeconds"] >= needed, (role, needed)


def test_the_grace_check_fails_a_worker_whose_config_waits_longer(tmp_path: Path) -> None:
    settings = settings_from_file("[dialer]\nmax_wait_seconds = 120.0\n", tmp_path)
    worker = workloads(render(BASE))["worker"]

    assert worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] < stop_seconds(
        settings, ["worker"]
    )


def test_the_grace_check_counts_the_supervisor_of_serve_workers(tmp_path: Path) -> None:
    settings = settings_from_file("", tmp_path)
    server = workloads(render(BASE))["server"]
    grace = server["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]

    assert grace >= stop_seconds(settings, ["serve"], 5)
    assert grace < stop_seconds(settings, ["serve", "--workers", "2"], 5)


def env_references(docs: list[Doc]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(role, variable, kind of source, the reference) for every env entry from elsewhere."""
    found = []
    for role, doc in workloads(docs).items():
        for container in containers(doc):
            for entry in container.get("env", []):
                source = entry.get("valueFrom", {})
                for kind in ("secretKeyRef", "configMapKeyRef"):
                    if kind in source:
                        found.append((role, entry["name"], kind, source[kind]))
            assert "envFrom" not in container, "name each variable: the engine reads few"
    return found


def test_every_secret_reference_names_a_key_the_example_secret_has(overlay: list[Doc]) -> None:
    references = env_references(overlay)
    secrets = {d["metadata"]["name"]: d["data"] for d in overlay if d["kind"] == "Secret"}

    assert references
    for role, variable, kind, ref in references:
        assert kind == "secretKeyRef", (role, variable)
        assert ref["key"] in secrets.get(ref["name"], {}), (role, variable, ref)
        # The variable carries the key of the same name: one spelling everywhere.
        assert ref["key"] == variable


def test_every_variable_and_secret_key_is_one_the_engine_reads(overlay: list[Doc]) -> None:
    [secret] = [d for d in overlay if d["kind"] == "Secret"]
    pods = workloads(overlay).values()
    names = {entry["name"] for d in pods for c in containers(d) for entry in c["env"]}

    assert not {n for n in names | set(secret["data"]) if not engine_reads(n)}
    example = base64.b64decode(secret["data"]["CAMPAIGN_ENGINE_DATABASE__URL"]).decode()
    assert example.startswith("postgresql+asyncpg://")


def test_each_process_gets_the_secrets_it_needs_to_start(overlay: list[Doc]) -> None:
    needs = {"CAMPAIGN_ENGINE_DATABASE__URL", "CAMPAIGN_ENGINE_REDIS__URL", "VOCOBASE_API_KEY"}
    for role, doc in workloads(overlay).items():
        names = {entry["name"] for c in containers(doc) for entry in c["env"]}
        required = {"CAMPAIGN_ENGINE_DATABASE__URL"} if role == "migrate" else needs
        if role == "server":
            required = required | {"VOCOBASE_WEBHOOK_SECRET"}
        assert required <= names, (role, required - names)
        assert "CAMPAIGN_ENGINE_NOTIFICATIONS__SECRET" in names, role


def test_the_config_file_is_mounted_where_campaign_engine_config_points(
    rendered: list[Doc], tmp_path: Path
) -> None:
    [config_map] = [d for d in rendered if d["kind"] == "ConfigMap"]
    for role, doc in workloads(rendered).items():
        spec = pod_spec(doc)
        assert spec is not None
        volumes = {v["name"]: v for v in spec["volumes"]}
        [container] = containers(doc)
        [config] = [e["value"] for e in container["env"] if e["name"] == "CAMPAIGN_ENGINE_CONFIG"]
        folder, _, file_name = config.rpartition("/")
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        assert volumes[mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"], role
        assert file_name in config_map["data"], role
    settings_from_file(config_file(rendered), tmp_path)  # the engine accepts the file


def test_pods_run_unprivileged_with_a_read_only_root_and_bounded_resources(
    rendered: list[Doc],
) -> None:
    for role, doc in workloads(rendered).items():
        spec = pod_spec(doc)
        assert spec is not None
        assert spec["securityContext"]["runAsNonRoot"] is True, role
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, role
        assert spec["automountServiceAccountToken"] is False, role
        # Service links would add <SERVICE>_PORT variables into the CAMPAIGN_ENGINE_ space.
        assert spec["enableServiceLinks"] is False, role
        mounted = {"/tmp"}
        for container in containers(doc):
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, role
            assert context["allowPrivilegeEscalation"] is False, role
            assert context["capabilities"]["drop"] == ["ALL"], role
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][bound]), (role, bound)
            assert mounted <= {m["mountPath"] for m in container["volumeMounts"]}, role


def test_the_overlay_sets_image_namespace_replicas_and_config(
    base: list[Doc], overlay: list[Doc]
) -> None:
    roles = workloads(overlay)

    assert {c["image"] for d in roles.values() for c in containers(d)} == {
        "registry.example.com/campaign-engine:0.1.0"
    }
    namespaced = [d for d in overlay if d["kind"] != "Namespace"]
    assert {d["metadata"].get("namespace") for d in namespaced} == {"campaign-engine"}
    assert roles["server"]["spec"]["replicas"] == 3
    [hpa] = [d for d in overlay if d["kind"] == "HorizontalPodAutoscaler"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert config_file(overlay) != config_file(base)
    assert config_file(overlay) == (OVERLAY / "campaign-engine.toml").read_text()


def test_the_ingress_exposes_webhooks_and_the_console_but_not_metrics(
    overlay: list[Doc],
) -> None:
    [ingress] = [d for d in overlay if d["kind"] == "Ingress"]
    [service] = [d for d in overlay if d["kind"] == "Service"]
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]

    assert {p["path"] for p in paths} == {"/webhooks/vocobase", "/ops", "/api"}
    assert {p["backend"]["service"]["name"] for p in paths} == {service["metadata"]["name"]}


def kustomize_binary() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.skipif(kustomize_binary() is None, reason="no kustomize or kubectl on this machine")
@pytest.mark.parametrize("folder", [BASE, OVERLAY], ids=["base", "overlay"])
def test_the_renderer_agrees_with_kustomize_itself(folder: Path) -> None:
    command = kustomize_binary()
    assert command is not None
    output = subprocess.run(
        [*command, str(folder)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    theirs = strip_name_hashes([d for d in yaml.safe_load_all(output) if d])

    def keyed(docs: list[Doc]) -> dict[tuple[str, str], Doc]:
        for doc in docs:  # kustomize wraps long base64 values over several lines
            if doc["kind"] == "Secret":
                doc["data"] = {k: base64.b64decode(v) for k, v in doc["data"].items()}
        return {(d["kind"], d["metadata"]["name"]): d for d in docs}

    assert keyed(theirs) == keyed(render(folder))
