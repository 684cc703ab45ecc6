"""Hostile or careless configuration: refused with a ConfigError naming file and key, fast, and
never echoing a value from the environment or under a key named like a secret."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from cjm_tasks.config import load_config
from cjm_tasks.errors import ConfigError
from tests.conftest import write_config

SECRET = "hunter2-FAKE-9f3c1a"


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    write_config(tmp_path / "cfg", tmp_path / "data")
    return tmp_path / "cfg"


def _main(cfg_dir: Path, edit) -> Path:
    path = cfg_dir / "cjm.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


# --------------------------------------------------------------------------- secrets never echoed


@pytest.mark.parametrize(("key", "value", "phrase"), [
    ("language", "${CJM_T_SECRET}", "project.language: '***' is not one of en, ru"),
    ("timezone", "${CJM_T_SECRET}", "project.timezone: unknown timezone '***' (expected an IANA name"),
    ("timezone", "Europe/${CJM_T_SECRET}", "project.timezone: unknown timezone '***' (expected an IANA name"),
])
def test_a_value_from_the_environment_is_masked_in_the_error(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch, key: str, value: str, phrase: str):
    monkeypatch.setenv("CJM_T_SECRET", SECRET)
    err = _error(_main(cfg_dir, lambda d: d.__setitem__("project", {key: value})))
    assert phrase in str(err), str(err)
    assert SECRET not in str(err) and SECRET not in err.detail


def test_an_environment_value_is_masked_in_every_message_of_the_load(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    # The value is valid where the environment puts it (a project name) and quoted by a later
    # check of another file (a persona id): still masked.
    monkeypatch.setenv("CJM_T_SECRET", SECRET)
    _main(cfg_dir, lambda d: d["project"].__setitem__("name", "${CJM_T_SECRET}"))
    personas = yaml.safe_load((cfg_dir / "personas.yaml").read_text(encoding="utf-8"))
    personas["personas"][0]["id"] = SECRET
    (cfg_dir / "personas.yaml").write_text(yaml.safe_dump(personas), encoding="utf-8")
    err = _error(cfg_dir / "cjm.yaml")
    assert err.key == "personas[0].id" and "'***' is not a persona id" in str(err), str(err)
    assert SECRET not in str(err)


def test_values_under_secret_named_keys_and_url_passwords_are_masked(cfg_dir: Path):
    def edit(d):
        d["sources"]["surveys"]["constants"] = {"api_token": [SECRET]}

    err = _error(_main(cfg_dir, edit))
    assert err.key.startswith("sources.surveys.constants.api_token") and "(got '***')" in str(err)
    assert SECRET not in str(err)

    def edit_url(d):
        d["sources"]["surveys"]["constants"] = {}
        d["project"]["timezone"] = f"postgresql://cjm:{SECRET}@db/cjm"

    err = _error(_main(cfg_dir, edit_url))
    assert err.key == "project.timezone" and "postgresql://cjm:***@db/cjm" in str(err)
    assert SECRET not in str(err)


def test_an_unset_variable_is_named_without_a_traceback(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CJM_T_UNSET", raising=False)
    err = _error(_main(cfg_dir, lambda d: d["storage"].__setitem__("site", "${CJM_T_UNSET}")))
    assert err.key == "storage.site" and "environment variable CJM_T_UNSET is not set" in str(err)


# --------------------------------------------------------------------------- hostile YAML


def test_a_duplicate_key_is_refused_with_its_line(cfg_dir: Path):
    path = cfg_dir / "cjm.yaml"
    text = path.read_text(encoding="utf-8")
    first = text.splitlines().index("storage:") + 1
    path.write_text(text + "storage:\n  versions: /tmp/moved\n", encoding="utf-8")
    err = _error(path)
    assert err.file.endswith("cjm.yaml") and err.key == f"line {len(text.splitlines()) + 1}, column 1"
    assert f"key 'storage' is given twice in this mapping (first at line {first})" in str(err)


def test_a_duplicate_key_inside_a_list_item_is_refused(cfg_dir: Path):
    (cfg_dir / "personas.yaml").write_text("personas:\n  - id: a\n    name: A\n    id: b\n    rule: {field: x, op: is_null}\n", encoding="utf-8")
    err = _error(cfg_dir / "cjm.yaml")
    assert err.file.endswith("personas.yaml") and err.key == "line 4, column 5" and "key 'id' is given twice" in str(err)


def test_a_few_aliases_and_a_merge_key_still_work(cfg_dir: Path):
    path = cfg_dir / "cjm.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("storage:\n", "storage:\n  <<: {keep_runs: 5}\n  keep_runs: &n 3\n", 1)
    path.write_text(text + "engine:\n  threads: *n\n", encoding="utf-8")
    config = load_config(path)
    assert config.storage.keep_runs == 3 and config.engine.threads == 3


def test_an_alias_bomb_is_refused_in_well_under_a_second(cfg_dir: Path):
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))
    (cfg_dir / "stages.yaml").write_text(bomb, encoding="utf-8")
    started = time.perf_counter()
    err = _error(cfg_dir / "cjm.yaml")
    assert time.perf_counter() - started < 0.5
    assert err.file.endswith("stages.yaml") and err.key.startswith("line ")
    assert "aliases expand it by more than 100,000 values (an alias bomb?)" in str(err)


@pytest.mark.parametrize("text", ["a: " + "[" * 50_000 + "]" * 50_000 + "\n", "a: " + "{b: " * 50_000 + "1" + "}" * 50_000 + "\n",
                                  "".join(f"a{i}: &a{i} [{'*a' + str(i - 1) if i else 1}]\n" for i in range(300))])
def test_deep_nesting_is_a_config_error_not_a_recursion_error(cfg_dir: Path, text: str):
    (cfg_dir / "stages.yaml").write_text(text, encoding="utf-8")
    err = _error(cfg_dir / "cjm.yaml")
    assert err.key.startswith("line ") and "deeper than 100 levels" in str(err)


@pytest.mark.parametrize("style", ["flow", "block"])
def test_nesting_is_counted_to_the_limit_exactly(style: str):
    """A value at depth MAX_DEPTH (the document's mapping is depth 1) parses; one level more is
    refused at its line, whichever YAML parser PyYAML was built with."""
    from cjm_tasks.config.loading import MAX_DEPTH, _parse_yaml

    def nested(levels: int) -> str:  # ``levels`` mappings, the last holding a scalar
        if style == "flow":
            return "{a: " * levels + "1" + "}" * levels + "\n"
        return "".join("  " * i + "a:\n" for i in range(levels - 1)) + "  " * (levels - 1) + "a: 1\n"

    value = _parse_yaml(nested(MAX_DEPTH - 1))
    for _ in range(MAX_DEPTH - 1):
        value = value["a"]
    assert value == 1
    with pytest.raises(yaml.MarkedYAMLError, match=f"nested deeper than {MAX_DEPTH} levels") as caught:
        _parse_yaml(nested(MAX_DEPTH))
    assert caught.value.problem_mark.line == (0 if style == "flow" else MAX_DEPTH - 1)


def test_an_alias_inside_itself_is_refused(cfg_dir: Path):
    (cfg_dir / "stages.yaml").write_text("stages: &s [*s]\n", encoding="utf-8")
    assert "an alias refers to a node that contains it" in str(_error(cfg_dir / "cjm.yaml"))


# --------------------------------------------------------------------------- storage locations, ids


@pytest.mark.parametrize("value", ["${CJM_T_UNSET:-}", "", "  ", None])
@pytest.mark.parametrize("key", ["work", "versions", "site"])
def test_an_empty_storage_location_is_refused(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch, key: str, value):
    monkeypatch.delenv("CJM_T_UNSET", raising=False)
    err = _error(_main(cfg_dir, lambda d: d["storage"].__setitem__(key, value)))
    assert err.key == f"storage.{key}" and "is empty: give a folder (relative to this file) or an s3://bucket/prefix URL" in str(err)


def test_an_empty_file_name_is_refused(cfg_dir: Path):
    err = _error(_main(cfg_dir, lambda d: d.__setitem__("files", {"barriers": ["barriers.yaml", ""]})))
    assert err.key == "files.barriers" and "is empty: give a file name" in str(err)


@pytest.mark.parametrize(("persona", "phrase"), [("p" * 300, "is too long: 300 characters"), ("fam\x00ilies", "is not a persona id"),
                                                 ("../x", "is not a persona id")])
def test_a_persona_id_that_cannot_be_a_file_name_is_refused_at_load(cfg_dir: Path, persona: str, phrase: str):
    personas = yaml.safe_load((cfg_dir / "personas.yaml").read_text(encoding="utf-8"))
    personas["personas"][1]["id"] = persona
    (cfg_dir / "personas.yaml").write_text(yaml.safe_dump(personas), encoding="utf-8")
    err = _error(cfg_dir / "cjm.yaml")
    assert err.key == "personas[1].id" and phrase in str(err) and "expected 1 to 64 characters" in str(err)


# --------------------------------------------------------------------------- SMTP


def _smtp(cfg_dir: Path, **smtp) -> Path:
    settings = {"host": "127.0.0.1", "port": 9, "sender": "cjm@example.com", "recipients": ["cx@example.com"], **smtp}
    return _main(cfg_dir, lambda d: d.__setitem__("notify", {"channels": ["smtp"], "smtp": settings}))


def test_smtp_without_tls_needs_an_explicit_allow_plaintext(cfg_dir: Path):
    err = _error(_smtp(cfg_dir, starttls=False))
    assert err.key == "notify.smtp.starttls" and "set allow_plaintext: true as well" in str(err)
    assert load_config(_smtp(cfg_dir, starttls=False, allow_plaintext=True)).notify.smtp.starttls is False


def test_smtp_login_variables_are_checked_at_load(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CJM_T_SMTP_USER", "cjm")
    monkeypatch.delenv("CJM_T_SMTP_PASSWORD", raising=False)
    path = _smtp(cfg_dir, username_env="CJM_T_SMTP_USER", password_env="CJM_T_SMTP_PASSWORD")
    err = _error(path)
    assert err.key == "notify.smtp.password_env" and "environment variable CJM_T_SMTP_PASSWORD is not set" in str(err)
    monkeypatch.setenv("CJM_T_SMTP_PASSWORD", SECRET)
    assert load_config(path).notify.smtp.credentials("cjm.yaml") == ("cjm", SECRET)
    err = _error(_smtp(cfg_dir, username_env="CJM_T_SMTP_USER"))
    assert "give both username_env and password_env" in str(err)


def test_a_password_pasted_where_a_variable_name_belongs_is_not_echoed(cfg_dir: Path):
    err = _error(_smtp(cfg_dir, username_env="CJM_T_SMTP_USER", password_env=SECRET))
    assert err.key == "notify.smtp.password_env" and "must be the name of an environment variable" in str(err)
    assert SECRET not in str(err)


def test_notify_reports_a_variable_unset_on_the_worker_before_connecting(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    from cjm_tasks.run.notify import send_summary

    monkeypatch.setenv("CJM_T_SMTP_USER", "cjm")
    monkeypatch.setenv("CJM_T_SMTP_PASSWORD", SECRET)
    config = load_config(_smtp(cfg_dir, username_env="CJM_T_SMTP_USER", password_env="CJM_T_SMTP_PASSWORD"))
    monkeypatch.delenv("CJM_T_SMTP_PASSWORD")
    # Port 9 on localhost refuses connections: a ConfigError (not ConnectionRefusedError) shows
    # the variables are read before connecting.
    with pytest.raises(ConfigError) as info:
        send_summary(config, "2025Q3", [], {"url": "file:///site/index.html"})
    assert info.value.key == "notify.smtp.password_env" and "CJM_T_SMTP_PASSWORD is not set" in str(info.value)


def test_an_smtp_server_that_cannot_be_reached_is_a_clear_error(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    from tests.conftest import free_port
    from cjm_tasks.run.notify import NotifyError, send_summary

    monkeypatch.setenv("CJM_T_SMTP_USER", "cjm")
    monkeypatch.setenv("CJM_T_SMTP_PASSWORD", SECRET)
    port = free_port()  # nothing listens there
    config = load_config(_smtp(cfg_dir, port=port, username_env="CJM_T_SMTP_USER", password_env="CJM_T_SMTP_PASSWORD"))
    with pytest.raises(NotifyError) as info:
        send_summary(config, "2025Q3", [], {"url": "file:///site/index.html"})
    assert f"cannot send the summary via 127.0.0.1:{port}: ConnectionRefusedError" in str(info.value)
    assert SECRET not in str(info.value) and info.value.exit_code == 1
