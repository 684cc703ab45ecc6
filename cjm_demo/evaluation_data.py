"""An evaluation of change detection on data written apart from the barrier catalog.

The sample generator (:mod:`cjm_demo.sample_data`) writes complaints from the catalog's own
keywords, so scoring the diff on it only shows that the pipeline finds what it was told to look
for. This module describes a second, independent world: a retailer whose customers of three
segments complain in their own words (English and Russian, several paraphrases per barrier,
varied word forms, typos), exported the way another company would export them. The generator
knows the catalog's barrier *ids* and what each barrier means, never its keywords; how many of
the written complaints the catalog can read at all is measured afterwards
(:func:`keyword_coverage`), not designed in.

Three parts, each usable alone:

- :func:`generate` writes one seed's world under a folder: five quarters of a survey export
  (wide for even seeds, long for odd seeds), reviews (JSON Lines, no stage), order events
  (Parquet, the company's own event names), ``customers.csv`` and ``truth.json`` (the true
  prevalence of every planted barrier per quarter and segment, the planted changes, the
  noise-only quarter pairs, and what customers actually met and wrote).
- :func:`run_pipeline` runs the real pipeline (``build_period`` then ``store_maps``) over the
  quarters with the example config ``configs/examples/evaluation/``.
- :func:`score` compares every stored diff with the truth; :func:`summarize` pools the scores of
  several seeds into precision and recall with Wilson 95% intervals.

``benchmarks/eval_changes.py`` is the command line over :func:`run_seed` and :func:`summarize`;
``docs/evaluation.md`` explains the world and the scoring rules.

Layout written by :func:`generate`::

    customers.csv                       one row per customer ever active, with the segment
    truth.json                          what was planted and what happened
    <period>/survey_export.csv          ';'-separated, UTF-8 with BOM, dd.mm.yyyy hh:mm times
    <period>/reviews.jsonl              no stage field; ~12 % anonymous
    <period>/order_events.parquet       one row per event, the segment repeated on every row
    <period>/text_labels.jsonl          which barriers each written text is about (for scoring
                                        the keyword matcher; the pipeline never reads it)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta
from statistics import NormalDist
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np

from cjm_tasks.periods import Period
from cjm_tasks.resources import configs_dir

if TYPE_CHECKING:
    from cjm_tasks.config import CjmConfig

NextId = Callable[[str], int]
Progress = Callable[[str], None]

EXAMPLE_DIR = configs_dir() / "examples" / "evaluation"
"""The config a user of this retailer's data would write (``cjm.yaml`` reads the wide survey,
``cjm-long-survey.yaml`` the long one)."""

DATA_ENV, STORE_ENV, WORK_ENV, SITE_ENV = "CJM_EVAL_DATA", "CJM_EVAL_STORE", "CJM_EVAL_WORK", "CJM_EVAL_SITE"
START = Period(2024, 1)
QUARTERS = 5
TIMEZONE = "Europe/Moscow"
GENERATOR_VERSION = 1

# ----------------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class Segment:
    """A customer segment as the retailer's CRM knows it, and how its customers behave."""

    code: str                 # the value in the exports' segment column
    persona: str              # the persona id configs/examples/evaluation/personas.yaml gives it
    active: int               # active customers per quarter at scale 1
    write_probability: float  # a customer who meets a barrier writes about it
    neutral_probability: float  # a customer who meets none writes anyway (praise, vague text)
    russian_share: float
    survey_share: float       # active customers who answer the survey in a quarter


# Trade customers buy often and write little; young customers write a lot. The contrast gives
# personas on both sides of 300 customers with text at scale 1.
SEGMENTS: tuple[Segment, ...] = (
    Segment("PRO", "trade_pros", 1500, 0.50, 0.05, 0.70, 0.30),
    Segment("FAM", "households", 2300, 0.70, 0.15, 0.60, 0.40),
    Segment("YNG", "young_buyers", 1900, 0.75, 0.20, 0.40, 0.45),
)


@dataclass(frozen=True)
class Topic:
    """A complaint topic: a catalog barrier id, or an uncatalogued topic with signature words."""

    key: str
    stage: str
    catalog: bool
    signature: tuple[str, ...] = ()


# Catalog ids the world plants, with the stage each belongs to by its meaning.
CATALOG_TOPICS: tuple[Topic, ...] = (
    Topic("cash_only_payment", "purchase", True),
    Topic("queues", "purchase", True),
    Topic("out_of_stock", "purchase", True),
    Topic("rude_staff", "purchase", True),
    Topic("late_delivery", "purchase", True),
    Topic("pushy_upsell", "purchase", True),
    Topic("not_as_promised", "experience", True),
    Topic("poor_description", "evaluation", True),
    Topic("site_errors", "evaluation", True),
    Topic("no_instructions", "experience", True),
    Topic("hidden_fees", "evaluation", True),
    Topic("slow_support", "experience", True),
)
# Topics no catalog entry describes; the emerging-theme detector should find them. Signature
# words (matched as substrings of an emerging theme's phrases) tie a theme to its topic.
UNCATALOGUED_TOPICS: tuple[Topic, ...] = (
    Topic("uncatalogued:parking", "purchase", False, ("parking", "park ", "припарков", "парковк")),
    Topic("uncatalogued:chemical_smell", "experience", False, ("chemical", "smell", "химии", "химией", "запах", "reek", "stink")),
)
TOPICS: tuple[Topic, ...] = CATALOG_TOPICS + UNCATALOGUED_TOPICS
TOPIC_BY_KEY = {t.key: t for t in TOPICS}

# Planted changes (prevalence before, after). "near" pairs sit by the diff's decision limits.
WORSE_LARGE = ((0.04, 0.12), (0.15, 0.30), (0.05, 0.12), (0.06, 0.15), (0.10, 0.22))
WORSE_NEAR = ((0.05, 0.08), (0.06, 0.09), (0.08, 0.12), (0.10, 0.14))
BETTER_LARGE = ((0.20, 0.08), (0.12, 0.05), (0.15, 0.06), (0.24, 0.10))
BETTER_NEAR = ((0.06, 0.04), (0.09, 0.06), (0.12, 0.09), (0.08, 0.055))
NEW_LEVELS = (0.04, 0.06, 0.08, 0.12)
RESOLVED_LEVELS = (0.05, 0.08, 0.12)
RETURN_LEVELS = (0.06, 0.08, 0.10, 0.12)
STEADY_LEVELS = (0.02, 0.03, 0.05, 0.08, 0.10)
STEADY_ABSENT_SHARE = 0.55
PARKING_BASE, PARKING_RISEN = 0.003, 0.021   # ~6 -> ~42 customers of a segment at scale 1
SMELL_LEVEL = 0.025
RETENTION = 0.55          # share of a quarter's active customers active again the next quarter
ANONYMOUS_REVIEWS = 0.12
COMBINE_REVIEWS = 0.4     # a customer with several complaints writes them in one review
ALSO_REVIEW = 0.15        # a survey respondent also posts a review of one complaint


def size_class(before: float, after: float) -> str:
    """``large`` when the prevalence at least doubles or halves, or moves by 10 points or more;
    else ``near_limit``."""
    low, high = min(before, after), max(before, after)
    if high - low >= 0.10 - 1e-12 or low == 0 or high / low >= 2 - 1e-12:
        return "large"
    return "near_limit"


def change_type(history: Sequence[float], before: float, after: float) -> str | None:
    """The change between two quarters' prevalences, given the prevalences of every quarter
    before them (``history``, oldest first): None when equal."""
    if math.isclose(before, after):
        return None
    if before == 0:
        return "returned" if any(v > 0 for v in history) else "new"
    if after == 0:
        return "resolved"
    return "worsened" if after > before else "improved"


DIRECTION = {"new": "up", "returned": "up", "worsened": "up", "improved": "down", "resolved": "down"}


# ------------------------------------------------------------------------------- the text bank
# Written from what each barrier means, as customers put it. {item} is an English product;
# {nom}/{acc}/{gen} the Russian product in the nominative, accusative and genitive case; {mins}
# and {days} numbers. An uncatalogued topic uses one two-word phrase per language in five
# phrasings out of six, so its theme is consistent without being the only wording.

ITEMS_EN = ("drill", "kettle", "sofa", "vacuum cleaner", "tin of paint", "bookshelf", "lawn mower", "heater",
            "washing machine", "desk lamp", "mixer tap", "ladder")
ITEMS_RU = (
    ("дрель", "дрель", "дрели"), ("чайник", "чайник", "чайника"), ("диван", "диван", "дивана"),
    ("пылесос", "пылесос", "пылесоса"), ("краска", "краску", "краски"), ("стеллаж", "стеллаж", "стеллажа"),
    ("газонокосилка", "газонокосилку", "газонокосилки"), ("обогреватель", "обогреватель", "обогревателя"),
    ("стиральная машина", "стиральную машину", "стиральной машины"), ("настольная лампа", "настольную лампу", "настольной лампы"),
    ("смеситель", "смеситель", "смесителя"), ("стремянка", "стремянку", "стремянки"),
)

COMPLAINTS: dict[str, dict[str, tuple[str, ...]]] = {
    "cash_only_payment": {
        "en": (
            "The courier had no card terminal, I had to run to an ATM to pay",
            "Why can't I pay with my card at the pickup point?? Had to borrow money from a neighbour",
            "Card machine at the till was 'broken' again and they wanted cash. Who carries cash these days",
            "Pay on delivery apparently means banknotes. The driver just shrugged when I took out my card",
            "Had to go looking for a cash machine to pay for the {item}, the card reader never works",
            "Cash only at the pickup desk, seriously?",
            "They wouldn't take my card in the store so I left without the {item}",
            "The delivery guy wanted exact change. No terminal, no bank transfer, nothing",
            "Wanted to pay by card, the cashier said the machine is switched off, notes or nothing",
            "Could not pay by card on delivery, nobody warned me",
            "no contactless, no card, only paper money at the counter",
        ),
        "ru": (
            "Курьер без терминала, пришлось бежать к банкомату",
            "Картой расплатиться нельзя, только наличкой. Какой век на дворе?",
            "Терминал на кассе опять «не работает», просят наличные",
            "При получении оплата только наличными, об этом нигде не написано",
            "Пришлось занимать деньги у соседа, курьер не принимает карты",
            "В пункте выдачи нет терминала, снимала деньги в банкомате за углом",
            "Кассир сказал, что по карте сегодня никак, только кэш",
            "Хотел расплатиться картой за {acc}, терминал сломан, налички с собой не было, ушёл ни с чем",
            "Оплатить курьеру картой невозможно, зачем тогда писать про оплату при получении",
            "Безнал не принимают, бред какой-то",
            "Доставщик потребовал наличные без сдачи",
        ),
    },
    "queues": {
        "en": (
            "Only one till open on a Saturday, took me forty minutes to pay",
            "The line at the pickup desk went all the way to the door",
            "Spent {mins} minutes waiting to pay for one {item}",
            "Huge queue at the checkout, half the tills closed",
            "Took ages to get served at the counter, nobody opened a second register",
            "Waited in line for {mins} min just to collect my order",
            "The wait at the returns desk is ridiculous, {mins} minutes",
            "Crowds at the pickup point every evening, you stand there forever",
            "Paying took longer than the shopping itself",
            "People everywhere, one cashier, self checkouts switched off",
            "Had to wait over half an hour to pick up a parcel",
        ),
        "ru": (
            "Работала одна касса, простояла {mins} минут",
            "Очередь на выдаче до самого входа",
            "Чтобы забрать заказ, ждал {mins} минут у стойки",
            "В субботу к кассам не пробиться, народу тьма, а открыто две кассы",
            "Полчаса ждала, пока меня обслужат на выдаче",
            "Кассы самообслуживания не работают, к кассиру толпа",
            "Забрать {acc} это отдельный квест, час на пункте выдачи",
            "В очереди стоял дольше, чем выбирал",
            "Долго ждать на кассе, персонала не хватает",
            "Народу много, касса одна, ждать бесконечно",
            "На возврате ждал {mins} минут, пока позовут старшего",
        ),
    },
    "out_of_stock": {
        "en": (
            "The site said the {item} was available, at the store they told me there are none left",
            "Ordered a {item}, two days later got a message that they don't have it",
            "Out of stock again, third time this month",
            "They cancelled my order because the warehouse had nothing",
            "Came specially for the {item} and the shelf was empty",
            "Listed as available but it wasn't, wasted a trip",
            "Every size I wanted was gone",
            "Sold out of the {item} on the very first day of the promo",
            "Half the items from my order never came because they didn't have them",
            "Wanted the {item}, they said maybe next month",
            "App shows it in stock, store says it hasn't been delivered for weeks",
        ),
        "ru": (
            "На сайте {nom} был, а в магазине сказали, что его нет",
            "Заказал {acc}, через два дня позвонили: товара нет, заказ отменили",
            "Нет в наличии, уже третий раз подряд",
            "Полка пустая, хотя в приложении писали, что есть",
            "Приехал специально за {gen}, а всё уже разобрали",
            "Половину заказа не привезли, закончилось на складе",
            "Всё раскупили в первый же день акции",
            "Товар числится на остатках, а по факту его нет",
            "Обещали поставку через месяц, а {nom} нужен сейчас",
            "Нужного размера никогда нет",
            "Три раза приходил за {gen}, ни разу не было",
        ),
    },
    "rude_staff": {
        "en": (
            "The cashier rolled her eyes and ignored my question",
            "Staff at the pickup desk were rude and clearly annoyed by us",
            "The guy in the tools aisle talked to me like I was an idiot",
            "Consultant was on his phone and snapped at me when I asked for help",
            "Nobody even said hello, the seller just waved at the shelf",
            "The manager raised his voice at my wife over a receipt",
            "Rude courier, threw the box at the door",
            "Sales assistant was condescending and sarcastic",
            "Asked a simple question and got attitude",
            "Unpleasant staff, made me feel like a nuisance",
            "The security guard followed me around like a thief",
        ),
        "ru": (
            "Кассир нахамила на ровном месте",
            "Продавец разговаривал сквозь зубы и закатывал глаза",
            "Консультант повысил голос, когда я попросил помочь",
            "Сотрудник выдачи швырнул коробку на стойку и отвернулся",
            "Персонал ведёт себя так, будто покупатели им мешают",
            "Менеджер грубо ответил и ушёл",
            "Охранник разговаривал со мной как с воришкой",
            "Курьер хамил по телефону",
            "Отношение к покупателям ужасное, на вопросы отвечают с раздражением",
            "Консультант огрызнулся и отправил искать самому",
            "Продавщица даже не подняла глаз от телефона",
        ),
    },
    "late_delivery": {
        "en": (
            "Promised Tuesday, the parcel showed up the following Monday",
            "My order was supposed to come in 2 days, it took {days}",
            "Delivery slot came and went, nobody showed up, it arrived the next day",
            "Still no sign of my {item} after {days} days",
            "Delivery was late again",
            "They moved the delivery date three times",
            "Paid for express and got it a week after the date they gave me",
            "Courier never came on the agreed day",
            "Waited {days} days for a {item} that was supposedly in stock",
            "The tracking didn't move for a week and then it finally turned up",
            "Took way longer than promised to get here",
        ),
        "ru": (
            "Обещали во вторник, привезли в следующий понедельник",
            "Ждали {days} дней вместо двух",
            "Курьер так и не приехал в назначенный день, привезли только на следующий",
            "Доставку переносили три раза",
            "Заказ опоздал на неделю",
            "Заплатил за экспресс, а получил через {days} дней",
            "Привезли позже обещанного срока, пришлось отпрашиваться с работы дважды",
            "Посылка задержалась на складе",
            "Сроки доставки не соблюдают",
            "{nom} ехал ко мне почти месяц",
            "Обещанную дату сорвали, никто не предупредил",
        ),
    },
    "pushy_upsell": {
        "en": (
            "Couldn't just buy the {item}, the seller kept offering an extended warranty again and again",
            "They added insurance to my order without asking, had to remove it myself",
            "Every step of checkout tries to sell you something extra",
            "Consultant wouldn't let me leave without hearing about their credit card",
            "I said no to the service plan three times",
            "Pushy sales guy, I just wanted a {item}",
            "The add-ons were pre-ticked, sneaky",
            "They insisted I needed the premium version",
            "Half the conversation was about their instalment plan",
            "Got a phone call trying to sell me accessories for the {item} I bought",
            "Cashier would not take no for an answer about the loyalty subscription",
        ),
        "ru": (
            "Продавец навязывал страховку, еле отбился",
            "В корзину сами добавили доп. гарантию, заметил только при оплате",
            "Пока оформлял {acc}, мне три раза предложили кредитную карту",
            "Консультант уговаривал взять дорогую модель, хотя я пришёл за конкретной",
            "Галочки на доп услугах стоят по умолчанию",
            "Каждый раз пытаются впарить какую-то ерунду",
            "Отказывался от подписки три раза, всё равно подключили",
            "Звонили и предлагали докупить аксессуары",
            "Не дают просто купить, обязательно что-то предлагают сверху",
            "Кассир настаивал, чтобы я взял сервисный пакет",
            "Уговаривали оформить рассрочку, хотя я платил сразу",
        ),
    },
    "not_as_promised": {
        "en": (
            "The {item} looks nothing like the photos",
            "Colour is completely different from the one on the site",
            "Advertised as solid wood, it's chipboard",
            "Not as described at all",
            "Listing said 2000W, the box says 1200W",
            "What arrived is a cheaper model than the one I paid for",
            "The pictures were clearly of a different product",
            "Size on the listing was wrong, it's much smaller in reality",
            "Quality nowhere near what the ad suggests",
            "Misleading photos",
            "Expected one thing, got something else entirely",
        ),
        "ru": (
            "{nom} в жизни выглядит совсем иначе, чем на фотографиях",
            "Цвет вообще другой, чем на сайте",
            "Заявлен массив, а по факту ДСП",
            "Товар не соответствует описанию",
            "Прислали более дешёвую модель, чем я оплатил",
            "В реальности гораздо меньше, чем на картинке",
            "Мощность на коробке в два раза меньше, чем в карточке",
            "Качество совсем не то, что обещали в рекламе",
            "Обманули с комплектацией",
            "Ожидала одно, получила совсем другое",
            "Материал дешёвый, на сайте выглядел солиднее",
        ),
    },
    "poor_description": {
        "en": (
            "The listing doesn't say what size it is",
            "Couldn't tell from the page whether it fits my model",
            "No dimensions anywhere on the product page",
            "The description is two lines of marketing, no actual specs",
            "Had to call the store to ask what material the {item} is made of",
            "Not enough information on the page",
            "Which battery does it take? Nowhere on the site",
            "Photos only from one side, zero details",
            "Product page says nothing about compatibility",
            "The specs table was empty",
            "Impossible to compare models, half the fields are blank",
        ),
        "ru": (
            "В карточке не указан размер",
            "Из описания непонятно, подойдёт ли к моей модели",
            "Нигде нет габаритов",
            "Описание в два предложения рекламы, никаких цифр",
            "Пришлось звонить, чтобы узнать, из чего сделан {nom}",
            "Мало информации о товаре",
            "Какой аккумулятор нужен, на сайте ни слова",
            "Одна фотография и всё",
            "Ничего не сказано про совместимость",
            "Характеристики не заполнены",
            "Сравнить модели невозможно, половина полей пустые",
        ),
    },
    "site_errors": {
        "en": (
            "The app kicked me out at payment twice",
            "Couldn't add anything to the basket, the button did nothing",
            "Website kept showing a blank page after login",
            "Error 500 at checkout",
            "App crashed while I was comparing models",
            "The filters reset every time you go back",
            "Page takes forever to load and then logs you out",
            "Couldn't log in for two days, the password reset link was dead",
            "The promo code field just spins",
            "Site is broken on mobile, buttons overlap",
            "Checkout page went white when I pressed pay",
        ),
        "ru": (
            "Приложение вылетает при оплате",
            "Кнопка «В корзину» не нажимается",
            "После входа белый экран",
            "Сайт выдаёт ошибку при оформлении",
            "Фильтры сбрасываются каждый раз",
            "Страница грузится вечность, а потом выкидывает из аккаунта",
            "Два дня не могла войти, ссылка для сброса пароля не работает",
            "Промокод не применяется, просто крутится колёсико",
            "На телефоне сайт разъезжается, ничего не нажать",
            "Приложение тормозит и закрывается само",
            "Корзина сама очищается после обновления страницы",
        ),
    },
    "no_instructions": {
        "en": (
            "Nothing in the box explaining how to assemble it",
            "Spent an evening guessing how to put the {item} together",
            "The manual was missing",
            "Leaflet only in Chinese",
            "No idea how to set it up",
            "There's no guide for connecting it to the app",
            "Assembly diagram is tiny and makes no sense",
            "Had to find a video on YouTube to figure out the settings",
            "Not a single sheet of paper in the box",
            "The setup steps aren't explained anywhere",
            "Which screws go where? Nobody tells you",
        ),
        "ru": (
            "В коробке ни одной бумажки, как собирать загадка",
            "Весь вечер гадали, как собрать {acc}",
            "Инструкцию не положили",
            "Инструкция только на китайском",
            "Непонятно как подключить к приложению",
            "Схема сборки мелкая и бестолковая",
            "Пришлось искать ролик на ютубе, чтобы разобраться с настройками",
            "Без инструкции собирали наугад",
            "Ничего не объяснено, как пользоваться",
            "Нигде не написано, как настроить режимы",
            "Какие винты куда, догадывайтесь сами",
        ),
    },
    "hidden_fees": {
        "en": (
            "The price jumped at the last step, some 'service charge'",
            "Delivery cost only appeared after I entered my card",
            "Final bill was higher than the price tag",
            "Extra charges nobody mentioned",
            "They charged me for packaging??",
            "The 'free' delivery turned out to cost 500 roubles",
            "Assembly fee added without warning",
            "Total at checkout didn't match the basket",
            "Hidden fees, never again",
            "Paid more than the advertised price, still don't understand what for",
            "A 'handling fee' appeared on the receipt out of nowhere",
        ),
        "ru": (
            "На последнем шаге цена выросла, какой-то «сервисный сбор»",
            "Стоимость доставки показали только после ввода карты",
            "Итоговая сумма больше, чем на ценнике",
            "Скрытые платежи, больше не закажу",
            "Взяли деньги за упаковку??",
            "«Бесплатная» доставка оказалась платной",
            "Сборку включили в счёт без предупреждения",
            "Сумма в корзине и при оплате разная",
            "Доплатил за что-то непонятное",
            "Списали больше, чем было указано",
            "В чеке появилась какая-то комиссия, о которой не говорили",
        ),
    },
    "slow_support": {
        "en": (
            "Wrote to support a week ago, still nothing",
            "On hold for {mins} minutes, then the line dropped",
            "Chat bot goes in circles, can't reach a human",
            "Nobody answered my emails",
            "Support promised to call back and never did",
            "Ticket closed without a reply",
            "It took them {days} days to reply to a simple question",
            "Hotline is impossible to get through to",
            "Customer service ignored me",
            "Three emails, one automatic reply",
            "The operator kept transferring me and then hung up",
        ),
        "ru": (
            "Написал в поддержку неделю назад, тишина",
            "Висел на линии {mins} минут, потом сбросили",
            "Чат-бот ходит по кругу, до оператора не добраться",
            "Поддержка не отвечает",
            "Обещали перезвонить и пропали",
            "Заявку закрыли без ответа",
            "Ответ пришёл через {days} дней",
            "На горячую линию не пробиться",
            "Никто не ответил на письмо",
            "Три письма, одна автоматическая отписка",
            "Оператор переключал меня три раза и положил трубку",
        ),
    },
    "uncatalogued:parking": {
        "en": (
            "The parking lot is always full, drove around for {mins} minutes",
            "Parking lot was packed again, gave up and went home",
            "Had to leave the car two streets away, the parking lot is tiny",
            "No space in the parking lot at weekends",
            "Parking lot full of vans, nowhere for customers",
            "Nowhere to put the car near the store",
        ),
        "ru": (
            "Возле магазина негде припарковаться, кружил {mins} минут",
            "Опять негде припарковаться, развернулся и уехал",
            "Негде припарковаться, оставил машину в соседнем дворе",
            "В выходные негде припарковаться вообще",
            "Негде припарковаться, всё занято фурами",
            "Стоянка маленькая, вечно забита",
        ),
    },
    "uncatalogued:chemical_smell": {
        "en": (
            "The {item} came with a strong chemical smell",
            "Box reeks, a chemical smell all over the flat",
            "Chemical smell from the packaging, had to air the room for a day",
            "Strong chemical smell, gave me a headache",
            "Unpacked it and the chemical smell hit me",
            "The packaging stinks of solvent",
        ),
        "ru": (
            "От упаковки резкий запах химии",
            "Запах химии на всю квартиру",
            "Открыли коробку, а там запах химии",
            "Неприятный запах химии, голова разболелась",
            "Запах химии не выветривается уже неделю",
            "Упаковка воняет растворителем",
        ),
    },
}

# The short, plain way most customers name a problem (complaint text is heavy-headed: many say
# it the obvious way, the rest in their own words). A complaint is one of these with
# probability PLAIN_SHARE, else a paraphrase from COMPLAINTS.
PLAIN_SHARE = 0.4
PLAIN: dict[str, dict[str, tuple[str, ...]]] = {
    "cash_only_payment": {"en": ("Cash only, no card payment", "Couldn't pay by card", "They don't accept cards",
                                 "Card payment not available on delivery"),
                          "ru": ("Только наличные, карты не принимают", "Нельзя оплатить картой", "Оплата картой не работает",
                                 "Карты не принимают")},
    "queues": {"en": ("Long queues", "Huge queue at the till", "Long wait at checkout", "Too long in line to pay"),
               "ru": ("Огромные очереди", "Очередь на кассе", "Долгое ожидание на кассе", "Очень долго стоять в очереди")},
    "out_of_stock": {"en": ("Out of stock", "Item not available", "They didn't have it in stock", "Nothing in stock"),
                     "ru": ("Нет в наличии", "Товара нет", "Товар закончился", "Не было нужного товара")},
    "rude_staff": {"en": ("Rude staff", "Very rude cashier", "Unfriendly staff", "Staff were impolite"),
                   "ru": ("Хамство персонала", "Грубый продавец", "Невежливые сотрудники", "Хамят покупателям")},
    "late_delivery": {"en": ("Late delivery", "Delivery was late", "Order arrived late", "Delivery took too long"),
                      "ru": ("Доставка опоздала", "Задержка доставки", "Долгая доставка", "Привезли с опозданием")},
    "pushy_upsell": {"en": ("Too pushy", "Pushy sales staff", "Kept trying to upsell me", "Constant upselling"),
                     "ru": ("Навязывают допуслуги", "Навязчивые продавцы", "Постоянно что-то впаривают", "Навязали страховку")},
    "not_as_promised": {"en": ("Not as described", "Not what I ordered", "Product doesn't match the description",
                               "Looks different from the photo"),
                        "ru": ("Не соответствует описанию", "Не то, что заказывал", "Товар не как на фото", "Отличается от фото")},
    "poor_description": {"en": ("Poor description", "Not enough information about the product", "No specifications listed",
                                "Description is vague"),
                         "ru": ("Плохое описание", "Нет характеристик", "Мало информации", "Описание ни о чём")},
    "site_errors": {"en": ("The app keeps crashing", "Site errors at checkout", "Buggy website", "App freezes all the time"),
                    "ru": ("Приложение глючит", "Сайт постоянно выдаёт ошибки", "Приложение зависает", "Сайт не работает")},
    "no_instructions": {"en": ("No instructions", "No manual in the box", "Came without instructions", "Instructions missing"),
                        "ru": ("Нет инструкции", "Инструкции нет", "Без инструкции", "Инструкция не приложена")},
    "hidden_fees": {"en": ("Hidden fees", "Hidden charges at checkout", "Extra fees at the end", "Unexpected charges"),
                    "ru": ("Скрытые комиссии", "Скрытые платежи", "Доплаты в конце", "Неожиданные доплаты")},
    "slow_support": {"en": ("Support never answers", "Slow customer service", "Support is useless and slow", "No reply from support"),
                     "ru": ("Поддержка не отвечает", "Медленная поддержка", "Поддержка молчит", "До поддержки не дозвониться")},
}

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


# ---------------------------------------------------------------------------------- schedule


def plan_prevalence(rng: np.random.Generator, quarters: int = QUARTERS) -> tuple[dict[str, dict[str, list[float]]], int]:
    """The true prevalence of every topic per persona and quarter, and the noise-only pair.

    Returns ({persona: {topic key: [prevalence per quarter]}}, index of the noise-only pair;
    pair ``j`` is quarters ``j`` -> ``j + 1``). Per seed: one barrier resolved and then back
    (returned), twelve more single changes (two each of new, resolved, large and near-limit
    worsening, large and near-limit improvement) spread over the pairs that are not noise-only,
    the parking topic rising from a low base in one persona, the chemical-smell topic appearing
    in one persona (and, one time in two, going again later). Every other cell is steady.
    """
    pairs = quarters - 1
    noise = int(rng.integers(pairs))
    changing = [j for j in range(pairs) if j != noise]
    personas = [s.persona for s in SEGMENTS]
    cells = [(p, t.key) for p in personas for t in CATALOG_TOPICS]
    cells = [cells[i] for i in rng.permutation(len(cells))]
    plan: dict[tuple[str, str], list[float]] = {}

    def step(j: int, before: float, after: float) -> list[float]:
        return [before] * (j + 1) + [after] * (quarters - j - 1)

    consecutive = [j for j in changing if j + 1 in changing]
    j = int(rng.choice(consecutive))
    first, again = (float(v) for v in rng.choice(RETURN_LEVELS, 2))
    plan[cells.pop()] = [first] * (j + 1) + [0.0] + [again] * (quarters - j - 2)

    kinds = ["new", "resolved", "worse_large", "worse_near", "better_large", "better_near"] * 2
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    for n, kind in enumerate(kinds):
        j = changing[n % len(changing)]
        if kind == "new":
            before, after = 0.0, float(rng.choice(NEW_LEVELS))
        elif kind == "resolved":
            before, after = float(rng.choice(RESOLVED_LEVELS)), 0.0
        else:
            options = {"worse_large": WORSE_LARGE, "worse_near": WORSE_NEAR, "better_large": BETTER_LARGE, "better_near": BETTER_NEAR}[kind]
            before, after = options[rng.integers(len(options))]
        plan[cells.pop()] = step(j, before, after)
    for cell in cells:
        level = 0.0 if rng.random() < STEADY_ABSENT_SHARE else float(rng.choice(STEADY_LEVELS))
        plan[cell] = [level] * quarters

    parking, smell = UNCATALOGUED_TOPICS
    rising = personas[rng.integers(len(personas))]
    j = int(rng.choice(changing))
    for p in personas:
        plan[(p, parking.key)] = step(j, PARKING_BASE, PARKING_RISEN) if p == rising else [PARKING_BASE] * quarters
    appearing = personas[rng.integers(len(personas))]
    j = int(rng.choice(changing[:-1] if len(changing) > 1 else changing))
    later = [k for k in changing if k > j]
    trajectory = step(j, 0.0, SMELL_LEVEL)
    if later and rng.random() < 0.5:
        k = int(rng.choice(later))
        trajectory = [v if i <= k else 0.0 for i, v in enumerate(trajectory)]
    for p in personas:
        plan[(p, smell.key)] = trajectory if p == appearing else [0.0] * quarters

    prevalence = {p: {t.key: plan[(p, t.key)] for t in TOPICS} for p in personas}
    return prevalence, noise


def planted_changes(periods: Sequence[str], prevalence: Mapping[str, Mapping[str, Sequence[float]]]) -> list[dict[str, Any]]:
    """Every change between consecutive quarters implied by ``prevalence`` (see :func:`change_type`)."""
    out = []
    for persona, topics in prevalence.items():
        for key, values in topics.items():
            for j in range(len(periods) - 1):
                kind = change_type(values[:j], values[j], values[j + 1])
                if kind is None:
                    continue
                out.append({"from": periods[j], "to": periods[j + 1], "persona": persona, "barrier": key,
                            "kind": "catalog" if TOPIC_BY_KEY[key].catalog else "uncatalogued", "type": kind,
                            "size": size_class(values[j], values[j + 1]), "prevalence_from": values[j], "prevalence_to": values[j + 1]})
    return sorted(out, key=lambda c: (c["from"], c["persona"], c["barrier"]))


# -------------------------------------------------------------------------------- simulation

QUESTIONS: tuple[tuple[str, str, str, str, str], ...] = (
    # (question id, stage, metric, wide export column, long export question text)
    ("q_find", "awareness", "csat", "Q1 How easy was it to find us (1-5)", "Насколько легко было нас найти?"),
    ("q_info", "evaluation", "csat", "Q2 How clear was the product information (1-5)", "Насколько понятной была информация о товаре?"),
    ("q_checkout", "purchase", "csat", "Q3 How satisfied are you with checkout and delivery (1-5)", "Оцените оформление и доставку заказа"),
    ("q_effort", "purchase", "ces", "Q4 How much effort did the purchase take (1 = none, 7 = a lot)", "Сколько усилий потребовала покупка?"),
    ("q_product", "experience", "csat", "Q5 How satisfied are you with the product in use (1-5)", "Насколько вы довольны товаром?"),
    ("q_recommend", "loyalty", "nps", "Q6 How likely are you to recommend us (0-10)", "Порекомендуете ли вы нас друзьям?"),
    ("q_reminders", "reminder", "csat", "Q7 How useful are our emails and notifications (1-5)", "Насколько полезны наши письма и уведомления?"),
)
COMMENT_COLUMN = "Comment / Комментарий"
# The question a complaint about a stage is written under in the long export.
STAGE_QUESTION = {"awareness": "q_find", "evaluation": "q_info", "purchase": "q_checkout", "experience": "q_product",
                  "loyalty": "q_recommend", "reminder": "q_reminders"}
_CSAT = {"fine": (0.02, 0.04, 0.14, 0.40, 0.40), "hit": (0.38, 0.34, 0.18, 0.07, 0.03), "halo": (0.06, 0.12, 0.27, 0.33, 0.22)}
_CES = {"fine": (0.30, 0.30, 0.18, 0.10, 0.06, 0.04, 0.02), "hit": (0.03, 0.05, 0.08, 0.14, 0.22, 0.26, 0.22),
        "halo": (0.15, 0.22, 0.20, 0.17, 0.12, 0.08, 0.06)}
_NPS = {"fine": (0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.06, 0.13, 0.22, 0.24, 0.24),
        "hit": (0.06, 0.06, 0.09, 0.11, 0.12, 0.14, 0.14, 0.12, 0.08, 0.05, 0.03)}
_RATING = {"complaint": (0.55, 0.30, 0.12, 0.03, 0.0), "praise": (0.0, 0.0, 0.05, 0.35, 0.60),
           "neutral": (0.0, 0.05, 0.45, 0.40, 0.10), "vague": (0.15, 0.45, 0.35, 0.05, 0.0)}
_CHANNELS = {"PRO": (("store", 0.6), ("web", 0.3), ("call_center", 0.1)),
             "FAM": (("web", 0.4), ("app", 0.3), ("store", 0.3)),
             "YNG": (("app", 0.6), ("web", 0.3), ("store", 0.1))}
_CITIES = ("Moscow", "Kazan", "Tver", "Samara", "Yaroslavl", "Tula")
_REVIEW_SITES = ("site", "app_store", "maps", "otzovik")
_SKIP_ANSWER = 0.04


@dataclass
class _Customer:
    id: str
    segment: Segment
    language: str
    channel: str
    city: str
    registered: str


@dataclass
class _Registry:
    """Every customer created so far, and who was active last quarter, per segment."""

    customers: dict[str, _Customer] = field(default_factory=dict)
    last_active: dict[str, list[str]] = field(default_factory=dict)

    def active(self, segment: Segment, count: int, rng: np.random.Generator, first_day: datetime) -> list[_Customer]:
        previous = self.last_active.get(segment.code, [])
        kept = min(count, round(RETENTION * len(previous)))
        ids = [previous[i] for i in sorted(rng.choice(len(previous), kept, replace=False))] if kept else []
        channels, weights = zip(*_CHANNELS[segment.code])
        for _ in range(count - kept):
            cid = f"K{len(self.customers) + 100001}"
            self.customers[cid] = _Customer(
                id=cid, segment=segment, language="ru" if rng.random() < segment.russian_share else "en",
                channel=str(rng.choice(channels, p=weights)), city=str(rng.choice(_CITIES)),
                registered=(first_day - timedelta(days=int(rng.integers(0, 900)))).date().isoformat())
            ids.append(cid)
        self.last_active[segment.code] = ids
        return [self.customers[i] for i in ids]


@dataclass
class _Quarter:
    """What one quarter's customers did and wrote, as rows of the exports."""

    events: list[tuple] = field(default_factory=list)
    surveys: list[dict[str, Any]] = field(default_factory=list)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)


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


def _draw(dice: Dice, probs: Sequence[float], low: int) -> int:
    return low + dice.weighted(range(len(probs)), probs)


def _simulate_quarter(rng: np.random.Generator, period: Period, q: int, prevalence: Mapping[str, Mapping[str, Sequence[float]]],
                      registry: _Registry, scale: float, long_survey: bool) -> _Quarter:
    """Quarter ``q``: who is active, what they meet, do, answer and write."""
    start = period.start(TIMEZONE).replace(tzinfo=None)
    span = (period.end(TIMEZONE).replace(tzinfo=None) - start).total_seconds()
    out = _Quarter()
    # Per-customer draws come from their own stream; the vectorised ones (who meets what) from rng.
    dice = Dice(np.random.default_rng(int(rng.integers(2**62))))
    seq = {"event": 0, "order": 0, "response": 0, "review": 0}

    def next_id(kind: str) -> int:
        seq[kind] += 1
        return seq[kind]

    for segment in SEGMENTS:
        count = max(20, round(segment.active * scale * float(rng.uniform(0.94, 1.06))))
        customers = registry.active(segment, count, rng, start)
        p = np.array([prevalence[segment.persona][t.key][q] for t in TOPICS])
        met = rng.random((len(customers), len(TOPICS))) < p
        wrote = met & (rng.random(met.shape) < segment.write_probability)
        tally = {"active_customers": len(customers), "survey_respondents": 0, "customers_with_text": 0, "customers_with_any_text": 0,
                 "met": {t.key: int(met[:, i].sum()) for i, t in enumerate(TOPICS)},
                 "wrote": {t.key: int(wrote[:, i].sum()) for i, t in enumerate(TOPICS)}}
        for c, customer in enumerate(customers):
            met_topics = [TOPICS[i] for i in np.flatnonzero(met[c])]
            t0 = start + timedelta(seconds=dice.uniform(0, span - 14 * 86400))
            _customer_events(dice, out, customer, met_topics, t0, next_id)
            lang = customer.language
            texts: list[tuple[str, str, tuple[str, ...], str]] = []  # (text, tone, topics, stage)
            for i in np.flatnonzero(wrote[c]):
                topic = TOPICS[i]
                texts.append((write_complaint(topic.key, lang, dice), "complaint", (topic.key,), topic.stage))
            if not met_topics and dice.random() < segment.neutral_probability:
                tone = dice.weighted(("praise", "neutral", "vague"), (0.6, 0.2, 0.2))
                pool = {"praise": PRAISE, "neutral": NEUTRAL, "vague": VAGUE}[tone]
                texts.append((write_text(pool, lang, dice), tone, (), "loyalty"))
            respondent = dice.random() < segment.survey_share
            at = t0 + timedelta(days=dice.uniform(7, 13))
            attributed = False
            if respondent:
                tally["survey_respondents"] += 1
                attributed = _survey_response(dice, out, customer, met_topics, texts, at, long_survey, next_id, period) or attributed
            review_texts = texts if not respondent else (
                [texts[dice.integers(len(texts))]] if texts and texts[0][1] == "complaint" and dice.random() < ALSO_REVIEW else [])
            if len(review_texts) > 1 and dice.random() < COMBINE_REVIEWS:
                review_texts = [(combine([t[0] for t in review_texts], lang, dice), "complaint",
                                 tuple(k for t in review_texts for k in t[2]), review_texts[0][3])]
            for text, tone, keys, _stage in review_texts:
                attributed = _review(dice, out, customer, text, tone, keys, t0 + timedelta(days=dice.uniform(5, 13)), next_id, period) or attributed
            tally["customers_with_text"] += int(attributed)
            tally["customers_with_any_text"] += int(bool(texts))
        out.counts[segment.persona] = tally
    return out


def _customer_events(dice: Dice, out: _Quarter, customer: _Customer, met: Sequence[Topic], t0: datetime, next_id: NextId) -> None:
    """The customer's order events of the quarter, in the company's own event names."""
    keys = {t.key for t in met}
    buys = bool(keys & {t.key for t in TOPICS if t.stage in ("purchase", "experience")})
    rows: list[tuple[str, float, str | None, float | None]] = []  # (event, day offset, channel override, amount)

    def add(event: str, day: float, channel: str | None = None, amount: float | None = None) -> None:
        rows.append((event, day, channel, amount))

    if dice.random() < 0.92:
        for _ in range(1 + int(dice.random() < 0.5)):
            add(dice.pick(["banner_click", "store_locator_visit", "catalog_search"]), dice.uniform(0, 1))
    for _ in range(1 + dice.integers(4)):
        add("product_page_view", dice.uniform(1, 2))
    if dice.random() < 0.15:
        add("wishlist_add", dice.uniform(1, 2))
    if buys or dice.random() < 0.8:
        add("basket_created", 2.0 + dice.uniform(0, 0.5))
        declined = 0.05 + 0.3 * bool(keys & {"cash_only_payment", "site_errors"})
        if buys or dice.random() < 0.9:
            add("checkout_opened", 2.6)
            if dice.random() < declined:
                add("payment_declined", 2.65)
            if buys or dice.random() < 0.93:
                typical = {"PRO": 9.2, "FAM": 8.4, "YNG": 7.8}[customer.segment.code]
                amount = round(math.exp(typical + 0.6 * NormalDist().inv_cdf(min(max(dice.random(), 1e-9), 1 - 1e-9))), 2)
                add("order_paid", 2.7, None, amount)
                if dice.random() < 0.03 + 0.35 * ("out_of_stock" in keys):
                    add("order_cancelled_by_client", 3.0)
                elif dice.random() < 0.97 or buys:
                    add("parcel_received", 5.0 + dice.uniform(0, 2), "courier")
                    if dice.random() < 0.05 + 0.7 * ("late_delivery" in keys):
                        add("parcel_late", 5.0, "courier")
                    if dice.random() < 0.35:
                        add("warranty_registration", 6.5)
                    if dice.random() < 0.08 + 0.8 * ("slow_support" in keys) + 0.3 * ("not_as_promised" in keys):
                        add("support_ticket", 7.0, "call_center")
                    if dice.random() < 0.03 + 0.5 * ("not_as_promised" in keys):
                        add("order_refund", 8.0)
    if dice.random() < (0.5 if customer.segment.code == "PRO" else 0.3):
        add("repeat_purchase", 9.0 + dice.uniform(0, 3))
    if dice.random() < 0.1:
        add("bonus_card_issued", 9.5)
    if dice.random() < 0.04:
        add("friend_referral", 10.0)
    if dice.random() < 0.35:
        add("newsletter_opened", dice.uniform(0, 12), "email")
    if dice.random() < (0.45 if customer.segment.code == "YNG" else 0.25):
        add("push_opened", dice.uniform(0, 12), "push")
    if not rows:
        add("catalog_search", 0.5)
    order_no = f"ORD-{next_id('order'):07d}" if any(r[0] == "order_paid" for r in rows) else None
    for event, day, channel, amount in rows:
        at = t0 + timedelta(days=day, seconds=dice.uniform(0, 3600))
        own_channel = channel or (customer.channel if dice.random() < 0.7 else dice.pick(["web", "app", "store"]))
        out.events.append((f"EV{next_id('event'):08d}", customer.id, customer.segment.code, event, at.replace(microsecond=0),
                           own_channel, order_no if event not in ("banner_click", "store_locator_visit", "catalog_search",
                                                                  "product_page_view", "wishlist_add", "newsletter_opened",
                                                                  "push_opened") else None, amount))


def _survey_response(dice: Dice, out: _Quarter, customer: _Customer, met: Sequence[Topic],
                     texts: Sequence[tuple[str, str, tuple[str, ...], str]], at: datetime, long_survey: bool, next_id: NextId,
                     period: Period) -> bool:
    """One survey response (scores for every question, a comment when the customer writes);
    returns whether it carries a comment."""
    hit_stages = {t.stage for t in met}
    answers: dict[str, int | None] = {}
    for qid, stage, metric, _, _ in QUESTIONS:
        mood = "hit" if stage in hit_stages else ("halo" if met and dice.random() < 0.5 else "fine")
        if metric == "nps":
            answers[qid] = _draw(dice, _NPS["hit" if met else "fine"], 0)
        elif metric == "ces":
            answers[qid] = _draw(dice, _CES[mood], 1)
        else:
            answers[qid] = _draw(dice, _CSAT[mood], 1)
        if dice.random() < _SKIP_ANSWER:
            answers[qid] = None
    response = f"RSP-{period}-{next_id('response'):06d}"
    comments: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
    for text, tone, keys, stage in texts:
        qid = STAGE_QUESTION[stage] if tone == "complaint" else "q_recommend"
        comments.setdefault(qid, []).append((text, tone, keys))
    if not long_survey and comments:
        # The wide export has one comment box for the whole response.
        every = [c for cs in comments.values() for c in cs]
        comments = {"*": [(combine([c[0] for c in every], customer.language, dice), every[0][1], tuple(k for c in every for k in c[2]))]}
    if all(v is None for v in answers.values()):
        answers["q_recommend"] = _draw(dice, _NPS["hit" if met else "fine"], 0)
    stamp = at.strftime("%d.%m.%Y %H:%M")
    for qid, items in comments.items():
        if qid != "*" and answers.get(qid) is None:
            answers[qid] = _draw(dice, _CSAT["hit"], 1) if qid != "q_recommend" else _draw(dice, _NPS["hit" if met else "fine"], 0)
        text = combine([i[0] for i in items], customer.language, dice) if len(items) > 1 else items[0][0]
        out.labels.append({"source": "survey", "ref": response, "question": None if qid == "*" else qid, "customer": customer.id,
                           "persona": customer.segment.persona, "language": customer.language, "tone": items[0][1],
                           "topics": sorted({k for i in items for k in i[2]}), "text": text})
        comments[qid] = [(text, items[0][1], ())]
    out.surveys.append({"response": response, "customer": customer.id, "at": stamp, "answers": answers,
                        "comments": {qid: v[0][0] for qid, v in comments.items()}})
    return bool(comments)


def _review(dice: Dice, out: _Quarter, customer: _Customer, text: str, tone: str, keys: tuple[str, ...],
            at: datetime, next_id: NextId, period: Period) -> bool:
    """One review; returns whether it carries the customer's id."""
    anonymous = dice.random() < ANONYMOUS_REVIEWS
    rid = f"rv-{period}-{next_id('review'):06d}"
    utc = at.replace(tzinfo=ZoneInfo(TIMEZONE)).astimezone(ZoneInfo("UTC"))
    out.reviews.append({"id": rid, "user": None if anonymous else customer.id, "created": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "stars": _draw(dice, _RATING[tone], 1), "body": text, "site": dice.pick(_REVIEW_SITES)})
    out.labels.append({"source": "review", "ref": rid, "question": None, "customer": None if anonymous else customer.id,
                       "persona": customer.segment.persona, "language": customer.language, "tone": tone, "topics": sorted(set(keys)),
                       "text": text})
    return not anonymous


# ----------------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Generated:
    """Where :func:`generate` wrote one seed's world, and its truth."""

    folder: Path
    periods: list[str]
    survey_shape: str
    truth: dict[str, Any]


def survey_shape(seed: int) -> str:
    """``wide`` (one row per response) for even seeds, ``long`` (one row per answer) for odd."""
    return "long" if seed % 2 else "wide"


def config_path(shape: str) -> Path:
    """The example config that reads a survey export of ``shape``."""
    return EXAMPLE_DIR / ("cjm-long-survey.yaml" if shape == "long" else "cjm.yaml")


def generate(out: str | os.PathLike, seed: int, scale: float = 1.0, quarters: int = QUARTERS, start: Period = START) -> Generated:
    """Write one seed's world under ``out`` (see the module docstring for the layout).

    Deterministic: the same arguments write byte-identical files. Raises ``ValueError`` for a
    negative seed, a scale outside (0, 20] or fewer than 4 quarters (a noise-only pair, and a
    barrier resolved and then back in two more pairs).
    """
    if seed < 0 or not 0 < scale <= 20 or quarters < 4:
        raise ValueError(f"need seed >= 0, 0 < scale <= 20 and quarters >= 4; got seed={seed}, scale={scale}, quarters={quarters}")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    periods = start.range(quarters)
    names = [str(p) for p in periods]
    shape = survey_shape(seed)
    prevalence, noise = plan_prevalence(np.random.default_rng([seed, GENERATOR_VERSION, 1]), quarters)
    registry = _Registry()
    counts: dict[str, dict[str, Any]] = {}
    for q, period in enumerate(periods):
        rng = np.random.default_rng([seed, GENERATOR_VERSION, 2, q])
        quarter = _simulate_quarter(rng, period, q, prevalence, registry, scale, shape == "long")
        target = folder / str(period)
        target.mkdir(parents=True, exist_ok=True)
        _write_events(target / "order_events.parquet", quarter.events)
        (_write_long_survey if shape == "long" else _write_wide_survey)(target / "survey_export.csv", quarter.surveys)
        _write_jsonl(target / "reviews.jsonl", quarter.reviews)
        _write_jsonl(target / "text_labels.jsonl", quarter.labels)
        counts[str(period)] = quarter.counts
    _write_customers(folder / "customers.csv", registry)
    truth = {
        "generator": f"cjm_demo.evaluation_data v{GENERATOR_VERSION}",
        "seed": seed, "scale": scale, "periods": names, "survey_shape": shape, "timezone": TIMEZONE,
        "personas": {s.persona: {"segment": s.code, "write_probability": s.write_probability,
                                 "neutral_probability": s.neutral_probability, "survey_share": s.survey_share} for s in SEGMENTS},
        "barriers": {t.key: {"kind": "catalog" if t.catalog else "uncatalogued", "stage": t.stage, "signature": list(t.signature)}
                     for t in TOPICS},
        "prevalence": {name: {persona: {key: values[q] for key, values in topics.items()} for persona, topics in prevalence.items()}
                       for q, name in enumerate(names)},
        "pairs": [{"from": names[j], "to": names[j + 1], "noise_only": j == noise} for j in range(quarters - 1)],
        "noise_only_pairs": [[names[noise], names[noise + 1]]],
        "changes": planted_changes(names, prevalence),
        "counts": counts,
    }
    (folder / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return Generated(folder, names, shape, truth)


def _write_events(path: Path, events: list[tuple]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = list(zip(*events))
    table = pa.table({
        "event_uid": pa.array(columns[0], pa.string()),
        "client_id": pa.array(columns[1], pa.string()),
        "segment": pa.array(columns[2], pa.string()),
        "event_name": pa.array(columns[3], pa.string()),
        "event_time": pa.array(columns[4], pa.timestamp("s")),
        "touchpoint": pa.array(columns[5], pa.string()),
        "order_no": pa.array(columns[6], pa.string()),
        "amount_rub": pa.array(columns[7], pa.float64()),
    })
    pq.write_table(table, path, compression="zstd")


def _write_wide_survey(path: Path, responses: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["response_no", "client_id", "submitted", *[q[3] for q in QUESTIONS], COMMENT_COLUMN])
        for r in responses:
            scores = ["" if r["answers"][q[0]] is None else str(r["answers"][q[0]]) for q in QUESTIONS]
            writer.writerow([r["response"], r["customer"], r["at"], *scores, r["comments"].get("*", "")])


def _write_long_survey(path: Path, responses: list[dict[str, Any]]) -> None:
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["answer_id", "response_no", "client_id", "submitted", "question", "score", "comment"])
        n = 0
        for r in responses:
            for qid, _, _, _, question in QUESTIONS:
                if r["answers"][qid] is None:
                    continue
                n += 1
                writer.writerow([f"A{n:07d}", r["response"], r["customer"], r["at"], question, r["answers"][qid], r["comments"].get(qid, "")])


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _write_customers(path: Path, registry: _Registry) -> None:
    import csv

    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["client_id", "segment", "city", "registered"])
        for c in registry.customers.values():
            writer.writerow([c.id, c.segment.code, c.city, c.registered])


# ------------------------------------------------------------------------------ running it


def read_truth(data_dir: str | os.PathLike) -> dict[str, Any]:
    """The ``truth.json`` :func:`generate` wrote in ``data_dir``."""
    return json.loads((Path(data_dir) / "truth.json").read_text(encoding="utf-8"))


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block (the config reads them once,
    when it is loaded), then put back what was there."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def load_evaluation_config(data_dir: str | os.PathLike, store_dir: str | os.PathLike,
                           work_dir: str | os.PathLike | None = None) -> CjmConfig:
    """The example config for the survey shape of ``data_dir``, reading that folder and storing
    versions in ``store_dir`` (run workspaces and the site beside it unless ``work_dir`` is given).

    Raises :class:`~cjm_tasks.errors.ConfigError` when the example config does not load.
    """
    from cjm_tasks.config import load_config

    truth = read_truth(data_dir)
    work = Path(work_dir) if work_dir else Path(store_dir).parent / "work"
    with _environment({DATA_ENV: str(Path(data_dir).resolve()), STORE_ENV: str(Path(store_dir).resolve()),
                       WORK_ENV: str(work.resolve()), SITE_ENV: str((work / "site").resolve())}):
        return load_config(config_path(truth["survey_shape"]))


def run_pipeline(data_dir: str | os.PathLike, store_dir: str | os.PathLike, work_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None) -> list[str]:
    """Build and store every quarter of ``data_dir`` in order, as a quarterly refresh would
    (``build_period`` then ``store_maps``; the site is not rendered). Returns the periods.

    ``progress``: called with a short message before each quarter. Raises
    :class:`~cjm_tasks.errors.ValidationFailed` when a quarter fails the gate.
    """
    from cjm_tasks.run.pipeline import build_period, store_maps

    config = load_evaluation_config(data_dir, store_dir, work_dir)
    periods = read_truth(data_dir)["periods"]
    for period in periods:
        if progress:
            progress(f"building {period}")
        maps, _ = build_period(config, Period.parse(period))
        store_maps(config, maps)
    return periods


def collect_diffs(config: CjmConfig) -> list[dict[str, Any]]:
    """Every stored version's diff of every persona but ``all``: ``[{persona, version, period,
    diff}]`` in persona and version order."""
    from cjm_tasks.run.pipeline import open_version_store

    store = open_version_store(config)
    out = []
    for persona in store.personas():
        if persona == "all":
            continue
        for stored in store.list(persona):
            out.append({"persona": persona, "version": str(stored.version), "period": str(stored.version.period),
                        "diff": store.read_diff(stored)})
    return out


# ----------------------------------------------------------------------------------- scoring

FLAG_STATUSES = ("new", "returned", "resolved", "worsened", "improved")
MANY_TEXTS = 300
"""Customers with text per persona from which the must-reach targets apply."""


def _from_period(diff: Mapping[str, Any]) -> str | None:
    if diff.get("from_period"):
        return str(diff["from_period"])
    source = diff.get("from")
    return str(source).split("-")[0] if source else None


def _phrases(entry: Mapping[str, Any]) -> list[str]:
    evidence = entry.get("evidence_to") or entry.get("evidence_from") or entry.get("evidence") or {}
    found = list(entry.get("phrases") or []) + [entry.get("title"), evidence.get("phrase") if isinstance(evidence, dict) else None]
    return [str(p).lower() for p in found if p]


def match_topic(entry: Mapping[str, Any], topics: Sequence[Topic] = UNCATALOGUED_TOPICS) -> str | None:
    """The uncatalogued topic an emerging entry stands for: the first whose signature word is
    part of one of the entry's phrases (or title); None when none is."""
    phrases = [f" {p} " for p in _phrases(entry)]
    for topic in topics:
        if any(word in phrase for word in topic.signature for phrase in phrases):
            return topic.key
    return None


@lru_cache(maxsize=1)
def _written_phrasings() -> dict[str, tuple[str, ...]]:
    """Every phrasing the world writes about each catalog topic, normalised, with each product
    filled in: to recognise an emerging theme that is a paraphrase of a catalog barrier."""
    from cjm_tasks.maps.text import normalize_one

    out = {}
    for topic in CATALOG_TOPICS:
        texts = set()
        for pool in (COMPLAINTS[topic.key], PLAIN.get(topic.key, {})):
            for templates in pool.values():
                for template in templates:
                    for item, (nom, acc, gen) in zip(ITEMS_EN, ITEMS_RU):
                        texts.add(normalize_one(template.format(item=item, nom=nom, acc=acc, gen=gen, mins=20, days=5)))
        out[topic.key] = tuple(sorted(texts))
    return out


def echoed_topic(entry: Mapping[str, Any]) -> str | None:
    """The catalog topic whose written phrasings contain the emerging entry's phrases (the
    topic with most phrases found; None when no phrase is a phrasing the world writes)."""
    from cjm_tasks.maps.text import normalize_one

    phrases = [normalize_one(p) for p in _phrases(entry)]
    hits = {key: sum(any(p in text for text in texts) for p in phrases) for key, texts in _written_phrasings().items()}
    best = max(hits, key=lambda k: hits[k])
    return best if hits[best] else None


def _entries(diff: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The diff's barrier entries, read defensively: ``barriers`` (catalog, metric and, in the
    newer contract, emerging) plus an older diff's separate ``emerging`` list, whose
    appeared/gone entries are never flagged."""
    out = []
    for entry in diff.get("barriers") or []:
        status = entry.get("status")
        out.append({**entry, "kind": entry.get("kind") or "catalog",
                    "flagged": bool(entry.get("flagged", status in FLAG_STATUSES)), "listed_only": False})
    for entry in diff.get("emerging") or []:
        out.append({**entry, "kind": "emerging", "flagged": bool(entry.get("flagged", False)), "listed_only": True})
    return out


def _evidence(entries: Sequence[Mapping[str, Any]], side: str, field: str) -> Any:
    evidence = entries[0].get(side) if entries else None
    return evidence.get(field) if isinstance(evidence, dict) else None


def score(truth: Mapping[str, Any], diffs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Compare one seed's stored diffs with its truth.

    Returns ``{"units": [...], "noise": [...], "metric": [...]}``. A unit is one (persona, quarter
    pair, topic) that truly changed or appears in the diff, with what truly happened
    (``truth_type``, ``size``, the prevalences, customers with text) and what the diff said
    (``status``, ``flagged``, whether the direction and the exact type match). Units by kind:

    - ``catalog``: a catalog barrier's entry, by id;
    - ``emerging``: emerging themes whose phrases name an uncatalogued topic, grouped by topic;
      a theme naming nothing the world writes is a unit of its own (truth: no change);
    - ``emerging_echo``: emerging themes that are phrasings the world writes about a *catalog*
      topic (complaints the keywords missed), grouped by that topic. Their flags count for
      precision (right when the topic truly moved that way); they add no true change to recall.

    ``noise`` lists every tested entry (status not ``too_few``) of the noise-only pairs with
    whether it was flagged; ``metric`` every metric entry, which the truth does not cover.
    """
    periods = truth["periods"]
    noise_pairs = {(p["from"], p["to"]) for p in truth["pairs"] if p["noise_only"]}
    prevalence = truth["prevalence"]
    units: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    metric: list[dict[str, Any]] = []
    for record in diffs:
        to = record["period"]
        frm = _from_period(record["diff"])
        if frm is None or to not in periods or frm not in periods or periods.index(frm) != periods.index(to) - 1:
            continue
        persona = record["persona"]
        j = periods.index(to)
        is_noise = (frm, to) in noise_pairs
        texts = (truth["counts"][frm].get(persona, {}).get("customers_with_text", 0),
                 truth["counts"][to].get(persona, {}).get("customers_with_text", 0))
        grouped: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for entry in _entries(record["diff"]):
            if entry["kind"] == "metric":
                metric.append({"seed": truth["seed"], "persona": persona, "from": frm, "to": to, "noise_only": is_noise,
                               "id": entry.get("id"), "status": entry.get("status"), "flagged": entry["flagged"]})
                continue
            if entry["kind"] == "catalog":
                grouped.setdefault(("catalog", str(entry.get("id"))), []).append(entry)
            elif topic := match_topic(entry):
                grouped.setdefault(("emerging", topic), []).append(entry)
            elif topic := echoed_topic(entry):
                grouped.setdefault(("emerging_echo", topic), []).append(entry)
            else:
                grouped.setdefault(("emerging", str(entry.get("id"))), []).append(entry)
        persona_truth = {key: [prevalence[p][persona][key] for p in periods] for key in prevalence[to].get(persona, {})}
        for key, history in persona_truth.items():
            grouped.setdefault(("catalog" if TOPIC_BY_KEY[key].catalog else "emerging", key), [])
        for (kind, key), entries in sorted(grouped.items()):
            history = persona_truth.get(key)
            before, after = (history[j - 1], history[j]) if history else (0.0, 0.0)
            kind_truth = change_type(history[: j - 1], before, after) if history else None
            if not entries and kind_truth is None:
                continue
            tested = [e for e in entries if e.get("status") != "too_few" and not e["listed_only"]]
            flagged = [e for e in entries if e["flagged"]]
            directions = {DIRECTION.get(str(e.get("status"))) or e.get("direction") for e in flagged}
            direction = directions.pop() if len(directions) == 1 else ("mixed" if directions else None)
            status = flagged[0].get("status") if flagged else (entries[0].get("status") if entries else None)
            listed = {DIRECTION.get({"appeared": "new", "gone": "resolved"}.get(str(e.get("status")), ""))
                      for e in entries if e["listed_only"]}
            units.append({
                "seed": truth["seed"], "shape": truth["survey_shape"], "persona": persona, "from": frm, "to": to,
                "noise_only": is_noise, "barrier": key, "kind": kind, "counts_for_recall": kind != "emerging_echo",
                "truth_type": kind_truth, "truth_direction": DIRECTION.get(kind_truth) if kind_truth else None,
                "size": size_class(before, after) if kind_truth else None, "prevalence_from": before, "prevalence_to": after,
                "texts_from": texts[0], "texts_to": texts[1], "many_texts": min(texts) >= MANY_TEXTS,
                "entries": [str(e.get("id")) for e in entries], "tested": bool(tested), "flagged": bool(flagged),
                "status": status, "direction": direction,
                "right_direction": bool(flagged) and kind_truth is not None and direction == DIRECTION[kind_truth],
                "exact": bool(flagged) and kind_truth is not None and len(flagged) == 1 and status == kind_truth,
                "listed_direction": bool(kind_truth) and DIRECTION[kind_truth] in listed,
                # What the diff measured (the first entry), to tell a weak signal from a strict rule.
                "measured_from": _evidence(entries, "evidence_from", "customers"),
                "measured_to": _evidence(entries, "evidence_to", "customers"),
                "denominator_to": _evidence(entries, "evidence_to", "denominator"),
                "q_value": entries[0].get("q_value") if entries else None,
            })
            if is_noise:
                noise.extend({"seed": truth["seed"], "persona": persona, "from": frm, "to": to,
                              "kind": "emerging" if kind == "emerging_echo" else kind, "barrier": key, "id": str(e.get("id")),
                              "status": e.get("status"), "flagged": e["flagged"]} for e in tested)
        if is_noise:
            noise.extend({"seed": truth["seed"], "persona": persona, "from": frm, "to": to, "kind": "metric", "barrier": m["id"],
                          "id": m["id"], "status": m["status"], "flagged": m["flagged"]}
                         for m in metric if m["persona"] == persona and m["to"] == to and m["status"] != "too_few")
    return {"units": units, "noise": noise, "metric": metric}


def wilson(successes: int, total: int, z: float = 1.96) -> tuple[float | None, float | None, float | None]:
    """(share, low, high): the share and its Wilson score interval; Nones when ``total`` is 0."""
    if total == 0:
        return None, None, None
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return p, max(0.0, centre - half), min(1.0, centre + half)


def _rate(successes: int, total: int) -> dict[str, Any]:
    share, low, high = wilson(successes, total)
    return {"k": successes, "n": total, "value": share, "low": low, "high": high}


def _scores(units: Sequence[Mapping[str, Any]], changes=lambda u: True) -> dict[str, Any]:
    """Precision and recall (exact type and direction) over ``units``; ``changes`` keeps a subset
    of the true changes (e.g. large ones) while every flag on an unchanged barrier still counts
    against precision."""
    scope = [u for u in units if u["truth_type"] is None or changes(u)]
    true = [u for u in scope if u["truth_type"] and u["counts_for_recall"]]
    flagged = [u for u in scope if u["flagged"]]
    return {
        "true_changes": len(true), "flagged": len(flagged),
        "recall_direction": _rate(sum(u["right_direction"] for u in true), len(true)),
        "recall_exact": _rate(sum(u["exact"] for u in true), len(true)),
        "precision_direction": _rate(sum(u["right_direction"] for u in flagged), len(flagged)),
        "precision_exact": _rate(sum(u["exact"] for u in flagged), len(flagged)),
    }


def summarize(scored: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Pool the :func:`score` results of several seeds into the evaluation's figures.

    Precision counts every flagged unit: a flag on a barrier whose prevalence did not change, or
    in the wrong direction, is a false positive. Restricting to a size class keeps that class's
    true changes and every unchanged unit (the flags a detector raises without a change are
    raised whatever the size of the real changes). Intervals are Wilson 95%.
    """
    units = [u for s in scored for u in s["units"]]
    noise = [n for s in scored for n in s["noise"]]
    metric = [m for s in scored for m in s["metric"]]
    out: dict[str, Any] = {"seeds": len(scored), "overall": _scores(units)}
    out["target_large_many_texts"] = _scores([u for u in units if u["many_texts"]], lambda u: u["size"] == "large")
    out["target_large_many_texts_catalog"] = _scores([u for u in units if u["many_texts"] and u["kind"] == "catalog"],
                                                     lambda u: u["size"] == "large")
    out["by_part"] = {kind: _scores([u for u in units if u["kind"] == kind]) for kind in ("catalog", "emerging", "emerging_echo")}
    out["by_size"] = {size: _scores(units, lambda u, size=size: u["size"] == size) for size in ("large", "near_limit")}
    out["by_texts"] = {f">={MANY_TEXTS}": _scores([u for u in units if u["many_texts"]]),
                       f"<{MANY_TEXTS}": _scores([u for u in units if not u["many_texts"]])}
    out["by_shape"] = {shape: _scores([u for u in units if u["shape"] == shape]) for shape in ("wide", "long")}
    by_type = {}
    for kind in ("new", "returned", "worsened", "improved", "resolved"):
        true = [u for u in units if u["truth_type"] == kind and u["counts_for_recall"]]
        said = [u for u in units if u["flagged"] and u["status"] == kind]
        by_type[kind] = {"true_changes": len(true),
                         "recall_direction": _rate(sum(u["right_direction"] for u in true), len(true)),
                         "recall_exact": _rate(sum(u["exact"] for u in true), len(true)),
                         "flagged_as": len(said), "precision_exact": _rate(sum(u["exact"] for u in said), len(said))}
    out["by_type"] = by_type
    out["noise_only"] = {kind: _rate(sum(n["flagged"] for n in noise if n["kind"] == kind), sum(n["kind"] == kind for n in noise))
                         for kind in ("catalog", "emerging", "metric")}
    out["noise_only"]["catalog+emerging"] = _rate(sum(n["flagged"] for n in noise if n["kind"] != "metric"),
                                                  sum(n["kind"] != "metric" for n in noise))
    emerging_true = [u for u in units if u["kind"] == "emerging" and u["truth_type"]]
    out["emerging_listed"] = _rate(sum(u["listed_direction"] or u["right_direction"] for u in emerging_true), len(emerging_true))
    out["metric_flags"] = {"flagged": sum(m["flagged"] for m in metric), "entries": len(metric)}
    return out


def keyword_coverage(data_dir: str | os.PathLike, config: CjmConfig) -> dict[str, dict[str, Any]]:
    """How much of the written text the catalog can read: per topic, of the complaint texts
    about it (every quarter of ``data_dir``), the share with no catalog keyword at all, the
    share where its own barrier's keywords match, and the share where another barrier's do;
    for praise, neutral and vague texts, the share matching any barrier.

    Texts about several topics count for each. Uses the catalog's keywords alone, as written
    (``catalog_matcher(config, word_forms=False, similarity=False)``): this measures how the
    texts were written, not how well the full detector reads them (benchmarks/eval_detection.py).
    """
    import pandas as pd

    from cjm_tasks.maps.journey import catalog_matcher

    rows = []
    for period in read_truth(data_dir)["periods"]:
        with open(Path(data_dir) / period / "text_labels.jsonl", encoding="utf-8") as fh:
            rows.extend(json.loads(line) for line in fh)
    texts = pd.Series([r["text"] for r in rows])
    matches = catalog_matcher(config, word_forms=False, similarity=False).match(texts)
    labels_by_row = matches.groupby("row")["label"].agg(set).to_dict()
    out: dict[str, dict[str, Any]] = {}
    for key in [t.key for t in TOPICS] + ["praise", "neutral", "vague"]:
        picked = [i for i, r in enumerate(rows) if (key in r["topics"] if ":" in key or key in TOPIC_BY_KEY else r["tone"] == key)]
        if not picked:
            continue
        found = [labels_by_row.get(i, set()) for i in picked]
        own = [key in f for f in found]
        # Another barrier: one the text is not about (a text about two topics may match both).
        other = [bool(f - set(rows[i]["topics"])) for i, f in zip(picked, found)]
        out[key] = {"texts": len(picked), "keyword_free": sum(not f for f in found) / len(picked),
                    "own_barrier": sum(own) / len(picked), "other_barrier": sum(other) / len(picked)}
    return out


def run_seed(seed: int, scale: float, workdir: str | os.PathLike, progress: Progress | None = None) -> dict[str, Any]:
    """Generate one seed under ``workdir/seed-<seed>/``, run the pipeline over its quarters,
    score the stored diffs and measure the keyword coverage of its texts.

    Returns ``{"seed", "shape", "data", "store", "config", "units", "noise", "metric",
    "coverage", "changes", "seconds", "diffs"}`` (``diffs`` as :func:`collect_diffs`).
    Raises :class:`~cjm_tasks.errors.ValidationFailed` when a quarter fails the gate.
    """
    import time

    root = Path(workdir) / f"seed-{seed}"
    data, store, work = root / "data", root / "store", root / "work"
    t0 = time.perf_counter()
    generated = generate(data, seed, scale)
    t1 = time.perf_counter()
    run_pipeline(data, store, work, progress)
    t2 = time.perf_counter()
    config = load_evaluation_config(data, store, work)
    diffs = collect_diffs(config)
    scored = score(generated.truth, diffs)
    return {"seed": seed, "shape": generated.survey_shape, "data": str(data), "store": str(store), "config": str(config.path),
            **scored, "coverage": keyword_coverage(data, config), "changes": generated.truth["changes"],
            "seconds": {"generate": round(t1 - t0, 1), "pipeline": round(t2 - t1, 1)}, "diffs": diffs}


def file_hashes(folder: str | os.PathLike) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` by relative path (to compare two generations)."""
    root = Path(folder)
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}
