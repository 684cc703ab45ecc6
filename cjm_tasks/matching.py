"""Catalog matching that reads how customers write: word forms, gapped phrases, negation and
similarity to example sentences, with the source of every match recorded.

A catalog barrier (``configs/barriers.yaml``) has keywords and, optionally, example sentences, per
language. :class:`CatalogMatcher` finds them in a period's texts:

**Word forms.** Each word of a keyword matches any form of it: the texts' vocabulary is reduced
with the Snowball stemmer of the keyword's language (PyStemmer; English, Russian, Portuguese and
the other Snowball languages), and for Russian also with the lexeme of the word in the pymorphy3
dictionary, so ``наличные`` finds наличными and ``принимать`` finds принимают. Only the forms that
occur in the period's texts are added, as plain words, to the one Aho-Corasick automaton of
:class:`~cjm_tasks.text.KeywordMatcher`: matching stays a single pass over the joined texts. A
word ending in ``*`` keeps matching any word that starts with it, as before.

A word written ``=como`` matches that word only (no other forms: Snowball reads "como" and
"com" as one stem).

**Gaps.** ``only ... cash`` allows up to ``gap_words`` words between its parts ("only take
cash"); the parts are found in the same pass and joined afterwards, within one sentence.

**Negation.** ``~accept ... card`` counts only with a negation word (``negations``: not, n't, no,
не, нет, без, não...) at most ``negated_window`` words before it ("they did not accept my card").
Any other keyword that holds no negation itself does not count after a negation at most
``negation_window`` words before it ("no queue at all", "не было очереди", "não atrasou").

**Similarity.** Each sentence of a text that is not praise (score below ``max_score``) is
compared with the catalog's example sentences by the cosine of character 3-5-gram TF-IDF vectors
(scikit-learn, fitted on the examples alone, so the model is built from the configuration and is
the same every quarter). A sentence matches the barrier of its nearest example when that cosine is
at least ``threshold``, the barrier is the sentence's best, and the sentence is closer to it by
``margin`` than to any ``neutral`` sentence (catalog words used without complaining: "paid by
card, no queue"). A (text, barrier) pair found by a keyword is not looked for by similarity.

Every match records ``via``: ``keyword`` or ``similarity`` (with its ``score``, the cosine).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cjm_tasks.text import BOUNDARY, STOPWORDS, KeywordMatcher, normalize, normalize_one

if TYPE_CHECKING:
    import pandas as pd

    from cjm_tasks.config import CatalogBarrier, MatchingConfig

MATCH_COLUMNS = {"row": "int64", "label": "str", "keyword": "str", "found": "str", "via": "str", "score": "float64"}
SNOWBALL = {"en": "english", "ru": "russian", "pt": "portuguese", "es": "spanish", "fr": "french", "de": "german",
            "it": "italian", "nl": "dutch", "sv": "swedish", "no": "norwegian", "da": "danish", "fi": "finnish",
            "pl": "polish", "tr": "turkish", "ro": "romanian", "hu": "hungarian", "cs": "czech", "el": "greek",
            "uk": "russian", "ca": "catalan", "id": "indonesian", "lt": "lithuanian", "ar": "arabic"}
_CYRILLIC_LANGS = {"ru", "uk"}
_IS_CYRILLIC = re.compile(r"[а-яй]")
_IS_LATIN = re.compile(r"[a-z]")
GAP = "..."
NEGATED = "~"
MAX_FORMS_PER_KEYWORD = 400


# ------------------------------------------------------------------------------- word forms


@lru_cache(maxsize=None)
def _stemmer(language: str):
    import Stemmer

    name = SNOWBALL.get(language)
    return Stemmer.Stemmer(name) if name else None


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=4096)
def _lexeme(word: str) -> frozenset[str]:
    """Every form of the dictionary lexemes a Russian word may belong to (normalised: ё as е)."""
    forms: set[str] = set()
    for parse in _morph().parse(word)[:3]:
        if parse.score < 0.1 and forms:
            break
        forms.update(normalize_one(f.word).strip() for f in parse.lexeme)
    return frozenset(f for f in forms if f and " " not in f)


def _in_script(words: Iterable[str], language: str) -> list[str]:
    script = _IS_CYRILLIC if language in _CYRILLIC_LANGS else _IS_LATIN
    return [w for w in words if script.search(w)]


class WordForms:
    """Which words of a vocabulary are forms of a keyword's word, per language."""

    def __init__(self, vocabulary: Iterable[str]):
        self._vocabulary = set(vocabulary)
        self._index: dict[str, dict[str, set[str]]] = {}

    def _stems(self, language: str) -> dict[str, set[str]]:
        if language not in self._index:
            stemmer = _stemmer(language)
            index: dict[str, set[str]] = {}
            if stemmer is not None:
                words = _in_script(self._vocabulary, language)
                for word, stem in zip(words, stemmer.stemWords(words)):
                    index.setdefault(stem, set()).add(word)
            self._index[language] = index
        return self._index[language]

    def forms(self, word: str, language: str) -> set[str]:
        """``word`` and its forms found in the vocabulary (same Snowball stem; for Russian also its
        dictionary lexeme)."""
        out = {word}
        stemmer = _stemmer(language)
        if stemmer is None or not word or word.isdigit():
            return out
        stem = stemmer.stemWord(word)
        stems = self._stems(language)
        out |= stems.get(stem, set())
        # Snowball keeps a final e in some forms and drops it in others (queue/queu-ed, issue/issu-ing).
        if len(stem) >= 4 and not _IS_CYRILLIC.search(stem):
            out |= stems.get(stem[:-1], set()) if stem.endswith("e") else stems.get(stem + "e", set())
        if language in _CYRILLIC_LANGS and _IS_CYRILLIC.search(word):
            out |= _lexeme(word) & self._vocabulary
        return out


# --------------------------------------------------------------------------------- keywords


@dataclass(frozen=True)
class Keyword:
    """One catalog keyword parsed: its parts (split at ``...``), each a tuple of (word, how):
    how is ``""`` (any form of the word), ``"*"`` (any word starting with it) or ``"="`` (this
    word exactly)."""

    label: str
    text: str
    language: str
    parts: tuple[tuple[tuple[str, str], ...], ...]
    negated: bool
    excluded: bool

    @property
    def gapped(self) -> bool:
        return len(self.parts) > 1


def parse_keyword(label: str, text: str, language: str, excluded: bool = False) -> Keyword:
    """``~`` first: needs a negation; ``...``: a gap; a word ending in ``*``: a prefix; a word
    starting with ``=``: that word only, no other forms."""
    raw = text.strip()
    negated = raw.startswith(NEGATED)
    raw = raw.lstrip(NEGATED).strip()
    parts = []
    for piece in raw.split(GAP):
        words: list[tuple[str, str]] = []
        for token in piece.split():
            how = "*" if token.endswith("*") else "=" if token.startswith("=") else ""
            tokens = normalize_one(token.strip("*=")).replace(BOUNDARY, " ").split()
            words.extend((t, how if (how != "*" or i == len(tokens) - 1) else "=") for i, t in enumerate(tokens))
        if words:
            parts.append(tuple(words))
    if not parts:
        raise ValueError(f"keyword {text!r} of {label!r} has no letters or digits")
    return Keyword(label, text, language, tuple(parts), negated, excluded)


def _phrase_variants(words: tuple[tuple[str, str], ...], language: str, forms: WordForms | None) -> list[str]:
    """The keyword syntax strings a part stands for: one per combination of word forms."""
    choices = []
    for word, how in words:
        if how == "*":
            choices.append([word + "*"])
        elif how == "=" or forms is None:
            choices.append([word])
        else:
            choices.append(sorted(forms.forms(word, language)))
    variants = []
    for combo in itertools.product(*choices):
        variants.append(" ".join(combo))
        if len(variants) >= MAX_FORMS_PER_KEYWORD:
            break
    return variants


# ------------------------------------------------------------------------------- similarity


@dataclass
class ExampleModel:
    """Character n-gram TF-IDF vectors of the catalog's example sentences and neutral sentences."""

    vectorizer: Any
    matrix: Any  # examples x features (L2-normalised rows)
    labels: list[str]  # the barrier of each row; "" for a neutral sentence
    texts: list[str]

    @classmethod
    def build(cls, examples: Mapping[str, Sequence[str]], neutral: Sequence[str]) -> ExampleModel | None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        labels, texts = [], []
        for label, sentences in examples.items():
            for sentence in sentences:
                labels.append(label)
                texts.append(sentence)
        if not texts:
            return None
        for sentence in neutral:
            labels.append("")
            texts.append(sentence)
        norms = [_plain(normalize_one(t)) for t in texts]
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, dtype=_float32())
        matrix = vectorizer.fit_transform(norms)
        return cls(vectorizer, matrix, labels, texts)

    def nearest(self, sentences: Sequence[str]) -> tuple[list[str], list[float], list[float], list[int]]:
        """For each normalised sentence: its best barrier, that cosine, the best neutral cosine,
        and the index of the nearest example of that barrier."""
        import numpy as np

        labels = np.array(self.labels, dtype=object)
        barrier_rows = np.flatnonzero(labels != "")
        neutral_rows = np.flatnonzero(labels == "")
        best_label: list[str] = []
        best_score: list[float] = []
        neutral_score: list[float] = []
        best_example: list[int] = []
        for start in range(0, len(sentences), 20000):
            chunk = self.vectorizer.transform([_plain(s) for s in sentences[start:start + 20000]])
            cos = (chunk @ self.matrix.T).toarray()
            barrier_cos = cos[:, barrier_rows]
            top = barrier_cos.argmax(axis=1)
            best_example.extend(barrier_rows[top].tolist())
            best_label.extend(labels[barrier_rows[top]].tolist())
            best_score.extend(barrier_cos[np.arange(len(top)), top].tolist())
            neutral_score.extend((cos[:, neutral_rows].max(axis=1) if len(neutral_rows) else np.zeros(len(top))).tolist())
        return best_label, best_score, neutral_score, best_example


def _float32():
    import numpy as np

    return np.float32


def _plain(norm: str) -> str:
    return " ".join(norm.replace(BOUNDARY, " ").split())


# ---------------------------------------------------------------------------------- matcher


@dataclass
class MatchSettings:
    word_forms: bool = True
    similarity: bool = True
    gap_words: int = 3
    negation_window: int = 2
    negated_window: int = 3
    negations: Mapping[str, Sequence[str]] = field(default_factory=dict)
    negations_after: Mapping[str, Sequence[str]] = field(default_factory=dict)
    threshold: float = 0.45
    margin: float = 0.05
    min_words: int = 3
    neutral: Mapping[str, Sequence[str]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, matching: MatchingConfig, word_forms: bool = True, similarity: bool = True) -> MatchSettings:
        sim = matching.similarity
        return cls(word_forms=word_forms and matching.word_forms, similarity=similarity and sim.enabled,
                   gap_words=matching.gap_words, negation_window=matching.negation_window,
                   negated_window=matching.negated_window, negations=matching.negations,
                   negations_after=matching.negations_after, threshold=sim.threshold,
                   margin=sim.margin, min_words=sim.min_words, neutral=sim.neutral)


@dataclass(frozen=True)
class _Negations:
    """The negation words of one language: before a keyword (whole words, or prefixes ending in
    ``*``), and the phrases that negate a keyword they follow."""

    whole: frozenset[str]
    prefixes: tuple[str, ...]
    after: tuple[tuple[str, ...], ...]

    @classmethod
    def parse(cls, words: Sequence[str], after: Sequence[str]) -> _Negations:
        whole, prefixes = set(), []
        for word in words:
            norm = normalize_one(word.rstrip("*")).strip()
            if word.endswith("*"):
                prefixes.append(norm)
            elif norm:
                whole.add(norm)
        return cls(frozenset(whole), tuple(prefixes), tuple(tuple(normalize_one(p).split()) for p in after if normalize_one(p).split()))

    def is_before(self, token: str) -> bool:
        return token in self.whole or (bool(self.prefixes) and token.startswith(self.prefixes))

    def is_after(self, tokens: Sequence[str]) -> bool:
        for phrase in self.after:
            n = len(phrase)
            if any(tuple(tokens[i:i + n]) == phrase for i in range(len(tokens) - n + 1)):
                return True
        return False


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
        self._negations = {lang: _Negations.parse(words, self.settings.negations_after.get(lang, ()))
                           for lang, words in self.settings.negations.items()}
        examples: dict[str, list[str]] = {}
        for barrier in catalog:
            sentences = [s for ss in barrier.examples.values() for s in ss]
            if sentences:
                examples[barrier.id] = sentences
        neutral = [s for ss in self.settings.neutral.values() for s in ss]
        self.model = ExampleModel.build(examples, neutral) if self.settings.similarity and examples else None

    def _has_negation(self, keyword: Keyword) -> bool:
        negations = self._negations.get(keyword.language)
        return negations is not None and any(negations.is_before(w) for part in keyword.parts for w, _ in part)

    # -- keyword pass -------------------------------------------------------------------

    def _automaton(self, vocabulary: set[str] | None) -> tuple[KeywordMatcher, dict[str, tuple[int, int]]]:
        """One automaton for every part of every keyword, each part under a label of its own."""
        forms = WordForms(vocabulary) if vocabulary is not None else None
        keywords: dict[str, list[str]] = {}
        parts: dict[str, tuple[int, int]] = {}
        for n, keyword in enumerate(self.keywords):
            for i, part in enumerate(keyword.parts):
                tag = f"{n}:{i}"
                keywords[tag] = _phrase_variants(part, keyword.language, forms)
                parts[tag] = (n, i)
        return KeywordMatcher(keywords), parts

    def keyword_matches(self, norm: pd.Series) -> pd.DataFrame:
        """Keyword hits (columns as :meth:`match`, ``via`` keyword) in normalised texts."""
        import numpy as np
        import pandas as pd

        if not self.keywords or len(norm) == 0:
            return _empty()
        values = norm.tolist()
        vocabulary = None
        if self.settings.word_forms:
            vocabulary = set(" ".join(pd.unique(norm)).split())
        matcher, parts = self._automaton(vocabulary)
        hits = matcher.spans(norm, normalized=True)
        if hits.empty:
            return _empty()
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        located = [parts[tag] for tag in hits["label"]]
        kw = np.fromiter((k for k, _ in located), dtype=np.int64, count=len(located))
        part = np.fromiter((p for _, p in located), dtype=np.int64, count=len(located))
        offset = starts[hits["row"].to_numpy()]
        hits = hits.assign(kw=kw, part=part, start=hits["start"] - offset, end=hits["end"] - offset)
        # A gapped keyword is assembled only in texts where every one of its parts occurs.
        n_parts = np.array([len(k.parts) for k in self.keywords], dtype=np.int64)
        complete = hits.groupby(["row", "kw"])["part"].transform("nunique").to_numpy() == n_parts[kw]
        hits = hits[complete]
        rows: list[tuple[int, str, str, int, int, bool, str]] = []
        gapped = n_parts[hits["kw"].to_numpy()] > 1
        single = hits[~gapped]
        for row, k, start, end, found in zip(single["row"].tolist(), single["kw"].tolist(), single["start"].tolist(),
                                             single["end"].tolist(), single["found"].tolist()):
            keyword = self.keywords[k]
            if keyword.excluded or self._negation_ok(keyword, values[row], start, end):
                rows.append((row, keyword.label, keyword.text, start, end, keyword.excluded, found))
        multi = hits[gapped].sort_values(["row", "kw", "part", "start"], kind="stable")
        pending: dict[tuple[int, int], list[tuple[int, int, int, str]]] = {}
        for row, k, p, start, end, found in zip(multi["row"].tolist(), multi["kw"].tolist(), multi["part"].tolist(),
                                                multi["start"].tolist(), multi["end"].tolist(), multi["found"].tolist()):
            pending.setdefault((row, k), []).append((p, start, end, found))
        for (row, k), spans in pending.items():
            keyword = self.keywords[k]
            for start, end, found in self._assemble(keyword, spans, values[row]):
                rows.append((row, keyword.label, keyword.text, start, end, keyword.excluded, found))
        if not rows:
            return _empty()
        frame = pd.DataFrame(rows, columns=["row", "label", "keyword", "start", "end", "excluded", "found"])
        kept, masks = frame[~frame["excluded"]], frame[frame["excluded"]]
        if not masks.empty and not kept.empty:
            pairs = kept.reset_index().merge(masks[["row", "label", "start", "end"]], on=["row", "label"], suffixes=("", "_x"))
            inside = pairs[(pairs["start_x"] <= pairs["start"]) & (pairs["end"] <= pairs["end_x"])]
            kept = kept.drop(index=inside["index"].unique())
        kept = kept.sort_values(["row", "start"], kind="stable").drop_duplicates(["row", "label"], keep="first")
        return kept.assign(via="keyword", score=1.0)[list(MATCH_COLUMNS)].reset_index(drop=True)

    def _assemble(self, keyword: Keyword, spans: list[tuple[int, int, int, str]], text: str) -> list[tuple[int, int, str]]:
        """Occurrences of ``keyword`` in one text from its parts' hits: parts in order, each at
        most ``gap_words`` words after the previous one within a sentence, then the negation rule.
        Every chain is tried ("comprei dois pares dos dois modelos e recebi um": the second "dois")."""
        by_part: dict[int, list[tuple[int, int, str]]] = {}
        for part, start, end, found in spans:
            by_part.setdefault(part, []).append((start, end, found))
        chains = [[hit] for hit in by_part.get(0, [])]
        for part in range(1, len(keyword.parts)):
            grown = []
            for chain in chains:
                last_end = chain[-1][1]
                for hit in by_part.get(part, []):
                    between = text[last_end:hit[0]]
                    # A whole-word part ends after its padding space, where the next part's starts.
                    if hit[0] >= last_end - 1 and BOUNDARY not in between and len(between.split()) <= self.settings.gap_words:
                        grown.append(chain + [hit])
            chains = grown[:64]
        out = []
        for chain in chains:
            start, end = chain[0][0], chain[-1][1]
            if not keyword.excluded and not self._negation_ok(keyword, text, start, end):
                continue
            out.append((start, end, " ... ".join(h[2] for h in chain)))
        return out

    def _negation_ok(self, keyword: Keyword, text: str, start: int, end: int) -> bool:
        """A ``~`` keyword needs a negation of its language at most ``negated_window`` words before
        it; any other keyword without a negation of its own must have none ``negation_window``
        words before it, nor a negation that follows it ("очереди не было", "atraso nenhum")."""
        negations = self._negations.get(keyword.language)
        if negations is None:
            return not keyword.negated
        if keyword.negated:
            before = text[max(0, start - 120):start].rsplit(BOUNDARY, 1)[-1].split()[-self.settings.negated_window:]
            return any(negations.is_before(t) for t in before)
        window = self.settings.negation_window
        if window == 0 or self._has_negation(keyword):
            return True
        before = text[max(0, start - 120):start].rsplit(BOUNDARY, 1)[-1].split()[-window:]
        if any(negations.is_before(t) for t in before):
            return False
        after = text[end - 1:end + 80].split(BOUNDARY, 1)[0].split()[:window + 1]
        return not negations.is_after(after)


    # -- similarity pass ---------------------------------------------------------------

    def similarity_matches(self, norm: pd.Series, eligible: pd.Series | None, found: pd.DataFrame) -> pd.DataFrame:
        """Sentences of eligible texts close enough to a barrier's examples (``via`` similarity);
        pairs already in ``found`` are skipped."""
        import numpy as np
        import pandas as pd

        if self.model is None or len(norm) == 0:
            return _empty()
        positions = pd.Series(np.arange(len(norm)), index=norm.index)
        texts = norm if eligible is None else norm[eligible.to_numpy(dtype=bool)]
        if texts.empty:
            return _empty()
        sentences = texts.str.split(BOUNDARY).explode().str.strip()
        sentences = sentences[sentences.str.count(" ") + 1 >= self.settings.min_words]
        if sentences.empty:
            return _empty()
        unique = pd.unique(sentences)
        label, score, neutral, example = self.model.nearest(list(unique))
        verdict = pd.DataFrame({"sentence": unique, "label": label, "score": score, "neutral": neutral, "example": example})
        verdict = verdict[(verdict["score"] >= self.settings.threshold) & (verdict["score"] >= verdict["neutral"] + self.settings.margin)]
        if verdict.empty:
            return _empty()
        hits = pd.DataFrame({"row": positions.loc[sentences.index].to_numpy(), "sentence": sentences.to_numpy()}).merge(verdict, on="sentence")
        hits = hits.sort_values(["row", "score"], ascending=[True, False], kind="stable").drop_duplicates(["row", "label"])
        if not found.empty:
            known = pd.MultiIndex.from_frame(found[["row", "label"]])
            hits = hits[~pd.MultiIndex.from_frame(hits[["row", "label"]]).isin(known)]
        texts_of = np.array(self.model.texts, dtype=object)
        return pd.DataFrame({
            "row": hits["row"].astype("int64"), "label": hits["label"], "keyword": texts_of[hits["example"].to_numpy(dtype="int64")],
            "found": hits["sentence"], "via": "similarity", "score": hits["score"].round(4),
        })[list(MATCH_COLUMNS)].reset_index(drop=True)

    # -- both ----------------------------------------------------------------------------

    def match(self, texts: pd.Series, normalized: bool = False, eligible: pd.Series | None = None) -> pd.DataFrame:
        """Every (text, barrier) found, by keyword first, else by similarity (see the class)."""
        import pandas as pd

        norm = texts if normalized else normalize(texts)
        norm = norm.reset_index(drop=True)
        if eligible is not None:
            eligible = pd.Series(eligible).reset_index(drop=True).fillna(True).astype(bool)
        found = self.keyword_matches(norm)
        similar = self.similarity_matches(norm, eligible, found)
        if similar.empty:
            return found
        out = pd.concat([found, similar], ignore_index=True) if not found.empty else similar
        return out.sort_values(["row", "via", "label"], kind="stable").reset_index(drop=True)


def _empty() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in MATCH_COLUMNS.items()})
