"""Decisions from probabilities, and the pieces of a two-part question."""

from __future__ import annotations

import pytest

from bot.core.decide import (
    DEFAULTS,
    asks,
    clarify_choices,
    compared,
    is_question,
    judge,
    parts,
    pieces_read,
    second_asks,
    thresholds,
)
from bot.core.engine import Engine


@pytest.mark.parametrize(("text", "pieces"), [
    ("北碚有哪些职高 学费好多钱", ["北碚有哪些职高", "学费好多钱"]),
    ("3+2是啥，另外有没有助学金？", ["3+2是啥", "有没有助学金"]),
    ("what is 3+2 and is there any help with tuition?", ["what is 3+2", "is there any help with tuition"]),
    ("学徒制是什么", ["学徒制是什么"]),
    ("", [""]),
])
def test_parts(text: str, pieces: list[str]) -> None:
    assert parts(text) == pieces


@pytest.mark.parametrize(("text", "found"), [
    # the story around the ask is left out
    ("我是社区居民，在公告栏看到说北碚在改革，能不能讲讲这个方案是干啥的？",
     ["在公告栏看到说北碚在改革 能不能讲讲这个方案是干啥的"]),
    # a question mark after a piece makes it an ask even without a question word
    ("顶岗实习是半年？娃儿以后想去当兵 当兵期间还能继续学技能不",
     ["顶岗实习是半年", "娃儿以后想去当兵 当兵期间还能继续学技能不"]),
    # a short ask keeps the piece of story just before it, which names what it asks about
    ("我今年38了 有中级工证 想读个中专 可以不", ["想读个中专 可以不"]),
    ("I run a small firm. We train our own welders. Can we get the surcharge credit",
     ["We train our own welders Can we get the surcharge credit"]),
    ("My son is 15, he wants to study cooking and also is there a grant",
     ["he wants to study cooking is there a grant"]),
    ("What is the 3+2 programme, and is there a grant for poor students?",
     ["What is the 3+2 programme", "is there a grant for poor students"]),
    # Chongqing and A-not-A questions: 有没得, 多不多
    ("娃儿读职高 有没得奖学金 网课多不多", ["娃儿读职高 有没得奖学金", "网课多不多"]),
    ("顶岗实习一般好久，我去问了老师", ["顶岗实习一般好久"]),
    # no piece reads as an ask: all of them count
    ("学分银行", ["学分银行"]),
    ("我想了解 三加二", ["我想了解", "三加二"]),
    ("", [""]),
])
def test_asks(text: str, found: list[str]) -> None:
    assert asks(text) == found


@pytest.mark.parametrize(("text", "sides"), [
    ("3+4和3+2有什么区别？3+4是直接读本科吗", ["3+4", "3+2有什么区别"]),
    ("五年一贯制跟三加二比哪个好", ["五年一贯制", "三加二比哪个好"]),
    ("How does the five-year programme differ from 3+2?", ["How does the five-year programme differ", "3+2"]),
    ("3+2 vs 3+4", ["3+2", "3+4"]),
    # no comparison: no sides, even with a joining word
    ("中职和高职都有助学金吗", []),
    ("what is 3+2 and is there a grant", []),
])
def test_compared(text: str, sides: list[str]) -> None:
    assert compared(text) == sides


@pytest.mark.parametrize(("part_compare", "found"), [(0.6, ["pathway.3plus2"]), (1.01, [])])
def test_each_side_of_a_comparison_is_a_second_ask_when_the_model_is_part_compare_sure(
        engine: Engine, part_compare: float, found: list[str]) -> None:
    t = {**engine.thresholds, "part_compare": part_compare}
    asked = second_asks(engine.model, "3+4和3+2有啥区别", "pathway.3plus4", engine.normalizer, t)
    assert [intent for intent, _ in asked] == found


def test_pieces_read_marks_asks_by_words_and_question_marks() -> None:
    assert pieces_read("娃儿读职高。学费多少？好的") == [("娃儿读职高", False), ("学费多少", True), ("好的", False)]
    assert pieces_read("Tell me about 1+X. Thanks") == [("Tell me about 1+X", True), ("Thanks", False)]
    assert pieces_read("Our group is a large manufacturer. Is there a grant") == [
        ("Our group is a large manufacturer", False), ("Is there a grant", True)]


@pytest.mark.parametrize(("text", "read"), [
    ("以後讀完還能讀本科嗎", [("以後讀完還能讀本科嗎", True)]),                     # traditional characters
    ("學校老師想問，職業啟蒙教育是啥", [("學校老師想問", False), ("職業啟蒙教育是啥", True)]),   # a preface only
    ("生均经费是比普高高还是一样", [("生均经费是比普高高还是一样", True)]),               # a choice
    ("Whats the process", [("Whats the process", True)]),
    ("我想问下 学费", [("我想问下", False), ("学费", False)]),
])
def test_pieces_read_knows_traditional_characters_choices_and_prefaces(
        text: str, read: list[tuple[str, bool]]) -> None:
    assert pieces_read(text) == read


@pytest.mark.parametrize(("piece", "question"), [
    ("想问一下学徒制的事", False), ("请问企业申报产教融合项目", False), ("Please tell me about the grant", False),
    ("学徒制在哪些专业开", True), ("Is there a veteran training alliance", True), ("請問學費多少", True),
])
def test_is_question_needs_more_than_a_request_to_be_told(piece: str, question: bool) -> None:
    assert is_question(piece) is question


STORY = "我是社区居民，在公告栏看到说北碚在搞职业教育改革，能不能给我讲讲这个方案大概是干啥的？"


@pytest.mark.parametrize(("part_story", "found"), [(0.0, ["training.lifelong"]), (1.0, [])])
def test_a_piece_of_the_story_is_a_second_ask_only_when_the_model_is_part_story_sure(
        engine: Engine, part_story: float, found: list[str]) -> None:
    t = {**engine.thresholds, "part_story": part_story}
    asked = second_asks(engine.model, STORY, "policy.about", engine.normalizer, t)
    assert [intent for intent, _ in asked] == found


@pytest.mark.parametrize(("part_ask", "found"), [(0.0, ["subsidy.student_aid"]), (1.01, [])])
def test_a_piece_that_reads_as_an_ask_is_a_second_ask_when_the_model_is_part_ask_sure(
        engine: Engine, part_ask: float, found: list[str]) -> None:
    t = {**engine.thresholds, "part_ask": part_ask, "part_answer": 1.01, "part_support": 1.01}
    asked = second_asks(engine.model, "3+2是啥子，职高有没得奖学金", "pathway.3plus2", engine.normalizer, t)
    assert [intent for intent, _ in asked] == found


def test_thresholds_fill_defaults() -> None:
    assert thresholds({"answer": 0.9})["answer"] == 0.9
    assert thresholds(None) == {k: float(v) for k, v in DEFAULTS.items()}


def test_out_of_scope_class_decides_fallback(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("怎么做红烧肉"), engine.thresholds)
    assert j.decision == "fallback" and j.out_of_scope > j.confidence


def test_confident_answer(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("顶岗实习要多久"), engine.thresholds)
    assert (j.decision, j.top) == ("answer", "study.internship") and 0 < j.confidence <= 1


def test_clarify_offers_at_least_two(engine: Engine) -> None:
    j = judge(engine.model, engine.normalizer("职业"), {**engine.thresholds, "answer": 1.1, "clarify": 0.0})
    assert j.decision == "clarify" and len(clarify_choices(j, engine.thresholds)) >= 2


def test_too_short_falls_back(engine: Engine) -> None:
    assert judge(engine.model, "x", engine.thresholds).decision == "fallback"
