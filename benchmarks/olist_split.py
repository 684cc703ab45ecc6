"""Freeze the tune/test split of the labelled Olist comments (run once; the output is committed).

    python benchmarks/olist_split.py            # writes configs/examples/olist/split.csv
    python benchmarks/olist_split.py --check    # fails when the committed file differs

The unit is one survey answer: the export repeats an answer on one row per seller of a
multi-seller purchase, and those rows must fall in the same half, or the test half would hold
copies of tuning texts. An answer is keyed by its answer timestamp and comment; its half is the
parity of the first byte of sha256("olist-split:" + the smallest row ``id`` of the answer), so
the split depends on nothing but the ids and is the same on every machine.

The test half is never read while writing keywords or examples (docs/olist.md, "Frozen split").
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "olist" / "olist_classified_public_dataset.csv"
SPLIT = ROOT / "configs" / "examples" / "olist" / "split.csv"


def half_of(answer_id: int) -> str:
    return "tune" if hashlib.sha256(f"olist-split:{answer_id}".encode()).digest()[0] % 2 == 0 else "test"


def split(data: Path = DATA) -> pd.DataFrame:
    """Columns ``id`` (the row id of the export) and ``half`` (tune or test), sorted by id."""
    rows = pd.read_csv(data, usecols=["id", "review_answer_timestamp", "review_comment_message"], dtype="str")
    rows["id"] = rows["id"].astype("int64")
    key = [rows["review_answer_timestamp"].fillna(""), rows["review_comment_message"].fillna("\0" + rows["id"].astype("str"))]
    answer = rows.groupby(key, sort=False)["id"].transform("min")
    out = pd.DataFrame({"id": rows["id"], "half": answer.map(half_of)})
    return out.sort_values("id").reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--check", action="store_true", help="compare with the committed split instead of writing it")
    args = parser.parse_args(argv)
    frame = split(args.data)
    if args.check:
        committed = pd.read_csv(SPLIT)
        same = committed.equals(frame)
        print("split unchanged" if same else "split differs from the committed file")
        return 0 if same else 1
    SPLIT.write_text(frame.to_csv(index=False))
    print(f"{SPLIT}: {len(frame)} rows, {frame['half'].value_counts().to_dict()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
