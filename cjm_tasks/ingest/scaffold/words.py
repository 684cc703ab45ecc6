"""Names and words: how a column, event or question name is split into words and matched to word
lists (English and Russian stems), ids made from names, and the journey stage a name points to."""

from __future__ import annotations

import re


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-zа-яё])([A-ZА-ЯЁ])", r"\1 \2", str(name))
    return [w for w in re.split(r"[^0-9a-zа-яё]+", spaced.lower()) if w]


def _match(words: list[str], stems: tuple[str, ...]) -> str | None:
    """The first stem a word matches: whole short words, prefixes for stems of four letters or more."""
    for stem in stems:
        for word in words:
            if word == stem or (len(stem) >= 4 and word.startswith(stem)):
                return stem
    return None


def _named(name: str, stems: tuple[str, ...]) -> bool:
    return _match(_words(name), stems) is not None


ID_WORDS = ("id", "uuid", "guid", "key", "number", "no", "nr", "num", "номер")
CUSTOMER_WORDS = ("customer", "cust", "client", "user", "author", "reviewer", "buyer", "member", "account", "shopper", "respondent",
                  "клиент", "покупател", "пользовател", "автор")
NOT_SCORE_WORDS = ("age", "year", "month", "day", "hour", "count", "qty", "quantity", "number", "num", "code", "zip", "index",
                   "size", "level", "tier", "segment", "group", "region", "cluster", "class", "type", "category", "gender",
                   "children", "kids", "visits", "orders", "items", "id", "votes", "vote", "length", "lenght", "photos",
                   "возраст", "год", "количеств")
# Words that make a customer-named column a fact about the customer rather than their id.
NOT_CUSTOMER_ID_WORDS = ("zip", "postal", "postcode", "city", "state", "region", "country", "address", "prefix", "lat", "lng",
                         "lon", "segment", "type", "age", "gender", "since", "город", "регион", "индекс", "адрес")


def _is_id_name(name: str) -> bool:
    return _named(name, ID_WORDS)


def _slug(text: str, prefix: str = "") -> str:
    """An id of ``[a-z0-9_]`` from ``text``, transliterated from Russian."""
    from cjm_tasks.maps.suggest import _TRANSLIT  # one transliteration table for the project

    # A scale hint such as "(1-5)" or "[0..10]" names no question.
    ascii_text = re.sub(r"[(\[][\d\s.,/-]*[)\]]", " ", str(text)).lower().translate(_TRANSLIT)
    slug = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    if len(slug) > 32:  # a long question text: its first words
        slug = slug[:33].rsplit("_", 1)[0]
    if prefix and not slug.startswith(prefix.rstrip("_")):
        slug = f"{prefix}{slug}" if slug else prefix.rstrip("_")
    return slug


def _unique_id(candidate: str, taken: set[str]) -> str:
    value, n = candidate, 2
    while value in taken:
        value, n = f"{candidate}_{n}", n + 1
    taken.add(value)
    return value


# Stage words, checked in this order: "reorder" is loyalty before "order" is purchase, "sms_click"
# a reminder before "click" is awareness, "return_order" experience before purchase.
STAGE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("loyalty", ("loyalty", "repeat", "reorder", "again", "loyal", "referral", "refer", "subscribe", "subscription", "recommend",
                 "retention", "повтор", "лояльн", "рекоменд", "подписк")),
    ("reminder", ("reminder", "remind", "email", "mail", "sms", "push", "newsletter", "notification", "notify",
                  "рассылк", "напомин", "уведомл")),
    ("experience", ("experience", "return", "support", "complaint", "complain", "register", "registration", "registered",
                    "refund", "warranty", "repair", "use", "usage", "возврат", "поддержк", "жалоб", "регистрац", "использ")),
    ("purchase", ("purchase", "checkout", "order", "buy", "bought", "purchas", "pay", "paid", "payment", "deliver", "ship",
                  "cancel", "courier", "parcel", "package", "receiv", "received", "arrive", "arrived", "late", "delay",
                  "заказ", "покупк", "оплат", "доставк", "курьер", "посылк", "получ")),
    ("evaluation", ("evaluation", "view", "compare", "compar", "cart", "basket", "wishlist", "wish", "detail", "product",
                    "info", "choice", "choose", "select", "просмотр", "сравн", "корзин", "выбор", "товар")),
    ("awareness", ("awareness", "visit", "click", "ad", "ads", "advert", "search", "impression", "banner", "landing",
                   "social", "found", "find", "discover", "hear", "heard", "визит", "переход", "реклам", "поиск")),
)


def stage_of(*texts: str) -> tuple[str, str] | None:
    """(stage id, the word that placed it) for an event or question, by the words of its texts."""
    words = [w for t in texts for w in _words(t)]
    for stage, stems in STAGE_WORDS:
        hit = _match(words, stems)
        if hit:
            return stage, hit
    return None
