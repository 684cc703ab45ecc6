"""Text work once per distinct text gives every text what it would get read on its own.

The text functions (normalisation, sentiment, word pairs, keyword and catalog matching, the text
analysis of a quarter) read each distinct text once and spread the results back to the rows
(``cjm_tasks.maps.distinct``). The references here never share work between rows:

- ``normalize_one``, the plain-Python normalisation of one string (another implementation of the
  same rules), for every row; word pairs listed in plain Python; keyword matches read from
  ``KeywordMatcher.spans``, which reports every occurrence in every row as it always did;
- the function called once on the distinct texts only (a batch without repeats, so there is nothing
  to share), its results looked up row by row in a Python dict; for catalog matching, once with
  every text read for similarity and once with none, a row taking the call that fits it;
- for a few texts, the function called on that text alone;
- small tables with the answer written out.

The data: one quarter of the sample data, one quarter of the independent evaluation data (seed 0:
the wide survey export, which repeats a comment on every question of a response), and a table
with heavy repetition built from the sample texts (200 texts on 20,000 rows, each row with its own
score, so one text is read for similarity on some rows and not on others, plus empty,
case and punctuation variants).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cjm_tasks.ingest.sources import read_source
from cjm_tasks.maps.barriers import _matched_texts, _phrase_writers, _quote_order, pick_quotes, representative_sentences, text_languages
from cjm_tasks.maps.barriers import MatchIndex, with_keys
from cjm_tasks.maps.distinct import RowSet, among, distinct, positions_by, spread
from cjm_tasks.maps.prepared import Inputs, collect_texts
from cjm_tasks.maps.text import STOPWORDS, KeywordMatcher, WordPairs, count_phrases, normalize, normalize_one, sentiment, text_bigrams
from cjm_tasks.maps.text_features import analyse_texts, catalog_matcher, infer_review_stages, similarity_eligible
from cjm_tasks.periods import Period

DATASETS = ("sample", "evaluation", "repeated")
MISSING = "\0missing"  # a dict key for a missing text (NaN is not equal to itself)


def quarter_texts(config, period: str) -> pd.DataFrame:
    """The texts of ``period`` as the pipeline collects them."""
    p = Period.parse(period)
    return collect_texts(Inputs(surveys=read_source("surveys", config, p).frame, reviews=read_source("reviews", config, p).frame), config)


def repeated_texts(texts: pd.DataFrame) -> pd.DataFrame:
    """20,000 rows of 200 of ``texts``' texts (and a few variants), each row with its own score."""
    rng = np.random.default_rng(3)
    pool = list(texts["text"].drop_duplicates().sample(200, random_state=3))
    pool += [pool[0].upper(), pool[0].lower().rstrip(".!?"), pool[1] + " !!", "0чередь на кассе, 0чень долго", "  ", "", "ok"]
    rows = pd.DataFrame({"text": rng.choice(np.array(pool, dtype=object), 20000)})
    rows["score01"] = rng.choice([np.nan, 0.0, 0.25, 0.5, 0.75, 1.0], len(rows))
    rows["stage"] = rng.choice(np.array([None, "purchase", "delivery"], dtype=object), len(rows))
    rows["text"] = rows["text"].astype("str")
    return rows


@pytest.fixture(scope="module")
def evaluation(tmp_path_factory: pytest.TempPathFactory):
    """(config, texts) of the first quarter of evaluation seed 0 at scale 0.2."""
    from cjm_demo.evaluation_data import generate, load_evaluation_config

    folder = tmp_path_factory.mktemp("evaluation")
    generate(folder / "data", 0, 0.2)
    config = load_evaluation_config(folder / "data", folder / "store")
    first = min(p.name for p in (folder / "data").iterdir() if p.is_dir() and p.name[:4].isdigit())
    return config, quarter_texts(config, first)


@pytest.fixture(scope="module")
def sample(sample_config) -> pd.DataFrame:
    return quarter_texts(sample_config, "2025Q1")


@pytest.fixture(scope="module", params=DATASETS)
def dataset(request, sample_config, sample, evaluation):
    """(name, config, texts with ``norm``): the three data sets."""
    config, texts = evaluation if request.param == "evaluation" else (sample_config, sample)
    texts = repeated_texts(texts) if request.param == "repeated" else texts.reset_index(drop=True)
    return request.param, config, texts.assign(norm=[normalize_one(t) for t in texts["text"]])


def key(value) -> object:
    return MISSING if value is None or (isinstance(value, float) and value != value) else value


def once_per_distinct(values: pd.Series) -> list:
    """The distinct values, in order of first appearance (missing ones as one)."""
    return list(dict.fromkeys(key(v) for v in values))


def looked_up(values: pd.Series, distinct_values: list, results) -> list:
    by_value = dict(zip(distinct_values, results))
    return [by_value[key(v)] for v in values]


# ------------------------------------------------------------------------- the helpers


def test_distinct_numbers_values_by_first_appearance_and_gives_them_back():
    same_but_other_object = "".join(["b", "b"])
    values = pd.Series(["bb", None, "a", same_but_other_object, float("nan"), "a"], index=[9, 8, 7, 6, 5, 4], dtype=object)
    codes, uniques = distinct(values)
    assert codes.tolist() == [0, 1, 2, 0, 1, 2]
    assert uniques.index.tolist() == [0, 1, 2] and uniques.dtype == object
    assert uniques[0] == "bb" and pd.isna(uniques[1]) and uniques[2] == "a"
    back = uniques.iloc[codes].tolist()
    assert [key(v) for v in back] == [key(v) for v in values]
    codes, uniques = distinct(pd.Series(["x", "y", "x"], dtype="str"))
    assert codes.tolist() == [0, 1, 0] and uniques.tolist() == ["x", "y"] and uniques.dtype == "str"


def test_spread_gives_every_row_the_rows_of_its_value_in_order():
    per_value = pd.DataFrame({"label": ["a", "b", "c", "d"], "row": [0, 0, 2, 2], "n": [1, 2, 3, 4]})
    out = spread(per_value, np.array([2, 1, 0, 2]), rows=np.array([10, 11, 12, 13]))
    expected = pd.DataFrame({"label": ["c", "d", "a", "b", "c", "d"], "row": [10, 10, 12, 12, 13, 13], "n": [3, 4, 1, 2, 3, 4]})
    pd.testing.assert_frame_equal(out, expected)
    with pytest.raises(ValueError, match="ordered"):
        spread(per_value.iloc[::-1], np.array([0]))


@pytest.mark.parametrize("wanted_kind", ["array", "set", "series", "index"])
def test_among_selects_rows_as_isin_does(wanted_kind):
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 5000, 20_000)
    for chosen in (rng.choice(5000, 700, replace=False), np.array([], dtype=np.int64), np.array([10**12, 4]), np.array([-3, 7])):
        wanted = {"array": chosen, "set": set(chosen.tolist()), "series": pd.Series(chosen), "index": pd.Index(chosen)}[wanted_kind]
        assert np.array_equal(among(pd.Series(rows), wanted), np.isin(rows, chosen))
    assert among(np.array([], dtype=np.int64), [1, 2]).tolist() == []


def test_positions_by_value_are_the_groups_of_a_group_by():
    rng = np.random.default_rng(4)
    values = pd.Series(rng.choice(np.array(["pay", "ship", None, "use", "buy"], dtype=object), 5000), index=rng.permutation(5000) * 3)
    groups = values.groupby(values).indices  # positions, missing values left out
    found = positions_by(values)
    assert sorted(found) == sorted(groups) and None not in found
    for name, positions in found.items():
        assert positions.tolist() == groups[name].tolist()  # in table order
    assert positions_by(values.iloc[:0]) == {}


def test_writers_are_customers_numbered_once_and_each_anonymous_text_apart():
    texts = pd.DataFrame({"row": [0, 1, 2, 3, 4], "customer_id": ["b", None, "a", "b", np.nan]})
    who = with_keys(texts)["who"].to_numpy()
    assert who[0] == who[3] and who[0] != who[2] and (who[[0, 2, 3]] >= 0).all()
    assert who[1] == -2 and who[4] == -5  # a text without an id is a writer of its own
    assert with_keys(with_keys(texts))["who"].tolist() == who.tolist()


def test_normalize_reads_values_of_other_types_as_their_strings():
    values = pd.Series([1, 1.0, "1", True, None, "Ok!"], dtype=object)
    expected = pd.Series([normalize_one(s) for s in ["1", "1.0", "1", "True", "", "Ok!"]], dtype=object)
    pd.testing.assert_series_equal(normalize(values), expected)


def test_word_pairs_of_rows_sharing_an_index_label_are_read_as_before():
    # One label on two rows: their words are one sequence to the pairing ("beta gamma" bridges them).
    pairs = text_bigrams(pd.Series(["alpha beta", "gamma delta", "alpha beta"], index=[7, 7, 8]))
    assert list(zip(pairs["row"], pairs["phrase"])) == [(7, "alpha beta"), (7, "beta gamma"), (7, "gamma delta"), (8, "alpha beta")]


# ------------------------------------------------------------------- text by text, data sets


def test_normalize_equals_the_one_string_normalisation_on_every_row(dataset):
    _, _, texts = dataset
    pd.testing.assert_series_equal(normalize(texts["text"]), texts["norm"].astype(object).rename(None))
    with_missing = pd.concat([texts["text"].astype(object), pd.Series([None, float("nan")], dtype=object)], ignore_index=True)
    assert normalize(with_missing).tolist() == [normalize_one(t) for t in texts["text"]] + [normalize_one("")] * 2


def word_pairs(norm: str) -> list[str]:
    """text_bigrams' pairs of one normalised text, in plain Python: adjacent content words (longer
    than two letters, not a stop word, not a number), each pair once, in order."""
    words = norm.split()
    content = [len(w) > 2 and w not in STOPWORDS and not w.isdigit() for w in words]
    return list(dict.fromkeys(f"{a} {b}" for a, b, x, y in zip(words, words[1:], content, content[1:]) if x and y))


def test_sentiment_and_word_pairs_equal_each_distinct_text_read_once(dataset):
    _, config, texts = dataset
    lexicon = config.barriers.sentiment.model_dump()
    norm = texts["norm"]
    values = once_per_distinct(norm)
    scores = sentiment(pd.Series(values), lexicon, normalized=True).tolist()
    expected = pd.Series(looked_up(norm, values, scores), index=norm.index, dtype="float64")
    pd.testing.assert_series_equal(sentiment(norm, lexicon, normalized=True), expected)

    labelled = norm.set_axis(norm.index * 3 + 5)  # pairs carry the index label, not the position
    expected = pd.DataFrame([(label, p) for label, text in labelled.items() for p in word_pairs(text)], columns=["row", "phrase"])
    pd.testing.assert_frame_equal(text_bigrams(labelled, normalized=True), expected.astype({"row": "int64", "phrase": "str"}))


def first_hits(spans: pd.DataFrame) -> pd.DataFrame:
    """KeywordMatcher.match's reading of its spans: per (row, label) the first occurrence not
    inside an excluded phrase of the same label."""
    masks = spans[spans["excluded"]]
    kept = [h for h in spans[~spans["excluded"]].itertuples(index=False)
            if not ((masks["row"] == h.row) & (masks["label"] == h.label) & (masks["start"] <= h.start) & (h.end <= masks["end"])).any()]
    kept = pd.DataFrame(kept, columns=spans.columns).sort_values(["row", "start"], kind="stable")
    return kept.drop_duplicates(["row", "label"])[["row", "label", "keyword", "found"]]


def test_keyword_matches_and_counts_equal_each_distinct_text_read_once(dataset):
    _, _, texts = dataset
    norm = texts["norm"]
    common = text_bigrams(norm.drop_duplicates(), normalized=True)["phrase"].value_counts().head(40).index
    matcher = KeywordMatcher({p: [p] for p in common} | {"stems": ["deliver*", "достав*", "entreg*"]},
                             exclude={"stems": ["delivery address", "адрес доставки"]})
    values = once_per_distinct(norm)
    hits = first_hits(matcher.spans(pd.Series(values), normalized=True))
    of_value = {r: list(g.itertuples(index=False, name=None)) for r, g in hits.groupby("row")}
    records = looked_up(norm, values, [[h[1:] for h in of_value.get(i, [])] for i in range(len(values))])
    expected = pd.DataFrame([(row, *h) for row, hs in enumerate(records) for h in hs], columns=["row", "label", "keyword", "found"])
    actual = matcher.match(norm, normalized=True)
    pd.testing.assert_frame_equal(actual, expected.astype({"row": "int64", "label": "str", "keyword": "str", "found": "str"}))
    assert len(actual) > 0
    counts = matcher.counts(norm, normalized=True)
    assert counts.to_dict() == expected["label"].value_counts().to_dict()
    # The same counts of a selection of rows through the word pairs' distinct texts (how the
    # emerging themes count a phrase among a persona's other texts).
    pairs = WordPairs(norm.set_axis(np.arange(len(norm)) * 2))
    chosen = np.random.default_rng(3).choice(len(norm), len(norm) // 3, replace=False)
    selected = expected[expected["row"].isin(chosen)]
    assert matcher.weighted_counts(*pairs.texts_of(np.r_[chosen * 2, -1, 10**9])).to_dict() == selected["label"].value_counts().to_dict()
    assert len(selected) > 0


def catalog_reference(matcher, norm: pd.Series, eligible: pd.Series) -> pd.DataFrame:
    """The matches of every row from two calls on the distinct texts: all read for similarity,
    and none read; a row takes the first call's matches when it is eligible, else the second's."""
    values = once_per_distinct(norm)
    position = {v: i for i, v in enumerate(values)}
    batch = pd.Series(values, dtype=object)
    read = matcher.match(batch, normalized=True)
    unread = matcher.match(batch, normalized=True, eligible=pd.Series(False, index=batch.index))
    by_value = [{r: g.drop(columns="row").to_dict("records") for r, g in found.groupby("row")} for found in (read, unread)]
    rows = [{"row": row, **record} for row, (value, readable) in enumerate(zip(norm, eligible))
            for record in by_value[0 if readable else 1].get(position[key(value)], [])]
    return pd.DataFrame(rows, columns=list(read.columns)).astype(read.dtypes.to_dict())


def in_documented_order(found: pd.DataFrame) -> pd.DataFrame:
    return found.sort_values(["row", "via", "label"], kind="stable").reset_index(drop=True)


def test_catalog_matches_equal_the_distinct_texts_read_once_with_each_rows_eligibility(dataset):
    name, config, texts = dataset
    texts = texts.assign(sentiment=sentiment(texts["norm"], config.barriers.sentiment.model_dump(), normalized=True))
    eligible = similarity_eligible(texts, config)
    assert eligible.any() and (name != "repeated" or not eligible.all())
    matcher = catalog_matcher(config)
    actual = matcher.match(texts["norm"], normalized=True, eligible=eligible)
    expected = catalog_reference(matcher, texts["norm"], eligible)
    pd.testing.assert_frame_equal(in_documented_order(actual), in_documented_order(expected))
    assert set(actual["via"]) == {"keyword", "similarity"}
    # Keyword hits first, then similarity, as match documents when similarity found anything.
    pd.testing.assert_frame_equal(actual, in_documented_order(actual))
    # The keyword pass alone keeps each text's hits in the order they occur in it.
    located = matcher.keyword_matches(texts["norm"])
    pd.testing.assert_frame_equal(located, located.sort_values(["row", "start"], kind="stable").reset_index(drop=True))
    pd.testing.assert_frame_equal(in_documented_order(located.drop(columns="start")), in_documented_order(expected[expected["via"] == "keyword"]))


def test_a_few_texts_read_alone_get_what_they_get_among_the_repeats(sample_config, sample):
    config, matcher = sample_config, catalog_matcher(sample_config)
    norm = normalize(repeated_texts(sample)["text"])
    lexicon = config.barriers.sentiment.model_dump()
    together, scores = matcher.match(norm, normalized=True), sentiment(norm, lexicon, normalized=True)
    for row in norm.drop_duplicates().index[:12]:
        alone = matcher.match(norm.loc[[row]], normalized=True).assign(row=row)
        mine = together[together["row"] == row].reset_index(drop=True)
        pd.testing.assert_frame_equal(in_documented_order(mine), in_documented_order(alone))
        assert sentiment(norm.loc[[row]], lexicon, normalized=True).iloc[0] == pytest.approx(scores.loc[row], nan_ok=True)


def test_analysing_a_quarter_gives_every_text_its_own_results(dataset):
    _, config, texts = dataset
    given = texts.drop(columns="norm")
    analysed, matches = analyse_texts(given.copy(), config)
    expected = given.assign(norm=texts["norm"].astype(object))
    values = once_per_distinct(expected["norm"])
    scores = sentiment(pd.Series(values), config.barriers.sentiment.model_dump(), normalized=True).tolist()
    expected["sentiment"] = looked_up(expected["norm"], values, scores)
    expected_matches = catalog_reference(catalog_matcher(config), expected["norm"], similarity_eligible(expected, config))
    expected["stage"] = infer_review_stages(expected, expected_matches, config)
    pd.testing.assert_frame_equal(analysed, expected)
    pd.testing.assert_frame_equal(in_documented_order(matches), in_documented_order(expected_matches))


# ------------------------------------------------------------------------------- barriers


def test_text_languages_equal_each_text_read_alone(dataset):
    _, _, texts = dataset
    texts = texts.head(3000)
    texts = texts.assign(language=texts.get("language", pd.Series(None, index=texts.index)).where(texts.index % 3 != 0))
    alone = [text_languages(texts.iloc[[i]], "ru")[0] for i in range(len(texts))]
    assert text_languages(texts, "ru") == alone


def test_quotes_are_the_most_negative_then_newest_texts_whatever_the_index():
    at = pd.Timestamp("2025-02-01", tz="UTC")
    texts = pd.DataFrame({
        "text": ["Short", "Queue was long again", "The card reader failed", "Nobody at the till", "Waited for an hour"],
        "score01": [0.0, 0.25, 0.0, np.nan, 0.0],
        "at": [at, at, at - pd.Timedelta(days=3), at, at],
        "source": "survey", "language": "en",
    }, index=[4, 4, 2, 1, 0])
    texts["norm"] = [normalize_one(t) for t in texts["text"]]
    quotes = pick_quotes(texts, 10, 80, via="phrase")
    # "Short" is under 8 characters; score 0 before 0.25 before unknown (0.5); newest first, then shorter.
    assert [q["text"] for q in quotes] == ["Waited for an hour", "The card reader failed", "Queue was long again", "Nobody at the till"]


def test_representative_sentences_count_every_copy_of_a_text():
    texts = pd.DataFrame({"text": ["The queue was very long today."] + ["the queue was very long today"] * 3
                          + ["Long queue again, nobody at the till."]})
    texts["norm"] = [normalize_one(t) for t in texts["text"]]
    # The complaint most texts share comes first, written as most of its texts write it.
    assert representative_sentences(texts, ["queue"], 2) == ["the queue was very long today", "Long queue again, nobody at the till."]


# ------------------------------------------------- the maps' counting, against plain pandas
#
# The maps take word pairs per selection of rows (WordPairs), count phrases and writers as
# integers, and order quotes with numpy. The references are the grouped pandas code the maps ran
# before (written out here), on every data set and on random selections.


def grouped_phrase_counts(bigrams: pd.DataFrame, min_count: int) -> pd.DataFrame:
    sizes = bigrams.groupby("phrase").size()
    frequent = sizes[sizes >= min_count]
    rows = bigrams[bigrams["phrase"].isin(frequent.index)].groupby("phrase")["row"].agg(list)
    grouped = pd.DataFrame({"texts": frequent.astype("int64"), "rows": rows}).rename_axis("phrase").reset_index()
    return grouped.sort_values(["texts", "phrase"], ascending=[False, True], kind="stable").reset_index(drop=True)


def as_plain(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(list(v) if isinstance(v, list) else v for v in row) for row in frame.itertuples(index=False)]


def test_word_pairs_of_selected_rows_are_those_text_bigrams_gives(dataset):
    _, _, texts = dataset
    labelled = texts["norm"].set_axis(texts.index * 3 + 5)
    every = text_bigrams(labelled, normalized=True)
    pairs = WordPairs(labelled)
    rng = np.random.default_rng(5)
    labels = labelled.index.to_numpy()
    for chosen in (labels, labels[:0], rng.choice(labels, len(labels) // 7, replace=False), np.array([labels[-1], 10**9, -4, 6])):
        expected = every[every["row"].isin(chosen)].reset_index(drop=True)
        got = pairs.of(chosen)  # any order, labels it does not know are no texts
        assert got["row"].tolist() == expected["row"].tolist() and got["phrase"].tolist() == expected["phrase"].tolist()
        assert (pairs.vocabulary[got["pid"].to_numpy()] == got["phrase"].to_numpy()).all()


@pytest.mark.parametrize("min_count", [1, 3])
def test_phrase_counts_by_number_equal_the_grouped_counts(dataset, min_count):
    _, _, texts = dataset
    pairs = WordPairs(texts["norm"])
    rng = np.random.default_rng(min_count)
    for chosen in (texts.index.to_numpy(), rng.choice(texts.index.to_numpy(), len(texts) // 5, replace=False)):
        found = pairs.of(chosen)
        expected = as_plain(grouped_phrase_counts(found, min_count))
        assert as_plain(count_phrases(found, min_count)) == expected
        assert as_plain(count_phrases(found.drop(columns="pid"), min_count)) == expected  # numbered on the way
    assert count_phrases(pairs.of([]), 2).empty


def test_phrase_writers_equal_the_grouped_counts(dataset):
    _, _, texts = dataset
    rng = np.random.default_rng(8)
    texts = texts.assign(row=np.arange(len(texts)), who=rng.integers(-50, 300, len(texts)))
    pairs = WordPairs(texts.set_index("row")["norm"])
    negative = texts.iloc[rng.permutation(len(texts))[: len(texts) // 3]]  # in no particular order
    for floor in (1, 2, 5):
        found = pairs.of(negative["row"]).merge(negative[["row", "who"]], on="row")
        counted = found.groupby("phrase").agg(customers=("who", "nunique"), texts=("row", "nunique"))
        counted = counted[counted["customers"] >= floor]
        rows = found[found["phrase"].isin(counted.index)].groupby("phrase")["row"].agg(lambda r: sorted(r))
        expected = counted.assign(rows=rows).rename_axis("phrase").reset_index()
        expected = expected.sort_values(["customers", "phrase"], ascending=[False, True], kind="stable")
        got = _phrase_writers(pairs, negative, floor)
        assert (got is None and expected.empty) or as_plain(got) == as_plain(expected)
    assert _phrase_writers(pairs, negative, 10**9) is None


def test_quote_order_is_the_pandas_sort_of_score_date_and_length():
    rng = np.random.default_rng(11)
    n = 3000
    at = pd.Timestamp("2025-02-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 5, n), unit="D")
    texts = pd.DataFrame({"text": rng.choice(np.array(["short", "a bit longer", "twelve chars", "the longest text of all", None], dtype=object), n),
                          "score01": rng.choice([np.nan, 0.0, 0.25, 0.5], n), "at": at})
    texts.loc[rng.random(n) < 0.1, "at"] = pd.NaT
    order = texts[["score01", "at", "text"]].reset_index(drop=True)
    order = order.assign(_neg=order["score01"].fillna(0.5), _len=order["text"].str.len())
    expected = order[order["_len"] >= 8].sort_values(["_neg", "at", "_len"], ascending=[True, False, True], kind="stable").index
    assert _quote_order(texts.set_axis(np.arange(n)[::-1])).tolist() == expected.tolist()


@pytest.mark.parametrize("rows", [1, 3, 1000])
def test_results_read_in_batches_equal_one_conversion(rows):
    import pyarrow as pa

    from cjm_tasks.engine import open_engine
    from cjm_tasks.maps.prepared import frame_in_batches, strings_shared

    at = pd.Timestamp("2025-03-01 10:00", tz="UTC")
    table = pa.table({"text": ["a", None, "a", "b", "ccc", None, "b"], "n": [1, 2, 3, 4, 5, 6, 7],
                      "score": [0.5, None, 1.0, 0.0, None, 0.25, 1.0],
                      "at": pa.array([at, None, at, at, None, at, at], type=pa.timestamp("us", tz="UTC"))})
    with open_engine(kind="duckdb") as engine:
        engine.register_arrow("t", table)
        sql = "SELECT * FROM t ORDER BY n"
        got = frame_in_batches(engine.batches(sql, rows), 7)
        pd.testing.assert_frame_equal(got, strings_shared(engine.query(sql)))
        with pytest.raises(Exception, match="gave 7 rows where it counted 8"):
            frame_in_batches(engine.batches(sql, rows), 8)
        assert frame_in_batches(engine.batches("SELECT * FROM t WHERE n < 0", rows), 0).columns.tolist() == ["text", "n", "score", "at"]


def test_a_text_repeated_with_the_same_kind_and_time_is_kept_once_the_first(sample_config):
    rng = np.random.default_rng(12)
    n = 3000
    times = pd.to_datetime("2025-01-01", utc=True) + pd.to_timedelta(rng.integers(0, 40, n), unit="h")
    surveys = pd.DataFrame({"response_id": [f"r{i}" for i in range(n)], "customer_id": rng.choice(["c1", "c2", "c3"], n),
                            "answered_at": times.where(rng.random(n) > 0.1),  # some without a time: each is kept
                            "question": "q", "score": 2.0, "comment": rng.choice([f"text {i}" for i in range(60)], n),
                            "stage": "purchase", "metric": "csat"})
    reviews = pd.DataFrame({"review_id": [f"v{i}" for i in range(n)], "customer_id": "c1", "published_at": times[::-1],
                            "rating": 2.0, "text": rng.choice([f"text {i}" for i in range(60)], n)})
    texts = collect_texts(Inputs(surveys=surveys, reviews=reviews), sample_config)
    kinds = [("survey", surveys.rename(columns={"answered_at": "at", "comment": "text"}), "response_id"),
             ("review", reviews.rename(columns={"published_at": "at"}), "review_id")]
    expected = []
    for kind, frame, ref in kinds:
        dated = frame[frame["at"].notna()].drop_duplicates(["at", "text"])  # the first of each (time, text)
        expected += sorted(set(dated[ref]) | set(frame.loc[frame["at"].isna(), ref]), key=lambda r: int(r[1:]))
    assert texts["ref"].tolist() == expected
    assert len(texts) < 2 * n - 100  # the data repeats: some were dropped


def test_the_engine_numbers_writers_by_id_and_each_anonymous_text_apart(sample_config):
    surveys = pd.DataFrame({"response_id": ["r1", "r2", "r3", "r4", "r5"], "customer_id": ["c9", None, "c1", "c9", None],
                            "answered_at": pd.to_datetime(["2025-01-0%d" % d for d in range(1, 6)], utc=True),
                            "question": "q", "score": 1.0, "comment": ["one", "two", "three", "four", "five"],
                            "stage": "purchase", "metric": "csat"})
    texts = collect_texts(Inputs(surveys=surveys), sample_config)
    who = dict(zip(texts["text"], texts["who"]))
    row = dict(zip(texts["text"], texts["row"]))
    assert who["three"] == 0 and who["one"] == who["four"] == 1  # customers by id: c1, then c9
    assert who["two"] == -1 - row["two"] and who["five"] == -1 - row["five"]


def test_matched_texts_are_the_inner_merge_of_texts_and_matches():
    rng = np.random.default_rng(21)
    texts = pd.DataFrame({"row": rng.permutation(np.arange(0, 3000, 3)), "stage": rng.choice(np.array(["a", "b", None], dtype=object), 1000),
                          "who": rng.integers(-5, 40, 1000), "score01": rng.random(1000), "kind": "survey",
                          "at": pd.Timestamp("2025-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 90, 1000), unit="D")})
    matches = pd.DataFrame({"row": rng.integers(0, 3100, 2500), "label": rng.choice(np.array(["x", "y", "z"], dtype=object), 2500),
                            "keyword": "k", "via": rng.choice(np.array(["keyword", "similarity"], dtype=object), 2500)})
    expected = texts[["row", "stage", "who", "score01", "at"]].merge(matches, on="row")
    index = MatchIndex(matches)  # made once for every persona's map
    pd.testing.assert_frame_equal(_matched_texts(texts, index), expected)
    assert _matched_texts(texts.iloc[:0], index).empty and _matched_texts(texts, MatchIndex(matches.iloc[:0])).empty
    # A persona's share of the texts, with the columns detect_catalog keeps.
    for part in (texts.iloc[rng.permutation(1000)[:300]], texts.iloc[:0]):
        expected = part[["row", "stage", "who", "score01", "at"]].merge(matches[["row", "label", "via"]], on="row")
        got = _matched_texts(part, index, ["row", "label", "via"])
        pd.testing.assert_frame_equal(got, expected, check_index_type=False, check_dtype=not part.empty)


def test_a_row_set_answers_as_isin_does():
    rng = np.random.default_rng(8)
    chosen = rng.integers(0, 5000, 1200)
    rows = rng.integers(-3, 6000, 4000)
    assert RowSet(chosen).contains(rows).tolist() == np.isin(rows, chosen).tolist()
    assert among(pd.Series(rows[rows >= 0]), RowSet(chosen)).tolist() == np.isin(rows[rows >= 0], chosen).tolist()
    assert len(RowSet(chosen)) == len(np.unique(chosen)) and not RowSet([]).contains(rows).any()
    with pytest.raises(ValueError):
        RowSet([3, -1])


def test_a_personas_texts_by_position_are_those_its_rows_select():
    from cjm_tasks.maps.prepared import Prepared

    rng = np.random.default_rng(5)
    texts = pd.DataFrame({"row": np.arange(400), "text": rng.choice(np.array(["a", "b", None], dtype=object), 400), "score01": rng.random(400)})
    tagged = pd.DataFrame({"row": np.sort(rng.choice(400, 250, replace=False)), "persona": rng.choice(np.array(["p", "q"], dtype=object), 250)})
    for table in (texts, texts.iloc[::2].reset_index(drop=True)):  # rows as positions, then rows that are not
        prepared = Prepared(None, table, tagged, pd.DataFrame(), {}, 0)
        for persona in ("p", "q", "nobody"):
            expected = table[table["row"].isin(tagged.loc[tagged["persona"] == persona, "row"])]
            pd.testing.assert_frame_equal(prepared.texts_for(persona), expected)


def test_a_personas_rows_are_those_its_name_selects():
    from cjm_tasks.maps.prepared import Prepared

    rng = np.random.default_rng(4)
    tagged = pd.DataFrame({"row": np.sort(rng.integers(0, 500, 900)), "persona": rng.choice(np.array(["a", "b", "c"], dtype=object), 900)})
    prepared = Prepared(None, pd.DataFrame(), tagged, pd.DataFrame(), {}, 0)
    for persona in ("a", "b", "c", "nobody"):
        assert prepared.rows_of(persona).tolist() == tagged.loc[tagged["persona"] == persona, "row"].tolist()


def test_a_personas_counts_are_the_rows_of_its_name():
    from cjm_tasks.engine.journey import StageAggregates

    rng = np.random.default_rng(6)
    tables = {"reach": pd.DataFrame({"persona": rng.choice(np.array(["all", "p", "q"], dtype=object), 60), "stage": "s",
                                     "customers": rng.integers(0, 9, 60)}),
              "lanes": pd.DataFrame({"persona": pd.Series([], dtype="object"), "lane": pd.Series([], dtype="object")})}
    aggregates = StageAggregates(tables, ["sales"])
    for persona in ("all", "p", "q", "nobody"):
        one = aggregates.of(persona)
        assert one.sources_with_rows == ["sales"]
        for name, table in tables.items():
            pd.testing.assert_frame_equal(one[name], table[table["persona"] == persona])


def _one_window_survey_texts(engine, config, declared=None, customers=True) -> pd.DataFrame:
    """The survey comments as texts the way create_texts made them before it looked for repeated
    keys first: one window over every comment (the reference)."""
    from cjm_tasks.engine.journey import _scaled

    scaled = f"CASE WHEN metric IS NOT NULL THEN {_scaled('score', 'metric', config)} END"
    keys = f"PARTITION BY {'customer_id, ' if customers else ''}answered_at, comment"
    stage = (f"CASE WHEN min(stage) OVER ({keys}) = max(stage) OVER ({keys}) THEN stage END" if declared is None
             else "CAST(NULL AS VARCHAR)" if declared == "general" else f"'{declared}'")
    sql = (f"SELECT __row AS _o, CAST(response_id AS VARCHAR) AS ref, CAST({stage} AS VARCHAR) AS stage, comment AS text, "
           f"min({scaled}) OVER ({keys}) AS score01 FROM surveys WHERE comment IS NOT NULL AND trim(comment) <> '' ORDER BY _o")
    return engine.query(sql).to_pandas()


@pytest.mark.parametrize("repeats", [0, 1, 40])
@pytest.mark.parametrize("declared", [None, "general", "purchase"])
@pytest.mark.parametrize("customers", [True, False], ids=["customers", "no-customer-column"])
def test_survey_texts_equal_one_window_over_every_comment(sample_config, repeats, declared, customers):
    # Responses of one or several answers: a comment given once, or repeated on a response's rows
    # (with one stage or several, metrics missing, blank comments), customers and times missing.
    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.journey import create_texts
    from cjm_tasks.maps.prepared import register_inputs

    rng = np.random.default_rng(repeats)
    rows = []
    for r in range(300):
        answers = 1 + (rng.integers(0, 4) if r < repeats else 0)
        customer = None if rng.random() < 0.1 else f"c{rng.integers(0, 50)}"
        at = None if rng.random() < 0.1 else pd.Timestamp("2025-01-01", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 30)))
        comment = rng.choice(np.array(["Long queue", "Rude staff", "  ", None, f"comment {r}"], dtype=object))
        if not repeats and comment and comment.strip():
            comment = f"{comment} ({r})"  # no two responses with one key either
        for a in range(answers):
            rows.append({"response_id": f"r{r}:{a}", "customer_id": customer, "answered_at": at, "question": f"q{a}",
                         "stage": rng.choice(np.array(["purchase", "purchase", "loyalty", None], dtype=object)),
                         "metric": rng.choice(np.array(["csat", "nps", None], dtype=object)), "score": float(rng.integers(0, 11)),
                         "comment": comment if a == 0 or rng.random() < 0.8 else "another comment", "channel": "web"})
    surveys = pd.DataFrame(rows).sample(frac=1, random_state=repeats).reset_index(drop=True)
    if not customers:
        surveys = surveys.drop(columns="customer_id")
    config = sample_config
    if declared is not None:
        config = config.model_copy(update={"sources": {**config.sources, "surveys": config.sources["surveys"].model_copy(
            update={"comment_stage": declared})}})
    with open_engine(config, kind="duckdb") as engine:
        views = register_inputs(engine, Inputs(surveys=surveys))
        expected = _one_window_survey_texts(engine, config, declared, customers)
        assert create_texts(engine, config, views)
        by = "customer_id, answered_at, comment" if customers else "answered_at, comment"
        repeated = int(engine.query("SELECT count(*) FROM (SELECT 1 FROM surveys WHERE comment IS NOT NULL AND trim(comment) <> '' "
                                    f"GROUP BY {by} HAVING count(*) > 1)").column(0)[0].as_py())
        got = engine.query("SELECT _o, ref, stage, text, score01 FROM cjm_text_rows ORDER BY _o").to_pandas()
    assert (repeated > 0) == (repeats > 0)  # both paths: no repeated key at all, and some
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("shuffle", ["none", "runs", "random"])
def test_frame_in_batches_puts_the_rows_in_the_order_asked(shuffle):
    import pyarrow as pa

    from cjm_tasks.maps.prepared import frame_in_batches

    rng = np.random.default_rng(5)
    n = 5000
    key = np.repeat(np.arange(n // 2, dtype=np.int64) * 3, 2)  # each key twice, told apart by the name
    name = np.array(["b", "a"] * (n // 2), dtype=object)
    table = pa.table({"k": key, "name": name, "value": rng.random(n), "text": np.array([f"t{i % 97}" for i in range(n)], dtype=object)})
    expected = table.to_pandas().sort_values(["k", "name"], kind="stable").reset_index(drop=True)
    order = {"none": np.arange(n)[np.lexsort([name, key])], "runs": np.r_[np.arange(0, n, 2), np.arange(1, n, 2)],
             "random": rng.permutation(n)}[shuffle]
    arrived = table.take(order)
    frame = frame_in_batches(pa.RecordBatchReader.from_batches(arrived.schema, arrived.to_batches(777)), n, ["k", "name"])
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)
    unordered = frame_in_batches(pa.RecordBatchReader.from_batches(arrived.schema, arrived.to_batches(777)), n)
    assert unordered["value"].tolist() == arrived.column("value").to_pylist()  # without keys: as they came


def test_texts_tagged_through_their_writers_equal_the_texts_joined_with_the_members(sample_config):
    # Membership "first": the texts come over with their writer's persona, one query; "all" joins
    # the texts with the members a second time. With one persona per customer both must tag the
    # same rows with the same personas: customers in no persona, texts without a customer, and
    # repeated texts (left out) included.
    from cjm_tasks.engine import open_engine
    from cjm_tasks.engine.personas import MEMBERS
    from cjm_tasks.maps.prepared import collect_texts_from, register_inputs

    rng = np.random.default_rng(31)
    n = 3000
    people = np.array([f"c{i:02d}" for i in range(50)] + [None], dtype=object)
    times = pd.to_datetime("2025-01-01", utc=True) + pd.to_timedelta(rng.integers(0, 200, n), unit="h")
    surveys = pd.DataFrame({"response_id": [f"r{i}" for i in range(n)], "customer_id": rng.choice(people, n), "answered_at": times,
                            "question": "q", "score": 2.0, "comment": rng.choice([f"text {i}" for i in range(300)], n),
                            "stage": "purchase", "metric": "csat"})
    reviews = pd.DataFrame({"review_id": [f"v{i}" for i in range(n)], "customer_id": rng.choice(people, n), "published_at": times[::-1],
                            "rating": 2.0, "text": rng.choice([f"review {i}" for i in range(300)], n)})
    ids = [p.id for p in sample_config.personas.personas]
    number = rng.integers(0, len(ids), 38)  # c38..c49: in no persona
    members = pd.DataFrame({"customer_id": [f"c{i:02d}" for i in range(38)], "persona": [ids[k] for k in number],
                            "persona_no": number.astype(np.int16)})
    tagged = {}
    for membership in ("first", "all"):
        config = sample_config.model_copy(update={"personas": sample_config.personas.model_copy(update={"membership": membership})})
        with open_engine(config, kind="duckdb") as engine:
            views = register_inputs(engine, Inputs(surveys=surveys, reviews=reviews))
            engine.con.register(MEMBERS, members)
            tagged[membership] = collect_texts_from(engine, config, views)[1]
    assert tagged["first"].equals(tagged["all"])
    assert list(tagged["first"].columns) == ["row", "persona"] and tagged["first"]["row"].dtype == np.int64
    # The reference: each text's writer (by its response or review id) looked up in the members.
    owner = dict(zip(members["customer_id"], members["persona"]))
    writers = surveys.set_index("response_id")["customer_id"].to_dict() | reviews.set_index("review_id")["customer_id"].to_dict()
    with open_engine(sample_config, kind="duckdb") as engine:
        refs = collect_texts_from(engine, sample_config, register_inputs(engine, Inputs(surveys=surveys, reviews=reviews)),
                                  personas=False, refs=True)[0]["ref"]
    expected = [(row, owner[writers[ref]]) for row, ref in enumerate(refs) if writers[ref] in owner]
    assert list(zip(tagged["first"]["row"], tagged["first"]["persona"])) == expected
    assert 0 < len(expected) < len(refs)
