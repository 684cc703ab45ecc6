"""Negation rules, per language: the negation words before a keyword, the phrases that negate
a keyword they follow, idioms whose negation word negates nothing, hedges and contrasts, and the
words of the clause or sentence around a match that they are read in.

How a keyword uses them is described in :mod:`cjm_tasks.maps.matching` ("Negation").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cjm_tasks.maps.text import BOUNDARY, CLAUSE, normalize_one


def clause_before(text: str, start: int) -> list[str]:
    """The words of the clause before ``start`` (up to ~15 words)."""
    piece = text[max(0, start - 120):start]
    return piece.rsplit(BOUNDARY, 1)[-1].rsplit(CLAUSE, 1)[-1].split()


def sentence_before(text: str, start: int) -> list[str]:
    """The words of the sentence before ``start`` (up to ~25 words), clause marks kept."""
    return text[max(0, start - 200):start].rsplit(BOUNDARY, 1)[-1].split()


def clause_after(text: str, end: int) -> list[str]:
    piece = text[max(0, end - 1):end + 80]
    return piece.split(BOUNDARY, 1)[0].split(CLAUSE, 1)[0].split()


@dataclass(frozen=True)
class Negations:
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
              contrasts: Sequence[str] = (), fillers: Sequence[str] = ()) -> Negations:
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
