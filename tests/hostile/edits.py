"""Edits of a copied project (data, configuration, store, site under one folder): the building
blocks of the hostile cases and of the fuzz test's mutations."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

PERIOD = "2025Q2"   # the quarter every case refreshes; 2025Q1 is stored and published before


@dataclass
class Project:
    """One copy of the project: ``data/`` (sample data), ``cfg/`` (cjm.yaml and the files it
    names, with paths relative to it), ``store/``, ``site/`` and ``work/`` beside them."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def cfg(self) -> Path:
        return self.root / "cfg"

    @property
    def main(self) -> Path:
        return self.cfg / "cjm.yaml"

    @property
    def surveys(self) -> Path:
        return self.data / PERIOD / "surveys.csv"

    @property
    def reviews(self) -> Path:
        return self.data / PERIOD / "reviews.jsonl"

    @property
    def sales(self) -> Path:
        return next((self.data / PERIOD / "sales").glob("*.parquet"))

    @property
    def customers(self) -> Path:
        return self.data / "customers.csv"


def edit_yaml(path: Path, change: Callable[[Any], Any]) -> None:
    """Load ``path``, let ``change`` edit the document in place (or return a new one), write it back."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    new = change(doc)
    path.write_text(yaml.safe_dump(doc if new is None else new, allow_unicode=True, sort_keys=False), encoding="utf-8")


def append_text(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def read_csv_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def write_csv_rows(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def edit_csv(path: Path, change: Callable[[list[list[str]]], list[list[str]] | None]) -> None:
    """Rows as lists of strings, the header first; ``change`` edits them in place or returns new ones."""
    rows = read_csv_rows(path)
    new = change(rows)
    write_csv_rows(path, rows if new is None else new)


def set_csv_cell(path: Path, row: int, column: str, value: str) -> None:
    """Set ``column`` of data row ``row`` (0 = the first row after the header)."""
    def change(rows: list[list[str]]) -> None:
        rows[row + 1][rows[0].index(column)] = value
    edit_csv(path, change)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def edit_jsonl(path: Path, change: Callable[[list[dict]], list[Any] | None]) -> None:
    records = read_jsonl(path)
    new = change(records)
    write_jsonl(path, records if new is None else new)


def edit_parquet(path: Path, change: Callable[[pa.Table], pa.Table], **write_options: Any) -> None:
    """Rewrite a Parquet file with the table ``change`` returns (the same compression unless given)."""
    table = pq.read_table(path)
    compression = pq.ParquetFile(path).metadata.row_group(0).column(0).compression
    write_options.setdefault("compression", compression.lower() if compression != "UNCOMPRESSED" else "none")
    pq.write_table(change(table), path, **write_options)


def replace_column(table: pa.Table, name: str, values: pa.Array | list) -> pa.Table:
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    return table.set_column(table.schema.get_field_index(name), name, array)


def nested_json(depth: int) -> str:
    """A JSON array nested ``depth`` deep: ``[[[...]]]``."""
    return "[" * depth + "]" * depth


def copy_project(source: Path, target: Path) -> Project:
    """A fresh copy of a baseline project (without its run workspaces, which no case needs)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("work"), symlinks=True)
    return Project(target)
