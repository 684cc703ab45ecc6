"""The catalog matcher: word forms, gaps, negation, disguised words, similarity, one pass."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cjm_tasks.config import CatalogBarrier
from cjm_tasks.maps.keywords import parse_keyword
from cjm_tasks.maps.matching import CatalogMatcher, MatchSettings
from cjm_tasks.maps.text import normalize, normalize_one


def barrier(bid: str, keywords: dict, examples: dict | None = None, exclude: dict | None = None) -> CatalogBarrier:
    return CatalogBarrier(id=bid, stage="purchase", title=bid, recommendation="-", keywords=keywords,
                          examples=examples or {}, exclude=exclude or {})


NEGATIONS = {"en": ["not", "no", "never", "t", "without"], "ru": ["не", "нет", "без", "никак*"], "pt": ["nao", "sem", "nem"]}


def matcher(*barriers: CatalogBarrier, **kw) -> CatalogMatcher:
    return CatalogMatcher(list(barriers), MatchSettings(negations=NEGATIONS, **kw))


def found(m: CatalogMatcher, texts: list[str], **kw) -> list[set[str]]:
    hits = m.match(pd.Series(texts), **kw)
    return [set(hits.loc[hits["row"] == i, "label"]) for i in range(len(texts))]


def test_one_dictionary_word_matches_its_forms_in_each_language():
    m = matcher(barrier("cash", {"ru": ["только наличные"], "en": ["cash only"]}),
                barrier("upsell", {"ru": ["навязать", "навязывать"]}),
                barrier("late", {"pt": ["atrasado"]}),
                barrier("queue", {"en": ["queue"]}))
    texts = ["Принимают только наличными.", "Платить только наличные, увы", "Нам навязали страховку",
             "Они навязывают доп услуги", "O pedido atrasou", "Entrega com atraso", "Cash only, again",
             "We queued for ages", "Long queues at the till"]
    assert found(m, texts) == [{"cash"}, {"cash"}, {"upsell"}, {"upsell"}, {"late"}, {"late"}, {"cash"}, {"queue"}, {"queue"}]


def test_a_star_still_means_any_word_that_starts_with_it_and_forms_are_only_of_the_same_word():
    m = matcher(barrier("late", {"en": ["late"]}), barrier("errors", {"en": ["error*"]}))
    assert found(m, ["It came late", "The latest model", "Errors everywhere", "it kept erroring out"]) == [{"late"}, set(), {"errors"}, {"errors"}]


def test_gaps_allow_a_few_words_inside_one_sentence_and_in_order():
    m = matcher(barrier("cash", {"en": ["only ... cash"], "ru": ["картой ... нельзя"]}), gap_words=3)
    texts = ["They only take cash", "They only ever take paper cash", "only one two three four cash",
             "Cash, they only take", "We only browsed. Cash was fine", "Картой, к сожалению, нельзя", "only, cash"]
    assert found(m, texts) == [{"cash"}, {"cash"}, set(), set(), set(), {"cash"}, {"cash"}]


def test_a_prefix_part_allows_as_many_gap_words_as_a_whole_word():
    # The rest of the word a `seat*` part ends in is not a gap word: "seats I paid for" has 3.
    m = matcher(barrier("seats", {"en": ["seat* ... disappear*"]}), gap_words=3)
    texts = ["the seats I paid for disappeared", "the seat I paid disappeared", "seats a b c d disappeared"]
    assert found(m, texts) == [{"seats"}, {"seats"}, set()]


def test_negated_keywords_need_a_negation_and_plain_keywords_do_not_count_after_one():
    m = matcher(barrier("cash", {"en": ["~accept ... card"], "ru": ["~принимать ... карта"]}),
                barrier("queue", {"en": ["queue"], "ru": ["очередь"]}),
                barrier("rude", {"en": ["rude"]}),
                barrier("late", {"pt": ["atrasado"]}))
    texts = ["They did not accept my card", "They accept every card", "Не принимают карты", "Принимают карты",
             "Paid by card, no queue at all", "Не было очереди", "The queue was long", "Очередь на кассе",
             "The staff wasn't rude", "No problems at all. Rude staff though", "Não atrasou", "Atrasou muito"]
    assert found(m, texts) == [{"cash"}, set(), {"cash"}, set(), set(), set(), {"queue"}, {"queue"},
                               set(), {"rude"}, set(), {"late"}]


def test_keywords_that_hold_a_negation_themselves_are_not_cancelled_by_another():
    m = matcher(barrier("reminders", {"ru": ["никаких напоминаний"], "en": ["no reminder"]}))
    assert found(m, ["Не было никаких напоминаний", "There was no reminder"]) == [{"reminders"}, {"reminders"}]


def test_exclude_phrases_still_mask_their_keyword():
    m = matcher(barrier("queue", {"ru": ["очередь"]}, exclude={"ru": ["в первую очередь"]}))
    assert found(m, ["В первую очередь спасибо", "Огромная очередь"]) == [set(), {"queue"}]


def test_digits_and_letters_of_the_other_alphabet_read_as_the_letters_they_imitate():
    m = matcher(barrier("queue", {"ru": ["очередь"]}), barrier("late", {"en": ["late"]}))
    assert found(m, ["Стояли в 0череди", "Стояли в oчереди", "It was l4te again", "mp3 player"]) == [{"queue"}, {"queue"}, {"late"}, set()]


def test_similarity_finds_paraphrases_records_its_source_and_respects_neutral_sentences():
    examples = {"en": ["They only take cash, my card was useless", "No card machine, banknotes only",
                       "The card terminal never works, bring cash"]}
    m = matcher(barrier("cash", {"en": ["cash only"]}, examples=examples),
                neutral={"en": ["Paid by card, quick and easy", "Card payment worked fine"]}, threshold=0.3, margin=0.05)
    hits = m.match(pd.Series(["Cash only!", "They take banknotes only, my card was no use here",
                              "Paid by card, quick and easy as always", "Lovely flowers in the garden today"]))
    by_row = {r.row: r for r in hits.itertuples()}
    assert by_row[0].via == "keyword" and by_row[0].score == 1.0
    assert by_row[1].via == "similarity" and by_row[1].label == "cash" and 0.3 <= by_row[1].score < 1
    assert by_row[1].keyword in examples["en"] and "banknotes" in by_row[1].found
    assert 2 not in by_row and 3 not in by_row


def test_similarity_reads_only_eligible_texts_and_skips_pairs_a_keyword_found():
    m = matcher(barrier("cash", {"en": ["cash only"]}, examples={"en": ["They only take cash, my card was useless"]}), threshold=0.3)
    texts = pd.Series(["They only take cash, my card was useless. Cash only", "They only take cash, my card was useless"])
    all_read = m.match(texts)
    assert list(all_read["via"]) == ["keyword", "similarity"]
    praised = m.match(texts, eligible=pd.Series([True, False]))
    assert list(praised["row"]) == [0]


def test_keywords_alone_ignore_forms_and_examples():
    m = matcher(barrier("cash", {"ru": ["только наличные"]}, examples={"ru": ["Принимают только наличку, карты не берут"]}),
                word_forms=False, similarity=False)
    assert found(m, ["Только наличными", "Только наличные", "Принимают только наличку, карты не берут"]) == [set(), {"cash"}, set()]


def test_a_keyword_without_letters_is_refused_with_its_barrier():
    with pytest.raises(ValueError, match="'cash'"):
        parse_keyword("cash", "~ ... !", "en")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcxyz019 .,!?;…¶_-'\nАБВабвйёЁ0оOoãéÇ") + ["\u0306", "\u0301"]), max_size=40))
def test_vectorised_and_single_string_normalisation_agree(text):
    assert normalize(pd.Series([text])).iloc[0] == normalize_one(text)


def test_negations_are_those_of_the_keywords_language_and_may_follow_it():
    m = CatalogMatcher([barrier("late", {"pt": ["atrasado"]}), barrier("queue", {"ru": ["очередь"]}), barrier("rude", {"en": ["rude"]})],
                       MatchSettings(negations={"en": ["no", "not"], "pt": ["nao", "nenhum*"], "ru": ["не"]},
                                     negations_after={"pt": ["nenhum"], "ru": ["не было"]}))
    texts = ["comprei no site e o pedido atrasou", "atraso nenhum", "Очереди не было", "Очередь не двигалась", "no rude words"]
    assert found(m, texts) == [{"late"}, set(), set(), {"queue"}, set()]


def test_an_exact_word_has_no_other_forms_and_every_gap_chain_is_tried():
    m = matcher(barrier("como", {"pt": ["=como ... entregue"]}), barrier("two", {"pt": ["comprei ... dois ... recebi"]}))
    texts = ["com entregue", "como entregue", "comprei dois pares dos dois modelos e recebi um"]
    assert found(m, texts) == [set(), {"como"}, {"two"}]


def test_negation_inside_a_gap_cancels_a_plain_keyword_and_serves_a_negated_one_and_idioms_negate_nothing():
    m = CatalogMatcher([barrier("rude", {"ru": ["продавец ... грубый"]}), barrier("cash", {"en": ["~accept ... card", "~pay ... card"]}),
                        barrier("queue", {"ru": ["очередь"], "en": ["queue"]}), barrier("upsell", {"ru": ["заставить купить"]}),
                        barrier("fraud", {"ru": ["обман"]})],
                       MatchSettings(negations={"en": ["no", "not"], "ru": ["не", "нет"]}, negations_after={"ru": ["нет"]},
                                     negation_idioms={"en": ["no problem*"], "ru": ["чуть не"]}))
    texts = ["Продавец не грубил", "Продавец грубый", "They accept no card", "No problem paying by card",
             "Нет, очередь была огромная", "No queue", "Чуть не заставили купить страховку", "Обман в комплекте нет половины", "Очередей нет"]
    assert found(m, texts) == [set(), {"rude"}, {"cash"}, set(), {"queue"}, set(), {"upsell"}, {"fraud"}, set()]


def test_fears_and_expectations_are_not_experiences_and_fillers_do_not_widen_a_negation():
    m = CatalogMatcher([barrier("late", {"en": ["arrive late"], "ru": ["опоздать"]}), barrier("errors", {"en": ["error"]})],
                       MatchSettings(negations={"en": ["no", "without"], "ru": ["не"]}, hedges={"en": ["afraid"], "ru": ["боял*"]},
                                     contrasts={"en": ["but"], "ru": ["но"]}, fillers={"en": ["a", "single"]}))
    texts = ["I was afraid it would arrive late, but it came early", "I was afraid of nothing but it did arrive late",
             "Боялся, что доставка опоздает", "Ordered without a single error", "An error, then another"]
    assert found(m, texts) == [set(), {"late"}, set(), set(), {"errors"}]


def test_the_word_by_word_features_equal_scikit_learns():
    from cjm_tasks.maps.similarity import _fitted, _transform

    model = _fitted(("cash", "cash", "queue", ""), ("They only take cash, my card was useless", "Наличка только, терминал сломан",
                                                   "Стояли в очереди час", "Paid by card, quick and easy"))
    sentences = ["they take banknotes only my card was no use here", "очередь очередь огромная у кассы 2 часа", "",
                 "the the the and", "наличными только", "paid by card quick and easy as always"]
    fast = _transform(model.features, sentences).toarray()
    slow = model.features.transform(sentences).toarray()
    assert fast.shape == slow.shape and abs(fast - slow).max() < 1e-5


def test_word_forms_looked_up_ahead_are_every_one_a_match_asks_for_and_change_nothing():
    from cjm_tasks.maps import keywords

    def build(**kw):
        return matcher(barrier("cash", {"ru": ["только наличные", "=нал*"], "en": ["cash only"]}),
                       barrier("upsell", {"ru": ["навязать", "навязывать", "доп ... услуга", "~принимать ... карта"]}),
                       barrier("queue", {"ru": ["очередь", "2 часа"]}, exclude={"ru": ["в первую очередь"]}), **kw)

    texts = ["Принимают только наличными.", "Нам навязали страховку и доп платные услуги", "Карты не принимают",
             "Очереди на кассе, ждали 2 часа", "В первую очередь хочу сказать спасибо", "Cash only, again"]
    keywords._lexeme.cache_clear()
    expected = found(build(), texts)
    asked = keywords._lexeme.cache_info().currsize  # the words a match looked up
    keywords._lexeme.cache_clear()
    ahead = build()
    ahead.look_up_word_forms()
    info = keywords._lexeme.cache_info()
    assert info.currsize == asked > 0  # the same words: "нал*" (a prefix), "2" and "=..." have none
    assert found(ahead, texts) == expected
    assert keywords._lexeme.cache_info().misses == info.misses  # nothing left to look up
    keywords._lexeme.cache_clear()
    build(word_forms=False).look_up_word_forms()
    assert keywords._lexeme.cache_info().currsize == 0  # without word forms nothing is looked up
