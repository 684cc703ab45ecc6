"""The one check of user-supplied persona ids, periods and versions (cjm_tasks.ids)."""

from __future__ import annotations

import pytest

from cjm_tasks import ids
from cjm_tasks.errors import CjmError
from cjm_tasks.periods import Period, PeriodError


@pytest.mark.parametrize("text", ["all", "families", "young_urban", "b2b-2025", "a" * ids.MAX_PERSONA_ID])
def test_persona_ids_accepted(text: str):
    assert ids.persona_id(text, "--persona") == text


@pytest.mark.parametrize(("text", "phrase"), [
    ("../../../../..", "is not a persona id"),
    ("a/b", "is not a persona id"),
    ("fam\x00ilies", r"'fam\x00ilies' is not a persona id"),  # shown escaped, not as a raw NUL
    ("families\n", "is not a persona id"),  # Python's $ would let the newline through
    ("Families", "is not a persona id"),
    ("", "is not a persona id"),
    ("sem;rm -rf", "is not a persona id"),
    ("a" * (ids.MAX_PERSONA_ID + 1), "is too long: 65 characters"),
    ("x" * 300, "is too long: 300 characters"),
    (7, "must be text, got int"),
])
def test_persona_ids_refused_with_where_and_what_was_expected(text, phrase: str):
    with pytest.raises(ids.IdError) as info:
        ids.persona_id(text, "--persona")
    message = str(info.value)
    assert message.startswith("--persona: ") and phrase in message
    assert f"expected 1 to {ids.MAX_PERSONA_ID} characters among a-z, 0-9, '_' and '-'" in message
    assert len(message) < 300  # a huge hostile value is cut short, not echoed whole
    assert isinstance(info.value, CjmError) and info.value.exit_code == 2
    assert isinstance(info.value, ValueError)  # so a pydantic validator reports it at its key


@pytest.mark.parametrize(("text", "expected"), [("2025Q3", Period(2025, 3)), (" 2025q1 ", Period(2025, 1)),
                                                ("1900Q1", Period(1900, 1)), ("2999Q4", Period(2999, 4))])
def test_periods_accepted(text: str, expected: Period):
    assert ids.period(text, "--period") == expected


@pytest.mark.parametrize("text", ["0000Q1", "0Q1", "1899Q4", "3000Q1", "2025Q5", "2025Q0", "２０２５Q1", "2025Q3-r1", "../2025Q3", None])
def test_periods_refused(text):
    with pytest.raises(ids.IdError) as info:
        ids.period(text, "--period")
    assert str(info.value).startswith("--period: period ")
    assert "is not a quarter like 2025Q3 (YYYYQn: a year 1900..2999, n = 1..4)" in str(info.value)


def test_period_parse_refuses_year_zero_rather_than_writing_0q1():
    with pytest.raises(PeriodError, match="'0000Q1' is not a quarter"):
        Period.parse("0000Q1")
    assert PeriodError.exit_code == 2 and issubclass(PeriodError, CjmError)


@pytest.mark.parametrize(("text", "expected"), [("2025Q3", "2025Q3"), ("2025q3-R2", "2025Q3-r2"), ("2025Q3-r999999", "2025Q3-r999999")])
def test_version_refs_accepted_and_normalised(text: str, expected: str):
    ref = ids.version_ref(text, "FROM")
    assert str(ref) == expected and ref.period == Period(2025, 3)


@pytest.mark.parametrize(("text", "phrase"), [
    ("2025Q3-r0", "revision must be 1 to 999999"),
    ("2025Q3-r1234567", "revision must be 1 to 999999"),
    ("0000Q1-r1", "'0000Q1' is not a quarter"),
    ("2025Q3-r1/../../x", "is not a version"),
    ("latest", "is not a version"),
    (None, "must be text"),
])
def test_version_refs_refused(text, phrase: str):
    with pytest.raises(ids.IdError) as info:
        ids.version_ref(text, "TO")
    assert str(info.value).startswith("TO: ") and phrase in str(info.value)
