"""The engine: colloquial questions answered, near-misses and junk never answered confidently."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.engine import DECISIONS, Engine

# Questions people really type, with the one intent that must answer them confidently.
ANSWERS = [
    ("我娃中考没考好 读职高还能上大学不", "pathway.overview"),
    ("3加2是啥子意思", "pathway.3plus2"),
    ("三加二读完是啥学历", "pathway.3plus2"),
    ("中职读完直接读本科的3+4咋个报", "pathway.3plus4"),
    ("五年一贯制是啥", "pathway.five_year"),
    ("高职单招是什么", "pathway.single_exam"),
    ("1+X证书是啥子", "cert.one_plus_x"),
    ("学分银行怎么用", "cert.credit_bank"),
    ("企业投资办职业教育可以抵免教育费附加吗", "enterprise.tax_credit"),
    ("怎么申请产教融合型企业认证", "enterprise.certification"),
    ("什么是双师型教师", "teacher.dual_qualified"),
    ("职校学生有没有助学金", "subsidy.student_aid"),
    ("顶岗实习要多久", "study.internship"),
    ("What is the 3+2 programme?", "pathway.3plus2"),
    ("Can my company offset investment in vocational education against the education surcharge?",
     "enterprise.tax_credit"),
    ("你好", "smalltalk.greeting"),
    ("谢谢", "smalltalk.thanks"),
    ("转人工", "support.human"),
]

# Outside the plan, junk or hostile: never a confident policy answer.
NOT_ANSWERED = [
    "北京积分落户怎么办", "asdfgh", "jjjjjjjj", "😀😀😀", "", "   ", "?", "1234567890",
    "'; DROP TABLE enquiries; --", "<script>alert(1)</script>", "今天天气怎么样", "怎么做蛋糕",
    "今年高职单招考试是哪天", "哪些企业已经被认证为产教融合型企业，给我列个名单", "重庆电子工程职业学院一年学费多少钱",
    "How do I bake a cake?", "哈" * 3000,
]


@pytest.mark.parametrize(("question", "intent"), ANSWERS)
def test_answers_colloquial_questions(engine: Engine, question: str, intent: str) -> None:
    reply = engine.ask(question)
    assert (reply.decision, reply.intent) == ("answer", intent)


@pytest.mark.parametrize("question", NOT_ANSWERED)
def test_never_answers_out_of_scope_confidently(engine: Engine, question: str) -> None:
    reply = engine.ask(question)
    assert reply.decision in ("fallback", "clarify")
    assert reply.decision == "fallback" or reply.intent is not None


def test_answer_is_in_the_language_of_the_question(engine: Engine) -> None:
    zh, en = engine.ask("3加2是啥子意思"), engine.ask("What is the 3+2 programme?")
    assert zh.lang == "zh" and zh.answer == zh.answer and "3+2" in zh.answer
    assert en.lang == "en" and en.answer.startswith(engine.intents["pathway.3plus2"].answer["en"][:20])


def test_answer_names_its_clause_and_offers_related(engine: Engine) -> None:
    reply = engine.ask("3加2是啥子意思")
    assert "三(一)4" in reply.answer and reply.source == engine.intents["pathway.3plus2"].source
    assert [c.intent for c in reply.related] == list(engine.intents["pathway.3plus2"].related)
    assert len(reply.candidates) == 3 and reply.candidates[0].intent == "pathway.3plus2"


def test_beyond_the_plan_names_responsible_departments(engine: Engine) -> None:
    reply = engine.ask("今年高职单招考试是哪天")
    assert reply.decision == "fallback" and reply.intent is None
    assert "区教委" in reply.answer and reply.extra["limit"] == "dates"
    assert [c.intent for c in reply.related] == ["pathway.single_exam"]


def test_plan_date_question_is_not_treated_as_a_missing_date(engine: Engine) -> None:
    reply = engine.ask("这个方案是哪天印发的")
    assert reply.decision != "fallback" and reply.intent == "policy.about"


def test_clarify_offers_two_to_four_distinct_choices(engine: Engine) -> None:
    reply = engine.ask("职业学校")
    if reply.decision == "clarify":
        ids = [c.intent for c in reply.choices]
        assert 2 <= len(ids) <= 4 and len(set(ids)) == len(ids)


def test_fallback_keeps_candidates_for_staff(engine: Engine) -> None:
    reply = engine.ask("北京积分落户怎么办")
    assert reply.decision == "fallback" and len(reply.candidates) == 3


def test_answer_intent_directly(engine: Engine) -> None:
    reply = engine.answer_intent("enterprise.land", "en")
    assert reply.decision == "answer" and reply.intent == "enterprise.land" and reply.lang == "en"
    with pytest.raises(KeyError):
        engine.answer_intent("no.such", "zh")


def test_json_shape(engine: Engine) -> None:
    data = engine.ask("3加2是啥子意思").as_json()
    assert set(data) == {"question", "decision", "intent", "score", "candidates", "answer", "confidence",
                         "also_intents"}
    assert [set(c) for c in data["candidates"]] == [{"intent", "score"}] * 3


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=100_000))
def test_never_raises_for_any_unicode(text: str) -> None:
    engine = _ENGINE.get("engine")
    if engine is None:
        from bot.config import ROOT

        engine = _ENGINE.setdefault("engine", Engine.load(ROOT / "intents", ROOT / "content"))
    reply = engine.ask(text)
    assert reply.decision in DECISIONS
    assert (reply.intent is None) == (reply.decision == "fallback")
    assert isinstance(reply.answer, str) and reply.answer


_ENGINE: dict[str, Engine] = {}
