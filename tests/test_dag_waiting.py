"""A run waits for the quarter's inputs: what counts as there (files, markers; local folders and
S3), the `wait` settings, `cjm refresh` stopping at once with the list, and real `dag.test()` runs
whose inputs appear while the run waits, or never."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cjm, write_config, write_small_inputs
from tests.test_dags import DAGS, airflow_env, airflow_home, dagbag  # noqa: F401 (fixtures)

Q3 = "2025Q3"
# One dag.test() run of the quarterly DAG in a new process; its output is the run's log.
RUNNER = """
import json
from datetime import datetime
from airflow.dag_processing.dagbag import DagBag
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
dag = DagBag(dag_folder={dags!r}).dags["cjm_quarterly_refresh"]
run = dag.test(logical_date=datetime.fromisoformat({logical_date!r}))
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id).all()
    states = {{f"{{ti.task_id}}[{{ti.map_index}}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}}
print("CJM-RESULT " + json.dumps({{"state": str(run.state), "tasks": states}}))
"""


def _config(tmp_path: Path, data: Path, sources: dict | None = None, **top):
    from cjm_tasks.config import load_config

    return load_config(write_config(tmp_path / "cfg", data, sources=sources, **top))


def _missing(config, period: str = Q3) -> list[str]:
    from cjm_tasks.ingest.readiness import missing_inputs
    from cjm_tasks.periods import Period

    return [str(m) for m in missing_inputs(config, Period.parse(period))]


def test_every_source_without_a_file_for_the_quarter_is_missing(tmp_path: Path):
    data = write_small_inputs(tmp_path / "data")
    config = _config(tmp_path, data)
    assert _missing(config) == []
    # 2025Q4 has no folder; the customers file has no {period} and is there for every quarter.
    assert _missing(config, "2025Q4") == [f"surveys: {data}/2025Q4/surveys.csv: no file matches this location",
                                          f"reviews: {data}/2025Q4/reviews.jsonl: no file matches this location",
                                          f"sales: {data}/2025Q4/sales/*.parquet: no file matches this location"]
    for part in (data / Q3 / "sales").glob("*.parquet"):
        part.rename(part.with_suffix(".parquet.partial"))  # an export still being written matches no glob
    assert _missing(config) == [f"sales: {data}/{Q3}/sales/*.parquet: no file matches this location"]


def test_a_marker_declares_a_source_complete_and_is_never_read(tmp_path: Path):
    from cjm_tasks.ingest.sources import read_source
    from cjm_tasks.periods import Period
    from cjm_tasks.run.unchanged import fingerprint_inputs

    data = write_small_inputs(tmp_path / "data")
    # surveys: a marker beside its file; sales (a folder location here): the marker of the whole
    # quarter folder, one level up; reviews and customers declare none.
    config = _config(tmp_path, data, {"surveys": {"marker": "_SUCCESS"},
                                      "sales": {"location": f"{data}/{{period}}/sales", "marker": "../ready-{period}"}})
    assert _missing(config) == [f"surveys: {data}/{Q3}/_SUCCESS: the marker that declares its files complete is not there yet",
                                f"sales: {data}/{Q3}/ready-{Q3}: the marker that declares its files complete is not there yet"]
    (data / Q3 / "_SUCCESS").mkdir()  # a folder of that name is not the marker
    (data / Q3 / f"ready-{Q3}").write_text("")
    assert _missing(config) == [f"surveys: {data}/{Q3}/_SUCCESS: the marker that declares its files complete is not there yet"]
    (data / Q3 / "_SUCCESS").rmdir()
    (data / Q3 / "_SUCCESS").write_text("")
    assert _missing(config) == []

    # A marker inside the folder a location names is not one of its files: not read, not hashed.
    config = _config(tmp_path, data, {"sales": {"location": f"{data}/{{period}}/sales", "marker": "_SUCCESS"}})
    assert _missing(config) == [f"sales: {data}/{Q3}/sales/_SUCCESS: the marker that declares its files complete is not there yet"]
    (data / Q3 / "sales" / "_SUCCESS").write_text("")
    assert _missing(config) == []
    sales = read_source("sales", config, Period.parse(Q3))
    assert [Path(f.location).name for f in sales.files] == ["part-00000.parquet", "part-00001.parquet"] and sales.rows_read == 200
    prints, unreadable = fingerprint_inputs(config, Period.parse(Q3))
    assert not unreadable and prints["sales"].location == ", ".join(f.location for f in sales.files)
    assert prints["sales"].sha256 == sales.sha256


def test_missing_inputs_on_s3(tmp_path: Path, bucket: str, s3_env: str):
    import boto3

    data = write_small_inputs(tmp_path / "data")
    prefix = f"s3://{bucket}/exports"
    config = _config(tmp_path, data, {"surveys": {"location": f"{prefix}/{{period}}/surveys.csv", "marker": "_SUCCESS"},
                                      "sales": {"location": f"{prefix}/{{period}}/sales/*.parquet", "marker": "../_SUCCESS"}})
    marker = f"{prefix}/{Q3}/_SUCCESS: the marker that declares its files complete is not there yet"
    assert _missing(config) == [f"surveys: {prefix}/{Q3}/surveys.csv: no file matches this location",
                                f"sales: {prefix}/{Q3}/sales/*.parquet: no file matches this location"]
    s3 = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    s3.upload_file(str(data / Q3 / "surveys.csv"), bucket, f"exports/{Q3}/surveys.csv")
    for part in sorted((data / Q3 / "sales").glob("*.parquet")):
        s3.upload_file(str(part), bucket, f"exports/{Q3}/sales/{part.name}")
    assert _missing(config) == [f"surveys: {marker}", f"sales: {marker}"]
    s3.put_object(Bucket=bucket, Key=f"exports/{Q3}/_SUCCESS.tmp", Body=b"")  # a key that only starts like the marker
    assert _missing(config) == [f"surveys: {marker}", f"sales: {marker}"]
    s3.put_object(Bucket=bucket, Key=f"exports/{Q3}/_SUCCESS", Body=b"")
    assert _missing(config) == []


def test_wait_settings_are_validated_and_shape_no_map(tmp_path: Path):
    from cjm_tasks.config import load_config
    from cjm_tasks.errors import ConfigError

    data = write_small_inputs(tmp_path / "data")
    default = _config(tmp_path, data)
    assert (default.wait.timeout, default.wait.poke_every) == (10 * 86400, 4 * 3600)
    custom = _config(tmp_path, data, {"surveys": {"marker": "_SUCCESS"}}, wait={"timeout": "1d12h", "poke_every": "90s"})
    assert (custom.wait.timeout, custom.wait.poke_every) == (129600, 90)
    assert custom.sha256() == default.sha256()  # when the inputs are complete is not what shapes the maps
    bad = [({"wait": {"timeout": "10 days"}}, None, "wait.timeout: '10 days' is not a duration: expected a number and a unit, e.g. 10d"),
           ({"wait": {"poke_every": 0}}, None, "wait.poke_every: 0s is too short"),
           ({"wait": {"timout": "1d"}}, None, "wait.timout: unknown key (expected one of timeout, poke_every)"),
           ({}, {"surveys": {"marker": "*.done"}}, "sources.surveys.marker: '*.done': expected a file name, or a path relative"),
           ({}, {"surveys": {"marker": "/data/_SUCCESS"}}, "sources.surveys.marker: '/data/_SUCCESS': expected a file name")]
    for n, (top, sources, message) in enumerate(bad):
        with pytest.raises(ConfigError) as caught:
            load_config(write_config(tmp_path / f"bad{n}", data, sources=sources, **top))
        assert message in str(caught.value), (str(caught.value), message)


def test_the_wait_step_says_when_to_check_again_and_gives_up_after_the_timeout(tmp_path: Path):
    from cjm_tasks.ingest.readiness import InputsMissing
    from cjm_tasks.run import steps
    from cjm_tasks.run.workspace import Workspace

    data = write_small_inputs(tmp_path / "data")
    config = _config(tmp_path, data, wait={"timeout": "1h", "poke_every": "20m"})
    workspace = Workspace.create(config, "run-1")
    assert steps.wait_for_inputs(workspace, Q3) == {"period": Q3, "ready": True, "missing": [], "next_check": None}
    answer = steps.wait_for_inputs(workspace, "2025Q4", 0)
    assert (answer["ready"], len(answer["missing"]), answer["next_check"]) == (False, 3, 1200)
    assert steps.wait_for_inputs(workspace, "2025Q4", 3000)["next_check"] == 600  # never past the timeout
    with pytest.raises(InputsMissing) as caught:
        steps.wait_for_inputs(workspace, "2025Q4", 3600)
    assert str(caught.value).splitlines() == ["2025Q4: 3 input(s) still missing after waiting 1h (wait.timeout)",
                                              *(f"  - {m}" for m in answer["missing"])]


def test_cjm_refresh_stops_at_once_with_the_list(tmp_path: Path):
    data = write_small_inputs(tmp_path / "data")
    main = write_config(tmp_path / "cfg", data, wait={"timeout": "10d"})
    started = time.monotonic()
    result = cjm("refresh", "--period", "2025Q4", config=main)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - started < 60  # it does not wait
    assert "2025Q4: 3 input(s) missing, nothing was read" in result.stderr
    for source, location in (("surveys", "surveys.csv"), ("reviews", "reviews.jsonl"), ("sales", "sales/*.parquet")):
        assert f"  - {source}: {data}/2025Q4/{location}: no file matches this location" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cfg" / "work" / "runs").exists()  # nothing was read or written


def test_the_wait_task_sits_between_the_unchanged_check_and_reading(dagbag):  # noqa: F811
    from airflow.sdk import BaseSensorOperator

    refresh = dagbag.dags["cjm_quarterly_refresh"]
    tasks = {t.task_id: t for t in refresh.tasks}
    wait = tasks["wait_for_inputs"]
    assert isinstance(wait, BaseSensorOperator)
    assert "check_unchanged" in wait.upstream_task_ids and "list_sources" in wait.downstream_task_ids
    assert "wait_for_inputs" in tasks["list_sources"].upstream_task_ids and "list_sources" in tasks["read_source"].upstream_task_ids


def test_make_airflow_schedules_the_sample_quarters_and_no_other(tmp_path: Path):
    # The environment the `airflow` target runs with: its exports reach its prerequisites, and a
    # makefile read after the project's replaces the `install` recipe with one that prints them and
    # stops make before Airflow starts.
    probe_mk = tmp_path / "probe.mk"
    probe_mk.write_text("install:\n\t@echo $$CJM_START_DATE $$CJM_END_DATE $$CJM_CATCHUP; exit 3\n")
    probe = subprocess.run(["make", "-s", "--no-print-directory", "-f", "Makefile", "-f", str(probe_mk), "DEMO_START=2025Q1", "DEMO_QUARTERS=4",
                            "airflow"], cwd=REPO, capture_output=True, text=True, timeout=120)
    start, end, catchup = probe.stdout.split()
    assert (start, end, catchup) == ("2025-04-01", "2026-01-01T06:00:00", "true"), probe
    code = ("import json\nfrom airflow.dag_processing.dagbag import DagBag\nfrom airflow.timetables.base import TimeRestriction\n"
            "from cjm_tasks.run.steps import resolve_period\n"
            "dag = DagBag(dag_folder=%r).dags['cjm_quarterly_refresh']\n"
            "restriction = TimeRestriction(earliest=dag.start_date, latest=dag.end_date, catchup=dag.catchup)\n"
            "runs, last = [], None\n"
            "while (info := dag.timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)) and len(runs) < 20:\n"
            "    runs.append(resolve_period(info.data_interval.start.isoformat()))\n"
            "    last = info.data_interval\n"
            "print(json.dumps(runs))\n") % str(DAGS)
    env = {**airflow_env(tmp_path), "CJM_START_DATE": start, "CJM_END_DATE": end, "CJM_CATCHUP": catchup}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]


# --------------------------------------------------------------------------- real runs (dag.test)


def _start_run(home: Path, config: Path, logical_date: str) -> subprocess.Popen:
    script = RUNNER.format(dags=str(DAGS), logical_date=logical_date)
    env = {**airflow_env(home, config), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}  # the checks' lines too
    return subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(run: subprocess.Popen) -> tuple[dict, str]:
    output, _ = run.communicate(timeout=600)
    lines = [line for line in output.splitlines() if line.startswith("CJM-RESULT ")]
    assert lines, f"no result (exit {run.returncode}):\n{output[-5000:]}"
    return json.loads(lines[-1][len("CJM-RESULT "):]), output


def _waiting_since(home: Path, run_ids_before: set[str]) -> str | None:
    """The ``waiting_since`` XCom of a wait_for_inputs task of a run not in ``run_ids_before``
    (written at its first check, in Airflow's own metadata database), or None."""
    try:
        with sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT run_id, value FROM xcom WHERE dag_id = 'cjm_quarterly_refresh' AND task_id = 'wait_for_inputs' "
                              "AND key = 'waiting_since'").fetchall()
    except sqlite3.OperationalError:  # locked by a write in progress: asked again
        return None
    values = [value for run_id, value in rows if run_id not in run_ids_before]
    return json.loads(values[0]) if values else None


def _run_ids(home: Path) -> set[str]:
    with sqlite3.connect(f"file:{home}/airflow.db?mode=ro", uri=True, timeout=5) as db:
        return {row[0] for row in db.execute("SELECT run_id FROM dag_run WHERE dag_id = 'cjm_quarterly_refresh'")}


@pytest.mark.airflow
def test_a_run_waits_for_inputs_written_after_it_started_then_succeeds(airflow_home: Path, tmp_path: Path):  # noqa: F811
    data = write_small_inputs(tmp_path / "data")
    held = tmp_path / "exporter" / Q3
    shutil.move(str(data / Q3), held)  # the quarter's exports have not landed yet
    main = write_config(tmp_path / "cfg", data, wait={"timeout": "5m", "poke_every": "1s"})
    before = _run_ids(airflow_home)
    run = _start_run(airflow_home, main, "2025-10-01T06:00:00+00:00")
    landed: dict[str, object] = {}

    def exporter() -> None:
        # The files land only once the run has checked and found them missing (its first check
        # records when the wait began), a few seconds later.
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run.poll() is None:
            since = _waiting_since(airflow_home, before)
            if since:
                time.sleep(3)
                shutil.copytree(held, data / f".{Q3}.landing")
                os.rename(data / f".{Q3}.landing", data / Q3)  # the whole folder at once, as an exporter's rename
                landed.update(since=since, at=datetime.now(timezone.utc))
                return
            time.sleep(0.5)

    thread = threading.Thread(target=exporter)
    thread.start()
    result, output = _finish(run)
    thread.join()
    assert landed, f"the run never waited:\n{output[-5000:]}"
    assert result["state"] == "success", (result, output[-5000:])
    assert result["tasks"]["wait_for_inputs"] == "success" and result["tasks"]["publish_site"] == "success", result
    assert datetime.fromisoformat(landed["since"]) < landed["at"]  # type: ignore[arg-type]
    # It checked, found the three sources of the quarter missing, deferred to the timer (run in
    # line by dag.test, as the triggerer would), and checked again until they were there.
    assert f"{Q3}: waiting for 3 input(s): surveys: {data}/{Q3}/surveys.csv: no file matches this location" in output, output[-5000:]
    assert "[DAG TEST] running trigger in line" in output and f"{Q3}: every input is there" in output


@pytest.mark.airflow
def test_a_run_whose_inputs_never_appear_fails_after_the_wait_with_the_list(airflow_home: Path, tmp_path: Path):  # noqa: F811
    data = write_small_inputs(tmp_path / "data")
    shutil.rmtree(data / Q3 / "sales")
    main = write_config(tmp_path / "cfg", data, sources={"surveys": {"marker": "_SUCCESS"}}, wait={"timeout": "3s", "poke_every": "1s"})
    started = time.monotonic()
    result, output = _finish(_start_run(airflow_home, main, "2025-10-01T06:00:00+00:00"))
    assert result["state"] == "failed", (result, output[-5000:])
    assert result["tasks"]["wait_for_inputs"] == "failed", result
    assert all(state in ("upstream_failed", "None") for key, state in result["tasks"].items()
               if key.split("[")[0] in ("list_sources", "read_source", "validate_sources", "publish_site")), result
    message = "2025Q3: 2 input(s) still missing after waiting 3s (wait.timeout)"
    assert message in output, output[-5000:]
    assert output.index(message) < output.index("Traceback")  # the message first, as its own error line
    assert f"  - surveys: {data}/{Q3}/_SUCCESS: the marker that declares its files complete is not there yet" in output
    assert f"  - sales: {data}/{Q3}/sales/*.parquet: no file matches this location" in output
    assert time.monotonic() - started < 300
    assert not (Path(yaml.safe_load(main.read_text())["storage"]["site"]) / "latest.json").exists()
