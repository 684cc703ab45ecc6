"""Barrier detection and evidence: catalog, metric and emerging barriers with severity and quotes.

**Prevalence** has one fixed denominator per persona and quarter: the persona's *active
customers* (anyone with a sales event, a survey answer or a review in the quarter), and the
numerator is the customers who mentioned the barrier, each counted once however many texts they
wrote. A text without a customer id counts as one customer of its own. Where no row of the
quarter has a customer id (reviews only, say), the unit is the text: mentions of all texts.
Not the customers who wrote something: complainers write more, so when one complaint goes away
fewer unhappy customers write and every other barrier's share among writers would rise though
nothing else changed. Where on the journey a barrier sits (the catalog's stage, and the stages
its texts came from) is reported beside the prevalence, never folded into its denominator.

Every catalog barrier, and every phrase of negative text used by ``theme_floor`` customers or
more, is measured in every map (:func:`measure_population`, :func:`detect_catalog`,
:func:`detect_emerging`), whether or not it passes the thresholds, so the diff can test any two
versions, appearance from zero and disappearance included.

**Severity** (0-100) is monotone in prevalence and in how bad it is, and does not saturate::

    severity = round(100 * impact * p / (p + h)),   impact = 0.4 + 0.6 * negativity in [0.4, 1]

with ``p`` the prevalence (for metric barriers: the rate, or the share of answers or customers
concerned) and ``h`` = ``severity_half`` (default 0.1): a barrier met by 10% of customers scores
half its impact. Quotes are the most negative, then most recent, distinct texts, cut to the
sentence holding the matched words.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cjm_tasks.config import CjmConfig, localize
from cjm_tasks.maps.distinct import among, expand, positions_by, starts_of
from cjm_tasks.maps.keywords import stem_word
from cjm_tasks.maps.text import STOPWORDS, KeywordMatcher, matched_sentence, normalize_one, phrase_rows, pick_varied, stable_id

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cjm_tasks.maps.text import WordPairs

UNPLACED = "unplaced"
_TEXT_COLUMNS = ("row", "stage", "stage_given", "who", "score01", "text", "norm", "at", "source", "language")  # what barriers read (the rest is not copied)


def severity(prevalence: float | None, impact: float, half: float) -> int:
    """The documented severity formula; ``prevalence`` and ``impact`` are clipped to their ranges."""
    if prevalence is None or not math.isfinite(prevalence) or prevalence <= 0:
        return 0
    p = min(1.0, prevalence)
    impact = min(1.0, max(0.4, impact))
    return int(round(100 * impact * p / (p + half)))


def impact_from_negativity(negativity: float | None) -> float:
    """0.4 + 0.6 x negativity (0.5 when unknown)."""
    known = negativity is not None and math.isfinite(negativity)
    return 0.4 + 0.6 * (min(1.0, max(0.0, negativity)) if known else 0.5)


def wilson(x: int, n: int) -> list[float] | None:
    """95% Wilson score interval of x/n (x clipped to [0, n]); None when n is 0."""
    if n <= 0:
        return None
    x = min(max(0, x), n)
    z = 1.96
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


@dataclass(frozen=True)
class Population:
    """Who a persona's prevalences are shares of: ``denominator`` ``unit`` ("customers" or
    "texts"), with ``writers`` of them having written ``texts`` texts."""

    unit: str
    denominator: int
    writers: int
    texts: int
    anonymous_texts: int
    too_few: bool
    min_customers: int

    def as_dict(self) -> dict[str, Any]:
        return {"unit": self.unit, "denominator": self.denominator, "writers": self.writers, "texts": self.texts,
                "anonymous_texts": self.anonymous_texts, "too_few": self.too_few, "min_customers": self.min_customers}


def with_keys(texts: pd.DataFrame) -> pd.DataFrame:
    """``texts`` with a ``who`` column: one integer per writer, the customers numbered by id
    (0, 1, ...) and each text without a customer id a number of its own (``-1 - row``), so
    counting distinct writers hashes integers, not ids. ``texts`` as it is when it has ``who``."""
    import numpy as np
    import pandas as pd

    if "who" in texts.columns:
        return texts
    codes, _ = pd.factorize(texts["customer_id"])  # -1 where the id is missing
    who = codes.astype(np.int64)
    missing = who < 0
    who[missing] = -1 - texts["row"].to_numpy(dtype=np.int64)[missing]
    return texts.assign(who=who)


def measure_population(texts: pd.DataFrame, active_customers: int, config: CjmConfig) -> Population:
    """The denominator of one persona's prevalences (``texts``: that persona's texts, with ``who``)."""
    anonymous = int((texts["who"] < 0).sum()) if len(texts) else 0
    writers = int(texts["who"].nunique()) if len(texts) else 0
    if active_customers > 0:
        unit, denominator = "customers", active_customers + anonymous
    else:
        unit, denominator = "texts", len(texts)
    minimum = config.barriers.detection.min_customers
    return Population(unit, denominator, writers, len(texts), anonymous, denominator < minimum, minimum)


def _placement(group: pd.DataFrame) -> dict[str, int]:
    """Texts per stage they were given with; texts placed only by inference count as unplaced."""
    return _placed(group["stage"].tolist(), group["stage_given"].tolist() if "stage_given" in group.columns else None)


def _placed(stages: list, given: list | None) -> dict[str, int]:
    """:func:`_placement` of texts' ``stages`` and whether each was given (None: all were)."""
    from collections import Counter

    if given is not None:
        stages = [stage if was else UNPLACED for stage, was in zip(stages, given)]
    # Counted in plain Python: most groups are a theme's few hundred texts, where a pandas
    # value_counts costs more than it counts. Missing stages are left out, as value_counts does.
    counts = Counter(stage for stage in stages if stage is not None and stage == stage)
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))}


def _prevalence(customers: int, population: Population) -> tuple[float | None, list[float] | None]:
    n = population.denominator
    return (round(customers / n, 5) if n else None), wilson(customers, n)


def pick_quotes(texts: pd.DataFrame, limit: int, chars: int, via: str = "keyword") -> list[dict[str, Any]]:
    """Up to ``limit`` distinct verbatims: most negative first, then most recent.

    ``texts`` has columns text, norm (the normalised text), score01, at, source, language and,
    for keyword matches, ``found`` (the matched words): the quote is then the sentence holding
    them, with ``match`` their [start, end) span in the quote; ``via`` says how it was matched
    ("keyword" for catalog keywords, "similarity" for a sentence close to a catalog example, whose
    quote is that sentence with no span, "phrase" for an emerging theme's phrase); a ``via``
    column, when present, gives it per text.
    Texts that normalise to nearly the same words count once.
    """
    if limit == 0 or texts.empty:
        return []
    chosen = _quote_order(texts)[:200]  # only 200 texts are read whole, and only the columns a quote needs

    def column(name: str) -> list:
        values = texts[name]
        # An object column's values taken from its array (a Series' take costs more than 200 rows).
        return values.to_numpy()[chosen].tolist() if values.dtype == object else values.iloc[chosen].tolist()

    quotes: list[dict[str, Any]] = []
    kept: list[frozenset[str]] = []
    keys = [norm.strip() for norm in column("norm")]  # normalised once, when the texts were prepared
    found_of = column("found") if "found" in texts.columns else None
    via_of = column("via") if "via" in texts.columns else None
    columns = {c: column(c) for c in ("text", "source", "at", "language")}
    for i, key in enumerate(keys):
        words = frozenset(key.split())
        # Near-duplicates (the same complaint pasted twice, a word changed) count once.
        if any(len(words & other) / max(1, len(words | other)) > 0.8 for other in kept):
            continue
        kept.append(words)
        found = found_of[i] if found_of is not None and isinstance(found_of[i], str) else None
        how = via_of[i] if via_of is not None and isinstance(via_of[i], str) else via
        text, span = matched_sentence(str(columns["text"][i]), found, chars)
        if how == "similarity":
            span = None  # the whole sentence is close to an example; no words to mark
        at, language = columns["at"][i], columns["language"][i]
        quotes.append({"text": text, "match": span, "via": how, "source": columns["source"][i],
                       "date": at.date().isoformat() if at is not None and at == at else None,
                       "language": language if isinstance(language, str) else None})
        if len(quotes) == limit:
            break
    return quotes


def _quote_order(texts: pd.DataFrame):
    """Positions of the texts of 8 characters or more, most negative first (no score: 0.5), then
    most recent (no date last), then shortest; ties in table order."""
    import numpy as np
    import pandas as pd

    score = texts["score01"].to_numpy(dtype=np.float64, na_value=np.nan)
    negative = np.where(np.isnan(score), 0.5, score)
    lengths = np.fromiter((len(t) if isinstance(t, str) else -1 for t in texts["text"].tolist()), dtype=np.int64, count=len(texts))
    at = texts["at"]
    if not (isinstance(at.dtype, pd.DatetimeTZDtype) or at.dtype.kind == "M"):
        at = pd.to_datetime(at, utc=True)
    recent = np.where(at.isna().to_numpy(), np.inf, -at.array.asi8.astype(np.float64))  # newest first, no date last
    order = np.lexsort((lengths, recent, negative))  # the last key sorts first; stable
    return order[lengths[order] >= 8]


class MatchIndex:
    """The quarter's catalog matches found by text row: made once, then each persona's map takes
    the matches of its own rows (a search of every match for each map cost the maps of 32
    small personas as much as their own work)."""

    def __init__(self, matches: pd.DataFrame):
        import numpy as np

        rows = matches["row"].to_numpy(dtype=np.int64)
        self.matches = matches
        self._order = np.argsort(rows, kind="stable")  # by row; each row's matches in table order
        self._starts = starts_of(rows[self._order], int(rows.max(initial=-1)) + 1)

    def of(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For texts of ``rows`` (distinct row numbers, in the texts' order): the position of the
        text of each of their matches, and that match's position in ``matches``; texts in their
        order, each text's matches in table order."""
        import numpy as np

        rows = np.asarray(rows, dtype=np.int64)
        known = np.flatnonzero((rows >= 0) & (rows < len(self._starts) - 1))
        take, count = expand(self._starts, rows[known])
        return np.repeat(known, count), self._order[take]


def _matched_texts(texts: pd.DataFrame, matches: MatchIndex, columns: list[str] | None = None) -> pd.DataFrame:
    """``texts`` (the columns barriers read; distinct rows) joined with the indexed ``matches`` on
    ``row``, as an inner merge gives it (texts in their order, each text's matches in theirs),
    copying each column once for the matched rows only (a merge copies the texts and then the
    result: at ten times workload L the 'all' map's matched texts are over a gigabyte).
    ``columns``: the matches' columns to keep (default every one)."""
    import numpy as np
    import pandas as pd

    take, at = matches.of(texts["row"].to_numpy(dtype=np.int64))
    frame = matches.matches
    wanted = [c for c in (columns or frame.columns) if c != "row"]
    kept = frame.iloc[at, [frame.columns.get_loc(c) for c in wanted]]
    out = {c: texts[c].iloc[take].reset_index(drop=True) for c in texts.columns if c in _TEXT_COLUMNS}
    out.update({c: kept[c].reset_index(drop=True) for c in wanted})
    return pd.DataFrame(out)


def detect_catalog(texts: pd.DataFrame, matches: pd.DataFrame | MatchIndex, population: Population, config: CjmConfig
                   ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One persona's catalog barriers over the thresholds, and the measure of every catalog barrier.

    ``texts``: the persona's texts (columns row, stage, stage_given, who, score01,
    text, norm, at, source, language); ``matches``: row, label (barrier id), keyword, found (or
    their :class:`MatchIndex`, made once for every persona's map).
    Returns (barriers, {barrier id: measure}); a measure holds customers, mentions, prevalence
    and its interval, where the texts sit, and whether the barrier is active (over the thresholds).
    """
    import numpy as np
    import pandas as pd

    det = config.barriers.detection
    lang = config.project.language
    index = matches if isinstance(matches, MatchIndex) else MatchIndex(matches)
    columns = [c for c in ("row", "label", "keyword", "found", "via", "score") if c in index.matches.columns]
    hits = _matched_texts(texts, index, columns) if len(texts) and len(index.matches) else None
    if hits is not None and "via" not in hits.columns:
        hits = hits.assign(via="keyword")
    # A barrier's measure reads four columns at its positions; its whole group is taken only when
    # it is active (every group copied at once would double the matched texts: hundreds of MB for
    # the 'all' map at 10x; and most barriers of a persona are not active).
    at_label = positions_by(hits["label"]) if hits is not None else {}
    if hits is not None:
        who, score, stage = hits["who"].to_numpy(), hits["score01"].to_numpy(dtype=np.float64, na_value=np.nan), hits["stage"].to_numpy()
        given = hits["stage_given"].to_numpy() if "stage_given" in hits.columns else None
    found: list[dict[str, Any]] = []
    measures: dict[str, dict[str, Any]] = {}
    for barrier in config.barriers.catalog:
        at = at_label.get(barrier.id)
        customers = len(pd.unique(who[at])) if at is not None else 0
        mentions = len(at) if at is not None else 0
        prevalence, interval = _prevalence(customers, population)
        active = (not population.too_few and customers >= det.min_mentions and prevalence is not None and prevalence >= det.min_share)
        scores = pd.Series(score[at]) if at is not None else None
        negativity = (1 - float(scores.mean())) if scores is not None and scores.notna().any() else None
        placement = _placed(stage[at].tolist(), None if given is None else given[at].tolist()) if at is not None else {}
        measures[barrier.id] = {"stage": barrier.stage, "title": localize(barrier.title, lang), "customers": customers, "mentions": mentions, "prevalence": prevalence,
                                "interval": interval, "negativity": None if negativity is None else round(negativity, 3),
                                "stages": placement, "active": bool(active)}
        if not active:
            continue
        group = hits.iloc[at]
        by_keyword = group[group["via"] == "keyword"]
        keywords = by_keyword["keyword"].value_counts().head(5)
        similar = group[group["via"] == "similarity"]
        examples = similar["keyword"].value_counts().head(3)
        # Quotes of both kinds when both found the barrier: keyword quotes first, then similar ones.
        quotes = pick_quotes(by_keyword, det.quotes, det.quote_chars)
        if len(similar) and det.quotes:
            more = pick_quotes(similar, max(1, det.quotes - len(quotes)) if quotes else det.quotes, det.quote_chars)
            quotes = (quotes[: det.quotes - len(more)] + more) if quotes else more
        found.append({
            "id": barrier.id, "stage": barrier.stage,
            "title": localize(barrier.title, lang),
            "kind": "catalog",
            "severity": severity(prevalence, impact_from_negativity(negativity), det.severity_half),
            "evidence": {
                "customers": customers,
                "denominator": population.denominator,
                "unit": population.unit,
                "prevalence": prevalence,
                "interval": interval,
                "mentions": mentions,
                "writers": population.writers,
                "texts": population.texts,
                "stages": measures[barrier.id]["stages"],
                "negativity": measures[barrier.id]["negativity"],
                "keywords": {str(k): int(v) for k, v in keywords.items()},
                "via": {"keyword": int(by_keyword["who"].nunique()), "similarity": int(similar["who"].nunique())},
                "examples": {str(k): int(v) for k, v in examples.items()},
                "sources": {str(k): int(v) for k, v in group["source"].value_counts().items()},
            },
            "quotes": quotes,
            "recommendation": localize(barrier.recommendation, lang),
        })
    return found, measures


_OPS = {"lt": lambda v, t: v < t, "le": lambda v, t: v <= t, "gt": lambda v, t: v > t, "ge": lambda v, t: v >= t}


def detect_metric(stages: list[dict[str, Any]], config: CjmConfig) -> list[dict[str, Any]]:
    """Metric barriers of one persona's map from its stage metrics (``stages`` of the map)."""
    det = config.barriers.detection
    lang = config.project.language
    found = []
    for rule in config.barriers.metric_rules:
        for stage in stages:
            if rule.stage not in ("*", stage["id"]):
                continue
            metrics = stage["metrics"]
            value, samples, reach, numerator, denominator = _metric_value(metrics, rule.metric, config)
            if value is None or samples < max(rule.min_samples, 1):
                continue
            if not _OPS[rule.op](value, rule.threshold):
                continue
            excess = abs(value - rule.threshold) / abs(rule.threshold) if rule.threshold else 1.0
            barrier_id = rule.id if rule.stage != "*" else f"{rule.id}.{stage['id']}"
            evidence = {"metric": rule.metric, "value": round(value, 4), "op": rule.op, "threshold": rule.threshold, "samples": samples,
                        "better": config.better(rule.metric)}
            if numerator is not None:
                evidence.update(numerator=numerator, denominator=denominator)
            found.append({
                "id": barrier_id,
                "stage": stage["id"],
                "title": localize(rule.title, lang),
                "kind": "metric",
                "severity": severity(reach, 0.4 + 0.6 * min(1.0, excess), det.severity_half),
                "evidence": evidence,
                "quotes": [],
                "recommendation": localize(rule.recommendation, lang),
            })
    return found


def _metric_value(metrics: dict[str, Any], name: str, config: CjmConfig) -> tuple[float | None, int, float, int | None, int | None]:
    """(value, sample size, reach, numerator, denominator) of a stage metric for a rule."""
    rates = metrics.get("rates", {})
    if name in rates:
        rate = rates[name]
        value = rate["value"]
        reach = (value or 0.0) if config.better(name) == "lower" else 1 - (value or 0.0)
        return value, rate["denominator"], reach, rate["numerator"], rate["denominator"]
    value = metrics.get(name)
    samples = metrics.get("samples", {}).get(name, 0)
    if value is None:
        return None, 0, 0.0, None, None
    if name == "conversion_to_next":
        return value, samples, 1 - value, round(value * samples), samples
    if name == "reached_share":
        return value, samples, 1 - value, None, None
    if name in config.metrics.scales or name in ("rating", "sentiment"):
        # How far the mean sits from the best end of its scale: moves with the mean, so a
        # worse mean never shows a lower severity.
        low, high = (-100, 100) if name == "nps" else config.metrics.scales.get(name, (1, 5) if name == "rating" else (-1, 1))
        scaled = min(1.0, max(0.0, (value - low) / (high - low)))
        return value, samples, scaled if config.better(name) == "lower" else 1 - scaled, None, None
    return value, samples, 0.25, None, None


_LABEL_CHARS = 80
_LABEL_TEXTS = 1000  # texts read to choose representative sentences
_CYRILLIC = frozenset("абвгдежзийклмнопрстуфхцчшщъыьэюяё")
def content_stems(norm: str, latin: str = "en") -> frozenset[str]:
    """The stems (:func:`~cjm_tasks.maps.keywords.stem_word`) of the content words of a normalised text: the words
    :func:`~cjm_tasks.maps.text.text_bigrams` pairs (no stop word, longer than two letters, not a
    number), so that word forms meet ("queue", "queues"; "касса", "кассе")."""
    return frozenset(stem_word(w, latin) for w in norm.split() if len(w) > 2 and w.isalnum() and not w.isdigit() and w not in STOPWORDS)


def text_languages(texts: pd.DataFrame, default: str) -> list[str]:
    """The language of each of ``texts`` (columns language, text). A text without one counts as
    Russian when most of its letters are Cyrillic, else as ``default`` (English when ``default``
    is Russian): sources such as survey exports often carry no language column."""
    latin_default = default if default != "ru" else "en"
    out = []
    guessed: dict[str, str] = {}  # each distinct text read once
    for language, text in zip(texts["language"], map(str, texts["text"])):
        if not (isinstance(language, str) and language) and text not in guessed:
            letters = [c for c in text.lower() if c.isalpha()]
            guessed[text] = "ru" if letters and sum(c in _CYRILLIC for c in letters) * 2 > len(letters) else latin_default
        out.append(language if isinstance(language, str) and language else guessed[text])
    return out


def majority_language(languages: Sequence[str], default: str) -> str:
    """The most frequent of ``languages`` (ties: alphabetical); ``default`` when there is none."""
    counts: dict[str, int] = {}
    for language in languages:
        counts[language] = counts.get(language, 0) + 1
    return min(counts, key=lambda k: (-counts[k], k)) if counts else default


def shorten(sentence: str, chars: int) -> str:
    """``sentence`` cut to at most ``chars`` characters at a word boundary, with "…"."""
    if len(sentence) <= chars:
        return sentence
    cut = sentence[: chars - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–—") + "…"


def representative_sentences(texts: pd.DataFrame, phrases: Sequence[str], limit: int, chars: int = _LABEL_CHARS,
                              latin: str = "en") -> list[str]:
    """Up to ``limit`` distinct sentences of ``texts`` (columns text, norm) that hold one of
    ``phrases`` (split as :func:`~cjm_tasks.maps.text.matched_sentence` splits), most representative
    first, each cut to ``chars`` at a word boundary (``latin``: the language of Latin-script words,
    for stemming).

    Representative: sharing the most content words with the *other* texts: the sum, over the
    sentence's content stems, of the share of the other texts using the stem, divided by the
    square root of its stem count plus one, so a short sentence in the group's common words
    beats a long one that adds words of its own (or typos). Sentences of three words or more
    come first (a bare phrase does not read as a complaint); ties go to the sentence written the
    same way by the most texts, then the shorter, then alphabetically; of the ways one sentence
    is written (case, punctuation), the most frequent is shown. A sentence that is nearly one
    already chosen (a typo, a connective such as "Also," in front) is skipped. Of a large
    group, an even spread of 1000 texts is read: it shows the common wording as well as all.
    """
    from difflib import SequenceMatcher

    if limit <= 0 or texts.empty:
        return []
    if len(texts) > _LABEL_TEXTS:
        texts = texts.iloc[:: math.ceil(len(texts) / _LABEL_TEXTS)]
    stems_of = {n: content_stems(n, latin) for n in set(map(str, texts["norm"]))}  # each distinct text read once
    own = [stems_of[n] for n in map(str, texts["norm"])]
    used: dict[str, int] = {}
    for stems in own:
        for stem in stems:
            used[stem] = used.get(stem, 0) + 1
    others = max(1, len(own) - 1)
    scored: dict[str, list[Any]] = {}
    written: dict[str, dict[str, int]] = {}
    located: dict[tuple[str, str], tuple[str, list[int] | None, str]] = {}  # (text, phrase): sentence, span, key
    for text, stems_of_text in zip(map(str, texts["text"]), own):
        keys = set()
        for phrase in phrases:
            if (text, phrase) not in located:
                sentence, span = matched_sentence(text, phrase, len(text) + 1)
                located[text, phrase] = sentence, span, normalize_one(sentence).strip()
            sentence, span, key = located[text, phrase]
            if span is None or key in keys:
                continue
            keys.add(key)
            written.setdefault(key, {})[sentence] = written.get(key, {}).get(sentence, 0) + 1
            if key in scored:
                scored[key][2] -= 1
                continue
            stems = content_stems(normalize_one(sentence), latin)
            shared = sum((used.get(w, 0) - (w in stems_of_text)) / others for w in stems)
            scored[key] = [len(key.split()) < 3, -shared / math.sqrt(len(stems) + 1), -1, len(sentence), sentence, key]
    chosen: list[tuple[str, str]] = []
    for *_, key in sorted(scored.values()):
        if any(SequenceMatcher(None, key, other, autojunk=False).ratio() > 0.85 for _, other in chosen):
            continue
        ways = written[key]
        sentence = min(ways, key=lambda w: (-ways[w], not w[:1].isupper(), w))
        chosen.append((shorten(sentence, chars), key))
        if len(chosen) == limit:
            break
    return [sentence for sentence, _ in chosen]


def theme_label(texts: pd.DataFrame, phrases: Sequence[str], latin: str) -> str:
    """The title of a theme: the most representative sentence of ``texts`` (the theme's texts in
    its language) holding one of ``phrases``, without a final full stop or exclamation marks and
    with a capital first letter; the first phrase when no sentence holds one."""
    found = representative_sentences(texts, phrases, 1, latin=latin)
    label = found[0].rstrip(" .!") if found else ""
    return label[:1].upper() + label[1:] if label else phrases[0]


def _phrase_writers(pairs: WordPairs, negative: pd.DataFrame, floor: int) -> pd.DataFrame | None:
    """The phrases of ``negative``'s texts used by at least ``floor`` writers: columns phrase,
    customers (distinct ``who``), texts, rows (their row numbers, ascending); most customers
    first, ties by phrase. None when there are none."""
    import numpy as np
    import pandas as pd

    order = np.argsort(negative["row"].to_numpy(dtype=np.int64), kind="stable")
    rows_sorted = negative["row"].to_numpy(dtype=np.int64)[order]
    who_sorted = negative["who"].to_numpy(dtype=np.int64)[order]
    found = pairs.of(rows_sorted, phrases=False)
    if found.empty:
        return None
    pid, row = found["pid"].to_numpy(), found["row"].to_numpy()
    who = who_sorted[np.searchsorted(rows_sorted, row)]
    size = int(pid.max()) + 1
    texts = np.bincount(pid, minlength=size)
    distinct = pd.DataFrame({"pid": pid, "who": who}).drop_duplicates()
    customers = np.bincount(distinct["pid"].to_numpy(), minlength=size)
    chosen = np.flatnonzero((texts > 0) & (customers >= floor))
    if not len(chosen):
        return None
    parts = phrase_rows(pid, row, chosen)
    phrases = pairs.vocabulary[chosen]
    ranked = sorted(range(len(chosen)), key=lambda i: (-customers[chosen[i]], phrases[i]))
    return pd.DataFrame({"phrase": pd.Series(phrases[ranked], dtype=object), "customers": customers[chosen][ranked].astype("int64"),
                         "texts": texts[chosen][ranked].astype("int64"), "rows": pd.Series([parts[i] for i in ranked], dtype=object)})


def detect_emerging(texts: pd.DataFrame, matched_rows: Collection[int], population: Population, config: CjmConfig,
                    pairs: WordPairs) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Recurring two-word phrases in one persona's negative texts that match no catalog barrier.

    Counted in customers (``who``), like catalog barriers. Every phrase of the unmatched negative
    texts used by at least ``theme_floor`` customers is measured (the ``themes_tracked`` most used),
    so that a later diff can test a theme that rises from a low base. A phrase becomes a theme when
    at least ``emerging_min_support`` customers use it, they are at least ``emerging_min_share`` of
    the customers who wrote unmatched negative texts, and it is distinctive of negative text: its
    share among negative texts is at least twice its share among the persona's other texts (so
    "next time" or a product name used by everybody is not a theme). Phrases mostly used by the
    texts of a theme already picked are merged into it (``phrases``). A theme sits at the stage
    where most of its texts were given (a survey question's stage), else it is ``unplaced``.

    A theme's id comes from its main phrase (``evidence.phrase``), so it is the same in every
    quarter; its ``title`` (and its measure's ``label``) is the sentence of its texts, in their
    majority language (``evidence.language``), that holds the phrase and shares the most words
    with the theme's other texts, preferring short ones, cut to about 80 characters: it reads
    as the complaint ("Strong chemical smell, gave me a headache") where the phrase ("chemical
    smell") does not.

    Returns (themes as barriers with ``stage``, {theme id: measure}).
    """
    det = config.barriers.detection
    if texts.empty:
        return [], {}
    # Negative: a low score whose wording is not clearly positive (a 1-star "great product" is noise).
    low = (texts["score01"] <= det.negative_score) & ~(texts["sentiment"] > 0)
    negative = texts.loc[low & ~among(texts["row"], matched_rows), [c for c in texts.columns if c in _TEXT_COLUMNS]].reset_index(drop=True)
    others = texts.loc[~low, "row"]
    if negative.empty:
        return [], {}
    candidates = _phrase_writers(pairs, negative, det.theme_floor)
    if candidates is None:
        return [], {}
    # Each distinct text of the others scanned once (the word pairs know which rows share a text).
    elsewhere = KeywordMatcher({p: [p] for p in candidates["phrase"]}).weighted_counts(*pairs.texts_of(others))
    negative_share = candidates["texts"] / len(negative)
    other_share = candidates["phrase"].map(elsewhere).fillna(0) / max(1, len(others))
    candidates["distinctive"] = negative_share >= 2 * other_share
    negative_writers = int(negative["who"].nunique())

    measures: dict[str, dict[str, Any]] = {}
    for theme in candidates.head(det.themes_tracked).itertuples(index=False):
        prevalence, _ = _prevalence(int(theme.customers), population)
        measures[stable_id("emerging", theme.phrase)] = {"phrase": theme.phrase, "customers": int(theme.customers),
                                                         "mentions": int(theme.texts), "prevalence": prevalence, "active": False}
    if det.emerging_max == 0 or population.too_few:
        return [], measures
    eligible = candidates[candidates["distinctive"] & (candidates["customers"] >= det.emerging_min_support)
                          & (candidates["customers"] / negative_writers >= det.emerging_min_share)]
    out = []
    picked = pick_varied(eligible, det.emerging_max)
    merged: set[str] = set(picked["phrase"]) if len(picked) else set()
    for theme in picked.itertuples(index=False):
        theme_rows = set(theme.rows)
        # Other phrasings of the same complaint: phrases mostly used by this theme's texts.
        aliases = [c.phrase for c in candidates.itertuples(index=False)
                   if c.phrase not in merged and len(theme_rows & set(c.rows)) > 0.5 * min(len(theme_rows), len(c.rows))][:4]
        merged |= set(aliases)
        group = negative[among(negative["row"], theme_rows)]
        placement = _placement(group)
        given = {k: v for k, v in placement.items() if k != UNPLACED}
        stage = max(given, key=lambda k: (given[k], k)) if given and sum(given.values()) * 2 >= len(group) else UNPLACED
        customers = int(theme.customers)
        prevalence, interval = _prevalence(customers, population)
        negativity = 1 - float(group["score01"].mean())
        theme_id = stable_id("emerging", theme.phrase)
        languages = text_languages(group, config.project.language)
        language = majority_language(languages, config.project.language)
        label = theme_label(group[[lang == language for lang in languages]], [theme.phrase], language if language != "ru" else "en")
        measures[theme_id] = {"phrase": theme.phrase, "label": label, "phrases": [theme.phrase, *aliases], "customers": customers,
                              "mentions": int(theme.texts), "prevalence": prevalence, "stage": stage, "active": True,
                              "negativity": round(negativity, 3)}
        out.append({
            "id": theme_id,
            "stage": stage,
            "title": label,
            "kind": "emerging",
            "severity": severity(prevalence, impact_from_negativity(negativity), det.severity_half),
            "evidence": {"phrase": theme.phrase, "phrases": [theme.phrase, *aliases], "language": language, "customers": customers,
                         "denominator": population.denominator, "unit": population.unit, "prevalence": prevalence,
                         "interval": interval, "mentions": int(theme.texts), "negative_writers": negative_writers,
                         "share_of_negative": round(customers / negative_writers, 4), "stages": placement,
                         "elsewhere": int(elsewhere.get(theme.phrase, 0)), "negativity": round(negativity, 3)},
            "quotes": pick_quotes(group.assign(found=theme.phrase), det.quotes, det.quote_chars, via="phrase"),
            "recommendation": None,
        })
    return out, measures
