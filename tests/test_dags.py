"""The Airflow DAGs: integrity rules, the quarterly timetable, and real runs with dag.test()."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, write_sample_config

DAGS = REPO / "dags"
pytestmark = pytest.mark.airflow


def makefile_setting(name: str) -> str:
    """The value the Makefile gives ``name`` (``NAME := value``)."""
    match = re.search(rf"^{name} :?= (.*)$", (REPO / "Makefile").read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"the Makefile sets no {name}"
    return match.group(1).strip()


def airflow_env(home: Path, config: Path | None = None) -> dict[str, str]:
    # The task logs at the Makefile's levels: INFO, the libraries and the API server at WARNING.
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO", "AIRFLOW__LOGGING__NAMESPACE_LEVELS": makefile_setting("AIRFLOW_QUIET"),
           "PYTHONPATH": str(REPO)}
    if config:
        env["CJM_CONFIG"] = str(config)
    return env


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Airflow home with a migrated SQLite metadata database."""
    home = tmp_path_factory.mktemp("airflow-home")
    result = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=airflow_env(home),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return home


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory: pytest.TempPathFactory):
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow-parse")))
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


def test_dagbag_loads_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dags) == {"cjm_quarterly_refresh", "cjm_compare_versions"}


def test_dag_rules(dagbag):
    from dateutil.relativedelta import relativedelta

    from airflow.timetables.trigger import CronTriggerTimetable
    from cjm_tasks.run import steps

    for dag in dagbag.dags.values():
        assert "cjm" in dag.tags and dag.doc_md and dag.doc_md.strip().startswith("###")
        for t in dag.tasks:
            assert callable(getattr(steps, t.task_id, None)), f"task {t.task_id} does not match a cjm_tasks.run.steps function"
    refresh = dagbag.dags["cjm_quarterly_refresh"]
    assert isinstance(refresh.timetable, CronTriggerTimetable)
    assert refresh.timetable._expression == "0 6 1 1,4,7,10 *" and refresh.timetable._interval == relativedelta(months=3)
    assert refresh.catchup is False and refresh.max_active_runs == 1
    tasks = {t.task_id: t for t in refresh.tasks}
    for task_id in ("read_source", "prepare_personas", "build_map", "store_versions", "render_site", "publish_site"):
        assert tasks[task_id].retries >= 3 and tasks[task_id].retry_exponential_backoff >= 2, task_id
    assert tasks["validate_sources"].retries == 0  # the gate does not retry bad data
    assert [a.name for a in tasks["publish_site"].outlets] == ["cjm_published_site"]
    assert tasks["build_map"].map_index_template == "{{ persona }}"
    order = ["read_source", "validate_sources", "prepare_personas", "build_map", "store_versions", "render_site", "publish_site", "notify"]
    for upstream, downstream in zip(order, order[1:]):
        assert upstream in tasks[downstream].upstream_task_ids | _ancestors(tasks, downstream), (upstream, downstream)
    compare = dagbag.dags["cjm_compare_versions"]
    assert type(compare.timetable).__name__ == "NullTimetable"  # manual only
    assert set(compare.params) >= {"persona", "from", "to"}


PERSONAS = ["all", "families", "b2b-2025", "a" * 64, "a" * 65, "x" * 300, "../../../..", "Families", "", "a b", "a\x00b"]
PERIODS = ["2025Q3", "1900Q1", "2999Q4", "0000Q1", "1899Q4", "3000Q1", "2025Q5", "2025Q3-r1", "../2025Q3"]
VERSIONS = ["2025Q3", "2025Q3-r2", "2025Q3-r999999", "2025Q3-r0", "2025Q3-r1234567", "0000Q1", "0000Q1-r1", "latest"]


def _accepted(param, value) -> bool:
    from airflow.sdk.exceptions import ParamValidationError

    try:
        param.resolve(value=value)
    except ParamValidationError:
        return False
    return True


def _ids_accept(check, value) -> bool:
    from cjm_tasks.ids import IdError

    try:
        check(value)
    except IdError:
        return False
    return True


def test_dag_params_accept_what_the_ids_check_accepts(dagbag):
    # The trigger form's patterns are a copy (the DAG file cannot import cjm_tasks at parse time):
    # they must agree with cjm_tasks.ids on every case, hostile ones included.
    from cjm_tasks import ids

    compare, refresh = dagbag.dags["cjm_compare_versions"].params, dagbag.dags["cjm_quarterly_refresh"].params
    cases = [(compare.get_param("persona"), ids.persona_id, PERSONAS), (refresh.get_param("period"), ids.period, PERIODS),
             (compare.get_param("from"), ids.version_ref, VERSIONS), (compare.get_param("to"), ids.version_ref, VERSIONS)]
    for param, check, values in cases:
        for value in values:
            assert _accepted(param, value) == _ids_accept(check, value), (param.schema, value)


@pytest.mark.parametrize(("dag_id", "task_id", "params", "phrase"), [
    ("cjm_compare_versions", "compare_versions", {"persona": "../../../..", "from": "2025Q1", "to": "2025Q2"}, "param 'persona': '../../../..' is not a persona id"),
    ("cjm_compare_versions", "compare_versions", {"persona": "families\n", "from": "2025Q1", "to": "2025Q2"}, "is not a persona id"),
    ("cjm_compare_versions", "compare_versions", {"persona": "all", "from": "0000Q1", "to": "2025Q2"}, "param 'from': period '0000Q1'"),
    ("cjm_quarterly_refresh", "resolve_period", {"period": "0000Q1"}, "param 'period': period '0000Q1' is not a quarter"),
    # Well-formed, but no data of it can exist yet (the schema cannot know the date).
    ("cjm_quarterly_refresh", "resolve_period", {"period": "2999Q4"}, "param 'period': 2999Q4 is after the current quarter"),
])
def test_dag_tasks_check_their_params_with_cjm_tasks_ids_and_do_not_retry(dagbag, dag_id: str, task_id: str, params: dict, phrase: str):
    # A param can bypass the trigger form (the REST API, a Python value the schema lets through):
    # the task checks it again, and a bad one fails at once instead of retrying.
    from airflow.sdk.exceptions import AirflowFailException

    task = dagbag.dags[dag_id].get_task(task_id)
    with pytest.raises(AirflowFailException, match=re.escape(phrase)):
        task.python_callable(params=params)


def _ancestors(tasks, task_id: str) -> set[str]:
    seen, todo = set(), [task_id]
    while todo:
        for up in tasks[todo.pop()].upstream_task_ids:
            if up not in seen:
                seen.add(up)
                todo.append(up)
    return seen


def test_parsing_the_dags_imports_nothing_heavy(tmp_path: Path):
    code = ("import sys\nfrom airflow.dag_processing.dagbag import DagBag\nDagBag(dag_folder=%r)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'great_expectations', 'boto3', 'pyarrow', 'scipy', 'cjm_tasks')))") % str(DAGS)
    result = subprocess.run([sys.executable, "-c", code], env=airflow_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    # Of the library, only the notifier module the DAG's callbacks are made of (it imports Airflow's BaseNotifier alone)
    # and the docs helper (it imports nothing).
    assert result.stdout.strip().splitlines()[-1] == "['cjm_tasks', 'cjm_tasks.run', 'cjm_tasks.run.airflow_notify', 'cjm_tasks.run.dag_docs']"


def test_quarterly_timetable_covers_each_quarter_just_ended(dagbag):
    import pendulum

    from airflow.timetables.base import TimeRestriction
    from cjm_tasks.run.steps import resolve_period

    timetable = dagbag.dags["cjm_quarterly_refresh"].timetable
    restriction = TimeRestriction(earliest=pendulum.datetime(2025, 3, 1, tz="UTC"), latest=None, catchup=True)
    runs, last = [], None
    for _ in range(4):
        info = timetable.next_dagrun_info(last_automated_data_interval=last, restriction=restriction)
        runs.append((info.run_after.isoformat(), resolve_period(info.data_interval.start.isoformat())))
        last = info.data_interval
    assert runs == [("2025-04-01T06:00:00+00:00", "2025Q1"), ("2025-07-01T06:00:00+00:00", "2025Q2"),
                    ("2025-10-01T06:00:00+00:00", "2025Q3"), ("2026-01-01T06:00:00+00:00", "2025Q4")]


RUNNER = """
import json, sys
from datetime import datetime, timezone
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={dags!r})
dag = bag.dags[{dag_id!r}]
run = dag.test(logical_date={logical_date}, run_conf={conf!r}, mark_success_pattern={skip!r})
from airflow.models.dagrun import DagRun
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id).all()
    states = {{f"{{ti.task_id}}[{{ti.map_index}}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}}
    note = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id, DagRun.run_id == run.run_id).one().note
print("CJM-RESULT " + json.dumps({{"state": str(run.state), "tasks": states, "run_id": run.run_id, "note": note}}))
"""


def run_dag(home: Path, config: Path, dag_id: str, logical_date: str | None, conf: dict | None = None,
            env: dict[str, str] | None = None, skip: str | None = None) -> dict:
    """One dag.test() run in a new process: {"state", "tasks": {task: state}, "run_id", "note",
    "output": what the run printed, every task's log among it}. ``skip``: a pattern of task ids
    marked successful without running (dag.test's mark_success_pattern)."""
    date = f"datetime.fromisoformat({logical_date!r})" if logical_date else "None"
    script = RUNNER.format(dags=str(DAGS), dag_id=dag_id, logical_date=date, conf=conf or {}, skip=skip)
    result = subprocess.run([sys.executable, "-c", script], env={**airflow_env(home, config), **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("CJM-RESULT ")]
    assert lines, f"no result (exit {result.returncode}):\n{result.stdout[-6000:]}"
    return {**json.loads(lines[-1][len("CJM-RESULT "):]), "output": result.stdout}


def task_log(output: str, task_id: str, map_index: int = -1) -> list[str]:
    """The lines a task logged in a dag.test() run (dag.test prints each task's log between the
    lines that start and end it)."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if f"[DAG TEST] starting task_id={task_id} map_index={map_index} " in line)
    end = next(i for i, line in enumerate(lines) if i > start and f"[DAG TEST] end task task_id={task_id} map_index={map_index} " in line)
    return lines[start + 1:end]


def info_lines(log: list[str], logger: str) -> str:
    """The INFO records of ``logger`` in a task's log, joined."""
    return "\n".join(line for line in log if "[info " in line and f"[{logger}]" in line)


def _site_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}


@pytest.fixture
def airflow_api(airflow_home: Path, tmp_path: Path):
    """Airflow's REST API (`airflow api-server`) on 127.0.0.1 over the test Airflow home, with the
    user `make airflow` makes for run notes (its password generated by scripts/airflow_local.py);
    yields the environment that hands a run the connection to it, as `make airflow` does."""
    from tests.conftest import free_port

    port, passwords = free_port(), tmp_path / "passwords.json"
    local = [sys.executable, str(REPO / "scripts" / "airflow_local.py")]
    made = subprocess.run([*local, "users", "--file", str(passwords), "--users", "cjm_notes:user"], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    connection = subprocess.run([*local, "connection", "--file", str(passwords), "--user", "cjm_notes", "--port", str(port)],
                                capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    env = {**airflow_env(airflow_home), "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__WORKERS": "1",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "cjm_notes:user", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords)}
    with open(tmp_path / "api-server.log", "wb") as log:
        server = subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "api-server"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import httpx

        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the api-server did not answer within 120 s"
            time.sleep(0.5)
        yield {"AIRFLOW_CONN_CJM_AIRFLOW_API": connection, "CJM_AIRFLOW_API_CONN_ID": "cjm_airflow_api"}
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_two_quarters_through_airflow_then_a_corrupt_one_stops_at_the_gate(airflow_home: Path, airflow_api: dict, sample_data: Path,
                                                                            tmp_path: Path):
    from cjm_tasks.config import load_config
    from cjm_tasks.run.pipeline import open_version_store

    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    # The planted changes are changes in keyword-written complaints: the keyword path is checked.
    config_file = write_sample_config(tmp_path / "cfg", data, keywords_only=True)
    config = load_config(config_file)
    runs = {}
    for period, logical_date in (("2025Q1", "2025-04-01T06:00:00+00:00"), ("2025Q2", "2025-07-01T06:00:00+00:00")):
        result = runs[period] = run_dag(airflow_home, config_file, "cjm_quarterly_refresh", logical_date, env=airflow_api)
        assert result["state"] == "success", result["output"][-5000:]
        assert sum(key.startswith("build_map[") for key in result["tasks"]) == 5
    # Each run's note is its quarter, written by resolve_period through the REST API.
    assert {period: run["note"] for period, run in runs.items()} == {"2025Q1": "2025Q1", "2025Q2": "2025Q2"}
    assert runs["2025Q1"]["run_id"] != runs["2025Q2"]["run_id"]
    _check_task_logs(runs["2025Q1"]["output"], config, "2025Q1")
    store = open_version_store(config)
    truth = json.loads((data / "ground_truth.json").read_text())
    for persona in truth["personas"] + ["all"]:
        assert [str(v.version) for v in store.list(persona)] == ["2025Q1-r1", "2025Q2-r1"], persona
    planted = {(c["persona"], c["barrier"], c["change"]) for c in truth["changes"] if c["from"] == "2025Q1"}
    flagged = set()
    for persona in truth["personas"]:
        diff = store.read_diff(store.resolve(persona, "2025Q2"))
        flagged |= {(persona, b["id"], b["status"]) for b in diff["barriers"] if b["flagged"]}
    assert planted and planted <= flagged, (planted, flagged)
    site = Path(config.storage.site)
    assert json.loads((site / "latest.json").read_text())["period"] == "2025Q2"
    assert (site / "personas" / "all" / "2025Q2-r1" / "index.html").is_file()
    before = _site_files(site)

    surveys = data / "2025Q3" / "surveys.csv"
    surveys.write_text(surveys.read_text(encoding="utf-8").replace(",q_purchase_csat,", ",q_teleport,", 3), encoding="utf-8")
    failed = run_dag(airflow_home, config_file, "cjm_quarterly_refresh", "2025-10-01T06:00:00+00:00")
    assert failed["state"] == "failed"
    assert failed["tasks"]["validate_sources"] == "failed"
    assert all(state in ("upstream_failed", "None") for key, state in failed["tasks"].items()
               if key.split("[")[0] in ("prepare_personas", "build_map", "store_versions", "render_site", "publish_site", "notify")), failed
    assert _site_files(site) == before  # nothing published, nothing lost
    assert [str(v.version) for v in store.list("all")] == ["2025Q1-r1", "2025Q2-r1"]
    report = json.loads((Path(config.storage.work) / "validation" / "2025Q3" / "validation.json").read_text())
    assert report["success"] is False and any("q_teleport" in str(c["sample_values"]) for s in report["sources"].values() for c in s["checks"])


def _check_task_logs(output: str, config, period: str) -> None:
    """What the analyst reads in the task logs of a successful run, at INFO: the rows read per
    source and file, the gate's result and report, each persona's map, the stored versions, the
    published site and the summary; and none of the libraries' own INFO lines."""
    personas = [p.id for p in config.personas.personas] + ["all"]
    sources = list(config.sources)
    reads = [info_lines(task_log(output, "read_source", i), "cjm_tasks.ingest.batches") for i in range(len(sources))]
    for source in sources:
        assert any(re.search(rf"read {source}: [0-9]+ rows from 1 file\(s\), 0 outside {period}", read) for read in reads), (source, reads)
        assert any(re.search(rf"read {source}: /\S+: [0-9]+ rows", read) for read in reads), (source, reads)
    report = Path(config.storage.work) / "validation" / period / "validation.html"
    assert f"validation of {period}: passed ({report})" in info_lines(task_log(output, "validate_sources"), "cjm_tasks.run.pipeline")
    built = "\n".join(info_lines(task_log(output, "build_map", i), "cjm_tasks.run.steps") for i in range(len(personas)))
    for persona in personas:
        assert re.search(rf"built the {re.escape(persona)} map of {period}: [0-9]+ customers, [0-9]+ barriers "
                         r"\([0-9]+ catalog, [0-9]+ metric, [0-9]+ emerging\)", built), (persona, built)
    stored = info_lines(task_log(output, "store_versions"), "cjm_tasks.versions.store")
    assert sorted(re.findall(rf"stored (\S+) {period}-r1", stored)) == sorted(personas), stored
    published = info_lines(task_log(output, "publish_site"), "cjm_tasks.site.publish")
    assert re.search(rf"published [0-9]+ file\(s\), kept [0-9]+, latest {period} at \S+index.html", published), published
    notified = "\n".join(task_log(output, "notify"))
    assert f"[info     ] {config.project.name}: customer journey maps for {period} are published." in notified, notified
    assert all(f"- {persona} {period}-r1 (new version): " in notified for persona in personas), notified
    # Third-party INFO lines stay out (quiet_libraries in every task, the Makefile's namespace levels).
    noisy = [line for line in output.splitlines() if "[info " in line and re.search(
        r"\[(great_expectations|botocore|boto3|urllib3|s3transfer|py4j|alembic|sqlalchemy|pymorphy3|airflow\.api_fastapi|airflow\.dag_processing)[.\]]", line)]
    assert noisy == [], noisy[:5]


def test_manual_run_takes_the_period_param_and_compare_dag_publishes(airflow_home: Path, sample_data: Path, tmp_path: Path):
    from cjm_tasks.config import load_config

    config_file = write_sample_config(tmp_path / "cfg", sample_data)
    result = run_dag(airflow_home, config_file, "cjm_quarterly_refresh", "2026-06-15T12:00:00+00:00", {"period": "2025Q3"})
    assert result["state"] == "success", result
    config = load_config(config_file)
    assert json.loads((Path(config.storage.site) / "latest.json").read_text())["period"] == "2025Q3"
    compared = run_dag(airflow_home, config_file, "cjm_compare_versions", None,
                       {"persona": "families", "from": "2025Q3", "to": "2025Q3-r1"})
    assert compared["state"] == "success", compared
    page = Path(config.storage.site) / "compare" / "families" / "2025Q3-r1..2025Q3-r1" / "index.html"
    assert page.is_file()
    # The task log names the page, and the index links it at once (tests/test_compare_links.py has the rest).
    assert f"comparison page published: {page}" in info_lines(task_log(compared["output"], "compare_versions"), "cjm_tasks.run.steps")
    assert 'href="compare/families/2025Q3-r1..2025Q3-r1/index.html"' in (Path(config.storage.site) / "index.html").read_text(encoding="utf-8")


def test_a_missing_source_fails_at_its_read_source_task_with_one_line(airflow_home: Path, sample_data: Path, tmp_path: Path):
    import yaml

    config_file = write_sample_config(tmp_path / "cfg", sample_data)
    main = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    missing = str(tmp_path / "drop" / "{period}" / "reviews.jsonl")
    main["sources"]["reviews"]["location"] = missing
    config_file.write_text(yaml.safe_dump(main, sort_keys=False), encoding="utf-8")
    # wait_for_inputs would wait for the file (and fail after its timeout with the same news);
    # marked done here, as when a file goes away after the wait, so that read_source meets it.
    result = run_dag(airflow_home, config_file, "cjm_quarterly_refresh", "2025-04-01T06:00:00+00:00", skip="^wait_for_inputs$")
    sources = list(main["sources"])
    reviews = f"read_source[{sources.index('reviews')}]"
    assert result["state"] == "failed" and result["tasks"][reviews] == "failed", result["tasks"]
    assert all(result["tasks"][f"read_source[{i}]"] == "success" for i in range(len(sources)) if i != sources.index("reviews")), result["tasks"]
    assert result["tasks"]["validate_sources"] == "upstream_failed", result["tasks"]
    log = task_log(result["output"], "read_source", sources.index("reviews"))
    errors = [line for line in log if "[error" in line]
    message = f"reviews: {missing.format(period='2025Q1')}: no file matches this location"
    # The message first, on a line of its own; then Airflow's "Task failed" with its own frames only.
    assert message in errors[0] and "Task failed with exception" in errors[1], errors
    frames = [line.strip() for line in log if line.strip().startswith('File "')]
    ours = [frame for frame in frames if "/cjm_tasks/" in frame]
    assert len(ours) == 1 and "/cjm_tasks/run/airflow.py" in ours[0] and "in run_step" in ours[0], frames
    assert not any("The above exception was the direct cause" in line or "During handling" in line for line in log)
    assert log.count(f"airflow.sdk.exceptions.AirflowFailException: {message}") == 1, log


def test_dag_docs_list_every_task_in_the_order_they_run(dagbag):
    for dag in dagbag.dags.values():
        lines = [line for line in dag.doc_md.splitlines() if line.startswith("1. **")]
        listed = [re.match(r"1\. \*\*(\w+)\*\*: (.+)$", line).groups() for line in lines]
        order = [task_id for task_id, _ in listed]
        assert sorted(order) == sorted(dag.task_ids), (dag.dag_id, order)
        for task_id in order:  # every task after those it depends on
            assert dag.get_task(task_id).upstream_task_ids <= set(order[:order.index(task_id)]), (dag.dag_id, task_id)
        for task_id, description in listed:  # each described by its task's own docstring
            task = dag.get_task(task_id)
            own = (task.doc_md or getattr(getattr(task, "python_callable", None), "__doc__", None) or "").strip()
            assert own and description == own.splitlines()[0], (dag.dag_id, task_id, description)
        # What the DAG does and its params, not how it is built.
        assert all(f"`{param}`" in dag.doc_md for param in dag.params), dag.dag_id
        assert not any(note in dag.doc_md for note in ("XCom", "keys[:]", "workspace handle", "cjm_tasks.run")), dag.dag_id


def test_make_airflow_binds_this_machine_fits_its_cores_and_prints_no_password(tmp_path: Path):
    # What `make airflow` would run (make -n: printed, not run), then its password step for real.
    home = tmp_path / "home"
    shown = subprocess.run(["make", "-n", "airflow", f"AIRFLOW_HOME={home}"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    standalone = next(line for line in shown.stdout.splitlines() if line.rstrip().endswith("airflow standalone"))
    for setting in ("AIRFLOW__API__HOST=127.0.0.1 ", "AIRFLOW__CORE__PARALLELISM=$(nproc", "AIRFLOW__LOGGING__LOGGING_LEVEL=INFO ",
                    f"AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE={home}/", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:"):
        assert setting in standalone, setting
    # Airflow prints a password it generates, and standalone prints admin's when the users are the
    # default admin:admin; here the users are others and their passwords exist before it starts.
    assert "SIMPLE_AUTH_MANAGER_USERS=admin:admin," in standalone
    users = next(line for line in shown.stdout.splitlines() if "airflow_local.py users" in line)
    assert shown.stdout.index(users) < shown.stdout.index(standalone)
    made = subprocess.run(users.split(), cwd=REPO, capture_output=True, text=True, timeout=60)
    passwords_file = home / "simple_auth_manager_passwords.json.generated"
    passwords = json.loads(passwords_file.read_text())
    assert set(passwords) == {"admin", "cjm_notes"} and all(len(p) >= 20 for p in passwords.values())
    assert passwords_file.stat().st_mode & 0o777 == 0o600
    assert not any(p in made.stdout + made.stderr for p in passwords.values()) and str(passwords_file) in made.stdout
    again = subprocess.run(users.split(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and again.stdout == "" and json.loads(passwords_file.read_text()) == passwords
