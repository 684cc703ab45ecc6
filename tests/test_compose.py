"""docker-compose.yml and the Dockerfile, checked without Docker: the services the stack needs,
one shared JWT secret and executor across the Airflow services, host mounts that exist, the
image installing exactly what uv.lock pins plus the project's wheel (not its source tree), and no
real-looking secret anywhere in the repo."""

from __future__ import annotations

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
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker"}
NEEDED_SERVICES = AIRFLOW_SERVICES | {"postgres", "redis", "minio", "minio-init"}
LONG_RUNNING = NEEDED_SERVICES - {"airflow-init", "minio-init"}
# ${NAME:?message}: compose refuses to start without it. ${NAME:-} : empty unless set.
REQUIRED = re.compile(r"^\$\{[A-Z0-9_]+:\?[^}]*\}$")
EMPTY_DEFAULT = re.compile(r"^\$\{[A-Z0-9_]+:-\}$")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|FERNET|TOKEN|ACCESS_KEY|PRIVATE")
# Only the local MinIO's credentials (and the tasks' S3 credentials, which default to them) may
# have a default value.
LOCAL_DEFAULT_OK = re.compile(r"^(MINIO_ROOT_USER|MINIO_ROOT_PASSWORD|AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY)$")


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
    assert "mc mb" in services["minio-init"]["command"][-1] and "local/cjm" in services["minio-init"]["command"][-1]
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
                ok = REQUIRED.match(value) or EMPTY_DEFAULT.match(value) or (LOCAL_DEFAULT_OK.match(key) and value.startswith("${"))
                assert ok, f"{name}: {key} must come from the environment (${{{key}:?...}}), not {value!r}"
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
