"""The same quarter built by DuckDB and by Spark (local mode) gives the same maps: identical counts,
ids, statuses and texts, numbers equal within 1e-9, the lineage's engine field aside. On the
sample data and on the Olist example (real exports, another shape)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cjm_tasks.config import load_config
from cjm_tasks.config.main import EngineConfig
from cjm_tasks.periods import Period
from cjm_tasks.run.pipeline import build_period

ROOT = Path(__file__).resolve().parents[1]
OLIST = ROOT / "configs" / "examples" / "olist" / "cjm.yaml"


def differences(a, b, path: str = "") -> list[str]:
    """Where two map documents differ (floats within 1e-9)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: only in one" for k in set(a) ^ set(b)]
        return out + [d for k in sorted(set(a) & set(b)) for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        out = [f"{path}: {len(a)} vs {len(b)} items"] if len(a) != len(b) else []
        return out + [d for i, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{i}]")]
    if isinstance(a, float) and isinstance(b, (int, float)) or isinstance(b, float) and isinstance(a, (int, float)):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9) else [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def on_both(config, period: Period) -> tuple[dict, dict]:
    built = {}
    for kind in ("duckdb", "spark"):
        maps, _ = build_period(config.model_copy(update={"engine": EngineConfig(kind=kind)}), period)
        for doc in maps.values():
            assert doc["lineage"]["engine"] == kind
            doc["lineage"] = {k: v for k, v in doc["lineage"].items() if k != "engine"}
        built[kind] = maps
    return built["duckdb"], built["spark"]


@pytest.mark.slow
def test_duckdb_and_spark_build_the_same_maps_of_the_sample_data(sample_config):
    duck, spark = on_both(sample_config, Period.parse("2025Q2"))
    assert sorted(duck) == sorted(spark) and len(duck) >= 5
    for persona in duck:
        assert differences(duck[persona], spark[persona]) == [], persona
    # Not vacuous: the maps hold customers, barriers with quotes, touchpoints and survey scores.
    everyone = duck["all"]
    assert everyone["persona"]["customers"] > 100 and everyone["summary"]["barriers"]["total"] > 3
    assert any(s["touchpoints"] and s["metrics"]["csat"] is not None for s in everyone["stages"])


@pytest.mark.slow
def test_duckdb_and_spark_build_the_same_maps_of_the_olist_example(tmp_path: Path):
    from cjm_tasks.config import StorageConfig

    config = load_config(OLIST)
    config = config.model_copy(update={"storage": StorageConfig(work=str(tmp_path / "work"), versions=str(tmp_path / "store"),
                                                                site=str(tmp_path / "site"))})
    duck, spark = on_both(config, Period.parse("2018Q1"))
    assert sorted(duck) == sorted(spark)
    for persona in duck:
        assert differences(duck[persona], spark[persona]) == [], persona
    assert duck["all"]["summary"]["texts"] > 500
