"""The cjm command as a user runs it: exit codes and messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cjm, write_config, write_small_inputs


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    return write_config(root / "cfg", write_small_inputs(root / "data"))


def test_usage_errors_exit_2():
    result = cjm("validate", "--period", "2025Q5")
    assert result.returncode == 2 and "is not a quarter like 2025Q3" in result.stderr
    result = cjm("config", "check", config=Path("/nonexistent/cjm.yaml"))
    assert result.returncode == 2 and "file not found" in result.stderr and "Traceback" not in result.stderr


def test_refresh_refuses_a_quarter_after_the_current_one(monkeypatch: pytest.MonkeyPatch):
    # The current quarter comes from the clock the tool stamps with (SOURCE_DATE_EPOCH when set).
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1755216000")  # 2025-08-15 UTC: 2025Q3
    later = cjm("refresh", "--period", "2025Q4")
    assert later.returncode == 2 and "2025Q4 is after the current quarter (2025Q3): its data cannot exist yet" in later.stderr
    assert "Traceback" not in later.stderr
    current = cjm("refresh", "--period", "2025q3", config=Path("/nonexistent/cjm.yaml"))
    assert current.returncode == 2 and "after the current quarter" not in current.stderr and "file not found" in current.stderr
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    far = cjm("refresh", "--period", "2999Q4")
    assert far.returncode == 2 and "2999Q4 is after the current quarter" in far.stderr


def test_config_check(config: Path):
    result = cjm("config", "check", config=config)
    assert result.returncode == 0 and "6 stages" in result.stdout and "16 catalog barriers" in result.stdout


def test_refresh_versions_diff_history_and_verify(config: Path, tmp_path: Path):
    assert cjm("validate", "--period", "2025Q3", config=config).returncode == 0
    built = cjm("build", "--period", "2025Q3", "--out", str(tmp_path / "maps"), config=config)
    assert built.returncode == 0 and sorted(p.name for p in (tmp_path / "maps").iterdir())[0] == "all.json"
    first = cjm("refresh", "--period", "2025Q3", config=config)
    assert first.returncode == 0 and "2025Q3-r1: new" in first.stdout
    # What the run did, at INFO on stderr by default; the libraries' own INFO lines are not there.
    for line in ("INFO cjm_tasks.ingest.batches: read surveys: 40 rows from 1 file(s), 0 outside 2025Q3",
                 "INFO cjm_tasks.run.pipeline: validation of 2025Q3: passed (", "INFO cjm_tasks.run.steps: built the all map of 2025Q3: ",
                 "INFO cjm_tasks.versions.store: stored all 2025Q3-r1", "INFO cjm_tasks.site.publish: published "):
        assert line in first.stderr, (line, first.stderr)
    assert not [line for line in first.stderr.splitlines() if line.startswith("INFO ") and not line.startswith("INFO cjm_tasks.")], first.stderr
    again = cjm("refresh", "--period", "2025Q3", config=config)
    assert again.returncode == 0 and "2025Q3 unchanged" in again.stdout  # recognised before reading
    forced = cjm("refresh", "--period", "2025Q3", "--force", config=config)
    assert "2025Q3-r1: unchanged, kept" in forced.stdout
    assert "INFO cjm_tasks.versions.store: all 2025Q3-r1 unchanged: the map has the same content; no new revision" in forced.stderr
    listed = cjm("versions", "list", "--json", config=config)
    assert listed.returncode == 0 and listed.stdout.count('"version": "2025Q3-r1"') == 5
    shown = cjm("versions", "show", "all", "2025Q3", config=config)
    assert shown.returncode == 0 and "all 2025Q3-r1" in shown.stdout
    assert cjm("diff", "all", "2025Q3-r1", "2025Q3", "--format", "md", config=config).stdout.startswith("**All customers: 2025Q3-r1 vs 2025Q3-r1**")
    assert cjm("history", "all", "--json", config=config).returncode == 0
    missing = cjm("versions", "show", "all", "2024Q1", config=config)
    assert missing.returncode == 2 and "no version 2024Q1 of persona 'all'" in missing.stderr
    assert cjm("versions", "verify", config=config).returncode == 0
    store = Path(config).parent / "store" / "maps" / "all" / "2025Q3" / "r1" / "map.json"
    store.write_bytes(store.read_bytes()[:100])
    broken = cjm("versions", "verify", config=config)
    assert broken.returncode == 1 and "all/2025Q3-r1: map.json has 100 bytes" in broken.stderr


def test_failed_gate_exits_1_and_builds_nothing(config: Path, tmp_path: Path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(Path(config).parent, bad, ignore=shutil.ignore_patterns("store", "work", "site"))
    data = Path(config).parent.parent / "data"
    broken = tmp_path / "data"
    shutil.copytree(data, broken)
    (broken / "2025Q3" / "surveys.csv").write_text("nothing,useful\n1,2\n", encoding="utf-8")
    text = (bad / "cjm.yaml").read_text(encoding="utf-8").replace(str(data), str(broken))
    text = text.replace(str(Path(config).parent), str(bad))
    (bad / "cjm.yaml").write_text(text, encoding="utf-8")
    result = cjm("validate", "--period", "2025Q3", config=bad / "cjm.yaml")
    assert result.returncode == 1 and "validation of 2025Q3 failed" in result.stderr and "missing required column(s)" in result.stderr
    result = cjm("refresh", "--period", "2025Q3", config=bad / "cjm.yaml")
    assert result.returncode == 1 and "validation failed" in result.stderr and "missing required column(s)" in result.stderr
    assert not (bad / "store").exists()


@pytest.mark.parametrize(("args", "param", "phrase"), [
    (("versions", "list", "--persona", "../../../../.."), "--persona", "is not a persona id"),
    (("versions", "show", "all", "0000Q1"), "VERSION", "'0000Q1' is not a quarter"),
    (("versions", "show", "Families!", "2025Q3"), "PERSONA", "is not a persona id"),
    (("diff", "../x", "2025Q1", "2025Q2"), "PERSONA", "is not a persona id"),
    (("diff", "all", "2025Q1", "2025Q2-r0"), "TO", "revision must be 1 to 999999"),
    (("history", "p" * 300), "PERSONA", "is too long: 300 characters"),
    (("build", "--period", "2025Q3", "--persona", "a b"), "--persona", "is not a persona id"),
    (("validate", "--period", "0000Q1"), "--period", "'0000Q1' is not a quarter like 2025Q3"),
    (("config", "check", "--period", "1899Q4"), "--period", "a year 1900..2999"),
    (("sample-data", "--start", "0Q1"), "--start", "'0Q1' is not a quarter"),
])
def test_every_persona_period_and_version_argument_is_checked_before_anything_is_read(args, param: str, phrase: str):
    # A configuration that does not exist: the argument is refused before it is looked for.
    result = cjm(*args, config=Path("/nonexistent/cjm.yaml"))
    assert result.returncode == 2, result.stderr
    assert param in result.stderr and phrase in result.stderr, result.stderr
    assert "file not found" not in result.stderr and "Traceback" not in result.stderr and "unexpected error" not in result.stderr


def test_config_errors_exit_2_and_never_show_an_environment_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    secret = "hunter2-FAKE-cli-51d7"
    main = write_config(tmp_path / "cfg", tmp_path / "data", project={"language": "${CJM_T_LANGUAGE}"})
    monkeypatch.setenv("CJM_T_LANGUAGE", secret)
    for debug in ((), ("--debug",)):
        result = cjm(*debug, "config", "check", config=main)
        assert result.returncode == 2 and "project.language: '***' is not one of en, ru" in result.stderr
        assert secret not in result.stderr + result.stdout
    (tmp_path / "cfg" / "stages.yaml").write_text("stages: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    monkeypatch.setenv("CJM_T_LANGUAGE", "en")
    result = cjm("config", "check", config=main)
    assert result.returncode == 2 and "nested deeper than 100 levels" in result.stderr and "Traceback" not in result.stderr
