"""A survey's layout and questions: long (a row per answer, a question column) or wide (a column per
question, melted), the response id, and the question ids, ranges and text items."""

from __future__ import annotations

import re

from cjm_tasks.ingest.scaffold.columns import Col
from cjm_tasks.ingest.scaffold.notes import Notes
from cjm_tasks.ingest.scaffold.roles import CHANNEL_WORDS, Plan, Question, _attributes, _customer, _free_text, _low_card_named, _numbers, _record_id, _timestamp
from cjm_tasks.ingest.scaffold.words import CUSTOMER_WORDS, NOT_SCORE_WORDS, _is_id_name, _named, _slug, _unique_id
from cjm_tasks.ingest.scaffold.writer import Comment, Note, _quote

SCORE_WORDS = ("score", "value", "answer", "response", "rating", "grade", "mark", "оценк", "ответ", "значен", "балл")
QUESTION_WORDS = ("question", "item", "q", "metric", "field", "attribute", "вопрос", "показател")


def _plan_surveys(plan: Plan, notes: Notes) -> None:
    used: set[str] = set()
    _timestamp(plan, notes, "answered_at", used)
    question = _long_question_column(plan, used)
    if question is not None:
        _long_survey(plan, notes, question, used)
    else:
        _wide_survey(plan, notes, used)
    _customer(plan, notes, used, required=False)
    comment = _free_text(plan, used)
    if comment is not None:
        plan.columns[comment.name] = Note("comment", notes.guess("surveys", "comment", comment.name,
                                                                 f"the longest free text: {comment.mean_length:.0f} characters on average"))
        used.add(comment.name)
        plan.comment = True
        plan.texts.append(comment.texts)
    channel = _low_card_named(plan, used, CHANNEL_WORDS)
    if channel is not None:
        plan.columns[channel.name] = Note("channel", f"{channel.distinct} values: {', '.join(map(str, channel.texts.value_counts().index[:6]))}")
        used.add(channel.name)
    _attributes(plan, notes, used)
    plan.tree["columns"] = Note(plan.columns, "your column: canonical column")


def _long_question_column(plan: Plan, used: set[str]) -> Col | None:
    """A column naming the question of each row: few distinct values, repeated."""
    for col in plan.cols.values():
        if col.name in used or col.stamp is not None or not (2 <= col.distinct <= 100) or col.distinct > 0.2 * col.filled:
            continue
        if col.numeric_share >= 0.5:
            continue
        values = col.texts.drop_duplicates()
        questiony = (values.str.endswith("?") | values.str.match(r"^[qQ][_\-]?\d|^q_")).mean() >= 0.5
        if _named(col.name, QUESTION_WORDS) or questiony:
            return col
    return None


def _long_survey(plan: Plan, notes: Notes, question: Col, used: set[str]) -> None:
    """One row per answer: a question column, a value column, a response id repeated per answer."""
    used.add(question.name)
    frame = plan.sample.frame
    values = [c for c in plan.cols.values() if c.name not in used and c.stamp is None and c.numeric_share >= 0.3 and not _is_id_name(c.name)]
    named_values = [c for c in values if _named(c.name, SCORE_WORDS)]
    value = (named_values or sorted(values, key=lambda c: -c.numeric_share) or [None])[0]
    if value is None:
        plan.columns[question.name] = Note("question", f"{question.distinct} questions, repeated on {question.filled:,} rows")
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.surveys.columns", "no column holds the answers' scores: map yours (`your_column: score`)"))] = None
        return
    used.add(value.name)
    response = _response_column(plan, question, used)
    if response is not None and not plan.cols[response].unique:
        plan.tree["layout"] = Note("long", notes.guess("surveys", "layout", "long",
                                                       f"{response!r} repeats on {plan.cols[response].filled / plan.cols[response].distinct:.1f} rows per response, one per {question.name!r}"))
        plan.columns[response] = Note("response_id", f"{plan.cols[response].distinct:,} responses")
        plan.units = frame[response]
        used.add(response)
    elif response is not None:
        plan.columns[response] = Note("response_id", f"{plan.cols[response].distinct:,} distinct values in {plan.cols[response].rows:,} rows")
        used.add(response)
    else:
        plan.tree["row_id"] = Note("hash", notes.guess("surveys", "row_id", "hash", "no response id column: the id is a hash of the row"))
    plan.columns[question.name] = Note("question", notes.guess("surveys", "question", question.name,
                                                               f"{question.distinct} questions, repeated on {question.filled:,} rows"))
    plan.columns[value.name] = Note("score", f"the answers: {value.numeric_share:.0%} numbers")
    taken: set[str] = set()
    mapping, text_items = {}, []
    scores = frame[value.name]
    asked = frame[question.name].astype(str).str.strip()
    for label, count in asked[frame[question.name].notna()].value_counts().items():
        rows = scores[asked == label]
        texts = rows.dropna().astype(str).str.strip()
        numbers = _numbers(texts)
        qid = label if re.fullmatch(r"[a-z][a-z0-9_]*", label) else _unique_id(_slug(label, "q_"), taken)
        taken.add(qid)
        if qid != label:
            mapping[label] = qid
        if len(texts) and len(numbers) < 0.5 * len(texts):
            text_items.append(Note(qid, f"{_quote(label)}: {1 - len(numbers) / len(texts):.0%} of {len(texts):,} answers are text"))
            plan.texts.append(texts[_numbers(texts, keep=False)])
            continue
        if not len(numbers):
            continue
        plan.questions.append(Question(qid, label, float(numbers.min()), float(numbers.max()), int(len(numbers))))
    if mapping:
        plan.tree["values"] = Note({"question": mapping}, "the questions as they are exported -> question ids of stages.yaml")
    if text_items:
        notes.guess("surveys", "text_questions", ", ".join(str(n.value) for n in text_items), "items answered in words, not scores")
        plan.tree["text_questions"] = Note(text_items, "their answers become the response's comment")


def _response_column(plan: Plan, question: Col, used: set[str]) -> str | None:
    """The response id: unique per (response, question), named like one where several are."""
    frame = plan.sample.frame
    found = []
    for col in plan.cols.values():
        if col.name in used or not col.idlike or col.filled < 0.95 * col.rows:
            continue
        pairs = frame[[col.name, question.name]].dropna()
        if pairs.duplicated().mean() > 0.05:
            continue
        found.append(col)
    if not found:
        return None
    named = ("response", "submission", "answer", "survey", "form", "ответ", "анкет")
    chosen = max(found, key=lambda c: (_named(c.name, named), not _named(c.name, CUSTOMER_WORDS), _is_id_name(c.name), c.unique))
    return chosen.name


def _wide_survey(plan: Plan, notes: Notes, used: set[str]) -> None:
    """One row per response, a column per question: melted into one row per answer."""
    _record_id(plan, notes, "response_id", used, ("response", "submission", "answer", "survey", "form", "ответ", "анкет"))
    scored = [c for c in plan.cols.values() if c.name not in used and c.small_scale() and not _named(c.name, CUSTOMER_WORDS)
              and not _named(c.name, NOT_SCORE_WORDS)]
    if not scored:
        plan.columns[Comment(notes.todo("cjm.yaml", "sources.surveys.columns",
                                        "no question or score column found: map yours (question and score, or melt a column per question)"))] = None
        return
    taken: set[str] = set()
    melted = {}
    for col in scored:
        qid = _unique_id(_slug(col.name, "q_"), taken)
        melted[col.name] = Note(qid, f"values {col.numbers.min():g}..{col.numbers.max():g} in {len(col.numbers):,} answers")
        plan.questions.append(Question(qid, col.name, float(col.numbers.min()), float(col.numbers.max()), len(col.numbers)))
        used.add(col.name)
    plan.units = None
    notes.guess("surveys", "melt", f"{len(scored)} question column(s)", f"{', '.join(c.name for c in scored[:6])}: whole numbers in 0..10")
    plan.tree["melt"] = Note({"variable": "question", "value": "score", "columns": Note(melted, "your column: question id")},
                             "one row per response, a column per question: one row per answer")
