"""Catalog matching that reads how customers write: word forms, gapped phrases, negation and
similarity to example sentences, with the source of every match recorded.

A catalog barrier (``configs/barriers.yaml``) has keywords and, optionally, example sentences, per
language. :class:`CatalogMatcher` finds them in a period's texts:

**Word forms.** Each word of a keyword matches any form of it: the texts' vocabulary is reduced
with the Snowball stemmer of the keyword's language (PyStemmer; English, Russian, Portuguese and
the other Snowball languages), and for Russian also with the lexeme of the word in the pymorphy3
dictionary, so ``наличные`` finds наличными and ``принимать`` finds принимают. Only the forms that
occur in the period's texts are added, as plain words, to one Aho-Corasick automaton
(pyahocorasick): matching stays a single pass over the joined texts. A
word ending in ``*`` keeps matching any word that starts with it, as before.

A word written ``=como`` matches that word only (no other forms: Snowball reads "como" and
"com" as one stem).

**Gaps.** ``only ... cash`` allows up to ``gap_words`` words between its parts ("only take
cash"); the parts are found in the same pass and joined afterwards, within one sentence.

**Negation.** ``~accept ... card`` counts only with a negation word (``negations``: not, n't, no,
не, нет, без, não...) at most ``negated_window`` words before it ("they did not accept my card").
Any other keyword that holds no negation itself does not count after a negation at most
``negation_window`` words before it ("no queue at all", "не было очереди", "não atrasou").

**Similarity.** Each sentence of a text that is not praise (a score above ``max_score``) is
classified by a small model built from the configuration alone, the same every quarter (nothing
is downloaded): logistic regression (scikit-learn) over character 3-4-gram and word-stem TF-IDF
features, trained on the catalog's example sentences, on ``neutral`` sentences (catalog words
used without complaining: "paid by card, no queue") and on ``other`` complaints (what the catalog
does not list) as two classes of their own. A sentence matches its most likely barrier when that
probability is at least ``threshold``, beats neutral and other by ``margin``, and the sentence
shares a word stem with one of the barrier's examples (``min_cosine``). A (text, barrier) pair
found by a keyword is not looked for by similarity.

Every match records ``via``: ``keyword`` or ``similarity`` (with its ``score``, the probability).

Keyword parsing, word forms and the automaton are in :mod:`~cjm_tasks.maps.keywords`, the
negation rules in :mod:`~cjm_tasks.maps.negation`, the classifier in
:mod:`~cjm_tasks.maps.similarity`; :class:`CatalogMatcher` here puts them together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from cjm_tasks.maps.distinct import distinct, spread
from cjm_tasks.maps.keywords import CYRILLIC_LANGS, MAX_PARTS, SNOWBALL, Keyword, Scanner, WordForms, look_up_lexemes, parse_keyword, part_pattern, phrase_variants
from cjm_tasks.maps.negation import Negations, clause_after, clause_before, sentence_before
from cjm_tasks.maps.similarity import ExampleModel
from cjm_tasks.maps.text import BOUNDARY, CLAUSE, matched_words, normalize

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from cjm_tasks.config import CatalogBarrier, MatchingConfig

MATCH_COLUMNS = {"row": "int64", "label": "str", "keyword": "str", "found": "str", "via": "str", "score": "float64"}


@dataclass
class MatchSettings:
    """What :class:`CatalogMatcher` reads of the ``matching`` configuration, flat (the similarity
    settings beside the others), with ``word_forms`` and ``similarity`` as switches. Its defaults
    name no negation, hedge or neutral words (the configuration's defaults are
    :class:`~cjm_tasks.config.MatchingConfig`'s), so a matcher built in a test holds only the
    rules it is given."""

    word_forms: bool = True
    similarity: bool = True
    gap_words: int = 3
    negation_window: int = 2
    negated_window: int = 3
    negations: Mapping[str, Sequence[str]] = field(default_factory=dict)
    negations_after: Mapping[str, Sequence[str]] = field(default_factory=dict)
    negation_idioms: Mapping[str, Sequence[str]] = field(default_factory=dict)
    hedges: Mapping[str, Sequence[str]] = field(default_factory=dict)
    contrasts: Mapping[str, Sequence[str]] = field(default_factory=dict)
    fillers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    threshold: float = 0.25
    margin: float = 0.0
    min_cosine: float = 0.1
    min_words: int = 2
    neutral: Mapping[str, Sequence[str]] = field(default_factory=dict)
    other: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, matching: MatchingConfig, word_forms: bool = True, similarity: bool = True) -> MatchSettings:
        """The settings of a ``matching`` section: each field from the field of the same name in
        the section or in its ``similarity`` part; ``word_forms`` or ``similarity`` False turns
        that pass off whatever the section says."""
        given = {**matching.similarity.model_dump(), **matching.model_dump(exclude={"similarity"})}
        values = {f.name: given[f.name] for f in fields(cls) if f.name not in ("word_forms", "similarity")}
        return cls(word_forms=word_forms and matching.word_forms, similarity=similarity and matching.similarity.enabled, **values)


def _distinct(values, counts: bool = False):
    """Sorted distinct values of an int64 array (and how often each occurs): ``np.unique`` by a
    sort, which numpy 2's hash-based unique is several times slower than on millions of ints."""
    import numpy as np

    ordered = np.sort(values, kind="stable")
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(ordered) else np.zeros(0, dtype=bool)
    distinct = ordered[first]
    if not counts:
        return distinct
    return distinct, np.diff(np.r_[np.flatnonzero(first), len(ordered)])


def _between(text: str, end: int, start: int) -> str:
    """The text between one part's hit and the next one's: a prefix part (`seat*`) may end inside
    its word, whose rest is neither a gap word nor a negation ("seat" is not "sea" + "t")."""
    between = text[end:start]
    if end and text[end - 1] != " " and between[:1] not in ("", " "):
        between = between.partition(" ")[2]
    return between


class CatalogMatcher:
    """Finds catalog barriers in texts: keywords (word forms, gaps, negation) and similarity.

    ``CatalogMatcher(catalog, settings)``; :meth:`match` returns one row per (text, barrier):
    ``row`` (position in the texts), ``label`` (barrier id), ``keyword`` (the catalog keyword, or
    for similarity the nearest example sentence), ``found`` (the words that matched, normalised;
    for similarity the sentence), ``via`` (keyword | similarity) and ``score`` (1 for a keyword,
    the cosine for similarity).
    """

    def __init__(self, catalog: Sequence[CatalogBarrier], settings: MatchSettings | None = None):
        self.settings = settings or MatchSettings()
        self.keywords: list[Keyword] = []
        for barrier in catalog:
            for excluded, source in ((False, barrier.keywords), (True, barrier.exclude)):
                for language, words in source.items():
                    self.keywords.extend(parse_keyword(barrier.id, w, language, excluded) for w in words)
        st = self.settings
        self._negations = {lang: Negations.parse(words, st.negations_after.get(lang, ()), st.negation_idioms.get(lang, ()),
                                                  st.hedges.get(lang, ()), st.contrasts.get(lang, ()), st.fillers.get(lang, ()))
                           for lang, words in st.negations.items()}
        self._negation_regex = self._negation_pattern()
        examples: dict[str, list[str]] = {}
        for barrier in catalog:
            sentences = [s for ss in barrier.examples.values() for s in ss]
            if sentences:
                examples[barrier.id] = sentences
        neutral = [s for ss in self.settings.neutral.values() for s in ss]
        other = [s for ss in self.settings.other.values() for s in ss]
        languages = [lang for b in catalog for lang in b.examples] + list(self.settings.neutral)
        latin = next((lang for lang in languages if lang not in CYRILLIC_LANGS and lang in SNOWBALL), "en")
        self.model = ExampleModel.build(examples, neutral, latin, other) if self.settings.similarity and examples else None

    def look_up_word_forms(self) -> None:
        """Look up the dictionary forms of the keywords' Russian words now
        (:func:`~cjm_tasks.maps.keywords.look_up_lexemes`), not in the first :meth:`match`: a
        matcher built on a thread of its own is then ready to match at once."""
        if self.settings.word_forms:
            look_up_lexemes(self.keywords)

    def _negation_pattern(self) -> str | None:
        """An RE2 pattern finding any word the negation rules read (negations, hedges, the words
        of negating phrases), in any language: a text without one needs no window check."""
        whole: set[str] = set()
        prefixes: set[str] = set()
        for negations in self._negations.values():
            for words in (negations, negations.hedges):
                whole |= set(words.whole)
                prefixes |= set(words.prefixes)
            whole |= {w for phrase in negations.after for w in phrase}
        if not whole and not prefixes:
            return None
        alternatives = [re.escape(w) for w in sorted(whole)] + [re.escape(p) + r"[^\s]*" for p in sorted(prefixes)]
        return r"(?:^|\s)(?:" + "|".join(alternatives) + r")(?:\s|$)"

    def _has_negation(self, keyword: Keyword) -> bool:
        negations = self._negations.get(keyword.language)
        return negations is not None and any(negations.is_before(w) for part in keyword.parts for w, _ in part)

    # -- keyword pass -------------------------------------------------------------------

    def _scanner(self, vocabulary: set[str] | None, frequency: Mapping[str, int], texts: int
                 ) -> tuple[Scanner, dict[tuple[int, int], re.Pattern[str]]]:
        """One automaton for the parts of every keyword (all their word forms), and regular
        expressions for the parts left out of it.

        A part of a gapped keyword whose words occur more often than once in a hundred texts
        ("only", "заказ", "not") is left out when the keyword has a rare part (ten times rarer):
        scanning for common words returns millions of hits to discard. It is looked for
        afterwards, only in the texts where every scanned part of its keyword occurs."""
        forms = WordForms(vocabulary) if vocabulary is not None else None
        limit = max(1.0, 0.01 * texts)
        variants: list[tuple[str, int, int]] = []
        deferred: dict[tuple[int, int], re.Pattern[str]] = {}
        for n, keyword in enumerate(self.keywords):
            parts = [phrase_variants(part, keyword.language, forms) for part in keyword.parts]
            cost = [float("inf") if any("*" in v for v in vs) else sum(frequency.get(v.split()[0], 0) for v in vs) for vs in parts]
            rarest = min(range(len(parts)), key=lambda i: (cost[i], i))
            for i, vs in enumerate(parts):
                if len(parts) > 1 and i != rarest and limit < cost[i] < float("inf") and cost[rarest] * 10 <= limit:
                    deferred[(n, i)] = part_pattern(vs)
                else:
                    variants.extend((v, n, i) for v in vs)
        return Scanner(variants), deferred

    def keyword_matches(self, norm: pd.Series) -> pd.DataFrame:
        """Keyword hits (columns as :meth:`match`, ``via`` keyword, and ``start``: the offset of
        the match in its normalised text) in normalised texts, each distinct text read once."""
        codes, values = distinct(norm)
        return spread(self._keyword_matches(values, codes), codes)

    def _keyword_matches(self, norm: pd.Series, codes: np.ndarray) -> pd.DataFrame:
        """:meth:`keyword_matches` of distinct texts ``norm`` (``row``: their position), which stand
        for the texts ``norm.iloc[codes]``: the word counts that choose which keyword parts are
        scanned are those of all these texts, so the result does not depend on the repeats."""
        import numpy as np
        import pandas as pd

        if not self.keywords or len(norm) == 0:
            return _empty(start=True)
        values = norm.to_numpy(dtype=object).tolist()
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow = pa.array(values, type=pa.large_string())
        words = pc.utf8_split_whitespace(arrow)
        repeats = np.bincount(codes, minlength=len(values))
        counted = pa.table({"word": pc.list_flatten(words), "n": repeats[pc.list_parent_indices(words).to_numpy()]}
                           ).group_by("word").aggregate([("n", "sum")])
        frequency = dict(zip(counted["word"].to_pylist(), counted["n_sum"].to_pylist()))
        vocabulary = set(frequency) if self.settings.word_forms else None
        # Texts holding no negation, hedge or negating phrase of any language need no window check.
        pattern = self._negation_regex
        negatable = pc.match_substring_regex(arrow, pattern).to_numpy(zero_copy_only=False) if pattern else np.zeros(len(values), bool)
        scanner, deferred = self._scanner(vocabulary, frequency, len(codes))
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        joined = "\n".join(values)
        row, start, stop, kw, part = scanner.scan(joined, starts)
        if len(row) == 0:
            return _empty(start=True)
        n_parts = np.array([len(k.parts) for k in self.keywords], dtype=np.int64)
        scanned = n_parts - np.bincount([k for k, _ in deferred], minlength=len(self.keywords))
        gapped = n_parts[kw] > 1
        # A gapped keyword is assembled only in texts where every scanned part of it occurs: the
        # distinct (text, keyword, part) triples counted per (text, keyword), in numpy.
        key = row[gapped] * len(self.keywords) + kw[gapped]
        triples = _distinct(key * (MAX_PARTS + 1) + part[gapped])
        keys, parts_found = _distinct(triples // (MAX_PARTS + 1), counts=True)
        complete = np.zeros(len(row), dtype=bool)
        complete[np.flatnonzero(gapped)] = parts_found[np.searchsorted(keys, key)] == scanned[kw[gapped]]
        hits = pd.DataFrame({"row": row, "kw": kw, "part": part, "start": start, "end": stop})
        single = hits[~gapped]
        multi = hits[complete].sort_values(["row", "kw", "part", "start"], kind="stable")
        rows: list[tuple[int, str, str, int, int, bool, str]] = []
        for r, k, st, en in zip(single["row"].tolist(), single["kw"].tolist(), single["start"].tolist(), single["end"].tolist()):
            keyword = self.keywords[k]
            text = values[r]
            ok = (not keyword.negated) if not negatable[r] else self._negation_ok(keyword, text, st, en)
            if keyword.excluded or ok:
                rows.append((r, keyword.label, keyword.text, st, en, keyword.excluded, matched_words(text, st, en)))
        pending: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
        for r, k, p, st, en in zip(multi["row"].tolist(), multi["kw"].tolist(), multi["part"].tolist(),
                                   multi["start"].tolist(), multi["end"].tolist()):
            pending.setdefault((r, k), []).append((p, st, en))
        for (r, k), spans in pending.items():
            keyword = self.keywords[k]
            text = values[r]
            for i in range(len(keyword.parts)):
                pattern = deferred.get((k, i))
                if pattern is not None:
                    # Reported as the automaton reports a part: its stop is past the following space.
                    spans.extend((i, m.start(), m.end() + (text[m.end():m.end() + 1] == " ")) for m in pattern.finditer(text))
            if len(spans) > 1:
                spans.sort()
            for st, en, found in self._assemble(keyword, spans, values[r]):
                rows.append((r, keyword.label, keyword.text, st, en, keyword.excluded, found))
        if not rows:
            return _empty(start=True)
        frame = pd.DataFrame(rows, columns=["row", "label", "keyword", "start", "end", "excluded", "found"])
        kept, masks = frame[~frame["excluded"]], frame[frame["excluded"]]
        if not masks.empty and not kept.empty:
            pairs = kept.reset_index().merge(masks[["row", "label", "start", "end"]], on=["row", "label"], suffixes=("", "_x"))
            inside = pairs[(pairs["start_x"] <= pairs["start"]) & (pairs["end"] <= pairs["end_x"])]
            kept = kept.drop(index=inside["index"].unique())
        kept = kept.sort_values(["row", "start"], kind="stable").drop_duplicates(["row", "label"], keep="first")
        return kept.assign(via="keyword", score=1.0)[[*MATCH_COLUMNS, "start"]].reset_index(drop=True)

    def _assemble(self, keyword: Keyword, spans: list[tuple[int, int, int]], text: str) -> list[tuple[int, int, str]]:
        """Occurrences of ``keyword`` in one text from its parts' hits: parts in order, each at
        most ``gap_words`` words after the previous one within a sentence, then the negation rule.
        Every chain is tried ("comprei dois pares dos dois modelos e recebi um": the second "dois")."""
        by_part: dict[int, list[tuple[int, int, str]]] = {}
        for part, start, end in spans:
            by_part.setdefault(part, []).append((start, end, matched_words(text, start, end)))
        chains = [[hit] for hit in by_part.get(0, [])]
        for part in range(1, len(keyword.parts)):
            grown = []
            for chain in chains:
                last_end = chain[-1][1]
                for hit in by_part.get(part, []):
                    between = _between(text, last_end, hit[0])
                    # A whole-word part ends after its padding space, where the next part's starts.
                    words = [w for w in between.split() if w != CLAUSE]
                    if hit[0] >= last_end - 1 and BOUNDARY not in between and len(words) <= self.settings.gap_words:
                        grown.append(chain + [hit])
            chains = grown[:64]
        out = []
        negations = self._negations.get(keyword.language)
        for chain in chains:
            start, end = chain[0][0], chain[-1][1]
            found = " ... ".join(h[2] for h in chain)
            if keyword.excluded or negations is None:
                if keyword.excluded or not keyword.negated:
                    out.append((start, end, found))
                continue
            inside = " ".join(_between(text, a[1], b[0]) for a, b in zip(chain, chain[1:])).split()
            negated_inside = negations.negates(inside, len(inside))
            if keyword.negated:
                # "they did not accept my card", and also "they accept no card".
                ok = negated_inside or self._negation_ok(keyword, text, start, end)
            else:
                # "продавец не грубил" is not "продавец ... грубый": a negation inside the gap cancels it.
                ok = self._negation_ok(keyword, text, start, end) and (self._has_negation(keyword) or not negated_inside)
            if ok:
                out.append((start, end, found))
        return out

    def _negation_ok(self, keyword: Keyword, text: str, start: int, end: int) -> bool:
        """A ``~`` keyword needs a negation of its language at most ``negated_window`` words before
        it; any other keyword without a negation of its own must have none ``negation_window``
        words before it, nor a negation that follows it ("очереди не было", "atraso nenhum")."""
        negations = self._negations.get(keyword.language)
        if negations is None:
            return not keyword.negated
        if keyword.negated:
            before = clause_before(text, start)
            return negations.negates(before, self.settings.negated_window)
        window = self.settings.negation_window
        before = clause_before(text, start)
        if negations.hedged(sentence_before(text, start)):
            return False
        if window == 0 or self._has_negation(keyword):
            return True
        if negations.negates(before, window):
            return False
        return not negations.is_after(clause_after(text, end))


    # -- similarity pass ---------------------------------------------------------------

    def similarity_matches(self, norm: pd.Series, eligible: pd.Series | None, found: pd.DataFrame) -> pd.DataFrame:
        """Sentences of eligible texts close enough to a barrier's examples (``via`` similarity);
        pairs already in ``found`` are skipped. Each distinct text read is classified once."""
        import numpy as np

        read = np.arange(len(norm)) if eligible is None else np.flatnonzero(eligible.to_numpy(dtype=bool))
        codes, values = distinct(norm.iloc[read])
        return self._similarity_matches(values, codes, read, found)

    def _similarity_matches(self, values: pd.Series, codes: np.ndarray, read: np.ndarray, found: pd.DataFrame) -> pd.DataFrame:
        """:meth:`similarity_matches` of the texts ``read`` (positions), whose normalised texts are
        ``values.iloc[codes]``: every value is read, so each stands for at least one text."""
        import numpy as np
        import pandas as pd

        if self.model is None or len(read) == 0:
            return _empty()
        hits = spread(self._similar_sentences(values), codes, read)
        if hits.empty:
            return _empty()
        if not found.empty:
            known = pd.MultiIndex.from_frame(found[["row", "label"]])
            hits = hits[~pd.MultiIndex.from_frame(hits[["row", "label"]]).isin(known)]
        texts_of = np.array([*self.model.texts, ""], dtype=object)  # index -1: no example shares a word
        return pd.DataFrame({
            "row": hits["row"].astype("int64"), "label": hits["label"], "keyword": texts_of[hits["example"].to_numpy(dtype="int64")],
            "found": hits["sentence"], "via": "similarity", "score": hits["score"].round(4),
        })[list(MATCH_COLUMNS)].reset_index(drop=True)

    def _similar_sentences(self, norm: pd.Series) -> pd.DataFrame:
        """The best sentence of each normalised text for each barrier it is close to: columns
        ``row`` (position in ``norm``), ``sentence``, ``label``, ``score``, ``example`` (the index of
        the nearest example, -1 for none), by row then score."""
        import numpy as np
        import pandas as pd
        import pyarrow as pa
        import pyarrow.compute as pc

        columns = {"row": "int64", "sentence": "object", "label": "object", "score": "float64", "example": "int64"}
        none = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
        # The sentences of the texts (pyarrow: one C pass, not pandas' per-string methods).
        parts = pc.split_pattern(pa.array(norm.to_numpy(dtype=object), type=pa.large_string()), BOUNDARY)
        owner = pc.list_parent_indices(parts).to_numpy()
        flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
        words = pc.add(pc.count_substring(flat, " "), 1)
        keep = pc.and_(pc.greater(pc.utf8_length(flat), 0), pc.greater_equal(words, self.settings.min_words))
        flat, owner = flat.filter(keep), owner[keep.to_numpy(zero_copy_only=False)]
        if len(flat) == 0:
            return none
        distinct_sentences = pc.unique(flat)
        which = pc.index_in(flat, value_set=distinct_sentences).to_numpy()
        unique = np.array(distinct_sentences.to_pylist(), dtype=object)
        label, score, neutral, example, cosine = (np.asarray(v) for v in self.model.nearest(list(unique)))
        passes = (score >= self.settings.threshold) & (score >= neutral + self.settings.margin) & (cosine >= self.settings.min_cosine)
        chosen = passes[which]
        owner, which = owner[chosen], which[chosen]
        hits = pd.DataFrame({"row": owner, "sentence": unique[which], "label": label[which], "score": score[which],
                             "example": example[which]})
        if hits.empty:
            return none
        return hits.sort_values(["row", "score"], ascending=[True, False], kind="stable").drop_duplicates(["row", "label"])

    # -- both ----------------------------------------------------------------------------

    def match(self, texts: pd.Series, normalized: bool = False, eligible: pd.Series | None = None,
              distinct_norm: tuple[np.ndarray, pd.Series] | None = None) -> pd.DataFrame:
        """Every (text, barrier) found, by keyword first, else by similarity (see the class). Each
        distinct normalised text is matched once (and classified once if any of its texts is
        eligible); the matches are those of the texts one by one. ``distinct_norm``: the
        normalised texts' :func:`~cjm_tasks.maps.distinct.distinct`, when the caller has it."""
        import numpy as np
        import pandas as pd

        norm = texts if normalized else normalize(texts)
        norm = norm.reset_index(drop=True)
        if eligible is not None:
            eligible = pd.Series(eligible).reset_index(drop=True).fillna(True).astype(bool)
        codes, values = distinct_norm if distinct_norm is not None and normalized else distinct(norm)
        located = spread(self._keyword_matches(values, codes), codes)
        found = located[list(MATCH_COLUMNS)]
        read = np.arange(len(norm)) if eligible is None else np.flatnonzero(eligible.to_numpy(dtype=bool))
        # The distinct texts read (ascending) and each read text's place among them: np.unique's
        # answer, by marking instead of sorting (its sort held four arrays as long as the texts:
        # the refresh's peak at 10x).
        present = np.zeros(len(values), dtype=bool)
        present[codes[read]] = True
        needed = np.flatnonzero(present)
        place = np.full(len(values), -1, dtype=np.int64)
        place[needed] = np.arange(len(needed), dtype=np.int64)
        read_codes = place[codes[read]]
        similar = self._similarity_matches(values.iloc[needed].reset_index(drop=True), read_codes, read, located)
        if similar.empty:
            return found
        out = pd.concat([found, similar], ignore_index=True) if not found.empty else similar
        return out.sort_values(["row", "via", "label"], kind="stable").reset_index(drop=True)


def _empty(start: bool = False) -> pd.DataFrame:
    import pandas as pd

    columns = {**MATCH_COLUMNS, **({"start": "int64"} if start else {})}
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
