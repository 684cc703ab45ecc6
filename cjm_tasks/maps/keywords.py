"""Catalog keywords: their syntax parsed (``...`` gaps, ``~`` negated, ``prefix*``, ``=word``), the
forms each word stands for in a period's vocabulary (Snowball stems, Russian dictionary
lexemes), and the Aho-Corasick automaton that finds every form of every keyword part in one pass.

How keywords are matched is described in :mod:`cjm_tasks.maps.matching`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from cjm_tasks.maps.text import BOUNDARY, normalize_one

SNOWBALL = {"en": "english", "ru": "russian", "pt": "portuguese", "es": "spanish", "fr": "french", "de": "german",
            "it": "italian", "nl": "dutch", "sv": "swedish", "no": "norwegian", "da": "danish", "fi": "finnish",
            "pl": "polish", "tr": "turkish", "ro": "romanian", "hu": "hungarian", "cs": "czech", "el": "greek",
            "uk": "russian", "ca": "catalan", "id": "indonesian", "lt": "lithuanian", "ar": "arabic"}
CYRILLIC_LANGS = {"ru", "uk"}
_IS_CYRILLIC = re.compile(r"[а-яй]")
_IS_LATIN = re.compile(r"[a-z]")
GAP = "..."
NEGATED = "~"
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
    script = _IS_CYRILLIC if language in CYRILLIC_LANGS else _IS_LATIN
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
        if _in_dictionary(word, language):
            out |= _lexeme(word) & self._vocabulary
        return out


def _in_dictionary(word: str, language: str) -> bool:
    """Whether :meth:`WordForms.forms` looks ``word`` up in the Russian dictionary (its lexeme)."""
    return (language in CYRILLIC_LANGS and _stemmer(language) is not None and bool(word) and not word.isdigit()
            and _IS_CYRILLIC.search(word) is not None)


def look_up_lexemes(keywords: Iterable[Keyword]) -> int:
    """Look up, ahead of any text, the dictionary lexeme of every Russian word ``keywords`` take
    in any form: what :meth:`WordForms.forms` asks the dictionary for each such word, whatever
    the texts (the answers are cached). Returns how many words were looked up. A refresh does
    it on the thread that builds its matcher while the engine counts: the first match took it
    otherwise, 0.3 s of a single core at workload L."""
    # A word in any form (how ""): the only ones phrase_variants asks WordForms for.
    words = {word for keyword in keywords for part in keyword.parts for word, how in part
             if how == "" and _in_dictionary(word, keyword.language)}
    for word in words:
        _lexeme(word)
    return len(words)


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


def phrase_variants(words: tuple[tuple[str, str], ...], language: str, forms: WordForms | None) -> list[str]:
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


# ---------------------------------------------------------------------------------- scanner


class Scanner:
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


def part_pattern(variants: Sequence[str]) -> re.Pattern[str]:
    """A regular expression finding any variant of a keyword part (words, a trailing ``*``) in a
    normalised text, starting at the space before its first word."""
    alternatives = []
    for variant in sorted(set(variants), key=len, reverse=True):
        words = variant.split()
        body = " ".join(re.escape(w[:-1]) + r"\w*" if w.endswith("*") else re.escape(w) for w in words)
        alternatives.append(body + ("" if words[-1].endswith("*") else "(?= )"))
    return re.compile(" (?:" + "|".join(alternatives) + ")")
