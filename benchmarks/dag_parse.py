"""How long parsing dags/ takes beyond importing Airflow itself (the target is under 0.5 s).

Each measurement runs in a fresh interpreter: import Airflow's DagBag, then time the DagBag
fill of dags/ alone. Prints the import time and the median, min and max parse time.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROBE = """
import json, time
t0 = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
t1 = time.perf_counter()
bag = DagBag(dag_folder={dags!r})
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "parse": t2 - t1, "dags": len(bag.dags), "errors": len(bag.import_errors)}}))
"""


def main(runs: int = 5) -> None:
    home = tempfile.mkdtemp(prefix="airflow-parse-")
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__LOGGING__LOGGING_LEVEL": "ERROR"}
    samples = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", PROBE.format(dags=str(REPO / "dags"))], env=env, capture_output=True, text=True, check=True)
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    parse = [s["parse"] for s in samples]
    print(f"dags: {samples[0]['dags']}, import errors: {samples[0]['errors']}")
    print(f"import Airflow (DagBag): median {statistics.median(s['import'] for s in samples):.2f} s")
    print(f"parse dags/ beyond that: median {statistics.median(parse):.3f} s (min {min(parse):.3f}, max {max(parse):.3f}) over {runs} runs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
