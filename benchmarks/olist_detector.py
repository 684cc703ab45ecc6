"""Score the Portuguese barrier catalog of the Olist example against Olist's human labels.

    python benchmarks/olist_detector.py
    python benchmarks/olist_detector.py --config configs/examples/olist/cjm.yaml --misses atrasado

Reads the comments through the example's configured ``surveys`` source (every quarter at once,
exactly as the pipeline sees them), joins the human label ``most_voted_subclass`` of the same
rows, matches the catalog keywords and prints, per labelled class, the support, precision and
recall. Two tables: every labelled row, and one row per distinct survey answer (the export
repeats an answer on one row per seller of a multi-seller purchase). ``--misses CLASS`` also
prints comments of that class the detector missed and comments it wrongly gave that barrier.
"""

from __future__ import annotations

import argparse
import io
import logging
import time
from pathlib import Path

import pandas as pd

from cjm_tasks.config import load_config
from cjm_tasks.evaluation import score_detector
from cjm_tasks.journey import catalog_matcher
from cjm_tasks.sources import read_source
from cjm_tasks.storage import expand_location

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "examples" / "olist" / "cjm.yaml"
# Olist's complaint classes and the catalog barrier that stands for each.
CLASSES = {
    "atrasado": "late_delivery",
    "entrega_parcial": "partial_delivery",
    "baixa_qualidade": "low_quality",
    "diferente_do_anunciado": "not_as_advertised",
}
ID_COLUMN, LABEL_COLUMN = "id", "most_voted_subclass"


def labelled_comments(config_path: Path) -> pd.DataFrame:
    """Every survey answer of the Olist file with its human label: response_id, answered_at, comment, label."""
    config = load_config(config_path)
    surveys = read_source("surveys", config, None).frame
    source = config.sources["surveys"]
    labels = pd.concat(
        pd.read_csv(io.BytesIO(storage.read_bytes(key)), usecols=[ID_COLUMN, LABEL_COLUMN], dtype="str",
                    sep=source.csv.delimiter, encoding=source.csv.encoding)
        for _, storage, key in expand_location(source.location, config.s3)
    ).rename(columns={ID_COLUMN: "response_id", LABEL_COLUMN: "label"})
    return surveys[["response_id", "answered_at", "comment"]].merge(labels, on="response_id", how="left")


def print_scores(title: str, scores: pd.DataFrame) -> None:
    print(f"\n{title}")
    print(f"{'class':<24}{'barrier':<20}{'support':>8}{'predicted':>10}{'precision':>10}{'recall':>8}")
    for label, row in scores.iterrows():
        print(f"{label:<24}{row.barrier:<20}{row.support:>8}{row.predicted:>10}{row.precision:>10.3f}{row.recall:>8.3f}")


def print_misses(comments: pd.DataFrame, matcher, label: str, limit: int) -> None:
    barrier = CLASSES[label]
    rows = comments.reset_index(drop=True)
    matched = matcher.match(rows["comment"])
    found = set(matched.loc[matched["label"] == barrier, "row"])
    hit = rows.index.isin(list(found))
    print(f"\nmissed {label} (labelled {label}, {barrier} not matched):")
    for text in rows.loc[(rows["label"] == label) & ~hit, "comment"].drop_duplicates().head(limit):
        print(f"  - {text[:160]}")
    print(f"\nwrongly {barrier} (matched, labelled otherwise):")
    for r in rows.loc[(rows["label"] != label) & rows["label"].notna() & hit].drop_duplicates("comment").head(limit).itertuples():
        print(f"  - [{r.label}] {r.comment[:160]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=CONFIG, help="main config file of the Olist example")
    parser.add_argument("--misses", choices=sorted(CLASSES), help="print missed and wrongly matched comments of this class")
    parser.add_argument("--limit", type=int, default=15, help="how many comments --misses prints of each kind")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    started = time.perf_counter()
    comments = labelled_comments(args.config)
    matcher = catalog_matcher(load_config(args.config))
    labelled = comments[comments["label"].notna()]
    distinct = labelled.drop_duplicates(["answered_at", "comment"])
    print(f"{len(comments):,} survey answers, {len(labelled):,} with a label, {len(distinct):,} distinct labelled answers")
    print_scores("every labelled row", score_detector(labelled["comment"], labelled["label"], matcher, CLASSES))
    print_scores("one row per distinct answer", score_detector(distinct["comment"], distinct["label"], matcher, CLASSES))
    satisfied = labelled[labelled["label"].isin(["satisfeito", "antes_prazo"])]
    alarms = matcher.match(satisfied["comment"])
    alarms = alarms[alarms["label"].isin(list(CLASSES.values()))]
    print(f"\nsatisfied comments (satisfeito, antes_prazo) given one of these barriers: "
          f"{alarms['row'].nunique()} of {len(satisfied)} ({alarms['row'].nunique() / max(1, len(satisfied)):.1%})")
    if args.misses:
        print_misses(labelled, matcher, args.misses, args.limit)
    print(f"\n{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
