"""Which column is what: the :class:`Plan` of a source's section, the finders every source shares
(timestamp, customer id, record id, free text, customer attributes) and the planners of reviews,
sales and customers (surveys: :mod:`.surveys`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from cjm_tasks.ingest.scaffold.columns import TIME_WORDS, Col
from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.samples import Sample
from cjm_tasks.ingest.scaffold.words import CUSTOMER_WORDS, NOT_CUSTOMER_ID_WORDS, NOT_SCORE_WORDS, _is_id_name, _match, _named, _slug, _words, stage_of
from cjm_tasks.ingest.scaffold.writer import Comment, Note

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Question:
    """A survey question found in the sample: its id, the range of its answers and its metric."""

    id: str
    label: str          # the column name or question text it came from
    low: float
    high: float
    answers: int
    metric: str = ""


@dataclass
class Plan:
    """What a source's section of cjm.yaml says, and what the other files need from it."""

    name: str
    sample: Sample
    cols: dict[str, Col]
    tree: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)   # file column -> canonical name(s) (Note)
    when: pd.Series | None = None                # UTC timestamps of the rows
    units: pd.Series | None = None               # the export's own record per row (responses)
    quarters: list[str] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)
    customer: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)   # canonical attribute -> file column
    amount_max: float | None = None
    comment: bool = False
    texts: list[pd.Series] = field(default_factory=list)
    period: str | None = None
    known: dict[str, set[str]] = field(default_factory=dict)   # customer ids named as such in the other files


ROLE_TIME_WORDS = {
    "surveys": ("answered", "answer", "submitted", "submit", "completed", "complete", "responded", "response", "created"),
    "reviews": ("published", "publish", "posted", "post", "review", "created"),
    "sales": ("occurred", "event", "created", "time", "timestamp"),
}


def _timestamp(plan: Plan, notes: Notes, canonical: str, used: set[str]) -> None:
    """Pick the source's timestamp column and write its format."""
    stamped = [c for c in plan.cols.values() if c.stamp is not None and c.name not in used]
    if not stamped:
        plan.columns[Comment(notes.todo("cjm.yaml", f"sources.{plan.name}.columns",
                                        f"no column reads as timestamps: map yours (`your_column: {canonical}`) and set timestamp_format"))] = None
        return
    role = ROLE_TIME_WORDS[plan.name]
    chosen = max(stamped, key=lambda c: (_named(c.name, role), _named(c.name, TIME_WORDS), c.stamp.share, -list(plan.cols).index(c.name)))
    stamp = chosen.stamp
    others = [c.name for c in stamped if c is not chosen]
    tail = f" (also timestamps: {', '.join(others)})" if others else ""
    plan.columns[chosen.name] = Note(canonical, f"timestamps{tail}")
    used.add(chosen.name)
    plan.when = stamp.parsed
    if stamp.format is None and chosen.native == "datetime" and plan.sample.format != "xlsx":
        notes.guess(plan.name, canonical, chosen.name, stamp.evidence)
    else:
        fmt = stamp.format or "iso8601"
        comment = stamp.evidence
        if stamp.undecided:
            comment = notes.todo("cjm.yaml", f"sources.{plan.name}.timestamp_format",
                                 f"{stamp.evidence}: read day-first; if {chosen.name!r} is month-first write {fmt.replace('%d', '%D').replace('%m', '%d').replace('%D', '%m')}")
        plan.tree["timestamp_format"] = Note(fmt, comment)
        notes.guess(plan.name, canonical, f"{chosen.name} ({fmt})", stamp.evidence)


def _customer_ids(profiles: dict[str, dict[str, Col]]) -> dict[str, set[str]]:
    """Per file, the values of its columns named like a customer id."""
    return {source: {v for c in cols.values() if _customer_named(c) and c.idlike for v in c.texts.unique()}
            for source, cols in profiles.items()}


def _customer_named(col: Col) -> bool:
    return _named(col.name, CUSTOMER_WORDS) and not _named(col.name, NOT_CUSTOMER_ID_WORDS)


def _shared_ids(plan: Plan, used: set[str]) -> tuple[Col, float, list[str]] | None:
    """The column whose values are, for the most part, customer ids of another file."""
    best = None
    for col in plan.cols.values():
        if col.name in used or not col.idlike or col.distinct < 2:
            continue
        values = col.texts.drop_duplicates()
        for source, ids in plan.known.items():
            share = float(values.isin(ids).mean()) if ids else 0.0
            if share >= 0.5 and (best is None or share > best[1]):
                best = (col, share, [source])
    return best


def _customer(plan: Plan, notes: Notes, used: set[str], required: bool) -> None:
    candidates = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and not c.free_text
                  and _customer_named(c) and c.distinct >= 2]
    if candidates:
        chosen = max(candidates, key=lambda c: (_is_id_name(c.name), c.idlike, c.distinct))
        why = "named like a customer"
    else:
        shared = _shared_ids(plan, used)
        if shared is None:
            if required:
                plan.columns[Comment(notes.todo("cjm.yaml", f"sources.{plan.name}.columns",
                                                "no customer id column found: map yours (`your_column: customer_id`)"))] = None
            return
        chosen, share, sources = shared
        why = f"{share:.0%} of its values are customer ids of {', '.join(sources)}"
    per = chosen.filled / max(chosen.distinct, 1)
    plan.columns[chosen.name] = Note("customer_id", notes.guess(plan.name, "customer_id", chosen.name,
                                                                f"{why}; {chosen.distinct:,} customers, {per:.1f} rows each"))
    plan.customer = chosen.name
    used.add(chosen.name)


def _record_id(plan: Plan, notes: Notes, canonical: str, used: set[str], hints: tuple[str, ...]) -> str | None:
    """The column whose values are unique, else ``row_id: hash``."""
    candidates = [c for c in plan.cols.values() if c.name not in used and c.unique and c.idlike and not _named(c.name, CUSTOMER_WORDS)]
    if candidates:
        chosen = max(candidates, key=lambda c: (_named(c.name, hints), _is_id_name(c.name), -list(plan.cols).index(c.name)))
        plan.columns[chosen.name] = Note(canonical, notes.guess(plan.name, canonical, chosen.name, f"{chosen.distinct:,} distinct values in {chosen.rows:,} rows"))
        used.add(chosen.name)
        return chosen.name
    plan.tree["row_id"] = Note("hash", notes.guess(plan.name, "row_id", "hash", "no column has a distinct value on every row: the id is a hash of the row"))
    return None


def _low_card_named(plan: Plan, used: set[str], stems: tuple[str, ...], high: int = 20) -> Col | None:
    found = [c for c in plan.cols.values() if c.name not in used and c.low_card(high) and _named(c.name, stems) and c.numeric_share < 0.5]
    return found[0] if found else None


TEXT_WORDS = ("comment", "comments", "feedback", "text", "remark", "review", "body", "message", "why", "reason", "verbatim",
              "комментар", "отзыв", "текст", "причин")


def _free_text(plan: Plan, used: set[str]) -> Col | None:
    """The longest free text; else a column of words named like one (short, repeated comments),
    else the longest column of sentences, however repetitive."""
    unused = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and c.numeric_share < 0.5]
    found = [c for c in unused if c.free_text]
    found = found or [c for c in unused if _named(c.name, TEXT_WORDS) and c.spaced >= 0.3 and c.mean_length >= 5]
    found = found or [c for c in unused if c.wordy and c.mean_length >= 20]
    return max(found, key=lambda c: c.mean_length) if found else None


CHANNEL_WORDS = ("channel", "source", "platform", "device", "medium", "touchpoint", "канал", "источник", "платформ")
CHANNEL_VALUES = ("web", "site", "app", "mobile", "ios", "android", "store", "shop", "email", "phone", "call", "sms", "online",
                  "offline", "desktop", "marketplace", "сайт", "приложени", "магазин", "телефон")


def _numbers(texts: pd.Series, keep: bool = True) -> pd.Series:
    """The values of ``texts`` that are numbers (``keep=False``: a mask of the ones that are not)."""
    import pandas as pd

    numbers = pd.to_numeric(texts, errors="coerce")
    return numbers.dropna() if keep else numbers.isna()


def _plan_reviews(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "published_at", used)
    text = _free_text(plan, used)
    if text is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.reviews.columns", "no free-text column found: map the review text (`your_column: text`)"))] = None
    else:
        plan.columns[text.name] = Note("text", notes.guess("reviews", "text", text.name, f"the longest free text: {text.mean_length:.0f} characters on average"))
        used.add(text.name)
        plan.texts.append(text.texts)
    rating_words = ("rating", "stars", "star", "score", "grade", "mark", "оценк", "рейтинг", "звезд")
    ratings = [c for c in plan.cols.values() if c.name not in used and c.numeric and c.stamp is None and c.numbers.min() >= 0
               and (_named(c.name, rating_words) or (c.small_scale() and not _named(c.name, NOT_SCORE_WORDS + CUSTOMER_WORDS)))]
    if not ratings:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.reviews.columns", "no rating column found: map yours (`your_column: rating`)"))] = None
    else:
        rating = max(ratings, key=lambda c: (_named(c.name, rating_words), c.small_scale()))
        used.add(rating.name)
        _rating_scale(plan, notes, rating)
    _record_id(plan, notes, "review_id", used, ("review", "отзыв"))
    _customer(plan, notes, used, required=False)
    source = _low_card_named(plan, used, ("source", "platform", "site", "channel", "marketplace", "store", "площадк", "источник"))
    if source is not None:
        plan.columns[source.name] = Note("source", f"{source.distinct} values: {', '.join(map(str, source.texts.value_counts().index[:6]))}")
        used.add(source.name)
    language = _low_card_named(plan, used, ("lang", "language", "locale", "язык"), high=30)
    if language is not None:
        plan.columns[language.name] = Note("language", f"{language.distinct} values")
        used.add(language.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _rating_scale(plan: Plan, notes: Notes, rating: Col) -> None:
    low, high = float(rating.numbers.min()), float(rating.numbers.max())
    seen = f"values {low:g}..{high:g} in {len(rating.numbers):,} reviews"
    if high <= 5 and low >= 1:
        plan.columns[rating.name] = Note("rating", notes.guess("reviews", "rating", rating.name, f"{seen}: the default 1-5 scale"))
        return
    plan.columns[rating.name] = Note("rating", notes.guess("reviews", "rating", rating.name, seen))
    if high <= 10:
        scale = [0 if low == 0 else 1, 5 if high <= 5 else 10]
        plan.tree["scales"] = Note({"rating": scale}, notes.guess("reviews", "scales", scale, f"{seen}: read onto 1-5 for the maps"), flow=True)
        return
    plan.tree["scales"] = Note({"rating": [0 if low == 0 else 1, math.ceil(high)]},
                               notes.todo("cjm.yaml", "sources.reviews.scales", f"{seen}: no usual scale; check the range"), flow=True)


def _plan_sales(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "occurred_at", used)
    order = _order_column(plan, used)
    event_id = _record_id(plan, notes, "event_id", used, ("event", "событ"))
    if order is not None:
        if event_id == order.name:
            plan.columns[order.name] = Note(["event_id", "order_id"], f"{order.distinct:,} distinct values in {order.rows:,} rows; named like an order", flow=True)
        else:
            plan.columns[order.name] = Note("order_id", f"named like an order; {order.distinct:,} orders")
            used.add(order.name)
    _customer(plan, notes, used, required=True)
    _event_column(plan, notes, used)
    _amount(plan, notes, used)
    channel = _low_card_named(plan, used, CHANNEL_WORDS)
    if channel is None:
        by_values = [c for c in plan.cols.values() if c.name not in used and c.low_card() and c.numeric_share < 0.5
                     and c.texts.drop_duplicates().map(lambda v: _match(_words(v), CHANNEL_VALUES) is not None).mean() >= 0.5]
        channel = by_values[0] if by_values else None
    if channel is not None:
        top = ", ".join(map(str, channel.texts.value_counts().index[:6]))
        plan.columns[channel.name] = Note("channel", notes.guess("sales", "channel", channel.name, f"{channel.distinct} values: {top}"))
        used.add(channel.name)
    else:
        plan.tree["constants"] = Note({"channel": "unknown"}, notes.todo("cjm.yaml", "sources.sales.constants",
                                                                         "no channel column found: every event is on channel 'unknown'; map yours (`your_column: channel`) or name the one channel"),
                                      flow=True)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _order_column(plan: Plan, used: set[str]) -> Col | None:
    found = [c for c in plan.cols.values() if c.name not in used and c.idlike and _named(c.name, ("order", "заказ")) and c.distinct >= 2
             and not c.small_scale() and (_is_id_name(c.name) or c.distinct >= 0.1 * c.filled)]
    return found[0] if found else None


def _event_column(plan: Plan, notes: Notes, used: set[str]) -> None:
    strong = ("event", "action", "activity", "what", "step", "событ", "действ")
    weak = ("type", "name", "status", "kind", "тип", "статус")
    best, best_score = None, 0.0
    for col in plan.cols.values():
        if col.name in used or not col.low_card(60) or col.numeric_share >= 0.5:
            continue
        values = col.texts.drop_duplicates()
        worded = float(values.map(lambda v: stage_of(v) is not None).mean())
        named = 2 if _named(col.name, strong) else 1 if _named(col.name, weak) else 0
        # A name as loose as "type" or "status" needs some event-like values too.
        if (named == 2 or (named == 1 and worded >= 0.3) or worded >= 0.5) and named + worded > best_score:
            best, best_score = col, named + worded
    if best is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.sales.columns", "no event name column found: map yours (`your_column: event_type`)"))] = None
        return
    plan.events = {str(k): int(v) for k, v in best.texts.value_counts().items()}
    plan.columns[best.name] = Note("event_type", notes.guess("sales", "event_type", best.name,
                                                             f"{best.distinct} event names on {best.filled:,} rows (listed in stages.yaml)"))
    used.add(best.name)


def _amount(plan: Plan, notes: Notes, used: set[str]) -> None:
    words = ("amount", "value", "price", "revenue", "total", "sum", "cost", "paid", "gmv", "сумм", "стоимост", "цен", "выручк")
    for col in plan.cols.values():
        if col.name in used or col.stamp is not None or not _named(col.name, words):
            continue
        if col.numeric and col.numbers.min() >= 0:
            plan.amount_max = float(col.numbers.max())
            plan.columns[col.name] = Note("amount", notes.guess("sales", "amount", col.name,
                                                                f"numbers {col.numbers.min():,.2f}..{col.numbers.max():,.2f} on {len(col.numbers):,} rows"))
            used.add(col.name)
            return
        comma = _numbers(col.texts.str.replace(",", ".", regex=False))
        if col.filled and len(comma) >= 0.9 * col.filled:
            plan.columns[col.name] = Note("amount", notes.todo("cjm.yaml", "sources.sales.columns",
                                                               f"{col.name!r} writes decimals with a comma (e.g. {col.texts.iloc[0]}), which is not read as a number: export with a decimal point"))
            used.add(col.name)
            return


def _plan_customers(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    named = [c for c in plan.cols.values() if c.idlike and _customer_named(c)]
    shared = _shared_ids(plan, used)
    unique = [c for c in plan.cols.values() if c.idlike and c.unique]
    chosen = (named or ([shared[0]] if shared else []) or unique or [None])[0]
    if chosen is None:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.customers.columns", "no customer id column found: map yours (`your_column: customer_id`)"))] = None
    else:
        repeated = 1 - chosen.distinct / max(chosen.filled, 1)
        why = f"{chosen.distinct:,} customers" + (f"; {repeated:.0%} of rows repeat a customer" if repeated else ", one row each")
        plan.columns[chosen.name] = Note("customer_id", notes.guess("customers", "customer_id", chosen.name, why))
        plan.customer = chosen.name
        used.add(chosen.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


SCHEMA_NAMES = {"response_id", "customer_id", "answered_at", "question", "stage", "metric", "score", "comment", "channel", "review_id",
                "published_at", "rating", "text", "source", "language", "event_id", "occurred_at", "event_type", "amount", "order_id"}


def _attributes(plan: Plan, notes: Notes, used: set[str]) -> None:
    """Categorical columns constant per customer: customer attributes for the persona rules."""
    if plan.customer is None:
        return
    frame = plan.sample.frame
    found = {}
    for col in plan.cols.values():
        if col.name in used or not col.low_card() or col.mean_length > 30:
            continue
        per_customer = frame[[plan.customer, col.name]].dropna().groupby(plan.customer)[col.name].nunique()
        if not len(per_customer) or (per_customer <= 1).mean() < 0.98:
            continue
        repeated = int((frame[plan.customer].value_counts() > 1).sum())
        canonical = _slug(col.name) or f"attribute_{len(found) + 1}"
        if canonical in SCHEMA_NAMES or canonical in found:
            canonical = f"customer_{canonical}"
        found[canonical] = col.name
        if canonical != col.name:
            plan.columns[col.name] = Note(canonical, "a customer attribute")
        used.add(col.name)
        agree = f"; the {repeated:,} customers with several rows keep one value" if repeated else ""
        notes.guess(plan.name, "attribute", canonical, f"{col.distinct} values{agree}")
    plan.attributes = found
    if found:
        plan.tree["attributes"] = Note(list(found), "categorical columns with one value per customer: fields for personas.yaml", flow=True)
