"""What the Airflow DAGs call: one :mod:`cjm_tasks.run.steps` step per task, with S3 access from
an Airflow connection.

Airflow is imported inside functions only, so the library stays importable without it; a DAG
file imports this module inside its tasks, so parsing it stays cheap.

S3 credentials: when ``CJM_AWS_CONN_ID`` names an Airflow connection, its login and password
(and from its extra ``endpoint_url``, ``region_name`` and ``aws_session_token``) make a boto3
session that storage uses for everything the step opens, inputs included
(:func:`cjm_tasks.storage.handing_s3_access`). The environment is left alone. Without the
variable, the standard AWS chain applies. Every step's logs pass through
:func:`cjm_tasks.logs.redact_logs`, which masks the connection's credentials and signed headers.
"""

from __future__ import annotations

import os
from typing import Any

from cjm_tasks.logs import add_secrets, redact_logs
from cjm_tasks.storage import S3Access, handing_s3_access

CONN_ENV = "CJM_AWS_CONN_ID"


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
    handle, with the connection's S3 access; returns its :func:`~cjm_tasks.run.steps.summary`."""
    from cjm_tasks.run import steps
    from cjm_tasks.run.workspace import Workspace

    redact_logs()
    with handing_s3_access(s3_access()):
        first = (Workspace.open(workspace),) if workspace is not None else ()
        return steps.summary(getattr(steps, step)(*first, *args))
