"""Text normalisation, the one-pass keyword matcher, sentiment and themes."""

from __future__ import annotations

import pandas as pd
import pytest

from cjm_tasks.maps.text import KeywordMatcher, normalize, normalize_one, sentiment, stable_id, themes


def test_normalize_case_accents_yo_and_punctuation():
    out = normalize(pd.Series(["Ёлка, ЗАДЕРЖКА!", "Não chegou... café", None, "don't\nstop", "Мой САЙТ"])).tolist()
    assert out == [" елка ¦ задержка ", " nao chegou ¶ cafe ", "  ", " don t stop ", " мой сайт "]


def test_single_text_normalisation_agrees_with_the_vectorised_one():
    samples = ["Ёлка, ЗАДЕРЖКА!", "Não chegou... café", "don't\nstop", "İstanbul straße", "ÇA VA? ça_va", "x²  ½", "", "Йогурт мой"]
    assert [normalize_one(t) for t in samples] == normalize(pd.Series(samples)).tolist()


MATCHER = KeywordMatcher({
    "late": ["arrived late", "задерж*", "до сих пор не пришл*", "atras*"],
    "fees": ["скрыт* комисси*", "hidden fee*"],
    "queue": ["queue*"],
    "card": ["didn't accept card*"],
})


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("It ARRIVED late!!", ["late"]),
        ("Задержали доставку на неделю", ["late"]),  # word form via stem
        ("ЗАДЕРЖКА, ещё одна", ["late"]),
        ("Ёжик: задёржка", ["late"]),  # ё read as е on both sides
        ("Скрытые комиссии и задержка", ["fees", "late"]),  # a stem inside a phrase
        ("скрытая плата", []),  # the second word does not match комисси*
        ("hidden fees everywhere", ["fees"]),
        ("long queues, again", ["queue"]),
        ("squeue is not a word", []),  # a keyword starts at a word boundary
        ("they arrived lately", []),  # and an exact word ends at one
        ("до сих пор не пришла посылка", ["late"]),
        ("O produto atrasou muito", ["late"]),
        ("They didn't accept cards at the till", ["card"]),
        ("", []),
    ],
)
def test_matcher(text: str, labels: list[str]):
    found = MATCHER.match(pd.Series([text]))
    assert sorted(found["label"]) == sorted(labels)


def test_matcher_maps_hits_back_to_the_right_rows_and_keeps_first_keyword():
    texts = pd.Series(["nothing here", "arrived late, задержка", None, "queue", "fine"], index=[7, 3, 9, 1, 0])
    found = MATCHER.match(texts)
    assert list(zip(found["row"], found["label"])) == [(1, "late"), (3, "queue")]
    assert found.loc[0, "keyword"] == "arrived late"


def test_matcher_agrees_with_a_naive_regex_scan_on_many_texts():
    import random
    import re

    rng = random.Random(3)
    words = ["the", "parcel", "arrived", "late", "queue", "queues", "задержка", "задержали", "скрытые", "комиссии", "ok", "squeue"]
    texts = pd.Series([" ".join(rng.choice(words) for _ in range(rng.randint(0, 9))) for _ in range(3000)])
    found = MATCHER.match(texts)
    got = set(zip(found["row"], found["label"]))
    regexes = {"late": r"\barrived late\b|\bзадерж\w*", "fees": r"\bскрыт\w* комисси\w*", "queue": r"\bqueue\w*"}
    want = {(i, label) for i, t in enumerate(texts) for label, rx in regexes.items() if re.search(rx, t)}
    assert got == want and len(want) > 1000


def test_exclude_masks_only_the_occurrence_inside_the_phrase():
    matcher = KeywordMatcher({"queues": ["очеред*"], "late": ["delay*"]},
                             exclude={"queues": ["в первую очередь", "очередной"], "late": ["without delay"]})
    texts = pd.Series(["В первую очередь спасибо", "Очередной заказ", "в первую очередь: очередь на кассе огромная",
                       "Delivered without delay", "without delay? no, a delay of a week", "queue"])
    found = matcher.match(texts)
    assert list(zip(found["row"], found["label"])) == [(2, "queues"), (4, "late")]


def test_sentiment_prefers_the_longest_overlapping_phrase():
    lexicon = {"positive": {"en": ["happy"]}, "negative": {"en": ["not happy"]}}
    assert sentiment(pd.Series(["not happy at all", "happy", "happy but not happy"]), lexicon).tolist() == [-1.0, 1.0, 0.0]


def test_sentiment_is_nan_without_opinion_words():
    lexicon = {"positive": {"en": ["great", "love*"]}, "negative": {"en": ["terrible", "bad"], "ru": ["плох*"]}}
    scores = sentiment(pd.Series(["great, love it", "terrible and bad", "great but bad", "meh", "плохо"]), lexicon)
    assert scores.iloc[:3].tolist() == [1.0, -1.0, 0.0]
    assert pd.isna(scores.iloc[3]) and scores.iloc[4] == -1.0


def test_themes_count_texts_not_words_and_skip_overlaps():
    texts = pd.Series(["box broken box broken", "the box broken", "box broken again", "handle loose", "handle loose", "broken handle"])
    found = themes(texts, top=5, min_count=2)
    assert found["phrase"].tolist() == ["box broken", "handle loose"]
    assert found["texts"].tolist() == [3, 2]
    assert list(found.loc[0, "rows"]) == [0, 1, 2]


def test_stable_id_is_deterministic_and_normalised():
    assert stable_id("emerging", "Box  broken") == stable_id("emerging", "box broken!")
    assert stable_id("emerging", "box broken") != stable_id("emerging", "broken box")
