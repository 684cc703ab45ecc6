"""How the evaluation's customers write: praise, neutral and vague texts, complaints filled in and
typed with typos, several complaints joined into one text, and the :class:`Dice` every draw
comes from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cjm_demo.evaluation_data.complaints import COMPLAINTS, ITEMS_EN, ITEMS_RU, PLAIN, PLAIN_SHARE
from cjm_demo.evaluation_data.world import GENERATOR_VERSION


class Dice:
    """Uniform draws from one generator, fetched in blocks: numpy's per-call overhead, not the
    arithmetic, dominated the simulation. Same seed, same sequence of draws."""

    def __init__(self, rng: np.random.Generator, block: int = 65536):
        self.rng, self._block = rng, block
        self._buffer: list[float] = []
        self._i = 0

    def random(self) -> float:
        if self._i == len(self._buffer):
            self._buffer, self._i = self.rng.random(self._block).tolist(), 0
        self._i += 1
        return self._buffer[self._i - 1]

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def integers(self, high: int) -> int:
        return min(high - 1, int(self.random() * high))

    def pick(self, options: Sequence[Any]) -> Any:
        return options[self.integers(len(options))]

    def weighted(self, options: Sequence[Any], weights: Sequence[float]) -> Any:
        u, total = self.random() * sum(weights), 0.0
        for option, weight in zip(options, weights):
            total += weight
            if u < total:
                return option
        return options[-1]


# Customers who met no barrier and write anyway: praise, neutral remarks, vague discontent.
PRAISE = {
    "en": ("Everything was fine, quick and easy", "Great {item}, works perfectly", "Friendly staff, helped me choose",
           "Delivered on time and well packed", "Good prices and a decent selection", "Happy with the purchase",
           "Will buy here again", "No complaints, all good", "Nice store, easy to find what I need", "Fast delivery, thanks",
           "The {item} is exactly what I needed", "Smooth checkout, no queues at all", "Arrived without any delay, thank you"),
    "ru": ("Всё отлично, быстро", "Хороший {nom}, работает", "Вежливые продавцы, помогли выбрать", "Привезли вовремя, упаковано хорошо",
           "Цены нормальные, выбор хороший", "Довольна покупкой", "Буду заказывать ещё", "Всё понравилось, спасибо",
           "{nom} как раз то, что нужно", "Удобный магазин, всё нашёл сам", "Доставили без задержек", "Быстро и без очереди"),
}
NEUTRAL = {
    "en": ("Bought a {item}, nothing special to report", "It's ok", "Normal shop, average prices", "Fine I guess"),
    "ru": ("Купил {acc}, в целом нормально", "Нормально", "Обычный магазин, цены средние", "Пойдёт"),
}
VAGUE = {
    "en": ("Could be better", "Not impressed", "Expected more, honestly", "Meh", "So-so experience overall", "Not great, not terrible"),
    "ru": ("Так себе", "Ожидал большего", "Могло быть лучше", "Средненько", "Не впечатлило", "Ну такое"),
}
JOINERS = {"en": (" Also, ", ". And ", ". Plus ", "; also "), "ru": (". И ещё: ", ". Кроме того, ", ", а ещё ", ". Плюс ")}
_DIGIT_FOR = {"о": "0", "o": "0", "з": "3", "e": "3", "l": "1", "i": "1", "б": "6", "a": "4"}


def _fill(template: str, dice: Dice) -> str:
    item = ITEMS_EN[dice.integers(len(ITEMS_EN))]
    nom, acc, gen = ITEMS_RU[dice.integers(len(ITEMS_RU))]
    text = template.format(item=item, nom=nom, acc=acc, gen=gen, mins=dice.pick([20, 25, 30, 40, 45, 50]),
                           days=dice.pick([5, 6, 8, 9, 10, 12, 14]))
    return text[0].upper() + text[1:] if text else text


def add_typos(text: str, dice: Dice) -> str:
    """The text as typed in a hurry: sometimes a dropped, swapped or doubled letter, a digit for
    a letter, lower case throughout, or the final punctuation lost or multiplied."""
    words = text.split(" ")
    for _ in range(dice.pick([0, 0, 0, 1, 1, 2])):
        candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
        if not candidates:
            break
        i = dice.pick(candidates)
        w = words[i]
        j = 1 + dice.integers(len(w) - 2)
        kind = dice.random()
        if kind < 0.35:
            w = w[:j] + w[j + 1:]
        elif kind < 0.7:
            w = w[:j] + w[j + 1] + w[j] + w[j + 2:]
        elif kind < 0.85:
            w = w[:j] + w[j] + w[j:]
        else:
            w = "".join(_DIGIT_FOR.get(c, c) if dice.random() < 0.5 else c for c in w)
        words[i] = w
    text = " ".join(words)
    roll = dice.random()
    if roll < 0.2:
        text = text.lower()
    roll = dice.random()
    if roll < 0.15:
        text = text.rstrip(".!?") + dice.pick(["!!!", "!", "...", " (((", ")"])
    elif roll < 0.3:
        text = text.rstrip(".!?")
    return text


def write_text(pool: Mapping[str, Sequence[str]], lang: str, dice: Dice) -> str:
    """One text from a pool of templates in ``lang``, filled in and typed with typos."""
    templates = pool[lang]
    return add_typos(_fill(templates[dice.integers(len(templates))], dice), dice)


def write_complaint(key: str, lang: str, dice: Dice) -> str:
    """One complaint about topic ``key``: a plain phrasing (PLAIN_SHARE of the time, where the
    topic has them) or a paraphrase."""
    pool = PLAIN[key] if key in PLAIN and dice.random() < PLAIN_SHARE else COMPLAINTS[key]
    return write_text(pool, lang, dice)


def sample_complaints(key: str, count: int, seed: int = 0) -> list[str]:
    """``count`` complaints about topic ``key`` as the generator writes them, half in each
    language: to measure what the catalog reads without generating a whole world."""
    dice = Dice(np.random.default_rng([seed, GENERATOR_VERSION, 9]))
    return [write_complaint(key, "ru" if i % 2 else "en", dice) for i in range(count)]


def combine(texts: Sequence[str], lang: str, dice: Dice) -> str:
    """Several complaints of one customer as one text."""
    out = texts[0]
    for text in texts[1:]:
        joiner = JOINERS[lang][dice.integers(len(JOINERS[lang]))]
        out = out.rstrip(".!? ") + joiner + text[0].lower() + text[1:]
    return out
