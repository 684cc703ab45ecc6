"""YAML with comments: a tree of plain values, :class:`Note` (a value with an end-of-line comment)
and :class:`Comment` (a comment line) written as aligned, commented YAML that reads back as the
plain tree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml


def _comment(text: str) -> str:
    """``text`` on one line, without control characters, shortened for a YAML comment."""
    line = "".join(c for c in " ".join(str(text).split()) if c.isprintable())
    return line if len(line) <= 160 else line[:157] + "..."


def _quote(value: Any) -> str:
    text = _comment(value)
    return f"'{text[:60]}'" + ("..." if len(text) > 60 else "")


class Comment:
    """A comment line of its own: a key of a mapping (its value is ignored) or an item of a list."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


@dataclass
class Note:
    """A value with a comment at the end of its line; ``flow`` writes a mapping or list on one line."""

    value: Any
    comment: str = ""
    flow: bool = False


def plain(node: Any) -> Any:
    """``node`` without its comments: what ``yaml.safe_load`` reads back from :func:`_dump`."""
    if isinstance(node, Note):
        return plain(node.value)
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if not isinstance(k, Comment)}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node if not isinstance(v, Comment)]
    if hasattr(node, "item") and not isinstance(node, (str, bytes)):
        return node.item()
    return node


def _dump(tree: dict) -> str:
    rows: list[tuple[str, str]] = []
    _emit_map(tree, 0, rows)
    text = _align(rows)
    if yaml.safe_load(text) != plain(tree):  # pragma: no cover - a bug of this writer, not of the input
        raise RuntimeError("cjm init wrote YAML that does not read back as written")
    return text


def _flow(value: Any) -> str:
    if isinstance(value, str) and any(not c.isprintable() for c in value):
        return json.dumps(value, ensure_ascii=False)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, sort_keys=False, width=1_000_000).strip()
    return text[:-3].rstrip() if text.endswith("\n...") else text


def _comment_rows(node: Any, indent: int) -> list[tuple[str, str]]:
    return [(" " * indent + "# " + _comment(line), "") for line in node.text.split("\n")]


def _emit_map(mapping: dict, indent: int, rows: list[tuple[str, str]]) -> None:
    for key, value in mapping.items():
        if isinstance(key, Comment):
            rows.extend(_comment_rows(key, indent))
            continue
        _emit_value(f"{' ' * indent}{_flow(key)}:", value if isinstance(value, Note) else Note(value), indent, rows)


def _emit_value(head: str, note: Note, indent: int, rows: list[tuple[str, str]]) -> None:
    value = note.value
    if isinstance(value, dict) and not note.flow and any(not isinstance(k, Comment) for k in value):
        rows.append((head, note.comment))
        _emit_map(value, indent + 2, rows)
    elif isinstance(value, list) and not note.flow and any(not isinstance(v, Comment) for v in value):
        rows.append((head, note.comment))
        _emit_list(value, indent + 2, rows)
    else:
        rows.append((f"{head} {_flow(plain(value))}", note.comment))
        inner = list(value) if isinstance(value, (dict, list)) else []
        rows.extend(r for c in inner if isinstance(c, Comment) for r in _comment_rows(c, indent + 2))


def _emit_list(items: list, indent: int, rows: list[tuple[str, str]]) -> None:
    pad = " " * indent
    for item in items:
        if isinstance(item, Comment):
            rows.extend(_comment_rows(item, indent))
            continue
        note = item if isinstance(item, Note) else Note(item)
        if isinstance(note.value, dict) and not note.flow and note.value:
            if note.comment:
                rows.append((f"{pad}# {_comment(note.comment)}", ""))
            start = len(rows)
            _emit_map(note.value, indent + 2, rows)
            first = next(i for i in range(start, len(rows)) if not rows[i][0].lstrip().startswith("#"))
            rows[first] = (f"{pad}- {rows[first][0][indent + 2:]}", rows[first][1])
        else:
            rows.append((f"{pad}- {_flow(plain(note.value))}", note.comment))


def _align(rows: list[tuple[str, str]]) -> str:
    """Lines with their comments aligned within each run of commented lines."""
    out, i = [], 0
    while i < len(rows):
        j = i
        while j < len(rows) and rows[j][1]:
            j += 1
        if j == i:
            out.append(rows[i][0])
            i += 1
            continue
        width = min(max(len(code) for code, _ in rows[i:j]), 48)
        out.extend(f"{code.ljust(width)}  # {_comment(comment)}" for code, comment in rows[i:j])
        i = j
    return "\n".join(out) + "\n"
