"""
### Quarterly customer journey map refresh

Runs at 06:00 UTC on the first day of every quarter; the run's data interval is the quarter that
just ended, and that quarter is refreshed. Triggered by hand, the run takes the quarter from the
`period` param (e.g. `2025Q3`).

1. **snapshot_config**: load the configuration into the run's workspace
   (`<storage.work>/runs/<run id>/`); every later task builds with this snapshot, so a retry after
   an edit of the YAML files builds with the configuration the maps' lineage names.
2. **check_unchanged** (short-circuit): when the quarter's input files (hashed, not read), the
   configuration and the code match the latest stored revision of every persona, every later
   task is skipped and the run's workspace removed: nothing is built, stored or published.
   The `force` param rebuilds anyway.
3. **read_source** (one task per source, in parallel): read surveys, reviews, sales and customers
   for the quarter into the workspace.
4. **validate_sources** — the gate: Great Expectations' checks, computed by the engine, on every source. A failure fails the
   run with the list of failed checks (no retries); nothing is built, stored or published.
5. **prepare_personas**: assign customers to personas and tag every row once.
6. **build_map** (one mapped task per persona, named by the persona id): the persona's journey map.
7. **store_versions**: store every map as an immutable version with its diff (one task: the
   diffs of all personas share one false-discovery adjustment).
8. **render_site** → **publish_site** (updates the `cjm_published_site` asset) → **notify** →
   **clean_workspaces** (removes the workspaces of successful runs but the newest
   `storage.keep_runs`; a failed run's workspace stays for inspection).

Each task runs the `cjm_tasks.run.steps` function of its name through `cjm_tasks.run.airflow`,
the same steps `cjm refresh` runs in one process; reruns are idempotent. Tasks pass the workspace
handle and workspace keys, never data; mapped results are read with a slice (`keys[:]`), one
request, rather than iterated (iteration probes one XCom past the end and logs an error).
Configuration: `CJM_CONFIG` (default `configs/cjm.yaml`), or the `config` param. S3 access: the
Airflow connection `CJM_AWS_CONN_ID` names, else the standard AWS chain. Schedule start and
catch-up: `CJM_START_DATE` (default 2025-01-01) and `CJM_CATCHUP` (default false).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable

SITE = Asset(name="cjm_published_site", uri="cjm://published-site")
QUARTERLY = CronTriggerTimetable("0 6 1 1,4,7,10 *", timezone="UTC", interval=relativedelta(months=3))
STORAGE_RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0,
                   "max_retry_delay": timedelta(minutes=10)}
# The trigger form's check; the task checks the value again with cjm_tasks.ids.period (the one
# check of every period a user types), which the DAG file cannot import at parse time.
PERIOD_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})Q[1-4]$"


def _start_date() -> datetime:
    return datetime.fromisoformat(os.environ.get("CJM_START_DATE", "2025-01-01")).replace(tzinfo=timezone.utc)


def _run(step: str, *args, workspace: dict | None = None):
    """Run the cjm_tasks step of that name (imported here, inside a task, never at parse time)."""
    from cjm_tasks.run.airflow import run_step

    return run_step(step, *args, workspace=workspace)


@dag(
    dag_id="cjm_quarterly_refresh",
    schedule=QUARTERLY,
    start_date=_start_date(),
    catchup=os.environ.get("CJM_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=1,
    tags=["cjm", "quarterly", "reports"],
    doc_md=__doc__,
    default_args={"owner": "cx-analytics", "retries": 0},
    params={
        "period": Param(None, type=["null", "string"], pattern=PERIOD_PATTERN,
                        description="Quarter to refresh when triggered by hand, e.g. 2025Q3 (scheduled runs use their data interval)."),
        "config": Param(None, type=["null", "string"], description="Main config file (default: CJM_CONFIG or configs/cjm.yaml)."),
        "force": Param(False, type="boolean", description="Rebuild even when inputs, configuration and code match the stored versions."),
    },
)
def cjm_quarterly_refresh():
    @task
    def resolve_period(data_interval_start=None, params=None) -> str:
        from airflow.sdk.exceptions import AirflowFailException
        from cjm_tasks import ids

        period = (params or {}).get("period")
        try:
            period = str(ids.period(period, "param 'period'")) if period else None
        except ids.IdError as exc:
            raise AirflowFailException(str(exc)) from None  # a bad param: no retry can help
        start = data_interval_start.isoformat() if data_interval_start else None
        return _run("resolve_period", start, period)

    @task(**STORAGE_RETRIES)
    def snapshot_config(run_id=None, params=None) -> dict:
        return _run("snapshot_config", (params or {}).get("config"), run_id)

    @task.short_circuit(**STORAGE_RETRIES)
    def check_unchanged(period: str, workspace: dict, params=None) -> bool:
        # False skips every later task: an unchanged quarter has nothing to build.
        return not _run("check_unchanged", period, bool((params or {}).get("force")), workspace=workspace)["unchanged"]

    @task(**STORAGE_RETRIES)
    def list_sources(workspace: dict) -> list[str]:
        return _run("list_sources", workspace=workspace)

    @task(map_index_template="{{ source }}", **STORAGE_RETRIES)
    def read_source(source: str, period: str, workspace: dict) -> str:
        from airflow.sdk import get_current_context

        get_current_context()["source"] = source
        return _run("read_source", period, source, workspace=workspace)

    @task(retries=0)
    def validate_sources(period: str, source_keys: list[str], workspace: dict) -> dict:
        return _run("validate_sources", period, source_keys[:], workspace=workspace)

    @task(**STORAGE_RETRIES)
    def prepare_personas(source_keys: list[str], workspace: dict) -> list[str]:
        return _run("prepare_personas", source_keys[:], workspace=workspace)

    @task(map_index_template="{{ persona }}", **STORAGE_RETRIES)
    def build_map(persona: str, period: str, workspace: dict) -> str:
        from airflow.sdk import get_current_context

        get_current_context()["persona"] = persona
        return _run("build_map", period, persona, workspace=workspace)

    @task(**STORAGE_RETRIES)
    def store_versions(map_keys: list[str], workspace: dict) -> list[dict]:
        return _run("store_versions", map_keys[:], workspace=workspace)

    @task(**STORAGE_RETRIES)
    def render_site(workspace: dict) -> str:
        return _run("render_site", workspace=workspace)

    @task(outlets=[SITE], **STORAGE_RETRIES)
    def publish_site(rendered_key: str, workspace: dict) -> dict:
        return _run("publish_site", rendered_key, workspace=workspace)

    @task
    def notify(period: str, stored: list[dict], published: dict, workspace: dict) -> str:
        return _run("notify", period, stored[:], published, workspace=workspace)

    @task(**STORAGE_RETRIES)
    def clean_workspaces(workspace: dict) -> list[str]:
        return _run("clean_workspaces", workspace=workspace)

    period = resolve_period()
    workspace = snapshot_config()
    sources = list_sources(workspace)
    check_unchanged(period, workspace) >> sources
    source_keys = read_source.partial(period=period, workspace=workspace).expand(source=sources)
    personas = prepare_personas(source_keys, workspace)
    validate_sources(period, source_keys, workspace) >> personas
    maps = build_map.partial(period=period, workspace=workspace).expand(persona=personas)
    stored = store_versions(maps, workspace)
    rendered = render_site(workspace)
    stored >> rendered
    published = publish_site(rendered, workspace)
    notify(period, stored, published, workspace) >> clean_workspaces(workspace)


cjm_quarterly_refresh()
