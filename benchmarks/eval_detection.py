"""Score the catalog barrier detector per mention on data written apart from the catalog.

    python benchmarks/eval_detection.py                        # held-out seeds 5-9, scale 1
    python benchmarks/eval_detection.py --seeds 2 --scale 0.5 --json build/eval_detection.json

For each seed: generate the retailer's five quarters exactly as ``benchmarks/eval_changes.py``
does (``cjm_demo.evaluation_data.generate`` into a temporary folder, read with the example config
``configs/examples/evaluation/`` for the seed's survey shape, ``load_evaluation_config``). Every
quarter's texts are read the way the pipeline reads them: the ``surveys`` and ``reviews`` sources
through ``cjm_tasks.ingest.sources.read_source`` and then ``cjm_tasks.maps.prepared.collect_texts`` (melted
wide export, long export, repeated comments kept once), so the scored texts are the texts the
maps are built from. No raw file is read except ``<period>/text_labels.jsonl``, which the
pipeline never reads.

**Joining texts to labels.** ``text_labels.jsonl`` has one row per written text with its
``source`` (survey or review), ``ref``, ``customer`` and ``text``. A review's ``ref`` is its
``review_id`` and joins directly. A survey label's ``ref`` is the response number, which the
readers do not keep (the wide config suffixes the response number with the question, the long
config's id is the answer row), so survey texts join on (customer id, text): every survey
comment has the respondent's id, a customer answers at most once a quarter, and the comments of
one response are about different stages, so the pair is unique (checked: a label key that
occurs twice has its topics merged, and the counts of texts that join nothing are printed). A
label whose text ``collect_texts`` dropped as a repeat (same kind, time and text) is not scored.

**Scoring.** A (text, catalog barrier) pair is a *true mention* when the text's label lists that
barrier; it is *predicted* when the detector returns it. Texts about no catalog barrier (praise,
neutral and vague remarks, and complaints about the uncatalogued topics: parking, chemical smell)
have no true mention; every barrier predicted on them is a false positive, and the *false-alarm
rate* is the share of those texts given any barrier. Precision = true positives / predicted
pairs, recall = true positives / true mentions, pooled over pairs (micro) and per barrier, with
Wilson 95% intervals (``cjm_tasks.maps.barriers.wilson``). The pooled figures add the counts of every
seed.

Two detectors are measured in the same run on the same texts: the keywords alone
(``catalog_matcher(config, word_forms=False, similarity=False)``) and the full catalog detection
(``catalog_matcher(config)``, its defaults), each called as ``prepared.prepare`` calls it: on the
normalised texts, with ``eligible=similarity_eligible(...)`` (texts that are not praise by their
score, or by their wording when they have none, are read for similarity). For the
full detector the true and false positives are also split by ``via`` (``keyword`` or
``similarity``), so the report shows how many found mentions came from similarity.

``--json PATH`` writes every count and rate, per seed and pooled. docs/evaluation.md
("Per-mention detection") explains the method.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cjm_tasks.maps.barriers import wilson  # noqa: E402
from cjm_demo.evaluation_data import generate, load_evaluation_config  # noqa: E402
from cjm_tasks.maps.prepared import Inputs, collect_texts
from cjm_tasks.maps.text_features import catalog_matcher, similarity_eligible  # noqa: E402
from cjm_tasks.periods import Period  # noqa: E402
from cjm_tasks.ingest.sources import read_source  # noqa: E402
from cjm_tasks.maps.text import normalize, sentiment  # noqa: E402



# ------------------------------------------------------------------------------ reading


def labelled_texts(data_dir: str | Path, config, period: str) -> tuple[pd.DataFrame, dict[str, int]]:
    """The texts of ``period`` as the pipeline collects them, with what each is about.

    Returns (texts, join counts). ``texts`` is ``collect_texts``' frame (one row per text, in its
    order, index 0..n-1) plus ``topics`` (every topic the label lists, catalog or not), ``tone``
    (complaint, praise, neutral, vague) and ``label_language``; rows that join no label are left
    out. The join counts: ``texts`` collected, ``labels`` in the file, ``texts_unlabelled``
    (collected texts joining no label), ``labels_unread`` (labels joining no collected text) and
    ``label_keys_repeated``.
    """
    p = Period.parse(period)
    inputs = Inputs(surveys=read_source("surveys", config, p).frame, reviews=read_source("reviews", config, p).frame)
    texts = collect_texts(inputs, config)
    labels = pd.read_json(Path(data_dir) / period / "text_labels.jsonl", lines=True, dtype=False)

    def key(kind: pd.Series, ref: pd.Series, customer: pd.Series, text: pd.Series) -> pd.Series:
        survey = "survey\t" + customer.astype("str") + "\t" + text.astype("str")
        review = "review\t" + ref.astype("str")
        return survey.where(kind == "survey", review)

    labels["key"] = key(labels["source"], labels["ref"], labels["customer"], labels["text"])
    repeated = int(labels["key"].duplicated().sum())
    merged = labels.groupby("key", sort=False).agg(
        topics=("topics", lambda ts: sorted({t for topics in ts for t in topics})),
        tone=("tone", "first"), label_language=("language", "first"))
    texts["key"] = key(texts["kind"], texts["ref"], texts["customer_id"], texts["text"])
    joined = texts.join(merged, on="key")
    known = joined["tone"].notna()
    counts = {"texts": len(texts), "labels": len(labels), "texts_unlabelled": int((~known).sum()),
              "labels_unread": int((~merged.index.isin(texts["key"])).sum()), "label_keys_repeated": repeated}
    return joined[known].drop(columns="key").reset_index(drop=True), counts


def truth_pairs(texts: pd.DataFrame, catalog: Sequence[str]) -> pd.DataFrame:
    """(row, label) for every catalog barrier a text is about; ``row`` is the text's position."""
    wanted = set(catalog)
    pairs = [(row, topic) for row, topics in enumerate(texts["topics"]) for topic in topics if topic in wanted]
    return pd.DataFrame(pairs, columns=["row", "label"]).astype({"row": "int64", "label": "str"})


def none_groups(texts: pd.DataFrame, catalog: Sequence[str]) -> pd.Series:
    """For every text about no catalog barrier, what it is instead: praise, neutral, vague, or
    ``uncatalogued`` (a complaint about a topic the catalog does not describe). Indexed by row."""
    wanted = set(catalog)
    about_none = [not (set(topics) & wanted) for topics in texts["topics"]]
    tone = texts["tone"].where(texts["tone"] != "complaint", "uncatalogued")
    return tone[about_none]


# ------------------------------------------------------------------------------ matching


def make_detectors(config) -> dict[str, Any]:
    """The keywords alone and the full catalog detection, both from ``catalog_matcher``."""
    return {"keywords": catalog_matcher(config, word_forms=False, similarity=False), "full": catalog_matcher(config)}


def detect(matcher, texts: pd.DataFrame, config) -> pd.DataFrame:
    """The matcher's rows (row, label, keyword, found, via, score) for ``texts``, called as
    ``prepared.prepare`` calls it: on the normalised texts, with the texts read for similarity
    (``similarity_eligible``: not praise by score, or by wording when there is no score), which
    needs the lexicon sentiment of every text first."""
    frame = texts.assign(norm=normalize(texts["text"]))
    frame["sentiment"] = sentiment(frame["norm"], config.barriers.sentiment.model_dump(), normalized=True).to_numpy()
    return matcher.match(frame["norm"], normalized=True, eligible=similarity_eligible(frame, config))


# ------------------------------------------------------------------------------ scoring


def score_mentions(truth: pd.DataFrame, predicted: pd.DataFrame, rows: int, barriers: Sequence[str],
                   groups: pd.Series | None = None) -> dict[str, Any]:
    """Counts of one detector on one set of texts, per (text, barrier) mention.

    ``truth`` and ``predicted`` have columns ``row`` (text position, 0..rows-1) and ``label``
    (barrier id); ``predicted`` may have ``via`` (how the detector found it). Pairs are counted
    once; a predicted label not in ``barriers`` is ignored. ``groups``: for texts about no barrier,
    indexed by row, a group name to split the false alarms by (texts about no barrier without a
    group still count in the total).

    Returns ``{"texts", "true", "predicted", "tp", "fp", "fn", "by_barrier": {id: {"true",
    "predicted", "tp"}}, "by_via": {via: {"predicted", "tp"}}, "about_none": {"texts", "alarms",
    "by_group": {group: {"texts", "alarms"}}}}``, where ``alarms`` counts texts about no barrier
    given at least one barrier. Counts of several seeds add up (:func:`add_counts`).
    """
    wanted = list(barriers)
    t = truth[["row", "label"]].drop_duplicates()
    p = predicted[predicted["label"].isin(wanted) & predicted["row"].between(0, rows - 1)]
    if "via" not in p.columns:
        p = p.assign(via="keyword")
    p = p.drop_duplicates(["row", "label"])[["row", "label", "via"]]
    hit = p.merge(t.assign(true=1), on=["row", "label"], how="left")["true"].notna().to_numpy()
    p = p.assign(tp=hit)
    tp = int(hit.sum())
    by_barrier = {b: {"true": int((t["label"] == b).sum()), "predicted": int((p["label"] == b).sum()),
                      "tp": int(p.loc[p["label"] == b, "tp"].sum())} for b in wanted}
    by_via = {str(v): {"predicted": int(len(g)), "tp": int(g["tp"].sum())} for v, g in p.groupby("via", sort=True)}
    true_rows = set(t["row"])
    none_rows = [r for r in range(rows) if r not in true_rows]
    flagged = set(p["row"])
    about_none: dict[str, Any] = {"texts": len(none_rows), "alarms": sum(r in flagged for r in none_rows), "by_group": {}}
    if groups is not None:
        for name in sorted(set(groups)):
            members = [r for r in groups.index[groups == name] if r not in true_rows]
            about_none["by_group"][name] = {"texts": len(members), "alarms": sum(r in flagged for r in members)}
    return {"texts": rows, "true": len(t), "predicted": len(p), "tp": tp, "fp": len(p) - tp, "fn": len(t) - tp,
            "by_barrier": by_barrier, "by_via": by_via, "about_none": about_none}


def add_counts(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two count dictionaries of :func:`score_mentions` (or of this function) added key by key."""
    out: dict[str, Any] = {}
    for k in set(a) | set(b):
        x, y = a.get(k), b.get(k)
        if isinstance(x, Mapping) or isinstance(y, Mapping):
            out[k] = add_counts(x or {}, y or {})
        else:
            out[k] = (x or 0) + (y or 0)
    return out


def rate(k: int, n: int) -> dict[str, Any]:
    """k/n with its Wilson 95% interval (value and interval None when n is 0)."""
    return {"k": int(k), "n": int(n), "value": round(k / n, 4) if n else None, "interval": wilson(int(k), int(n))}


def rates(counts: Mapping[str, Any]) -> dict[str, Any]:
    """Precision, recall and the false-alarm rate of :func:`score_mentions` counts: overall
    (micro), per barrier, per ``via`` (precision, and the share of all true mentions each way
    found) and per group of texts about no barrier."""
    out = {"precision": rate(counts["tp"], counts["predicted"]), "recall": rate(counts["tp"], counts["true"]),
           "false_alarms": rate(counts["about_none"]["alarms"], counts["about_none"]["texts"]),
           "by_barrier": {b: {"true": c["true"], "predicted": c["predicted"], "precision": rate(c["tp"], c["predicted"]),
                              "recall": rate(c["tp"], c["true"])} for b, c in counts["by_barrier"].items()},
           "by_via": {v: {"predicted": c["predicted"], "tp": c["tp"], "precision": rate(c["tp"], c["predicted"]),
                          "recall_share": rate(c["tp"], counts["true"]),
                          "share_of_tp": round(c["tp"] / counts["tp"], 4) if counts["tp"] else None}
                      for v, c in sorted(counts["by_via"].items())},
           "false_alarms_by_group": {g: rate(c["alarms"], c["texts"]) for g, c in sorted(counts["about_none"]["by_group"].items())}}
    return out


# ------------------------------------------------------------------------------ running


def run_seed(seed: int, scale: float, workdir: Path, detectors_for=make_detectors) -> dict[str, Any]:
    """Generate one seed, read and label its texts, run both detectors; counts per detector."""
    began = time.perf_counter()
    generated = generate(workdir / f"seed-{seed}" / "data", seed, scale)
    config = load_evaluation_config(generated.folder, workdir / f"seed-{seed}" / "store")
    catalog = [b.id for b in config.barriers.catalog]
    frames, joins = [], {}
    for period in generated.periods:
        texts, counts = labelled_texts(generated.folder, config, period)
        frames.append(texts.assign(period=period))
        joins = add_counts(joins, counts)
    texts = pd.concat(frames, ignore_index=True)
    truth = truth_pairs(texts, catalog)
    groups = none_groups(texts, catalog)
    unknown = sorted({t for ts in texts["topics"] for t in ts if t not in catalog and not t.startswith("uncatalogued:")})
    if unknown:
        raise SystemExit(f"seed {seed}: the labels name barriers the catalog does not have: {unknown}")
    detectors = detectors_for(config)
    out: dict[str, Any] = {"seed": seed, "shape": generated.survey_shape, "joins": joins, "texts": len(texts),
                           "true_mentions": len(truth), "counts": {}, "seconds": {}}
    for name, matcher in detectors.items():
        tick = time.perf_counter()
        predicted = detect(matcher, texts, config)
        out["seconds"][name] = round(time.perf_counter() - tick, 2)
        out["counts"][name] = score_mentions(truth, predicted, len(texts), catalog, groups)
    out["seconds"]["total"] = round(time.perf_counter() - began, 1)
    return out


def _fmt(r: Mapping[str, Any], digits: int = 2) -> str:
    if r["value"] is None:
        return "—"
    low, high = r["interval"]
    return f"{r['value']:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}] {r['k']:>6}/{r['n']:<6}"


def _short(r: Mapping[str, Any], digits: int = 2) -> str:
    return "—" if r["value"] is None else f"{r['value']:.{digits}f} [{r['interval'][0]:.{digits}f}, {r['interval'][1]:.{digits}f}]"


def print_seed(result: Mapping[str, Any]) -> None:
    parts = []
    for name in result["counts"]:
        r = rates(result["counts"][name])
        parts.append(f"{name:9} P {_short(r['precision'])} R {_short(r['recall'])} false alarms {_short(r['false_alarms'], 3)}")
    joins = result["joins"]
    print(f"seed {result['seed']} ({result['shape']}): {result['texts']:,} texts, {result['true_mentions']:,} true mentions "
          f"(texts unlabelled {joins['texts_unlabelled']}, labels unread {joins['labels_unread']}), {result['seconds']['total']:.0f} s\n  "
          + "\n  ".join(parts), flush=True)


def print_report(pooled: Mapping[str, Mapping[str, Any]], seeds: list[int], scale: float, seconds: float) -> None:
    names = list(pooled)
    figures = {n: rates(pooled[n]) for n in names}
    first = pooled[names[0]]
    print(f"\nPer-mention detection on independent data: seeds {seeds}, scale {scale} ({seconds:.0f} s)")
    print(f"{first['texts']:,} texts, {first['true']:,} true mentions, {first['about_none']['texts']:,} texts about no catalog barrier\n")
    print(f"{'detector':12}{'predicted':>10}  {'precision [95%]':<32}{'recall [95%]':<32}false alarms, texts about none")
    for n in names:
        f = figures[n]
        print(f"{n:12}{pooled[n]['predicted']:>10}  {_fmt(f['precision']):<32}{_fmt(f['recall']):<32}{_fmt(f['false_alarms'], 3)}")
    if "full" in figures and figures["full"]["by_via"]:
        print(f"\n{'full detector, by way found':28}{'predicted':>10}{'true pos.':>11}  {'precision [95%]':<32}share of all true mentions")
        for via, v in figures["full"]["by_via"].items():
            print(f"  {via:26}{v['predicted']:>10}{v['tp']:>11}  {_fmt(v['precision']):<32}{_fmt(v['recall_share'])}")
    print(f"\n{'per barrier':20}{'true':>6}" + "".join(f"  {n + ' precision':<32}{n + ' recall':<32}" for n in names))
    for b in first["by_barrier"]:
        row = f"{b:20}{first['by_barrier'][b]['true']:>6}"
        for n in names:
            r = figures[n]["by_barrier"][b]
            row += f"  {_fmt(r['precision']):<32}{_fmt(r['recall']):<32}"
        print(row)
    print("\nfalse alarms on texts about no catalog barrier, by kind of text:")
    for g in figures[names[0]]["false_alarms_by_group"]:
        print(f"  {g:14}" + "".join(f"  {n}: {_fmt(figures[n]['false_alarms_by_group'][g], 3):<34}" for n in names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from benchmarks.eval_changes import code_identity, describe_code, seed_arguments

    seed_arguments(parser, 5, "the first seed (default 5: the held-out seeds 5-9)")
    args = parser.parse_args(argv)

    identity = code_identity()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="cjm-eval-detection-") as tmp:
        workdir = args.workdir or Path(tmp)
        for seed in seeds:
            result = run_seed(seed, args.scale, workdir)
            print_seed(result)
            results.append(result)
    pooled: dict[str, Any] = {}
    for result in results:
        for name, counts in result["counts"].items():
            pooled[name] = add_counts(pooled.get(name, {}), counts)
    pooled = {name: {**counts, "by_barrier": {b: counts["by_barrier"][b] for b in results[0]["counts"][name]["by_barrier"]}}
              for name, counts in pooled.items()}
    seconds = time.perf_counter() - start
    print_report(pooled, seeds, args.scale, seconds)
    print(f"\ncode: {describe_code(identity)}; fingerprint {identity['fingerprint']}", flush=True)
    if identity["fingerprint"] != code_identity()["fingerprint"]:
        print("warning: the library changed while the evaluation ran; the figures mix two versions", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        doc = {"code": identity, "seeds": seeds, "scale": args.scale, "seconds": round(seconds, 1),
               "pooled": {n: {"counts": c, "rates": rates(c)} for n, c in pooled.items()},
               "seed_results": [{**r, "rates": {n: rates(c) for n, c in r["counts"].items()}} for r in results]}
        args.json.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
