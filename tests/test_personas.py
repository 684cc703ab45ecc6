"""Persona rules: every operator, derived features, membership policies and malformed rules."""

from __future__ import annotations

import pandas as pd
import pytest

from cjm_tasks.config import PersonasFile, load_config
from cjm_tasks.maps.personas import RuleError, assign_personas, derive_features, evaluate

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


def test_derived_features(sales, customers):
    table = derive_features(sales, customers)
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
def test_every_operator(sales, customers, rule, expected):
    table = derive_features(sales, customers)
    matched = evaluate(_rule(rule), table)
    assert sorted(table.index[matched]) == expected


def _personas(membership: str) -> PersonasFile:
    return PersonasFile.model_validate({
        "membership": membership,
        "personas": [
            {"id": "big_spenders", "name": "Big", "rule": {"field": "avg_order_value", "op": "ge", "value": 40}},
            {"id": "consumers", "name": "Consumers", "rule": {"field": "segment", "op": "eq", "value": "consumer"}},
        ],
    })


def test_first_match_membership_and_unassigned(sales, customers):
    result = assign_personas(derive_features(sales, customers), _personas("first"))
    pairs = sorted(map(tuple, result.members[["customer_id", "persona"]].to_numpy()))
    assert pairs == [("C1", "big_spenders"), ("C2", "big_spenders"), ("C3", "consumers")]
    assert result.unassigned == 1 and result.customers == 4  # C4: no orders, no segment
    assert result.counts() == {"big_spenders": 2, "consumers": 1}


def test_all_matches_membership(sales, customers):
    result = assign_personas(derive_features(sales, customers), _personas("all"))
    pairs = sorted(map(tuple, result.members[["customer_id", "persona"]].to_numpy()))
    assert pairs == [("C1", "big_spenders"), ("C1", "consumers"), ("C2", "big_spenders"), ("C3", "consumers")]
    assert result.unassigned == 1


def test_unknown_field_names_persona_and_rule(sales, customers):
    personas = PersonasFile.model_validate({"personas": [
        {"id": "ok", "name": "Ok", "rule": {"field": "age", "op": "gt", "value": 1}},
        {"id": "typo", "name": "Typo", "rule": {"all": [{"field": "age", "op": "gt", "value": 1}, {"field": "segmnt", "op": "eq", "value": "x"}]}},
    ]})
    with pytest.raises(RuleError) as info:
        assign_personas(derive_features(sales, customers), personas)
    err = info.value
    assert err.key == "personas[1].rule.all[1].field"
    assert "persona 'typo'" in str(err) and "'segmnt' is not a customer attribute or derived feature" in str(err)
    assert "segment" in str(err)  # the available fields are listed


def test_wrong_kind_of_value_names_persona_and_rule(sales, customers):
    personas = PersonasFile.model_validate({"personas": [
        {"id": "odd", "name": "Odd", "rule": {"field": "region", "op": "gt", "value": 3}},
    ]})
    with pytest.raises(RuleError, match=r"personas\[0\].rule: persona 'odd': cannot compare 'region'"):
        assign_personas(derive_features(sales, customers), personas)


def test_bundled_personas_cover_the_demo_segments():
    config = load_config()
    table = pd.DataFrame({"segment": ["business", "consumer", "consumer", "consumer", "consumer"],
                          "age": [40, 22, 35, 70, 54], "avg_order_value": [900.0, 30.0, 60.0, 80.0, 600.0]},
                         index=pd.Index(["B", "Y", "F", "S", "R"], name="customer_id"))
    result = assign_personas(table, config.personas)
    assert dict(result.members.to_numpy()) == {"B": "business_buyers", "Y": "young_urban", "F": "families",
                                                "S": "seniors", "R": "business_buyers"}
