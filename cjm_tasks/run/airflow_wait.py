"""The quarterly DAG's ``wait_for_inputs`` task: the run waits for the quarter's inputs without
holding a worker slot.

Each time the task runs, it checks once (:func:`cjm_tasks.run.steps.wait_for_inputs`, through
:func:`~cjm_tasks.run.airflow.run_step` with the run's S3 access). When every input is there, it
succeeds and reading starts. When something is missing, it defers to Airflow's standard timer
trigger (``TimeDeltaTrigger``, run by the triggerer) for ``wait.poke_every`` and frees its worker;
the triggerer resumes it for the next check. Once it has waited ``wait.timeout``, the step raises
:class:`~cjm_tasks.ingest.readiness.InputsMissing` and the task fails at once, without retries, with
the list of what is still missing (source and location).

How long the task has waited is counted from its first check, kept as the task instance's XCom
``waiting_since``: Airflow keeps a deferred task's XComs when it resumes and clears them for a new
try, so a cleared or retried task waits afresh. (The defer's ``kwargs`` and the task's start date
would not do: ``dag.test()`` replaces the former with the trigger's event and restarts the latter.)

Airflow is imported inside the function; the sensor class lives in the DAG file and calls
:func:`wait_for_inputs` from its ``execute``, so parsing the DAG does not import this module.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

SINCE = "waiting_since"

log = logging.getLogger(__name__)


def wait_for_inputs(sensor: Any, context: Any, period: str, workspace: dict[str, Any]) -> dict[str, Any]:
    """One check by ``sensor`` (a ``BaseSensorOperator`` whose ``execute`` calls this, also when it
    resumes) of ``period``'s inputs: returns the step's answer when they are all there, else
    defers the task until the next check (``sensor.defer`` raises ``TaskDeferred``). Raises
    ``AirflowFailException`` with the list of what is missing once the wait is over."""
    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

    from cjm_tasks.ingest.readiness import InputsMissing
    from cjm_tasks.run.airflow import clean_failure, run_step

    ti = context["ti"]
    now = datetime.now(timezone.utc)
    since = ti.xcom_pull(task_ids=ti.task_id, key=SINCE)
    if since is None:
        since = now.isoformat()
        ti.xcom_push(key=SINCE, value=since)
    waited = max(0.0, (now - datetime.fromisoformat(since)).total_seconds())
    try:
        answer = run_step("wait_for_inputs", period, waited, workspace=workspace)
    except InputsMissing as exc:
        raise clean_failure(exc) from None
    if answer["ready"]:
        return answer
    sensor.defer(trigger=TimeDeltaTrigger(timedelta(seconds=answer["next_check"])), method_name="execute")
