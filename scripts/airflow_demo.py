"""Run the quarterly refresh DAG through Airflow itself (SQLite metadata DB, dag.test) for a
range of quarters, in order, and print where the published site is.

Used by `make demo`; set AIRFLOW_HOME and CJM_CONFIG before running (the Makefile does).
Exit code 1 when a run does not succeed.

dag.test() runs every task in this process and prints every task's log here; at INFO that is some
300 lines per quarter, so the demo shows warnings and errors only, one line per run, and each
run's summary (the notify task's). ``--verbose`` shows the task logs at INFO, as Airflow's UI does.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from datetime import datetime, time, timezone
from time import monotonic
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", default="2025Q1")
    parser.add_argument("--quarters", type=int, default=4)
    parser.add_argument("--verbose", action="store_true", help="print every task's log at INFO")
    args = parser.parse_args()
    if not args.verbose:
        os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # read when Airflow is imported, below

    from airflow.dag_processing.dagbag import DagBag

    from cjm_tasks.config import load_config
    from cjm_tasks.periods import Period

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        print(f"DAG import errors: {bag.import_errors}", file=sys.stderr)
        return 1
    dag = bag.dags["cjm_quarterly_refresh"]
    for period in Period.parse(args.start).range(args.quarters):
        # The scheduled run for a quarter starts at 06:00 UTC on the first day of the next one.
        logical_date = datetime.combine(period.next().first_day, time(6), tzinfo=timezone.utc)
        print(f"== {period}: Airflow run of cjm_quarterly_refresh at {logical_date.isoformat()}", flush=True)
        started = monotonic()
        run = dag.test(logical_date=logical_date)
        if str(run.state) != "success":
            print(f"run for {period} ended {run.state}; see the task logs above", file=sys.stderr)
            return 1
        print(f"   {run.run_id}: success in {monotonic() - started:.0f} s", flush=True)
        if not args.verbose:
            print(textwrap.indent(_summary(run), "   "), flush=True)
    config = load_config(os.environ.get("CJM_CONFIG"))
    site = Path(config.storage.site)
    latest = json.loads((site / "latest.json").read_text())
    print(f"\nPublished reports: {site / 'index.html'} (latest quarter {latest['period']})")
    return 0


def _summary(run) -> str:
    """What the run's notify task sent (its XCom), or a note that it sent nothing (an unchanged quarter)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        xcom = session.scalars(XComModel.get_many(run_id=run.run_id, dag_ids=run.dag_id, task_ids="notify", key="return_value")).first()
        return str(XComModel.deserialize_value(xcom)) if xcom else "(nothing sent: the quarter is unchanged)"


if __name__ == "__main__":
    sys.exit(main())
