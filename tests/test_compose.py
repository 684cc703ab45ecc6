"""docker-compose.yml and the Dockerfile, checked without Docker: the services the stack needs,
one shared JWT secret and executor across the Airflow services, host mounts that exist, the
image installing exactly what uv.lock pins plus the project's wheel (not its source tree), and no
real-looking secret anywhere in the repo.

Deployment defaults (issue 15): no secret has a default (compose refuses to start without each),
every published port listens on 127.0.0.1 unless the operator opts in, and the MinIO policies
minio-init gives its users are evaluated: the stakeholders' reads the site only, the tasks' allows
every S3 call a real refresh makes and never a delete in the version store."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.test_wheel import find_uv

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
MINIO_INIT = REPO / "deploy" / "minio"
POLICIES = {role: MINIO_INIT / f"{role}.json" for role in ("cjm-tasks", "cjm-reader", "cjm-sample-data")}
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}
NEEDED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init"}
LONG_RUNNING = NEEDED_SERVICES - {"airflow-init", "minio-init"}
# ${NAME:?message}: compose refuses to start while it is unset or empty.
REQUIRED = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
# Named like a credential: a password, secret, key (key ids too) or MinIO's root user.
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|KEY|PRIVATE|ROOT_USER")
# MinIO's well-known default login, which the stack once fell back to.
KNOWN_DEFAULT_CREDENTIAL = "minio" + "admin"


@pytest.fixture(scope="module")
def compose() -> dict:
    # safe_load resolves the anchors and `<<` merge keys the way docker compose does.
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def test_every_needed_service_exists(services: dict):
    assert NEEDED_SERVICES <= set(services), sorted(NEEDED_SERVICES - set(services))


def test_airflow_services_share_one_jwt_secret_executor_and_image(compose: dict, services: dict):
    envs = {name: services[name]["environment"] for name in AIRFLOW_SERVICES}
    secrets = {env.get("AIRFLOW__API_AUTH__JWT_SECRET") for env in envs.values()}
    assert len(secrets) == 1 and None not in secrets, secrets
    assert REQUIRED.match(secrets.pop()), "the JWT secret must come from the environment / .env, without a default"
    assert {env.get("AIRFLOW__CORE__EXECUTOR") for env in envs.values()} == {"CeleryExecutor"}
    assert {env.get("AIRFLOW__CORE__EXECUTION_API_SERVER_URL") for env in envs.values()} == {"http://airflow-apiserver:8080/execution/"}
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL", "AIRFLOW__CELERY__RESULT_BACKEND"):
        values = {env.get(key) for env in envs.values()}
        assert len(values) == 1 and None not in values, (key, values)
    assert "@postgres/" in envs["airflow-scheduler"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert envs["airflow-scheduler"]["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "SimpleAuthManager" in envs["airflow-apiserver"]["AIRFLOW__CORE__AUTH_MANAGER"]
    assert {(services[name]["image"], services[name]["build"]) for name in AIRFLOW_SERVICES} == {(compose["x-airflow-common"]["image"], ".")}
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES}
    assert commands["airflow-apiserver"] == "api-server" and commands["airflow-worker"] == "celery worker"
    assert commands["airflow-scheduler"] == "scheduler" and commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"


def test_reports_and_workspace_live_in_minio(services: dict):
    env = services["airflow-worker"]["environment"]
    for key, prefix in (("CJM_WORK_LOCATION", "work"), ("CJM_STORE_LOCATION", "store"), ("CJM_SITE_LOCATION", "site"),
                        ("CJM_SAMPLE_DATA", "sample-data")):
        assert re.fullmatch(r"\$\{%s:-s3://cjm/%s\}" % (key, prefix), env[key]), (key, env[key])
    assert "http://minio:9000" in env["CJM_S3_ENDPOINT_URL"]
    # Empty unless set: the configuration bundled in the wheel (configs/cjm.yaml as package data).
    assert env["CJM_CONFIG"] == "${CJM_CONFIG:-}"
    assert "mc mb --ignore-existing local/cjm" in (MINIO_INIT / "init.sh").read_text(encoding="utf-8")
    assert "cjm sample-data" in services["cjm-sample-data"]["command"][-1]


def test_the_worker_scales_and_waits_for_its_dependencies(services: dict):
    worker = services["airflow-worker"]
    # --scale airflow-worker=3 needs replicas without a fixed name or host port.
    assert "container_name" not in worker and "ports" not in worker
    assert {"redis", "postgres", "airflow-apiserver", "airflow-init", "minio-init"} <= set(worker["depends_on"])
    assert worker["environment"]["DUMB_INIT_SETSID"] == "0"  # warm shutdown: running tasks finish


def test_long_running_services_have_healthchecks(services: dict):
    missing = sorted(name for name in LONG_RUNNING if "test" not in services[name].get("healthcheck", {}))
    assert not missing, missing


def test_every_mounted_host_path_exists_and_the_dags_are_mounted(compose: dict, services: dict):
    named = set(compose.get("volumes") or {})
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
            if source.startswith((".", "/", "~", "$")):
                assert (REPO / source).exists(), (name, volume)
            else:
                assert source in named, f"{name}: volume {source!r} is not declared under volumes:"
    for name in AIRFLOW_SERVICES:
        sources = {v.split(":")[0] for v in services[name]["volumes"]}
        assert "./dags" in sources, name
        # The installed wheel carries them; a mount beside the package would be ignored (or stale).
        assert not {"./configs", "./templates", "./cjm_tasks"} & sources, name


def test_no_secret_is_written_into_the_compose_file(services: dict):
    for name, service in services.items():
        env = service.get("environment") or {}
        for key, value in env.items():
            value = str(value)
            if SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert REQUIRED.match(value), f"{name}: {key} must come from the environment (${{{key}:?...}}), not {value!r}"
            for password in re.findall(r"://[^:/@\s]*:([^@]*)@", value):
                assert not password or REQUIRED.match(password), f"{name}: {key} embeds a password that is not a required variable"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in lines]


def _export_command() -> list[str]:
    """The `uv export ...` the Dockerfile runs, without its output option (stdout instead)."""
    for op, rest in _dockerfile_instructions():
        if op == "RUN" and "uv export" in rest:
            words = shlex.split(rest[rest.index("uv export"):].split("&&")[0])
            out = [w for i, w in enumerate(words) if w not in ("--output-file", "-o") and words[i - 1] not in ("--output-file", "-o")]
            return out[1:]
    pytest.fail("the Dockerfile runs no `uv export`")


def _uv() -> list[str]:
    return find_uv() or pytest.fail("uv is not installed: `make uv` installs it")


def _stages() -> list[tuple[str, list[tuple[str, str]]]]:
    """The Dockerfile's build stages: each FROM line's argument and the instructions under it."""
    stages: list[tuple[str, list[tuple[str, str]]]] = []
    for op, rest in _dockerfile_instructions():
        if op == "FROM":
            stages.append((rest, []))
        elif stages:
            stages[-1][1].append((op, rest))
    return stages


def test_dockerfile_builds_on_the_official_image_and_installs_the_lock():
    instructions = _dockerfile_instructions()
    args = dict(rest.split("=", 1) for op, rest in instructions if op == "ARG" and "=" in rest)
    assert args["AIRFLOW_IMAGE"] == "apache/airflow:3.3.2-python3.11"
    stages = [rest for op, rest in instructions if op == "FROM"]
    assert stages[-1] == "${AIRFLOW_IMAGE}", "the final image is the official Airflow image"
    export_at = next(i for i, (op, rest) in enumerate(instructions) if op == "RUN" and "uv export" in rest)
    copied_before = " ".join(rest for op, rest in instructions[:export_at] if op == "COPY")
    assert "uv.lock" in copied_before and "pyproject.toml" in copied_before
    assert "cjm_tasks" not in copied_before, "the lock layer must not depend on the code (cache)"
    export = _export_command()
    assert export[:1] == ["export"] and {"--frozen", "--no-dev", "--no-emit-project", "--extra"} <= set(export)
    installs = [rest for op, rest in instructions if op == "RUN" and "pip install" in rest]
    assert any("-r /requirements.txt" in rest for rest in installs), installs


def test_the_image_installs_the_wheel_a_builder_stage_builds_not_the_source_tree():
    stages = _stages()
    builders = [(head, body) for head, body in stages[:-1] if any(op == "RUN" and "uv build --wheel" in rest for op, rest in body)]
    assert len(builders) == 1, "one builder stage runs `uv build --wheel`"
    head, body = builders[0]
    stage = head.split()[-1]
    assert head.split()[-2].upper() == "AS", head
    # The builder copies what the wheel packages: pyproject.toml's packages and force-included folders.
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = {word.rstrip("/") for op, rest in body if op == "COPY" for word in rest.split()[:-1] if not word.startswith("--")}
    needed = {"pyproject.toml", "README.md", *wheel["packages"], *wheel["force-include"]}
    assert needed <= copied, f"the builder stage does not copy {sorted(needed - copied)}"
    assert {"configs", "templates"} <= set(wheel["force-include"]) and all((REPO / part).exists() for part in needed)
    final = stages[-1][1]
    project = [rest for op, rest in final if op == "RUN" and "pip install" in rest and ".whl" in rest]
    assert len(project) == 1 and f"from={stage}" in project[0], "the final image installs the wheel from the builder stage"
    assert "--no-deps" in project[0] and "--editable" not in project[0], "the wheel goes in without dependencies (the lock has them)"
    final_copies = " ".join(rest for op, rest in final if op == "COPY")
    assert "dags" in final_copies
    assert not re.search(r"(^|\s)(cjm_tasks|cjm_demo|configs|templates|pyproject\.toml)\b", final_copies), \
        "the final image holds the wheel's install, not the source tree"
    assert not any(op == "ENV" and "/opt/cjm" in rest for op, rest in final), "no configuration path into a source tree"


def test_the_dockerfile_export_of_the_lock_succeeds_here(tmp_path: Path):
    # Only what the Dockerfile copies into its lock stage: pyproject.toml and uv.lock.
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    result = subprocess.run([*_uv(), *_export_command()], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    pins = {m.group(1).lower().replace("_", "-"): m.group(2) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", result.stdout, re.M)}
    assert pins.get("apache-airflow") == "3.3.2"
    assert {"apache-airflow-providers-celery", "apache-airflow-providers-postgres", "celery", "redis", "psycopg2-binary"} <= set(pins)
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for requirement in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
        assert name in pins, f"{name} (a dependency in pyproject.toml) is missing from the export"
    assert not {"pytest", "moto", "selenium"} & set(pins), "dev dependencies do not belong in the image"
    assert "cjm" not in pins and not re.search(r"^(-e |\.)", result.stdout, re.M), "the project is installed separately"


def check_celery_executor_imports(env: dict[str, str] | None = None) -> None:
    """Fail, naming both versions, when the installed Celery and Airflow's Celery provider do not
    work together: the scheduler and every worker would die on start. The venv is synced from
    uv.lock (`make install`), so this speaks for the image too."""
    code = ("import importlib.metadata as m; print('celery', m.version('celery'), 'and apache-airflow-providers-celery', "
            "m.version('apache-airflow-providers-celery'), flush=True); import airflow.providers.celery.executors.celery_executor")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 0, (f"the CeleryExecutor cannot start with {result.stdout.strip()} from uv.lock: "
                                    f"{errors[-1] if errors else result.returncode}")


def test_the_locked_packages_run_the_celery_executor(tmp_path: Path):
    import os

    check_celery_executor_imports({**os.environ, "AIRFLOW_HOME": str(tmp_path)})


SKIP_DIRS = {".git", ".venv", "venv", "build", "node_modules", "__pycache__", ".pytest_cache", "test-artifacts", ".mypy_cache", ".ruff_cache"}
SECRET_PATTERNS = {
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"),
    "private key": re.compile("-----BEGIN ([A-Z]+ )?" + "PRIVATE KEY-----"),
    "AWS secret access key": re.compile(r"aws_secret_access_key\s*[=:]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])", re.I),
}


def _repo_files():
    for path in REPO.rglob("*"):
        if path.is_file() and not SKIP_DIRS & set(path.relative_to(REPO).parts[:-1]) and path.stat().st_size < 5_000_000:
            yield path


def test_no_real_looking_secret_in_the_repo():
    found = []
    for path in _repo_files():
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found += [f"{path.relative_to(REPO)}: {kind}" for kind, pattern in SECRET_PATTERNS.items() if pattern.search(text)]
    assert not found, found


# --- Deployment defaults: secrets, published ports, MinIO users and policies (issue 15) ---------

class MissingVariable(Exception):
    """What `docker compose` reports for ${NAME:?message} while NAME is unset (or empty)."""


# $$ (a literal $ for the container's shell), ${NAME}, ${NAME<op><arg>} (one level of nesting in
# arg) and $NAME: compose's interpolation syntax.
_VARIABLE = re.compile(r"\$(?:(?P<dollar>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>(?:[^{}]|\{[^{}]*\})*))?\}"
                       r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def interpolate(value: str, env: dict[str, str]) -> str:
    """``value`` with its variables replaced from ``env`` the way docker compose does it."""
    def one(match: re.Match) -> str:
        if match["dollar"]:
            return "$"
        name = match["name"] or match["bare"]
        op, arg = match["op"], interpolate(match["arg"] or "", env)
        unset, empty = name not in env, not env.get(name)
        if op in (":?", "?") and (unset or (op == ":?" and empty)):
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and (unset or (op == ":-" and empty)):
            return arg
        if op in (":+", "+"):
            return "" if unset or (op == ":+" and empty) else arg
        return env.get(name, "")
    return _VARIABLE.sub(one, value)


def resolve(node, env: dict[str, str]):
    """The parsed compose file with every string interpolated (compose interpolates values, not keys)."""
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(value, env) for value in node]
    return interpolate(node, env) if isinstance(node, str) else node


def _variables(node) -> dict[str, set[str]]:
    """Every variable the compose file reads: name -> the operators it is read with ('' for none)."""
    found: dict[str, set[str]] = {}
    texts = [node] if isinstance(node, str) else []
    if isinstance(node, (dict, list)):
        for child in (node.values() if isinstance(node, dict) else node):
            for name, ops in _variables(child).items():
                found.setdefault(name, set()).update(ops)
    for text in texts:
        for match in _VARIABLE.finditer(text):
            if not match["dollar"]:
                found.setdefault(match["name"] or match["bare"], set()).add(match["op"] or "")
                for name, ops in _variables(match["arg"] or "").items():
                    found.setdefault(name, set()).update(ops)
    return found


@pytest.fixture(scope="module")
def variables(compose: dict) -> dict[str, set[str]]:
    return _variables(compose)


@pytest.fixture(scope="module")
def required(variables: dict[str, set[str]]) -> set[str]:
    return {name for name, ops in variables.items() if ops == {":?"}}


def _filled(names) -> dict[str, str]:
    return {name: f"value-of-{name.lower()}" for name in names}


def test_no_secret_has_a_default_and_compose_refuses_to_start_without_one(compose: dict, variables: dict, required: set):
    secrets = {name for name in variables if SECRET_NAME.search(name)}
    defaulted = {name: ops for name, ops in variables.items() if name in secrets and ops != {":?"}}
    assert not defaulted, f"named like secrets but not required (${{NAME:?...}} everywhere): {defaulted}"
    # The secrets the stack cannot run without, MinIO's root and the Fernet key among them.
    assert {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "POSTGRES_PASSWORD",
            "CJM_TASK_ACCESS_KEY_ID", "CJM_TASK_SECRET_ACCESS_KEY", "CJM_READER_ACCESS_KEY_ID",
            "CJM_READER_SECRET_ACCESS_KEY"} <= secrets
    resolve(compose, _filled(required))
    for name in sorted(secrets):
        for missing in ({}, {name: ""}):
            env = {**_filled(required - {name}), **missing}
            with pytest.raises(MissingVariable, match=f"^{name}: set {name} in .env"):
                resolve(compose, env)


def test_the_fernet_key_is_required_by_every_airflow_service(services: dict):
    keys = {name: services[name]["environment"].get("AIRFLOW__CORE__FERNET_KEY") for name in AIRFLOW_SERVICES | {"cjm-sample-data"}}
    assert all(key and REQUIRED.match(key) and "AIRFLOW_FERNET_KEY" in key for key in keys.values()), keys


def test_the_tasks_use_their_own_minio_user_never_root(services: dict):
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert "${CJM_TASK_ACCESS_KEY_ID:?" in env["AWS_ACCESS_KEY_ID"] and "${CJM_TASK_SECRET_ACCESS_KEY:?" in env["AWS_SECRET_ACCESS_KEY"]
        assert not {key for key, value in env.items() if "MINIO_ROOT" in key or "MINIO_ROOT" in str(value)}, name
    upload = services["cjm-sample-data"]["environment"]
    assert "${CJM_SAMPLE_DATA_ACCESS_KEY_ID:?" in upload["AWS_ACCESS_KEY_ID"]
    # Root is known to MinIO itself and to the one-shot that creates the users, nowhere else.
    with_root = sorted(name for name, service in services.items() if "MINIO_ROOT_PASSWORD" in (service.get("environment") or {}))
    assert with_root == ["minio", "minio-init"]


def _host_addresses(services: dict) -> dict[str, list[str]]:
    """Each service's published ports as the host address they listen on ('' for every interface)."""
    addresses: dict[str, list[str]] = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            if isinstance(port, dict):
                addresses.setdefault(name, []).append(port.get("host_ip", ""))
                continue
            parts = str(port).split("/")[0].split(":")
            # HOST_IP:HOST_PORT:CONTAINER_PORT; without HOST_IP docker listens on every interface.
            addresses.setdefault(name, []).append(parts[0] if len(parts) == 3 else "")
    return addresses


def test_every_published_port_listens_on_localhost_unless_the_operator_opts_in(compose: dict, required: set):
    assert not [name for name, service in compose["services"].items() if service.get("network_mode") == "host"]
    default = _host_addresses(resolve(compose, _filled(required))["services"])
    assert {"minio", "airflow-apiserver"} <= set(default)
    assert {address for addresses in default.values() for address in addresses} == {"127.0.0.1"}, default
    opened = _host_addresses(resolve(compose, {**_filled(required), "CJM_BIND_ADDRESS": "0.0.0.0"})["services"])
    assert {address for addresses in opened.values() for address in addresses} == {"0.0.0.0"}, opened


def _deployment_section() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("\n## Deployment\n")
    return readme[start:readme.index("\n## ", start + 1)]


def _assignments(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.M))


def test_the_readme_generates_every_required_variable_with_openssl(required: set):
    block = re.search(r"```bash\n(cat > \.env <<EOF\n.*?\nEOF\n).*?```", _deployment_section(), re.S)
    assert block, "README, Deployment: no `cat > .env <<EOF ... EOF` block"
    generated = _assignments(block.group(1))
    assert required <= set(generated), f"README's .env misses {sorted(required - set(generated))}"
    weak = {name: value for name, value in generated.items() if SECRET_NAME.search(name) and "$(openssl rand" not in value}
    assert not weak, f"secrets not generated with openssl: {weak}"
    # Nothing that sends stakeholders to MinIO as root.
    assert KNOWN_DEFAULT_CREDENTIAL not in _deployment_section() and "MINIO_ROOT" not in _deployment_section().split("```")[-1]


def test_env_example_lists_every_required_variable_without_a_value(required: set):
    listed = _assignments(ENV_EXAMPLE.read_text(encoding="utf-8"))
    assert required <= set(listed), f".env.example misses {sorted(required - set(listed))}"
    filled = {name: value for name, value in listed.items() if SECRET_NAME.search(name) and value.strip()}
    assert not filled, f".env.example holds values for {sorted(filled)}"
    assert "CJM_BIND_ADDRESS" in ENV_EXAMPLE.read_text(encoding="utf-8")


def test_no_default_minio_login_anywhere():
    places = [COMPOSE, ENV_EXAMPLE, REPO / "README.md", *MINIO_INIT.iterdir(), *(REPO / "docs").glob("*.md")]
    found = [str(path.relative_to(REPO)) for path in places if KNOWN_DEFAULT_CREDENTIAL in path.read_text(encoding="utf-8").lower()]
    assert not found, found


# A policy evaluated the way S3 does for one request: an explicit Deny wins, else some Allow must
# match action, resource and conditions. Only what these policies use is implemented, and the
# test refuses anything else rather than misjudging it.
def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _matches(patterns, value: str, *, case: bool) -> bool:
    for pattern in _as_list(patterns):
        assert "[" not in pattern, f"{pattern!r}: IAM wildcards are * and ? only"
        if fnmatch.fnmatchcase(value if case else value.lower(), pattern if case else pattern.lower()):
            return True
    return False


def _conditions_hold(conditions: dict, prefix: str | None) -> bool:
    for operator, tests in conditions.items():
        assert operator in ("StringLike", "StringEquals") and set(tests) == {"s3:prefix"}, f"not evaluated here: {operator} {tests}"
        if prefix is None:
            return False
        values = _as_list(tests["s3:prefix"])
        if not (_matches(values, prefix, case=True) if operator == "StringLike" else prefix in values):
            return False
    return True


def allows(policy: dict, action: str, resource: str, prefix: str | None = None) -> bool:
    """Whether ``policy`` lets a request do ``action`` on ``resource`` (ListBucket: with ``prefix``)."""
    allowed = False
    for statement in policy["Statement"]:
        assert not {"NotAction", "NotResource", "NotPrincipal"} & set(statement), statement
        if (_matches(statement["Action"], action, case=False) and _matches(statement["Resource"], resource, case=True)
                and _conditions_hold(statement.get("Condition", {}), prefix)):
            if statement["Effect"] == "Deny":
                return False
            allowed = allowed or statement["Effect"] == "Allow"
    return allowed


def policy(role: str, bucket: str = "cjm") -> dict:
    """The policy minio-init gives ``role``, on ``bucket`` instead of cjm when asked."""
    text = POLICIES[role].read_text(encoding="utf-8")
    return json.loads(text.replace("arn:aws:s3:::cjm/", f"arn:aws:s3:::{bucket}/").replace('arn:aws:s3:::cjm"', f'arn:aws:s3:::{bucket}"'))


def obj(key: str, bucket: str = "cjm") -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


BUCKET = "arn:aws:s3:::cjm"
PREFIXES = ("sample-data", "work", "store", "site")
WRITES = ("s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:PutObjectAcl",
          "s3:PutObjectRetention", "s3:PutObjectTagging", "s3:BypassGovernanceRetention")
BUCKET_ADMIN = ("s3:DeleteBucket", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy", "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration", "s3:CreateBucket", "admin:CreateUser", "admin:AttachUserOrGroupPolicy")


def test_the_stakeholder_user_reads_the_site_and_nothing_else():
    reader = policy("cjm-reader")
    assert allows(reader, "s3:GetObject", obj("site/index.html"))
    assert allows(reader, "s3:GetObject", obj("site/periods/2025Q1/index.html"))
    assert allows(reader, "s3:ListBucket", BUCKET, prefix="site/")
    assert allows(reader, "s3:ListBucket", BUCKET, prefix="site/periods/")
    for prefix in ("", "store/", "work/", "sample-data/", "sit", "sitemap/", None):
        assert not allows(reader, "s3:ListBucket", BUCKET, prefix=prefix), prefix
    for key in ("store/maps/p/2025Q1/r1/map.json", "work/runs/r/snapshot.json", "sample-data/2025Q1/surveys.csv",
                "site-old/index.html", "index.html"):
        assert not allows(reader, "s3:GetObject", obj(key)), key
    assert not allows(reader, "s3:GetObject", obj("site/index.html", "other-bucket"))
    for action in WRITES + BUCKET_ADMIN:
        for resource in (obj("site/index.html"), BUCKET):
            assert not allows(reader, action, resource, prefix="site/"), (action, resource)
    # Read-only by construction, not only for the actions tried above.
    granted = {action for s in reader["Statement"] if s["Effect"] == "Allow" for action in _as_list(s["Action"])}
    assert granted <= {"s3:GetObject", "s3:ListBucket"}, granted


# The one thing in the store the tool removes: a refresh's marker once its site is published
# (cjm_tasks/versions/store.py, VersionStore.finish). Versions are never deleted.
MARKERS = "store/pending/"


def test_the_task_user_cannot_delete_a_stored_version():
    tasks = policy("cjm-tasks")
    for key in ("store/maps/p/2025Q1/r1/map.json", "store/maps/p/2025Q1/r1/manifest.json", "store/other.json"):
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"):
            assert not allows(tasks, action, obj(key)), (action, key)
    assert allows(tasks, "s3:DeleteObject", obj(f"{MARKERS}2025Q1/run-1.json"))
    # Nor would a later edit that widens an Allow: no Allow reaching the store names a wildcard
    # action, and one that names a delete reaches the markers only.
    for statement in tasks["Statement"]:
        store = [r for r in _as_list(statement["Resource"]) if fnmatch.fnmatchcase("arn:aws:s3:::cjm/store/", r.rstrip("*"))
                 or r.startswith("arn:aws:s3:::cjm/store/") or r in ("*", "arn:aws:s3:::*", "arn:aws:s3:::cjm/*")]
        if statement["Effect"] != "Allow" or not store:
            continue
        actions = _as_list(statement["Action"])
        assert not [a for a in actions if "*" in a], statement
        if [a for a in actions if "delete" in a.lower()]:
            assert all(r.startswith(f"arn:aws:s3:::cjm/{MARKERS}") for r in store), statement
    assert not allows(tasks, "s3:DeleteObject", obj("site/index.html")), "the publisher only puts; a delete is not needed"


def test_the_task_user_has_least_privilege():
    tasks = policy("cjm-tasks")
    assert not allows(tasks, "s3:PutObject", obj("sample-data/2025Q1/surveys.csv")), "the inputs are read-only to the tasks"
    assert not allows(tasks, "s3:DeleteObject", obj("sample-data/2025Q1/surveys.csv"))
    assert allows(tasks, "s3:DeleteObject", obj("work/runs/r/snapshot.json")), "old workspaces are pruned"
    for action in BUCKET_ADMIN:
        assert not allows(tasks, action, BUCKET), action
    for key in ("elsewhere/x", "storefront/x", "sites/x"):
        assert not any(allows(tasks, action, obj(key)) for action in ("s3:GetObject",) + WRITES), key
    assert not allows(tasks, "s3:ListBucket", BUCKET, prefix="")
    assert not allows(tasks, "s3:GetObject", obj("work/x", "other-bucket"))


def test_the_sample_data_user_only_writes_the_inputs():
    upload = policy("cjm-sample-data")
    assert allows(upload, "s3:PutObject", obj("sample-data/2025Q1/surveys.csv"))
    for prefix in ("work", "store", "site"):
        assert not any(allows(upload, action, obj(f"{prefix}/x")) for action in ("s3:GetObject",) + WRITES), prefix
    assert not allows(upload, "s3:DeleteObject", obj("sample-data/2025Q1/surveys.csv"))


# Each S3 API call botocore makes -> the IAM action S3 checks for it.
ACTIONS = {
    "GetObject": "s3:GetObject", "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject", "CreateMultipartUpload": "s3:PutObject", "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject", "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket",
    # S3 and MinIO check HeadBucket as a ListBucket without a prefix: a listing of the whole bucket.
    "HeadBucket": "s3:ListBucket",
    "DeleteObject": "s3:DeleteObject", "DeleteObjects": "s3:DeleteObject",
}


def _requests(operation: str, params: dict) -> list[tuple[str, str, str | None]]:
    """(IAM action, resource, ListBucket prefix) for one call."""
    assert operation in ACTIONS, f"S3 call {operation} is not mapped to an IAM action here: add it to ACTIONS"
    bucket, action = params["Bucket"], ACTIONS[operation]
    if action == "s3:ListBucket":
        return [(action, f"arn:aws:s3:::{bucket}", params.get("Prefix") if operation.startswith("List") else None)]
    if operation == "DeleteObjects":
        return [(action, obj(item["Key"], bucket), None) for item in params["Delete"]["Objects"]]
    return [(action, obj(params["Key"], bucket), None)]


@pytest.fixture
def s3_calls():
    """Every S3 call made in this process while the test runs: [(operation, params)]. Storage
    makes its clients from boto3's default session, so its event hook sees them all."""
    import boto3

    calls: list[tuple[str, dict]] = []

    def record(params: dict, model, **_) -> None:
        calls.append((model.name, dict(params)))

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build.s3", record)
    yield calls
    boto3.DEFAULT_SESSION.events.unregister("before-parameter-build.s3", record)


def test_every_s3_call_of_a_real_refresh_is_allowed_by_the_task_policy(tmp_path: Path, bucket: str, s3_env: str, s3_calls: list,
                                                                       monkeypatch: pytest.MonkeyPatch):
    import tempfile

    from cjm_tasks.config import S3Config, load_config
    from cjm_tasks.periods import Period
    from cjm_tasks.run.steps import refresh
    from cjm_tasks.storage import open_storage
    from tests.conftest import write_config, write_small_inputs

    # The sample inputs go up the way the cjm-sample-data one-shot uploads them.
    local = write_small_inputs(tmp_path / "data")
    inputs = open_storage(f"s3://{bucket}/sample-data", S3Config(endpoint_url=s3_env))
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        inputs.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())
    upload = policy("cjm-sample-data", bucket)
    denied = [r for call in s3_calls for r in _requests(*call) if not allows(upload, *r)]
    assert s3_calls and not denied, denied
    s3_calls.clear()

    # keep_runs 0: the run's own workspace is pruned after publish, so deletes happen too.
    storage = {"work": f"s3://{bucket}/work", "versions": f"s3://{bucket}/store", "site": f"s3://{bucket}/site", "keep_runs": 0}
    config = load_config(write_config(tmp_path / "cfg", f"s3://{bucket}/sample-data", storage=storage,
                                      s3={"endpoint_url": "${CJM_S3_ENDPOINT_URL}"}))
    # The run's download cache goes below this test's folder.
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    first = refresh(config, Period.parse("2025Q3"))
    assert first["versions"] and not first["unchanged"]
    again = refresh(config, Period.parse("2025Q3"), force=True)  # a new revision, a republish
    assert again["versions"]

    tasks = policy("cjm-tasks", bucket)
    requests = [r for call in s3_calls for r in _requests(*call)]
    denied = sorted({r for r in requests if not allows(tasks, *r)}, key=str)
    hint = (" (a ListBucket without a prefix is a HeadBucket or a listing of the whole bucket: check a location with "
            "list_objects_v2(Prefix=<its prefix>, MaxKeys=1), which the policy allows)") if any(r[2] is None and r[0] == "s3:ListBucket" for r in denied) else ""
    assert not denied, f"the task policy would refuse these calls of a refresh: {denied[:10]}{hint}"
    by_action = {(action, resource.split("/", 1)[1].split("/")[0] if "/" in resource else "") for action, resource, _ in requests}
    # The refresh did what the policy is about: it wrote the store and the site, and pruned work.
    assert {("s3:PutObject", "store"), ("s3:PutObject", "site"), ("s3:DeleteObject", "work"), ("s3:GetObject", "sample-data")} <= by_action
    deleted = {resource.split("/", 1)[1] for action, resource, _ in requests if action == "s3:DeleteObject"}
    assert not [key for key in deleted if not key.startswith(("work/", MARKERS))], deleted


def test_minio_init_creates_each_user_with_its_policy_and_can_run_again(compose: dict, tmp_path: Path):
    service = compose["services"]["minio-init"]
    mount = next(v for v in service["volumes"] if v.startswith("./deploy/minio:"))
    script = MINIO_INIT / service["command"][-1].removeprefix(mount.split(":")[1] + "/")
    # A stand-in for the mc client: logs its arguments, and answers a second attach of a policy
    # the way mc does ("already in effect", exit 1).
    fake = tmp_path / "bin" / "mc"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\necho "$*" >> "$MC_LOG"\n'
                    'case "$*" in *"policy attach"*) mark="$MC_LOG.$3.$5"\n'
                    '  if [ -e "$mark" ]; then echo "mc: <ERROR> The specified policy change is already in effect." >&2; exit 1; fi\n'
                    '  touch "$mark";; esac\n')
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin", "MC_LOG": str(tmp_path / "mc.log"), **_filled(service["environment"])}
    for _ in range(2):
        result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    calls = (tmp_path / "mc.log").read_text().splitlines()
    assert calls[0] == f"alias set local http://minio:9000 {env['MINIO_ROOT_USER']} {env['MINIO_ROOT_PASSWORD']}"
    assert "mb --ignore-existing local/cjm" in calls
    for role, user in (("cjm-tasks", "CJM_TASK"), ("cjm-reader", "CJM_READER"), ("cjm-sample-data", "CJM_SAMPLE_DATA")):
        key_id, secret = env[f"{user}_ACCESS_KEY_ID"], env[f"{user}_SECRET_ACCESS_KEY"]
        assert f"admin policy create local {role} {script.parent}/{role}.json" in calls and POLICIES[role].is_file()
        assert f"admin user add local {key_id} {secret}" in calls
        assert f"admin policy attach local {role} --user {key_id}" in calls
    # Any other failure of mc stops the init (and so the stack, which waits for it).
    fake.write_text('#!/bin/sh\ncase "$*" in *"policy attach"*) echo "mc: <ERROR> Access Denied." >&2; exit 1;; esac\n')
    result = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "Access Denied" in result.stderr
