"""What the document models are made of: closed and open objects, and the value types they share
(counts, shares, intervals, severities, timestamps, identifiers), each with the constraint the
JSON Schema states, and read as a JSON Schema validator would read it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

# Strict, so a document passes only as the JSON Schema would let it (no "5" for 5, no 1 for true);
# Python's regular expressions, as a JSON Schema validator in Python applies the patterns.
_COMMON = ConfigDict(strict=True, regex_engine="python-re", use_attribute_docstrings=True)


class Closed(BaseModel):
    """An object with exactly the keys its model names."""

    model_config = ConfigDict(**_COMMON, extra="forbid")


class Open(BaseModel):
    """An object that may carry keys its model does not name (typed by ``__pydantic_extra__`` where
    the model declares it)."""

    model_config = ConfigDict(**_COMMON, extra="allow")


def _integral(value: Any) -> Any:
    # JSON Schema counts 5.0 as an integer; strict mode alone would not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


_RFC3339 = {
    dt.datetime: re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"),
    dt.date: re.compile(r"^\d{4}-\d{2}-\d{2}$"),
}


def _rfc3339(kind: type[dt.date]) -> BeforeValidator:
    """Read only the RFC 3339 spelling that JSON Schema's ``format`` means (pydantic alone also
    reads Unix times, a space for the T, or no seconds)."""
    form = "date-time" if kind is dt.datetime else "date"

    def parse(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if not _RFC3339[kind].match(value):
            raise PydanticCustomError("rfc3339", "Input should be an RFC 3339 {form}", {"form": form})
        return kind.fromisoformat(value.upper())

    return BeforeValidator(parse)


# The limits sit inside the validator, so the generated schema states them as minimum / maximum.
Count = Annotated[int, Field(ge=0), BeforeValidator(_integral)]
Positive = Annotated[int, Field(ge=1), BeforeValidator(_integral)]
Severity = Annotated[int, Field(ge=0, le=100), BeforeValidator(_integral)]
Share = Annotated[float, Field(ge=0, le=1)]
SignedUnit = Annotated[float, Field(ge=-1, le=1)]
Interval = Annotated[list[float], Field(min_length=2, max_length=2)]
"""A 95% interval: [low, high]."""
Timestamp = Annotated[AwareDatetime, _rfc3339(dt.datetime)]
Day = Annotated[dt.date, _rfc3339(dt.date)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PeriodId = Annotated[str, Field(pattern=r"^[0-9]{4}Q[1-4]$")]
PersonaId = Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
BarrierKind = Literal["catalog", "metric", "emerging"]
Better = Literal["lower", "higher"]
Unit = Literal["customers", "texts"]
