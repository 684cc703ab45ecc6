"""Deterministic sample data for the demo retailer: customers, surveys, reviews and sales.

The generator describes a small world that follows the configuration contract
(``configs/stages.yaml``, ``configs/personas.yaml``, ``configs/barriers.yaml``): every event type,
survey question, persona and barrier id it writes comes from those files. What the world *does*
(how each persona moves through the journey, which barriers are planted when, how customers
phrase their complaints) is the model kept in this module.

Layout written under ``out``::

    customers.csv                        every customer of every quarter
    <period>/surveys.csv                 one row per answer to one question
    <period>/reviews.jsonl               one review per line, ~15 % anonymous
    <period>/sales/part-NNNNN.parquet    sales events, one part per chunk of customers
    ground_truth.json                    what was planted: barriers per period and persona,
                                         the changes between quarters, the noise-only pairs

Ground truth semantics:

* a catalog barrier's ``intensity`` is the probability that a text (a non-empty survey comment or
  a review) of that persona about the barrier's stage mentions it;
* a metric barrier's ``value`` is the expected value of its metric for that persona: a rate
  (cancellation, failed payments, late deliveries, returns), the evaluation -> purchase
  conversion, or the mean CSAT of the stage;
* between consecutive quarters a barrier is ``new``, ``resolved``, ``worsened`` (strength at least
  2.5x higher) or ``improved`` (strength at most half, still clearly detectable); a noise-only pair
  keeps every barrier and intensity, only the sampling differs.

Random numbers come from ``numpy.random.default_rng`` seeded with (seed, purpose, period, block)
where a block is a fixed run of 1000 customers: the output is byte-identical for the same
arguments whatever the chunk size used to write it.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from cjm_tasks.periods import Period, PeriodError
from cjm_tasks.resources import configs_dir

log = logging.getLogger(__name__)

CONFIG_DIR = configs_dir()
BASE_CUSTOMERS = 1500
"""Active customers per quarter at ``scale=1``."""
BLOCK_CUSTOMERS = 1000
"""Customers per random-number block: the unit that keeps output independent of chunking."""
CHUNK_CUSTOMERS = 50_000
"""Default customers per sales part file (bounds memory at any scale)."""

Progress = Callable[[str, float], None]

_HOUR = 3600.0
_DAY = 86400.0
_LANGS = ("en", "ru")
_RU_SHARE = 0.4
_RETURNING_SHARE = 0.35
_COMMENT_SHARE = 0.5
_ANONYMOUS_REVIEWS_PER_CUSTOMER = 0.06  # ~15 % of ~0.4 reviews per customer
_NOISE_RATE = 0.005
_RETRY_AFTER_FAILURE = 0.6
_MAX_EXTRA_ORDERS = 4

# Seed tags keep the random streams of different purposes apart.
_TAG_SCHEDULE, _TAG_COHORT, _TAG_BLOCK = 101, 202, 303

_CHANNELS = ("web", "app", "store", "phone", "email", "sms", "social")
_SURVEY_CHANNELS = ("email", "sms", "app", "web", "phone")
_REVIEW_SOURCES = ("site", "app_store", "marketplace", "maps")
_REGIONS = ("north", "south", "east", "west", "central")
_SIGNUP_CHANNELS = ("web", "app", "store", "phone")

# The world model's journey; stages.yaml must list each event type under the same stage.
_STAGE_EVENTS = {
    "awareness": ("ad_click", "site_visit", "search_visit", "social_click"),
    "evaluation": ("product_view", "compare", "add_to_cart"),
    "purchase": ("checkout_started", "order_placed", "payment_failed", "order_cancelled",
                 "order_delivered", "delivery_late"),
    "experience": ("product_registered", "support_contact", "return_requested"),
    "loyalty": ("repeat_order", "loyalty_signup", "referral"),
    "reminder": ("email_open", "sms_click", "push_open"),
}
_EVENT_TYPES = tuple(e for events in _STAGE_EVENTS.values() for e in events)
_EV = {name: i for i, name in enumerate(_EVENT_TYPES)}
_FIXED_CHANNEL = {"social_click": "social", "email_open": "email", "sms_click": "sms", "push_open": "app"}
_EVALUATION_MIX = (0.6, 0.15, 0.25)
_LOYALTY_MIX = (0.55, 0.2, 0.25)

# Baseline rates sit well under the metric_rules thresholds of barriers.yaml.
_BASELINE = {"cancel": 0.05, "fail": 0.03, "late": 0.06, "returns": 0.06}
_RATE_MECHANISM = {"cancellation_rate": "cancel", "failed_payment_rate": "fail",
                   "late_delivery_rate": "late", "return_rate": "returns"}

# Survey invitations per customer who reached the stage (ces questions are asked less often),
# and reviews per customer who reached the stage: together ~1.5 answers and ~0.34 reviews.
_INVITE = {"awareness": 0.25, "evaluation": 0.32, "purchase": 0.5, "experience": 0.6,
           "loyalty": 1.0, "reminder": 0.5}
_INVITE_FACTOR = {"csat": 1.0, "ces": 0.6, "nps": 1.0}
_REVIEW_RATE = {"awareness": 0.04, "evaluation": 0.07, "purchase": 0.2, "experience": 0.25,
                "loyalty": 0.25, "reminder": 0.06}
_ANONYMOUS_STAGE_MIX = {"awareness": 0.1, "evaluation": 0.15, "purchase": 0.35, "experience": 0.35,
                        "loyalty": 0.05, "reminder": 0.0}
# Anonymous marketplace reviews have their own mild, constant complaints.
_ANONYMOUS_BARRIERS = {"out_of_stock": 0.1, "not_as_promised": 0.12}
_ANONYMOUS_MOOD = 0.07
_ANONYMOUS_SOURCES = (0.1, 0.1, 0.5, 0.3)

# Score distributions: a happy customer, one hit by a barrier, one of a stage with low CSAT.
_SCORES = {
    "csat": (1, (0.01, 0.02, 0.07, 0.38, 0.52), (0.15, 0.30, 0.30, 0.20, 0.05),
             (0.45, 0.35, 0.15, 0.04, 0.01)),
    "ces": (1, (0.01, 0.02, 0.04, 0.08, 0.20, 0.32, 0.33), (0.12, 0.20, 0.25, 0.20, 0.13, 0.06, 0.04),
            (0.30, 0.30, 0.20, 0.10, 0.06, 0.03, 0.01)),
    "nps": (0, (0.01, 0.01, 0.01, 0.02, 0.02, 0.04, 0.05, 0.10, 0.14, 0.25, 0.35),
            (0.10, 0.08, 0.10, 0.12, 0.12, 0.14, 0.12, 0.10, 0.06, 0.04, 0.02),
            (0.20, 0.15, 0.15, 0.12, 0.10, 0.10, 0.08, 0.05, 0.03, 0.01, 0.01)),
}
_METRICS = tuple(_SCORES)
_SENTIMENT_CUTS = {"csat": (2, 4), "ces": (3, 6), "nps": (6, 9)}  # (negative up to, positive from)

# Planted-barrier strengths. A catalog barrier's strength is its intensity; its freshly planted
# level is whatever gives ~14 expected mentions per persona-stage at scale 1 (at least 8 %), so
# that even an unlucky quarter shows ~8.
_MENTIONS_AT_SCALE_1 = 14
_CATALOG_MIN, _CATALOG_MAX_LOW, _CATALOG_CAP, _STAGE_CAP = 0.08, 0.28, 0.5, 0.55
_RATE_LOW, _RATE_FLOOR, _RATE_CAP = 2.2, 1.8, 0.8  # multiples of the threshold; cap is a rate
# A checkout drop-off keeps conversion near 0.15 and is never worsened or improved: any lower
# and too few customers are left downstream for the purchase rates to mean anything.
_CONVERSION_LOW, _CONVERSION_FLOOR, _CONVERSION_CAP = 2.0, 2.0, 2.4  # threshold / conversion
_DROP_OFF_MIN_PURCHASERS = 50  # at scale 1
_CSAT_LOW, _CSAT_FLOOR, _CSAT_CAP = 0.5, 0.35, 1.5  # points below the threshold
_WORSEN = (2.5, 2.9)
_IMPROVE = (0.38, 0.5)
_MIN_ACTIVE, _MAX_ACTIVE = 2, 4
_MIN_CHANGES = 3  # per change pair, across personas
# Cancelling or failing more orders than this leaves too few delivered orders to see anything
# planted after the purchase; the scheduler keeps such barriers apart.
_THIN_OUT_RATE = 0.3


@dataclass(frozen=True)
class _PersonaModel:
    """How one persona behaves; mixes are probabilities over the tuples named in the comments."""

    share: float
    segment: str
    ages: tuple[int, int]                 # inclusive
    evaluation: float                     # awareness -> evaluation
    conversion: float                     # evaluation -> purchase at baseline
    orders: float                         # extra orders per purchaser (Poisson mean)
    loyalty: float                        # experience -> loyalty
    reminders: float                      # reminder reach of customers who are not loyal
    support: float                        # support contacts per delivered order
    views: float                          # extra evaluation events (Poisson mean)
    amount: tuple[float, float, float, float]  # median, log-sd, min, max of one order
    mood: float                           # share of unhappy answers with no barrier behind them
    awareness_mix: tuple[float, ...]      # _STAGE_EVENTS["awareness"]
    channel_mix: tuple[float, ...]        # web, app, store, phone
    reminder_mix: tuple[float, ...]       # _STAGE_EVENTS["reminder"]
    region_mix: tuple[float, ...]         # _REGIONS
    survey_channel_mix: tuple[float, ...]  # _SURVEY_CHANNELS
    review_source_mix: tuple[float, ...]  # _REVIEW_SOURCES
    affinity: tuple[str, ...]             # barriers this persona is prone to


# Consumer amounts stay under 450 so that no consumer reaches the business rule's
# avg_order_value >= 500; ages stay inside the bands of personas.yaml.
_PERSONA_MODELS = {
    "business_buyers": _PersonaModel(
        share=0.2, segment="business", ages=(24, 64), evaluation=0.85, conversion=0.6, orders=0.9,
        loyalty=0.45, reminders=0.3, support=0.2, views=2.5, amount=(650.0, 0.6, 100.0, 3000.0),
        mood=0.08, awareness_mix=(0.2, 0.45, 0.3, 0.05), channel_mix=(0.55, 0.05, 0.1, 0.3),
        reminder_mix=(0.7, 0.2, 0.1), region_mix=(0.15, 0.15, 0.15, 0.15, 0.4),
        survey_channel_mix=(0.6, 0.05, 0.05, 0.2, 0.1), review_source_mix=(0.5, 0.05, 0.25, 0.2),
        affinity=("late_delivery", "cash_only_payment", "hidden_fees", "poor_description",
                  "slow_support", "late_deliveries", "failed_payments", "high_cancellation")),
    "young_urban": _PersonaModel(
        share=0.3, segment="consumer", ages=(18, 29), evaluation=0.85, conversion=0.52, orders=0.3,
        loyalty=0.35, reminders=0.45, support=0.08, views=3.5, amount=(45.0, 0.7, 5.0, 449.99),
        mood=0.06, awareness_mix=(0.3, 0.2, 0.2, 0.3), channel_mix=(0.25, 0.6, 0.1, 0.05),
        reminder_mix=(0.2, 0.1, 0.7), region_mix=(0.1, 0.1, 0.1, 0.1, 0.6),
        survey_channel_mix=(0.2, 0.1, 0.6, 0.1, 0.0), review_source_mix=(0.15, 0.45, 0.3, 0.1),
        affinity=("site_errors", "spam_reminders", "hidden_fees", "pushy_upsell", "out_of_stock",
                  "checkout_drop_off", "low_csat.evaluation")),
    "families": _PersonaModel(
        share=0.3, segment="consumer", ages=(30, 54), evaluation=0.8, conversion=0.56, orders=0.5,
        loyalty=0.4, reminders=0.4, support=0.12, views=3.0, amount=(90.0, 0.6, 5.0, 449.99),
        mood=0.04, awareness_mix=(0.25, 0.35, 0.3, 0.1), channel_mix=(0.4, 0.35, 0.2, 0.05),
        reminder_mix=(0.5, 0.2, 0.3), region_mix=(0.2, 0.2, 0.2, 0.2, 0.2),
        survey_channel_mix=(0.45, 0.15, 0.25, 0.15, 0.0), review_source_mix=(0.35, 0.2, 0.35, 0.1),
        affinity=("late_delivery", "out_of_stock", "no_instructions", "not_as_promised",
                  "high_returns", "late_deliveries")),
    "seniors": _PersonaModel(
        share=0.2, segment="consumer", ages=(55, 84), evaluation=0.75, conversion=0.55, orders=0.25,
        loyalty=0.45, reminders=0.25, support=0.3, views=2.0, amount=(60.0, 0.5, 5.0, 449.99),
        mood=0.02, awareness_mix=(0.3, 0.3, 0.35, 0.05), channel_mix=(0.1, 0.05, 0.45, 0.4),
        reminder_mix=(0.3, 0.6, 0.1), region_mix=(0.25, 0.25, 0.2, 0.2, 0.1),
        survey_channel_mix=(0.25, 0.3, 0.0, 0.05, 0.4), review_source_mix=(0.2, 0.05, 0.15, 0.6),
        affinity=("queues", "rude_staff", "no_instructions", "slow_support", "cash_only_payment",
                  "hard_to_find", "low_csat.purchase")),
}

# ---------------------------------------------------------------------------------------------
# Text templates. A text is opening + sentence + closing. Complaint sentences of a barrier each
# contain one of its keywords from barriers.yaml (in varied word forms); every other fragment
# contains no keyword of any barrier. No slashes: pandas escapes them in JSON.
# ---------------------------------------------------------------------------------------------
_OPENINGS = {
    "en": {
        "awareness": ("", "I was looking for a new kettle.", "Needed a birthday present in a hurry.",
                      "A friend mentioned your shop.", "Saw your ad last week.",
                      "Tried your shop for the first time."),
        "evaluation": ("", "I was comparing a few vacuum cleaners.",
                       "Checked your prices against two other shops.",
                       "Spent an evening choosing a desk chair.",
                       "Looked at the office printers in your catalogue.",
                       "Was choosing between two blenders."),
        "purchase": ("", "Ordered a kettle on Monday.", "Bought a set of pans for the kitchen.",
                     "My second order this month.", "Got a printer for the office.",
                     "Placed an order for school supplies.",
                     "Picked up a gift in your city centre shop."),
        "experience": ("", "We have been using the blender for two weeks.", "Unpacked the lamp yesterday.",
                       "Set up the new router at home.",
                       "My mother has been using the heater for a month.",
                       "Opened the box as soon as it came."),
        "loyalty": ("", "I have been buying here for three years.", "Third order from you this year.",
                    "We shop with you every month.", "Long-time customer here."),
        "reminder": ("", "About your emails and texts.", "I get your messages on my phone.",
                     "Signed up for your newsletter last spring.", "Regarding the app notifications."),
    },
    "ru": {
        "awareness": ("", "Искала новый чайник.", "Нужен был подарок на день рождения.",
                      "Подруга посоветовала ваш магазин.", "Увидел вашу рекламу на прошлой неделе.",
                      "Впервые зашёл к вам."),
        "evaluation": ("", "Сравнивал несколько пылесосов.", "Сравнила цены с двумя другими магазинами.",
                       "Весь вечер выбирал офисное кресло.", "Выбирала между двумя блендерами.",
                       "Смотрел принтеры для офиса в каталоге."),
        "purchase": ("", "Заказала чайник в понедельник.", "Купил набор кастрюль для кухни.",
                     "Это мой второй заказ за месяц.", "Брали принтер для офиса.",
                     "Оформила заказ на школьные принадлежности.", "Покупал подарок в магазине в центре."),
        "experience": ("", "Пользуемся блендером две недели.", "Вчера распаковал лампу.",
                       "Поставил дома новый роутер.", "Мама пользуется обогревателем уже месяц.",
                       "Открыла коробку сразу, как привезли."),
        "loyalty": ("", "Покупаю у вас уже три года.", "Это мой третий заказ в этом году.",
                    "Заказываем у вас каждый месяц.", "Давно ваш клиент."),
        "reminder": ("", "По поводу ваших писем и смс.", "Получаю ваши сообщения на телефон.",
                     "Весной подписался на рассылку.", "Насчёт уведомлений в приложении."),
    },
}
_CLOSINGS_NEGATIVE = {
    "en": ("", "Very disappointed.", "Really frustrating.", "Please sort this out.", "I expected better.",
           "Will think twice next time."),
    "ru": ("", "Очень разочарована.", "Совсем не порадовало.", "Разберитесь, пожалуйста.",
           "Ожидал большего.", "В следующий раз подумаю."),
}
_CLOSINGS_POSITIVE = {
    "en": ("", "Thank you!", "Keep it up.", "Recommend."),
    "ru": ("", "Спасибо!", "Так держать.", "Рекомендую."),
}
_COMPLAINTS = {
    "en": {
        "cash_only_payment": (
            "The courier wanted cash only and I had none on me.",
            "At the till they said cards not accepted, so I had to find a cash machine.",
            "They only took cash, which nobody warned me about.",
            "I couldn't pay by card and had to go back home for money.",
            "The shop didn't accept cards that day.",
            "Their pick-up point will only accept cash, which is absurd.",
            "No card payment on delivery, so the parcel went back."),
        "queues": (
            "There was a huge queue at the only open till.",
            "I waited in line for forty minutes to pay.",
            "Queues everywhere, two tills for the whole store.",
            "Stood in line for half an hour just to collect a parcel.",
            "The long lines at the pick-up desk are getting worse.",
            "Spent ages queueing at the counter."),
        "out_of_stock": (
            "The kettle I wanted was out of stock after I paid.",
            "Half of my basket turned out to be sold out.",
            "The site showed it available but the shop had none in stock.",
            "They ran out of the size I needed.",
            "Two items were not in stock, and I learned it only after paying.",
            "The store had no stock of the model from the website."),
        "rude_staff": (
            "The cashier was rude and rolled her eyes at me.",
            "Staff at the counter were very dismissive when I asked a question.",
            "The courier was impolite and threw the box at the door.",
            "I was shouted at for asking about the receipt.",
            "Unfriendly staff, nobody even said hello.",
            "The manager was rude to my elderly father.",
            "Rudest shop assistant I have ever met."),
        "late_delivery": (
            "It arrived late and nobody told me why.",
            "The parcel came three days late.",
            "Delivery was late again, the second time this month.",
            "The courier kept delaying the delivery without a word.",
            "Still waiting for my order, the tracking has not moved.",
            "It took weeks to reach me instead of the promised two days.",
            "A week late, and the hotline just said sorry.",
            "Another late delivery, I took a day off for nothing."),
        "pushy_upsell": (
            "The sales assistant was pushy about the extended warranty.",
            "They kept pushing an insurance plan I did not need.",
            "Every step of the order tries to upsell something.",
            "Felt forced to buy a protection plan with the phone.",
            "The consultant tried to sell me a more expensive model three times.",
            "Too much hard sell at the counter.",
            "Endless upselling on the phone when I just wanted to order."),
        "not_as_promised": (
            "The lamp is not as described, the light is much dimmer.",
            "It looks different from the photos on the site.",
            "This is not what I ordered, the colour is wrong.",
            "The battery life is not as advertised.",
            "The size does not match the description at all.",
            "The listing was misleading about the material.",
            "Quality is not what was promised in the ad."),
        "poor_description": (
            "There was not enough information about the size.",
            "The product page had a vague description and two blurry photos.",
            "No size chart, so I had to guess.",
            "Missing specs, I could not tell how powerful the motor is.",
            "Unclear specifications, I wrote to ask and gave up.",
            "Such a poor description that I compared on another site.",
            "No specifications at all for the printer cartridges."),
        "site_errors": (
            "The app crashed twice while I was comparing prices.",
            "The site showed an error when I added items to the cart.",
            "The filters are buggy and reset every time.",
            "The page froze on the product photos.",
            "The app keeps closing on my phone.",
            "The site was down all evening.",
            "The comparison page would not load.",
            "Constant freezing on the catalogue page."),
        "no_instructions": (
            "There was no manual in the box.",
            "It came without instructions, only a code that leads nowhere.",
            "I couldn't figure out how to switch on the timer.",
            "Hard to set up, and the leaflet is in a language I cannot read.",
            "The instructions were missing, so I searched for videos.",
            "No idea how to connect it to the app, the leaflet is blank.",
            "We could not figure out how to assemble the shelf."),
        "slow_support": (
            "I wrote three times and support never answered.",
            "No response from support for a week.",
            "Called the hotline, nobody answered.",
            "Support is slow, it took them ten days to reply.",
            "No reply from support about my broken blender.",
            "Customer service ignored my emails completely.",
            "Support never replied to my question about the warranty."),
        "no_reminders": (
            "You never reminded me that my filter needed replacing.",
            "No reminder about the items left in my cart.",
            "Nobody reminded me that my discount was ending.",
            "The app did not remind me about the refill.",
            "I wish you would remind me when the coffee is running low.",
            "No notifications about the pick-up, so the parcel went back.",
            "You forgot to remind me about the service check."),
        "spam_reminders": (
            "I get too many emails from you, three a day.",
            "Your messages feel like spam now.",
            "Constant notifications from the app, I had to turn them off.",
            "Bombarded with offers after a single purchase.",
            "Too many messages, please stop pestering me.",
            "The texts every morning are spammy."),
        "hidden_fees": (
            "The price went up at checkout because of a service fee.",
            "Hidden fees for delivery appeared at the last step.",
            "An extra charge for packaging was added.",
            "Unexpected fees made it more expensive than the other shop.",
            "There was a surprise fee for the payment method.",
            "Hidden charges everywhere, the final total was much higher.",
            "An unexpected charge for insurance appeared in the basket."),
        "hard_to_find": (
            "Your shop is hard to find online.",
            "I couldn't find you in the search results, only resellers.",
            "Your website search is useless for simple words.",
            "Typed the exact model and got no results.",
            "Impossible to find the store on the map.",
            "Could not find the kids section at all.",
            "The search never finds what I type."),
        "no_loyalty_rewards": (
            "Three years of orders and no reward at all.",
            "There is nothing for regular customers here.",
            "No discount for regular buyers, new ones get all the offers.",
            "My points expired before I could use them.",
            "The loyalty program is useless, the points are worth nothing.",
            "No rewards, no perks, nothing.",
            "Honestly no loyalty bonus for people who buy every month."),
    },
    "ru": {
        "cash_only_payment": (
            "Курьер принимал только наличные, а у меня их не было.",
            "На кассе не принимают карты, пришлось искать банкомат.",
            "Оплата только наличными, и об этом нигде не написано.",
            "Не смогла оплатить картой при получении.",
            "В пункте выдачи нельзя оплатить картой, это в наше время.",
            "Продавец сказал, что берут только наличные."),
        "queues": (
            "Огромная очередь на кассе, работала одна касса.",
            "Простояла сорок минут, чтобы оплатить покупку.",
            "Долго стоял в пункте выдачи, все ждут.",
            "Очереди каждый раз, когда захожу после работы.",
            "Полчаса в очереди ради одной посылки.",
            "Простояли у стойки выдачи больше получаса."),
        "out_of_stock": (
            "После оплаты сообщили, что товара нет в наличии.",
            "Половины корзины не было в наличии.",
            "Нужный размер уже распродан.",
            "На сайте товар был, а в магазине его нет на складе.",
            "Чайник закончился на складе прямо во время заказа.",
            "Всё распродано, а на сайте по-прежнему показывают."),
        "rude_staff": (
            "Кассир была груба и закатывала глаза.",
            "Курьер нахамил и бросил коробку у двери.",
            "Продавец отвечал грубо на простой вопрос.",
            "Невежливый консультант даже не поздоровался.",
            "Менеджер по телефону хамил и перебивал.",
            "Такого хамства я давно не встречала."),
        "late_delivery": (
            "Курьер опоздал на два дня, никто не предупредил.",
            "Доставку задержали на неделю без объяснений.",
            "Посылка шла месяц вместо трёх дней.",
            "Посылка до сих пор не пришла, трек не обновляется.",
            "Ждала две недели вместо обещанных трёх дней.",
            "Доставка затянулась почти на неделю.",
            "Опять опоздание с доставкой, взяла отгул зря.",
            "До сих пор жду свой заказ."),
        "pushy_upsell": (
            "Продавец навязывал расширенную гарантию.",
            "При оформлении навязывают страховку, которая мне не нужна.",
            "Мне впаривали дорогую модель трижды.",
            "Навязали платную доставку, хотя я хотела самовывоз.",
            "По телефону упорно навязывали подписку.",
            "Впарили ненужный чехол к телефону."),
        "not_as_promised": (
            "Лампа не соответствует описанию, свет намного тусклее.",
            "Цвет совсем не как на фото.",
            "Товар явно отличается от фото.",
            "Качество не соответствует заявленному.",
            "Это обман, материал совсем другой.",
            "Выглядит иначе, чем на фото, чувствую себя обманутой.",
            "Батарея держит меньше, чем обещали, просто обман."),
        "poor_description": (
            "В карточке мало информации о размерах.",
            "Нет таблицы размеров, пришлось угадывать.",
            "Очень скудное описание и две размытые фотографии.",
            "Непонятные характеристики, мощность вообще не указана.",
            "Нет характеристик у половины принтеров.",
            "Плохое описание, сравнивал на другом сайте.",
            "У товара нет описания, только название."),
        "site_errors": (
            "Приложение вылетает, когда сравниваю цены.",
            "При добавлении в корзину сайт выдаёт ошибку.",
            "Фильтры глючат и постоянно сбрасываются.",
            "Страница с товаром зависла на фотографиях.",
            "Вечером сайт не работал совсем.",
            "Страница не загружается уже второй день.",
            "Сплошные глюки в приложении."),
        "no_instructions": (
            "В коробке не было инструкции.",
            "Пришло без инструкции, только код, который никуда не ведёт.",
            "Непонятно как включить таймер.",
            "Сложно настроить, а листок на незнакомом языке.",
            "Так и не разобрались, как собрать полку.",
            "Нет инструкции на русском, искала видео.",
            "Мама не разобралась с пультом без подсказки."),
        "slow_support": (
            "Писал три раза, поддержка не отвечает.",
            "Поддержка молчит уже неделю.",
            "Не дозвонилась на горячую линию.",
            "Звонил в сервис, никто не ответил.",
            "В чате поддержки никто не отвечает.",
            "Служба поддержки не ответила про гарантию."),
        "no_reminders": (
            "Никто не напомнил, что пора менять фильтр.",
            "Нет напоминаний о товарах в корзине.",
            "Приложение не напомнило про заказ в пункте выдачи, его вернули.",
            "Вы не напоминаете о повторной покупке кофе.",
            "Никаких напоминаний о плановом обслуживании.",
            "Жаль, что не напомнили про окончание акции."),
        "spam_reminders": (
            "Слишком много писем, по три в день.",
            "Ваши сообщения уже похожи на спам.",
            "Достала рассылка, пришлось отписаться от всего.",
            "Назойливые уведомления из приложения каждый час.",
            "Заваливают предложениями после одной покупки.",
            "Слишком много сообщений, перестаньте уже писать.",
            "Каждое утро спамят смсками."),
        "hidden_fees": (
            "Цена выросла при оформлении из-за сервисного сбора.",
            "Скрытые платежи за доставку появились на последнем шаге.",
            "Добавили дополнительный сбор за упаковку.",
            "Неожиданная доплата сделала заказ дороже, чем у конкурентов.",
            "Скрытая комиссия при оплате.",
            "Везде скрытые платы, итог намного больше."),
        "hard_to_find": (
            "Ваш магазин сложно найти в интернете.",
            "Не смогла найти вас в поиске, одни перекупщики.",
            "Поиск не работает даже с точным названием.",
            "Ввёл точную модель, а поиск ничего не находит.",
            "Невозможно найти магазин на карте.",
            "Трудно найти детский раздел."),
        "no_loyalty_rewards": (
            "Три года покупаю, а никаких бонусов.",
            "Нет скидки для постоянных клиентов, все акции только новым.",
            "Бонусы сгорели раньше, чем я успела их потратить.",
            "Программа лояльности бесполезна, баллы ничего не стоят.",
            "Нет бонусов за повторные покупки.",
            "Постоянным покупателям ничего, нет бонусов вообще."),
    },
}
_NEGATIVE = {
    "en": {
        "awareness": ("Your ads did not tell me what you actually sell.",
                      "It took me a while to understand what the shop offers.",
                      "The first impression was confusing.",
                      "Your banner promised a sale that I never saw on the site."),
        "evaluation": ("Comparing models on your site is tiring.", "The prices looked higher than elsewhere.",
                       "The catalogue is confusing and full of similar items.",
                       "I gave up choosing after an hour."),
        "purchase": ("The whole checkout felt clumsy.", "Ordering took far too many steps.",
                     "The order process was stressful from start to finish.",
                     "Paying and picking up the order was a hassle."),
        "experience": ("The product feels cheap.", "It broke after a few days.",
                       "Using it every day is a disappointment.", "It works, but not as well as I hoped."),
        "loyalty": ("I am not sure I will order again.", "Other shops treat returning customers better.",
                    "Nothing makes me want to come back.", "The last few orders were worse than before."),
        "reminder": ("Your messages are not relevant to me.", "The texts arrive at odd hours.",
                     "I keep getting offers for things I already bought.",
                     "The emails are hard to unsubscribe from."),
    },
    "ru": {
        "awareness": ("Из рекламы неясно, что вы продаёте.", "Первое впечатление было странным.",
                      "Баннер обещал скидку, которой на сайте не оказалось.",
                      "Долго разбиралась, что это за магазин."),
        "evaluation": ("Сравнивать модели на вашем сайте утомительно.", "Цены выше, чем в других магазинах.",
                       "Каталог запутанный, много похожих товаров.", "Через час выбора просто сдалась."),
        "purchase": ("Оформление заказа неудобное.", "Слишком много шагов, чтобы просто купить.",
                     "Весь процесс заказа вымотал.", "Оплата и получение заказа оказались сплошной морокой."),
        "experience": ("Товар ощущается дешёвым.", "Сломалось через несколько дней.",
                       "Пользоваться каждый день одно разочарование.", "Работает, но хуже, чем я надеялась."),
        "loyalty": ("Не уверен, что закажу снова.", "В других магазинах постоянных клиентов ценят больше.",
                    "Больше не хочется у вас покупать.", "Последние заказы были хуже прежних."),
        "reminder": ("Ваши сообщения мне не подходят.", "Смс приходят в неудобное время.",
                     "Присылаете предложения того, что я уже купил.", "От рассылки сложно отписаться."),
    },
}
_NEUTRAL = {
    "en": {
        "awareness": ("Saw an ad, decided to take a look.", "Nothing special, just another shop.",
                      "Came across you by chance.", "Heard of you before, nothing stood out."),
        "evaluation": ("Prices are about the same as elsewhere.", "The catalogue is fine, nothing more.",
                       "Took a while to choose but okay.", "The choice is wide, the prices average."),
        "purchase": ("Ordering was fine.", "Normal purchase, nothing to add.", "The order went through as expected.",
                     "Paid and collected, nothing more to say."),
        "experience": ("It does the job.", "Average quality, as expected for the price.", "Works, nothing special.",
                       "Does what it should, no more."),
        "loyalty": ("Might order again if the price is right.", "I buy here sometimes.",
                    "Whether I come back is a matter of price.",
                    "I shop around, you are one of several options."),
        "reminder": ("The emails are okay.", "I read some of your messages.",
                     "Your messages are fine, I skim them.",
                     "I open your emails now and then."),
    },
    "ru": {
        "awareness": ("Увидел рекламу, решил посмотреть.", "Обычный магазин, ничего особенного.",
                      "Нашла вас случайно.", "Слышал о вас раньше, ничего не запомнилось."),
        "evaluation": ("Цены примерно как везде.", "Каталог нормальный.", "Выбирал не спеша, в целом нормально.",
                       "Выбор широкий, цены средние."),
        "purchase": ("Заказ прошёл нормально.", "Обычная покупка, добавить нечего.", "Всё как обычно.", "Оплатил и забрал, сказать нечего."),
        "experience": ("Свою задачу выполняет.", "Качество среднее, как и ожидалось.", "Работает, ничего особенного.",
                       "Делает то, что должно, не больше."),
        "loyalty": ("Может, закажу ещё, если будет скидка.", "Иногда покупаю у вас.", "Всё решают цены.",
                    "Покупаю в разных местах, вы одни из многих."),
        "reminder": ("Письма нормальные.", "Иногда читаю ваши сообщения.", "Уведомления обычные, ничего лишнего.",
                     "Иногда открываю ваши письма."),
    },
}
_POSITIVE = {
    "en": {
        "awareness": ("Found you through a friend's recommendation.", "Your ad showed exactly what I needed.",
                      "Easy to discover, the shop came up first.", "Heard about you from colleagues, glad I checked."),
        "evaluation": ("Clear photos and detailed specifications helped me choose.",
                       "Comparing models side by side was easy.", "Prices are fair and clearly shown.",
                       "Reviews from other buyers were really helpful."),
        "purchase": ("Ordering was quick and painless.", "Paid in a minute, the courier came on time.",
                     "Friendly staff at the pick-up point.", "Delivered the next day, well packed."),
        "experience": ("Works perfectly, exactly as shown.", "Great quality for the price.",
                       "Setting it up took five minutes.", "The whole family loves it."),
        "loyalty": ("I order here every month and I am happy.", "Already recommended you to my friends.",
                    "Good bonuses for regular customers.", "Always come back for household goods."),
        "reminder": ("Your reminders are useful and not too frequent.", "The refill reminder came just in time.",
                     "I like the short weekly newsletter.", "The app notification about my parcel was helpful."),
    },
    "ru": {
        "awareness": ("Узнала о вас от подруги.", "Реклама показала именно то, что нужно.",
                      "Магазин легко найти, был первым в поиске.", "Коллеги посоветовали, не пожалел."),
        "evaluation": ("Понятные фото и подробные характеристики помогли выбрать.", "Удобно сравнивать модели.",
                       "Цены честные и видны сразу.", "Отзывы покупателей очень помогли."),
        "purchase": ("Всё оформилось за пару минут.", "Оплатил быстро, курьер приехал вовремя.",
                     "Вежливые сотрудники в пункте выдачи.", "Привезли на следующий день, упаковано хорошо."),
        "experience": ("Работает отлично, как на фото.", "Отличное качество за свои деньги.",
                       "Настроил за пять минут.", "Вся семья довольна."),
        "loyalty": ("Заказываю каждый месяц, всё устраивает.", "Уже посоветовала вас друзьям.",
                    "Хорошие бонусы для постоянных покупателей.", "Всегда возвращаюсь за товарами для дома."),
        "reminder": ("Напоминания полезные и приходят в меру.", "Напоминание о покупке фильтра пришло вовремя.",
                     "Нравится короткая еженедельная рассылка.", "Уведомление о посылке в приложении очень помогло."),
    },
}


@dataclass(frozen=True)
class SampleDataSummary:
    """What :func:`generate_sample_data` wrote."""

    out: Path
    periods: list[str]
    customers: int
    sales_events: int
    reviews: int
    survey_answers: int
    files: list[Path]


def generate_sample_data(
    out: Path,
    quarters: int = 4,
    start: str = "2025Q1",
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
) -> SampleDataSummary:
    """Write a deterministic demo data set (customers, surveys, reviews, sales, ground truth).

    ``out`` receives ``customers.csv``, ``ground_truth.json`` and one folder per quarter
    (``<period>/surveys.csv``, ``<period>/reviews.jsonl``, ``<period>/sales/part-NNNNN.parquet``);
    files this generator wrote there before are replaced. ``quarters`` consecutive quarters start
    at ``start`` (``YYYYQn``); ``scale`` multiplies the ~1500 active customers per quarter (about
    10 events each); the same ``seed`` and arguments give byte-identical files.
    ``progress(step, fraction_done)`` is called after each chunk and at the end.

    Returns a :class:`SampleDataSummary` with the counts and every file written.
    Raises ``ValueError`` for ``quarters < 1``, ``scale <= 0``, a negative or non-integer seed, a
    start that is not a quarter, or configuration files the demo world does not fit.
    """
    return write_sample_data(out, quarters=quarters, start=start, seed=seed, scale=scale,
                             progress=progress, chunk_customers=CHUNK_CUSTOMERS)


def write_sample_data(
    out: Path,
    *,
    quarters: int = 4,
    start: str = "2025Q1",
    seed: int = 7,
    scale: float = 1.0,
    progress: Progress | None = None,
    chunk_customers: int = CHUNK_CUSTOMERS,
) -> SampleDataSummary:
    """:func:`generate_sample_data` with control over the sales part size.

    ``chunk_customers`` customers of a quarter go into one sales part file; it is rounded up to a
    multiple of :data:`BLOCK_CUSTOMERS` so that the rows written never depend on it (only how
    they are split into files does). Raises ``ValueError`` like :func:`generate_sample_data`, and
    for ``chunk_customers < 1``.
    """
    periods = _check_arguments(quarters, start, seed, scale, chunk_customers)
    world = _load_world(CONFIG_DIR)
    blocks_per_chunk = -(-chunk_customers // BLOCK_CUSTOMERS)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda _step, _fraction: None)
    log.info("generating sample data: %d quarters from %s, seed %d, scale %g into %s",
             quarters, periods[0], seed, scale, out)

    states = _schedule_barriers(world, len(periods), seed)
    truth = _ground_truth(world, periods, states, seed, scale)
    files: list[Path] = []
    totals = {"sales": 0, "surveys": 0, "reviews": 0}
    registry = _CustomerRegistry(world)
    customers_path = out / "customers.csv"
    customers_path.unlink(missing_ok=True)
    files.append(customers_path)
    n_active = max(round(BASE_CUSTOMERS * scale), len(world.personas))

    for index, period in enumerate(periods):
        cohort = registry.enrol(period, index, n_active, seed)
        cohort.new_customers.to_csv(customers_path, mode="a", header=index == 0, index=False, encoding="utf-8",
                                    lineterminator="\n")
        truth["customers_per_period"][str(period)] = {
            name: int(n) for name, n in zip(world.personas, cohort.persona_counts, strict=True)}
        plan = _plan_period(world, period, states[index])
        written = _write_period(out, world, plan, cohort, registry, seed, blocks_per_chunk,
                                lambda done, i=index: report(
                                    f"{periods[i]}: {done:,} of {len(cohort.customers):,} customers",
                                    (i + done / len(cohort.customers)) / len(periods)))
        files.extend(written.files)
        for key in totals:
            totals[key] += getattr(written, key)

    truth_path = out / "ground_truth.json"
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    files.append(truth_path)
    report("sample data written", 1.0)
    summary = SampleDataSummary(
        out=out, periods=[str(p) for p in periods], customers=registry.size,
        sales_events=totals["sales"], reviews=totals["reviews"], survey_answers=totals["surveys"],
        files=files)
    log.info("sample data: %d customers, %d sales events, %d reviews, %d survey answers",
             summary.customers, summary.sales_events, summary.reviews, summary.survey_answers)
    return summary


def _check_arguments(quarters: object, start: object, seed: object, scale: object,
                     chunk_customers: object) -> list[Period]:
    if isinstance(quarters, bool) or not isinstance(quarters, int) or quarters < 1:
        raise ValueError(f"quarters must be an integer >= 1, got {quarters!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if (isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale)
            or scale <= 0):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    if isinstance(chunk_customers, bool) or not isinstance(chunk_customers, int) or chunk_customers < 1:
        raise ValueError(f"chunk_customers must be an integer >= 1, got {chunk_customers!r}")
    try:
        first = Period.parse(str(start))
    except PeriodError as exc:
        raise ValueError(f"start: {exc}") from exc
    return first.range(quarters)


# ---------------------------------------------------------------------------------------------
# The world: configuration ids checked against the model, and per-persona parameter arrays.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Barrier:
    """A plantable barrier and the range of its strength (see the module docstring)."""

    id: str
    kind: str          # catalog | metric
    stage: str
    mechanism: str     # catalog | cancel | fail | late | returns | conversion | csat
    metric: str | None
    threshold: float | None
    affinity_key: str  # catalog id or metric-rule based id, matched against persona affinity


@dataclass(frozen=True)
class _World:
    personas: tuple[str, ...]
    stages: tuple[str, ...]
    event_stage: np.ndarray          # stage index per _EVENT_TYPES
    question_ids: tuple[str, ...]
    question_stage: np.ndarray
    question_metric: np.ndarray      # index into _METRICS
    question_invite: np.ndarray
    catalog: tuple[str, ...]         # catalog barriers the templates cover, config order
    catalog_stage: np.ndarray
    barriers: dict[str, _Barrier]    # every plantable barrier by id
    catalog_low: np.ndarray          # [persona, stage] freshly planted catalog intensity
    params: dict[str, np.ndarray]    # per-persona model parameters as arrays
    score_cum: np.ndarray            # [metric, row, 11] cumulative score distributions
    score_mean: np.ndarray           # [metric, row]
    pools: _TextPools


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping at the top level")
    return data


@lru_cache(maxsize=4)
def _load_world(config_dir: Path) -> _World:
    stages_cfg = _read_yaml(config_dir / "stages.yaml")
    personas_cfg = _read_yaml(config_dir / "personas.yaml")
    barriers_cfg = _read_yaml(config_dir / "barriers.yaml")
    stages_file, personas_file = config_dir / "stages.yaml", config_dir / "personas.yaml"

    stages = tuple(str(s["id"]) for s in stages_cfg.get("stages", []))
    if set(stages) != set(_STAGE_EVENTS):
        raise ValueError(f"{stages_file}: key stages: the demo world walks the stages "
                         f"{sorted(_STAGE_EVENTS)}, the file declares {sorted(stages)}")
    declared = {str(e): str(s["id"]) for s in stages_cfg["stages"] for e in s.get("events", [])}
    for stage, events in _STAGE_EVENTS.items():
        for event in events:
            if declared.get(event) != stage:
                raise ValueError(f"{stages_file}: key stages.{stage}.events: the demo world emits "
                                 f"{event!r} at {stage}, the file has it at {declared.get(event)!r}")
    stage_index = {s: i for i, s in enumerate(stages)}
    event_stage = np.array([stage_index[declared[e]] for e in _EVENT_TYPES], dtype=np.int64)

    question_ids, q_stage, q_metric, q_invite = [], [], [], []
    for stage in stages_cfg["stages"]:
        for qid, metric in (stage.get("questions") or {}).items():
            if metric not in _SCORES:
                raise ValueError(f"{stages_file}: key stages.{stage['id']}.questions.{qid}: "
                                 f"metric {metric!r} is not one of {list(_SCORES)}")
            question_ids.append(str(qid))
            q_stage.append(stage_index[stage["id"]])
            q_metric.append(_METRICS.index(metric))
            q_invite.append(_INVITE[stage["id"]] * _INVITE_FACTOR[metric])

    personas = tuple(str(p["id"]) for p in personas_cfg.get("personas", []))
    if list(personas) != list(_PERSONA_MODELS):
        raise ValueError(f"{personas_file}: key personas: the demo world models "
                         f"{list(_PERSONA_MODELS)} in that order, the file declares {list(personas)}")
    models = [_PERSONA_MODELS[p] for p in personas]
    params = {
        "evaluation": np.array([m.evaluation for m in models]),
        "conversion": np.array([m.conversion for m in models]),
        "orders": np.array([m.orders for m in models]),
        "loyalty": np.array([m.loyalty for m in models]),
        "reminders": np.array([m.reminders for m in models]),
        "support": np.array([m.support for m in models]),
        "views": np.array([m.views for m in models]),
        "amount_median": np.array([m.amount[0] for m in models]),
        "amount_sigma": np.array([m.amount[1] for m in models]),
        "amount_min": np.array([m.amount[2] for m in models]),
        "amount_max": np.array([m.amount[3] for m in models]),
        "awareness_mix": np.array([m.awareness_mix for m in models]),
        "channel_mix": np.array([m.channel_mix for m in models]),
        "reminder_mix": np.array([m.reminder_mix for m in models]),
        "survey_channel_mix": np.array([m.survey_channel_mix for m in models]),
        "review_source_mix": np.array([m.review_source_mix for m in models] + [_ANONYMOUS_SOURCES]),
        "region_mix": np.array([m.region_mix for m in models]),
        "ages": np.array([m.ages for m in models]),
    }

    catalog_cfg = barriers_cfg.get("catalog", [])
    catalog = tuple(str(b["id"]) for b in catalog_cfg
                    if all(str(b["id"]) in _COMPLAINTS[lang] for lang in _LANGS) and b["stage"] in stage_index)
    catalog_stage_of = {str(b["id"]): str(b["stage"]) for b in catalog_cfg}
    barriers: dict[str, _Barrier] = {
        b: _Barrier(b, "catalog", catalog_stage_of[b], "catalog", None, None, b) for b in catalog}
    csat_stages = [stages[s] for s, m in zip(q_stage, q_metric, strict=True) if _METRICS[m] == "csat"]
    for rule in barriers_cfg.get("metric_rules", []):
        rid, metric, threshold = str(rule["id"]), str(rule["metric"]), float(rule["threshold"])
        if metric in _RATE_MECHANISM and rule.get("op") == "gt":
            mechanism = _RATE_MECHANISM[metric]
            if _BASELINE[mechanism] * 1.5 > threshold:
                log.warning("metric rule %s: threshold %g is too close to the demo baseline %g",
                            rid, threshold, _BASELINE[mechanism])
            barriers[rid] = _Barrier(rid, "metric", str(rule["stage"]), mechanism, metric, threshold, rid)
        elif metric == "conversion_to_next" and rule.get("stage") == "evaluation" and rule.get("op") == "lt":
            barriers[rid] = _Barrier(rid, "metric", "evaluation", "conversion", metric, threshold, rid)
        elif metric == "csat" and rule.get("op") == "lt":
            targets = sorted(set(csat_stages), key=stages.index) if rule.get("stage") == "*" else [rule["stage"]]
            for stage in targets:
                bid = f"{rid}.{stage}" if rule.get("stage") == "*" else rid
                barriers[bid] = _Barrier(bid, "metric", str(stage), "csat", metric, threshold, f"{rid}.{stage}")
        else:
            log.debug("metric rule %s (%s) is not planted by the demo world", rid, metric)

    reach = _expected_reach(models, stages)
    text_rate = np.array([[reach[p, s] * (
        _COMMENT_SHARE * sum(inv for qs, inv in zip(q_stage, q_invite, strict=True) if qs == s)
        + _REVIEW_RATE[stages[s]]) for s in range(len(stages))] for p in range(len(models))])
    customers_at_scale_1 = np.array([m.share for m in models]) * BASE_CUSTOMERS
    catalog_low = np.maximum(_CATALOG_MIN, _MENTIONS_AT_SCALE_1 / (customers_at_scale_1[:, None] * text_rate))
    score_cum, score_mean = _score_tables(models)
    return _World(
        personas=personas, stages=stages, event_stage=event_stage, question_ids=tuple(question_ids),
        question_stage=np.array(q_stage), question_metric=np.array(q_metric),
        question_invite=np.array(q_invite), catalog=catalog,
        catalog_stage=np.array([stage_index[catalog_stage_of[b]] for b in catalog]),
        barriers=barriers, catalog_low=np.round(catalog_low, 4), params=params,
        score_cum=score_cum, score_mean=score_mean, pools=_build_pools(stages, catalog, catalog_stage_of))


def _expected_reach(models: list[_PersonaModel], stages: tuple[str, ...]) -> np.ndarray:
    """Share of a persona's customers reaching each stage at baseline (approximate)."""
    reach = np.zeros((len(models), len(stages)))
    for p, m in enumerate(models):
        purchase = m.evaluation * m.conversion
        experience = purchase * 0.9
        loyal = experience * m.loyalty
        values = {"awareness": 1.0, "evaluation": m.evaluation, "purchase": purchase,
                  "experience": experience, "loyalty": loyal,
                  "reminder": loyal * 0.8 + (1 - loyal) * m.reminders}
        reach[p] = [values[s] for s in stages]
    return reach


def _score_tables(models: list[_PersonaModel]) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative score distributions: rows are personas, anonymous, barrier hit, low-CSAT hit."""
    moods = [m.mood for m in models] + [_ANONYMOUS_MOOD]
    cum = np.full((len(_METRICS), len(moods) + 2, 11), np.inf)
    mean = np.zeros((len(_METRICS), len(moods) + 2))
    for k, metric in enumerate(_METRICS):
        lowest, good, hit, low = _SCORES[metric]
        good, hit, low = np.array(good), np.array(hit), np.array(low)
        rows = [(1 - mood) * good + mood * hit for mood in moods] + [hit, low]
        for r, probs in enumerate(rows):
            # The last bucket is open-ended so rounding never leaves a draw without a score.
            cum[k, r, : probs.size - 1] = np.cumsum(probs)[:-1]
            mean[k, r] = float(np.dot(probs, np.arange(probs.size) + lowest))
    return cum, mean


# ---------------------------------------------------------------------------------------------
# Text pools: every composed text per (language, category) in one flat array, so that choosing
# texts is one vectorised lookup.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _TextPools:
    texts: np.ndarray     # object array of every composed text
    offset: np.ndarray    # [key] first index of the key's texts
    size: np.ndarray      # [key] number of texts of the key
    categories: int       # categories per language: complaints, then negative, neutral, positive per stage

    def key(self, lang: np.ndarray, category: np.ndarray) -> np.ndarray:
        return lang * self.categories + category


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _build_pools(stages: tuple[str, ...], catalog: tuple[str, ...],
                 catalog_stage_of: dict[str, str]) -> _TextPools:
    chunks: list[list[str]] = []
    for lang in _LANGS:
        openings, closings_neg, closings_pos = _OPENINGS[lang], _CLOSINGS_NEGATIVE[lang], _CLOSINGS_POSITIVE[lang]
        for barrier in catalog:
            chunks.append([_join(o, c, e) for o in openings[catalog_stage_of[barrier]]
                           for c in _COMPLAINTS[lang][barrier] for e in closings_neg])
        for stage in stages:
            chunks.append([_join(o, c, e) for o in openings[stage] for c in _NEGATIVE[lang][stage]
                           for e in closings_neg])
        for stage in stages:
            chunks.append([_join(o, c) for o in openings[stage] for c in _NEUTRAL[lang][stage]])
        for stage in stages:
            chunks.append([_join(o, c, e) for o in openings[stage] for c in _POSITIVE[lang][stage]
                           for e in closings_pos])
    size = np.array([len(c) for c in chunks], dtype=np.int64)
    offset = np.concatenate(([0], np.cumsum(size)[:-1]))
    texts = np.array([t for c in chunks for t in c], dtype=object)
    return _TextPools(texts=texts, offset=offset, size=size, categories=len(catalog) + 3 * len(stages))


def sample_texts() -> dict[str, list[str]]:
    """Every text the demo world can write, grouped by what it is about.

    Keys are ``complaint:<barrier id>`` (texts that mention that catalog barrier) and
    ``negative:<stage>``, ``neutral:<stage>``, ``positive:<stage>`` (texts that mention no barrier).
    Useful to check the templates against the barrier keywords. Raises ``ValueError`` when the
    configuration does not fit the demo world.
    """
    world = _load_world(CONFIG_DIR)
    pools = world.pools
    names = ([f"complaint:{b}" for b in world.catalog] + [f"negative:{s}" for s in world.stages]
             + [f"neutral:{s}" for s in world.stages] + [f"positive:{s}" for s in world.stages])
    out: dict[str, list[str]] = {name: [] for name in names}
    for lang in range(len(_LANGS)):
        for category, name in enumerate(names):
            key = lang * pools.categories + category
            out[name].extend(pools.texts[pools.offset[key]: pools.offset[key] + pools.size[key]])
    return out


# ---------------------------------------------------------------------------------------------
# Planted barriers: a deterministic schedule of strengths per period and persona.
# ---------------------------------------------------------------------------------------------
def _bounds(world: _World, persona: int, barrier: _Barrier) -> tuple[float, float, float]:
    """(fresh level, weakest detectable level, strongest allowed level) of a barrier's strength."""
    if barrier.mechanism == "catalog":
        low = float(world.catalog_low[persona, world.stages.index(barrier.stage)])
        return low, low, _CATALOG_CAP
    if barrier.mechanism == "conversion":
        return _CONVERSION_LOW, _CONVERSION_FLOOR, _CONVERSION_CAP
    if barrier.mechanism == "csat":
        return _CSAT_LOW, _CSAT_FLOOR, _CSAT_CAP
    assert barrier.threshold is not None
    return _RATE_LOW * barrier.threshold, _RATE_FLOOR * barrier.threshold, _RATE_CAP


def _thins_out(barrier: _Barrier, strength: float) -> bool:
    """Whether a barrier leaves too few customers after its stage for other barriers to show there."""
    return barrier.mechanism == "conversion" or (
        barrier.mechanism in ("cancel", "fail") and strength > _THIN_OUT_RATE)


def _value(barrier: _Barrier, strength: float) -> float:
    """The metric value (or catalog intensity) that a strength stands for."""
    if barrier.mechanism == "conversion":
        return round(barrier.threshold / strength, 4)
    if barrier.mechanism == "csat":
        return round(barrier.threshold - strength, 4)
    return round(strength, 4)


class _Scheduler:
    """Plans which barriers are active per period and persona; all randomness from one stream."""

    def __init__(self, world: _World, seed: int) -> None:
        self.world = world
        self.rng = np.random.default_rng([seed, _TAG_SCHEDULE])

    def stage_load(self, persona: int, state: dict[str, float], stage: str, skip: str = "") -> float:
        return sum(x for b, x in state.items()
                   if b != skip and self.world.barriers[b].mechanism == "catalog"
                   and self.world.barriers[b].stage == stage)

    def candidates(self, persona: int, state: dict[str, float], touched: Collection[str] = ()) -> list[str]:
        """Barriers that may be planted next; ``touched`` ones already changed in this pair."""
        world, out = self.world, []
        for bid, barrier in world.barriers.items():
            if bid in state or bid in touched:
                continue
            low, _floor, cap = _bounds(world, persona, barrier)
            if low > cap or (barrier.mechanism == "catalog" and (
                    low > _CATALOG_MAX_LOW or self.stage_load(persona, state, barrier.stage) + low > _STAGE_CAP)):
                continue
            if barrier.mechanism == "conversion" and \
                    self.purchasers_at_scale_1(persona, barrier, low) < _DROP_OFF_MIN_PURCHASERS:
                continue
            if barrier.mechanism == "csat" and any(world.barriers[b].mechanism == "csat" for b in state):
                continue
            if self.consistent({**state, bid: low}):
                out.append(bid)
        return out

    def consistent(self, state: dict[str, float]) -> bool:
        """Whether no barrier removes most of the customers that another barrier needs downstream."""
        stages = self.world.stages
        for bid, strength in state.items():
            if not _thins_out(self.world.barriers[bid], strength):
                continue
            after = stages.index(self.world.barriers[bid].stage)
            if any(stages.index(self.world.barriers[other].stage) > after
                   and self.world.barriers[other].stage != "reminder" for other in state if other != bid):
                return False
        return True

    def purchasers_at_scale_1(self, persona: int, barrier: _Barrier, strength: float) -> float:
        """Customers of the persona still buying at scale 1 under a checkout drop-off of ``strength``."""
        model = _PERSONA_MODELS[self.world.personas[persona]]
        return model.share * BASE_CUSTOMERS * model.evaluation * _value(barrier, strength)

    def pick(self, persona: int, options: list[str]) -> str:
        affinity = _PERSONA_MODELS[self.world.personas[persona]].affinity
        weights = np.array([4.0 if self.world.barriers[b].affinity_key in affinity else 1.0 for b in options])
        return options[int(self.rng.choice(len(options), p=weights / weights.sum()))]

    def worsen_limit(self, persona: int, state: dict[str, float], bid: str) -> float:
        """The largest factor a barrier's strength may be multiplied by (0 when it may not grow)."""
        barrier = self.world.barriers[bid]
        _low, _floor, cap = _bounds(self.world, persona, barrier)
        limit = cap / state[bid]
        if barrier.mechanism == "catalog":
            limit = min(limit, (_STAGE_CAP - self.stage_load(persona, state, barrier.stage, skip=bid)) / state[bid])
        # Thinning out is a threshold: if the smallest worsening keeps the state consistent, all do.
        if not self.consistent({**state, bid: state[bid] * _WORSEN[0]}):
            return 0.0
        return limit

    def options(self, kind: str, persona: int, state: dict[str, float], touched: set[str],
                refill: bool = False) -> list[str]:
        free = [b for b in state if b not in touched]
        if kind == "new":
            return self.candidates(persona, state, touched) if len(state) < _MAX_ACTIVE else []
        if kind == "resolved":
            # With ``refill`` a persona at the minimum may resolve one barrier and gain another.
            can_refill = refill and bool(self.candidates(persona, state, touched))
            return free if len(state) > _MIN_ACTIVE or can_refill else []
        if kind == "worsened":
            return [b for b in free if self.worsen_limit(persona, state, b) >= _WORSEN[0]]
        if kind == "improved":
            return [b for b in free
                    if state[b] * _IMPROVE[1] >= _bounds(self.world, persona, self.world.barriers[b])[1]]
        raise AssertionError(kind)

    def plant(self, persona: int, state: dict[str, float], bid: str, strong: bool) -> None:
        low, _floor, cap = _bounds(self.world, persona, self.world.barriers[bid])
        state[bid] = round(low * self.rng.uniform(1.0, 1.15), 4)
        if strong and self.worsen_limit(persona, state, bid) >= _WORSEN[0]:
            state[bid] = round(state[bid] * self.rng.uniform(_WORSEN[0], min(_WORSEN[1], self.worsen_limit(
                persona, state, bid))), 4)

    def apply(self, kind: str, persona: int, state: dict[str, float], touched: set[str],
              refill: bool = False) -> bool:
        options = self.options(kind, persona, state, touched, refill)
        if not options:
            return False
        bid = self.pick(persona, options)
        touched.add(bid)
        if kind == "new":
            self.plant(persona, state, bid, strong=self.rng.random() < 0.35)
        elif kind == "resolved":
            del state[bid]
        elif kind == "worsened":
            factor = self.rng.uniform(_WORSEN[0], min(_WORSEN[1], self.worsen_limit(persona, state, bid)))
            state[bid] = round(state[bid] * factor, 4)
        else:
            floor = _bounds(self.world, persona, self.world.barriers[bid])[1]
            state[bid] = round(max(state[bid] * self.rng.uniform(*_IMPROVE), floor), 4)
        return True

    def initial(self) -> list[dict[str, float]]:
        states = []
        for persona in range(len(self.world.personas)):
            state: dict[str, float] = {}
            # The first barrier is always worsenable, so the first change pair can worsen something.
            first = [b for b in self.candidates(persona, state)
                     if _bounds(self.world, persona, self.world.barriers[b])[2]
                     >= _bounds(self.world, persona, self.world.barriers[b])[0] * 1.15 * _WORSEN[0]]
            worsenable = self.pick(persona, first)
            self.plant(persona, state, worsenable, strong=False)
            for _ in range(int(self.rng.integers(_MIN_ACTIVE, _MAX_ACTIVE)) - 1):
                # Keep room for the first barrier to worsen.
                options = [b for b in self.candidates(persona, state)
                           if self.worsen_limit(persona, {**state, b: _bounds(
                               self.world, persona, self.world.barriers[b])[0] * 1.15 * _WORSEN[1]}, worsenable)
                           >= _WORSEN[0]]
                if options:
                    self.plant(persona, state, self.pick(persona, options), strong=self.rng.random() < 0.4)
            states.append(state)
        return states

    def change(self, states: list[dict[str, float]], cycle: int) -> list[dict[str, float]]:
        states = [dict(s) for s in states]
        touched: list[set[str]] = [set() for _ in states]
        # Cycles alternate so that a worsened barrier can improve in the next cycle and vice
        # versa; extra changes of a cycle stick to its own direction for the same reason.
        required = ("new", "worsened") if cycle % 2 == 0 else ("improved", "resolved")
        extra = ["new", "resolved", required[1] if cycle % 2 == 0 else required[0]]
        order = [int(p) for p in self.rng.permutation(len(states))]
        for i, kind in enumerate(required):
            candidates = order[i:] + order[:i]
            if not any(self.apply(kind, p, states[p], touched[p], refill=True) for p in candidates):
                log.warning("demo schedule: no persona can take a %r change in cycle %d", kind, cycle)
        for p, state in enumerate(states):
            if self.rng.random() < 0.6:
                self.apply_any(extra, p, state, touched[p])
        for p in order:
            if sum(len(t) for t in touched) >= _MIN_CHANGES:
                break
            self.apply_any(extra, p, states[p], touched[p])
        for p, state in enumerate(states):
            while len(state) < _MIN_ACTIVE and self.apply("new", p, state, touched[p]):
                pass
        return states

    def apply_any(self, kinds: list[str], persona: int, state: dict[str, float], touched: set[str]) -> bool:
        """Apply the first feasible change of ``kinds`` in random order."""
        return any(self.apply(str(kind), persona, state, touched) for kind in self.rng.permutation(kinds))


def _schedule_barriers(world: _World, n_periods: int, seed: int) -> list[list[dict[str, float]]]:
    """Active barrier strengths per period and persona; even pairs change, odd pairs are noise-only."""
    scheduler = _Scheduler(world, seed)
    states = [scheduler.initial()]
    for pair in range(n_periods - 1):
        if pair % 2 == 0:
            states.append(scheduler.change(states[-1], cycle=pair // 2))
        else:
            states.append([dict(s) for s in states[-1]])
    return states


def _ground_truth(world: _World, periods: list[Period], states: list[list[dict[str, float]]],
                  seed: int, scale: float) -> dict:
    def entry(bid: str, strength: float) -> dict:
        barrier = world.barriers[bid]
        if barrier.kind == "catalog":
            return {"id": bid, "kind": "catalog", "stage": barrier.stage, "intensity": strength}
        return {"id": bid, "kind": "metric", "stage": barrier.stage, "metric": barrier.metric,
                "value": _value(barrier, strength)}

    def order(bid: str) -> tuple[int, str]:
        return world.stages.index(world.barriers[bid].stage), bid

    active = {str(period): {persona: [entry(b, state[b]) for b in sorted(state, key=order)]
                            for persona, state in zip(world.personas, states[i], strict=True)}
              for i, period in enumerate(periods)}
    changes, noise_only = [], []
    for i in range(len(periods) - 1):
        if i % 2 == 1:
            noise_only.append([str(periods[i]), str(periods[i + 1])])
        for persona, old, new in zip(world.personas, states[i], states[i + 1], strict=True):
            for bid in sorted(set(old) | set(new), key=order):
                if bid not in new:
                    kind = "resolved"
                elif bid not in old:
                    kind = "new"
                elif new[bid] > old[bid]:
                    kind = "worsened"
                elif new[bid] < old[bid]:
                    kind = "improved"
                else:
                    continue
                changes.append({"from": str(periods[i]), "to": str(periods[i + 1]), "persona": persona,
                                "barrier": bid, "change": kind})
    return {
        "seed": seed, "scale": float(scale), "periods": [str(p) for p in periods], "personas": list(world.personas),
        "active": active, "changes": changes, "noise_only": noise_only, "customers_per_period": {},
        "anonymous": [{"id": b, "kind": "catalog", "stage": world.barriers[b].stage, "intensity": x}
                      for b, x in _ANONYMOUS_BARRIERS.items() if b in world.barriers],
        "noise_rate": _NOISE_RATE,
    }


# ---------------------------------------------------------------------------------------------
# A period's plan: the rates and text probabilities the block simulation draws from.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    period: Period
    start: int                # epoch seconds
    length: int               # seconds
    conversion: np.ndarray    # [persona]
    cancel: np.ndarray
    fail: np.ndarray
    late: np.ndarray
    returns: np.ndarray
    mention: np.ndarray       # [persona row (+ anonymous), stage, catalog barrier] mention probability
    low_share: np.ndarray     # [persona row, stage] share of barrier-free csat answers scored low


def _plan_period(world: _World, period: Period, states: list[dict[str, float]]) -> _Plan:
    n_p, n_s, n_b = len(world.personas), len(world.stages), len(world.catalog)
    rates = {k: np.full(n_p, v) for k, v in _BASELINE.items()}
    conversion = world.params["conversion"].copy()
    mention = np.zeros((n_p + 1, n_s, n_b))
    for b, stage in enumerate(world.catalog_stage):
        # Background noise: any catalog barrier of the stage, whether planted or not.
        mention[:, stage, b] = _NOISE_RATE / np.count_nonzero(world.catalog_stage == stage)
    for bid, x in _ANONYMOUS_BARRIERS.items():
        if bid in world.catalog:
            b = world.catalog.index(bid)
            mention[n_p, world.catalog_stage[b], b] += x
    csat_target = np.full((n_p, n_s), np.nan)
    for p, state in enumerate(states):
        for bid, x in state.items():
            barrier = world.barriers[bid]
            if barrier.mechanism == "catalog":
                b = world.catalog.index(bid)
                mention[p, world.catalog_stage[b], b] += x
            elif barrier.mechanism == "conversion":
                conversion[p] = _value(barrier, x)
            elif barrier.mechanism == "csat":
                csat_target[p, world.stages.index(barrier.stage)] = _value(barrier, x)
            else:
                rates[barrier.mechanism][p] = x
    low_share = np.zeros((n_p + 1, n_s))
    csat = _METRICS.index("csat")
    hit_mean, low_mean = world.score_mean[csat, n_p + 1], world.score_mean[csat, n_p + 2]
    for p, s in zip(*np.nonzero(~np.isnan(csat_target)), strict=True):
        base = world.score_mean[csat, p]
        hit = _COMMENT_SHARE * mention[p, s].sum()
        share = (base - csat_target[p, s] - hit * (base - hit_mean)) / (base - low_mean)
        low_share[p, s] = np.clip(share / (1 - hit), 0.0, 1.0)
    start = int(period.start().timestamp())
    return _Plan(period=period, start=start, length=int(period.end().timestamp()) - start,
                 conversion=conversion, mention=mention, low_share=low_share, **rates)


# ---------------------------------------------------------------------------------------------
# Customers: a registry over all quarters; each quarter enrols ~35 % returning customers.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Cohort:
    customers: np.ndarray      # customer numbers, sorted
    persona: np.ndarray
    returning: np.ndarray
    persona_counts: np.ndarray
    new_customers: pd.DataFrame  # rows of customers.csv created for this quarter


class _CustomerRegistry:
    """Persona and language of every customer created so far, by customer number."""

    def __init__(self, world: _World) -> None:
        self.world = world
        self.persona = np.zeros(0, dtype=np.int8)
        self.lang = np.zeros(0, dtype=np.int8)

    @property
    def size(self) -> int:
        return int(self.persona.size)

    def enrol(self, period: Period, index: int, n_active: int, seed: int) -> _Cohort:
        """The active customers of the ``index``-th quarter: returning ones and newly created ones."""
        world, rng = self.world, np.random.default_rng([seed, _TAG_COHORT, period.year, period.quarter])
        shares = np.array([_PERSONA_MODELS[p].share for p in world.personas])
        counts = _apportion(n_active, shares)
        returning_counts = np.round(counts * _RETURNING_SHARE).astype(np.int64)
        returning: list[np.ndarray] = []
        if index > 0:
            for p in range(len(counts)):
                pool = np.flatnonzero(self.persona == p)
                take = min(int(returning_counts[p]), pool.size)
                returning_counts[p] = take
                returning.append(np.sort(rng.choice(pool, size=take, replace=False)))
            new_counts = counts - returning_counts
        else:
            new_counts = counts
        new_persona = rng.permutation(np.repeat(np.arange(len(counts)), new_counts)).astype(np.int8)
        first = self.size
        new_customers, pre_existing = self._create(rng, period, new_persona, pre_existing=index == 0)
        # Returning customers have lower numbers than this quarter's new ones: sorted, they come first.
        customers = np.sort(np.concatenate(returning + [np.arange(first, first + new_persona.size)]))
        is_returning = np.concatenate([np.ones(customers.size - new_persona.size, dtype=bool), pre_existing])
        return _Cohort(customers=customers, persona=self.persona[customers].astype(np.int64),
                       returning=is_returning, persona_counts=counts, new_customers=new_customers)

    def _create(self, rng: np.random.Generator, period: Period, persona: np.ndarray,
                pre_existing: bool) -> tuple[pd.DataFrame, np.ndarray]:
        """Create customers of the given personas: their customers.csv rows and which signed up earlier."""
        params, n = self.world.params, persona.size
        ages = params["ages"][persona]
        age = rng.integers(ages[:, 0], ages[:, 1] + 1)
        region = _pick(rng, params["region_mix"][persona])
        channel = _pick(rng, params["channel_mix"][persona])
        first_day = np.datetime64(period.first_day.isoformat(), "D")
        days = (np.datetime64(period.next().first_day.isoformat(), "D") - first_day).astype(int)
        signup = first_day + rng.integers(0, days, n)
        # The first quarter already has returning customers: they signed up in the two years before.
        earlier = rng.random(n) < _RETURNING_SHARE if pre_existing else np.zeros(n, dtype=bool)
        signup = np.where(earlier, first_day - rng.integers(1, 731, n), signup)
        lang = (rng.random(n) < _RU_SHARE).astype(np.int8)
        segments = np.array([_PERSONA_MODELS[p].segment for p in self.world.personas], dtype=object)
        first = self.size
        rows = pd.DataFrame({
            "customer_id": _customer_ids(np.arange(first, first + n)).to_numpy(zero_copy_only=False),
            "segment": segments[persona],
            "age": age.astype(np.int64),
            "region": np.array(_REGIONS, dtype=object)[region],
            "signup_channel": np.array(_SIGNUP_CHANNELS, dtype=object)[channel],
            "signup_date": np.datetime_as_string(signup, unit="D"),
        })
        self.persona = np.concatenate([self.persona, persona])
        self.lang = np.concatenate([self.lang, lang])
        return rows, earlier


def _apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Integer counts proportional to ``shares`` that add up to ``total`` (largest remainder)."""
    raw = total * shares / shares.sum()
    counts = np.floor(raw).astype(np.int64)
    counts[np.argsort(-(raw - counts), kind="stable")[: total - counts.sum()]] += 1
    return counts


# ---------------------------------------------------------------------------------------------
# Vectorised helpers.
# ---------------------------------------------------------------------------------------------
def _pick(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One category index per row of a probability matrix."""
    if probs.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), probs.shape[1] - 1)


def _group_starts(counts: np.ndarray) -> np.ndarray:
    starts = np.cumsum(counts) - counts
    return starts[counts > 0]


def _group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum of ``values`` restarted at every group of ``counts`` consecutive rows."""
    total = np.cumsum(values)
    before = np.concatenate(([0.0], total))[np.cumsum(counts) - counts]
    return total - np.repeat(before, counts)


def _group_last(values: np.ndarray, counts: np.ndarray, default: np.ndarray) -> np.ndarray:
    out = default.copy()
    has = counts > 0
    out[has] = values[np.cumsum(counts)[has] - 1]
    return out


def _after(rng: np.random.Generator, moment: np.ndarray, mean_delay: float, length: int) -> np.ndarray:
    """A moment some time after ``moment`` that is still inside the period (wraps, never clips)."""
    delay = rng.exponential(mean_delay, moment.size) + 600
    room = np.maximum(length - 1 - moment, 1)
    return moment + (delay.astype(np.int64) % room)


def _customer_ids(numbers: np.ndarray) -> pa.Array:
    return _ids("C", numbers + 1, 7)


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers, type=pa.int64()).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


# ---------------------------------------------------------------------------------------------
# One block of customers: the journey as sales events, then their survey answers and reviews.
# ---------------------------------------------------------------------------------------------
class _Events:
    """Sales events of a block, collected per kind and concatenated once."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, customer: np.ndarray, offset: np.ndarray, event: int | np.ndarray,
            channel: np.ndarray, order: np.ndarray | None = None, amount: np.ndarray | None = None) -> None:
        n = customer.size
        self.parts.append((
            customer, offset.astype(np.float64), np.broadcast_to(np.asarray(event, dtype=np.int64), (n,)),
            channel, np.full(n, -1, dtype=np.int64) if order is None else order,
            np.full(n, np.nan) if amount is None else amount))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(column) for column in zip(*self.parts, strict=True))

    def latest(self, n: int) -> np.ndarray:
        """Offset of each customer's latest event so far."""
        latest = np.zeros(n)
        for customer, offset, *_rest in self.parts:
            np.maximum.at(latest, customer, offset)
        return latest


@dataclass(frozen=True)
class _BlockData:
    sales: dict[str, np.ndarray]
    orders: int
    surveys: dict[str, np.ndarray]
    reviews: dict[str, np.ndarray]


def _simulate_block(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
                    persona: np.ndarray, returning: np.ndarray, lang: np.ndarray) -> _BlockData:
    params, n = world.params, customers.size
    idx = np.arange(n)
    events = _Events()
    main_channel = _pick(rng, params["channel_mix"][persona])

    def channels(c: np.ndarray) -> np.ndarray:
        # Mostly the customer's own channel, sometimes another one of the persona's mix.
        other = _pick(rng, params["channel_mix"][persona[c]])
        return np.where(rng.random(c.size) < 0.7, main_channel[c], other)

    # Awareness: returning customers know the shop and need fewer touches.
    k = 1 + rng.poisson(np.where(returning, 0.5, 1.5))
    c = np.repeat(idx, k)
    gaps = rng.exponential(6 * _HOUR, c.size)
    gaps[_group_starts(k)] = 0.0
    t = _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["awareness"]])
    events.add(c, t, kinds[_pick(rng, params["awareness_mix"][persona[c]])], channels(c))
    awareness_end = _group_last(t, k, np.zeros(n))

    # Evaluation: product views, comparisons; a purchaser's last step is adding to the cart.
    evaluated = rng.random(n) < params["evaluation"][persona]
    purchased = evaluated & (rng.random(n) < plan.conversion[persona])
    k = np.where(evaluated, 1 + rng.poisson(params["views"][persona]), 0)
    c = np.repeat(idx, k)
    gaps = rng.exponential(8 * _HOUR, c.size)
    gaps[_group_starts(k)] = 0.0
    t = (awareness_end + rng.exponential(1.5 * _DAY, n) + 600)[c] + _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["evaluation"]])
    kind = kinds[_pick(rng, np.broadcast_to(_EVALUATION_MIX, (c.size, 3)))]
    last = np.cumsum(k) - 1
    kind[last[purchased]] = _EV["add_to_cart"]
    events.add(c, t, kind, channels(c))
    evaluation_end = _group_last(t, k, awareness_end)

    # Purchase: a failed payment is often retried, so failures show as extra checkout attempts.
    n_orders = np.where(purchased, 1 + np.minimum(rng.poisson(params["orders"][persona]), _MAX_EXTRA_ORDERS), 0)
    oc = np.repeat(idx, n_orders)
    m = oc.size
    first = np.zeros(m, dtype=bool)
    first[_group_starts(n_orders)] = True
    gaps = np.where(first, rng.exponential(_DAY, m) + 300, rng.exponential(20 * _DAY, m) + _DAY)
    order_start = evaluation_end[oc] + _group_cumsum(gaps, n_orders)
    op = persona[oc]
    order_no = np.arange(m)
    order_channel = channels(oc)
    fail = plan.fail[op]
    r = rng.random((5, m))
    fail1 = r[0] < fail
    retry1 = fail1 & (r[1] < _RETRY_AFTER_FAILURE)
    fail2 = retry1 & (r[2] < fail)
    retry2 = fail2 & (r[3] < _RETRY_AFTER_FAILURE)
    fail3 = retry2 & (r[4] < fail)
    attempts = 1 + retry1.astype(np.int64) + retry2
    for j, (tried, failed) in enumerate(((np.ones(m, dtype=bool), fail1), (retry1, fail2), (retry2, fail3))):
        at = order_start + j * 900.0
        events.add(oc[tried], at[tried], _EV["checkout_started"], order_channel[tried], order_no[tried])
        lost = tried & failed
        events.add(oc[lost], at[lost] + 120, _EV["payment_failed"], order_channel[lost], order_no[lost])
    placed = ~np.select([attempts == 1, attempts == 2], [fail1, fail2], fail3)
    placed_at = order_start + (attempts - 1) * 900.0 + rng.uniform(200, 500, m)
    amount = _amounts(rng, params, op)
    events.add(oc[placed], placed_at[placed], _EV["order_placed"], order_channel[placed], order_no[placed],
               amount[placed])
    r = rng.random((4, m))
    cancelled = placed & (r[0] < plan.cancel[op])
    events.add(oc[cancelled], (placed_at + rng.exponential(8 * _HOUR, m) + 300)[cancelled],
               _EV["order_cancelled"], order_channel[cancelled], order_no[cancelled])
    delivered = placed & ~cancelled
    promised = rng.uniform(1, 4, m) * _DAY
    late = delivered & (r[1] < plan.late[op])
    delivered_at = np.where(late, placed_at + promised + rng.uniform(1, 8, m) * _DAY,
                            placed_at + promised * rng.uniform(0.3, 1.0, m))
    events.add(oc[late], (placed_at + promised)[late], _EV["delivery_late"], order_channel[late], order_no[late])
    events.add(oc[delivered], delivered_at[delivered], _EV["order_delivered"], order_channel[delivered],
               order_no[delivered])

    # Experience: late or returned orders send more customers to support.
    registered_at = delivered_at + rng.exponential(_DAY, m) + 600
    returned = delivered & (r[2] < plan.returns[op])
    support = delivered & (r[3] < params["support"][op] + 0.3 * late + 0.4 * returned)
    events.add(oc[delivered], registered_at[delivered], _EV["product_registered"], channels(oc[delivered]),
               order_no[delivered])
    events.add(oc[returned], (registered_at + rng.uniform(1, 14, m) * _DAY)[returned], _EV["return_requested"],
               channels(oc[returned]), order_no[returned])
    events.add(oc[support], (delivered_at + rng.uniform(0.5, 10, m) * _DAY)[support], _EV["support_contact"],
               channels(oc[support]), order_no[support])
    first_registered = np.full(n, np.inf)
    np.minimum.at(first_registered, oc[delivered], registered_at[delivered])

    # Loyalty follows a delivered order: nobody comes back to a shop that never delivered.
    loyal = np.isfinite(first_registered) & (rng.random(n) < params["loyalty"][persona])
    k = np.where(loyal, 1 + rng.poisson(0.8, n), 0)
    c = np.repeat(idx, k)
    gaps = rng.exponential(12 * _DAY, c.size)
    gaps[_group_starts(k)] = rng.exponential(10 * _DAY, np.count_nonzero(k)) + _DAY
    t = np.where(np.isfinite(first_registered), first_registered, 0.0)[c] + _group_cumsum(gaps, k)
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["loyalty"]])
    kind = kinds[_pick(rng, np.broadcast_to(_LOYALTY_MIX, (c.size, 3)))]
    repeat = kind == _EV["repeat_order"]
    repeat_no = np.full(c.size, -1, dtype=np.int64)
    repeat_no[repeat] = m + np.arange(np.count_nonzero(repeat))
    repeat_amount = np.where(repeat, _amounts(rng, params, persona[c]), np.nan)
    events.add(c, t, kind, channels(c), repeat_no, repeat_amount)

    # Reminders come anywhere along the journey; loyal customers opted in, so more of them get one.
    reminded = rng.random(n) < np.where(loyal, 0.8, params["reminders"][persona])
    k = np.where(reminded, 1 + rng.poisson(1.0, n), 0)
    c = np.repeat(idx, k)
    lo, hi = awareness_end[c], events.latest(n)[c] + 7 * _DAY
    kinds = np.array([_EV[e] for e in _STAGE_EVENTS["reminder"]])
    events.add(c, lo + rng.random(c.size) * (hi - lo), kinds[_pick(rng, params["reminder_mix"][persona[c]])],
               channels(c))

    ev_c, ev_t, ev_kind, ev_channel, ev_order, ev_amount = events.arrays()
    fixed = np.array([_CHANNELS.index(_FIXED_CHANNEL[e]) if e in _FIXED_CHANNEL else -1 for e in _EVENT_TYPES])
    ev_channel = np.where(fixed[ev_kind] >= 0, fixed[ev_kind], ev_channel)

    # Fit every journey inside the quarter: shift it to a random start, squeeze the few that are
    # longer than the quarter, so that order along the journey is kept.
    span = np.zeros(n)
    np.maximum.at(span, ev_c, ev_t)
    limit = plan.length - 2 * _HOUR
    factor = np.minimum(1.0, 0.95 * limit / np.maximum(span, 1.0))
    offset0 = rng.random(n) * (limit - span * factor)
    seconds = np.floor(offset0[ev_c] + ev_t * factor[ev_c]).astype(np.int64)
    order = np.lexsort((np.arange(ev_c.size), seconds, ev_c))
    sales = {"customer": customers[ev_c[order]], "second": seconds[order], "event": ev_kind[order],
             "channel": ev_channel[order], "order": ev_order[order], "amount": np.round(ev_amount[order], 2)}

    stage_time = np.full((n, len(world.stages)), -1, dtype=np.int64)
    np.maximum.at(stage_time, (ev_c, world.event_stage[ev_kind]), seconds)
    surveys = _survey_answers(rng, world, plan, customers, persona, lang, stage_time)
    reviews = _reviews(rng, world, plan, customers, persona, lang, stage_time)
    return _BlockData(sales=sales, orders=m + int(np.count_nonzero(repeat)), surveys=surveys, reviews=reviews)


def _amounts(rng: np.random.Generator, params: dict[str, np.ndarray], persona: np.ndarray) -> np.ndarray:
    raw = rng.lognormal(np.log(params["amount_median"][persona]), params["amount_sigma"][persona])
    return np.round(np.clip(raw, params["amount_min"][persona], params["amount_max"][persona]), 2)


def _survey_answers(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
                    persona: np.ndarray, lang: np.ndarray, stage_time: np.ndarray) -> dict[str, np.ndarray]:
    reached = stage_time[:, world.question_stage] >= 0
    invited = reached & (rng.random(reached.shape) < world.question_invite)
    c, q = np.nonzero(invited)
    stage = world.question_stage[q]
    second = _after(rng, stage_time[c, stage], 1.5 * _DAY, plan.length)
    metric = world.question_metric[q]
    score, text = _opinions(rng, world, plan, persona[c], stage, metric, lang[c], _COMMENT_SHARE)
    channel = _pick(rng, world.params["survey_channel_mix"][persona[c]])
    order = np.lexsort((q, second, c))
    return {"customer": customers[c][order], "question": q[order], "second": second[order],
            "score": score[order], "text": text[order], "channel": channel[order]}


def _reviews(rng: np.random.Generator, world: _World, plan: _Plan, customers: np.ndarray,
             persona: np.ndarray, lang: np.ndarray, stage_time: np.ndarray) -> dict[str, np.ndarray]:
    n, n_p = customers.size, len(world.personas)
    rate = np.array([_REVIEW_RATE[s] for s in world.stages])
    k = np.where(stage_time >= 0, rng.poisson(np.broadcast_to(rate, stage_time.shape)), 0)
    c, stage = np.nonzero(k)
    c, stage = np.repeat(c, k[c, stage]), np.repeat(stage, k[c, stage])
    second = _after(rng, stage_time[c, stage], 3 * _DAY, plan.length)
    order = np.lexsort((stage, second, c))
    c, stage, second = c[order], stage[order], second[order]

    # Anonymous marketplace reviews: no customer, no persona, a mild mix of their own.
    n_anon = int(rng.poisson(_ANONYMOUS_REVIEWS_PER_CUSTOMER * n))
    anon_mix = np.array([_ANONYMOUS_STAGE_MIX[s] for s in world.stages])
    anon_stage = _pick(rng, np.broadcast_to(anon_mix, (n_anon, anon_mix.size)))
    anon_second = np.sort(rng.integers(0, plan.length - 60, n_anon))
    anon_lang = (rng.random(n_anon) < _RU_SHARE).astype(np.int8)

    rows = np.concatenate([persona[c], np.full(n_anon, n_p)])
    stages = np.concatenate([stage, anon_stage])
    rating, text = _opinions(rng, world, plan, rows, stages, np.zeros(rows.size, dtype=np.int64),
                             np.concatenate([lang[c], anon_lang]), 1.0)
    source = _pick(rng, world.params["review_source_mix"][rows])
    return {"customer": np.concatenate([customers[c], np.full(n_anon, -1)]),
            "second": np.concatenate([second, anon_second]), "rating": rating, "text": text,
            "source": source, "lang": np.concatenate([lang[c], anon_lang])}


def _opinions(rng: np.random.Generator, world: _World, plan: _Plan, row: np.ndarray, stage: np.ndarray,
              metric: np.ndarray, lang: np.ndarray, text_share: float) -> tuple[np.ndarray, np.ndarray]:
    """Scores and texts (None when there is none) for answers of persona rows at stages."""
    m, n_b, n_p = row.size, len(world.catalog), len(world.personas)
    u = rng.random((5, m))
    has_text = u[0] < text_share
    cum = np.cumsum(plan.mention[row, stage], axis=1)
    mention = (u[1][:, None] >= cum).sum(axis=1)
    mention = np.where(has_text & (mention < n_b), mention, -1)
    csat_like = np.asarray(metric) == _METRICS.index("csat")
    low = (mention < 0) & csat_like & (u[2] < plan.low_share[row, stage])
    dist = np.where(mention >= 0, n_p + 1, np.where(low, n_p + 2, row))
    score = (u[3][:, None] >= world.score_cum[metric, dist]).sum(axis=1)
    cuts = np.array([_SENTIMENT_CUTS[x] for x in _METRICS])
    score_min = np.array([_SCORES[x][0] for x in _METRICS])
    score = score + score_min[metric]
    negative = low | (score <= cuts[metric, 0])
    positive = ~negative & (score >= cuts[metric, 1])
    n_s = len(world.stages)
    category = np.where(mention >= 0, mention,
                        np.where(negative, n_b + stage, np.where(positive, n_b + 2 * n_s + stage, n_b + n_s + stage)))
    pools = world.pools
    key = pools.key(lang.astype(np.int64), category)
    pick = pools.offset[key] + (u[4] * pools.size[key]).astype(np.int64)
    text = np.where(has_text, pools.texts[pick], None)
    return score.astype(np.int64), text


# ---------------------------------------------------------------------------------------------
# Writing one period: blocks are simulated in order; a chunk of blocks is one sales part file.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Written:
    files: list[Path]
    sales: int
    surveys: int
    reviews: int


_SURVEY_COLUMNS = ("response_id", "customer_id", "answered_at", "question", "score", "comment", "channel")
_SALES_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("customer_id", pa.string()), ("occurred_at", pa.timestamp("us", tz="UTC")),
    ("event_type", pa.string()), ("channel", pa.string()), ("amount", pa.float64()), ("order_id", pa.string()),
])


def _blocks(cohort: _Cohort) -> Iterator[tuple[int, slice]]:
    for b, lo in enumerate(range(0, cohort.customers.size, BLOCK_CUSTOMERS)):
        yield b, slice(lo, lo + BLOCK_CUSTOMERS)


def _write_period(out: Path, world: _World, plan: _Plan, cohort: _Cohort, registry: _CustomerRegistry,
                  seed: int, blocks_per_chunk: int, report: Callable[[int], None]) -> _Written:
    period = str(plan.period)
    folder, sales_dir = out / period, out / period / "sales"
    sales_dir.mkdir(parents=True, exist_ok=True)
    # Parts of an earlier run with more chunks would otherwise be read as this run's data.
    for stale in sales_dir.glob("part-*.parquet"):
        stale.unlink()
    surveys_path, reviews_path = folder / "surveys.csv", folder / "reviews.jsonl"
    counters = {"event": 0, "order": 0, "survey": 0, "review": 0}
    files = [surveys_path, reviews_path]
    parts = 0
    chunk: list[_BlockData] = []
    blocks = list(_blocks(cohort))
    with surveys_path.open("w", encoding="utf-8", newline="") as surveys_file, \
            reviews_path.open("w", encoding="utf-8", newline="") as reviews_file:
        surveys_file.write(",".join(_SURVEY_COLUMNS) + "\n")
        for b, rows in blocks:
            rng = np.random.default_rng([seed, _TAG_BLOCK, plan.period.year, plan.period.quarter, b])
            customers = cohort.customers[rows]
            chunk.append(_simulate_block(rng, world, plan, customers, cohort.persona[rows],
                                         cohort.returning[rows], registry.lang[customers]))
            if len(chunk) == blocks_per_chunk or b == len(blocks) - 1:
                part = sales_dir / f"part-{parts:05d}.parquet"
                parts += 1
                _write_chunk(chunk, part, surveys_file, reviews_file, world, plan, counters)
                files.append(part)
                chunk = []
                report(min(rows.stop, cohort.customers.size))
    return _Written(files=files, sales=counters["event"], surveys=counters["survey"], reviews=counters["review"])


def _write_chunk(chunk: list[_BlockData], part: Path, surveys_file: TextIO, reviews_file: TextIO, world: _World,
                 plan: _Plan, counters: dict[str, int]) -> None:
    period = str(plan.period)
    order_base, offsets = counters["order"], []
    for block in chunk:
        offsets.append(order_base)
        order_base += block.orders
    sales = {key: np.concatenate([b.sales[key] for b in chunk]) for key in chunk[0].sales}
    local_order = np.concatenate([np.where(b.sales["order"] >= 0, b.sales["order"] + off, -1)
                                  for b, off in zip(chunk, offsets, strict=True)])
    n = sales["customer"].size
    has_order = local_order >= 0
    table = pa.table({
        "event_id": _ids(f"E{period}-", counters["event"] + np.arange(1, n + 1), 9),
        "customer_id": _customer_ids(sales["customer"]),
        "occurred_at": pa.array((plan.start + sales["second"]) * 1_000_000, type=pa.int64()).cast(
            pa.timestamp("us", tz="UTC")),
        "event_type": pa.array(np.array(_EVENT_TYPES, dtype=object)[sales["event"]], type=pa.string()),
        "channel": pa.array(np.array(_CHANNELS, dtype=object)[sales["channel"]], type=pa.string()),
        "amount": pa.array(sales["amount"], type=pa.float64(), from_pandas=True),
        "order_id": pc.if_else(pa.array(has_order), _ids(f"O{period}-", np.maximum(local_order, 0) + 1, 8),
                               pa.scalar(None, pa.string())),
    }, schema=_SALES_SCHEMA)
    pq.write_table(table, part, compression="zstd")
    counters["event"] += n
    counters["order"] = order_base

    surveys = {key: np.concatenate([b.surveys[key] for b in chunk]) for key in chunk[0].surveys}
    m = surveys["customer"].size
    pd.DataFrame({
        "response_id": _strings(_ids(f"S{period}-", counters["survey"] + np.arange(1, m + 1), 7)),
        "customer_id": _strings(_customer_ids(surveys["customer"])),
        "answered_at": _iso(plan, surveys["second"]),
        "question": np.array(world.question_ids, dtype=object)[surveys["question"]],
        "score": surveys["score"],
        "comment": surveys["text"],
        "channel": np.array(_SURVEY_CHANNELS, dtype=object)[surveys["channel"]],
    }, columns=_SURVEY_COLUMNS).to_csv(surveys_file, header=False, index=False, lineterminator="\n")
    counters["survey"] += m

    reviews = {key: np.concatenate([b.reviews[key] for b in chunk]) for key in chunk[0].reviews}
    r = reviews["customer"].size
    known = reviews["customer"] >= 0
    customer_ids = np.where(known, _strings(_customer_ids(np.maximum(reviews["customer"], 0))), None)
    frame = pd.DataFrame({
        "review_id": _strings(_ids(f"R{period}-", counters["review"] + np.arange(1, r + 1), 7)),
        "customer_id": pd.Series(customer_ids, dtype=object),
        "published_at": _iso(plan, reviews["second"]),
        "rating": reviews["rating"],
        "text": reviews["text"],
        "source": np.array(_REVIEW_SOURCES, dtype=object)[reviews["source"]],
        "language": np.array(_LANGS, dtype=object)[reviews["lang"]],
    })
    if r:
        reviews_file.write(frame.to_json(orient="records", lines=True, force_ascii=False))
    counters["review"] += r


def _strings(array: pa.Array) -> np.ndarray:
    return array.to_numpy(zero_copy_only=False)


def _iso(plan: _Plan, seconds: np.ndarray) -> np.ndarray:
    moments = pa.array(plan.start + seconds, type=pa.int64()).cast(pa.timestamp("s", tz="UTC"))
    return _strings(pc.strftime(moments, format="%Y-%m-%dT%H:%M:%SZ"))
