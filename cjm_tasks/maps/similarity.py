"""Similarity to the catalog's example sentences: a small classifier (logistic regression over
character 3-4-gram and word-stem TF-IDF features) built from the configuration alone, and a fast
transform of a period's sentences into its features.

When a sentence counts as a match is described in :mod:`cjm_tasks.maps.matching` ("Similarity").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cjm_tasks.maps.keywords import stem_word
from cjm_tasks.maps.text import BOUNDARY, CLAUSE, STOPWORDS, normalize_one

NEUTRAL = ""  # the class of neutral sentences: catalog words used without complaining
OTHER = "~other"  # the class of complaints about something the catalog does not list
CHAR_NGRAMS = (3, 4)  # character n-grams within words (seeds 0-1: as accurate as 2-5, half the n-grams)


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
        # Newton steps (newton-cg): on the default catalog (3,455 examples, 38k features) they
        # reach tol 1e-3 in 7 iterations, 0.6-1.0 s, with probabilities within 0.035 of an exact
        # fit's on the sample's texts; L-BFGS at that tolerance took 1.5-2.5 s and stopped up to
        # 0.25 away from them (docs/evaluation.md, "Per-mention detection").
        classifier = LogisticRegression(C=10.0, max_iter=1000, tol=1e-3, class_weight="balanced", solver="newton-cg").fit(matrix, list(labels))
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
