"""Score the Portuguese barrier catalog of the Olist example against Olist's human labels.

    python benchmarks/olist_detector.py                          # the tune half (the default)
    python benchmarks/olist_detector.py --misses atrasado        # ... and the comments it gets wrong
    python benchmarks/olist_detector.py --half test --json build/olist_detector_test.json

Reads the comments through the example's configured ``surveys`` source (every quarter at once,
exactly as the pipeline sees them), joins the human label ``most_voted_subclass`` of the same
rows, keeps the rows of one half of the frozen split ``configs/examples/olist/split.csv``
(``--half tune``, the default, ``test`` or ``all``), matches the catalog and prints, per
labelled class, the support, precision and recall with their Wilson 95% intervals.

The catalog's keywords were written while reading the tune half only: figures on the tune half
are in-sample, and the test half is for one final run, not for tuning.

Tables: every labelled row, and one row per distinct survey answer (the export repeats an answer
on one row per seller of a multi-seller purchase), first for the full matcher as the pipeline
calls it (keywords with their word forms, and similarity to the catalog's example sentences for
the comments that are not praise: ``cjm_tasks.maps.journey.similarity_eligible`` on the answer's
score), then for the keywords alone, as written (``catalog_matcher(config, similarity=False,
word_forms=False)``; skipped with a note when the installed matcher does not take these
arguments). After each, how many satisfied comments (``satisfeito``, ``antes_prazo``) were given
one of the scored barriers.

To tune without loading the test half at all, point the example at a file of tune rows only:
``CJM_OLIST_CSV=/path/to/tune_rows.csv python benchmarks/olist_detector.py``.

``--misses CLASS`` also prints comments of that class (in the chosen half) the detector missed and
comments it wrongly gave that barrier, with the keyword that matched. ``--json PATH`` writes every
figure printed to PATH.
"""

from __future__ import annotations

import argparse
import inspect
import io
import json
import logging
import math
import time
from pathlib import Path

import pandas as pd

from cjm_tasks.maps.barriers import wilson
from cjm_tasks.config import load_config
from cjm_tasks.maps.evaluation import score_detector
from cjm_tasks.maps.text_features import catalog_matcher
from cjm_tasks.ingest.sources import read_source
from cjm_tasks.storage import expand_location

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "examples" / "olist" / "cjm.yaml"
SPLIT = ROOT / "configs" / "examples" / "olist" / "split.csv"
HALVES = ("tune", "test", "all")
# Olist's complaint classes and the catalog barrier that stands for each.
CLASSES = {
    "atrasado": "late_delivery",
    "entrega_parcial": "partial_delivery",
    "baixa_qualidade": "low_quality",
    "diferente_do_anunciado": "not_as_advertised",
}
SATISFIED = ["satisfeito", "antes_prazo"]
ID_COLUMN, LABEL_COLUMN = "id", "most_voted_subclass"


def labelled_comments(config_path: Path) -> pd.DataFrame:
    """Every survey answer of the Olist file with its human label: response_id, answered_at, comment,
    score, metric, label."""
    config = load_config(config_path)
    surveys = read_source("surveys", config, None).frame
    source = config.sources["surveys"]
    labels = pd.concat(
        pd.read_csv(io.BytesIO(storage.read_bytes(key)), usecols=[ID_COLUMN, LABEL_COLUMN], dtype="str",
                    sep=source.csv.delimiter, encoding=source.csv.encoding)
        for _, storage, key in expand_location(source.location, config.s3)
    ).rename(columns={ID_COLUMN: "response_id", LABEL_COLUMN: "label"})
    columns = [c for c in ("response_id", "answered_at", "comment", "score", "metric") if c in surveys.columns]
    return surveys[columns].merge(labels, on="response_id", how="left")


def keep_half(comments: pd.DataFrame, half: str, split_path: Path = SPLIT) -> pd.DataFrame:
    """The rows of ``comments`` whose answer id the split puts in ``half`` (every row for ``all``)."""
    if half == "all":
        return comments
    split = pd.read_csv(split_path, dtype="str")
    ids = set(split.loc[split["half"] == half, "id"])
    return comments[comments["response_id"].astype("str").isin(ids)]


class PipelineMatcher:
    """The catalog matcher as the pipeline calls it: similarity reads only the texts that are not
    praise (``cjm_tasks.maps.journey.similarity_eligible``: the answer's score scaled to 0..1 at most
    ``matching.similarity.max_score``). Texts are looked up by their wording; a comment given with
    several scores is read when any of them is low, as the pipeline keeps the lowest."""

    def __init__(self, matcher, comments: pd.DataFrame, config):
        self.matcher = matcher
        # A matcher without similarity (the keyword matcher of before) reads every text the same way.
        takes = "eligible" in inspect.signature(matcher.match).parameters
        self.eligible = _eligible_by_text(comments, config) if takes else None

    def match(self, texts: pd.Series) -> pd.DataFrame:
        texts = pd.Series(texts).reset_index(drop=True)
        if self.eligible is None:
            return self.matcher.match(texts)
        return self.matcher.match(texts, eligible=texts.map(self.eligible).fillna(True).astype(bool))


def _eligible_by_text(comments: pd.DataFrame, config) -> dict[str, bool] | None:
    try:
        from cjm_tasks.maps.journey import scale01
        from cjm_tasks.maps.text_features import similarity_eligible
        from cjm_tasks.maps.text import sentiment
    except ImportError:
        return None
    rows = comments[comments["comment"].notna()]
    if "score" not in rows.columns:
        return None
    score = pd.to_numeric(rows["score"], errors="coerce")
    metric = rows["metric"] if "metric" in rows.columns else pd.Series("csat", index=rows.index)
    score01 = pd.Series(float("nan"), index=rows.index)
    for name in metric.dropna().unique():
        score01[metric == name] = scale01(score[metric == name], name, config)
    texts = pd.DataFrame({
        "score01": score01.to_numpy(),
        "sentiment": sentiment(rows["comment"], config.barriers.sentiment.model_dump()).to_numpy(),
    })
    eligible = similarity_eligible(texts, config).to_numpy()
    return pd.Series(eligible, index=rows["comment"].to_numpy()).groupby(level=0).any().to_dict()


def keyword_matcher(config):
    """The catalog matcher without word forms and without similarity, or None when the installed
    ``catalog_matcher`` does not take these arguments (the keyword-only matcher of before)."""
    try:
        return catalog_matcher(config, similarity=False, word_forms=False)
    except TypeError:
        return None


def _number(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def scored(texts: pd.Series, labels: pd.Series, matcher) -> list[dict]:
    """Per class: support, predicted, true positives, precision and recall with Wilson 95% intervals."""
    rows = []
    for label, row in score_detector(texts, labels, matcher, CLASSES).iterrows():
        tp, predicted, support = int(row.true_positives), int(row.predicted), int(row.support)
        rows.append({
            "class": label, "barrier": row.barrier, "support": support, "predicted": predicted, "true_positives": tp,
            "precision": _number(row.precision), "precision_ci": wilson(tp, predicted),
            "recall": _number(row.recall), "recall_ci": wilson(tp, support),
        })
    return rows


def _share(value: float | None, interval: list[float] | None) -> str:
    if value is None:
        return f"{'-':>6}{'':>16}"
    low, high = interval or (float("nan"), float("nan"))
    return f"{value:>6.3f} [{low:.3f}, {high:.3f}]"


def print_scores(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'class':<24}{'barrier':<20}{'support':>8}{'predicted':>10}"
          f"{'precision  [95% CI]':>24}{'recall  [95% CI]':>24}")
    for r in rows:
        print(f"{r['class']:<24}{r['barrier']:<20}{r['support']:>8}{r['predicted']:>10}"
              f"  {_share(r['precision'], r['precision_ci'])}  {_share(r['recall'], r['recall_ci'])}")


def false_alarms(satisfied: pd.DataFrame, matcher) -> dict:
    """How many satisfied comments were given one of the scored barriers."""
    alarms = matcher.match(satisfied["comment"].reset_index(drop=True))
    flagged = alarms.loc[alarms["label"].isin(list(CLASSES.values())), "row"].nunique()
    return {"flagged": int(flagged), "of": len(satisfied), "share": round(flagged / max(1, len(satisfied)), 4)}


def _how(match) -> str:
    via = getattr(match, "via", None)
    via = "" if via is None or (isinstance(via, float) and math.isnan(via)) else f"{via}: "
    return f"{via}{match.keyword}" + (f" -> {match.found}" if getattr(match, "found", None) else "")


def print_misses(comments: pd.DataFrame, matcher, label: str, limit: int) -> None:
    barrier = CLASSES[label]
    rows = comments.reset_index(drop=True)
    matched = matcher.match(rows["comment"])
    matched = matched[matched["label"] == barrier].drop_duplicates("row").set_index("row")
    hit = rows.index.isin(list(matched.index))
    print(f"\nmissed {label} (labelled {label}, {barrier} not matched):")
    for text in rows.loc[(rows["label"] == label) & ~hit, "comment"].drop_duplicates().head(limit):
        print(f"  - {text[:160]}")
    print(f"\nwrongly {barrier} (matched, labelled otherwise):")
    wrong = rows.loc[(rows["label"] != label) & rows["label"].notna() & hit].drop_duplicates("comment").head(limit)
    for index, r in wrong.iterrows():
        print(f"  - [{r.label}] ({_how(next(matched.loc[[index]].itertuples()))}) {r.comment[:160]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG, help="main config file of the Olist example")
    parser.add_argument("--half", choices=HALVES, default="tune",
                        help="which half of configs/examples/olist/split.csv to score (default: tune)")
    parser.add_argument("--misses", choices=sorted(CLASSES), help="print missed and wrongly matched comments of this class")
    parser.add_argument("--limit", type=int, default=15, help="how many comments --misses prints of each kind")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    config = load_config(args.config)
    comments = keep_half(labelled_comments(args.config), args.half)
    labelled = comments[comments["label"].notna()]
    distinct = labelled.drop_duplicates(["answered_at", "comment"])
    satisfied = labelled[labelled["label"].isin(SATISFIED)]
    print(f"half {args.half}: {len(comments):,} survey answers, {len(labelled):,} with a label, "
          f"{len(distinct):,} distinct labelled answers")

    figures: dict = {"half": args.half, "answers": len(comments), "labelled": len(labelled), "distinct": len(distinct)}
    matchers = {"full": PipelineMatcher(catalog_matcher(config), comments, config), "keywords": keyword_matcher(config)}
    titles = {"full": "", "keywords": ", keywords only (no word forms, no similarity)"}
    for name, matcher in matchers.items():
        if matcher is None:
            print("\nkeywords only: skipped, this catalog_matcher takes no similarity/word_forms arguments")
            figures[name] = None
            continue
        tick = time.perf_counter()
        every = scored(labelled["comment"], labelled["label"], matcher)
        one = scored(distinct["comment"], distinct["label"], matcher)
        alarms = false_alarms(satisfied, matcher)
        print_scores(f"every labelled row{titles[name]}", every)
        print_scores(f"one row per distinct answer{titles[name]}", one)
        print(f"\nsatisfied comments ({', '.join(SATISFIED)}) given one of these barriers{titles[name]}: "
              f"{alarms['flagged']} of {alarms['of']} ({alarms['share']:.1%})")
        figures[name] = {"every_row": every, "distinct": one, "satisfied_flagged": alarms,
                         "seconds": round(time.perf_counter() - tick, 2)}
    if args.misses:
        print_misses(labelled, matchers["full"], args.misses, args.limit)
    figures["seconds"] = round(time.perf_counter() - started, 2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    print(f"\n{figures['seconds']:.1f} s")


if __name__ == "__main__":
    main()
