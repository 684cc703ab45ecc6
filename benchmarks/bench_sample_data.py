"""Benchmark the sample-data generator: wall time, events per second and peak memory.

    python benchmarks/bench_sample_data.py --scale 180          # ~10 million sales events
    python benchmarks/bench_sample_data.py --scale 1 --out build/sample-data

Without ``--out`` the data goes to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

from cjm_demo.sample_data import generate_sample_data


def _peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / (1024 * 1024)


def run(scale: float, out: Path, quarters: int, seed: int) -> None:
    started = time.perf_counter()
    summary = generate_sample_data(out, quarters=quarters, seed=seed, scale=scale)
    seconds = time.perf_counter() - started
    print(f"scale            {scale:g} ({quarters} quarters, seed {seed})")
    print(f"customers        {summary.customers:,}")
    print(f"sales events     {summary.sales_events:,}")
    print(f"survey answers   {summary.survey_answers:,}")
    print(f"reviews          {summary.reviews:,}")
    print(f"files            {len(summary.files):,} ({_folder_mib(out):,.0f} MiB)")
    print(f"wall time        {seconds:,.1f} s")
    print(f"events/s         {summary.sales_events / seconds:,.0f}")
    print(f"peak RSS         {_peak_rss_mib():,.0f} MiB")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="customer scale (180 gives ~10M events)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary folder)")
    parser.add_argument("--quarters", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.out is not None:
        run(args.scale, args.out, args.quarters, args.seed)
        return
    with tempfile.TemporaryDirectory(prefix="cjm-bench-") as tmp:
        run(args.scale, Path(tmp), args.quarters, args.seed)


if __name__ == "__main__":
    main()
