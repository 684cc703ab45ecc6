"""The Airflow DAGs: integrity rules, the quarterly timetable, and real runs with dag.test()."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, write_sample_config

DAGS = REPO / "dags"
pytestmark = pytest.mark.airflow


def airflow_env(home: Path, config: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
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
            "print(sorted(m for m in ('pandas', 'great_expectations', 'boto3', 'pyarrow', 'scipy', 'cjm_tasks') if m in sys.modules))") % str(DAGS)
    result = subprocess.run([sys.executable, "-c", code], env=airflow_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


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
run = dag.test(logical_date={logical_date}, run_conf={conf!r})
from airflow.models.taskinstance import TaskInstance
from airflow.utils.session import create_session
with create_session() as session:
    tis = session.query(TaskInstance).filter(TaskInstance.dag_id == dag.dag_id, TaskInstance.run_id == run.run_id).all()
    states = {{f"{{ti.task_id}}[{{ti.map_index}}]" if ti.map_index >= 0 else ti.task_id: str(ti.state) for ti in tis}}
print("CJM-RESULT " + json.dumps({{"state": str(run.state), "tasks": states}}))
"""


def run_dag(home: Path, config: Path, dag_id: str, logical_date: str | None, conf: dict | None = None) -> dict:
    date = f"datetime.fromisoformat({logical_date!r})" if logical_date else "None"
    script = RUNNER.format(dags=str(DAGS), dag_id=dag_id, logical_date=date, conf=conf or {})
    result = subprocess.run([sys.executable, "-c", script], env=airflow_env(home, config), capture_output=True, text=True, timeout=600)
    lines = [line for line in result.stdout.splitlines() if line.startswith("CJM-RESULT ")]
    assert lines, f"no result (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return json.loads(lines[-1][len("CJM-RESULT "):])


def _site_files(site: Path) -> dict[str, bytes]:
    return {str(p.relative_to(site)): p.read_bytes() for p in site.rglob("*") if p.is_file()}


def test_two_quarters_through_airflow_then_a_corrupt_one_stops_at_the_gate(airflow_home: Path, sample_data: Path, tmp_path: Path):
    from cjm_tasks.config import load_config
    from cjm_tasks.run.pipeline import open_version_store

    data = tmp_path / "data"
    shutil.copytree(sample_data, data)
    # The planted changes are changes in keyword-written complaints: the keyword path is checked.
    config_file = write_sample_config(tmp_path / "cfg", data, keywords_only=True)
    config = load_config(config_file)
    for logical_date in ("2025-04-01T06:00:00+00:00", "2025-07-01T06:00:00+00:00"):
        result = run_dag(airflow_home, config_file, "cjm_quarterly_refresh", logical_date)
        assert result["state"] == "success", result
        assert sum(key.startswith("build_map[") for key in result["tasks"]) == 5
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
