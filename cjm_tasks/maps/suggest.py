"""Catalog suggestions: what a quarter's unmatched complaints say that the catalog does not.

``cjm catalog suggest`` reads a quarter's inputs as the refresh does, prepares them
(:func:`cjm_tasks.maps.prepared.prepare`) and looks at the **negative texts that match no catalog
barrier**: a score at most ``detection.negative_score`` of its scale without positive wording, or
negative wording (lexicon sentiment below 0) where a text has no score. Words are compared by
their Snowball stems (Russian for Cyrillic words, else the project's language), stop words left
out. From those texts it proposes, each list ranked by the distinct customers behind an entry (a
text without a customer id counts as one):

- **additions** to catalog barriers, first: a text goes to the barrier it shares the most
  telling words with, if they weigh 2 or more. Telling words of a barrier: the words of its
  multi-word keywords (1) and of its examples (0.5) that at most 5% of the quarter's texts use,
  and the words found in at least three of the sentences where its keywords matched, at least
  half of the matched sentences holding the word, in complaints rather than everywhere (twice
  as frequent in negative texts as in the others) (1). Never a word that is a single-word keyword
  of the barrier or part of its exclude phrases (an unmatched text holding "queue" was turned
  down by an exclusion or a negation), never a sentiment word, and a word two barriers claim
  tells nothing. Proposed as new keywords (two-word phrases of those texts holding the shared
  words, used at least twice) and examples, under the barrier's id.
- **new barriers**, from the other texts: recurring two-word phrases
  (:func:`~cjm_tasks.maps.text.text_bigrams`, counted by stems) used by at least
  ``detection.theme_floor`` customers and distinctive of these texts: twice as frequent in them as
  in the matched negative texts and in the other texts, and mostly used by them (so a closing
  such as "very disappointed" that every complaint uses, or a phrase a stage's texts open with,
  is no theme). Phrases join greedily, most used first: a phrase mostly used by the texts of a
  group already formed, or sharing with it a word stem itself distinctive of these texts, joins
  that group. Each group becomes a catalog entry skeleton: a label (its most representative
  sentence, as an emerging theme's title is chosen), an id made from the label, the stage most
  of its texts were given with, its phrases as keywords and its most representative sentences
  as examples, in its texts' majority language.

The result is YAML (:func:`to_yaml`) a user pastes into ``barriers.yaml``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cjm_tasks.maps.barriers import (content_stems, majority_language, representative_sentences, shorten, text_languages,
                                theme_label, with_keys)
from cjm_tasks.maps.keywords import stem_word
from cjm_tasks.config import CjmConfig, localize
from cjm_tasks.maps.personas import ALL_PERSONA
from cjm_tasks.maps.text import matched_sentence, normalize_one, text_bigrams

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.maps.prepared import Prepared

RARE_SHARE = 0.05
"""A content word of more than this share of the quarter's texts ties a text to no barrier."""
MAX_KEYWORDS = 5
MAX_MATCHED = 2000
"""Matched sentences read per catalog barrier to learn the words its complaints use."""
MAX_EXAMPLES = 5
SAMPLES = 3
SAMPLE_CHARS = 160
_KEYWORD_WEIGHT, _EXAMPLE_WEIGHT, _ENOUGH = 1.0, 0.5, 2.0
_TRANSLIT = str.maketrans({"а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i", "й": "y",
                           "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
                           "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "",
                           "э": "e", "ю": "yu", "я": "ya"})


@dataclass(frozen=True)
class Suggestion:
    """One proposal for the catalog.

    ``kind`` is ``new`` (a barrier to add, ``id`` made from ``label``) or ``addition``
    (``keywords`` and ``examples`` to add to the catalog barrier ``id``). ``customers``: distinct
    customers of its texts (a text without a customer id counts as one); ``texts``: how many
    texts; ``samples``: a few of them verbatim (whitespace collapsed, cut to 160 characters).
    """

    kind: str
    id: str
    stage: str
    language: str
    label: str
    keywords: list[str]
    examples: list[str]
    customers: int
    texts: int
    samples: list[str] = field(default_factory=list)

    def entry(self) -> dict[str, Any]:
        """The YAML entry: a catalog barrier skeleton (``new``) or the lists to merge (``addition``)."""
        lang = self.language
        if self.kind == "addition":
            out: dict[str, Any] = {"id": self.id}
            if self.keywords:
                out["keywords"] = {lang: list(self.keywords)}
            if self.examples:
                out["examples"] = {lang: list(self.examples)}
            return out
        return {"id": self.id, "stage": self.stage, "title": {lang: self.label}, "recommendation": {"en": "TODO"},
                "keywords": {lang: list(self.keywords)}, "examples": {lang: list(self.examples)}}


def negative_unmatched(prepared: Prepared, config: CjmConfig) -> pd.DataFrame:
    """The quarter's texts (each once, with ``who``) that are negative and match no catalog barrier.

    Negative: scored at most ``detection.negative_score`` (0..1, 1 best) without positive
    wording, or unscored with negative wording.
    """
    texts = _quarter_texts(prepared)
    return texts[_negative(texts, config) & ~texts["row"].isin(set(prepared.matches["row"]))].reset_index(drop=True)


def suggest(prepared: Prepared, config: CjmConfig, top: int = 10) -> list[Suggestion]:
    """Suggestions from the negative texts of ``prepared`` that match no catalog barrier: up
    to ``top`` new barriers, then up to ``top`` additions to catalog barriers, each most customers
    first (ties: more texts, then by id). Empty when there is no such text."""
    texts = _quarter_texts(prepared)
    if texts.empty or top <= 0:
        return []
    negative = _negative(texts, config)
    matched = texts["row"].isin(set(prepared.matches["row"]))
    if not (negative & ~matched).any():
        return []
    latin = _latin(config)
    # Each text's content stems once: every step below compares texts by them.
    texts = texts.assign(stems=[content_stems(str(norm), latin) for norm in texts["norm"]])
    unmatched = texts[negative & ~matched]
    unmatched = unmatched.assign(lang=text_languages(unmatched, config.project.language))
    additions, assigned = _additions(texts, negative, unmatched, prepared.matches, config)
    rest = unmatched[~unmatched["row"].isin(assigned)]
    sides = {"unmatched": rest["row"], "matched": texts.loc[negative & matched, "row"], "other": texts.loc[~negative, "row"]}
    ranked = lambda found: sorted(found, key=lambda s: (-s.customers, -s.texts, s.id))[:top]
    return ranked(_new_barriers(texts, rest, sides, config)) + ranked(additions)


def to_yaml(suggestions: list[Suggestion], period: str | None = None) -> str:
    """``suggestions`` as YAML to paste into barriers.yaml: ``catalog`` (new entries, a
    placeholder recommendation each) and ``additions`` (keywords and examples per catalog
    barrier id), each entry after comments with its rank in its list (``suggestions`` are in
    rank order), counts and sample texts. Untrusted
    text sits only in YAML values (quoted by the dumper) and in comments with line breaks and
    control characters removed, so the output always parses with ``yaml.safe_load``."""
    import yaml

    def dump(entry: dict[str, Any]) -> list[str]:
        text = yaml.safe_dump([entry], allow_unicode=True, sort_keys=False, width=1000, default_flow_style=False)
        return ["  " + line for line in text.splitlines()]

    where = f" for {period}" if period else ""
    lines = [f"# Catalog suggestions{where}, from negative texts that match no catalog barrier,",
             "# ranked by distinct customers (a text without a customer id counts as one).",
             "# catalog: new barriers; paste them under `catalog:` in barriers.yaml after writing each",
             "#   `recommendation` (a TODO placeholder here) and checking title, stage and keywords.",
             "# additions: keywords and examples for barriers already in the catalog; merge each list",
             "#   into the barrier with the same id."]
    for kind, key in (("new", "catalog"), ("addition", "additions")):
        chosen = list(enumerate((s for s in suggestions if s.kind == kind), 1))
        if not chosen:
            lines.append(f"{key}: []")
            continue
        lines.append(f"{key}:")
        for rank, s in chosen:
            lines.append(f"  # {rank}. {_comment(s.label)}: {s.customers} customers, {s.texts} texts")
            lines.extend(f"  #   sample: {_comment(t)}" for t in s.samples)
            if kind == "new":
                lines.append("  #   recommendation: TODO placeholder, write what to do before pasting")
            lines.extend(dump(s.entry()))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ helpers


def _quarter_texts(prepared: Prepared) -> pd.DataFrame:
    """Every text of the quarter once (the ``all`` persona holds each), with ``who``."""
    texts = prepared.texts
    if len(texts) and "persona" in texts.columns:
        texts = texts[texts["persona"] == ALL_PERSONA]
    texts = texts.drop_duplicates("row").reset_index(drop=True)
    return with_keys(texts) if len(texts) else texts.assign(who=None)


def _negative(texts: pd.DataFrame, config: CjmConfig) -> pd.Series:
    low = (texts["score01"] <= config.barriers.detection.negative_score) & ~(texts["sentiment"] > 0)
    return low | (texts["score01"].isna() & (texts["sentiment"] < 0))


def _latin(config: CjmConfig) -> str:
    """The language whose stemmer reads Latin-script words: the project's, unless it is Russian."""
    return config.project.language if config.project.language != "ru" else "en"


def _stems_of_phrases(phrases: list[str], latin: str) -> set[str]:
    return {stem for p in phrases for stem in content_stems(normalize_one(p.replace("*", " ")), latin)}


def _telling_stems(texts: pd.DataFrame, negative: pd.Series, matches: pd.DataFrame, config: CjmConfig) -> dict[str, tuple[str, float]]:
    """{stem: (catalog barrier id, weight)}: the words that tie a text to one barrier (see the
    module docstring). ``texts``: the quarter's texts with their ``stems``; ``negative``: which
    of them are negative. Matched sentences are words of the sentence holding the matched
    keyword, not of the whole text, whose other sentences may be about anything (at most
    ``MAX_MATCHED`` per barrier are read).
    """
    latin = _latin(config)
    lexicon = config.barriers.sentiment
    opinion = _stems_of_phrases([w for side in (lexicon.positive, lexicon.negative) for ws in side.values() for w in ws], latin)
    stems = texts["stems"].tolist()
    used = Counter(stem for words in stems for stem in words)
    limit = RARE_SHARE * len(texts)
    claims: dict[str, dict[str, float]] = {}
    refused: dict[str, set[str]] = {}
    for barrier in config.barriers.catalog:
        keywords = [k for ks in barrier.keywords.values() for k in ks]
        examples = [e for es in (getattr(barrier, "examples", None) or {}).values() for e in es]
        refused[barrier.id] = (_stems_of_phrases([k for k in keywords if len(k.split()) == 1], latin)
                               | _stems_of_phrases([k for ks in barrier.exclude.values() for k in ks], latin) | opinion)
        weights = {stem: _EXAMPLE_WEIGHT for stem in _stems_of_phrases(examples, latin)}
        weights.update({stem: _KEYWORD_WEIGHT for stem in _stems_of_phrases([k for k in keywords if len(k.split()) > 1], latin)})
        for stem, weight in weights.items():
            if stem not in refused[barrier.id] and used[stem] <= limit:
                claims.setdefault(stem, {})[barrier.id] = weight
    in_negative = Counter(stem for words, low in zip(stems, negative) if low for stem in words)
    text_of = dict(zip(texts["row"], texts["text"]))
    sentence_stems: dict[int, set[str]] = {}
    by_barrier: Counter[tuple[str, str]] = Counter()
    read: Counter[str] = Counter()
    for row, label, found in zip(matches["row"], matches["label"], matches.get("found", [None] * len(matches))):
        if row not in text_of or not isinstance(found, str) or not found or read[label] >= MAX_MATCHED:
            continue
        read[label] += 1
        sentence, span = matched_sentence(str(text_of[row]), found, len(str(text_of[row])) + 1)
        if span is None:
            continue
        words = content_stems(normalize_one(sentence), latin)
        sentence_stems.setdefault(row, set()).update(words)
        by_barrier.update((stem, label) for stem in words)
    matched_with = Counter(stem for words in sentence_stems.values() for stem in words)
    negatives, others = max(1, int(negative.sum())), max(1, int((~negative).sum()))
    for (stem, barrier_id), n in by_barrier.items():
        complaint_word = in_negative[stem] / negatives >= 2 * (used[stem] - in_negative[stem]) / others
        if (n >= 3 and 2 * n >= matched_with[stem] and complaint_word and barrier_id in refused
                and stem not in refused[barrier_id]):
            claims.setdefault(stem, {})[barrier_id] = _KEYWORD_WEIGHT
    return {stem: next(iter(owners.items())) for stem, owners in claims.items() if len(owners) == 1}


def _additions(texts: pd.DataFrame, negative: pd.Series, unmatched: pd.DataFrame, matches: pd.DataFrame, config: CjmConfig
               ) -> tuple[list[Suggestion], set[int]]:
    """Additions to catalog barriers (from ``unmatched``: the unmatched negative texts), and the
    rows of the texts they took."""
    latin = _latin(config)
    telling = _telling_stems(texts, negative, matches, config)
    order = {b.id: i for i, b in enumerate(config.barriers.catalog)}
    chosen: dict[str, list[tuple[int, set[str]]]] = {}
    for position, norm in enumerate(unmatched["norm"]):
        # Content words only, each with its stem (a one-word text gives the word's stem if it is one).
        words = {w: stem for w in set(str(norm).split()) for stem in content_stems(f" {w} ", latin) if stem in telling}
        scores: dict[str, float] = {}
        for stem in set(words.values()):
            barrier_id, weight = telling[stem]
            scores[barrier_id] = scores.get(barrier_id, 0.0) + weight
        if not scores:
            continue
        best = min(scores, key=lambda b: (-scores[b], order[b]))
        if scores[best] >= _ENOUGH:
            chosen.setdefault(best, []).append((position, {w for w, stem in words.items() if telling[stem][0] == best}))
    floor = config.barriers.detection.theme_floor
    catalog = {b.id: b for b in config.barriers.catalog}
    out, taken = [], set()
    for barrier_id, hits in chosen.items():
        group = unmatched.iloc[[p for p, _ in hits]]
        if group["who"].nunique() < floor:
            continue
        language = majority_language(list(group["lang"]), config.project.language)
        in_language = group[group["lang"] == language]
        barrier = catalog[barrier_id]
        known_keywords = {normalize_one(k.rstrip("*")).strip() for ks in barrier.keywords.values() for k in ks}
        known_examples = {normalize_one(e).strip() for es in (getattr(barrier, "examples", None) or {}).values() for e in es}
        shared = Counter(w for p, words in hits if unmatched["lang"].iloc[p] == language for w in words)
        bigrams = text_bigrams(in_language.set_index("row")["norm"], normalized=True)
        phrases = bigrams[bigrams["phrase"].map(lambda p: any(w in shared for w in p.split())).astype(bool)]
        counted = phrases.groupby("phrase").size().sort_values(ascending=False, kind="stable")
        keywords = [p for p, n in counted.items() if n >= 2 and p not in known_keywords][:MAX_KEYWORDS]
        found_by = keywords or [w for w, _ in shared.most_common(MAX_KEYWORDS)]
        examples = [e for e in representative_sentences(in_language, found_by, MAX_EXAMPLES * 2, SAMPLE_CHARS, latin)
                    if normalize_one(e).strip() not in known_examples][:MAX_EXAMPLES]
        if not keywords and not examples:
            continue
        out.append(Suggestion(kind="addition", id=barrier_id, stage=barrier.stage, language=language,
                              label=localize(barrier.title, language), keywords=keywords, examples=examples,
                              customers=int(group["who"].nunique()), texts=len(group), samples=_samples(group)))
        taken |= set(group["row"])
    return out, taken


def _new_barriers(texts: pd.DataFrame, rest: pd.DataFrame, sides: dict[str, pd.Series], config: CjmConfig) -> list[Suggestion]:
    """Catalog entry skeletons for the recurring themes of ``rest`` (unmatched negative texts no
    addition took); ``sides`` holds the rows of the unmatched, matched negative and other texts.

    Phrases are counted by the stems of their words (so "parking lot" and "parking lots" are one),
    shown in their most used spelling. A phrase joins a group formed before it when most of its
    texts are the group's, or when it shares a word stem with the group's phrases that is itself
    distinctive of the unmatched negative texts ("кассе", "кассам": one complaint about the tills).
    """
    import pandas as pd

    if rest.empty:
        return []
    latin = _latin(config)
    floor = config.barriers.detection.theme_floor
    side = pd.concat([pd.DataFrame({"row": rows, "side": name}) for name, rows in sides.items()], ignore_index=True)
    sizes = {name: max(1, len(rows)) for name, rows in sides.items()}

    def distinctive(counts: pd.DataFrame) -> pd.Series:
        # Twice as frequent in the unmatched negative texts as in the matched ones and in the
        # others, and mostly used by them: a phrase every text of a stage opens with is neither.
        counts = counts.unstack(fill_value=0).reindex(columns=list(sides), fill_value=0)
        share = counts["unmatched"] / sizes["unmatched"]
        return ((counts["unmatched"] >= floor) & (share >= 2 * counts["matched"] / sizes["matched"])
                & (share >= 2 * counts["other"] / sizes["other"]) & (2 * counts["unmatched"] >= counts.sum(axis=1)))

    stem_rows = texts[["row", "stems"]].explode("stems").dropna().rename(columns={"stems": "stem"}).merge(side, on="row")
    telling = distinctive(stem_rows.groupby(["stem", "side"]).size())
    telling = set(telling[telling].index)
    bigrams = text_bigrams(texts.set_index("row")["norm"], normalized=True).merge(side, on="row")
    bigrams["key"] = bigrams["phrase"].map(lambda phrase: " ".join(stem_word(w, latin) for w in phrase.split()))
    bigrams = bigrams.drop_duplicates(["row", "key"])
    wanted = distinctive(bigrams.groupby(["key", "side"]).size())
    ours = bigrams[(bigrams["side"] == "unmatched") & bigrams["key"].map(wanted).fillna(False).astype(bool)].merge(rest[["row", "who"]], on="row")
    customers = ours.groupby("key")["who"].nunique()
    candidates = customers[customers >= floor]
    if candidates.empty:
        return []
    ours = ours[ours["key"].isin(candidates.index)]
    rows_of = ours.groupby("key")["row"].agg(set)
    spelled = ours.groupby(["key", "phrase"]).size().rename("n").reset_index().sort_values(["key", "n", "phrase"], ascending=[True, False, True])
    surface = spelled.drop_duplicates("key").set_index("key")["phrase"]
    clusters: list[tuple[list[str], set[int], set[str]]] = []  # (phrases, rows, distinctive stems)
    for key in sorted(candidates.index, key=lambda k: (-int(candidates[k]), k)):
        rows, stems = rows_of[key], set(key.split()) & telling
        homes = [c for c in clusters if len(rows & c[1]) > 0.5 * min(len(rows), len(c[1])) or stems & c[2]]
        if not homes:
            clusters.append(([surface[key]], set(rows), stems))
            continue
        # A phrase that links two groups makes them one.
        home = homes[0]
        for other in homes[1:]:
            home[0].extend(other[0])
            home[1].update(other[1])
            home[2].update(other[2])
            clusters.remove(other)
        home[0].append(surface[key])
        home[1].update(rows)
        home[2].update(stems)

    taken = {b.id for b in config.barriers.catalog}
    out = []
    for phrases, rows, _ in clusters:
        members = rest[rest["row"].isin(rows)]
        language = majority_language(list(members["lang"]), config.project.language)
        in_language = members[members["lang"] == language]
        keywords = phrases[:MAX_KEYWORDS]
        examples = representative_sentences(in_language, keywords, MAX_EXAMPLES, SAMPLE_CHARS, latin)
        label = theme_label(in_language, keywords, latin)
        barrier_id = _unique(_slug(label, phrases[0]), taken)
        taken.add(barrier_id)
        out.append(Suggestion(kind="new", id=barrier_id, stage=_stage(members, config), language=language, label=label,
                              keywords=keywords, examples=examples or [label], customers=int(members["who"].nunique()),
                              texts=len(members), samples=_samples(members)))
    return out


def _stage(texts: pd.DataFrame, config: CjmConfig) -> str:
    """The stage most of ``texts`` were given with (ties: the earlier stage); without any, the
    stage ``prepare`` places a text without one at (``experience``, else the last stage)."""
    given = texts.loc[texts["stage_given"].astype(bool), "stage"].value_counts()
    if given.empty:
        return "experience" if "experience" in config.stage_ids else config.stage_ids[-1]
    order = {s: i for i, s in enumerate(config.stage_ids)}
    return min(given.index, key=lambda s: (-int(given[s]), order.get(s, len(order))))


def _samples(texts: pd.DataFrame) -> list[str]:
    """A few distinct texts, most negative first: one line each, cut to ``SAMPLE_CHARS``."""
    ordered = texts.assign(_score=texts["score01"].fillna(0.5)).sort_values(["_score", "row"], kind="stable")
    out: list[str] = []
    for text in ordered["text"]:
        line = shorten(" ".join(str(text).split()), SAMPLE_CHARS)
        if line and line not in out:
            out.append(line)
        if len(out) == SAMPLES:
            break
    return out


def _comment(text: str) -> str:
    """``text`` safe inside a YAML comment: on one line, no control characters."""
    return "".join(c for c in " ".join(str(text).split()) if c.isprintable())


def _slug(label: str, phrase: str) -> str:
    """An id (``[a-z0-9_]``) from the label's first content words, transliterated from Russian;
    from the phrase's hash when nothing is left."""
    words = [w for w in normalize_one(label).split() if w.isalnum() and not w.isdigit()]
    content = [w for w in words if len(w) > 2 and content_stems(f" {w} ")] or words
    ascii_words = ["".join(c for c in w.translate(_TRANSLIT) if c.isascii() and c.isalnum()) for w in content]
    slug = "_".join([w for w in ascii_words if w][:4])
    return slug[:48].strip("_") or f"theme_{hashlib.sha1(normalize_one(phrase).encode()).hexdigest()[:8]}"


def _unique(candidate: str, taken: set[str]) -> str:
    if candidate not in taken:
        return candidate
    n = 2
    while f"{candidate}_{n}" in taken:
        n += 1
    return f"{candidate}_{n}"
