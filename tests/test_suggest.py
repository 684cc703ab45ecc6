"""`cjm catalog suggest` and the titles of emerging themes, on generated data through the real steps.

The demo sample data (:mod:`cjm_demo.sample_data`) writes every complaint from the catalog's own
keywords: its ground_truth.json plants no uncatalogued complaint, only generic negative texts
match no barrier. The evaluation world (:mod:`cjm_demo.evaluation_data`) is written apart from
the catalog and its truth.json plants two complaints no catalog entry describes (with signature
words), so the planted-complaint test reads that world.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from tests.conftest import write_sample_config

SAMPLE_PERIOD = "2025Q2"


def run_suggest(config: Path, period: str, out: Path, *extra: str, env: dict[str, str] | None = None) -> dict:
    """`cjm --config CONFIG catalog suggest --period PERIOD --out OUT ...` in process; the parsed YAML."""
    from cjm_tasks.cli import app

    result = CliRunner().invoke(app, ["--config", str(config), "catalog", "suggest", "--period", period, "--out", str(out), *extra],
                                env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "new barrier(s)" in result.stderr and str(out) in result.stderr
    return yaml.safe_load(out.read_text(encoding="utf-8"))


def entry_words(entry: dict) -> str:
    """Title, keywords and examples of a suggested entry, lower case, as one string."""
    parts = [*entry.get("title", {}).values()]
    for field in ("keywords", "examples"):
        parts += [text for texts in entry.get(field, {}).values() for text in texts]
    return " ".join(parts).lower()


@pytest.fixture(scope="module")
def evaluation_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """One seed of the evaluation world at scale 1, and the environment its example config reads."""
    from cjm_demo.evaluation_data import DATA_ENV, SITE_ENV, STORE_ENV, WORK_ENV, generate

    root = tmp_path_factory.mktemp("evaluation")
    generate(root / "data", seed=0, scale=1.0)
    env = {DATA_ENV: str(root / "data"), STORE_ENV: str(root / "store"), WORK_ENV: str(root / "work"), SITE_ENV: str(root / "site")}
    return root / "data", env


def test_suggest_proposes_the_planted_uncatalogued_complaints(evaluation_world, tmp_path: Path):
    from cjm_demo.evaluation_data import config_path

    data, env = evaluation_world
    truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
    planted = {key: topic for key, topic in truth["barriers"].items() if topic["kind"] == "uncatalogued"}
    assert planted, "the evaluation world plants uncatalogued complaints"
    for key, topic in planted.items():
        # The quarter where the complaint is most prevalent across personas (the first, on a tie).
        totals = {period: sum(p[key] for p in truth["prevalence"][period].values()) for period in truth["periods"]}
        period = max(truth["periods"], key=lambda p: totals[p])
        assert totals[period] > 0
        doc = run_suggest(config_path(truth["survey_shape"]), period, tmp_path / f"{period}.yaml", "--top", "5", env=env)
        first_five = doc["catalog"][:5]
        assert len(first_five) == 5
        found = [e["id"] for e in first_five if any(word.strip() in entry_words(e) for word in topic["signature"])]
        assert found, f"{key} not among the first five suggestions of {period}: {[e['title'] for e in first_five]}"


def test_suggestions_parse_validate_and_paste_into_the_catalog(sample_data: Path, tmp_path: Path):
    from cjm_tasks.config import CatalogBarrier, load_config
    from cjm_tasks.maps.prepared import Inputs, prepare_inputs
    from cjm_tasks.periods import Period
    from cjm_tasks.ingest.sources import read_sources
    from cjm_tasks.maps.suggest import negative_unmatched

    main = write_sample_config(tmp_path / "cfg", sample_data)
    config = load_config(main)
    doc = run_suggest(main, SAMPLE_PERIOD, tmp_path / "suggestions.yaml", "--top", "5")
    text = (tmp_path / "suggestions.yaml").read_text(encoding="utf-8")
    assert set(doc) == {"catalog", "additions"} and "recommendation: TODO placeholder" in text
    assert 1 <= len(doc["catalog"]) <= 5 and len(doc["additions"]) <= 5
    catalog_ids = {b.id for b in config.barriers.catalog}
    for entry in doc["catalog"]:
        barrier = CatalogBarrier.model_validate(entry)
        assert barrier.id not in catalog_ids and barrier.stage in config.stage_ids
        assert entry["recommendation"] == {"en": "TODO"}
        (language, title), = entry["title"].items()
        assert len(title.split()) > 2 and 1 <= len(entry["examples"][language]) <= 5 and entry["keywords"][language]
    assert len({e["id"] for e in doc["catalog"]}) == len(doc["catalog"])
    assert all(e["id"] in catalog_ids and (e.get("keywords") or e.get("examples")) for e in doc["additions"])

    def unmatched(cfg) -> int:
        period = Period.parse(SAMPLE_PERIOD)
        inputs = Inputs(**{name: src.frame for name, src in read_sources(cfg, period).items()})
        return len(negative_unmatched(prepare_inputs(inputs, cfg), cfg))

    # Paste: new entries under `catalog:`, additions merged into their barriers; the config loads
    # (every file validated) and the pasted barriers now read the texts they came from.
    barriers_file = main.parent / "barriers.yaml"
    barriers = yaml.safe_load(barriers_file.read_text(encoding="utf-8"))
    for addition in doc["additions"]:
        target = next(b for b in barriers["catalog"] if b["id"] == addition["id"])
        for field in ("keywords", "examples"):
            for language, values in addition.get(field, {}).items():
                target.setdefault(field, {}).setdefault(language, []).extend(values)
    barriers["catalog"].extend(doc["catalog"])
    barriers_file.write_text(yaml.safe_dump(barriers, allow_unicode=True, sort_keys=False), encoding="utf-8")
    pasted = load_config(main)
    assert {e["id"] for e in doc["catalog"]} <= {b.id for b in pasted.barriers.catalog}
    assert unmatched(pasted) < unmatched(config)
    again = run_suggest(main, SAMPLE_PERIOD, tmp_path / "again.yaml", "--top", "5")
    titles = {t for e in doc["catalog"] for t in e["title"].values()}
    assert not titles & {t for e in again["catalog"] for t in e["title"].values()}


def test_yaml_comments_and_values_carry_untrusted_text_safely():
    from cjm_tasks.maps.suggest import Suggestion, to_yaml

    nasty = "line one\nkeywords: [injected]\r\n# fake: entry\u2028- id: evil\x00 \"quoted\" 'single' {curly}: #"
    suggestion = Suggestion(kind="new", id="evil_text", stage="purchase", language="en", label=nasty, keywords=["parking lot"],
                            examples=[nasty], customers=3, texts=4, samples=[nasty, "fine"])
    addition = Suggestion(kind="addition", id="queues", stage="purchase", language="en", label="Long queues", keywords=[],
                          examples=["Waited: forever"], customers=2, texts=2, samples=[nasty])
    text = to_yaml([suggestion, addition], "2025Q3")
    doc = yaml.safe_load(text)
    assert [e["id"] for e in doc["catalog"]] == ["evil_text"] and doc["catalog"][0]["title"] == {"en": nasty}
    assert doc["catalog"][0]["examples"] == {"en": [nasty]} and doc["additions"] == [{"id": "queues", "examples": {"en": ["Waited: forever"]}}]
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert any("sample: line one keywords: [injected] # fake: entry - id: evil" in line for line in comments)
    assert all("\x00" not in line and "\u2028" not in line for line in text.splitlines())
    assert to_yaml([], None).endswith("catalog: []\nadditions: []\n") and yaml.safe_load(to_yaml([], None)) == {"catalog": [], "additions": []}


def test_emerging_theme_title_is_a_sentence_of_its_texts(sample_data: Path, tmp_path: Path):
    from cjm_tasks.config import load_config
    from cjm_tasks.maps.journey import maps_from
    from cjm_tasks.maps.prepared import Inputs, prepare_inputs
    from cjm_tasks.models import check_map
    from cjm_tasks.periods import Period
    from cjm_tasks.run.pipeline import render_site, store_maps
    from cjm_tasks.ingest.sources import read_sources
    from cjm_tasks.maps.text import normalize_one, stable_id

    config = load_config(write_sample_config(tmp_path / "cfg", sample_data))
    period = Period.parse(SAMPLE_PERIOD)
    prepared = prepare_inputs(Inputs(**{name: src.frame for name, src in read_sources(config, period).items()}), config)
    maps = maps_from(prepared, config, period)
    texts = prepared.texts.drop_duplicates("row")
    flat = [(" ".join(str(t).split()).lower(), str(n), lang) for t, n, lang in zip(texts["text"], texts["norm"], texts["language"])]
    themes = [(persona, b) for persona, doc in maps.items()
              for b in [b for s in doc["stages"] for b in s["barriers"]] + doc["unplaced"] if b["kind"] == "emerging"]
    assert themes, "the sample quarter has emerging themes"
    for persona, theme in themes:
        title, evidence = theme["title"], theme["evidence"]
        assert theme["id"] == stable_id("emerging", evidence["phrase"])
        assert len(title.split()) > 2 and title != evidence["phrase"] and len(title) <= 80
        sentence = title.rstrip("…").lower()
        phrase = normalize_one(evidence["phrase"])
        holders = [lang for text, norm, lang in flat if phrase in norm and sentence in text]
        assert holders, f"{title!r} is no sentence of a text holding {evidence['phrase']!r}"
        assert evidence["language"] in holders
        assert phrase.strip() in normalize_one(title)
        assert maps[persona]["measures"]["themes"][theme["id"]]["label"] == title
    for doc in maps.values():
        check_map(doc)

    # The pages show the sentence, escaped by the templates.
    store_maps(config, maps)
    pages = render_site(config)
    persona, theme = themes[0]
    page = next(body.decode("utf-8") for path, body in pages.items() if path.startswith(f"personas/{persona}/{SAMPLE_PERIOD}") and path.endswith("index.html"))
    assert html.escape(theme["title"], quote=False) in page or html.escape(theme["title"]) in page


def test_suggest_without_inputs_exits_2(sample_data: Path, tmp_path: Path):
    main = write_sample_config(tmp_path / "cfg", sample_data)
    result = subprocess.run([sys.executable, "-m", "cjm_tasks.cli", "catalog", "suggest", "--config", str(main), "--period", "2030Q1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "cannot read the inputs of 2030Q1" in result.stderr and "no file matches" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
