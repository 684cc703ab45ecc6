"""The refresh at workload scale: how close to the speed of reading its data, in how much memory.

    python benchmarks/bench_refresh.py                       # workload L (scale 720) and 10x (7200)
    python benchmarks/bench_refresh.py --scales 720 --personas 4 32 --tasks
    python benchmarks/bench_refresh.py --scales 720 --personas 4 32 --repeat 3
    python benchmarks/bench_refresh.py --scales 72 --engine spark

For each scale it generates one quarter of sample data (``cjm sample-data``; kept under
``--root`` and reused), then, each in a fresh process:

- the **floor**: pyarrow reads every input file of the quarter (CSV, JSON Lines, Parquet), all
  columns, nothing else (with ``--repeat N``, N reads: the fastest and the median);
- a **full refresh** (``cjm_tasks.run.steps.refresh``, what ``cjm refresh`` runs) into an empty
  store: the time of each step, the total, its ratio to the floor and the peak RSS of the process
  (with ``--repeat N``, at the first scale N refreshes, each into an empty store right after a
  floor read: the median refresh against the median floor, and the fastest against the fastest);
- the **unchanged rerun** of the same quarter (it must create nothing);
- with ``--personas``, full refreshes of the same data with that many personas (1, 2, 4, 8, 16
  or 32; rules over segment, region group and age band that together hold every customer, so
  the counts differ only in how finely the same customers are split) into fresh stores (with
  ``--repeat N``, N runs of each count, interleaved; their medians are compared);
- with ``--tasks``, the refresh as the Airflow DAG runs it, each step in a process of its own
  (one per source read, one per persona's map): the peak RSS of each task.

Results are printed as tables and written as JSON (``--out``). Figures depend on the machine;
rerun it rather than trusting numbers from elsewhere.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median_low

ROOT = Path(__file__).resolve().parents[1]
PERIOD = "2025Q1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", type=float, nargs="+", default=[720, 7200])
    parser.add_argument("--personas", type=int, nargs="*", default=[4, 32], help="persona counts to compare (first scale only)")
    parser.add_argument("--tasks", action="store_true", help="also run each step as its own process (memory per Airflow task)")
    parser.add_argument("--repeat", type=int, default=1, help="floor reads (the fastest is the floor) and persona refreshes "
                                                                 "(interleaved, each into a fresh store; the median is compared) per scale")
    parser.add_argument("--engine", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--root", type=Path, default=ROOT / "build" / "bench")
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default: <root>/results.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        return CHILDREN[args.child](*rest)

    results: dict = {"engine": args.engine, "cpus": os.cpu_count(), "scales": {}}
    for scale in args.scales:
        data = generate(args.root, scale)
        work = Path(tempfile.mkdtemp(prefix=f"cjm-bench-{scale:g}-"))
        row: dict = {"data": str(data), "inputs_mb": round(sum(f.stat().st_size for f in inputs(data)) / 1e6, 1)}
        floors, refreshes = [], []
        # At the first scale the refresh is repeated too, each run after a floor read, so a
        # slower minute of the machine hits both; a larger scale refreshes once.
        for i in range(max(1, args.repeat)):
            floors.append(child("floor", str(data)))
            if scale == args.scales[0] or i == 0:
                config = write_config(work / f"default-{i}", data, args.engine, None)
                refreshes.append(child("refresh", str(config)))
        row["floor"] = {**min(floors, key=lambda f: f["total"]), "runs": [f["total"] for f in floors],
                        "median": median_low([f["total"] for f in floors])}
        row["refresh"] = {**median_run(refreshes), "runs": [r["total"] for r in refreshes], "fastest": min(r["total"] for r in refreshes)}
        row["unchanged"] = child("refresh", str(config))
        # The median refresh against the median floor (with one refresh, that refresh against
        # the fastest floor), and the fastest against the fastest.
        against = row["floor"]["median"] if len(refreshes) > 1 else row["floor"]["total"]
        row["ratio"] = round(row["refresh"]["total"] / against, 1)
        row["ratio_fastest"] = round(row["refresh"]["fastest"] / row["floor"]["total"], 1)
        report_scale(scale, row)
        if args.tasks and scale == args.scales[0]:
            row["tasks"] = run_tasks(write_config(work / "tasks", data, args.engine, None))
            report_tasks(row["tasks"])
        if args.personas and scale == args.scales[0]:
            runs: dict[int, list[dict]] = {n: [] for n in args.personas}
            for i in range(max(1, args.repeat)):  # interleaved, so a slower minute of the machine hits every count
                for n in args.personas:
                    runs[n].append(child("refresh", str(write_config(work / f"p{n}-{i}", data, args.engine, n))))
            row["personas"] = {n: {**median_run(r), "runs": [x["total"] for x in r]} for n, r in runs.items()}
            report_personas(row["personas"])
        results["scales"][f"{scale:g}"] = row
    if len(args.scales) > 1:
        first, last = (results["scales"][f"{s:g}"] for s in (args.scales[0], args.scales[-1]))
        results["growth"] = {"data": round(last["inputs_mb"] / first["inputs_mb"], 1),
                             "time": round(last["refresh"]["total"] / first["refresh"]["total"], 1)}
        print(f"\n{args.scales[-1]:g} vs {args.scales[0]:g}: {results['growth']['data']}x the data, {results['growth']['time']}x the time")
    out = args.out or args.root / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"\nresults: {out}")


def generate(root: Path, scale: float) -> Path:
    """One quarter of sample data at ``scale`` (reused when already there)."""
    data = root / f"scale-{scale:g}"
    if not (data / PERIOD / "surveys.csv").exists():
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cjm_tasks.cli", "sample-data", "--out", str(data), "--scale", f"{scale:g}",
                        "--quarters", "1", "--start", PERIOD], check=True, cwd=ROOT)
        print(f"generated scale {scale:g} in {time.perf_counter() - started:.0f} s: {data}")
    return data


def inputs(data: Path) -> list[Path]:
    """The files a refresh of the quarter reads: the quarter's folder and the customers."""
    return sorted([*(p for p in (data / PERIOD).rglob("*") if p.is_file()), *data.glob("customers.*")])


def write_config(folder: Path, data: Path, engine: str, personas: int | None) -> Path:
    """The bundled configuration on ``data`` with its own stores, ``engine``, and ``personas`` personas."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from tests.conftest import write_sample_config

    folder.mkdir(parents=True, exist_ok=True)
    main = write_sample_config(folder, data)
    doc = yaml.safe_load(main.read_text(encoding="utf-8"))
    doc["engine"] = {"kind": engine}
    doc["storage"] = {"work": str(folder / "work"), "versions": str(folder / "store"), "site": str(folder / "site"), "keep_runs": 1}
    main.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    if personas:
        (folder / "personas.yaml").write_text(yaml.safe_dump(persona_rules(personas), sort_keys=False), encoding="utf-8")
    return main


# The sample's customers: segment consumer or business, region one of five, age 18-84. Each persona
# count below splits every customer (the bands cover every age, the region groups every region),
# so 4 and 32 personas place the same customers and only the number of maps differs.
_AGE_BANDS = [(0, 29), (30, 44), (45, 59), (60, 150)]
_SEGMENTS = [["consumer"], ["business"]]
_REGION_GROUPS = [["north"], ["south"], ["east"], ["west", "central"]]
_SPLITS = {1: (), 2: ("segment",), 4: ("age",), 8: ("segment", "age"), 16: ("region", "age"),
           32: ("segment", "region", "age")}


def persona_rules(n: int) -> dict:
    """``n`` personas (1, 2, 4, 8, 16 or 32) that together hold every customer of the sample, split
    by segment, region group and age band."""
    if n not in _SPLITS:
        raise SystemExit(f"--personas: {n} is not one of {sorted(_SPLITS)} (each count splits every customer)")
    parts: list[list[tuple[str, dict]]] = [[("everyone", {"field": "age", "op": "between", "value": [0, 150]})]]
    for field in _SPLITS[n]:
        if field == "segment":
            options = [(seg[0], {"field": "segment", "op": "in", "value": seg}) for seg in _SEGMENTS]
        elif field == "region":
            options = [("+".join(group), {"field": "region", "op": "in", "value": group}) for group in _REGION_GROUPS]
        else:
            options = [(f"{low}-{high}", {"field": "age", "op": "between", "value": [low, high]}) for low, high in _AGE_BANDS]
        parts = [[*combo, option] for combo in parts for option in options]
    personas = []
    for i, combo in enumerate(parts):
        conditions = [cond for _, cond in combo[1:]] or [combo[0][1]]
        name = " ".join(label for label, _ in combo[1:]) or "everyone"
        personas.append({"id": f"p{i:02d}", "name": name, "rule": {"all": conditions}})
    return {"membership": "first", "personas": personas}


def child(kind: str, *args: str) -> dict:
    """Run ``kind`` in a fresh Python process; its JSON result, with the process's peak RSS."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "--child", kind, *args], capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{kind} {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall"] = round(time.perf_counter() - started, 2)
    return result


def _rss_mb() -> float:
    """This process's peak RSS in MiB (``ru_maxrss`` is in KiB on Linux; the JSON key keeps its old name)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def floor_child(data: str) -> None:
    """Read every input file of the quarter with pyarrow alone."""
    import pyarrow.csv as pcsv
    import pyarrow.json as pjson
    import pyarrow.parquet as pq

    started = time.perf_counter()
    rows = 0
    for path in inputs(Path(data)):
        if path.suffix == ".csv":
            rows += pcsv.read_csv(path).num_rows
        elif path.suffix == ".jsonl":
            rows += pjson.read_json(path).num_rows
        elif path.suffix == ".parquet":
            rows += pq.read_table(path).num_rows
    print(json.dumps({"total": round(time.perf_counter() - started, 2), "rows": rows, "peak_rss_mb": _rss_mb()}))


def refresh_child(config_path: str) -> None:
    """One refresh as ``cjm refresh`` runs it, timing each step."""
    sys.path.insert(0, str(ROOT))
    import logging

    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    from cjm_tasks.config import load_config
    from cjm_tasks.periods import Period
    from cjm_tasks.run.steps import refresh

    config = load_config(config_path)
    marks: list[tuple[float, str]] = [(started, "start (imports, configuration)")]
    result = refresh(config, Period.parse(PERIOD), progress=lambda what: marks.append((time.perf_counter(), what)))
    marks.append((time.perf_counter(), "done"))
    steps: dict[str, float] = {}
    for (at, what), (after, _) in zip(marks, marks[1:]):
        name = "reading the sources" if what.startswith("reading") else what
        steps[name] = round(steps.get(name, 0.0) + after - at, 2)
    versions = result.get("versions") or []
    print(json.dumps({"total": round(marks[-1][0] - started, 2), "steps": steps, "unchanged": result["unchanged"],
                      "created": sum(bool(v.created) for v in versions), "maps": len(versions), "peak_rss_mb": _rss_mb()}))


def step_child(handle: str, step: str, *args: str) -> None:
    """One step of the DAG in its own process, as an Airflow task runs it."""
    sys.path.insert(0, str(ROOT))
    started = time.perf_counter()
    from cjm_tasks.run import steps
    from cjm_tasks.run.workspace import Workspace

    if step == "snapshot_config":
        out = steps.snapshot_config(args[0], handle)
    else:
        workspace = Workspace.open(json.loads(handle))
        values = [json.loads(a) for a in args]
        out = steps.summary(getattr(steps, step)(workspace, *values))
    print(json.dumps({"total": round(time.perf_counter() - started, 2), "peak_rss_mb": _rss_mb(), "out": out}))


def run_tasks(config: Path) -> list[dict]:
    """The refresh as the DAG runs it: each step in a process of its own."""
    tasks = []

    def task(step: str, *args) -> object:
        result = child("step", *args[:1], step, *[json.dumps(a) for a in args[1:]]) if step != "snapshot_config" else \
            child("step", args[0], step, str(config))
        tasks.append({"task": step if len(args) < 3 or not isinstance(args[-1], str) else f"{step}[{args[-1]}]",
                      "seconds": result["total"], "peak_rss_mb": result["peak_rss_mb"]})
        return result["out"]

    handle = json.dumps(task("snapshot_config", f"bench-{int(time.time())}"))
    keys = [task("read_source", handle, PERIOD, source) for source in ("surveys", "reviews", "sales", "customers")]
    task("validate_sources", handle, PERIOD, keys)
    personas = task("prepare_personas", handle, keys)
    maps = [task("build_map", handle, PERIOD, persona) for persona in personas]
    stored = task("store_versions", handle, maps)
    rendered = task("render_site", handle)
    task("publish_site", handle, rendered)
    assert stored, "nothing stored"
    return tasks


def report_scale(scale: float, row: dict) -> None:
    refresh, floor = row["refresh"], row["floor"]
    print(f"\nscale {scale:g}: {row['inputs_mb']} MB of inputs, {floor['rows']:,} rows")
    reads = (f"  (fastest of {', '.join(f'{t:.2f}' for t in floor['runs'])}; median {floor['median']:.2f})"
             if len(floor.get("runs", [])) > 1 else "")
    print(f"  {'floor (pyarrow reads every input)':<34} {floor['total']:8.2f} s  peak {floor['peak_rss_mb']:8.0f} MiB{reads}")
    runs = refresh.get("runs", [refresh["total"]])
    for name, seconds in refresh["steps"].items():
        print(f"    {name:<32} {seconds:8.2f} s")
    if len(runs) > 1:
        print(f"  {'refresh (one process)':<34} {refresh['total']:8.2f} s  peak {refresh['peak_rss_mb']:8.0f} MiB  "
              f"(median of {', '.join(f'{t:.2f}' for t in runs)}; steps of that run)")
        print(f"  {'':<34} = {row['ratio']}x the median floor; fastest against fastest {row['ratio_fastest']}x; "
              f"{refresh['created']} of {refresh['maps']} maps stored")
    else:
        print(f"  {'refresh (one process)':<34} {refresh['total']:8.2f} s  peak {refresh['peak_rss_mb']:8.0f} MiB  "
              f"= {row['ratio']}x the floor; {refresh['created']} of {refresh['maps']} maps stored")
    unchanged = row["unchanged"]
    print(f"  {'unchanged rerun':<34} {unchanged['total']:8.2f} s  peak {unchanged['peak_rss_mb']:8.0f} MiB  "
          f"= {100 * unchanged['total'] / refresh['total']:.1f}% of the refresh; unchanged={unchanged['unchanged']}, "
          f"created {unchanged['created']}")


def report_tasks(tasks: list[dict]) -> None:
    print("\n  the DAG's tasks, each in its own process:")
    for t in tasks:
        print(f"    {t['task']:<40} {t['seconds']:8.2f} s  peak {t['peak_rss_mb']:8.0f} MiB")


def median_run(runs: list[dict]) -> dict:
    """The run of median time (the lower middle one of an even number)."""
    return sorted(runs, key=lambda r: r["total"])[(len(runs) - 1) // 2]



def report_personas(runs: dict) -> None:
    counts = sorted(runs)
    print("\n  personas on the same data (median of the runs; every run's time in brackets):")
    for n in counts:
        every = ", ".join(f"{t:.2f}" for t in runs[n]["runs"])
        print(f"    {n:>3} personas: {runs[n]['total']:8.2f} s  peak {runs[n]['peak_rss_mb']:8.0f} MiB  [{every}]")
    if len(counts) > 1:
        low, high = runs[counts[0]]["runs"], runs[counts[-1]]["runs"]
        ratios = sorted(b / a for a, b in zip(low, high))
        print(f"    {counts[-1]} vs {counts[0]}: {runs[counts[-1]]['total'] / runs[counts[0]]['total']:.2f}x the time "
              f"(medians; run by run {ratios[0]:.2f}x to {ratios[-1]:.2f}x)")


CHILDREN = {"floor": floor_child, "refresh": refresh_child, "step": step_child}

if __name__ == "__main__":
    main()
