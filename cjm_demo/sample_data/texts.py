"""What the demo customers write: text templates and the pools composed from them.

A text is opening + sentence + closing. Complaint sentences of a barrier each contain one of its
keywords from barriers.yaml (in varied word forms); every other fragment contains no keyword of
any barrier. No slashes: pandas escapes them in JSON. The pools hold every composed text per
(language, category) in one flat array, so that choosing texts is one vectorised lookup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_LANGS = ("en", "ru")

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
