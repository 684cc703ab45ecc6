"""
### Compare two versions of a persona's journey map

Triggered by hand with the params `persona`, `from` and `to` (versions such as `2025Q2` — the
latest revision of that quarter — or `2025Q2-r1`). The task **compare_versions** computes the diff
of any two stored versions (not only neighbours) with the same statistical rules as the refresh,
and publishes the comparison page at `compare/<persona>/<from>..<to>/index.html` of the site, with
its JSON and a Markdown summary beside it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

VERSION_PATTERN = r"^[0-9]{4}Q[1-4](-r[0-9]+)?$"


def _steps():
    """The cjm_tasks steps, after exporting S3 credentials from an Airflow connection when
    CJM_AWS_CONN_ID names one (otherwise the standard AWS chain applies). Runs inside tasks only."""
    conn_id = os.environ.get("CJM_AWS_CONN_ID")
    if conn_id:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
        os.environ["AWS_ACCESS_KEY_ID"] = conn.login or ""
        os.environ["AWS_SECRET_ACCESS_KEY"] = conn.password or ""
        endpoint = conn.extra_dejson.get("endpoint_url")
        if endpoint:
            os.environ["CJM_S3_ENDPOINT_URL"] = endpoint
    from cjm_tasks.run import steps

    return steps


@dag(
    dag_id="cjm_compare_versions",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=4,
    tags=["cjm", "reports", "manual"],
    doc_md=__doc__,
    default_args={"owner": "cx-analytics", "retries": 0},
    params={
        "persona": Param("all", type="string", pattern=r"^[a-z0-9_-]+$", description="Persona id (or 'all')."),
        "from": Param("2025Q1", type="string", pattern=VERSION_PATTERN, description="Older version, e.g. 2025Q1 or 2025Q1-r1."),
        "to": Param("2025Q2", type="string", pattern=VERSION_PATTERN, description="Newer version."),
        "config": Param(None, type=["null", "string"], description="Main config file (default: CJM_CONFIG or configs/cjm.yaml)."),
    },
)
def cjm_compare_versions():
    @task(retries=3, retry_delay=timedelta(seconds=30), retry_exponential_backoff=2.0)
    def compare_versions(params=None) -> dict:
        steps = _steps()

        return steps.compare_versions(params.get("config"), params["persona"], params["from"], params["to"])

    compare_versions()


cjm_compare_versions()
