"""Persona rules, evaluated by the engine: every operator, derived features, membership policies
and malformed rules. The operators run on DuckDB and on Spark (local mode) and must agree."""

from __future__ import annotations

import pandas as pd
import pytest

from cjm_tasks.config import PersonasFile, load_config
from cjm_tasks.engine import open_engine
from cjm_tasks.engine.personas import CUSTOMERS, MEMBERS, assign_personas, create_customers
from cjm_tasks.maps.personas import RuleError
from cjm_tasks.maps.prepared import Inputs, register_inputs

T = pd.Timestamp


@pytest.fixture
def sales() -> pd.DataFrame:
    rows = [
        ("C1", "2025-07-01", "site_visit", "app", None),
        ("C1", "2025-07-02", "order_placed", "app", 100.0),
        ("C1", "2025-08-02", "repeat_order", "web", 300.0),
        ("C2", "2025-07-05", "order_placed", "web", 40.0),
        ("C2", "2025-07-06", "support_contact", "phone", None),
        ("C2", "2025-07-07", "support_contact", "phone", None),
        ("C3", "2025-09-30", "site_visit", "store", None),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "event_type", "channel", "amount"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    return frame


@pytest.fixture
def customers() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["C1", "C2", "C3", "C4"],
        "segment": ["consumer", "business", "consumer", None],
        "age": [25, 41, 67, 30],
        "region": ["north", "south", "Northwest", "east"],
    })


@pytest.fixture
def surveys() -> pd.DataFrame:
    """C4 answered a survey: an active customer of the quarter without sales."""
    return pd.DataFrame({"customer_id": ["C4"], "answered_at": pd.to_datetime(["2025-07-03"], utc=True)})


@pytest.fixture(scope="module")
def spark():
    with open_engine(kind="spark") as engine:
        yield engine


CONFIG = load_config()


def _customers(engine, sales, customers, surveys, personas: PersonasFile | None = None):
    """The engine's customer table (and, with ``personas``, its members) for these inputs."""
    config = CONFIG if personas is None else CONFIG.model_copy(update={"personas": personas})
    views = register_inputs(engine, Inputs(sales=sales, customers=customers, surveys=surveys))
    create_customers(engine, config, views)
    table = engine.query(f"SELECT * FROM {CUSTOMERS} ORDER BY customer_id").to_pandas().set_index("customer_id")
    if personas is None:
        return table, None
    result = assign_personas(engine, personas)
    pairs = sorted(tuple(r.values()) for r in engine.query(f"SELECT customer_id, persona FROM {MEMBERS}").to_pylist())
    return table, (result, pairs)


def test_derived_features(sales, customers, surveys):
    with open_engine(kind="duckdb") as engine:
        table, _ = _customers(engine, sales, customers, surveys)
    assert list(table.index) == ["C1", "C2", "C3", "C4"]
    assert table.loc["C1", "order_count"] == 2 and table.loc["C1", "total_order_value"] == 400.0
    assert table.loc["C1", "avg_order_value"] == 200.0
    assert pd.isna(table.loc["C3", "avg_order_value"]) and table.loc["C3", "order_count"] == 0
    assert table.loc["C2", "main_channel"] == "phone"  # 2 phone events beat 1 web event
    assert table.loc["C1", "main_channel"] == "app"
    assert table.loc["C1", "first_seen"] == T("2025-07-01", tz="UTC") and table.loc["C1", "last_seen"] == T("2025-08-02", tz="UTC")
    assert table.loc["C4", "event_count"] == 0  # a customer with no sales in the period
    assert table.loc["C3", "segment"] == "consumer"


def _rule(data):
    return PersonasFile.model_validate({"personas": [{"id": "p", "name": "P", "rule": data}]}).personas[0].rule


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"field": "segment", "op": "eq", "value": "consumer"}, ["C1", "C3"]),
        ({"field": "segment", "op": "ne", "value": "consumer"}, ["C2"]),  # a missing value matches nothing but is_null
        ({"field": "region", "op": "in", "value": ["north", "east"]}, ["C1", "C4"]),
        ({"field": "region", "op": "not_in", "value": ["north", "east"]}, ["C2", "C3"]),
        ({"field": "age", "op": "lt", "value": 30}, ["C1"]),
        ({"field": "age", "op": "le", "value": 30}, ["C1", "C4"]),
        ({"field": "age", "op": "gt", "value": 41}, ["C3"]),
        ({"field": "age", "op": "ge", "value": 41}, ["C2", "C3"]),
        ({"field": "age", "op": "between", "value": [30, 41]}, ["C2", "C4"]),
        ({"field": "region", "op": "contains", "value": "NORTH"}, ["C1", "C3"]),
        ({"field": "segment", "op": "is_null"}, ["C4"]),
        ({"field": "segment", "op": "is_null", "value": False}, ["C1", "C2", "C3"]),
        ({"field": "avg_order_value", "op": "ge", "value": 100}, ["C1"]),
        ({"field": "order_count", "op": "eq", "value": 1}, ["C2"]),
        ({"field": "main_channel", "op": "in", "value": ["phone", "store"]}, ["C2", "C3"]),
        ({"field": "first_seen", "op": "ge", "value": "2025-07-05"}, ["C2", "C3"]),
        ({"field": "last_seen", "op": "between", "value": ["2025-07-01", "2025-08-31"]}, ["C1", "C2"]),
        ({"all": [{"field": "segment", "op": "eq", "value": "consumer"}, {"field": "age", "op": "lt", "value": 60}]}, ["C1"]),
        ({"any": [{"field": "segment", "op": "eq", "value": "business"}, {"field": "age", "op": "gt", "value": 60}]}, ["C2", "C3"]),
        ({"not": {"field": "segment", "op": "eq", "value": "consumer"}}, ["C2", "C4"]),
        ({"all": [{"any": [{"field": "region", "op": "eq", "value": "east"}, {"field": "order_count", "op": "ge", "value": 2}]},
                  {"not": {"field": "segment", "op": "is_null"}}]}, ["C1"]),
    ],
)
def test_every_operator(sales, customers, surveys, rule, expected):
    with open_engine(kind="duckdb") as engine:
        _, (_, pairs) = _customers(engine, sales, customers, surveys, _one(rule))
    assert sorted(c for c, _ in pairs) == expected


def test_spark_evaluates_every_operator_as_duckdb_does(sales, customers, surveys, spark):
    """Every operator of the table above, on both engines: the same customers."""
    cases = test_every_operator.pytestmark[0].args[1]
    personas = PersonasFile.model_validate({"membership": "all", "personas": [
        {"id": f"p{i}", "name": f"P{i}", "rule": rule} for i, (rule, _) in enumerate(cases)]})
    with open_engine(kind="duckdb") as duck:
        _, (_, on_duckdb) = _customers(duck, sales, customers, surveys, personas)
    _, (_, on_spark) = _customers(spark, sales, customers, surveys, personas)
    assert on_spark == on_duckdb
    assert sorted(c for c, p in on_duckdb if p == "p0") == cases[0][1]


def _one(rule) -> PersonasFile:
    return PersonasFile.model_validate({"personas": [{"id": "p", "name": "P", "rule": rule}]})


def _personas(membership: str) -> PersonasFile:
    return PersonasFile.model_validate({
        "membership": membership,
        "personas": [
            {"id": "big_spenders", "name": "Big", "rule": {"field": "avg_order_value", "op": "ge", "value": 40}},
            {"id": "consumers", "name": "Consumers", "rule": {"field": "segment", "op": "eq", "value": "consumer"}},
        ],
    })


def test_first_match_membership_and_unassigned(sales, customers, surveys):
    with open_engine(kind="duckdb") as engine:
        _, (result, pairs) = _customers(engine, sales, customers, surveys, _personas("first"))
    assert pairs == [("C1", "big_spenders"), ("C2", "big_spenders"), ("C3", "consumers")]
    assert result.unassigned == 1 and result.customers == 4  # C4: no orders, no segment
    assert result.counts == {"big_spenders": 2, "consumers": 1}


def test_all_matches_membership(sales, customers, surveys):
    with open_engine(kind="duckdb") as engine:
        _, (result, pairs) = _customers(engine, sales, customers, surveys, _personas("all"))
    assert pairs == [("C1", "big_spenders"), ("C1", "consumers"), ("C2", "big_spenders"), ("C3", "consumers")]
    assert result.unassigned == 1


def test_only_customers_active_in_the_quarter_are_considered(sales, customers):
    """C4 is in the customers file but has no row of the quarter: not counted, not unassigned."""
    with open_engine(kind="duckdb") as engine:
        table, (result, _) = _customers(engine, sales, customers, None, _personas("first"))
    assert list(table.index) == ["C1", "C2", "C3"] and result.customers == 3 and result.unassigned == 0


def test_unknown_field_names_persona_and_rule(sales, customers, surveys):
    personas = PersonasFile.model_validate({"personas": [
        {"id": "ok", "name": "Ok", "rule": {"field": "age", "op": "gt", "value": 1}},
        {"id": "typo", "name": "Typo", "rule": {"all": [{"field": "age", "op": "gt", "value": 1}, {"field": "segmnt", "op": "eq", "value": "x"}]}},
    ]})
    with pytest.raises(RuleError) as info, open_engine(kind="duckdb") as engine:
        _customers(engine, sales, customers, surveys, personas)
    err = info.value
    assert err.key == "personas[1].rule.all[1].field"
    assert "persona 'typo'" in str(err) and "'segmnt' is not a customer attribute or derived feature" in str(err)
    assert "segment" in str(err)  # the available fields are listed


def test_wrong_kind_of_value_names_persona_and_rule(sales, customers, surveys):
    personas = PersonasFile.model_validate({"personas": [
        {"id": "odd", "name": "Odd", "rule": {"field": "region", "op": "gt", "value": 3}},
    ]})
    with pytest.raises(RuleError, match=r"personas\[0\].rule: persona 'odd': cannot compare 'region'"), open_engine(kind="duckdb") as engine:
        _customers(engine, sales, customers, surveys, personas)


def test_bundled_personas_cover_the_demo_segments():
    config = load_config()
    customers = pd.DataFrame({"customer_id": ["B", "Y", "F", "S", "R"], "segment": ["business", "consumer", "consumer", "consumer", "consumer"],
                              "age": ["40", "22", "35", "70", "54"]})
    amounts = {"B": 900.0, "Y": 30.0, "F": 60.0, "S": 80.0, "R": 600.0}
    sales = pd.DataFrame({"customer_id": list(amounts), "occurred_at": pd.to_datetime(["2025-07-01"] * 5, utc=True),
                          "event_type": "order_placed", "channel": "web", "amount": list(amounts.values())})
    with open_engine(kind="duckdb") as engine:
        _, (_, pairs) = _customers(engine, sales, customers, None, config.personas)
    assert dict(pairs) == {"B": "business_buyers", "Y": "young_urban", "F": "families", "S": "seniors", "R": "business_buyers"}


@pytest.mark.parametrize("kind", ["duckdb", "spark"])
def test_a_customer_listed_twice_takes_the_first_row_and_a_file_without_repeats_every_row(sales, customers, surveys, kind, request):
    engine = request.getfixturevalue("spark") if kind == "spark" else open_engine(kind="duckdb")
    twice = pd.concat([customers, pd.DataFrame({"customer_id": ["C2", None], "segment": ["consumer", "business"], "age": [99, 1],
                                                "region": ["west", "west"]})], ignore_index=True)
    table, _ = _customers(engine, sales, twice, surveys)
    assert table.loc["C2", "segment"] == "business" and table.loc["C2", "age"] == 41 and len(table) == 4
    table, _ = _customers(engine, sales, customers, surveys)
    assert {k: v if isinstance(v, str) else None for k, v in table["segment"].items()} == {"C1": "consumer", "C2": "business", "C3": "consumer", "C4": None}
    assert table["event_count"].to_dict() == {"C1": 3, "C2": 3, "C3": 1, "C4": 0}  # active: sales or surveys


@pytest.mark.parametrize("with_others", [True, False])
def test_active_customers_with_features_equal_every_id_joined_back_to_its_features(with_others, spark):
    # The customers with sales keep their features as they are; those in surveys or reviews only
    # are found by an anti-join and get none. The reference: the union of every source's ids,
    # joined back to the features (what create_customers did before). Ids missing in a source,
    # customers in two sources, and customers without sales are among them; on both engines.
    from contextlib import nullcontext

    import numpy as np

    from cjm_tasks.engine.personas import _feature_sql

    rng = np.random.default_rng(5)
    n = 600
    ids = np.array([f"C{i:03d}" for i in range(90)] + [None], dtype=object)
    sales = pd.DataFrame({"customer_id": rng.choice(ids[:60].tolist() + [None], n),  # C060..C089: no sales
                          "occurred_at": pd.Timestamp("2025-07-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 80, n), unit="D"),
                          "event_type": rng.choice(["site_visit", "order_placed", "support_contact"], n),
                          "channel": rng.choice(["app", "web", None], n), "amount": rng.choice([None, 10.0, 35.5], n)})
    surveys = pd.DataFrame({"customer_id": rng.choice(ids, 200), "answered_at": pd.Timestamp("2025-07-02", tz="UTC")})
    reviews = pd.DataFrame({"customer_id": rng.choice(ids[40:], 150), "published_at": pd.Timestamp("2025-07-03", tz="UTC")})
    inputs = Inputs(sales=sales, surveys=surveys, reviews=reviews) if with_others else Inputs(sales=sales)
    for engine_kind, opened in (("duckdb", open_engine(kind="duckdb")), ("spark", nullcontext(spark))):
        with opened as engine:
            views = register_inputs(engine, inputs)
            names, feature_sql, _ = _feature_sql(CONFIG, views, engine)
            create_customers(engine, CONFIG, views)
            got = engine.query("SELECT * FROM cjm_active").to_pandas()
            every = " UNION ".join(f"SELECT DISTINCT customer_id FROM {v} WHERE customer_id IS NOT NULL" for v in views)
            picked = ", ".join(f"f.{c} AS f__{c}" for c in names)
            expected = engine.query(f"SELECT p.customer_id, {picked} FROM ({every}) p LEFT JOIN ({feature_sql}) f "
                                    "ON f.customer_id = p.customer_id").to_pandas()

        def rows(frame):
            return sorted(tuple("" if pd.isna(v) else str(v) for v in r) for r in frame[sorted(frame.columns)].itertuples(index=False))

        assert sorted(got.columns) == sorted(expected.columns), engine_kind
        assert rows(got) == rows(expected), engine_kind
        assert len(got) == (90 if with_others else 60) and got["customer_id"].is_unique
        assert got.loc[got["customer_id"] >= "C060", "f__event_count"].isna().all()


@pytest.mark.parametrize("own_stages", [False, True])
def test_each_actions_customers_equal_a_count_of_the_rows_whether_or_not_the_sales_pair_events_as_stages_yaml_does(own_stages, spark):
    # The features' pass numbers the (stage, event type) pairs of stages.yaml without a pass of
    # its own; sales that carry their own stages (own_stages: some events under a stage
    # stages.yaml does not give them, some with no stage) are counted again with the quarter's
    # pairs. Either way each pair's customers and events are those of the rows, on both engines.
    from contextlib import nullcontext

    import numpy as np

    from cjm_tasks.engine.journey import stage_aggregates
    from cjm_tasks.engine.personas import _feature_sql

    rng = np.random.default_rng(11)
    n = 500
    events = ["site_visit", "order_placed", "support_contact", "repeat_order", "product_view"]
    sales = pd.DataFrame({"customer_id": rng.choice([f"C{i:02d}" for i in range(40)] + [None], n),
                          "occurred_at": pd.Timestamp("2025-07-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 80, n), unit="D"),
                          "event_type": rng.choice(events + [None], n), "channel": rng.choice(["app", "web"], n), "amount": 10.0})
    people = pd.DataFrame({"customer_id": [f"C{i:02d}" for i in range(40)], "segment": rng.choice(["consumer", "business"], 40),
                           "age": rng.integers(18, 80, 40), "region": rng.choice(["north", "south", "east"], 40)})
    mapped = sales["event_type"].map(CONFIG.event_stage)
    if own_stages:
        other = rng.random(n) < 0.2
        mapped = mapped.where(~other, rng.choice(["loyalty", "awareness", None], n))
    sales["stage"] = mapped.astype(object).where(mapped.notna(), None)
    known = {(stage, event) for event, stage in CONFIG.event_stage.items()}
    rows = sales.dropna(subset=["stage", "event_type"])  # events with or without a customer; customers with one
    assert any((s, e) not in known for s, e in zip(rows["stage"], rows["event_type"])) == own_stages
    expected = rows.groupby(["stage", "event_type"]).agg(events=("event_type", "size"), customers=("customer_id", "nunique"))
    for kind, opened in (("duckdb", open_engine(kind="duckdb")), ("spark", nullcontext(spark))):
        with opened as engine:
            views = register_inputs(engine, Inputs(sales=sales, customers=people))
            pairs = create_customers(engine, CONFIG, views).pairs
            assign_personas(engine, CONFIG.personas)
            actions = stage_aggregates(engine, CONFIG, views, pairs).tables["actions"]
            _, _, exact = _feature_sql(CONFIG, views, engine, exact=True)
        everyone = actions[actions["persona"] == "all"].set_index(["stage", "event_type"]).sort_index()
        assert everyone["customers"].astype(int).to_dict() == expected["customers"].to_dict(), kind
        assert everyone["events"].astype(int).to_dict() == expected["events"].to_dict(), kind
        # The configured pairs when they hold every pair of the rows, else the quarter's own.
        assert (pairs == exact) == own_stages, kind
        assert set(expected.index) <= set(pairs), kind
