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
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cjm_tasks.maps.text import BOUNDARY, CLAUSE, STOPWORDS, matched_words, normalize, normalize_one

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
NEUTRAL = ""  # the class of neutral sentences: catalog words used without complaining
OTHER = "~other"  # the class of complaints about something the catalog does not list
CHAR_NGRAMS = (3, 4)  # character n-grams within words (seeds 0-1: as accurate as 2-5, half the n-grams)
MAX_FORMS_PER_KEYWORD = 400
MAX_PARTS = 8


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


@lru_cache(maxsize=1 << 16)
def stem_word(word: str, latin: str = "en") -> str:
    """The Snowball stem of a normalised word: Russian for a Cyrillic word, else ``latin``'s (the
    word itself when there is no stemmer for that language). For comparing texts whose language
    is not known; keywords are stemmed in their own language (:class:`WordForms`)."""
    stemmer = _stemmer("ru" if _IS_CYRILLIC.search(word) else latin)
    return stemmer.stemWord(word) if stemmer is not None else word


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
    if len(parts) > MAX_PARTS:
        raise ValueError(f"keyword {text!r} of {label!r} has {len(parts)} parts (at most {MAX_PARTS} '...'-separated parts)")
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
    """A small classifier of sentences into the catalog's barriers, built from the configuration
    alone: logistic regression (scikit-learn) over character 3-4-gram and word-stem TF-IDF
    features, trained on every barrier's example sentences, with the neutral sentences (catalog
    words used without complaining) and the other complaints as two classes of their own."""

    features: Any
    classifier: Any
    matrix: Any  # the examples' features, to name the nearest example of a match
    labels: list[str]  # the barrier of each example row; NEUTRAL or OTHER for the two other classes
    texts: list[str]
    words: int = 0  # the last ``words`` feature columns are the stem features (the cosine floor)
    latin: str = "en"

    @classmethod
    def build(cls, examples: Mapping[str, Sequence[str]], neutral: Sequence[str], latin: str = "en",
              other: Sequence[str] = ()) -> ExampleModel | None:
        labels, texts = [], []
        for label, sentences in examples.items():
            for sentence in sentences:
                labels.append(label)
                texts.append(sentence)
        if not texts:
            return None
        for label, sentences in ((NEUTRAL, neutral), (OTHER, other)):
            labels.extend([label] * len(sentences))
            texts.extend(sentences)
        return _fitted(tuple(labels), tuple(texts), latin)

    def nearest(self, sentences: Sequence[str]) -> tuple[list[str], list[float], list[float], list[int], list[float]]:
        """For each normalised sentence: its most likely barrier, that probability, the
        probability of the likelier of "neutral" and "other complaint", the index of the nearest
        example of that barrier and the word-stem cosine to it. Without a classifier (one class
        only) the probability is that cosine."""
        import numpy as np

        labels = np.array(self.labels, dtype=object)
        label_ids = {label: i for i, label in enumerate(dict.fromkeys(self.labels))}
        example_label = np.array([label_ids[label] for label in self.labels], dtype=np.int64)
        out: tuple[list, list, list, list, list] = ([], [], [], [], [])
        cut = self.matrix.shape[1] - self.words
        examples_words = self.matrix[:, cut:].T.tocsc()
        for start in range(0, len(sentences), 100000):
            chunk = _transform(self.features, [_plain(s) for s in sentences[start:start + 100000]])
            rows = np.arange(chunk.shape[0])
            # Topic closeness on the stem features alone (character pairs make every two
            # sentences alike), kept sparse: most sentences share words with few examples.
            cos = (chunk[:, cut:] @ examples_words).tocoo()
            if self.classifier is not None:
                classes = np.array(self.classifier.classes_, dtype=object)
                is_barrier = np.array([c not in (NEUTRAL, OTHER) for c in classes])
                barrier_cols = np.flatnonzero(is_barrier)
                rest_cols = np.flatnonzero(~is_barrier)
                proba = self.classifier.predict_proba(chunk)
                barrier_proba = proba[:, barrier_cols]
                top = barrier_proba.argmax(axis=1)
                chosen = classes[barrier_cols[top]]
                best = barrier_proba[rows, top]
                none = proba[:, rest_cols].max(axis=1) if len(rest_cols) else np.zeros(len(rows))
            else:
                dense = np.full((len(rows), len(labels)), -1.0)
                dense[cos.row, cos.col] = cos.data
                dense[:, np.isin(labels, [NEUTRAL, OTHER])] = -1.0
                nearest_any = dense.argmax(axis=1)
                chosen = labels[nearest_any]
                best = np.maximum(dense[rows, nearest_any], 0.0)
                none = np.zeros(len(rows))
            # The nearest example of the chosen barrier: the best cosine among its examples.
            chosen_ids = np.array([label_ids[c] for c in chosen], dtype=np.int64)
            mine = example_label[cos.col] == chosen_ids[cos.row]
            order = np.lexsort((-cos.data[mine], cos.row[mine]))
            r, c, v = cos.row[mine][order], cos.col[mine][order], cos.data[mine][order]
            first = np.r_[True, r[1:] != r[:-1]] if len(r) else np.zeros(0, dtype=bool)
            example = np.full(len(rows), -1, dtype=np.int64)
            similarity = np.zeros(len(rows))
            example[r[first]] = c[first]
            similarity[r[first]] = v[first]
            for target, values in zip(out, (chosen, best, none, example, similarity)):
                target.extend(values.tolist())
        return out


@lru_cache(maxsize=8)
def _fitted(labels: tuple[str, ...], texts: tuple[str, ...], latin: str = "en") -> ExampleModel:
    """The model of one configuration's sentences (cached: a refresh, the suggestions and the
    benchmarks build the matcher several times from the same catalog)."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    norms = [_plain(normalize_one(t)) for t in texts]
    features = make_union(
        TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, sublinear_tf=True, dtype=np.float32),
        TfidfVectorizer(analyzer=_StemAnalyzer(latin), sublinear_tf=True, dtype=np.float32),
    )
    matrix = features.fit_transform(norms)
    classifier = None
    if len(set(labels)) >= 2:
        # tol 1e-3: the probabilities settle long before the default tolerance (fit 1.3 s, not 3.2 s).
        classifier = LogisticRegression(C=10.0, max_iter=1000, tol=1e-3, class_weight="balanced").fit(matrix, list(labels))
    words = len(features.transformer_list[1][1].vocabulary_)
    return ExampleModel(features, classifier, matrix, list(labels), list(texts), words, latin)


def _transform(features, sentences: list[str]):
    """``features.transform(sentences)`` (the union of the character n-gram and the word-stem
    TF-IDF vectorizers of :func:`_fitted`), computed word by word: both kinds of features stay
    within a word or a pair of adjacent words, so each distinct word is analysed once and the
    sentences' counts are a sparse product. scikit-learn analyses every sentence in Python;
    this is several times faster on a quarter's sentences and gives the same matrix
    (tests/test_matching.py checks it)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize as l2

    char, stems = (vectorizer for _, vectorizer in features.transformer_list)
    n = len(sentences)
    tokens = pc.utf8_split_whitespace(pa.array(sentences, type=pa.large_string()))
    parent = pc.list_parent_indices(tokens).to_numpy()
    flat = pc.list_flatten(tokens)
    words = pc.unique(flat)
    word_id = pc.index_in(flat, value_set=words).to_numpy()
    vocabulary = words.to_pylist()
    occurrences = sp.csr_matrix((np.ones(len(word_id), dtype=np.float32), (parent, word_id)), shape=(n, len(vocabulary)))

    # Character n-grams: each distinct word's counts once, then sentences = occurrences x words.
    analyze, columns = char.build_analyzer(), char.vocabulary_
    rows, cols, vals = [], [], []
    for i, word in enumerate(vocabulary):
        counts: dict[int, int] = {}
        for gram in analyze(word):
            j = columns.get(gram)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        rows.extend([i] * len(counts))
        cols.extend(counts)
        vals.extend(counts.values())
    by_word = sp.csr_matrix((np.array(vals, dtype=np.float32), (rows, cols)), shape=(len(vocabulary), len(columns)))
    char_block = _tfidf(occurrences @ by_word, char.idf_, l2)

    # Word stems and pairs of adjacent kept words (stop words and numbers are not kept).
    analyzer, columns = stems.analyzer, stems.vocabulary_
    keep = np.array([w not in STOPWORDS and not w.isdigit() for w in vocabulary], dtype=bool)
    stem_col = np.array([columns.get(stem_word(w, analyzer.latin), -1) if k else -1 for w, k in zip(vocabulary, keep)], dtype=np.int64)
    stem_of = {w: stem_word(w, analyzer.latin) for w, k in zip(vocabulary, keep) if k}
    kept = keep[word_id]
    k_parent, k_word = parent[kept], word_id[kept]
    unigram = stem_col[k_word]
    pairs_same = k_parent[1:] == k_parent[:-1]
    first, second = k_word[:-1][pairs_same], k_word[1:][pairs_same]
    pair_cols = np.array([columns.get(stem_of[vocabulary[a]] + " " + stem_of[vocabulary[b]], -1) for a, b in zip(first.tolist(), second.tolist())],
                         dtype=np.int64)
    r = np.concatenate([k_parent[unigram >= 0], k_parent[:-1][pairs_same][pair_cols >= 0]])
    c = np.concatenate([unigram[unigram >= 0], pair_cols[pair_cols >= 0]])
    counts = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(n, len(columns)))
    stem_block = _tfidf(counts, stems.idf_, l2)
    return sp.hstack([char_block, stem_block], format="csr", dtype=np.float32)


def _tfidf(counts, idf, l2):
    """What ``TfidfTransformer(sublinear_tf=True)`` does to raw counts: 1 + log(tf), times idf,
    rows scaled to unit length."""
    import numpy as np

    counts = counts.tocsr().astype(np.float32)
    counts.sum_duplicates()
    np.log(counts.data, out=counts.data)
    counts.data += 1
    counts = counts.multiply(idf.astype(np.float32)[None, :]).tocsr()
    return l2(counts, norm="l2", copy=False)


class _StemAnalyzer:
    """Word stems and pairs of adjacent stems of a normalised sentence: Cyrillic words with the
    Russian Snowball stemmer, others with the stemmer of ``latin`` (the catalog's first
    Latin-script language); the same on both sides, so "queued" meets "queue"."""

    def __init__(self, latin: str):
        self.latin = latin

    def __call__(self, text: str) -> list[str]:
        stems = [stem_word(w, self.latin) for w in text.split() if w not in STOPWORDS and not w.isdigit()]
        return stems + [a + " " + b for a, b in zip(stems, stems[1:])]


def _plain(norm: str) -> str:
    return " ".join(norm.replace(BOUNDARY, " ").replace(CLAUSE, " ").split())


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
        sim = matching.similarity
        return cls(word_forms=word_forms and matching.word_forms, similarity=similarity and sim.enabled,
                   gap_words=matching.gap_words, negation_window=matching.negation_window,
                   negated_window=matching.negated_window, negations=matching.negations,
                   negations_after=matching.negations_after, negation_idioms=matching.negation_idioms,
                   hedges=matching.hedges, contrasts=matching.contrasts, fillers=matching.fillers,
                   threshold=sim.threshold,
                   margin=sim.margin, min_cosine=sim.min_cosine, min_words=sim.min_words, neutral=sim.neutral,
                   other=sim.other)


class _Scanner:
    """An Aho-Corasick automaton (pyahocorasick) over keyword parts whose values are small
    integers, so a scan is one C loop that returns arrays: the parts of gapped keywords are
    common words ("only", "заказ"), and a Python step per hit would cost more than the scan."""

    def __init__(self, variants: Sequence[tuple[str, int, int]]):
        import ahocorasick
        import numpy as np

        from cjm_tasks.maps.text import _compile_keyword

        anchors: dict[str, list[int]] = {}
        self.kw: list[int] = []
        self.part: list[int] = []
        self.verify: list[re.Pattern[str] | None] = []
        for variant, k, p in variants:
            anchor, verify = _compile_keyword(variant, normalized=True)
            anchors.setdefault(anchor, []).append(len(self.kw))
            self.kw.append(k)
            self.part.append(p)
            self.verify.append(verify)
        self.automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        self.anchor_length = np.array([len(a) for a in anchors], dtype=np.int64)
        self.first = np.zeros(len(anchors) + 1, dtype=np.int64)
        flat: list[int] = []
        for i, (anchor, entries) in enumerate(anchors.items()):
            self.automaton.add_word(anchor, i)
            flat.extend(entries)
            self.first[i + 1] = len(flat)
        self.entries = np.array(flat, dtype=np.int64)
        self.kw_array = np.array(self.kw, dtype=np.int64)
        self.part_array = np.array(self.part, dtype=np.int64)
        self.verified = np.array([v is not None for v in self.verify], dtype=bool)
        self.empty = not anchors
        if not self.empty:
            self.automaton.make_automaton()

    def scan(self, joined: str, starts):
        """(row, start, stop, keyword index, part index) of every hit, offsets within its text."""
        import numpy as np

        empty = np.zeros(0, dtype=np.int64)
        if self.empty:
            return empty, empty, empty, empty, empty
        found = np.array(list(self.automaton.iter(joined)), dtype=np.int64).reshape(-1, 2)
        if len(found) == 0:
            return empty, empty, empty, empty, empty
        end, anchor = found[:, 0], found[:, 1]
        counts = self.first[anchor + 1] - self.first[anchor]
        if counts.max() == 1:
            entry = self.entries[self.first[anchor]]
        else:
            end, anchor = np.repeat(end, counts), np.repeat(anchor, counts)
            # The n-th entry of each anchor: position within the repeated block.
            block = np.repeat(np.cumsum(counts) - counts, counts)
            entry = self.entries[self.first[anchor] + (np.arange(len(anchor)) - block)]
        start = end - self.anchor_length[anchor] + 1
        stop = end + 1
        keep = np.ones(len(entry), dtype=bool)
        kw = self.kw_array[entry]
        part = self.part_array[entry]
        checked = np.flatnonzero(self.verified[entry]).tolist()
        for i in checked:  # a keyword with a * inside a phrase: rare
            confirmed = self.verify[int(entry[i])].match(joined, int(start[i]))
            if confirmed:
                stop[i] = confirmed.end()
            else:
                keep[i] = False
        start, stop, kw, part = start[keep], stop[keep], kw[keep], part[keep]
        row = np.searchsorted(starts, start, side="right") - 1
        offset = starts[row]
        return row, start - offset, stop - offset, kw, part


def _part_pattern(variants: Sequence[str]) -> re.Pattern[str]:
    """A regular expression finding any variant of a keyword part (words, a trailing ``*``) in a
    normalised text, starting at the space before its first word."""
    alternatives = []
    for variant in sorted(set(variants), key=len, reverse=True):
        words = variant.split()
        body = " ".join(re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words)
        alternatives.append(body + ("" if words[-1].endswith("*") else "(?= )"))
    return re.compile(" (?:" + "|".join(alternatives) + ")")


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


def _clause_before(text: str, start: int) -> list[str]:
    """The words of the clause before ``start`` (up to ~15 words)."""
    piece = text[max(0, start - 120):start]
    return piece.rsplit(BOUNDARY, 1)[-1].rsplit(CLAUSE, 1)[-1].split()


def _sentence_before(text: str, start: int) -> list[str]:
    """The words of the sentence before ``start`` (up to ~25 words), clause marks kept."""
    return text[max(0, start - 200):start].rsplit(BOUNDARY, 1)[-1].split()


def _clause_after(text: str, end: int) -> list[str]:
    piece = text[max(0, end - 1):end + 80]
    return piece.split(BOUNDARY, 1)[0].split(CLAUSE, 1)[0].split()


@dataclass(frozen=True)
class _Negations:
    """The negation words of one language: before a keyword (whole words, or prefixes ending in
    ``*``), the phrases that negate a keyword they follow, and idioms whose negation word negates
    nothing ("no problem", "без проблем", "не только", "чуть не")."""

    whole: frozenset[str]
    prefixes: tuple[str, ...]
    after: tuple[tuple[str, ...], ...]
    idioms: tuple[tuple[str, ...], ...]
    hedges: _Words
    contrasts: _Words
    fillers: frozenset[str]

    @classmethod
    def parse(cls, words: Sequence[str], after: Sequence[str] = (), idioms: Sequence[str] = (), hedges: Sequence[str] = (),
              contrasts: Sequence[str] = (), fillers: Sequence[str] = ()) -> _Negations:
        negations = _Words.parse(words)
        phrases = lambda items: tuple(tuple(normalize_one(p).split()) for p in items if normalize_one(p).split())  # noqa: E731
        filler_words = frozenset(normalize_one(f).strip() for f in fillers if normalize_one(f).strip())
        return cls(negations.whole, negations.prefixes, phrases(after), phrases(idioms), _Words.parse(hedges),
                   _Words.parse(contrasts), filler_words)

    def is_before(self, token: str) -> bool:
        return token in self.whole or (bool(self.prefixes) and token.startswith(self.prefixes))

    def hedged(self, tokens: Sequence[str]) -> bool:
        """Whether the clause ``tokens`` (ending right before a keyword) holds a hedge after its
        last contrast word: "I was afraid it would arrive late" but not "I thought so, but late"."""
        for token in reversed(tokens):
            if token == CLAUSE:
                continue
            if self.contrasts.has(token):
                return False
            if self.hedges.has(token):
                return True
        return False

    def _idiom_at(self, tokens: Sequence[str], i: int) -> bool:
        """Whether the negation word at ``tokens[i]`` is part of an idiom that negates nothing."""
        for idiom in self.idioms:
            for j, word in enumerate(idiom):
                k = i - j
                if k < 0 or k + len(idiom) > len(tokens):
                    continue
                if all(_word_is(tokens[k + n], w) for n, w in enumerate(idiom)):
                    return True
        return False

    def negates(self, tokens: Sequence[str], window: int) -> bool:
        """Whether one of the last ``window`` of ``tokens`` (fillers not counted) is a negation
        that is not part of an idiom."""
        counted = 0
        for i in range(len(tokens) - 1, -1, -1):
            if counted >= window:
                break
            if self.is_before(tokens[i]) and not self._idiom_at(tokens, i):
                return True
            if tokens[i] not in self.fillers:
                counted += 1
        return False

    def is_after(self, tokens: Sequence[str]) -> bool:
        """Whether a phrase of ``after`` starts at the first or second of ``tokens`` ("очереди не
        было", "очередей совсем не было"; not "обман в комплекте нет половины")."""
        for phrase in self.after:
            n = len(phrase)
            if any(tuple(tokens[i:i + n]) == phrase for i in (0, 1)):
                return True
        return False


@dataclass(frozen=True)
class _Words:
    """Whole words and prefixes (written with a trailing ``*``), normalised."""

    whole: frozenset[str]
    prefixes: tuple[str, ...]

    @classmethod
    def parse(cls, words: Sequence[str]) -> _Words:
        whole, prefixes = set(), []
        for word in words:
            norm = normalize_one(word.rstrip("*")).strip()
            if not norm:
                continue
            if word.endswith("*"):
                prefixes.append(norm)
            else:
                whole.add(norm)
        return cls(frozenset(whole), tuple(prefixes))

    def has(self, token: str) -> bool:
        return token in self.whole or (bool(self.prefixes) and token.startswith(self.prefixes))


def _word_is(token: str, pattern: str) -> bool:
    return token.startswith(pattern[:-1]) if pattern.endswith("*") else token == pattern


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
        self._negations = {lang: _Negations.parse(words, st.negations_after.get(lang, ()), st.negation_idioms.get(lang, ()),
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
        latin = next((lang for lang in languages if lang not in _CYRILLIC_LANGS and lang in SNOWBALL), "en")
        self.model = ExampleModel.build(examples, neutral, latin, other) if self.settings.similarity and examples else None

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
                 ) -> tuple[_Scanner, dict[tuple[int, int], re.Pattern[str]]]:
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
            parts = [_phrase_variants(part, keyword.language, forms) for part in keyword.parts]
            cost = [float("inf") if any("*" in v for v in vs) else sum(frequency.get(v.split()[0], 0) for v in vs) for vs in parts]
            rarest = min(range(len(parts)), key=lambda i: (cost[i], i))
            for i, vs in enumerate(parts):
                if len(parts) > 1 and i != rarest and limit < cost[i] < float("inf") and cost[rarest] * 10 <= limit:
                    deferred[(n, i)] = _part_pattern(vs)
                else:
                    variants.extend((v, n, i) for v in vs)
        return _Scanner(variants), deferred

    def keyword_matches(self, norm: pd.Series) -> pd.DataFrame:
        """Keyword hits (columns as :meth:`match`, ``via`` keyword, and ``start``: the offset of
        the match in its normalised text) in normalised texts."""
        import numpy as np
        import pandas as pd

        if not self.keywords or len(norm) == 0:
            return _empty(start=True)
        values = norm.to_numpy(dtype=object).tolist()
        import pyarrow as pa
        import pyarrow.compute as pc

        arrow = pa.array(values, type=pa.large_string())
        counted = pc.value_counts(pc.list_flatten(pc.utf8_split_whitespace(arrow)))
        frequency = dict(zip(counted.field("values").to_pylist(), counted.field("counts").to_pylist()))
        vocabulary = set(frequency) if self.settings.word_forms else None
        # Texts holding no negation, hedge or negating phrase of any language need no window check.
        pattern = self._negation_regex
        negatable = pc.match_substring_regex(arrow, pattern).to_numpy(zero_copy_only=False) if pattern else np.zeros(len(values), bool)
        scanner, deferred = self._scanner(vocabulary, frequency, len(values))
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
            before = _clause_before(text, start)
            return negations.negates(before, self.settings.negated_window)
        window = self.settings.negation_window
        before = _clause_before(text, start)
        if negations.hedged(_sentence_before(text, start)):
            return False
        if window == 0 or self._has_negation(keyword):
            return True
        if negations.negates(before, window):
            return False
        return not negations.is_after(_clause_after(text, end))


    # -- similarity pass ---------------------------------------------------------------

    def similarity_matches(self, norm: pd.Series, eligible: pd.Series | None, found: pd.DataFrame) -> pd.DataFrame:
        """Sentences of eligible texts close enough to a barrier's examples (``via`` similarity);
        pairs already in ``found`` are skipped."""
        import numpy as np
        import pandas as pd

        if self.model is None or len(norm) == 0:
            return _empty()
        import pyarrow as pa
        import pyarrow.compute as pc

        read = np.arange(len(norm)) if eligible is None else np.flatnonzero(eligible.to_numpy(dtype=bool))
        if len(read) == 0:
            return _empty()
        # The sentences of the texts read (pyarrow: one C pass, not pandas' per-string methods).
        parts = pc.split_pattern(pa.array(norm.to_numpy(dtype=object)[read], type=pa.large_string()), BOUNDARY)
        owner = read[pc.list_parent_indices(parts).to_numpy()]
        flat = pc.utf8_trim_whitespace(pc.list_flatten(parts))
        words = pc.add(pc.count_substring(flat, " "), 1)
        keep = pc.and_(pc.greater(pc.utf8_length(flat), 0), pc.greater_equal(words, self.settings.min_words))
        flat, owner = flat.filter(keep), owner[keep.to_numpy(zero_copy_only=False)]
        if len(flat) == 0:
            return _empty()
        distinct = pc.unique(flat)
        which = pc.index_in(flat, value_set=distinct).to_numpy()
        unique = np.array(distinct.to_pylist(), dtype=object)
        model = self.model
        label, score, neutral, example, cosine = (np.asarray(v) for v in model.nearest(list(unique)))
        passes = (score >= self.settings.threshold) & (score >= neutral + self.settings.margin) & (cosine >= self.settings.min_cosine)
        chosen = passes[which]
        owner, which = owner[chosen], which[chosen]
        hits = pd.DataFrame({"row": owner, "sentence": unique[which], "label": label[which], "score": score[which],
                             "example": example[which]})
        if hits.empty:
            return _empty()
        hits = hits.sort_values(["row", "score"], ascending=[True, False], kind="stable").drop_duplicates(["row", "label"])
        if not found.empty:
            known = pd.MultiIndex.from_frame(found[["row", "label"]])
            hits = hits[~pd.MultiIndex.from_frame(hits[["row", "label"]]).isin(known)]
        texts_of = np.array([*model.texts, ""], dtype=object)  # index -1: no example shares a word
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
        located = self.keyword_matches(norm)
        found = located[list(MATCH_COLUMNS)]
        similar = self.similarity_matches(norm, eligible, located)
        if similar.empty:
            return found
        out = pd.concat([found, similar], ignore_index=True) if not found.empty else similar
        return out.sort_values(["row", "via", "label"], kind="stable").reset_index(drop=True)


def _empty(start: bool = False) -> pd.DataFrame:
    import pandas as pd

    columns = {**MATCH_COLUMNS, **({"start": "int64"} if start else {})}
    return pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
