"""The map and diff models: the committed JSON Schemas are generated from them, real maps and diffs
match them, and a document that breaks them is refused with where it breaks."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from cjm_tasks import jsonio
from cjm_tasks.config import load_config
from cjm_tasks.models import DiffSchemaError, MapSchemaError, check_diff, check_map, diff_schema, map_schema
from cjm_tasks.models.schema import SCHEMAS, schema_folder, write_schemas
from cjm_tasks.periods import Period
from cjm_tasks.versions.diff import compare_maps, decide, diff_maps
from tests.conftest import write_config, write_small_inputs

Q2, Q3 = Period.parse("2025Q2"), Period.parse("2025Q3")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    """Maps of two quarters of the small inputs, built by the real pipeline, with the config."""
    from cjm_tasks.run.pipeline import build_period

    folder = tmp_path_factory.mktemp("models")
    data = folder / "data"
    for period in (Q2, Q3):
        write_small_inputs(data, str(period))
    config = load_config(write_config(folder / "cfg", data))
    return config, {str(p): json.loads(jsonio.dumps(build_period(config, p)[0])) for p in (Q2, Q3)}


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_committed_schemas_are_the_ones_the_models_generate(tmp_path: Path):
    for path in write_schemas(tmp_path):
        committed = schema_folder() / path.name
        assert committed.is_file() and committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), \
            f"{committed} differs from the models: run python -m cjm_tasks.models --write"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SCHEMAS)
    assert map_schema()["properties"]["schema_version"]["const"] == 2
    assert map_schema()["$id"].endswith("/map.schema.json") and diff_schema()["$id"].endswith("/diff.schema.json")


def test_real_maps_and_their_diffs_match_the_models_and_the_committed_schemas(built):
    config, maps = built
    by_map, by_diff = _validator(map_schema()), _validator(diff_schema())
    for docs in maps.values():
        for doc in docs.values():
            check_map(doc)
            by_map.validate(doc)
    old, new = maps[str(Q2)], maps[str(Q3)]
    decided = decide([compare_maps(old[p], new[p], config.diff, "2025Q2-r1", "2025Q3-r1") for p in new], config.diff)
    firsts = [diff_maps(None, doc, config.diff, None, "2025Q2-r1") for doc in old.values()]
    assert any(b["kind"] == "catalog" for d in decided for b in d["barriers"]) and any(d["metrics"] for d in decided)
    for diff in decided + firsts:
        diff = json.loads(jsonio.dumps(diff))
        check_diff(diff)
        by_diff.validate(diff)


def test_sample_maps_and_diffs_match_the_models(sample_maps, sample_config):
    """The generated demo quarters hold every kind of barrier, unplaced themes and quotes."""
    periods = sorted(sample_maps)
    for period in periods:
        for doc in sample_maps[period].values():
            check_map(doc)
    for before, after in zip(periods, periods[1:]):
        for persona, doc in sample_maps[after].items():
            check_diff(json.loads(jsonio.dumps(diff_maps(sample_maps[before][persona], doc, sample_config.diff, before, after))))


def test_a_broken_map_is_refused_with_where_it_breaks(built):
    doc = copy.deepcopy(built[1][str(Q3)]["all"])
    doc["stages"][0]["barriers"].insert(0, {"id": "x", "title": "x", "kind": "rumour", "severity": 120, "evidence": {}, "quotes": [],
                                            "recommendation": None})
    doc["lineage"]["inputs"]["sales"]["sha256"] = "not a hash"
    with pytest.raises(MapSchemaError, match=r"map of all 2025Q3 does not match the schema") as caught:
        check_map(doc)
    lines = str(caught.value).splitlines()[1:]
    assert [line.split(":")[0].strip() for line in lines] == ["stages/0/barriers/0/kind", "stages/0/barriers/0/severity",
                                                               "lineage/inputs/sales/sha256"]


def test_a_map_stored_before_data_was_recorded_still_matches(built):
    doc = copy.deepcopy(built[1][str(Q3)]["seniors"])
    del doc["data"]
    check_map(doc)
    doc["data"] = None  # absent is allowed; null is not
    with pytest.raises(MapSchemaError, match=r"\n  data: "):
        check_map(doc)


# What the committed schema allows, the models allow, and the other way round.
EDITS = {
    "a count written as 5.0": (lambda d: d["summary"].update(customers=5.0), True),
    "a count written as text": (lambda d: d["summary"].update(customers="5"), False),
    "a flag written as 1": (lambda d: d["summary"].update(too_few=1), False),
    "a scale metric the configuration adds": (lambda d: d["stages"][0]["metrics"].update(effort=2.5), True),
    "a stage metric that is not a number": (lambda d: d["stages"][0]["metrics"].update(effort="high"), False),
    "more lineage than the model names": (lambda d: d["lineage"].update(run_id="r1"), True),
    "an unknown top-level key": (lambda d: d.update(extra=1), False),
    "a period start without its offset": (lambda d: d.update(period_start="2025-07-01T00:00:00"), False),
    "a period start with a space for the T": (lambda d: d.update(period_start="2025-07-01 00:00:00+00:00"), False),
    "a reach share above 1": (lambda d: d["stages"][0]["metrics"].update(reached_share=1.2), False),
    "a stage-less map": (lambda d: d.update(stages=[]), False),
    "a persona id with a capital": (lambda d: d["persona"].update(id="All"), False),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_the_models_and_the_committed_schema_agree(built, edit):
    change, valid = EDITS[edit]
    doc = copy.deepcopy(built[1][str(Q3)]["all"])
    change(doc)
    assert _validator(map_schema()).is_valid(doc) is valid
    if valid:
        check_map(doc)
    else:
        with pytest.raises(MapSchemaError):
            check_map(doc)


def test_a_broken_diff_is_refused_with_where_it_breaks(built):
    config, maps = built
    diff = json.loads(jsonio.dumps(diff_maps(maps[str(Q2)]["all"], maps[str(Q3)]["all"], config.diff, "2025Q2-r1", "2025Q3-r1")))
    assert diff["barriers"]
    diff["barriers"][0]["status"] = "vanished"
    del diff["counts"]
    with pytest.raises(DiffSchemaError, match=r"diff of all 2025Q3-r1 does not match the schema:\n  barriers/0/status: .*\n  counts: Field required"):
        check_diff(diff)
