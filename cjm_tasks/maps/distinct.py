"""Work once per distinct text: a quarter's texts repeat (templated answers, copy-paste, one
comment pasted on every question of a wide survey), so the per-text functions of
:mod:`cjm_tasks.maps` read each distinct value once (:func:`distinct`) and give every text the
result of its value (an array indexed by the codes, or :func:`spread` for tables).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd


def distinct(values: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """``values`` as ``(codes, uniques)``: ``uniques`` (a Series on a new range index, the dtype of
    ``values``) holds each distinct value once, in order of first appearance, and
    ``uniques.iloc[codes]`` is ``values`` again, by position. Missing values (None, NaN) are one value."""
    import numpy as np
    import pandas as pd

    if values.dtype == object and len(values):
        # Texts expanded from distinct ones share their string objects: grouping by identity first
        # leaves pandas' hashing of long strings to one object of each.
        same, _ = pd.factorize(np.fromiter(map(id, values.to_numpy()), dtype=np.int64, count=len(values)))
        inner, _ = pd.factorize(values.iloc[_first_positions(same)], use_na_sentinel=False)
        codes = inner[same]
    else:
        codes, _ = pd.factorize(values, use_na_sentinel=False)
    codes = codes.astype(np.int64, copy=False)
    return codes, values.iloc[_first_positions(codes)].reset_index(drop=True)


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Where each code first occurs; ``codes`` number values in order of first appearance (as
    ``pd.factorize`` does), so a first occurrence is where the running maximum grows."""
    import numpy as np

    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    return np.flatnonzero(np.r_[True, running[1:] > running[:-1]])


def spread(per_value: pd.DataFrame, codes: np.ndarray, rows: np.ndarray | None = None, column: str = "row") -> pd.DataFrame:
    """Rows of a table computed per distinct value (:func:`distinct`), for every text: text ``i``
    gets the rows of ``per_value`` whose ``column`` is ``codes[i]``, in their order, with
    ``column`` set to ``rows[i]`` (default ``i``); texts in order, on a new range index. Raises
    ``ValueError`` when ``per_value`` is not ordered by ``column``."""
    import numpy as np

    keys = per_value[column].to_numpy()
    if len(keys) > 1 and (keys[1:] < keys[:-1]).any():
        raise ValueError(f"per-value rows must be ordered by {column!r}")
    rows = np.arange(len(codes), dtype=np.int64) if rows is None else np.asarray(rows)
    size = int(max(keys.max(initial=-1), codes.max(initial=-1))) + 1
    take, count = expand(starts_of(keys, size), codes)
    out = per_value.drop(columns=[column]).iloc[take].reset_index(drop=True)
    out.insert(per_value.columns.get_loc(column), column, np.repeat(rows, count))
    return out


def starts_of(keys: np.ndarray, size: int) -> np.ndarray:
    """Where each value's items begin in a table ordered by value (``keys``: each item's value,
    ascending; ``size``: values 0 .. size - 1), and the table's length last: value ``c``'s items
    are ``[starts[c], starts[c + 1])``."""
    import numpy as np

    return np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=size))]).astype(np.int64)


def expand(starts: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the items of each of ``codes`` in turn (``starts``: :func:`starts_of`), and
    how many items each code has."""
    import numpy as np

    count = starts[codes + 1] - starts[codes]
    block_start = np.cumsum(count) - count
    return np.repeat(starts[codes] - block_start, count) + np.arange(int(count.sum()), dtype=np.int64), count


class RowSet:
    """A set of text row numbers (>= 0) kept as a mask, made once and asked many times: every
    persona's map asks which of its rows a catalog barrier matched, and building the mask of
    the quarter's matched rows for each map cost as much as a small map's own selection."""

    def __init__(self, rows) -> None:
        import numpy as np

        chosen = np.asarray(rows, dtype=np.int64)
        if len(chosen) and chosen.min() < 0:
            raise ValueError("text row numbers are >= 0")
        self._mask = np.zeros(int(chosen.max(initial=-1)) + 1, dtype=bool)
        self._mask[chosen] = True

    def __len__(self) -> int:
        return int(self._mask.sum())

    def contains(self, rows) -> np.ndarray:
        """Which of ``rows`` are in the set (a boolean array)."""
        import numpy as np

        values = np.asarray(rows, dtype=np.int64)
        inside = (values >= 0) & (values < len(self._mask))
        out = np.zeros(len(values), dtype=bool)
        out[inside] = self._mask[values[inside]]
        return out


def among(rows: pd.Series | np.ndarray, wanted) -> np.ndarray:
    """Which of ``rows`` (text row numbers, >= 0) are in ``wanted`` (any collection of them, or a
    :class:`RowSet`): a boolean array, as ``isin`` gives, by indexing a mask instead of hashing
    (the maps select a persona's, a stage's or the negative texts' rows this way many times)."""
    import numpy as np

    if isinstance(wanted, RowSet):
        return wanted.contains(rows)
    values = np.asarray(rows, dtype=np.int64)
    chosen = np.fromiter(wanted, dtype=np.int64) if isinstance(wanted, (set, frozenset)) else np.asarray(wanted, dtype=np.int64)
    if not len(values) or not len(chosen):
        return np.zeros(len(values), dtype=bool)
    size = int(max(values.max(), chosen.max())) + 1
    if min(values.min(), chosen.min()) < 0 or size > 8 * (len(values) + len(chosen)) + (1 << 20):
        return np.isin(values, chosen)  # sparse or negative numbers: a mask would be mostly empty
    mask = np.zeros(size, dtype=bool)
    mask[chosen] = True
    return mask[values]


def positions_by(values: pd.Series) -> dict:
    """The positions of each value's items in ``values``, in their order, by value (missing values
    left out, as a group-by leaves them): a group-by's groups without copying what is grouped,
    so each group can be taken when it is read."""
    import numpy as np
    import pandas as pd

    if not len(values):
        return {}
    codes, names = pd.factorize(values)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    return {name: order[bounds[i]:bounds[i + 1]] for i, name in enumerate(names)}
