"""
### Compare two versions of a persona's journey map

Triggered by hand with the params `persona`, `from` and `to` (versions such as `2025Q2` — the
latest revision of that quarter — or `2025Q2-r1`). The task **compare_versions** computes the diff
of any two stored versions (not only neighbours) with the same statistical rules as the refresh,
and publishes the comparison page at `compare/<persona>/<from>..<to>/index.html` of the site, with
its JSON and a Markdown summary beside it. The task runs the `cjm_tasks.run.steps` function of
its name through `cjm_tasks.run.airflow` (S3 access from the connection `CJM_AWS_CONN_ID` names).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task

VERSION_PATTERN = r"^[0-9]{4}Q[1-4](-r[0-9]+)?$"


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
        from cjm_tasks.run.airflow import run_step

        return run_step("compare_versions", params.get("config"), params["persona"], params["from"], params["to"])

    compare_versions()


cjm_compare_versions()
