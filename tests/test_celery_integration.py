"""The quarterly refresh on a real CeleryExecutor stack, as docker-compose.yml runs it, minus Docker.

Real processes: `airflow api-server`, `scheduler`, `dag-processor` and two `airflow celery worker`s
(worker-a, worker-b) on a PostgreSQL metadata database of their own (created and dropped here),
a Redis broker database of their own (flushed before and after) and an S3 server (moto's, over
HTTP) holding the sample inputs, the run workspaces, the version store and the published site.
The tasks get their S3 credentials only from an Airflow connection (``CJM_AWS_CONN_ID``), so the
test also proves those credentials never reach a log.

Runs are triggered through the REST API, as the UI does. Environment overrides for other
machines: ``CJM_IT_POSTGRES`` (server URL, default ``postgresql://postgres@127.0.0.1:5432``) and
``CJM_IT_REDIS`` (default ``redis://127.0.0.1:6379/11``); a ``PYTHONPATH`` is passed on to the
Airflow processes after the repository.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port
from tests.test_compose import check_celery_executor_imports

pytestmark = [pytest.mark.integration, pytest.mark.airflow, pytest.mark.slow]

AIRFLOW = str(Path(sys.executable).parent / "airflow")
DAG_ID = "cjm_quarterly_refresh"
POSTGRES = os.environ.get("CJM_IT_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("CJM_IT_REDIS", "redis://127.0.0.1:6379/11")
WORKERS = ("worker-a", "worker-b")
RUN_TIMEOUT = 480
# Two sessions of this test on one machine would share the Redis database: take turns.
LOCK_FILE = Path("/tmp/cjm-celery-integration.lock")


@dataclass
class Stack:
    """The processes of one Airflow deployment and what they share."""

    home: Path
    logs: Path
    env: dict[str, str]
    database_url: str
    bucket: str
    s3_endpoint: str
    access_key: str
    secret_key: str
    api_url: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def airflow(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """An `airflow` CLI command against this deployment; fails the test when it fails."""
        result = subprocess.run([AIRFLOW, *args], env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"airflow {args[0]} {args[1] if len(args) > 1 else ''} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """A call to the API server's REST API (what the UI does; every caller is admin here)."""
        request = urllib.request.Request(f"{self.api_url}/api/v2/{path}", method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            pytest.fail(f"{method} {path}: HTTP {exc.code} {exc.read().decode(errors='replace')[:2000]}")

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        with open(self.logs / f"{name}.log", "wb") as log:
            # Its own session: the whole process group (Celery pool, log server) can be stopped.
            self.procs[name] = subprocess.Popen([AIRFLOW, *args], env={**self.env, **(env or {})}, cwd=self.home,
                                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def query(self, sql: str, *params) -> list[tuple]:
        import psycopg2

        with psycopg2.connect(self.database_url.replace("+psycopg2", "")) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall()
        conn.close()
        return rows

    def check_alive(self) -> None:
        dead = {name: proc.returncode for name, proc in self.procs.items() if proc.poll() is not None}
        assert not dead, f"processes exited early: {dead}\n{self.tail()}"

    def wait(self, what: str, ready, timeout: float = 120, every: float = 1.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            value = ready()
            if value:
                return value
            time.sleep(every)
        pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{self.tail()}")

    def stop(self) -> None:
        """Workers first (SIGTERM: a warm shutdown once their tasks are done), then the rest;
        whatever does not exit in time is killed with its process group."""
        for group, grace in (([n for n in self.procs if n in WORKERS], 90), ([n for n in self.procs if n not in WORKERS], 30)):
            for name in group:
                if self.procs[name].poll() is None:
                    self.procs[name].send_signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for name in group:
                proc = self.procs[name]
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    _signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                _stop_group_leftovers(proc.pid)

    def log_files(self) -> list[Path]:
        return sorted(p for p in [*self.logs.glob("*.log"), *(self.home / "logs").rglob("*")] if p.is_file())

    def tail(self, lines: int = 40) -> str:
        out = []
        task_logs = sorted((self.home / "logs").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-3:]
        for path in [*sorted(self.logs.glob("*.log")), *task_logs]:
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            out.append(f"----- {path.relative_to(path.parent.parent)} -----\n" + "\n".join(text))
        return "\n".join(out)


def _signal_group(pgid: int, sig: int) -> bool:
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _stop_group_leftovers(pgid: int) -> None:
    """Children a stopped process left behind in its group (the group is ours: start_new_session)."""
    if not _signal_group(pgid, 0):
        return
    _signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _signal_group(pgid, 0):
        time.sleep(0.2)
    _signal_group(pgid, signal.SIGKILL)


@contextmanager
def _exclusive():
    with open(LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _postgres_admin(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(f"{POSTGRES}/postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _flush_redis() -> None:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.flushdb()
    finally:
        client.close()


def _upload(s3, bucket: str, folder: Path, prefix: str) -> None:
    for path in (p for p in folder.rglob("*") if p.is_file()):
        s3.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder).as_posix()}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, s3_server: str, sample_data: Path):
    import boto3

    root = tmp_path_factory.mktemp("celery-stack")
    home, logs = root / "airflow-home", root / "process-logs"
    home.mkdir()
    logs.mkdir()
    token = uuid.uuid4().hex[:10]
    database = f"cjm_it_{token}"
    database_url = f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg2://')}/{database}"
    access_key, secret_key = f"cjm-it-access-{token}", f"cjm-it-secret-{secrets.token_hex(12)}"
    bucket = f"cjm-it-{token}"
    api_port = free_port()
    with _exclusive():
        try:
            _postgres_admin(f'CREATE DATABASE "{database}"')
        except Exception as exc:  # noqa: BLE001 - any connection problem gets the same hint
            pytest.fail(f"this test needs PostgreSQL at {POSTGRES} (trust auth, may create databases; set CJM_IT_POSTGRES): {exc}")
        stack = Stack(home=home, logs=logs, env={}, database_url=database_url, bucket=bucket, s3_endpoint=s3_server,
                      access_key=access_key, secret_key=secret_key, api_url=f"http://127.0.0.1:{api_port}")
        try:
            _flush_redis()
            s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id=access_key,
                              aws_secret_access_key=secret_key)
            s3.create_bucket(Bucket=bucket)
            _upload(s3, bucket, sample_data, "sample")
            base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AWS_", "CJM_", "_AIRFLOW"))}
            stack.env = {
                **base,
                "PATH": f"{Path(AIRFLOW).parent}{os.pathsep}{base.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
                "AIRFLOW__CELERY__BROKER_URL": REDIS,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database_url.replace("+psycopg2", ""),
                # A worker takes at most 2 tasks at a time (prefetch 1 per slot), so the 5 persona
                # tasks, queued together, cannot all land on one worker.
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
                "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
                # One secret and one execution API address for every component, as in docker-compose.yml.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",  # the REST calls below need no login
                # Only the runs triggered here: no scheduled run for the current quarter.
                "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # The project's settings as the compose file sets them, on the test bucket.
                "CJM_CONFIG": str(REPO / "configs" / "cjm.yaml"),
                "CJM_SAMPLE_DATA": f"s3://{bucket}/sample",
                "CJM_WORK_LOCATION": f"s3://{bucket}/work",
                "CJM_STORE_LOCATION": f"s3://{bucket}/store",
                "CJM_SITE_LOCATION": f"s3://{bucket}/site",
                # S3 credentials and endpoint only through the Airflow connection.
                "CJM_AWS_CONN_ID": "cjm_s3",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
            check_celery_executor_imports(stack.env)
            with open(logs / "db-migrate.log", "w") as log:
                migrated = subprocess.run([AIRFLOW, "db", "migrate"], env=stack.env, cwd=home, stdout=log, stderr=subprocess.STDOUT, timeout=300)
            assert migrated.returncode == 0, (logs / "db-migrate.log").read_text()[-3000:]
            # Output not kept: the connection's login would show in it.
            stack.airflow("connections", "add", "cjm_s3", "--conn-type", "aws", "--conn-login", access_key, "--conn-password", secret_key,
                          "--conn-extra", json.dumps({"endpoint_url": s3_server}))

            stack.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port))
            stack.start("scheduler", "scheduler", "--skip-serve-logs")
            stack.start("dag-processor", "dag-processor")
            for name in WORKERS:
                stack.start(name, "celery", "worker", "--celery-hostname", name, "--pid", str(home / f"{name}.pid"),
                            env={"CJM_WORKER_NAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})
            stack.wait("the API server", lambda: _http_ok(f"{stack.api_url}/api/v2/monitor/health"))
            stack.wait("the DAG to be parsed", lambda: stack.query("SELECT 1 FROM dag WHERE dag_id = %s", DAG_ID))
            for name in WORKERS:
                stack.wait(f"{name} to be ready", lambda name=name: f"{name} ready." in (logs / f"{name}.log").read_text(errors="replace"))
            print(f"\n[celery-integration] stack up in {time.monotonic() - stack.started:.1f} s")
            yield stack
        finally:
            stack.stop()
            _flush_redis()
            _postgres_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            print(f"\n[celery-integration] wall time {time.monotonic() - stack.started:.1f} s (setup, runs, shutdown, clean-up)")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _trigger(stack: Stack, run_id: str, logical_date: str | None = None, conf: dict | None = None) -> str:
    # Through the REST API like the UI: its data interval follows the logical date (the CLI's
    # `dags trigger --logical-date` would take the interval from the time of the trigger).
    run = stack.api("POST", f"dags/{DAG_ID}/dagRuns", {"dag_run_id": run_id, "logical_date": logical_date, "conf": conf or {}})
    assert run["dag_run_id"] == run_id, run
    return run_id


def _wait_for_success(stack: Stack, run_id: str) -> float:
    started = time.monotonic()

    def finished():
        rows = stack.query("SELECT state FROM dag_run WHERE dag_id = %s AND run_id = %s", DAG_ID, run_id)
        state = rows[0][0] if rows else None
        if state == "failed":
            tasks = stack.query("SELECT task_id, map_index, state, hostname FROM task_instance WHERE dag_id = %s AND run_id = %s "
                                "ORDER BY task_id, map_index", DAG_ID, run_id)
            pytest.fail(f"run {run_id} failed: {tasks}\n{stack.tail()}")
        return state == "success"

    stack.wait(f"run {run_id} to succeed", finished, timeout=RUN_TIMEOUT, every=2)
    return time.monotonic() - started


def _xcoms(stack: Stack, run_id: str, task_id: str) -> list:
    """The return values of a task (every map index) in a run."""
    rows = stack.query("SELECT value FROM xcom WHERE dag_id = %s AND run_id = %s AND task_id = %s AND key = 'return_value' "
                       "ORDER BY map_index", DAG_ID, run_id, task_id)
    return [value for (value,) in rows]  # a JSONB column: psycopg2 decodes it


def _stored(stack: Stack, run_id: str) -> dict[str, dict]:
    """store_versions' results of a run: {persona: {"version", "created", ...}}."""
    return {v["persona"]: v for stored in _xcoms(stack, run_id, "store_versions") for v in stored}


@contextmanager
def _cjm_config(stack: Stack):
    """The project's configuration as the stack's tasks see it, for reading their results."""
    from cjm_tasks.config import load_config

    with pytest.MonkeyPatch.context() as mp:
        for key in ("CJM_SAMPLE_DATA", "CJM_WORK_LOCATION", "CJM_STORE_LOCATION", "CJM_SITE_LOCATION"):
            mp.setenv(key, stack.env[key])
        mp.setenv("CJM_S3_ENDPOINT_URL", stack.s3_endpoint)
        mp.setenv("AWS_ACCESS_KEY_ID", stack.access_key)
        mp.setenv("AWS_SECRET_ACCESS_KEY", stack.secret_key)
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("CJM_CONFIG", raising=False)
        yield load_config(stack.env["CJM_CONFIG"])


def test_quarterly_refresh_on_celery_workers_with_s3(stack: Stack):
    from cjm_tasks.run.pipeline import open_version_store
    from cjm_tasks.run.workspace import workspace_storage as workspace
    from cjm_tasks.storage import open_storage

    assert stack.api("PATCH", f"dags/{DAG_ID}", {"is_paused": False})["is_paused"] is False
    first = _trigger(stack, "it-2025Q1-scheduled-date", logical_date="2025-04-01T06:00:00+00:00")
    first_time = _wait_for_success(stack, first)
    assert _xcoms(stack, first, "resolve_period") == ["2025Q1"]

    with _cjm_config(stack) as config:
        runs = workspace(config, first)
        built_by = {key.removeprefix("maps/").removesuffix(".worker"): runs.read_bytes(key).decode()
                    for key in runs.list("maps/") if key.endswith(".worker")}
        personas = sorted(built_by)
        assert len(personas) == 5, built_by
        print(f"[celery-integration] build_map ran on: {json.dumps(built_by, sort_keys=True)}")
        assert set(built_by.values()) == set(WORKERS), f"the persona tasks did not spread over both workers: {built_by}"

        store = open_version_store(config)
        for persona in personas:
            assert [str(v.version) for v in store.list(persona)] == ["2025Q1-r1"], persona
        versions = open_storage(config.storage.versions, config.s3)
        assert {k.rsplit("/", 1)[-1] for k in versions.list(f"maps/{personas[0]}/2025Q1/r1/")} == {"map.json", "diff.json", "manifest.json"}
        site = open_storage(config.storage.site, config.s3)
        assert site.exists("index.html")
        assert json.loads(site.read_bytes("latest.json"))["period"] == "2025Q1"
    assert {p: v["created"] for p, v in _stored(stack, first).items()} == {p: True for p in personas}

    # The same quarter again, by hand and forced past the unchanged check: same inputs, so no new revision anywhere.
    again = _trigger(stack, "it-2025Q1-again", conf={"period": "2025Q1", "force": True})
    again_time = _wait_for_success(stack, again)
    assert _xcoms(stack, again, "resolve_period") == ["2025Q1"]
    assert {p: (v["version"], v["created"]) for p, v in _stored(stack, again).items()} == {p: ("2025Q1-r1", False) for p in personas}
    with _cjm_config(stack) as config:
        store = open_version_store(config)
        for persona in personas:
            assert [str(v.version) for v in store.list(persona)] == ["2025Q1-r1"], persona
        assert not [k for k in open_storage(config.storage.versions, config.s3).list("maps/") if "/r2/" in k]
        rebuilt_by = workspace(config, again).list("maps/")
        assert sum(k.endswith(".worker") for k in rebuilt_by) == 5

    stack.stop()
    leaks = []
    for path in stack.log_files():
        data = path.read_bytes()
        leaks += [f"{path}: {what}" for what, value in (("S3 access key", stack.access_key), ("S3 secret key", stack.secret_key))
                  if value.encode() in data]
    assert stack.log_files() and not leaks, leaks
    print(f"[celery-integration] first run {first_time:.1f} s, second run {again_time:.1f} s; "
          f"{len(stack.log_files())} log files checked for the S3 keys")
