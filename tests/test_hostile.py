"""The hostile-input corpus (issue 15): every case in tests/hostile/cases.py, put through
``cjm refresh`` on a copy of a project whose first quarter is stored and published, is refused
with the documented exit code and a message naming what is at fault, without a traceback, an
``unexpected error``, a secret in the output, a new version or a changed byte in the site."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.hostile.cases import CASES, Case
from tests.hostile.edits import copy_project
from tests.hostile.run import changes, make_baseline, run_cli, snapshot


@pytest.fixture(scope="session")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_baseline(tmp_path_factory.mktemp("hostile-baseline")).root


def test_corpus_is_large_and_named():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)
    assert sum(bool(c.issue) for c in CASES) >= 25


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_refused_cleanly(case: Case, baseline: Path, tmp_path: Path):
    project = copy_project(baseline, tmp_path / "project")
    project.env.update(case.env)
    case.edit(project)
    before = snapshot(project.root)

    outcome = run_cli(project, list(case.args), isolate=case.isolate, timeout=case.timeout)

    after = snapshot(project.root)
    shown = f"{case.id}" + (f" ({case.issue})" if case.issue else "") + f"\n{outcome.tail()}"
    problems = []
    if outcome.code not in case.codes:
        problems.append(f"exit code {outcome.code}, expected {' or '.join(map(str, case.codes))}")
    for pattern in case.expect:
        if not re.search(pattern, outcome.text, re.IGNORECASE):
            problems.append(f"the message does not name {pattern!r}")
    for marker in ("Traceback", "unexpected error"):
        if marker in outcome.text:
            problems.append(f"{marker!r} in the output")
    for secret in case.absent:
        if secret in outcome.text:
            problems.append(f"{secret!r} in the output")
    stored = changes(before, after, "store")
    if stored:
        problems.append(f"the store changed: {stored[:5]}")
    site = changes(before, after, "site")
    if site:
        problems.append(f"the site changed: {site[:5]}")
    elsewhere = [c for c in changes(before, after) if c not in stored and c not in site]
    if elsewhere:
        problems.append(f"files outside the run's workspace changed: {elsewhere[:5]}")
    assert not problems, "; ".join(problems) + "\n" + shown
