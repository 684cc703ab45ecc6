"""Prevalence over active customers and the diff's decisions, on small explicit quarters.

Each case is one the diff got wrong on data it had never seen (issue 10): shares of texts that
saturate or move with mentions elsewhere, appearance where the earlier quarter had no texts, a
complaint going away that dragged others along. The quarters are built with the real map builder
from explicit tables; only the "all" persona is read (every active customer).
"""

from __future__ import annotations

import pandas as pd

from cjm_tasks.config import load_config
from cjm_tasks.versions.diff import diff_maps
from cjm_tasks.maps.journey import build_maps
from cjm_tasks.maps.prepared import Inputs
from cjm_tasks.periods import Period

CONFIG = load_config()
QUEUE = "Stood in the queue for forty minutes, only one till open"
APP = "The app keeps crashing at checkout, error every time"
RUDE = "The cashier was rude to me"
NEUTRAL = "Bought a kettle, it works"


def quarter(period: str, customers: int, reviews: list[tuple[int, str, float]] = (), comments: list[tuple[int, str, str, float]] = ()) -> dict:
    """The ``all`` map of a quarter with ``customers`` active customers (one order each),
    ``reviews`` [(customer number, text, rating)] without a stage and survey ``comments``
    [(customer number, stage, text, csat)]."""
    p = Period.parse(period)
    t0 = pd.Timestamp(p.start("UTC"))
    ids = [f"C{i}" for i in range(customers)]
    sales = pd.DataFrame({"event_id": [f"E{i}" for i in range(customers)], "customer_id": ids,
                          "occurred_at": [t0 + pd.Timedelta(minutes=i) for i in range(customers)],
                          "event_type": "order_placed", "channel": "web", "amount": 50.0, "order_id": None})
    sales["stage"] = sales["event_type"].map(CONFIG.event_stage)
    question = {s.id: next(iter(s.questions), None) for s in CONFIG.stages}
    surveys = pd.DataFrame({
        "response_id": [f"S{i}" for i in range(len(comments))], "customer_id": [f"C{c}" for c, *_ in comments],
        "answered_at": [t0 + pd.Timedelta(hours=1, minutes=i) for i in range(len(comments))],
        "question": [question[s] for _, s, _, _ in comments], "stage": [s for _, s, _, _ in comments],
        "metric": "csat", "score": [float(x) for *_, x in comments], "comment": [t for _, _, t, _ in comments], "channel": "web"})
    review_frame = pd.DataFrame({
        "review_id": [f"R{i}" for i in range(len(reviews))], "customer_id": [f"C{c}" for c, _, _ in reviews],
        "published_at": [t0 + pd.Timedelta(hours=2, minutes=i) for i in range(len(reviews))],
        "rating": [float(r) for *_, r in reviews], "text": [t for _, t, _ in reviews], "source": "site", "language": "en"})
    customers_frame = pd.DataFrame({"customer_id": ids, "segment": "consumer", "age": 40})
    return build_maps(Inputs(surveys=surveys if comments else None, reviews=review_frame if reviews else None, sales=sales,
                             customers=customers_frame), CONFIG, p, personas=["all"])["all"]


def entry(diff: dict, barrier_id: str) -> dict:
    return next(b for b in diff["barriers"] if b["id"] == barrier_id)


def test_prevalence_counts_customers_once_of_all_active_customers():
    doc = quarter("2025Q1", 400, reviews=[(c, QUEUE, 1) for c in range(40)] + [(c, QUEUE + " again", 1) for c in range(20)])
    queues = doc["measures"]["catalog"]["queues"]
    assert doc["measures"]["unit"] == "customers" and doc["measures"]["denominator"] == 400
    assert queues["customers"] == 40 and queues["mentions"] == 60 and queues["prevalence"] == 0.1
    barrier = next(b for s in doc["stages"] for b in s["barriers"] if b["id"] == "queues")
    assert barrier["evidence"]["customers"] == 40 and barrier["evidence"]["denominator"] == 400
    # Reviews without a stage are placed by inference, so they count as unplaced, not at a stage.
    assert barrier["evidence"]["stages"] == {"unplaced": 60}


def test_queues_tripling_then_falling_back_are_flagged_worsened_then_improved():
    # 188 -> 509 -> 193 of 1,000 customers: as shares of the texts at the stage these were
    # 0.84 -> 0.955 -> 0.85, and neither change was flagged.
    others = [(c, NEUTRAL, 5) for c in range(900, 940)]
    q1 = quarter("2025Q1", 1000, reviews=[(c, QUEUE, 1) for c in range(188)] + others)
    q2 = quarter("2025Q2", 1000, reviews=[(c, QUEUE, 1) for c in range(509)] + others)
    q3 = quarter("2025Q3", 1000, reviews=[(c, QUEUE, 1) for c in range(193)] + others)
    up, down = entry(diff_maps(q1, q2, CONFIG.diff, "2025Q1", "2025Q2"), "queues"), entry(diff_maps(q2, q3, CONFIG.diff, "2025Q2", "2025Q3"), "queues")
    assert up["status"] == "worsened" and up["flagged"] and (up["value_from"], up["value_to"]) == (0.188, 0.509)
    assert down["status"] == "improved" and down["flagged"] and down["effect"]["high"] < 0


def test_one_more_mention_at_another_stage_changes_nothing():
    # 20 of 200 purchase texts, then the same plus one mention among 800 experience texts: as a
    # share of texts at the stages where it was mentioned this went 0.1 -> 0.021, "resolved".
    purchase = [(c, "purchase", QUEUE if c < 20 else NEUTRAL, 2 if c < 20 else 5) for c in range(200)]
    experience = [(c, "experience", NEUTRAL, 5) for c in range(200, 1000)]
    before = quarter("2025Q1", 1000, comments=purchase + experience)
    experience_after = [(200, "experience", QUEUE, 2)] + experience[1:]
    after = quarter("2025Q2", 1000, comments=purchase + experience_after)
    queues = entry(diff_maps(before, after, CONFIG.diff, "2025Q1", "2025Q2"), "queues")
    assert (queues["value_from"], queues["value_to"]) == (0.02, 0.021)
    assert queues["status"] == "unchanged" and not queues["flagged"]
    assert after["measures"]["catalog"]["queues"]["stages"] == {"purchase": 20, "experience": 1}


def test_appearance_where_the_earlier_quarter_had_no_texts_is_new():
    # No text at all at the stage before; 254 app complaints among 300 texts after.
    before = quarter("2025Q1", 600, comments=[(c, "purchase", NEUTRAL, 5) for c in range(100)])
    after = quarter("2025Q2", 600, comments=[(c, "evaluation", APP if c < 254 else NEUTRAL, 1 if c < 254 else 5) for c in range(300)])
    errors = entry(diff_maps(before, after, CONFIG.diff, "2025Q1", "2025Q2"), "site_errors")
    assert errors["status"] == "new" and errors["flagged"]
    assert errors["evidence_from"]["customers"] == 0 and errors["evidence_to"]["customers"] == 254
    assert errors["effect"]["low"] > 0.3


def test_a_complaint_going_away_does_not_move_another_whose_incidence_is_unchanged():
    # 300 queue complainers stop writing when queues are fixed; the same 60 customers still meet
    # rude staff. Among writers rude staff would go 60/360 -> 60/60; among customers it stays.
    rude = [(c, RUDE, 1) for c in range(1000, 1060)]
    before = quarter("2025Q1", 1500, reviews=[(c, QUEUE, 1) for c in range(300)] + rude)
    after = quarter("2025Q2", 1500, reviews=rude)
    diff = diff_maps(before, after, CONFIG.diff, "2025Q1", "2025Q2")
    assert entry(diff, "queues")["status"] == "resolved"
    staff = entry(diff, "rude_staff")
    assert staff["status"] == "unchanged" and not staff["flagged"] and staff["value_from"] == staff["value_to"] == 0.04


def test_a_rise_from_a_low_base_is_flagged_and_an_uncatalogued_theme_is_a_change():
    # A complaint about nothing the catalog lists. (A parking complaint is no longer a clean
    # example: similarity reads "nowhere to park near the store" as close to "hard to find".)
    paint = "The fitting rooms stink of paint, awful"
    before = quarter("2025Q1", 1500, reviews=[(c, paint, 1) for c in range(6)] + [(c, NEUTRAL, 5) for c in range(100, 400)])
    after = quarter("2025Q2", 1500, reviews=[(c, paint, 1) for c in range(42)] + [(c, NEUTRAL, 5) for c in range(100, 400)])
    theme = next(b for b in after["unplaced"] if any("fitting" in phrase for phrase in b["evidence"]["phrases"]))
    change = entry(diff_maps(before, after, CONFIG.diff, "2025Q1", "2025Q2"), theme["id"])
    assert change["kind"] == "emerging" and change["flagged"] and change["status"] in ("new", "worsened")
    assert change["evidence_from"]["customers"] == 6 and change["evidence_to"]["customers"] == 42


def test_a_persona_with_too_few_customers_says_so():
    small = quarter("2025Q1", 20, reviews=[(c, QUEUE, 1) for c in range(15)])
    assert small["measures"]["too_few"] and small["summary"]["too_few"]
    assert not any(b["kind"] == "catalog" for s in small["stages"] for b in s["barriers"])
    bigger = quarter("2025Q2", 25, reviews=[(c, QUEUE, 1) for c in range(2)])
    diff = diff_maps(small, bigger, CONFIG.diff, "2025Q1", "2025Q2")
    assert entry(diff, "queues")["status"] == "too_few" and "too few customers to tell" in diff["summary"]


def test_a_wide_survey_comment_belongs_to_one_stage_or_none():
    from cjm_tasks.maps.prepared import collect_texts

    t0 = pd.Timestamp("2025-01-10", tz="UTC")
    # One response of a wide export melted into one row per question: the comment repeats on each.
    surveys = pd.DataFrame({"response_id": ["A:q1", "A:q2", "A:q3", "B:q2"], "customer_id": ["C1", "C1", "C1", "C2"],
                            "answered_at": [t0, t0, t0, t0 + pd.Timedelta(hours=1)],
                            "question": ["q_awareness_found", "q_purchase_csat", "q_loyalty_nps", "q_purchase_csat"],
                            "stage": ["awareness", "purchase", "loyalty", "purchase"], "metric": ["csat", "csat", "nps", "csat"],
                            "score": [2.0, 2.0, 3.0, 5.0], "comment": [QUEUE, QUEUE, QUEUE, "Quick checkout"], "channel": "web"})
    texts = collect_texts(Inputs(surveys=surveys), CONFIG)
    assert list(texts["text"]) == [QUEUE, "Quick checkout"]  # once per response
    assert texts["stage"].isna().tolist() == [True, False] and texts["stage_given"].tolist() == [False, True]
    declared = CONFIG.model_copy(update={"sources": {**CONFIG.sources, "surveys": CONFIG.sources["surveys"].model_copy(
        update={"comment_stage": "purchase"})}})
    assert collect_texts(Inputs(surveys=surveys), declared)["stage"].tolist() == ["purchase", "purchase"]


def test_expectation_themes_never_list_complaint_phrases():
    # Well-scored answers that still complain ("4 stars but the queue...") match a barrier: they
    # are not what customers expect at the stage.
    complaint = "Good shop but the long queue at the till again"
    praise = "Friendly staff and fresh bread every morning"
    doc = quarter("2025Q1", 200, comments=[(c, "purchase", complaint, 4) for c in range(10)] + [(c, "purchase", praise, 5) for c in range(10, 20)])
    purchase = next(s for s in doc["stages"] if s["id"] == "purchase")
    phrases = " ".join(t["phrase"] for t in purchase["themes"]["positive"])
    assert "bread" in phrases or "staff" in phrases
    assert "queue" not in phrases and "till" not in phrases


def test_reviews_without_customer_ids_are_shares_of_the_quarters_texts():
    # Airline-lounge reviews, no ids and no sales: "Hard to find" was "7 of 7 texts (100%)" (the
    # texts routed to its stage) where 7 of 121 reviews mentioned it.
    t0 = pd.Timestamp("2025-01-05", tz="UTC")
    texts = ["The lounge was hard to find, no signs anywhere"] * 7 + [f"Comfortable seats and good coffee, visit {i}" for i in range(114)]
    reviews = pd.DataFrame({"review_id": [f"R{i}" for i in range(121)], "customer_id": None,
                            "published_at": [t0 + pd.Timedelta(hours=i) for i in range(121)], "rating": [2.0] * 7 + [5.0] * 114,
                            "text": texts, "source": "skytrax", "language": "en"})
    doc = build_maps(Inputs(reviews=reviews), CONFIG, Period.parse("2025Q1"), personas=["all"])["all"]
    assert doc["measures"]["unit"] == "texts" and doc["measures"]["denominator"] == 121
    hard = next(b for s in doc["stages"] for b in s["barriers"] if b["id"] == "hard_to_find")
    assert (hard["evidence"]["customers"], hard["evidence"]["denominator"], hard["evidence"]["unit"]) == (7, 121, "texts")
    assert hard["evidence"]["prevalence"] == round(7 / 121, 5)


def test_a_barrier_found_by_keyword_and_by_similarity_counts_both_and_quotes_both():
    # Keyword texts say "queue"; the others say it without any queue keyword.
    paraphrase = "Half an hour at the checkout behind twenty people"
    doc = quarter("2025Q1", 1500, reviews=[(c, QUEUE, 1) for c in range(20)] + [(c, paraphrase, 1) for c in range(20, 40)]
                  + [(c, NEUTRAL, 5) for c in range(100, 400)])
    queues = next(b for s in doc["stages"] for b in s["barriers"] if b["id"] == "queues")
    assert queues["evidence"]["via"] == {"keyword": 20, "similarity": 20} and queues["evidence"]["customers"] == 40
    assert set(queues["evidence"]["examples"]) <= {e for b in CONFIG.barriers.catalog if b.id == "queues" for es in b.examples.values() for e in es}
    kinds = [q["via"] for q in queues["quotes"]]
    assert "keyword" in kinds and "similarity" in kinds
    similar = next(q for q in queues["quotes"] if q["via"] == "similarity")
    assert similar["text"] == paraphrase and similar["match"] is None
