"""The route finder in Telegram against the fake Bot API: /route to a result by button presses, Back, the
start-menu button, the offer under a situation question, and the logged result."""

from __future__ import annotations

import json

from fake_bot_api import FakeBotAPI
from telegram_harness import ask, buttons, data_of, logged, press, visible

from bot.core.engine import Engine
from bot.service import Service


def route_data(call: object) -> list[str]:
    return [d for d in data_of(call) if d.startswith("r:")]   # type: ignore[arg-type]


async def test_route_command_to_a_result_by_button_presses(fake: FakeBotAPI, bot: object, engine: Engine,
                                                           service: Service) -> None:
    user = fake.user(1401, language_code="zh")
    flows = await ask(fake, user, "/route")
    assert visible(flows) == engine.content.message("route_choose_flow", "zh")
    assert data_of(flows) == ["r:student:,", "r:enterprise:,"]

    who = await press(fake, user, flows, "r:student:,", method="editMessageText")
    assert "谁在问？" in visible(who)
    assert [t for t, _ in buttons(who)][:7] == ["初三学生/家长", "中职在读", "高职在读", "已工作的成年人", "退役军人",
                                                "下岗失业人员/农民工/新型农民", "老师"]
    want = await press(fake, user, flows, "r:student:jobless,", method="editMessageText")
    assert "你想做什么？" in visible(want) and "第2步，共2步" in visible(want)
    back = await press(fake, user, flows, "↩ 返回上一步", method="editMessageText")   # Back: the first question
    assert "谁在问？" in visible(back)
    await press(fake, user, flows, "r:student:jobless,", method="editMessageText")
    result = await press(fake, user, flows, "r:student:jobless,worklearn")

    expected = engine.routes.step("student", {"who": "jobless", "want": "worklearn"}, "zh")
    text = visible(result)
    assert text.startswith(expected.title)
    for item in expected.items:
        assert item.why in text and item.title in text
    for gap in expected.not_in_plan:
        assert gap in text
    assert all(dept in text for dept in expected.ask)
    assert len(text) <= 4096
    data = data_of(result)
    assert all(len(d.encode()) < 64 for d in data)
    assert [d.split(":")[1] for d in data if d.startswith("i:")] == [i.intent for i in expected.items]
    assert "r:student:jobless," in data and "r:" in data          # Back and Start over

    rows = await logged(service, "SELECT * FROM enquiries WHERE decision = 'route'")
    assert json.loads(rows[0]["text"])["answers"] == {"who": "jobless", "want": "worklearn"}
    assert rows[0]["channel"] == "telegram" and rows[0]["via"] == "route"

    # The full answer of the first item, from the result's button.
    answer = await press(fake, user, result, data[0])
    assert visible(answer).startswith(engine.intents[expected.items[0].intent].answer["zh"][:20])
    assert fake.client_errors() == []


async def test_enterprise_flow_in_english_and_start_over(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1402, language_code="en")
    welcome = await ask(fake, user, "/start")
    assert route_data(welcome) == ["r:"]
    flows = await press(fake, user, welcome, "r:")                 # a new message: the start menu stays
    goal = await press(fake, user, flows, "r:enterprise:,", method="editMessageText")
    assert "What does your firm want to do?" in visible(goal)
    await press(fake, user, flows, "r:enterprise:certify,", method="editMessageText")
    result = await press(fake, user, flows, "r:enterprise:certify,large")
    expected = engine.routes.step("enterprise", {"goal": "certify", "size": "large"}, "en")
    assert visible(result).startswith(expected.title)
    assert "the plan does not give the proportion" in visible(result)
    again = await press(fake, user, result, "r:")                 # Start over: the choice of flow, as a new message
    assert route_data(again) == ["r:student:,", "r:enterprise:,"]


async def test_a_situation_question_offers_the_route_finder(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1403, language_code="zh")
    reply = await ask(fake, user, "我是退役军人想读书")
    assert "r:student:veteran,study" in data_of(reply)
    result = await press(fake, user, reply, "r:student:veteran,study")
    assert visible(result).startswith("退役军人·继续升学")
    plain = await ask(fake, user, "3加2是啥子意思")
    assert route_data(plain) == []


async def test_stale_route_buttons_are_answered(fake: FakeBotAPI, bot: object, engine: Engine) -> None:
    user = fake.user(1404, language_code="zh")
    flows = await ask(fake, user, "/route")
    message = fake.sent_message(flows)
    message["reply_markup"]["inline_keyboard"].append([{"text": "old", "callback_data": "r:student:pilot,"}])
    mark = fake.mark()
    query = fake.press(user, message, "old")
    answer = await fake.wait_call("answerCallbackQuery", since=mark, callback_query_id=query)
    assert answer.params.get("text") == engine.content.message("tg_stale_button", "zh")


def test_every_result_is_one_message_with_short_button_data(engine: Engine) -> None:
    from bot.channels.telegram.routes import RouteHandlers

    class Users:
        def __init__(self, engine: Engine) -> None:
            self.engine = engine

    screens = RouteHandlers(Users(engine))
    routes = engine.routes
    for flow in routes.flows:
        for answers in routes.paths(flow):
            for lang in ("zh", "en"):
                result = routes.step(flow, answers, lang)
                outs = screens.result_messages(result, "0123456789abcdef", lang)
                assert len(outs) == 1 and len(outs[0].html.encode("utf-16-le")) // 2 <= 4096
                keyboard = outs[0].markup.inline_keyboard
                assert all(len(b.callback_data.encode()) < 64 for row in keyboard for b in row)
                step = routes.step(flow, dict(list(answers.items())[:-1]), lang)
                shown = screens.step_screen(step, lang).markup.inline_keyboard
                assert all(len(b.callback_data.encode()) < 64 for row in shown for b in row)
