"""Evaluate change detection on data written apart from the barrier catalog.

    python benchmarks/eval_changes.py                       # 5 seeds, scale 1 (about 1 min per seed)
    python benchmarks/eval_changes.py --seeds 2 --scale 0.5 --json build/eval.json

For each seed: generate a retailer's five quarters (``cjm_demo.evaluation_data.generate``), run
the real pipeline over them in order (``build_period`` then ``store_maps``, into a store of the
seed's own), score every stored diff against the planted truth, and measure how much of the
written text the catalog's keywords read at all. Then print precision and recall with Wilson 95%
intervals, overall and by part, size, change type, text volume and survey shape; the share of
tested barriers flagged in the noise-only quarter pairs; and the keyword coverage per barrier.
docs/evaluation.md explains the world, the scoring rules and the results.

Seeds run one after another (one CPU-heavy process). The code under test is identified by its
git commit plus a fingerprint of the library files and the default catalog, since it may carry
uncommitted changes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cjm_demo.evaluation_data import MANY_TEXTS, TOPICS, run_seed, summarize  # noqa: E402

TARGETS = {"precision": 0.9, "recall": 0.9, "noise": 0.05}


def code_identity() -> dict[str, Any]:
    """The commit, whether the library differs from it, and a hash of the files that decide the
    result (every module of the library ``cjm_tasks``, the default catalog and its examples; the
    simulator in ``cjm_demo`` is identified by the data it writes)."""
    def git(*args: str) -> str:
        try:
            # Not stripped: a porcelain status line starts with a space that matters.
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    digest = hashlib.sha256()
    catalog = ["configs/barriers.yaml", "configs/barrier_examples.yaml"]
    files = sorted((REPO / "cjm_tasks").rglob("*.py")) + [REPO / c for c in catalog]
    for path in files:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "cjm_tasks", *catalog).splitlines()
             if not line[3:].endswith("evaluation_data.py")]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "uncommitted": dirty, "fingerprint": digest.hexdigest()[:12]}


def describe_code(identity: dict[str, Any]) -> str:
    """"<commit>" or "<commit> + uncommitted changes to N file(s)", for a report's header."""
    dirty = identity["uncommitted"]
    return identity["commit"] + (f" + uncommitted changes to {len(dirty)} file(s)" if dirty else "")


def seed_arguments(parser: argparse.ArgumentParser, first_seed: int, first_seed_help: str) -> None:
    """--seeds, --first-seed, --scale, --json and --workdir: the evaluation benchmarks' options."""
    parser.add_argument("--seeds", type=int, default=5, help="how many seeds (default 5)")
    parser.add_argument("--first-seed", type=int, default=first_seed, help=first_seed_help)
    parser.add_argument("--scale", type=float, default=1.0, help="customers per persona relative to ~1500-2300 (default 1)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--workdir", type=Path, help="keep the generated data here (default: a temporary folder)")


def _fmt(rate: dict[str, Any]) -> str:
    if rate["value"] is None:
        return f"{'—':>22}"
    return f"{rate['value']:.2f} [{rate['low']:.2f}, {rate['high']:.2f}] {rate['k']:>3}/{rate['n']:<3}"


def print_report(summary: dict[str, Any], coverage: dict[str, dict[str, float]], identity: dict[str, Any], scale: float,
                 seeds: list[int], seconds: float) -> None:
    """The tables, for a terminal."""
    print(f"\nChange detection on independent data: seeds {seeds}, scale {scale} ({seconds:.0f} s)")
    print(f"code: {describe_code(identity)}; fingerprint {identity['fingerprint']}\n")
    header = f"{'':38}{'true':>5}{'flags':>6}  {'recall, direction':<24}{'recall, exact type':<24}{'precision, direction':<24}{'precision, exact type':<24}"
    print(header)
    rows = [("overall", summary["overall"]),
            (f"large, >= {MANY_TEXTS} customers with text", summary["target_large_many_texts"]),
            ("  the same, catalog barriers only", summary["target_large_many_texts_catalog"]),
            ("catalog barriers", summary["by_part"]["catalog"]),
            ("uncatalogued topics (emerging)", summary["by_part"]["emerging"]),
            ("emerging echoes of catalog topics", summary["by_part"]["emerging_echo"]),
            ("large changes", summary["by_size"]["large"]),
            ("near-limit changes", summary["by_size"]["near_limit"]),
            (f">= {MANY_TEXTS} customers with text", summary["by_texts"][f">={MANY_TEXTS}"]),
            (f"< {MANY_TEXTS} customers with text", summary["by_texts"][f"<{MANY_TEXTS}"]),
            ("wide survey export", summary["by_shape"]["wide"]),
            ("long survey export", summary["by_shape"]["long"])]
    for name, s in rows:
        print(f"{name:38}{s['true_changes']:>5}{s['flagged']:>6}  {_fmt(s['recall_direction']):<24}{_fmt(s['recall_exact']):<24}"
              f"{_fmt(s['precision_direction']):<24}{_fmt(s['precision_exact']):<24}")
    print(f"\n{'by change type':20}{'true':>5}  {'recall, direction':<24}{'recall, exact type':<24}{'flagged as':>10}  {'precision, exact type':<24}")
    for kind, s in summary["by_type"].items():
        print(f"{kind:20}{s['true_changes']:>5}  {_fmt(s['recall_direction']):<24}{_fmt(s['recall_exact']):<24}{s['flagged_as']:>10}  "
              f"{_fmt(s['precision_exact']):<24}")
    print("\nnoise-only quarter pairs: share of tested barriers flagged")
    for kind, rate in summary["noise_only"].items():
        print(f"  {kind:20}{_fmt(rate)}")
    print(f"\nuncatalogued topic changes listed by the diff in the right direction (flagged or not): {_fmt(summary['emerging_listed'])}")
    print(f"metric entries flagged: {summary['metric_flags']['flagged']} of {summary['metric_flags']['entries']} (not scored: no truth)")

    target = summary["target_large_many_texts"]
    checks = [("precision, large changes, >= 300 with text", target["precision_direction"]["value"], ">=", TARGETS["precision"]),
              ("recall, large changes, >= 300 with text", target["recall_direction"]["value"], ">=", TARGETS["recall"]),
              ("noise-only pairs flagged (catalog + emerging)", summary["noise_only"]["catalog+emerging"]["value"], "<=", TARGETS["noise"])]
    print("\ntargets (direction):")
    for name, value, op, limit in checks:
        met = value is not None and (value >= limit if op == ">=" else value <= limit)
        shown = "—" if value is None else f"{value:.2f}"
        print(f"  {name:48}{shown:>6} {op} {limit:<5} {'met' if met else 'NOT met'}")

    print("\nkeyword coverage of the written texts (all seeds): share with no catalog keyword / matching their own barrier / another")
    for key, c in coverage.items():
        print(f"  {key:30}{c['texts']:>7} texts  {c['keyword_free']:.2f} / {c['own_barrier']:.2f} / {c['other_barrier']:.2f}")


def pool_coverage(results: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Keyword coverage of every seed, weighted by texts."""
    pooled: dict[str, dict[str, float]] = {}
    for result in results:
        for key, c in result["coverage"].items():
            p = pooled.setdefault(key, {"texts": 0, "keyword_free": 0.0, "own_barrier": 0.0, "other_barrier": 0.0})
            p["texts"] += c["texts"]
            for field in ("keyword_free", "own_barrier", "other_barrier"):
                p[field] += c[field] * c["texts"]
    for p in pooled.values():
        for field in ("keyword_free", "own_barrier", "other_barrier"):
            p[field] = p[field] / p["texts"] if p["texts"] else 0.0
    order = [t.key for t in TOPICS] + ["praise", "neutral", "vague"]
    return {key: pooled[key] for key in sorted(pooled, key=lambda k: order.index(k) if k in order else len(order))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    seed_arguments(parser, 0, "the first seed (default 0)")
    args = parser.parse_args(argv)

    identity = code_identity()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cjm-eval-") as tmp:
        workdir = args.workdir or Path(tmp)
        results = []
        for seed in seeds:
            began = time.perf_counter()
            result = run_seed(seed, args.scale, workdir)
            result.pop("diffs")
            results.append(result)
            flagged = sum(u["flagged"] for u in result["units"])
            print(f"seed {seed} ({result['shape']} survey): {len(result['changes'])} planted changes, {flagged} flagged units, "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
    summary = summarize(results)
    coverage = pool_coverage(results)
    seconds = time.perf_counter() - start
    if identity["fingerprint"] != code_identity()["fingerprint"]:
        print("warning: the library changed while the evaluation ran; the figures mix two versions", file=sys.stderr)
    print_report(summary, coverage, identity, args.scale, seeds, seconds)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"code": identity, "scale": args.scale, "seeds": seeds, "seconds": round(seconds, 1),
                                         "summary": summary, "coverage": coverage, "seed_results": results},
                                        ensure_ascii=False, indent=1, default=str))
        print(f"\nwritten: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
