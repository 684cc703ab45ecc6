"""The DAGs' documentation, made from their tasks. The DAG files import this module at parse
time, so it imports nothing."""

from __future__ import annotations

from typing import Any


def with_task_list(intro: str, dag: Any) -> str:
    """``intro`` followed by the DAG's tasks in the order they run, one line each (task id and the
    first line of its docstring), so the docs list what the grid shows."""
    lines = [intro.strip(), "", "**Tasks**, in the order they run:", ""]
    for t in dag.topological_sort():
        # A mapped task keeps no doc_md: its function's docstring then.
        doc = (t.doc_md or t.doc or getattr(getattr(t, "python_callable", None), "__doc__", None) or "").strip()
        lines.append(f"1. **{t.task_id}**: {doc.splitlines()[0] if doc else type(t).__name__}")
    return "\n".join(lines) + "\n"
