"""The barriers file(s), barriers.yaml: the catalog of barriers and their keywords, metric rules,
detection thresholds, the sentiment lexicon, how texts are matched (with the default negation,
hedge, contrast and filler words per language), and the examples file added to the catalog."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from cjm_tasks.config.common import Localized, Slug, Strict


class CatalogBarrier(Strict):
    id: Slug
    stage: str
    title: Localized
    recommendation: Localized
    keywords: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = Field(min_length=1)
    exclude: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    # Complaint sentences per language; texts close to them match by similarity (docs/barriers.md).
    examples: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}

    @field_validator("keywords")
    @classmethod
    def _some_keywords(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not any(value.values()):
            raise ValueError("at least one keyword is needed")
        return value

    @model_validator(mode="after")
    def _keywords_parse(self) -> CatalogBarrier:
        """A keyword the matcher cannot read is refused when the file loads, with its key."""
        from cjm_tasks.maps.keywords import parse_keyword

        for section in ("keywords", "exclude"):
            for language, words in getattr(self, section).items():
                for i, word in enumerate(words):
                    try:
                        parse_keyword(self.id, word, language)
                    except ValueError as exc:
                        raise ValueError(f"{section}.{language}[{i}]: {exc}") from None
        return self


class MetricRule(Strict):
    id: Slug
    stage: str
    metric: str
    op: Literal["lt", "le", "gt", "ge"]
    threshold: float
    min_samples: int = Field(0, ge=0)
    title: Localized
    recommendation: Localized


class DetectionConfig(Strict):
    """Thresholds of barrier detection (see docs/barriers.md for how they are used)."""

    min_mentions: int = Field(5, ge=1)
    min_share: float = Field(0.01, gt=0, le=1)
    min_customers: int = Field(30, ge=1)
    negative_score: float = Field(0.25, ge=0, le=1)
    emerging_min_support: int = Field(5, ge=2)
    emerging_min_share: float = Field(0.02, gt=0, le=1)
    emerging_max: int = Field(5, ge=0)
    theme_floor: int = Field(3, ge=1)
    themes_tracked: int = Field(200, ge=0)
    severity_half: float = Field(0.1, gt=0, le=1)
    quotes: int = Field(3, ge=0, le=10)
    quote_chars: int = Field(200, ge=40)


class Lexicon(Strict):
    positive: dict[str, list[str]] = {}
    negative: dict[str, list[str]] = {}


DEFAULT_NEGATIONS: dict[str, list[str]] = {
    "en": ["not", "no", "never", "t", "without", "none", "nothing", "nobody", "neither", "nor", "cannot", "hardly"],
    "ru": ["не", "нет", "ни", "без", "никогда", "ничего", "никто", "никакой*", "никаких", "никак", "нельзя", "нету"],
    "pt": ["nao", "nem", "sem", "nunca", "nenhum*", "nenhuma*", "nada", "n", "jamais", "ninguem"],
}
# Idioms whose negation word negates nothing that follows ("no problem paying by card").
DEFAULT_NEGATION_IDIOMS: dict[str, list[str]] = {
    "en": ["no problem*", "no issue*", "not only", "no doubt", "no wonder", "never mind"],
    "ru": ["без проблем*", "не только", "чуть не", "едва не", "не зря", "нет проблем*", "ничего себе"],
    "pt": ["sem problema*", "nao so", "nao apenas", "nao somente", "sem duvida"],
}
# Words that make what follows a fear or an expectation, not an experience ("I was afraid it
# would arrive late, but..."): a keyword after one in its clause, before any contrast word, does not count.
DEFAULT_HEDGES: dict[str, list[str]] = {
    "en": ["afraid", "worried", "worry", "feared", "fear", "expected", "expecting", "thought", "hoped", "assumed", "if"],
    "ru": ["боял*", "опасал*", "думал*", "ожидал*", "переживал*", "волновал*", "если"],
    "pt": ["medo", "receio", "achei", "pensei", "esperava", "temia", "se"],
}
DEFAULT_CONTRASTS: dict[str, list[str]] = {
    "en": ["but", "however", "though", "although", "yet", "instead"],
    "ru": ["но", "однако", "а", "зато", "хотя"],
    "pt": ["mas", "porem", "entretanto", "contudo", "so que"],
}
# Words skipped when counting a negation window ("without a single error", "ни одной ошибки").
DEFAULT_FILLERS: dict[str, list[str]] = {
    "en": ["a", "an", "the", "any", "single", "one", "more", "really", "very", "too", "much", "so"],
    "ru": ["ни", "одной", "одного", "единой", "единого", "особо", "очень", "слишком", "совсем", "было"],
    "pt": ["um", "uma", "o", "a", "nenhum", "muito", "tao"],
}
# Phrases that negate the keyword they follow ("очереди не было", "atraso nenhum", "queues: none").
DEFAULT_NEGATIONS_AFTER: dict[str, list[str]] = {
    "en": ["none"],
    "ru": ["нет", "не было", "не оказалось", "не наблюдалось", "никакой", "никаких", "никакого", "никакая"],
    "pt": ["nenhum", "nenhuma", "zero"],
}


class SimilarityConfig(Strict):
    """Matching by similarity to the catalog's example sentences (docs/barriers.md, "Matching")."""

    enabled: bool = True
    # The classifier's probability that a sentence is its most likely barrier's (docs/barriers.md).
    threshold: float = Field(0.25, gt=0, le=1)
    # That probability must exceed the probability of "none" (a neutral sentence) by this much.
    margin: float = Field(0.0, ge=0, le=1)
    # And the sentence must be this close (TF-IDF cosine) to one of that barrier's examples.
    min_cosine: float = Field(0.1, ge=0, le=1)
    min_words: int = Field(2, ge=1)
    # Texts scored at least this (0..1, 1 best) are not read for similarity: praise is not a complaint.
    max_score: float = Field(0.5, ge=0, le=1)
    neutral: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    # Complaints about things the catalog does not list (price level, parking...): a class of their
    # own, so a complaint is not pushed into the nearest barrier.
    other: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}


class MatchingConfig(Strict):
    """How texts are matched to the catalog (docs/barriers.md, "Matching")."""

    word_forms: bool = True
    gap_words: int = Field(3, ge=1, le=10)
    # A keyword without a negation of its own does not count after a negation this many words before it.
    negation_window: int = Field(2, ge=0, le=5)
    # `~keyword` needs a negation at most this many words before it.
    negated_window: int = Field(3, ge=1, le=6)
    # Negation words per language (a keyword is checked against those of its own language).
    negations: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATIONS.items()})
    negations_after: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATIONS_AFTER.items()})
    negation_idioms: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_NEGATION_IDIOMS.items()})
    hedges: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_HEDGES.items()})
    contrasts: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_CONTRASTS.items()})
    fillers: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_FILLERS.items()})
    similarity: SimilarityConfig = SimilarityConfig()


class BarriersFile(Strict):
    catalog: list[CatalogBarrier] = []
    metric_rules: list[MetricRule] = []
    detection: DetectionConfig = DetectionConfig()
    sentiment: Lexicon = Lexicon()
    matching: MatchingConfig = MatchingConfig()

    @model_validator(mode="after")
    def _unique_ids(self) -> BarriersFile:
        for section in ("catalog", "metric_rules"):
            ids = [b.id for b in getattr(self, section)]
            for i, bid in enumerate(ids):
                if ids.index(bid) != i:
                    raise ValueError(f"{section}[{i}].id: barrier {bid!r} is declared twice")
        return self


class ExamplesFile(Strict):
    """``files.examples``: example sentences added to the catalog's (``examples.<barrier id>.<lang>``),
    neutral sentences and other complaints added to ``matching.similarity.neutral`` and ``.other``."""

    examples: dict[str, dict[str, list[Annotated[str, StringConstraints(min_length=1)]]]] = {}
    neutral: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
    other: dict[str, list[Annotated[str, StringConstraints(min_length=1)]]] = {}
