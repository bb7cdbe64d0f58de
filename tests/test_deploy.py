"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/k8s) agree with the application.

Every ``SETTLE_*`` name they set is a field of :class:`app.settings.Settings`, the ports are the
settings' default port, the probes hit routes the app has, the commands are subcommands of
``python -m app``, and the Kubernetes objects select each other's pods.  Nothing here needs
Docker or a cluster: the YAML is parsed with ``yaml.safe_load`` and the Dockerfile as text.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Match

from app.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
K8S = REPO / "deploy" / "k8s"
SECRET_TEMPLATE = K8S / "secret.template.yaml"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")

SETTING_NAMES = {"SETTLE_" + name.upper() for name in Settings.model_fields}
DEFAULT_PORT: int = Settings.model_fields["port"].default
APP_CLI = ["python", "-m", "app"]
SUBCOMMANDS = {"serve", "migrate"}
OPS_ROUTES = {"/healthz", "/readyz", "/metrics"}
SETTLE_NAME = re.compile(r"\bSETTLE_[A-Z0-9_]+\b")
#: uvicorn's ``timeout_graceful_shutdown`` in ``python -m app serve``: the longest drain after SIGTERM.
DRAIN_SECONDS = 30


# --- loading -------------------------------------------------------------------------------


def load_docs(path: Path) -> list[dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(d, dict) for d in docs), path
    return docs


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def service(name: str) -> dict[str, Any]:
    svc: dict[str, Any] = compose()["services"][name]
    return svc


@cache
def k8s_objects() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in load_docs(path)]


def k8s(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [o for o in k8s_objects() if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''} in {K8S}, found {len(found)}"
    return found[0]


def deployment() -> dict[str, Any]:
    return k8s("Deployment", "settle")


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def only_container(obj: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(obj)["containers"]
    assert len(containers) == 1, obj["metadata"]["name"]
    container: dict[str, Any] = containers[0]
    return container


def env_map(environment: Mapping[str, Any] | list[str] | None) -> dict[str, str]:
    """Compose ``environment`` in either syntax (mapping or ``KEY=value`` list)."""
    if environment is None:
        return {}
    if isinstance(environment, Mapping):
        return {str(k): str(v) for k, v in environment.items()}
    pairs = (item.partition("=") for item in environment)
    return {key: value for key, _, value in pairs}


@cache
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    assert not pending, "Dockerfile ends with a continuation line"
    return instructions


def docker(keyword: str) -> list[str]:
    return [args for kw, args in dockerfile() if kw == keyword]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in docker("ENV"):
        words = shlex.split(args)
        if "=" not in words[0]:  # legacy ``ENV KEY value``
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, sep, value = word.partition("=")
            assert sep, f"ENV {args!r}"
            env[key] = value
    return env


def exec_form(args: str) -> list[str]:
    argv = json.loads(args)
    assert isinstance(argv, list), args
    assert all(isinstance(a, str) for a in argv), args
    return argv


def app_subcommand(argv: list[str]) -> str:
    assert argv[: len(APP_CLI)] == APP_CLI, argv
    assert len(argv) == len(APP_CLI) + 1, argv
    return argv[-1]


def http_port(ref: int | str) -> int:
    """A probe's or Service's port: a number, or the name of the container port."""
    if isinstance(ref, int):
        return ref
    ports = {p["name"]: p["containerPort"] for p in only_container(deployment())["ports"]}
    port: int = ports[ref]
    return port


def seconds(duration: str | int) -> int:
    """A compose duration such as ``35s`` or ``1m30s``, in whole seconds."""
    if isinstance(duration, int):
        return duration
    parts = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert parts and duration, duration
    minutes, secs = (int(g or 0) for g in parts.groups())
    return 60 * minutes + secs


def selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def template_labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = obj["spec"]["template"]["metadata"]["labels"]
    return labels


# --- the files parse -----------------------------------------------------------------------


def test_compose_parses() -> None:
    assert {"db", "migrate", "app"} <= set(compose()["services"])
    assert "pgdata" in compose()["volumes"]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_k8s_manifest_parses(path: Path) -> None:
    for doc in load_docs(path):
        assert doc.get("apiVersion") and doc.get("kind"), path
        assert doc["metadata"]["name"], path


def test_k8s_layout() -> None:
    kinds = {o["kind"] for o in k8s_objects()}
    assert {
        "Deployment",
        "Service",
        "ConfigMap",
        "Secret",
        "Job",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    } <= kinds


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = load_docs(K8S / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    listed = kustomization["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in MANIFESTS} - {SECRET_TEMPLATE.name}


# --- configuration names -------------------------------------------------------------------


def configured_names() -> dict[str, set[str]]:
    """Every SETTLE_* name each file sets (as a key) or mentions (anywhere in its text)."""
    names: dict[str, set[str]] = {}
    for svc_name, svc in compose()["services"].items():
        keys = {k for k in env_map(svc.get("environment")) if k.startswith("SETTLE_")}
        names[f"compose:{svc_name}"] = keys
    names["compose (text)"] = set(SETTLE_NAME.findall(COMPOSE.read_text()))
    names["configmap"] = set(k8s("ConfigMap", "settle-config")["data"])
    names["secret template"] = set(k8s("Secret", "settle-secrets")["stringData"])
    for path in MANIFESTS:
        names[f"{path.name} (text)"] = set(SETTLE_NAME.findall(path.read_text()))
    names["Dockerfile ENV"] = {k for k in docker_env() if k.startswith("SETTLE_")}
    names["Dockerfile (text)"] = set(SETTLE_NAME.findall(DOCKERFILE.read_text()))
    return names


def test_every_configured_name_is_a_setting() -> None:
    unknown = {where: sorted(found - SETTING_NAMES) for where, found in configured_names().items()}
    assert not {where: bad for where, bad in unknown.items() if bad}, f"not fields of Settings: {unknown}"


def test_configuration_is_where_it_belongs() -> None:
    names = configured_names()
    assert names["configmap"] >= {
        "SETTLE_WORKERS",
        "SETTLE_DB_POOL_SIZE",
        "SETTLE_DB_MAX_OVERFLOW",
        "SETTLE_LOG_LEVEL",
        "SETTLE_LOG_JSON",
    }
    assert names["secret template"] == {"SETTLE_DATABASE_URL", "SETTLE_ADMIN_TOKEN"}
    assert not names["configmap"] & names["secret template"]
    assert {"SETTLE_DATABASE_URL", "SETTLE_ADMIN_TOKEN", "SETTLE_WORKERS"} <= names["compose:app"]
    assert "SETTLE_DATABASE_URL" in names["compose:migrate"]
    assert all(isinstance(v, str) for v in k8s("ConfigMap", "settle-config")["data"].values())


def test_compose_secrets_are_required_not_defaulted() -> None:
    db_env = env_map(service("db")["environment"])
    app_env = env_map(service("app")["environment"])
    assert db_env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert app_env["SETTLE_ADMIN_TOKEN"].startswith("${SETTLE_ADMIN_TOKEN:?")
    for svc in ("app", "migrate"):
        url = env_map(service(svc)["environment"])["SETTLE_DATABASE_URL"]
        assert url.startswith("postgresql+psycopg://"), url
        assert "${POSTGRES_PASSWORD" in url and "@db:5432/" in url, url


def test_image_serves_on_all_interfaces() -> None:
    env = docker_env()
    assert env["SETTLE_HOST"] == "0.0.0.0"
    assert int(env["SETTLE_WORKERS"]) >= 1


# --- ports ---------------------------------------------------------------------------------


def test_ports_are_the_settings_default() -> None:
    assert DEFAULT_PORT == 8000
    assert int(docker_env()["SETTLE_PORT"]) == DEFAULT_PORT
    exposed = {int(word.split("/")[0]) for args in docker("EXPOSE") for word in args.split()}
    assert exposed == {DEFAULT_PORT}

    published = service("app")["ports"]
    assert published, "compose app publishes no port"
    for entry in published:
        target = entry["target"] if isinstance(entry, Mapping) else str(entry).split(":")[-1].split("/")[0]
        assert int(target) == DEFAULT_PORT, entry

    ports = only_container(deployment())["ports"]
    assert [(p["name"], p["containerPort"]) for p in ports] == [("http", DEFAULT_PORT)]

    svc = k8s("Service", "settle")
    assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert [(p["port"], http_port(p["targetPort"])) for p in svc["spec"]["ports"]] == [(80, DEFAULT_PORT)]


# --- probes and routes ---------------------------------------------------------------------


def probe_paths() -> dict[str, str]:
    container = only_container(deployment())
    paths: dict[str, str] = {}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe in container:
            get = container[probe]["httpGet"]
            assert http_port(get["port"]) == DEFAULT_PORT, probe
            paths[probe] = get["path"]
    return paths


def healthcheck_argv() -> list[str]:
    (args,) = docker("HEALTHCHECK")
    _, _, command = args.partition("CMD ")
    return exec_form(command.strip())


def test_probe_paths() -> None:
    paths = probe_paths()
    assert paths["readinessProbe"] == "/readyz"
    assert paths["livenessProbe"] == "/healthz"
    assert paths.get("startupProbe", "/healthz") == "/healthz"


def test_dockerfile_healthcheck_asks_healthz_with_urllib() -> None:
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"], argv
    assert "urllib" in argv[2] and "/healthz" in argv[2], argv


def answers_get(app: Any, path: str) -> bool:
    """Whether one of the app's routes fully matches ``GET path``.

    Asked through ``route.matches`` rather than ``{r.path for r in app.routes}``: recent FastAPI
    keeps an included router as a single entry of ``app.routes`` with no ``path`` of its own.
    """
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


def test_probed_paths_are_routes_of_the_app() -> None:
    # Needs app.main (the ASGI app); imported here so the rest of the module runs without it.
    app = importlib.import_module("app.main").app
    wanted = OPS_ROUTES | set(probe_paths().values()) | {"/healthz"}
    missing = sorted(path for path in wanted if not answers_get(app, path))
    assert not missing, f"missing GET routes: {missing}"


# --- commands ------------------------------------------------------------------------------


def used_subcommands() -> dict[str, str]:
    (cmd,) = docker("CMD")
    used = {"Dockerfile CMD": app_subcommand(exec_form(cmd))}
    used["compose migrate"] = app_subcommand(service("migrate")["command"])
    if "command" in service("app"):
        used["compose app"] = app_subcommand(service("app")["command"])
    job = only_container(k8s("Job", "settle-migrate"))
    used["migrate Job"] = app_subcommand(job.get("command", []) + job.get("args", []))
    container = only_container(deployment())
    if "command" in container or "args" in container:
        used["Deployment"] = app_subcommand(container.get("command", []) + container.get("args", []))
    return used


def test_commands_are_app_subcommands() -> None:
    used = used_subcommands()
    assert set(used.values()) <= SUBCOMMANDS, used
    assert used["Dockerfile CMD"] == "serve"
    assert used["compose migrate"] == "migrate"
    assert used["migrate Job"] == "migrate"
    assert used.get("compose app", "serve") == "serve"
    assert used.get("Deployment", "serve") == "serve"


def test_subcommands_exist_in_the_cli() -> None:
    # Needs app.__main__ with a COMMANDS mapping of subcommand name -> handler.
    cli = importlib.import_module("app.__main__")
    commands = cli.COMMANDS
    assert isinstance(commands, Mapping)
    assert SUBCOMMANDS | set(used_subcommands().values()) <= set(commands)


# --- the image -----------------------------------------------------------------------------


def image_user() -> str:
    stages = [i for i, (kw, _) in enumerate(dockerfile()) if kw == "FROM"]
    users = [args for i, (kw, args) in enumerate(dockerfile()) if kw == "USER" and i > stages[-1]]
    assert users, "the final stage sets no USER"
    return users[-1]


def test_dockerfile_is_multi_stage_non_root_and_healthchecked() -> None:
    froms = docker("FROM")
    assert len(froms) >= 2
    assert all("python:3.11-slim" in args or "${PYTHON_IMAGE}" in args for args in froms), froms
    assert any("python:3.11-slim" in args for args in docker("ARG") + froms)
    assert any(args.startswith("--from=") and "/opt/venv" in args for args in docker("COPY"))

    user = image_user().split(":")[0]
    assert user not in {"root", "0"}
    assert int(user) == 10001
    assert len(docker("HEALTHCHECK")) == 1
    assert "/healthz" in docker("HEALTHCHECK")[0]


def test_dockerfile_does_not_migrate_at_start() -> None:
    (cmd,) = docker("CMD")
    assert "migrate" not in cmd
    assert not docker("ENTRYPOINT")


# --- Kubernetes ----------------------------------------------------------------------------


def assert_hardened(obj: dict[str, Any]) -> None:
    pod = pod_spec(obj).get("securityContext", {})
    container = only_container(obj)
    ctx = container["securityContext"]
    assert ctx.get("runAsNonRoot", pod.get("runAsNonRoot")) is True
    assert ctx.get("runAsUser", pod.get("runAsUser")) == int(image_user().split(":")[0])
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert ctx["capabilities"]["drop"] == ["ALL"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    tmp = [m for m in container.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    assert tmp, "read-only root filesystem needs a writable /tmp"
    volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
    assert "emptyDir" in volumes[tmp[0]["name"]]
    refs = {(k, v["name"]) for source in container["envFrom"] for k, v in source.items()}
    assert refs == {("configMapRef", "settle-config"), ("secretRef", "settle-secrets")}


def test_deployment() -> None:
    dep = deployment()
    assert dep["spec"]["replicas"] == 3
    assert selects(dep["spec"]["selector"]["matchLabels"], template_labels(dep))
    container = only_container(dep)
    assert container["image"] == "settle:latest"
    assert_hardened(dep)

    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0, sleep
    grace = pod_spec(dep)["terminationGracePeriodSeconds"]
    assert grace > int(sleep[1]) + DRAIN_SECONDS, "SIGKILL must not cut the preStop sleep + uvicorn's drain short"


def test_migrate_job() -> None:
    job = k8s("Job", "settle-migrate")
    assert job["spec"]["backoffLimit"] >= 1
    assert pod_spec(job)["restartPolicy"] in {"Never", "OnFailure"}
    assert only_container(job)["image"] == only_container(deployment())["image"]
    assert_hardened(job)
    # The migration pod must not count as a serving replica.
    api = k8s("Service", "settle")["spec"]["selector"]
    assert not selects(api, template_labels(job))
    assert not selects(k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], template_labels(job))


def test_service_hpa_and_pdb_select_the_deployment() -> None:
    dep = deployment()
    labels = template_labels(dep)
    assert selects(k8s("Service", "settle")["spec"]["selector"], labels)
    assert selects(k8s("PodDisruptionBudget")["spec"]["selector"]["matchLabels"], labels)

    hpa = k8s("HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == ("apps/v1", "Deployment", "settle")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    assert hpa["spec"]["minReplicas"] <= dep["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = k8s("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 2
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a node drain could never evict a pod"


# --- compose -------------------------------------------------------------------------------


def test_compose_order_and_shutdown() -> None:
    db, migrate, app = service("db"), service("migrate"), service("app")
    assert db["image"] == "postgres:16"
    assert any(str(v).startswith("pgdata:") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["image"] == app["image"]
    assert app["build"]["context"] == ".."
    assert (COMPOSE.parent / app["build"]["context"] / app["build"].get("dockerfile", "Dockerfile")).is_file()
    assert seconds(app["stop_grace_period"]) > DRAIN_SECONDS
