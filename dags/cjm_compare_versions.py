"""
### Compare two versions of a persona's journey map

Computes the diff of any two stored versions of a persona's map (not only neighbours), with the
same statistical rules as the quarterly refresh, and publishes the comparison page at
`compare/<persona>/<from>..<to>/index.html` of the reports site, with its JSON and a Markdown
summary beside it. Triggered by hand only.

- **Params**: `persona`: a persona id (or `all`); `from`, `to`: versions such as `2025Q2` (the
  latest revision of that quarter) or `2025Q2-r1`; `config`: the main configuration file
  (default: `CJM_CONFIG` or `configs/cjm.yaml`).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import Param, dag, task
from cjm_tasks.run.dag_docs import with_task_list  # imports nothing: light at parse time

# The form checks of the trigger form; the task checks the values again with cjm_tasks.ids (the
# one check of every id a user types), which the DAG file cannot import at parse time. The task
# runs the cjm_tasks.run.steps function of its name through cjm_tasks.run.airflow (S3 access from
# the connection CJM_AWS_CONN_ID names).
PERSONA_PATTERN = r"^[a-z0-9_-]+$"
PERSONA_MAX_LENGTH = 64
VERSION_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})Q[1-4](-r[1-9][0-9]{0,5})?$"


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
        "persona": Param("all", type="string", pattern=PERSONA_PATTERN, minLength=1, maxLength=PERSONA_MAX_LENGTH,
                         description="Persona id (or 'all')."),
        "from": Param("2025Q1", type="string", pattern=VERSION_PATTERN, description="Older version, e.g. 2025Q1 or 2025Q1-r1."),
        "to": Param("2025Q2", type="string", pattern=VERSION_PATTERN, description="Newer version."),
        "config": Param(None, type=["null", "string"], description="Main config file (default: CJM_CONFIG or configs/cjm.yaml)."),
    },
)
def cjm_compare_versions():
    @task(retries=3, retry_delay=timedelta(seconds=30), retry_exponential_backoff=2.0)
    def compare_versions(params=None) -> dict:
        """Diff the two versions and publish the comparison page (listed on the site's index and the persona's page)."""
        from airflow.sdk.exceptions import AirflowFailException
        from cjm_tasks import ids
        from cjm_tasks.run.airflow import run_step

        try:
            persona = ids.persona_id(params["persona"], "param 'persona'")
            older, newer = (str(ids.version_ref(params[key], f"param {key!r}")) for key in ("from", "to"))
        except ids.IdError as exc:
            raise AirflowFailException(str(exc)) from None  # a bad param: no retry can help
        return run_step("compare_versions", params.get("config"), persona, older, newer)

    compare_versions()


compare = cjm_compare_versions()
compare.doc_md = with_task_list(__doc__, compare)
