"""What the Airflow DAGs call: one :mod:`cjm_tasks.run.steps` step per task, with S3 access from
an Airflow connection.

Airflow is imported inside functions only, so the library stays importable without it; a DAG
file imports this module inside its tasks, so parsing it stays cheap.

S3 credentials: when ``CJM_AWS_CONN_ID`` names an Airflow connection, its login and password
(and from its extra ``endpoint_url``, ``region_name`` and ``aws_session_token``) make a boto3
session that storage uses for everything the step opens, inputs included
(:func:`cjm_tasks.storage.handing_s3_access`). The environment is left alone. Without the
variable, the standard AWS chain applies. Every step's logs pass through
:func:`cjm_tasks.logs.redact_logs`, which masks the connection's credentials and signed headers,
and the libraries' own INFO lines are kept out (:func:`cjm_tasks.logs.quiet_libraries`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cjm_tasks.errors import MissingInput
from cjm_tasks.logs import add_secrets, quiet_libraries, redact_logs
from cjm_tasks.storage import S3Access, handing_s3_access

CONN_ENV = "CJM_AWS_CONN_ID"
# The Airflow connection (http or https: host, port, login, password) of Airflow's own REST API,
# which resolve_period uses to write the quarter into its run's note.
API_CONN_ENV = "CJM_AIRFLOW_API_CONN_ID"

log = logging.getLogger(__name__)


def s3_access() -> S3Access | None:
    """The S3 access of the Airflow connection ``CJM_AWS_CONN_ID`` names (None when it names none)."""
    conn_id = os.environ.get(CONN_ENV)
    if not conn_id:
        return None
    import boto3
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson
    # Airflow masks a connection's password in task logs, not its login (the access key id).
    add_secrets([conn.login, conn.password, extra.get("aws_session_token")])
    session = boto3.session.Session(aws_access_key_id=conn.login or None, aws_secret_access_key=conn.password or None,
                                    aws_session_token=extra.get("aws_session_token"), region_name=extra.get("region_name"))
    return S3Access(session=session, endpoint_url=extra.get("endpoint_url"))


def run_step(step: str, *args: Any, workspace: dict[str, Any] | None = None) -> Any:
    """``steps.<step>(*args)``, or ``steps.<step>(<the workspace>, *args)`` given a workspace
    handle, with the connection's S3 access; returns its :func:`~cjm_tasks.run.steps.summary`.

    A source without a file for the quarter (:class:`~cjm_tasks.errors.MissingInput`) fails the
    task at once, without retries and without the library's traceback (:func:`clean_failure`)."""
    from cjm_tasks.run import steps
    from cjm_tasks.run.workspace import Workspace

    redact_logs()
    quiet_libraries()  # the task log shows what the step did, not GX's or botocore's chatter
    try:
        with handing_s3_access(s3_access()):
            first = (Workspace.open(workspace),) if workspace is not None else ()
            return steps.summary(getattr(steps, step)(*first, *args))
    except MissingInput as exc:
        raise clean_failure(exc) from None


def clean_failure(exc: Exception) -> Exception:
    """The error a task fails with when retrying cannot help and the message says it all: the
    message is logged first, as an error line of its own, and the exception returned is an
    ``AirflowFailException`` (no retries) with that message, raised ``from None`` so that the
    library's frames behind it stay out of the task log (Airflow still prints its own frames)."""
    from airflow.sdk.exceptions import AirflowFailException

    log.error("%s", exc)
    return AirflowFailException(str(exc))


def resolve_run_period(params: dict[str, Any], data_interval_start: Any = None, dag_id: str | None = None,
                       run_id: str | None = None) -> str:
    """The quarter a DAG run refreshes (:func:`cjm_tasks.run.steps.resolve_period`): the ``period``
    param when given, checked here again (:func:`cjm_tasks.ids.refreshable_period`: a quarter
    after the current one is refused), else the quarter of the data interval. Written into the
    run's note (``2025Q3``, ``2025Q3 forced``) when ``dag_id`` and ``run_id`` are given
    (:func:`note_run`). A bad or missing period fails the task at once (``AirflowFailException``:
    no retry can help)."""
    from cjm_tasks import ids
    from cjm_tasks.run.steps import StepError

    try:
        period = params.get("period")
        period = str(ids.refreshable_period(period, "param 'period'")) if period else None
        start = data_interval_start.isoformat() if data_interval_start else None
        resolved = run_step("resolve_period", start, period)
    except (ids.IdError, StepError) as exc:
        raise clean_failure(exc) from None
    forced = bool(params.get("force"))
    log.info("this run refreshes %s%s", resolved, " (forced)" if forced else "")
    if dag_id and run_id:
        note_run(dag_id, run_id, f"{resolved} forced" if forced else resolved)
    return resolved


def note_run(dag_id: str, run_id: str, note: str) -> bool:
    """Set the note of DAG run ``run_id`` to ``note`` through Airflow's REST API, with the
    connection ``CJM_AIRFLOW_API_CONN_ID`` names; returns whether it was set.

    Airflow 3's task SDK cannot write its run's note (its execution API has no such call, and a
    task has no database access), so this is the supported way: a token from ``/auth/token`` with
    the connection's login and password, then ``PATCH /api/v2/dags/<dag>/dagRuns/<run>``. The
    note is a label, so a failure is logged as a warning and the run goes on; without the
    variable nothing is tried.
    """
    conn_id = os.environ.get(API_CONN_ENV)
    if not conn_id:
        log.info("run note not set (%s names no connection to Airflow's REST API)", API_CONN_ENV)
        return False
    from urllib.parse import quote

    import httpx
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
        add_secrets([conn.password])
        scheme = "https" if conn.conn_type == "https" else "http"
        base = f"{scheme}://{conn.host}{f':{conn.port}' if conn.port else ''}{f'/{conn.schema}' if conn.schema else ''}"
        with httpx.Client(base_url=base, timeout=30) as client:
            reply = client.post("/auth/token", json={"username": conn.login, "password": conn.password})
            reply.raise_for_status()
            token = reply.json()["access_token"]
            add_secrets([token])
            reply = client.patch(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}",
                                 params={"update_mask": "note"}, json={"note": note},
                                 headers={"Authorization": f"Bearer {token}"})
            reply.raise_for_status()
    except Exception as exc:  # a label only: the refresh goes on without it
        log.warning("run note not set through %s: %s: %s", conn_id, type(exc).__name__, exc)
        return False
    log.info("run note set: %s", note)
    return True
