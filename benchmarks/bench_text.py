"""Time the text work of preparing a quarter of a million texts: keywords alone vs the full detector.

    python benchmarks/bench_text.py                          # 1,000,000 texts, best of 3
    python benchmarks/bench_text.py --texts 200000 --repeat 1 --json build/bench_text.json

**The texts.** A pool of real-looking texts is read through the project's own readers
(``read_source`` then ``prepared.collect_texts``, so every text carries the ``score01`` the
pipeline gives it): the survey comments and reviews of one quarter of the sample data
(``cjm_demo.sample_data.generate_sample_data``, scale ``--sample-scale``, 20 by default; read
with ``configs/cjm.yaml``) and every quarter of one seed of the independent evaluation data
(``cjm_demo.evaluation_data.generate``, seed ``--eval-seed``, read with its example config).
The pool texts are cut into sentences; each of the ``--texts`` benchmark texts joins one to three
sentences (1: half the texts, 2: 30%, 3: 20%) drawn at random (with replacement, a fixed seed)
from different pool texts, each passed through the evaluation generator's typo model
(``evaluation_data.texts.add_typos``: about half get a dropped, swapped or doubled letter, some are
lower-cased or lose their final punctuation), and takes the score of the text its first sentence
came from. So the vocabulary, languages and share of praise are those of the two data sets, while
most texts and sentences are not exact copies (the similarity pass works on distinct sentences,
so a million copies of a small pool would time only the pool). The counts of distinct texts and
sentences are printed.

**The steps** are the text work of ``maps.text_features.analyse_texts``, in its order and with its calls:
``normalize`` of every text, the lexicon ``sentiment`` of the normalised texts, then the catalog
match ``catalog_matcher(config).match(norm, normalized=True, eligible=similarity_eligible(...))``
(texts that are not praise are read for similarity), with the catalog of ``configs/cjm.yaml``.
Building the matcher is timed on its own. Two detectors: (a) keywords alone
(``catalog_matcher(config, word_forms=False, similarity=False)``) and (b) the full detector
(``catalog_matcher(config)``). Each runs in a child process of its own (so its peak RSS is its
own: the texts read from a Parquet file, the steps, the matches), every step ``--repeat`` times;
the time reported is the best of the repeats (the total: the best run's), and the first run's
match and total are printed too (cold: the word-form dictionaries and caches are loaded then, as
in a refresh, which is a fresh process). Printed: seconds per step, the ratio b/a, the peak
RSS of each child and of the process that built the texts. ``--baseline REF`` also times the
keyword-only text work of the code at git ``REF`` on the same texts (normalise, match, sentiment,
with that code's own catalog), in a worktree: the "today's keyword-only time" of a change.
``--json PATH`` writes all of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CONFIG = REPO / "configs" / "cjm.yaml"
MODES = {"keywords": "(a) keywords alone", "full": "(b) full detector"}
STEPS = ("normalize", "sentiment", "match")
_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _collected(config, period) -> Any:
    """``collect_texts`` over the surveys and reviews of ``period`` read by ``config``."""
    from cjm_tasks.maps.prepared import Inputs, collect_texts
    from cjm_tasks.ingest.sources import read_source

    inputs = Inputs(surveys=read_source("surveys", config, period).frame, reviews=read_source("reviews", config, period).frame)
    return collect_texts(inputs, config)[["text", "score01"]]


def text_pool(workdir: Path, sample_scale: float, eval_seed: int) -> tuple[Any, dict[str, int]]:
    """The texts (``text``, ``score01``) of one sample-data quarter and of one evaluation seed."""
    import pandas as pd

    from cjm_tasks.config import load_config
    from cjm_demo.evaluation_data import generate, load_evaluation_config
    from cjm_tasks.periods import Period
    from cjm_demo.sample_data import generate_sample_data

    sample = generate_sample_data(workdir / "sample", quarters=1, scale=sample_scale)
    saved = os.environ.get("CJM_SAMPLE_DATA")
    os.environ["CJM_SAMPLE_DATA"] = str(sample.out.resolve())
    try:
        config = load_config(CONFIG)
    finally:
        if saved is None:
            os.environ.pop("CJM_SAMPLE_DATA", None)
        else:
            os.environ["CJM_SAMPLE_DATA"] = saved
    parts = [_collected(config, Period.parse(sample.periods[0]))]
    sizes = {"sample_data": len(parts[0])}
    generated = generate(workdir / "evaluation", eval_seed)
    eval_config = load_evaluation_config(generated.folder, workdir / "evaluation-store")
    evaluation = [_collected(eval_config, Period.parse(p)) for p in generated.periods]
    sizes["evaluation"] = sum(len(e) for e in evaluation)
    pool = pd.concat(parts + evaluation, ignore_index=True)
    return pool[pool["text"].notna() & (pool["text"].str.strip() != "")].reset_index(drop=True), sizes


def build_texts(pool, count: int, seed: int = 0):
    """``count`` texts of one to three sentences drawn from different pool texts, each sentence
    retyped by the evaluation generator's typo model (see the module docstring); columns ``text``
    and ``score01``, and the number of pool sentences."""
    import numpy as np
    import pandas as pd

    from cjm_demo.evaluation_data.texts import Dice, add_typos

    sentences, owner = [], []
    for i, text in enumerate(pool["text"]):
        for piece in _SENTENCE.split(text.strip()):
            if piece:
                sentences.append(piece)
                owner.append(i)
    owner_arr = np.asarray(owner)
    rng = np.random.default_rng(seed)
    lengths = rng.choice([1, 2, 3], size=count, p=[0.5, 0.3, 0.2])
    picks = rng.integers(0, len(sentences), size=(count, 3))
    # A second or third sentence from the same pool text as the first is drawn again (once).
    same = owner_arr[picks[:, 1:]] == owner_arr[picks[:, :1]]
    picks[:, 1:][same] = rng.integers(0, len(sentences), size=int(same.sum()))
    dice = Dice(np.random.default_rng([seed, 1]))
    texts = [" ".join(add_typos(sentences[j], dice) for j in row[:n]) for row, n in zip(picks.tolist(), lengths.tolist())]
    scores = pool["score01"].to_numpy()[owner_arr[picks[:, 0]]]
    return pd.DataFrame({"text": texts, "score01": scores}), len(sentences)


def worker(mode: str, path: Path, repeat: int) -> dict[str, Any]:
    """One detector over the texts in ``path``: best-of-``repeat`` seconds per step and peak RSS."""
    import pandas as pd

    from cjm_tasks.config import load_config
    from cjm_tasks.maps.text_features import catalog_matcher, similarity_eligible
    from cjm_tasks.maps.text import normalize, sentiment

    texts = pd.read_parquet(path)
    config = load_config(CONFIG)
    lexicon = config.barriers.sentiment.model_dump()
    kwargs = {"word_forms": False, "similarity": False} if mode == "keywords" else {}
    runs: list[dict[str, float]] = []
    matches = None
    for _ in range(repeat):
        seconds: dict[str, float] = {}
        tick = time.perf_counter()
        matcher = catalog_matcher(config, **kwargs)
        seconds["build matcher"] = time.perf_counter() - tick
        frame = texts.copy()
        tick = time.perf_counter()
        frame["norm"] = normalize(frame["text"])
        seconds["normalize"] = time.perf_counter() - tick
        tick = time.perf_counter()
        frame["sentiment"] = sentiment(frame["norm"], lexicon, normalized=True).to_numpy()
        seconds["sentiment"] = time.perf_counter() - tick
        tick = time.perf_counter()
        eligible = similarity_eligible(frame, config)
        matches = matcher.match(frame["norm"], normalized=True, eligible=eligible)
        seconds["match"] = time.perf_counter() - tick
        seconds["total"] = sum(seconds.values())
        runs.append(seconds)
        del frame
    via = matches["via"].value_counts().to_dict() if "via" in matches.columns else {"keyword": len(matches)}
    return {"mode": mode, "texts": len(texts), "eligible": int(eligible.sum()), "matches": len(matches),
            "texts_matched": int(matches["row"].nunique()), "via": {str(k): int(v) for k, v in via.items()},
            "best": {k: round(min(r[k] for r in runs), 3) for k in runs[0]}, "runs": [{k: round(v, 3) for k, v in r.items()} for r in runs],
            "peak_rss_mib": round(peak_rss_mib(), 1)}


_BASELINE_WORKER = """
import json, resource, sys, time
import pandas as pd
from cjm_tasks.config import load_config
from cjm_tasks.maps.text_features import catalog_matcher
from cjm_tasks.maps.text import normalize, sentiment
texts = pd.read_parquet(sys.argv[1])
config = load_config("configs/cjm.yaml")
runs = []
for _ in range(int(sys.argv[2])):
    seconds = {}
    tick = time.perf_counter(); norm = normalize(texts["text"]); seconds["normalize"] = time.perf_counter() - tick
    tick = time.perf_counter(); matches = catalog_matcher(config).match(norm, normalized=True); seconds["match"] = time.perf_counter() - tick
    tick = time.perf_counter(); sentiment(norm, config.barriers.sentiment.model_dump(), normalized=True); seconds["sentiment"] = time.perf_counter() - tick
    seconds["total"] = sum(seconds.values())
    runs.append(seconds)
print(json.dumps({"matches": len(matches), "texts_matched": int(matches["row"].nunique()),
                  "best": {k: round(min(r[k] for r in runs), 3) for k in runs[0]}, "runs": runs,
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def baseline(ref: str, texts: Path, repeat: int, workdir: Path) -> dict[str, Any]:
    """The keyword-only text work (normalise, match, sentiment) of the code at git ``ref``, run in
    a worktree of it on the same texts, in a child process: "today's keyword-only time" when
    ``ref`` is the commit before a change."""
    tree = workdir / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), ref], cwd=REPO, check=True, capture_output=True)
    try:
        run = subprocess.run([sys.executable, "-c", _BASELINE_WORKER, str(texts), str(repeat)], capture_output=True, text=True,
                             cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)})
        if run.returncode != 0:
            print(run.stderr, file=sys.stderr)
            raise SystemExit(f"the baseline worker at {ref} failed")
        return json.loads(run.stdout.strip().splitlines()[-1])
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=1_000_000, help="how many texts (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each detector; the best is reported (default 3)")
    parser.add_argument("--sample-scale", type=float, default=20.0, help="scale of the sample-data quarter (default 20)")
    parser.add_argument("--eval-seed", type=int, default=0, help="the evaluation data seed in the pool (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="the seed that draws the benchmark texts (default 0)")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--baseline", metavar="REF",
                        help="also time the keyword-only text work of the code at git REF (e.g. the commit before a change) on the same texts")
    parser.add_argument("--worker", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.input, args.repeat)))
        return 0

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cjm-bench-text-") as tmp:
        workdir = Path(tmp)
        tick = time.perf_counter()
        pool, sizes = text_pool(workdir, args.sample_scale, args.eval_seed)
        texts, sentences = build_texts(pool, args.texts, args.seed)
        built = time.perf_counter() - tick
        distinct = int(texts["text"].nunique())
        distinct_sentences = int(texts["text"].str.split(_SENTENCE).explode().nunique())
        path = workdir / "texts.parquet"
        texts.to_parquet(path, index=False)
        print(f"{len(texts):,} texts ({distinct:,} distinct, {distinct_sentences:,} distinct sentences) from {len(pool):,} pool texts ({sizes['sample_data']:,} sample data, "
              f"{sizes['evaluation']:,} evaluation seed {args.eval_seed}; {sentences:,} sentences) in {built:.1f} s, "
              f"mean {texts['text'].str.len().mean():.0f} characters; builder peak RSS {peak_rss_mib():,.0f} MiB", flush=True)
        del texts, pool
        results = {}
        if args.baseline:
            results["baseline"] = baseline(args.baseline, path, args.repeat, workdir)
            r = results["baseline"]
            print(f"(c) keywords at {args.baseline}: {r['matches']:,} matches in {r['texts_matched']:,} texts", flush=True)
        for mode, title in MODES.items():
            run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", mode, "--input", str(path),
                                  "--repeat", str(args.repeat)], capture_output=True, text=True, cwd=REPO)
            if run.returncode != 0:
                print(run.stderr, file=sys.stderr)
                raise SystemExit(f"{title}: the worker failed")
            results[mode] = json.loads(run.stdout.strip().splitlines()[-1])
            r = results[mode]
            print(f"{title}: {r['matches']:,} matches in {r['texts_matched']:,} texts ({', '.join(f'{k} {v:,}' for k, v in r['via'].items())}); "
                  f"{r['eligible']:,} texts eligible for similarity", flush=True)

    a, b = results["keywords"]["best"], results["full"]["best"]
    print(f"\nbest of {args.repeat}, seconds   {'(a) keywords':>14}{'(b) full':>12}{'b/a':>8}")
    for step in ("build matcher", *STEPS, "total"):
        ratio = f"{b[step] / a[step]:.2f}" if a[step] > 0 else "—"
        print(f"  {step:26}{a[step]:>14.2f}{b[step]:>12.2f}{ratio:>8}")
    ca, cb = results["keywords"]["runs"][0], results["full"]["runs"][0]
    for step in ("match", "total"):
        print(f"  {'first run, ' + step + ' (cold)':26}{ca[step]:>14.2f}{cb[step]:>12.2f}{cb[step] / ca[step]:>8.2f}")
    print(f"  {'peak RSS, MiB':26}{results['keywords']['peak_rss_mib']:>14,.0f}{results['full']['peak_rss_mib']:>12,.0f}"
          f"{results['full']['peak_rss_mib'] / results['keywords']['peak_rss_mib']:>8.2f}")
    if "baseline" in results:
        c = results["baseline"]["best"]
        print(f"\n(c) keywords alone at {args.baseline} (the text work before this code), best of {args.repeat}, seconds")
        for step in (*STEPS, "total"):
            print(f"  {step:26}{c[step]:>14.2f}   (b)/(c) {b[step] / c[step]:.2f}" if c[step] else f"  {step:26}{c[step]:>14.2f}")
        print(f"  {'peak RSS, MiB':26}{results['baseline']['peak_rss_mib']:>14,.0f}")
    seconds = time.perf_counter() - started
    print(f"\n{seconds:.0f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"texts": args.texts, "distinct": distinct, "distinct_sentences": distinct_sentences, "repeat": args.repeat, "pool": {**sizes, "sentences": sentences},
               "sample_scale": args.sample_scale, "eval_seed": args.eval_seed, "seed": args.seed, "build_seconds": round(built, 1),
               "results": results, "ratio_full_to_keywords": {k: round(b[k] / a[k], 3) if a[k] else None for k in a},
               "seconds": round(seconds, 1)}
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
