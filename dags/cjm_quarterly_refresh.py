"""
### Quarterly customer journey map refresh

Rebuilds every persona's customer journey map for one quarter, stores each map as an immutable
version with its diff against the previous version, and publishes the reports site.

- **Scheduled**: at 06:00 UTC on the first day of every quarter, for the quarter that just ended.
- **Triggered by hand**: for the quarter in the `period` param.
- **Params**: `period`: the quarter, e.g. `2025Q3` (not after the current quarter); `config`: the
  main configuration file (default: `CJM_CONFIG` or `configs/cjm.yaml`); `force`: rebuild even when
  the inputs, the configuration and the code match the stored versions.
- Each run's note names its quarter (`2025Q3`, or `2025Q3 forced`) when `CJM_AIRFLOW_API_CONN_ID`
  names a connection to Airflow's REST API.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from dateutil.relativedelta import relativedelta

from airflow.sdk import Asset, BaseSensorOperator, Param, dag, task
from airflow.timetables.trigger import CronTriggerTimetable
# Light at parse time: the module imports only Airflow's BaseNotifier until a notifier is called.
from cjm_tasks.run.airflow_notify import RefreshNotifier
from cjm_tasks.run.dag_docs import with_task_list

SITE = Asset(name="cjm_published_site", uri="cjm://published-site")
QUARTERLY = CronTriggerTimetable("0 6 1 1,4,7,10 *", timezone="UTC", interval=relativedelta(months=3))
STORAGE_RETRIES = {"retries": 3, "retry_delay": timedelta(seconds=30), "retry_exponential_backoff": 2.0,
                   "max_retry_delay": timedelta(minutes=10)}
# The trigger form's check; the task checks the value again with cjm_tasks.ids.refreshable_period
# (the one check of every period a user types, which also refuses a quarter after the current
# one: a schema cannot know the date), which the DAG file cannot import at parse time.
PERIOD_PATTERN = r"^(19[0-9]{2}|2[0-9]{3})Q[1-4]$"


# How the tasks work together: each task runs the cjm_tasks.run.steps function of its name through
# cjm_tasks.run.airflow (the same steps `cjm refresh` runs in one process); reruns are idempotent.
# Tasks pass the workspace handle (<storage.work>/runs/<run id>/, written by snapshot_config, so a
# retry after an edit of the YAML files builds with the configuration the maps' lineage names) and
# workspace keys, never data. Mapped results are read with a slice (`keys[:]`), one request,
# rather than iterated (iteration probes one XCom past the end and logs an error). S3 access: the
# Airflow connection CJM_AWS_CONN_ID names, else the standard AWS chain. Schedule start and
# catch-up: CJM_START_DATE (default 2025-01-01) and CJM_CATCHUP (default false); CJM_END_DATE (default
# none) stops the schedule, e.g. after the sample quarters (`make airflow`).


def _start_date() -> datetime:
    return datetime.fromisoformat(os.environ.get("CJM_START_DATE", "2025-01-01")).replace(tzinfo=timezone.utc)


def _end_date() -> datetime | None:
    end = os.environ.get("CJM_END_DATE")
    return datetime.fromisoformat(end).replace(tzinfo=timezone.utc) if end else None


def _run(step: str, *args, workspace: dict | None = None):
    """Run the cjm_tasks step of that name (imported here, inside a task, never at parse time)."""
    from cjm_tasks.run.airflow import run_step

    return run_step(step, *args, workspace=workspace)


class WaitForInputs(BaseSensorOperator):
    """wait_for_inputs: checks, then defers to a timer between checks (cjm_tasks.run.airflow_wait,
    imported when the task runs: parsing the DAG imports only the library's light modules)."""

    template_fields = ("period", "workspace")

    def __init__(self, *, period, workspace, **kwargs):
        super().__init__(**kwargs)
        self.period, self.workspace = period, workspace

    def execute(self, context, event=None):  # also resumes here after each wait (the trigger's event is not needed)
        from cjm_tasks.run.airflow_wait import wait_for_inputs

        return wait_for_inputs(self, context, self.period, self.workspace)


@dag(
    dag_id="cjm_quarterly_refresh",
    schedule=QUARTERLY,
    start_date=_start_date(),
    end_date=_end_date(),
    catchup=os.environ.get("CJM_CATCHUP", "false").lower() in ("1", "true", "yes"),
    max_active_runs=1,
    tags=["cjm", "quarterly", "reports"],
    doc_md=__doc__,
    default_args={"owner": "cx-analytics", "retries": 0},
    # The summary and site link, or the failed step and its report, on the channels of `notify:`.
    on_success_callback=RefreshNotifier("success"),
    on_failure_callback=RefreshNotifier("failure"),
    params={
        "period": Param(None, type=["null", "string"], pattern=PERIOD_PATTERN,
                        description="Quarter to refresh when triggered by hand, e.g. 2025Q3 (scheduled runs use their data interval)."),
        "config": Param(None, type=["null", "string"], description="Main config file (default: CJM_CONFIG or configs/cjm.yaml)."),
        "force": Param(False, type="boolean", description="Rebuild even when inputs, configuration and code match the stored versions."),
    },
)
def cjm_quarterly_refresh():
    @task
    def resolve_period(data_interval_start=None, params=None, dag_run=None) -> str:
        """The quarter to refresh: the `period` param, else the quarter just ended; written into the run's note."""
        from cjm_tasks.run.airflow import resolve_run_period

        return resolve_run_period(params or {}, data_interval_start, *((dag_run.dag_id, dag_run.run_id) if dag_run else ()))

    @task(**STORAGE_RETRIES)
    def snapshot_config(run_id=None, params=None) -> dict:
        """Load the configuration and snapshot it into the run's workspace (every later task builds with it)."""
        return _run("snapshot_config", (params or {}).get("config"), run_id)

    @task.short_circuit(**STORAGE_RETRIES)
    def check_unchanged(period: str, workspace: dict, params=None) -> bool:
        """Skip the rest when the quarter's inputs, the configuration and the code match the stored versions (`force` rebuilds)."""
        # False skips every later task: an unchanged quarter has nothing to build.
        return not _run("check_unchanged", period, bool((params or {}).get("force")), workspace=workspace)["unchanged"]

    @task(**STORAGE_RETRIES)
    def list_sources(workspace: dict) -> list[str]:
        """List the configured sources (surveys, reviews, sales, customers), one read each."""
        return _run("list_sources", workspace=workspace)

    @task(map_index_template="{{ source }}", **STORAGE_RETRIES)
    def read_source(source: str, period: str, workspace: dict) -> str:
        """Read one source's files for the quarter into the workspace (one task per source); fails when it has no file."""
        from airflow.sdk import get_current_context

        get_current_context()["source"] = source
        return _run("read_source", period, source, workspace=workspace)

    @task(retries=0)
    def validate_sources(period: str, source_keys: list[str], workspace: dict) -> dict:
        """The validation gate: Great Expectations' checks on every source; a failure stops the run before anything is built."""
        return _run("validate_sources", period, source_keys[:], workspace=workspace)

    @task(**STORAGE_RETRIES)
    def prepare_personas(source_keys: list[str], workspace: dict) -> list[str]:
        """Assign customers to personas and tag every row once."""
        return _run("prepare_personas", source_keys[:], workspace=workspace)

    @task(map_index_template="{{ persona }}", **STORAGE_RETRIES)
    def build_map(persona: str, period: str, workspace: dict) -> str:
        """Build one persona's journey map (one task per persona, named by the persona id)."""
        from airflow.sdk import get_current_context

        get_current_context()["persona"] = persona
        return _run("build_map", period, persona, workspace=workspace)

    @task(**STORAGE_RETRIES)
    def store_versions(map_keys: list[str], workspace: dict) -> list[dict]:
        """Store every map as an immutable version with its diff against the previous one (unchanged maps add none)."""
        return _run("store_versions", map_keys[:], workspace=workspace)

    @task(**STORAGE_RETRIES)
    def render_site(workspace: dict) -> str:
        """Render the whole reports site from the version store into the workspace."""
        return _run("render_site", workspace=workspace)

    @task(outlets=[SITE], **STORAGE_RETRIES)
    def publish_site(rendered_key: str, workspace: dict) -> dict:
        """Publish the rendered site: pages first, the latest pointer last (updates the `cjm_published_site` asset)."""
        return _run("publish_site", rendered_key, workspace=workspace)

    @task
    def notify(period: str, stored: list[dict], published: dict, workspace: dict) -> str:
        """Log the summary of flagged changes and the report link; the run's notifiers send it as configured (e-mail, Slack)."""
        return _run("notify", period, stored[:], published, workspace=workspace)

    @task(**STORAGE_RETRIES)
    def clean_workspaces(workspace: dict) -> list[str]:
        """Remove the workspaces of successful runs but the newest `storage.keep_runs` (a failed run's stays)."""
        return _run("clean_workspaces", workspace=workspace)

    period = resolve_period()
    workspace = snapshot_config()
    sources = list_sources(workspace)
    waited = WaitForInputs(task_id="wait_for_inputs", period=period, workspace=workspace, **STORAGE_RETRIES,
                           doc_md="Wait for the quarter's input files (and their markers), checking every `wait.poke_every`, "
                                  "holding no worker slot; fail after `wait.timeout` with what is still missing.")
    check_unchanged(period, workspace) >> waited >> sources
    source_keys = read_source.partial(period=period, workspace=workspace).expand(source=sources)
    personas = prepare_personas(source_keys, workspace)
    validate_sources(period, source_keys, workspace) >> personas
    maps = build_map.partial(period=period, workspace=workspace).expand(persona=personas)
    stored = store_versions(maps, workspace)
    rendered = render_site(workspace)
    stored >> rendered
    published = publish_site(rendered, workspace)
    notify(period, stored, published, workspace) >> clean_workspaces(workspace)


refresh = cjm_quarterly_refresh()
refresh.doc_md = with_task_list(__doc__, refresh)
