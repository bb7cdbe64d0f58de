"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/k8s) agree with the application.

Every ``SETTLE_*`` name they set is a field of :class:`app.settings.Settings` and every value they
give parses as that setting; the ports are the settings' default port; the probes ask paths that
the app answers as a probe needs (readiness fails while the database is away, liveness does not);
the grace periods outlast the drain that ``python -m app serve`` asks uvicorn for; the commands are
subcommands of ``python -m app``; the Kubernetes objects select each other's pods; compose's
database URL reaches compose's database.  Nothing here needs Docker or a cluster: the YAML is
parsed with ``yaml.safe_load`` and the Dockerfile as text.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import sys
import urllib.request
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient
from packaging.specifiers import SpecifierSet
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from starlette.routing import Match

from app.db.session import reset_engine
from app.settings import Settings, get_settings
from tests.stress.harness import free_port
from tests.support.db import use_database

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "deploy" / "compose.yaml"
K8S = REPO / "deploy" / "k8s"
SECRET_TEMPLATE = K8S / "secret.template.yaml"
MANIFESTS = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")

ENV_PREFIX: str = Settings.model_config["env_prefix"]
SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
DEFAULT_PORT: int = Settings.model_fields["port"].default
APP_CLI = ["python", "-m", "app"]
SUBCOMMANDS = {"serve", "migrate"}
SETTLE_NAME = re.compile(r"\bSETTLE_[A-Z0-9_]+\b")
#: Compose's interpolation: ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}``.
COMPOSE_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


def env_name(field: str) -> str:
    assert field in Settings.model_fields, field
    return ENV_PREFIX + field.upper()


def secret_fields() -> set[str]:
    """The settings that hold a credential: typed ``SecretStr``, and the database URL (its password)."""
    typed = {name for name, f in Settings.model_fields.items() if SecretStr in (f.annotation, *_args(f.annotation))}
    return typed | {"database_url"}


def _args(annotation: Any) -> tuple[Any, ...]:
    return tuple(getattr(annotation, "__args__", ()))


def settings_from(env: Mapping[str, str]) -> Settings:
    """The settings that ``env`` (``SETTLE_*`` names, string values as a container gets them)
    makes, validated by :class:`Settings` itself; raises on a value it would refuse at start."""
    values = {name.removeprefix(ENV_PREFIX).lower(): value for name, value in env.items() if name in SETTING_NAMES}
    return Settings.model_validate(values)


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


def interpolate(value: str, shell: Mapping[str, str]) -> str:
    """``value`` as ``docker compose`` resolves it against the shell's variables ``shell``."""

    def one(match: re.Match[str]) -> str:
        name, kind, arg = match.groups()
        if shell.get(name):
            return shell[name]
        if kind == "?":
            raise LookupError(f"{name} is required: {arg}")
        return arg if kind == "-" else ""

    return COMPOSE_VARIABLE.sub(one, value)


def compose_env(name: str, shell: Mapping[str, str]) -> dict[str, str]:
    return {k: interpolate(v, shell) for k, v in env_map(service(name).get("environment")).items()}


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


#: The shell variables of a ``docker compose up`` as deploy/compose.yaml's header sets them.
COMPOSE_SHELL = {"POSTGRES_PASSWORD": "pg-password-0123", "SETTLE_ADMIN_TOKEN": "admin-token-0123"}


def test_credentials_are_in_the_secret_and_nothing_else_is() -> None:
    secrets = {env_name(f) for f in secret_fields()}
    names = configured_names()
    assert names["secret template"] == secrets, "every credential in the Secret, and only those"
    assert not names["configmap"] & secrets, "a credential in the ConfigMap"
    # The pods get both: the Deployment and the migration Job read the same objects, which exist.
    for obj in (deployment(), k8s("Job", "settle-migrate")):
        refs = {(kind, ref["name"]) for source in only_container(obj)["envFrom"] for kind, ref in source.items()}
        assert refs == {("configMapRef", "settle-config"), ("secretRef", "settle-secrets")}, obj["metadata"]


def test_configured_values_are_valid_settings() -> None:
    """Each file's values as the process would see them, validated by Settings (no value that
    the service would refuse at start, or read as something else)."""
    pod = {**k8s("ConfigMap", "settle-config")["data"], **k8s("Secret", "settle-secrets")["stringData"]}
    assert all(isinstance(v, str) for v in pod.values()), "ConfigMap and Secret values must be strings"
    image = {k: v for k, v in docker_env().items() if k in SETTING_NAMES}
    for env in (pod, image, compose_env("app", COMPOSE_SHELL), compose_env("migrate", COMPOSE_SHELL)):
        settings = settings_from(env)
        for name, value in env.items():
            got = getattr(settings, name.removeprefix(ENV_PREFIX).lower())
            shown = got.get_secret_value() if isinstance(got, SecretStr) else got
            assert str(shown).lower() == value.lower(), (name, value, shown)
    # In the image the service listens on every interface (a container's loopback is its own).
    assert settings_from(image).host == "0.0.0.0"
    assert settings_from({**image, **pod}).port == DEFAULT_PORT


def test_compose_needs_its_secrets_and_reaches_its_database() -> None:
    for missing in COMPOSE_SHELL:
        shell = {k: v for k, v in COMPOSE_SHELL.items() if k != missing}
        with pytest.raises(LookupError, match=missing):
            for name in ("db", "migrate", "app"):
                compose_env(name, shell)
    db = compose_env("db", COMPOSE_SHELL)
    app_env, migrate_env = compose_env("app", COMPOSE_SHELL), compose_env("migrate", COMPOSE_SHELL)
    # The migration migrates the database that the service then uses, the one compose runs.
    url_name = env_name("database_url")
    assert migrate_env[url_name] == app_env[url_name]
    url = make_url(app_env[url_name])
    assert url.get_dialect().name == "postgresql"  # and its driver is installed
    assert (url.host, url.port) == ("db", 5432) and "db" in compose()["services"]
    assert (url.username, url.password, url.database) == (
        db["POSTGRES_USER"],
        COMPOSE_SHELL["POSTGRES_PASSWORD"],
        db["POSTGRES_DB"],
    )
    assert settings_from(app_env).admin_token == SecretStr(COMPOSE_SHELL["SETTLE_ADMIN_TOKEN"])


# --- ports ---------------------------------------------------------------------------------


def test_ports_are_the_settings_default() -> None:
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


def healthcheck_url(monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL that the image's HEALTHCHECK asks, found by running its Python with the image's
    environment and ``urlopen`` replaced (slim has no curl: the check is ``python -c``)."""
    argv = healthcheck_argv()
    assert argv[:2] == ["python", "-c"], argv
    asked: list[str] = []

    def urlopen(url: str, *args: Any, **kwargs: Any) -> None:
        asked.append(url)

    for name, value in docker_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    exec(compile(argv[2], "HEALTHCHECK", "exec"), {})  # the Dockerfile's own command
    (url,) = asked
    return url


def probe_status(client: TestClient, path: str) -> int:
    return client.get(path).status_code


@pytest.fixture
def database_away(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The app pointed at a PostgreSQL that refuses connections (nothing listens on the port)."""
    use_database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/settle", monkeypatch)
    yield
    reset_engine()
    get_settings.cache_clear()


def test_probes_answer_while_the_database_is_up(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = importlib.import_module("app.main").create_app()
    with TestClient(app) as client:
        for probe, path in probe_paths().items():
            assert probe_status(client, path) == 200, probe
        url = urlsplit(healthcheck_url(monkeypatch))
        assert url.hostname == "127.0.0.1" and url.port == DEFAULT_PORT
        assert probe_status(client, url.path) == 200


def test_only_readiness_fails_while_the_database_is_away(database_away: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """An outage takes the pods out of the Service but does not get them restarted: liveness,
    the startup probe and the image's HEALTHCHECK do not ask the database."""
    paths = probe_paths()
    app = importlib.import_module("app.main").create_app()
    with TestClient(app) as client:
        assert probe_status(client, paths["readinessProbe"]) == 503
        assert probe_status(client, paths["livenessProbe"]) == 200
        assert probe_status(client, paths.get("startupProbe", paths["livenessProbe"])) == 200
        assert probe_status(client, urlsplit(healthcheck_url(monkeypatch)).path) == 200


def answers_get(app: Any, path: str) -> bool:
    """Whether one of the app's routes fully matches ``GET path``.

    Asked through ``route.matches`` rather than ``{r.path for r in app.routes}``: recent FastAPI
    keeps an included router as a single entry of ``app.routes`` with no ``path`` of its own.
    """
    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [], "query_string": b""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.routes)


def test_probed_paths_are_routes_of_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    # Needs app.main (the ASGI app); imported here so the rest of the module runs without it.
    app = importlib.import_module("app.main").app
    wanted = set(probe_paths().values()) | {urlsplit(healthcheck_url(monkeypatch)).path}
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


def base_images() -> set[str]:
    """The images the stages start FROM, with the Dockerfile's ARG defaults filled in."""
    args = dict(a.partition("=")[::2] for a in docker("ARG"))
    images = set()
    for line in docker("FROM"):
        image = line.split()[0]
        images.add(re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image))
    return images


def test_the_image_runs_the_python_that_ci_tests() -> None:
    (image,) = base_images()
    tag = re.fullmatch(r"python:(\d+)\.(\d+)[-.\w]*", image)
    assert tag, image
    version = f"{tag.group(1)}.{tag.group(2)}"
    pyproject = (REPO / "pyproject.toml").read_text()
    requires = re.search(r'^requires-python = "([^"]+)"', pyproject, re.MULTILINE)
    assert requires and version in SpecifierSet(requires.group(1)), (version, requires)
    # The locks are resolved for one Python (the Makefile's `make lock`); this suite runs on it too.
    assert f"--python-version {version}" in (REPO / "Makefile").read_text()
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_dockerfile_is_multi_stage_non_root_and_healthchecked() -> None:
    assert len(docker("FROM")) >= 2
    assert any(args.startswith("--from=") and "/opt/venv" in args for args in docker("COPY"))

    # Numeric, so that Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    user = image_user().split(":")[0]
    assert user.isdigit() and int(user) != 0, user
    assert len(docker("HEALTHCHECK")) == 1


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


@pytest.fixture
def drain_seconds(monkeypatch: pytest.MonkeyPatch) -> int:
    """How long ``python -m app serve`` lets uvicorn drain in-flight requests after SIGTERM,
    asked of the command itself (uvicorn.run replaced, so nothing is served)."""
    from app.__main__ import main

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.delenv(env_name("workers"), raising=False)
    get_settings.cache_clear()
    assert main(["serve"]) == 0
    get_settings.cache_clear()
    (kwargs,) = calls
    drain: int = kwargs["timeout_graceful_shutdown"]
    assert drain > 0
    return drain


def test_deployment(drain_seconds: int) -> None:
    dep = deployment()
    assert selects(dep["spec"]["selector"]["matchLabels"], template_labels(dep))
    container = only_container(dep)
    # The image that compose builds from this repository's Dockerfile.
    assert container["image"] == service("app")["image"]
    assert_hardened(dep)

    sleep = container["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep" and int(sleep[1]) > 0, sleep
    grace = pod_spec(dep)["terminationGracePeriodSeconds"]
    assert grace > int(sleep[1]) + drain_seconds, "SIGKILL must not cut the preStop sleep + uvicorn's drain short"


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
    assert (target["apiVersion"], target["kind"], target["name"]) == (dep["apiVersion"], "Deployment", "settle")
    assert 1 <= hpa["spec"]["minReplicas"] <= dep["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    # A utilization target is a share of the pods' CPU request: without one the HPA cannot scale.
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["type"] == "Utilization"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 100
    assert "cpu" in only_container(dep)["resources"]["requests"]

    pdb = k8s("PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] >= 1, "a node drain could take every pod at once"
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a node drain could never evict a pod"


# --- compose -------------------------------------------------------------------------------


def test_compose_order_and_shutdown(drain_seconds: int) -> None:
    db, migrate, app = service("db"), service("migrate"), service("app")
    assert db["image"].startswith("postgres:")
    assert any(str(v).startswith("pgdata:") for v in db["volumes"])
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])

    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["image"] == app["image"]
    assert app["build"]["context"] == ".."
    assert (COMPOSE.parent / app["build"]["context"] / app["build"].get("dockerfile", "Dockerfile")).is_file()
    assert seconds(app["stop_grace_period"]) > drain_seconds
