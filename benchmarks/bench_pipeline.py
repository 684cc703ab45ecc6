"""Time each step of one quarter's refresh on generated sample data at a given scale.

    python benchmarks/bench_pipeline.py --scale 180 [--data DIR] [--period 2025Q1]

Generates the data (4 quarters) unless --data points at an existing sample, then times reading
each source, the validation gate, preparing personas (keyword matching over every text), and
building every persona's map; prints rows, seconds and the peak memory.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=20.0)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--period", default="2025Q1")
    args = parser.parse_args()

    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cjm_tasks.config import load_config
    from cjm_tasks.maps.journey import Inputs, maps_from, prepare
    from cjm_tasks.run.lineage import lineage_of
    from cjm_tasks.periods import Period
    from cjm_demo.sample_data import generate_sample_data
    from cjm_tasks.ingest.sources import read_source
    from cjm_tasks.ingest.gate import validate_sources
    from tests.conftest import write_sample_config

    timings: list[tuple[str, float, str]] = []

    def timed(label, fn, detail=lambda r: ""):
        started = time.perf_counter()
        result = fn()
        timings.append((label, time.perf_counter() - started, detail(result)))
        print(f"{label:<28} {timings[-1][1]:8.2f} s  {timings[-1][2]}", flush=True)
        return result

    data = args.data
    if data is None:
        data = Path(tempfile.mkdtemp(prefix="cjm-bench-"))
        timed(f"generate (scale {args.scale:g})", lambda: generate_sample_data(data, scale=args.scale),
              lambda s: f"{s.sales_events:,} sales events in 4 quarters")
    config = load_config(write_sample_config(Path(tempfile.mkdtemp(prefix="cjm-bench-cfg-")), data))
    period = Period.parse(args.period)
    sources = {name: timed(f"read {name}", lambda name=name: read_source(name, config, period), lambda d: f"{len(d.frame):,} rows")
               for name in config.sources}
    gate = timed("validate (Great Expectations)", lambda: validate_sources(sources, config, period), lambda r: f"{r.check_count} checks, passed={r.success}")
    prepared = timed("prepare personas + texts", lambda: prepare(Inputs(**{n: s.frame for n, s in sources.items()}), config),
                     lambda p: f"{len(p.texts):,} tagged texts")
    maps = timed("build every persona's map", lambda: maps_from(prepared, config, period, lineage_of(sources, config)), lambda m: f"{len(m)} maps")
    total = sum(t for _, t, _ in timings if not _.startswith("generate"))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'refresh of ' + str(period) + ' in total':<28} {total:8.2f} s  peak RSS {peak:,.0f} MiB")
    assert gate.success and maps


if __name__ == "__main__":
    main()
