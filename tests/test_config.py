"""Configuration loading: the bundled configs load, and every class of error names file, key and expectation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cjm_tasks.config import CONFIG_ENV, DEFAULT_CONFIG, load_config
from cjm_tasks.errors import ConfigError
from tests.conftest import write_config


def test_bundled_config_loads_and_is_complete():
    config = load_config()
    assert config.path == DEFAULT_CONFIG
    assert config.stage_ids == ["awareness", "evaluation", "purchase", "experience", "loyalty", "reminder"]
    assert all({"en", "ru"} <= set(s.names) for s in config.stages)
    assert len(config.personas.personas) >= 4
    assert len(config.barriers.catalog) >= 12
    for barrier in config.barriers.catalog:
        assert barrier.keywords.get("en") and barrier.keywords.get("ru"), barrier.id
        assert {"en", "ru"} <= set(barrier.title) and {"en", "ru"} <= set(barrier.recommendation)
    assert set(config.sources) == {"surveys", "reviews", "sales", "customers"}
    # Relative paths resolve against the config file's folder, not the working directory.
    assert config.storage.site == str((DEFAULT_CONFIG.parent / "../build/site").resolve())
    assert config.next_stage("awareness") == "evaluation"
    assert config.next_stage("loyalty") is None
    assert config.next_stage("reminder") == "loyalty"
    assert config.event_stage["order_cancelled"] == "purchase"
    assert config.question_stage_metric["q_loyalty_nps"] == ("loyalty", "nps")


def _edit(folder: Path, file: str, edit) -> Path:
    path = folder / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return folder / "cjm.yaml"


@pytest.fixture
def cfg_dir(tmp_path: Path) -> Path:
    write_config(tmp_path / "cfg", tmp_path / "data")
    return tmp_path / "cfg"


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value


def test_unknown_operator_names_file_key_and_choices(cfg_dir: Path):
    def edit(d):
        d["personas"][2]["rule"]["all"][0]["op"] = "equals"

    err = _error(_edit(cfg_dir, "personas.yaml", edit))
    assert err.file.endswith("personas.yaml")
    assert err.key == "personas[2].rule.all[0].op"
    assert "'equals' is not one of eq, ne, in, not_in, lt, le, gt, ge, between, contains, is_null" in str(err)


@pytest.mark.parametrize(
    ("file", "edit", "key", "phrase"),
    [
        ("personas.yaml", lambda d: d["personas"][1].__setitem__("rule", {"every": []}), "personas[1].rule", "a rule is {all: [rules]}"),
        ("personas.yaml", lambda d: d["personas"][0]["rule"]["any"][1].__setitem__("value", "many"), "personas[0].rule.any[1]", "needs a number or a date"),
        ("personas.yaml", lambda d: d["personas"][2]["rule"]["all"][1].__setitem__("value", [60, 30]), "personas[2].rule.all[1]", "low <= high"),
        ("personas.yaml", lambda d: d["personas"][2]["rule"]["all"][1].update(op="in", value="north"), "personas[2].rule.all[1]", "non-empty list"),
        ("personas.yaml", lambda d: d["personas"][0]["rule"]["any"][0].pop("field"), "personas[0].rule.any[0]", "{field, op, value}"),
        ("personas.yaml", lambda d: d["personas"][2]["rule"]["all"][0].pop("op"), "personas[2].rule.all[0].op", "required key is missing"),
        ("personas.yaml", lambda d: d["personas"][1].__setitem__("id", "Young Urban"), "personas[1].id", "is not a persona id (expected 1 to 64 characters among a-z"),
        ("personas.yaml", lambda d: d["personas"][1].__setitem__("id", "all"), "personas[1].id", "reserved"),
        ("personas.yaml", lambda d: d["personas"][3].__setitem__("id", "families"), "personas[3].id", "declared twice"),
        ("personas.yaml", lambda d: d.__setitem__("membership", "some"), "membership", "'some' is not one of first, all"),
        ("personas.yaml", lambda d: d["personas"][0].__setitem__("colour", "red"), "personas[0].colour", "unknown key"),
        ("stages.yaml", lambda d: d["stages"][1]["events"].append("order_placed"), "stages[2].events", "'order_placed' already belongs to stage 'evaluation'"),
        ("stages.yaml", lambda d: d["stages"][0].__setitem__("next", "nowhere"), "stages[0].next", "'nowhere' is not a stage id"),
        ("stages.yaml", lambda d: d["stages"][2]["rates"]["cancellation_rate"].__setitem__("numerator", "order_lost"), "stages[2].rates.cancellation_rate.numerator", "not an event type"),
        ("stages.yaml", lambda d: d["stages"][0]["questions"].__setitem__("q_x", "happiness"), "stages[0].questions.q_x", "has no scale"),
        ("barriers.yaml", lambda d: d["catalog"][4].__setitem__("stage", "delivery"), "catalog[4].stage", "'delivery' is not a stage id"),
        ("barriers.yaml", lambda d: d["catalog"][0].__setitem__("keywords", {"en": []}), "catalog[0].keywords", "at least one keyword"),
        ("barriers.yaml", lambda d: d["catalog"][0].__setitem__("title", {"en": None}), "catalog[0].title", "mapping of language to text"),
        ("barriers.yaml", lambda d: d["metric_rules"][0].__setitem__("metric", "refund_rate"), "metric_rules[0].metric", "'refund_rate' is not a metric of stage 'purchase'"),
        ("barriers.yaml", lambda d: d["metric_rules"][0].__setitem__("threshold", "high"), "metric_rules[0].threshold", "valid number"),
        ("expectations.yaml", lambda d: d["surveys"].__setitem__("mostly", {"not_null": 1.5}), "surveys.mostly.not_null", "less than or equal to 1"),
        ("expectations.yaml", lambda d: d["sales"].__setitem__("mostly", {"sometimes": 0.5}), "sales.mostly.sometimes", "is not one of not_null, unique"),
        ("cjm.yaml", lambda d: d["sources"]["surveys"].__setitem__("format", "xls"), "sources.surveys.format", "'xls' is not one of csv, parquet, jsonl, xlsx, sql"),
        ("cjm.yaml", lambda d: d["sources"].__setitem__("tickets", {"location": "x", "format": "csv"}), "sources.tickets", "is not one of surveys, reviews, sales, customers"),
        ("cjm.yaml", lambda d: d["sources"]["surveys"].__setitem__("csv", {"encoding": "utf-99"}), "sources.surveys.csv.encoding", "unknown encoding"),
        ("cjm.yaml", lambda d: d["sources"]["surveys"].__setitem__("csv", {"delimiter": ";;"}), "sources.surveys.csv.delimiter", "at most 1 character"),
        ("cjm.yaml", lambda d: d["project"].__setitem__("timezone", "Mars/Olympus"), "project.timezone", "unknown timezone"),
        ("cjm.yaml", lambda d: d["sources"]["surveys"].pop("location"), "sources.surveys.location", "required key is missing"),
        ("cjm.yaml", lambda d: d["metrics"].__setitem__("scales", {"csat": [5, 1]}), "metrics.scales", "low < high"),
        # The key before notify.channels: its error says what to write instead.
        ("cjm.yaml", lambda d: d.__setitem__("notify", {"channel": "smtp"}), "notify.channel", "replaced by 'channels'"),
    ],
)
def test_each_error_names_file_key_and_what_was_expected(cfg_dir: Path, file: str, edit, key: str, phrase: str):
    err = _error(_edit(cfg_dir, file, edit))
    assert err.file.endswith(file)
    assert err.key is not None and err.key.startswith(key), err
    assert phrase in str(err), str(err)


def test_missing_file(cfg_dir: Path):
    (cfg_dir / "barriers.yaml").unlink()
    err = _error(cfg_dir / "cjm.yaml")
    assert err.file.endswith("barriers.yaml") and "file not found" in str(err)


def test_yaml_syntax_error_gives_line_and_column(cfg_dir: Path):
    (cfg_dir / "personas.yaml").write_text("membership: first\npersonas:\n  - id: a\n    name: [unclosed\n", encoding="utf-8")
    err = _error(cfg_dir / "cjm.yaml")
    assert err.file.endswith("personas.yaml")
    assert err.key and err.key.startswith("line ") and "column" in err.key
    assert "invalid YAML" in str(err)


@pytest.mark.parametrize(("text", "phrase"), [("", "file is empty"), ("- a\n- b\n", "expected a mapping of keys at the top, got list")])
def test_empty_or_not_a_mapping(cfg_dir: Path, text: str, phrase: str):
    (cfg_dir / "stages.yaml").write_text(text, encoding="utf-8")
    assert phrase in str(_error(cfg_dir / "cjm.yaml"))


def test_environment_variables_and_defaults(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    def edit(d):
        d["sources"]["surveys"]["location"] = "${CJM_TEST_DATA}/{period}/s.csv"
        d["storage"]["site"] = "${CJM_TEST_SITE:-site-out}"

    path = _edit(cfg_dir, "cjm.yaml", edit)
    monkeypatch.delenv("CJM_TEST_DATA", raising=False)
    err = _error(path)
    assert err.key == "sources.surveys.location"
    assert "environment variable CJM_TEST_DATA is not set" in str(err)

    monkeypatch.setenv("CJM_TEST_DATA", "s3://bucket/exports")
    config = load_config(path)
    assert config.sources["surveys"].location == "s3://bucket/exports/{period}/s.csv"
    assert config.storage.site == str(cfg_dir / "site-out")


def test_config_selected_by_env_and_explicit_path(cfg_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(CONFIG_ENV, str(cfg_dir / "cjm.yaml"))
    assert load_config().path == (cfg_dir / "cjm.yaml").resolve()
    assert load_config(DEFAULT_CONFIG).path == DEFAULT_CONFIG


def test_config_hash_ignores_locations_but_not_rules(cfg_dir: Path):
    before = load_config(cfg_dir / "cjm.yaml").sha256()
    moved = _edit(cfg_dir, "cjm.yaml", lambda d: d["storage"].__setitem__("site", "/elsewhere/site"))
    assert load_config(moved).sha256() == before
    changed = _edit(cfg_dir, "barriers.yaml", lambda d: d["metric_rules"][0].__setitem__("threshold", 0.2))
    assert load_config(changed).sha256() != before


def test_an_examples_file_adds_to_the_catalog_and_names_an_unknown_barrier(cfg_dir: Path):
    config = load_config(cfg_dir / "cjm.yaml")
    queues = next(b for b in config.barriers.catalog if b.id == "queues")
    inline = yaml.safe_load((cfg_dir / "barriers.yaml").read_text(encoding="utf-8"))
    own = next(b for b in inline["catalog"] if b["id"] == "queues")["examples"]["en"]
    extra = yaml.safe_load((cfg_dir / "barrier_examples.yaml").read_text(encoding="utf-8"))["examples"]["queues"]["en"]
    assert queues.examples["en"] == own + extra
    assert config.barriers.matching.similarity.other["en"]

    def edit(d):
        d["examples"]["queue"] = d["examples"].pop("queues")

    err = _error(_edit(cfg_dir, "barrier_examples.yaml", edit))
    assert err.file.endswith("barrier_examples.yaml") and err.key == "examples.queue"
    assert "'queue' is not a catalog barrier" in str(err) and "queues" in str(err)


def test_a_keyword_the_matcher_cannot_read_is_refused_with_its_key(cfg_dir: Path):
    def edit(d):
        d["catalog"][1]["keywords"]["en"].append("... !! ...")

    err = _error(_edit(cfg_dir, "barriers.yaml", edit))
    assert err.file.endswith("barriers.yaml") and err.key.startswith("catalog[1].keywords.en[")
    assert "has no letters or digits" in str(err)
