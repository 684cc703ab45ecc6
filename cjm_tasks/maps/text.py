"""Text from surveys and reviews: normalisation, one-pass keyword matching, sentiment, themes.

Normalisation (used for texts and keywords alike): lower case, accents stripped (NFKD without
combining marks, so Russian ё reads as е and Portuguese ã as a; Russian й is a letter of its own
and is kept), the end of a sentence (``.``, ``!``, ``?``, ``;``, ``…`` before a space or the end)
becomes the token ``¶`` (:data:`BOUNDARY`: phrases, gaps and negation windows never cross it),
a comma or colon between words the token ``¦`` (:data:`CLAUSE`: phrases and negation windows stop
there, gaps do not), every other run of non-word characters becomes one space, and the text is padded with a space at
each end. Words that mix letters with look-alike digits or with letters of the other alphabet
("0чередь", "oчередь" with a Latin o, "l4te") are read as the letters they imitate.

Keywords: one or more words; each word matches a whole word of the text, or, ending in ``*``, any
word starting with it (``задерж*`` matches задержка, задержали). All keywords of all barriers are
compiled into one Aho-Corasick automaton that scans every text of a period in a single pass: the
texts are joined into one string, so the scan is one C loop rather than one regex per keyword per
text. Keywords with a ``*`` inside a phrase are found by their fixed start and confirmed with a
regular expression at that position (rare: only those candidates are checked).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cjm_tasks.maps.distinct import distinct, expand, spread, starts_of

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

_SEP = "\n"  # joins texts; normalisation turns every newline inside a text into a space
_WORD_TAIL = re.compile(r"\w*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|[\r\n]+")
_TOKEN = re.compile(r"[^\W_]+")


BOUNDARY = "\u00b6"  # ¶: a sentence end in normalised text
CLAUSE = "\u00a6"  # ¦: a comma or colon between words (negation windows stop there; gaps do not)
# The same rules twice: RE2 patterns for pyarrow (vectorised, texts) and Python ones (one string).
_RE2_MARKS = "[\u0300-\u036f]+"
_RE2_SENTENCE = r"[.!?;\x{2026}\x{b6}]+[^\pL\pN]*(?:\s|$)"
_RE2_CLAUSE = r"[,:\x{a6}]+(?:\s+|$)|(\pL)[,:]+(\pL)"
_RE2_REST = r"[^\pL\pN\x{b6}\x{a6}]+"
_RE2_TO_SENTENCE = r"(?:\x{a6}\s*)*\x{b6}(?:\s*[\x{b6}\x{a6}])*"
_RE2_REPEATED = r"\x{a6}(?:\s*\x{a6})+"
_RE2_EDGES = r"^[\s\x{b6}\x{a6}]+|[\s\x{b6}\x{a6}]+$"
_PY_SENTENCE = re.compile(r"[.!?;\u2026\u00b6]+[\W_]*(?:\s|$)")
_PY_CLAUSE = re.compile(r"[,:\u00a6]+(?:\s+|$)|([^\W\d_])[,:]+([^\W\d_])")
_PY_REST = re.compile(r"(?:[^\w\u00b6\u00a6]|_)+")
_PY_TO_SENTENCE = re.compile(r"(?:\u00a6\s*)*\u00b6(?:\s*[\u00b6\u00a6])*")
_PY_REPEATED = re.compile(r"\u00a6(?:\s*\u00a6)+")
_PY_EDGES = re.compile(r"^[\s\u00b6\u00a6]+|[\s\u00b6\u00a6]+$")
# A word mixing alphabets, or letters and look-alike digits (rare: only those texts are rewritten).
_DISGUISED_PATTERN = "[a-z][0-9а-я]|[0-9а-я][a-z]|[а-я][0-9]|[0-9][а-я]"
_DISGUISED = re.compile(_DISGUISED_PATTERN)
_DISGUISED_WORD = re.compile(r"\w*(?:" + _DISGUISED_PATTERN + r")\w*")
_TO_CYRILLIC = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "k": "к", "m": "м",
                "t": "т", "b": "в", "h": "н", "0": "о", "3": "з", "4": "ч", "6": "б"}
_TO_LATIN = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "х": "x", "у": "y", "к": "k", "м": "m",
             "т": "t", "в": "b", "н": "h", "0": "o", "1": "l", "3": "e", "4": "a", "5": "s", "7": "t"}
_CYRILLIC = re.compile(r"[а-я]")
_LATIN = re.compile(r"[a-z]")


_LOOKALIKE_DIGITS = re.compile(r"(?<=[^\W\d_])\d+(?=[^\W\d_])|^\d+(?=[^\W\d_]{3})")


def _undisguise_word(match: re.Match[str]) -> str:
    """"0чередь" → очередь, "oчередь" (Latin o) → очередь, "l4te" → late, "g00d" → good; "mp3",
    "iphone14" and "10kg" stay: digits are read as letters only between letters, or first
    before three letters or more."""
    word = match.group()
    cyrillic, latin = len(_CYRILLIC.findall(word)), len(_LATIN.findall(word))
    table = str.maketrans(_TO_CYRILLIC if cyrillic >= latin else _TO_LATIN)
    other = _LATIN if cyrillic >= latin else _CYRILLIC
    word = _LOOKALIKE_DIGITS.sub(lambda m: m.group().translate(table), word)
    return other.sub(lambda m: m.group().translate(table), word)


def _undisguise(text: str) -> str:
    return _DISGUISED_WORD.sub(_undisguise_word, text)


def normalize(texts: pd.Series) -> pd.Series:
    """Normalised, space-padded texts (vectorised with pyarrow's RE2 kernels; missing texts become
    a single space), each distinct text normalised once. The same rules as :func:`normalize_one`."""
    import pandas as pd

    if len(texts) == 0:
        return pd.Series([], index=texts.index, dtype="object")
    codes, values = distinct(texts)
    if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
        # Values of other types (1 and 1.0 are one value to pandas but two strings): as strings first.
        codes, values = distinct(texts.fillna("").astype("str"))
    return pd.Series(_normalize_distinct(values)[codes], index=texts.index, dtype="object")


def _normalize_distinct(texts: pd.Series) -> np.ndarray:
    """:func:`normalize` of every text, as an object array."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    a = pa.array(texts.fillna("").astype("str"), type=pa.string())
    a = pc.utf8_normalize(pc.utf8_lower(a), "NFKD")
    a = pc.replace_substring(a, "\u0438\u0306", "\u0439")  # и + breve is the letter й: kept
    a = pc.utf8_normalize(pc.replace_substring_regex(a, _RE2_MARKS, ""), "NFC")
    disguised = pc.match_substring_regex(a, _DISGUISED_PATTERN)
    if pc.any(disguised).as_py():
        values = a.to_pylist()
        for i in pc.indices_nonzero(disguised).to_pylist():
            values[i] = _undisguise(values[i])
        a = pa.array(values, type=pa.string())
    a = pc.replace_substring_regex(a, _RE2_SENTENCE, " \u00b6 ")
    a = pc.replace_substring_regex(a, _RE2_CLAUSE, "\\1 \u00a6 \\2")
    a = pc.replace_substring_regex(a, _RE2_REST, " ")
    a = pc.replace_substring_regex(a, _RE2_TO_SENTENCE, "\u00b6")
    a = pc.replace_substring_regex(a, _RE2_REPEATED, "\u00a6")
    a = pc.replace_substring_regex(a, _RE2_EDGES, "")
    return np.array([" " + v + " " for v in a.to_pylist()], dtype=object)


@functools.lru_cache(maxsize=1 << 16)
def normalize_one(text: str) -> str:
    """:func:`normalize` for one string (keywords, phrases): the same rules, without pandas.
    Remembered for the last 65,536 strings: quotes and theme titles normalise every word of
    their sentences, the same words in every persona's map."""
    import unicodedata

    folded = unicodedata.normalize("NFKD", (text or "").lower()).replace("\u0438\u0306", "\u0439")
    folded = unicodedata.normalize("NFC", re.sub(_RE2_MARKS, "", folded))
    if _DISGUISED.search(folded):
        folded = _undisguise(folded)
    folded = _PY_CLAUSE.sub(lambda m: (m.group(1) or "") + " \u00a6 " + (m.group(2) or ""), _PY_SENTENCE.sub(" \u00b6 ", folded))
    folded = _PY_REPEATED.sub(CLAUSE, _PY_TO_SENTENCE.sub(BOUNDARY, _PY_REST.sub(" ", folded)))
    folded = _PY_EDGES.sub("", folded)
    return " " + folded + " "


@dataclass(frozen=True)
class _Pattern:
    label: str
    keyword: str
    verify: re.Pattern[str] | None


def _compile_keyword(keyword: str, normalized: bool = False) -> tuple[str, re.Pattern[str] | None]:
    """(anchor searched by the automaton, optional regex confirming the whole phrase);
    ``normalized``: the keyword's words are already normalised (word forms of a vocabulary)."""
    words: list[tuple[str, bool]] = []
    for raw in keyword.split():
        star = raw.endswith("*")
        parts = [raw.rstrip("*")] if normalized else normalize_one(raw.rstrip("*")).split()
        for i, part in enumerate(parts):
            words.append((part, star and i == len(parts) - 1))
    if not words:
        raise ValueError(f"keyword {keyword!r} has no letters or digits")
    inner_star = any(star for _, star in words[:-1])
    if not inner_star:
        anchor = " " + " ".join(w for w, _ in words) + ("" if words[-1][1] else " ")
        return anchor, None
    fixed: list[str] = []
    for word, star in words:
        fixed.append(word)
        if star:
            break
    anchor = " " + " ".join(fixed)
    regex = " " + " ".join(re.escape(w) + (r"\w*" if star else "") for w, star in words) + ("" if words[-1][1] else " ")
    return anchor, re.compile(regex)


class KeywordMatcher:
    """Finds which labelled keyword sets occur in many texts, in one pass.

    ``KeywordMatcher({"late_delivery": ["arrived late", "задерж*"], ...}, exclude={"late_delivery":
    ["without delay"]})``; :meth:`match` returns one row per (text, label) with the first keyword
    that matched. A keyword occurrence inside an ``exclude`` phrase of the same label does not count
    (``delay*`` inside "without delay"), but another occurrence in the same text still does.
    """

    def __init__(self, keywords: Mapping[str, Iterable[str]], exclude: Mapping[str, Iterable[str]] | None = None):
        import ahocorasick

        self._automaton = ahocorasick.Automaton()
        patterns: dict[str, list[tuple[_Pattern, bool]]] = {}
        for excluded, source in ((False, keywords), (True, exclude or {})):
            for label, words in source.items():
                for keyword in words:
                    anchor, verify = _compile_keyword(keyword)
                    patterns.setdefault(anchor, []).append((_Pattern(label, keyword, verify), excluded))
        for anchor, entries in patterns.items():
            self._automaton.add_word(anchor, (len(anchor), tuple(entries)))
        self.empty = not patterns
        if not self.empty:
            self._automaton.make_automaton()

    def spans(self, texts: pd.Series, normalized: bool = False) -> pd.DataFrame:
        """Every occurrence: columns ``row``, ``label``, ``keyword``, ``start``, ``end``, ``excluded``.

        ``start``/``end`` are offsets in the joined normalised texts (comparable within a row).
        """
        import numpy as np
        import pandas as pd

        columns = {"row": "int64", "label": "str", "keyword": "str", "start": "int64", "end": "int64", "excluded": "bool", "found": "str"}
        empty = pd.DataFrame({c: pd.Series([], dtype=t) for c, t in columns.items()})
        if self.empty or len(texts) == 0:
            return empty
        norm = texts if normalized else normalize(texts)
        values = norm.tolist()
        lengths = np.fromiter((len(v) for v in values), dtype=np.int64, count=len(values))
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        joined = _SEP.join(values)
        # Columns kept as plain lists and handed to pandas as object arrays: a DataFrame built
        # from a list of tuples, or string columns of the Arrow type, cost more than the scan.
        hit_start: list[int] = []
        hit_end: list[int] = []
        hit_label: list[str] = []
        hit_keyword: list[str] = []
        hit_excluded: list[bool] = []
        hit_found: list[str] = []
        for end, (length, entries) in self._automaton.iter(joined):
            start = end - length + 1
            for entry, excluded in entries:
                if entry.verify is None:
                    stop = end + 1
                else:
                    confirmed = entry.verify.match(joined, start)
                    if not confirmed:
                        continue
                    stop = confirmed.end()
                hit_start.append(start)
                hit_end.append(stop)
                hit_label.append(entry.label)
                hit_keyword.append(entry.keyword)
                hit_excluded.append(excluded)
                hit_found.append(matched_words(joined, start, stop))
        if not hit_start:
            return empty
        start_arr = np.array(hit_start, dtype=np.int64)
        obj = lambda values: np.array(values, dtype=object)  # noqa: E731
        return pd.DataFrame({
            "row": (np.searchsorted(starts, start_arr, side="right") - 1).astype("int64"), "start": start_arr,
            "label": obj(hit_label), "keyword": obj(hit_keyword), "end": np.array(hit_end, dtype=np.int64),
            "excluded": np.array(hit_excluded, dtype=bool), "found": obj(hit_found),
        })

    def match(self, texts: pd.Series, normalized: bool = False) -> pd.DataFrame:
        """Columns ``row`` (position in ``texts``), ``label``, ``keyword`` and ``found`` (the matched
        words, normalised, a trailing stem completed to its word); one row per text and label.
        Each distinct text is scanned once."""
        codes, values = distinct(texts if normalized else normalize(texts))
        return spread(self._match_distinct(values), codes)

    def counts(self, texts: pd.Series, normalized: bool = False) -> pd.Series:
        """How many of ``texts`` hold each label (labels in none are left out), by label; each
        distinct text is scanned once and counted as often as it occurs."""
        import numpy as np

        codes, values = distinct(texts if normalized else normalize(texts))
        return self.weighted_counts(values, np.bincount(codes, minlength=len(values)))

    def weighted_counts(self, norm: pd.Series, weights: np.ndarray) -> pd.Series:
        """:meth:`counts` of distinct normalised texts ``norm``, the text at position ``i`` counted
        ``weights[i]`` times (how often it occurs)."""
        import pandas as pd

        found = self._match_distinct(norm.reset_index(drop=True))
        return pd.Series(weights[found["row"].to_numpy()], index=found["label"]).groupby(level=0).sum()

    def _match_distinct(self, norm: pd.Series) -> pd.DataFrame:
        """:meth:`match` of normalised texts, ``row`` their position."""
        hits = self.spans(norm, normalized=True)
        kept = hits[~hits["excluded"]]
        masks = hits[hits["excluded"]]
        if not masks.empty and not kept.empty:
            pairs = kept.reset_index().merge(masks[["row", "label", "start", "end"]], on=["row", "label"], suffixes=("", "_x"))
            inside = pairs[(pairs["start_x"] <= pairs["start"]) & (pairs["end"] <= pairs["end_x"])]
            kept = kept.drop(index=inside["index"].unique())
        kept = kept.sort_values(["row", "start"], kind="stable")
        return kept.drop_duplicates(["row", "label"], keep="first")[["row", "label", "keyword", "found"]].reset_index(drop=True)


def matched_words(text: str, start: int, stop: int) -> str:
    """The words a match spans in a normalised ``text``, as quotes show them: ``text[start:stop]``
    with a trailing stem completed to its word (a whole-word match already ends at its padding
    space)."""
    tail = stop if stop > 0 and text[stop - 1] == " " else _WORD_TAIL.match(text, stop).end()
    return text[start:tail].strip()


def drop_nested(hits: pd.DataFrame) -> pd.DataFrame:
    """Hits not contained in a longer hit of the same row ("not happy" wins over "happy")."""
    if hits.empty:
        return hits
    indexed = hits.reset_index()
    pairs = indexed.merge(indexed[["row", "start", "end", "index"]], on="row", suffixes=("", "_o"))
    nested = pairs[(pairs["index"] != pairs["index_o"]) & (pairs["start_o"] <= pairs["start"]) & (pairs["end"] <= pairs["end_o"])
                   & ((pairs["end_o"] - pairs["start_o"]) > (pairs["end"] - pairs["start"]))]
    return hits.drop(index=nested["index"].unique())


# ---------------------------------------------------------------------------------- sentiment


def sentiment(texts: pd.Series, lexicon: Mapping[str, Mapping[str, Iterable[str]]], normalized: bool = False) -> pd.Series:
    """Lexicon sentiment per text in [-1, 1]: (positive - negative) / (positive + negative) hits.

    ``lexicon`` is ``{"positive": {lang: words}, "negative": {lang: words}}``; words follow the
    keyword rules above. Where matches overlap the longest wins ("not happy" is one negative hit,
    not a positive and a negative). Texts with no hit score NaN (no opinion expressed), not 0.
    Each distinct text is scored once.
    """
    import pandas as pd

    codes, values = distinct(texts if normalized else normalize(texts))
    return pd.Series(_sentiment_distinct(values, lexicon)[codes], index=texts.index)


def _sentiment_distinct(norm: pd.Series, lexicon: Mapping[str, Mapping[str, Iterable[str]]]) -> np.ndarray:
    """:func:`sentiment` of every normalised text, as an array."""
    import numpy as np

    words: dict[str, list[str]] = {}
    for polarity in ("positive", "negative"):
        for word in (w for ws in lexicon.get(polarity, {}).values() for w in ws):
            words.setdefault(f"{polarity}\t{word}", []).append(word)
    hits = drop_nested(KeywordMatcher(words).spans(norm, normalized=True))
    if hits.empty:
        return np.full(len(norm), np.nan)
    positive = hits["label"].str.startswith("positive\t").to_numpy()
    rows = hits["row"].to_numpy()
    pos = np.bincount(rows[positive], minlength=len(norm)).astype("float64")
    neg = np.bincount(rows[~positive], minlength=len(norm)).astype("float64")
    total = pos + neg
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (pos - neg) / total, np.nan)


# ------------------------------------------------------------------------------------- themes

STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from as is are was were be been being it its this that these those
i me my we our you your he she they them their his her not no so very too just than then there here what which who
when where why how all any both each few more most other some such only own same can will would should could did do
does done had has have having am about into over after before again also out up down off once until while
и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот от меня еще
нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж вам ведь там потом
себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтобы без будто чего раз тоже себе под
будет ж тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее сейчас были куда
зачем всех никогда можно при наконец два об другой хоть после над больше тот через эти нас про всего них какая
много разве три эту моя впрочем хорошо свою этой перед иногда лучше чуть том нельзя такой им более всегда конечно
всю между это очень весь вся всё просто вообще ещё пока раза снова
really quite still even much many far next time think twice back again never ever well way thing things something
please thanks hour hours day days week weeks month one two three first last get got make made take took want wanted
o a os as um uma de do da dos das em no na nos nas por para com sem que e é se ao aos mas mais muito foi ser esta
este isso isto ja já nao não meu minha seu sua eu ele ela eles elas voce você
""".split())


def text_bigrams(texts: pd.Series, normalized: bool = False) -> pd.DataFrame:
    """The distinct two-word phrases of every text: columns ``row`` (the text's index label)
    and ``phrase``. Both words are meaningful (no stop word, longer than two letters, not a
    number) and next to each other in the text: a pair never bridges a stop word ("gave up
    choosing" gives no "gave choosing"). Each distinct text is read once."""
    import pandas as pd

    norm = texts if normalized else normalize(texts)
    # Rows sharing an index label are one text to the pairing: read as they are, not per value.
    per_value = texts.index.is_unique
    codes, values = distinct(norm) if per_value else (None, norm)
    pairs = _bigrams_of(values) if len(texts) else None
    if pairs is None:
        return pd.DataFrame({"row": pd.Series([], dtype="int64"), "phrase": pd.Series([], dtype="str")})
    return spread(pairs, codes, texts.index.to_numpy()) if per_value else pairs


def _bigrams_of(norm: pd.Series) -> pd.DataFrame | None:
    """:func:`text_bigrams` of every row of normalised texts (``row``: its index label); None when
    no text has a word."""
    import pandas as pd

    tokens = norm.str.split().explode().dropna()
    if tokens.empty:
        return None
    frame = pd.DataFrame({"row": tokens.index.to_numpy(), "word": tokens.to_numpy()})
    frame["next"] = frame["word"].shift(-1)
    content = lambda words: (words.str.len() > 2) & ~words.isin(STOPWORDS) & ~words.str.isdigit()
    frame["same"] = (frame["row"].shift(-1) == frame["row"]) & content(frame["word"]) & content(frame["next"].fillna(""))
    pairs = frame[frame["same"]]
    return pd.DataFrame({"row": pairs["row"], "phrase": pairs["word"] + " " + pairs["next"]}).drop_duplicates().reset_index(drop=True)


class WordPairs:
    """The word pairs (:func:`text_bigrams`) of a quarter's texts, kept per distinct text: each
    text's pairs are taken when a selection of rows asks for them (:meth:`of`), so the pairs of
    every text (tens of millions of rows at ten times workload L) are never held at once, and
    phrases are numbered (``pid``) so counting them is counting integers."""

    def __init__(self, norm: pd.Series):
        """``norm``: normalised texts indexed by their row numbers (distinct integers >= 0)."""
        import numpy as np
        import pandas as pd

        rows = norm.index.to_numpy(dtype=np.int64)
        codes, values = distinct(norm)
        pairs = _bigrams_of(values) if len(values) else None
        if pairs is None:
            pairs = pd.DataFrame({"row": pd.Series([], dtype="int64"), "phrase": pd.Series([], dtype="object")})
        pairs = pairs.iloc[np.argsort(pairs["row"].to_numpy(), kind="stable")]  # by text, as made
        pids, vocabulary = pd.factorize(pairs["phrase"].to_numpy(dtype=object))
        self.vocabulary = np.asarray(vocabulary, dtype=object)
        self._pids = pids.astype(np.int64)
        self._starts = starts_of(pairs["row"].to_numpy(dtype=np.int64), len(values))
        self._code_of = np.full(int(rows.max(initial=-1)) + 1, -1, dtype=np.int64)
        self._code_of[rows] = codes
        self._texts = values

    def texts_of(self, rows) -> tuple[pd.Series, np.ndarray]:
        """The distinct normalised texts of ``rows`` (row numbers) and how many of the rows hold
        each: what :meth:`KeywordMatcher.weighted_counts` counts, without hashing the texts again."""
        import numpy as np

        _, codes = self._known(np.asarray(rows, dtype=np.int64))
        times = np.bincount(codes, minlength=len(self._texts))
        present = np.flatnonzero(times)
        return self._texts.iloc[present].reset_index(drop=True), times[present]

    def _known(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of ``rows`` (row numbers), those of a text these pairs were made from, and each one's
        distinct text; numbers it does not know are no texts."""
        rows = rows[(rows >= 0) & (rows < len(self._code_of))]
        codes = self._code_of[rows]
        known = codes >= 0
        return rows[known], codes[known]

    def of(self, rows, phrases: bool = True) -> pd.DataFrame:
        """The pairs of the texts ``rows`` (row numbers), as :func:`text_bigrams` gives them:
        columns ``row``, ``phrase`` (and its number ``pid``), rows ascending, each text's pairs in
        the order of its words. ``phrases=False``: without ``phrase`` (a caller counting numbers
        saves a column as long as the pairs: hundreds of MB for the 'all' map at 10x)."""
        import numpy as np
        import pandas as pd

        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) > 1 and not (rows[1:] > rows[:-1]).all():  # a selection's rows are usually ascending already
            rows = np.unique(rows)
        rows, codes = self._known(rows)
        take, count = expand(self._starts, codes)
        pids = self._pids[take]
        if not phrases:
            return pd.DataFrame({"row": np.repeat(rows, count), "pid": pids})
        return pd.DataFrame({"row": np.repeat(rows, count), "phrase": pd.Series(self.vocabulary[pids], dtype=object), "pid": pids})


def count_phrases(bigrams: pd.DataFrame, min_count: int = 2) -> pd.DataFrame:
    """Phrases of :func:`text_bigrams` used by at least ``min_count`` texts: columns ``phrase``,
    ``texts``, ``rows`` (the texts' row labels), most used first (ties by phrase). Pairs with
    phrase numbers (``pid``, :class:`WordPairs`) are counted as integers."""
    import numpy as np
    import pandas as pd

    if "pid" not in bigrams.columns:
        pid, _ = pd.factorize(bigrams["phrase"])
        bigrams = bigrams.assign(pid=pid)
    pid = bigrams["pid"].to_numpy(dtype=np.int64)
    sizes = np.bincount(pid) if len(pid) else np.zeros(0, dtype=np.int64)
    frequent = np.flatnonzero(sizes >= min_count)
    if not len(frequent):
        return pd.DataFrame({"phrase": pd.Series([], dtype="str"), "texts": pd.Series([], dtype="int64"), "rows": pd.Series([], dtype="object")})
    # Row lists only for the phrases that qualify: most phrases occur once.
    phrases = np.empty(len(sizes), dtype=object)
    phrases[pid] = bigrams["phrase"].to_numpy(dtype=object)
    phrases = phrases[frequent]
    texts = sizes[frequent].astype("int64")
    rows = phrase_rows(pid, bigrams["row"].to_numpy(), frequent)
    order = sorted(range(len(phrases)), key=lambda i: (-texts[i], phrases[i]))
    return pd.DataFrame({"phrase": pd.Series(phrases[order], dtype=object), "texts": texts[order],
                         "rows": pd.Series([rows[i] for i in order], dtype=object)})


def phrase_rows(pid: np.ndarray, rows: np.ndarray, chosen: np.ndarray) -> list[list[int]]:
    """The ``rows`` of each phrase number of ``chosen`` (ascending), in their order (``pid``: the
    phrase number of each row)."""
    import numpy as np

    wanted = np.zeros(int(max(pid.max(initial=-1), chosen.max(initial=-1))) + 1, dtype=bool)
    wanted[chosen] = True
    keep = wanted[pid]
    by_phrase = np.argsort(pid[keep], kind="stable")
    firsts = np.flatnonzero(np.diff(pid[keep][by_phrase])) + 1
    return [part.tolist() for part in np.split(rows[keep][by_phrase], firsts)]


def phrase_counts(texts: pd.Series, min_count: int = 2, normalized: bool = False) -> pd.DataFrame:
    """Every two-word phrase used by at least ``min_count`` of ``texts``; ``rows`` are positions."""
    positional = texts.reset_index(drop=True)
    return count_phrases(text_bigrams(positional, normalized), min_count)


def pick_varied(phrases: pd.DataFrame, top: int) -> pd.DataFrame:
    """The first ``top`` phrases that share no word with a phrase picked before them and are
    not mostly used by the same texts (two phrases of one complaint are one theme)."""
    chosen, used, texts_of = [], set(), []
    for row in phrases.itertuples(index=False):
        words, rows = set(row.phrase.split()), set(row.rows)
        if words & used or any(len(rows & other) > 0.5 * min(len(rows), len(other)) for other in texts_of):
            continue
        chosen.append(row)
        used |= words
        texts_of.append(rows)
        if len(chosen) == top:
            break
    return pd_frame(chosen, phrases.columns)


def pd_frame(rows: list, columns) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(rows, columns=list(columns)) if rows else pd.DataFrame({c: pd.Series([], dtype="object") for c in columns})


def themes(texts: pd.Series, top: int = 5, min_count: int = 2, normalized: bool = False) -> pd.DataFrame:
    """The most frequent, varied two-word phrases: :func:`phrase_counts` then :func:`pick_varied`."""
    return pick_varied(phrase_counts(texts, min_count, normalized), top)


def stable_id(prefix: str, phrase: str) -> str:
    """A deterministic id for a phrase, the same in every period: ``prefix-<10 hex>``."""
    return f"{prefix}-{hashlib.sha1(normalize_one(phrase).strip().encode()).hexdigest()[:10]}"


def matched_sentence(text: str, found: str | None, chars: int) -> tuple[str, list[int] | None]:
    """The sentence of ``text`` holding the matched words ``found`` (as the matchers report them:
    words, a trailing stem completed to its word, parts of a gapped keyword joined by " ... "),
    cut to at most ``chars`` characters around them, and the [start, end) character span from
    the first matched word to the last in the returned string (None when they are not located).

    Without ``found`` (or when it is not in any sentence) the text's start is returned.
    """
    sentence, span = _matched_sentence(str(text), found, chars)
    return sentence, (None if span is None else list(span))


@functools.lru_cache(maxsize=1 << 14)
def _matched_sentence(text: str, found: str | None, chars: int) -> tuple[str, tuple[int, int] | None]:
    """:func:`matched_sentence`, remembered for the last 16,384 calls (every persona's map looks
    for the same phrases in the same texts), its span a tuple so no caller can change it."""
    sentences = [" ".join(s.split()) for s in _SENTENCE_END.split(text) if s and s.strip()] or [text.strip()]
    parts = [[w for w in normalize_one(p).split() if w not in (BOUNDARY, CLAUSE)] for p in (found or "").split("...")]
    parts = [p for p in parts if p]
    for sentence in sentences if parts else []:
        tokens = list(_TOKEN.finditer(sentence))
        norms = [normalize_one(t.group()).strip() for t in tokens]
        span = _locate(norms, parts)
        if span is not None:
            cut, where = _cut(sentence, tokens[span[0]].start(), tokens[span[1]].end(), chars)
            return cut, (where[0], where[1])
    flat = " ".join(text.split())
    return (flat if len(flat) <= chars else flat[: chars - 1].rsplit(" ", 1)[0] + "…"), None


def _locate(norms: list[str], parts: list[list[str]]) -> tuple[int, int] | None:
    """(first, last) token index of ``parts`` found in order in ``norms`` (a part's last word may
    be a stem of the text's word), or None."""
    first, at = None, 0
    for part in parts:
        hit = None
        for i in range(at, len(norms) - len(part) + 1):
            window = norms[i:i + len(part)]
            if window[:-1] == part[:-1] and window[-1].startswith(part[-1]):
                hit = i
                break
        if hit is None:
            return None
        first = hit if first is None else first
        at = hit + len(part)
    return first, at - 1


def _cut(sentence: str, start: int, end: int, chars: int) -> tuple[str, list[int]]:
    """``sentence`` shortened to ``chars`` around [start, end), with the span moved to match."""
    if len(sentence) <= chars:
        return sentence, [start, end]
    room = max(0, chars - (end - start) - 2)
    left = max(0, start - room // 2)
    right = min(len(sentence), left + chars - 2)
    left = max(0, min(left, right - (chars - 2)))
    piece = sentence[left:right]
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(sentence) else ""
    return prefix + piece + suffix, [start - left + len(prefix), end - left + len(prefix)]
