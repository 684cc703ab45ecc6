"""The relational half of a journey map, computed by the engine for every persona at once: rows
are tagged with their personas by a join with ``cjm_members`` (and every row once more as
``all``), never copied per persona in memory. The results are small tables keyed by persona
(:class:`StageAggregates`); the texts of the quarter come out as one table for the text work
(:func:`collect_texts`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from cjm_tasks.engine.personas import ALL_NUMBER, MAX_BITS, MEMBERS, persona_numbers
from cjm_tasks.engine.sql import ident, lit
from cjm_tasks.maps.personas import ALL_PERSONA

ALL_NO = f"CAST({ALL_NUMBER} AS SMALLINT)"  # ``all``'s persona number as SQL

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cjm_tasks.config import CjmConfig
    from cjm_tasks.engine.base import Engine

AGGREGATES = ("reach", "conversion", "channels", "actions", "events", "surveys", "lanes")


@dataclass
class StageAggregates:
    """Per persona (column ``persona``): ``reach`` (stage, customers), ``conversion`` (stage,
    converted: of the customers who reached the stage, those who reached its next stage too),
    ``channels`` (stage, channel, events), ``actions`` (stage, event_type, events, customers),
    ``events`` (event_type, events), ``surveys`` (stage, metric, n, mean, std, rows, low,
    promoters, detractors) and ``lanes`` (which sources have rows of the persona: sales, surveys)."""

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Sources with any row in the quarter (whatever the persona): rates are computed when sales has rows.
    sources_with_rows: list[str] = field(default_factory=list)

    def of(self, persona: str) -> StageAggregates:
        """The counts of one persona (each table's rows of it, in table order)."""
        import numpy as np

        return StageAggregates({k: t.iloc[self._positions[k].get(persona, np.zeros(0, dtype=np.int64))] for k, t in self.tables.items()},
                               self.sources_with_rows)

    @cached_property
    def _positions(self) -> dict[str, dict[str, np.ndarray]]:
        """Each table's row positions by persona, grouped once (comparing every row's persona
        for each of 32 personas cost more than the group-by)."""
        from cjm_tasks.maps.distinct import positions_by

        return {k: positions_by(t["persona"]) for k, t in self.tables.items()}

    def __getitem__(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def tagged(view: str, columns: list[str]) -> str:
    """``view``'s rows with a ``persona`` column: once per persona of their customer, once as ``all``."""
    cols = ", ".join(f"t.{ident(c)}" for c in columns)
    return (f"SELECT {cols}, m.persona FROM {ident(view)} t JOIN {MEMBERS} m ON m.customer_id = t.customer_id "
            f"UNION ALL SELECT {cols}, {lit(ALL_PERSONA)} AS persona FROM {ident(view)} t")


def stage_aggregates(engine: Engine, config: CjmConfig, views: dict[str, list[str]],
                     pairs: list[tuple[str, str]] | None) -> StageAggregates:
    """Every count the stage metrics need, for every persona, in a handful of engine queries.

    Reach, conversion and the customers of each action come from the bit sets of
    ``cjm_sales_customers`` (:func:`cjm_tasks.engine.personas.create_customers`): customers are
    counted per persona and combination of stages (and actions), a few hundred rows, then
    expanded here (``pairs``: what the bits of ``_pairs`` stand for, from ``create_customers``);
    event counts come from one grouped join of the sales rows with the members."""
    import pandas as pd

    out: dict[str, pd.DataFrame] = {}
    lanes = []
    cols = views.get("sales", [])
    if "sales" in views and {"customer_id", "stage"} <= set(cols):
        masks = named(_frame(engine, f"SELECT m.persona_no, c._stages, c._pairs, count(*) AS n FROM cjm_sales_customers c "
                                     f"JOIN {MEMBERS} m ON m.customer_id = c.customer_id GROUP BY m.persona_no, c._stages, c._pairs "
                                     f"UNION ALL SELECT {ALL_NO} AS persona_no, _stages, _pairs, count(*) AS n FROM cjm_sales_customers "
                                     f"GROUP BY _stages, _pairs"), config)
        out["reach"], out["conversion"] = _reach(masks, config)
        keys = [c for c in ("stage", "channel", "event_type") if c in cols]
        listed = ", ".join(f"t.{c}" for c in keys)
        events = named(_events(engine, config, listed, keys), config)
        if "channel" in keys:
            out["channels"] = _sum(events.dropna(subset=["stage", "channel"]), ["persona", "stage", "channel"])
        if "event_type" in keys:
            out["actions"] = _actions(engine, events, masks, pairs)
            out["events"] = _sum(events.dropna(subset=["event_type"]), ["persona", "event_type"])
        lanes.append(_lane("sales", "cjm_sales_customers"))  # a persona has sales rows when a member is a sales customer
    if "surveys" in views and {"stage", "metric", "score"} <= set(views["surveys"]):
        out["surveys"] = named(_frame(engine, _survey_sql(config, views["surveys"])), config)
        lanes.append(_lane("surveys") if "customer_id" in views["surveys"] else f"SELECT DISTINCT {ALL_NO} AS persona_no, 'surveys' AS lane FROM surveys")
    out["lanes"] = named(_frame(engine, " UNION ALL ".join(lanes)), config) if lanes else pd.DataFrame({"persona": [], "lane": []}, dtype="object")
    return StageAggregates(out, sorted(set(out["lanes"].loc[out["lanes"]["persona"] == ALL_PERSONA, "lane"])))


def _events(engine: Engine, config: CjmConfig, listed: str, keys: list[str]) -> pd.DataFrame:
    """Sales rows per persona number and ``keys`` (``listed``: them as SQL), ``all``'s included."""
    import pandas as pd

    if config.personas.membership != "first":
        return _frame(engine, f"SELECT m.persona_no, {listed}, count(*) AS events FROM sales t JOIN {MEMBERS} m "
                              f"ON m.customer_id = t.customer_id GROUP BY m.persona_no, {listed} UNION ALL "
                              f"SELECT {ALL_NO} AS persona_no, {listed}, count(*) AS events FROM sales t GROUP BY {listed}")
    # A customer is in one persona at most: one pass over the sales rows, each counted in its
    # persona or in none (NULL), and ``all``'s counts the sum of both, not a second pass (the
    # stage counts at workload L: 0.89-0.97 s -> 0.78-0.91 s).
    counted = _frame(engine, f"SELECT m.persona_no, {listed}, count(*) AS events FROM sales t LEFT JOIN {MEMBERS} m "
                             f"ON m.customer_id = t.customer_id GROUP BY m.persona_no, {listed}")
    everyone = counted.groupby(keys, dropna=False, as_index=False, sort=False)["events"].sum()
    everyone.insert(0, "persona_no", ALL_NUMBER)
    mine = counted[counted["persona_no"].notna()]
    return pd.concat([mine.astype({"persona_no": "int64"}), everyone], ignore_index=True)


def _lane(view: str, customers: str | None = None) -> str:
    """The personas with a row in ``view`` (``all`` when it has any row); ``customers``: a table
    of the view's distinct customers to join instead of its rows."""
    return (f"SELECT DISTINCT m.persona_no, {lit(view)} AS lane FROM {ident(customers or view)} t JOIN {MEMBERS} m ON m.customer_id = t.customer_id "
            f"UNION ALL SELECT {ALL_NO} AS persona_no, {lit(view)} AS lane FROM (SELECT 1 FROM {ident(view)} LIMIT 1)")


def named(frame: pd.DataFrame, config: CjmConfig) -> pd.DataFrame:
    """An engine count by ``persona_no`` (:func:`~cjm_tasks.engine.personas.persona_numbers`)
    with the persona's id in its place, as the first column ``persona``."""
    import pandas as pd

    numbers = persona_numbers(config.personas)
    codes = frame.pop("persona_no")
    frame.insert(0, "persona", pd.Series([numbers[int(c)] for c in codes.tolist()], index=frame.index, dtype="str"))
    return frame


def _sum(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.groupby(keys, as_index=False, sort=True)["events"].sum()


def _reach(masks: pd.DataFrame, config: CjmConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers per persona and stage, and of them those who reached the stage's next stage too."""
    import pandas as pd

    bit = {sid: 1 << i for i, sid in enumerate(config.stage_ids[:MAX_BITS])}
    reach, conversion = [], []
    stages = masks["_stages"].fillna(0).astype("int64").to_numpy()
    for stage in config.stage_ids[:MAX_BITS]:
        at = (stages & bit[stage]) != 0
        reach.append(pd.DataFrame({"persona": masks["persona"], "stage": stage, "customers": masks["n"].where(at, 0)}))
        nxt = config.next_stage(stage)
        if nxt in bit:
            both = at & ((stages & bit[nxt]) != 0)
            conversion.append(pd.DataFrame({"persona": masks["persona"], "stage": stage, "converted": masks["n"].where(both, 0)}))
    def total(parts, value):
        if not parts:
            return pd.DataFrame({"persona": [], "stage": [], value: []})
        frame = pd.concat(parts).groupby(["persona", "stage"], as_index=False)[value].sum()
        return frame[frame[value] > 0].reset_index(drop=True) if value == "customers" else frame
    return total(reach, "customers"), total(conversion, "converted")


def _actions(engine: Engine, events: pd.DataFrame, masks: pd.DataFrame, pairs: list[tuple[str, str]] | None) -> pd.DataFrame:
    """Events and distinct customers per persona, stage and event type."""
    import pandas as pd

    counted = _sum(events.dropna(subset=["stage", "event_type"]), ["persona", "stage", "event_type"])
    if pairs is None:  # more pairs than bits: count distinct customers the long way
        customers = _frame(engine, f"SELECT persona, stage, event_type, count(DISTINCT customer_id) AS customers FROM "
                                   f"({tagged('sales', ['customer_id', 'stage', 'event_type'])}) WHERE stage IS NOT NULL "
                                   f"AND event_type IS NOT NULL GROUP BY persona, stage, event_type")
    elif not pairs:
        customers = pd.DataFrame({"persona": [], "stage": [], "event_type": [], "customers": []})
    else:
        # Per persona and pair, the customers of the bit sets holding the pair: one weighted count
        # per pair (the combinations of every persona, copied once per pair and grouped by three
        # text keys, took half a second with 32 personas).
        import numpy as np

        bits = masks["_pairs"].fillna(0).astype("int64").to_numpy()
        codes, names = pd.factorize(masks["persona"])
        n = masks["n"].to_numpy(dtype=np.int64)
        sums = [np.bincount(codes, weights=np.where((bits & (1 << i)) != 0, n, 0), minlength=len(names)) for i in range(len(pairs))]
        customers = pd.DataFrame({"persona": np.tile(np.asarray(names, dtype=object), len(pairs)),
                                  "stage": np.repeat(np.array([st for st, _ in pairs], dtype=object), len(names)),
                                  "event_type": np.repeat(np.array([ev for _, ev in pairs], dtype=object), len(names)),
                                  "customers": np.rint(np.concatenate(sums)).astype(np.int64)})
    return counted.merge(customers, on=["persona", "stage", "event_type"], how="left").fillna({"customers": 0})


def _survey_sql(config: CjmConfig, columns: list[str]) -> str:
    """Per persona, stage and metric: answers (n, mean, sample std), rows, rows scored in the
    worst quarter of the scale (``low``), and NPS promoters (9-10) and detractors (0-6)."""
    scaled = _scaled("score", "metric", config)
    customer = "t.customer_id" if "customer_id" in columns else "CAST(NULL AS VARCHAR)"
    rows = (f"SELECT t.stage, t.metric, t.score, m.persona_no FROM surveys t JOIN {MEMBERS} m ON m.customer_id = {customer} "
            f"UNION ALL SELECT t.stage, t.metric, t.score, {ALL_NO} AS persona_no FROM surveys t")
    return (f"SELECT persona_no, stage, metric, count(score) AS n, avg(score) AS mean, stddev_samp(score) AS std, count(*) AS rows, "
            f"count(CASE WHEN {scaled} <= 0.25 THEN 1 END) AS low, count(CASE WHEN score >= 9 THEN 1 END) AS promoters, "
            f"count(CASE WHEN score <= 6 THEN 1 END) AS detractors FROM ({rows}) "
            f"WHERE stage IS NOT NULL AND metric IS NOT NULL GROUP BY persona_no, stage, metric")


def _scaled(score: str, metric: str, config: CjmConfig) -> str:
    """A score on [0, 1], 1 best, by its metric's scale (``measures.scale01`` in SQL; 1-5 for a
    metric without a scale)."""
    whens = []
    for name, (low, high) in config.metrics.scales.items():
        value = f"LEAST(GREATEST(({score} - {lit(float(low))}) / {lit(float(high - low))}, 0.0), 1.0)"
        whens.append(f"WHEN {metric} = {lit(name)} THEN " + (f"1.0 - {value}" if config.better(name) == "lower" else value))
    default = f"LEAST(GREATEST(({score} - 1.0) / 4.0, 0.0), 1.0)"
    return f"(CASE {' '.join(whens)} ELSE {default} END)"


AT = ident("at")  # a keyword of DuckDB's (AT TIME ZONE)
# Reviews are numbered after every survey row: a text's input order is one BIGINT.
REVIEWS = 1 << 40
TEXT_COLUMNS = ["kind", "ref", "customer_id", "stage", "at", "text", "language", "source", "score01", "rating"]


def create_texts(engine: Engine, config: CjmConfig, views: dict[str, list[str]]) -> bool:
    """Materialize ``cjm_texts``: survey comments and reviews as one table of texts, one row per
    text, in input order by ``_o`` (surveys first, then reviews; the caller numbers them). False
    when no source has texts.

    A survey comment belongs to the surveys source's ``comment_stage`` when declared ("general":
    no stage), else to the stage of the question it came with; a comment repeated on the rows of
    several stages' questions (a wide export melted into one row per question) belongs to no
    stage, and carries the lowest of those answers (a complaint is about what went wrong). A text
    repeated with the same kind and timestamp (one answer exported once per seller) is kept once.

    Columns: kind, ref, customer_id, stage, at, text, language, source, score01 (the answer's or
    review's score on 0..1, 1 best), rating, _o."""
    parts = []
    s_cols = views.get("surveys", [])
    if "comment" in s_cols:
        parts += _survey_texts(engine, config, s_cols)
    r_cols = views.get("reviews", [])
    if "text" in r_cols:
        def col(name: str, default: str = "CAST(NULL AS VARCHAR)") -> str:
            return f"CAST({ident(name)} AS VARCHAR)" if name in r_cols else default

        source = "COALESCE(CAST(source AS VARCHAR), 'review')" if "source" in r_cols else "'review'"
        parts.append(f"SELECT __row + {REVIEWS} AS _o, 'review' AS kind, {col('review_id')} AS ref, {col('customer_id')} AS customer_id, "
                     f"{col('stage')} AS stage, published_at AS {AT}, CAST(text AS VARCHAR) AS text, {col('language')} AS language, "
                     f"{source} AS source, LEAST(GREATEST((rating - 1.0) / 4.0, 0.0), 1.0) AS score01, CAST(rating AS DOUBLE) AS rating "
                     f"FROM reviews WHERE text IS NOT NULL")
    if not parts:
        return False
    engine.materialize("cjm_text_rows", " UNION ALL ".join(parts))
    engine.drop("cjm_comment_repeats")
    # The same answer exported once per seller or per order line is one voice, not several: the
    # first of each (kind, time, text) stays. Found in two steps: the (kind, time, hash of the
    # text) that occur more than once (a table of integers, where grouping by the texts
    # themselves held every text: at ten times workload L it spilled, 12 s), then, among those
    # rows only, the exact texts, so two texts of one hash are never taken for one.
    engine.materialize("cjm_text_repeats", f"SELECT kind, {AT}, hash(text) AS _h FROM cjm_text_rows WHERE {AT} IS NOT NULL "
                                           f"GROUP BY kind, {AT}, hash(text) HAVING count(*) > 1")
    later = (f"SELECT _o FROM (SELECT r._o, min(r._o) OVER (PARTITION BY r.kind, r.{AT}, r.text) AS _first FROM cjm_text_rows r "
             f"JOIN cjm_text_repeats d ON d.kind = r.kind AND d.{AT} = r.{AT} AND d._h = hash(r.text)) c WHERE _o <> _first")
    engine.materialize("cjm_text_later", later)
    engine.drop("cjm_text_repeats")
    # A view, not a copy: a copy of every text (most of them kept) spilled at ten times workload
    # L (5 s); the few repeats are left out by a join with them (NOT IN took as long as the copy).
    cols = ", ".join(f"t.{ident(c)}" for c in TEXT_COLUMNS)
    engine.execute(f"CREATE OR REPLACE TEMP VIEW cjm_texts AS SELECT {cols}, t._o "
                   "FROM cjm_text_rows t LEFT JOIN cjm_text_later l ON l._o = t._o WHERE l._o IS NULL")
    return True


def _survey_texts(engine: Engine, config: CjmConfig, s_cols: list[str]) -> list[str]:
    """The queries giving the survey comments as texts (see :func:`create_texts`).

    One comment given with several answers of a response is one text with the lowest answer, and
    with their stage when they share one: a window over the rows of each (customer, time,
    comment). Most comments come with one answer, and at ten times workload L that window sorted
    and spilled every comment (13 s of the refresh's texts). So the keys given more than once
    are found first, by the hash of the comment (a table of a few columns), and only their rows
    go through the window, by the comment itself; a row whose key hash is not repeated has a key
    of its own, and is its own window."""
    declared = config.sources["surveys"].comment_stage if "surveys" in config.sources else None
    cust = "customer_id" if "customer_id" in s_cols else "CAST(NULL AS VARCHAR)"
    scaled = f"CASE WHEN metric IS NOT NULL THEN {_scaled('score', 'metric', config)} END"
    given = "comment IS NOT NULL AND trim(comment) <> ''"
    keys = f"PARTITION BY {cust}, answered_at, comment"
    if declared is None:
        # At most one distinct stage (Spark has no DISTINCT in window functions).
        stage, alone = f"CASE WHEN min(stage) OVER ({keys}) = max(stage) OVER ({keys}) THEN stage END", "stage"
    else:
        stage = alone = "CAST(NULL AS VARCHAR)" if declared == "general" else lit(declared)
    source = "'survey:' || COALESCE(channel, 'unknown')" if "channel" in s_cols else "'survey'"
    engine.materialize("cjm_comment_repeats", f"SELECT {cust} AS _c, answered_at AS _a, hash(comment) AS _h FROM surveys "
                                              f"WHERE {given} GROUP BY {cust}, answered_at, hash(comment) HAVING count(*) > 1")

    def select(stage: str, score01: str, rows: str = "surveys", which: str = "TRUE") -> str:
        return (f"SELECT __row AS _o, 'survey' AS kind, CAST(response_id AS VARCHAR) AS ref, CAST({cust} AS VARCHAR) AS customer_id, "
                f"CAST({stage} AS VARCHAR) AS stage, answered_at AS {AT}, CAST(comment AS VARCHAR) AS text, CAST(NULL AS VARCHAR) AS language, "
                f"CAST({source} AS VARCHAR) AS source, {score01} AS score01, CAST(NULL AS DOUBLE) AS rating FROM {rows} WHERE {given} AND {which}")

    if not int(engine.query("SELECT count(*) AS n FROM cjm_comment_repeats").column(0)[0].as_py()):
        return [select(alone, scaled)]  # every comment came with one answer: no window
    # Each row marked by a join (a NOT EXISTS took three times as long, even against no keys).
    mine = "s.customer_id" if "customer_id" in s_cols else cust
    marked = (f"(SELECT s.*, r._h IS NOT NULL AS _repeated FROM surveys s LEFT JOIN cjm_comment_repeats r "
              f"ON r._c IS NOT DISTINCT FROM {mine} AND r._a IS NOT DISTINCT FROM s.answered_at AND r._h = hash(s.comment)) m")
    return [select(alone, scaled, marked, "NOT _repeated"), select(stage, f"min({scaled}) OVER ({keys})", marked, "_repeated")]


def _frame(engine: Engine, sql: str) -> pd.DataFrame:
    return engine.query(sql).to_pandas()
