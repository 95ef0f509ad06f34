"""Topicless asks: recognised by their words with nothing else on topic, meaning an intent by context."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.core.decide import followup_alone, judge, topicless
from bot.core.engine import Engine
from bot.core.followups import Followup, Followups, load_followups
from bot.core.intents import load_intents
from bot.errors import DataError

INTENTS = load_intents(ROOT / "intents")
QUESTION_WORDS = re.compile(r"吗|怎么|\bhow\b")


@pytest.mark.parametrize(("question", "kind"), [
    ("要交钱不", "fees"),
    ("一年学费大概好多", "fees"),
    ("how much would it cost per year", "fees"),
    ("咋个报名", "enrol"),
    ("報名要交哪些材料", "enrol"),          # enrol and procedure words both go; 要交 is filler
    ("今年报名啥时候开始", "enrol"),
    ("how do we apply", "procedure"),
    ("要办哪些手续", "procedure"),
    ("找哪个投诉", "whom"),
    ("who's in charge?", "whom"),
    ("Who should I talk to?", "whom"),
    # a topic of its own: not a follow-up
    ("驾校怎么报名", None),
    ("北碚的健身房一年收费好多", None),
    ("how much does an iPhone cost", None),
    ("how do I apply for a US visa", None),
    ("培训免费不", None),                     # 培训 is the topic, the model judges it
    ("孩子在学校被同学欺负了我该找哪个部门投诉", None),
    ("3+2是什么", None),
    ("", None),
])
def test_topicless_asks_of_the_shipped_vocabulary(engine: Engine, question: str, kind: str | None) -> None:
    found = topicless(engine.followups, engine.normalizer(question))
    assert (found.id if found else None) == kind


@pytest.mark.parametrize(("kind", "main", "intent"), [
    ("fees", "pathway.3plus2", "subsidy.tuition"),
    ("fees", "admission.adults", "subsidy.tuition"),
    ("fees", "training.adult", "subsidy.training"),
    ("fees", "enterprise.tax_credit", None),            # an enterprise's cost is not tuition
    ("procedure", "pathway.five_year", "admission.enrollment"),
    ("procedure", "enterprise.certification", None),    # certification's own procedure is in its answer
    ("procedure", "subsidy.student_aid", None),          # how to apply for aid is the aid's own answer
    ("enrol", "subsidy.student_aid", "admission.enrollment"),   # but enrolling is enrolment
    ("enrol", "cert.one_plus_x", None),                  # signing up for an exam is not enrolment
    ("whom", "study.internship", "policy.contact"),
])
def test_a_followup_means_an_intent_by_the_topic_it_follows(kind: str, main: str, intent: str | None) -> None:
    found = next(k for k in INTENTS.followups.kinds if k.id == kind)
    assert found.after(main) == intent


@pytest.mark.parametrize(("question", "after", "intent"), [
    ("要钱不", None, "subsidy.tuition"),                       # alone: of vocational education
    ("要钱不", "training.adult", "subsidy.training"),          # a means rule for that topic
    ("怎么申请", "enterprise.certification", "enterprise.certification"),   # no rule: the same topic again
    ("要钱不", "smalltalk.greeting", "subsidy.tuition"),       # small talk is no topic
    ("找哪个部门", "pathway.3plus2", "policy.contact"),
    ("学费多少", None, "subsidy.tuition"),                     # the model is sure, the rule agrees
])
def test_a_topicless_question_asks_about_the_topic_just_answered(engine: Engine, question: str, after: str | None,
                                                                 intent: str) -> None:
    norm = engine.normalizer(question)
    j = followup_alone(engine.followups, norm, judge(engine.model, norm, engine.thresholds), engine.thresholds, after)
    assert (j.decision, j.top) == ("answer", intent)
    assert j.confidence >= engine.thresholds["answer"]


def test_a_question_with_a_topic_ignores_the_last_one(engine: Engine) -> None:
    reply = engine.ask("3加2是啥子意思", after="training.adult")
    assert (reply.decision, reply.intent) == ("answer", "pathway.3plus2")
    assert engine.ask("驾校怎么报名", after="training.adult").decision == "fallback"


def test_the_first_listed_kind_decides_and_filler_is_matched_normalised() -> None:
    kinds = (Followup("a", (re.compile("费用"),), None, ((), "x")), Followup("b", (re.compile("费用|报名"),)))
    vocabulary = Followups(kinds, frozenset({"大槪"})).normalized(lambda text: text.replace("大槪", "大概"))
    assert topicless(vocabulary, "费用大概") is kinds[0]
    assert vocabulary.topicless("报名吗", QUESTION_WORDS) is kinds[1]
    assert vocabulary.topicless("驾校报名吗", QUESTION_WORDS) is None
    assert Followups().topicless("报名", QUESTION_WORDS) is None
    assert vocabulary.named("驾校报名的费用") == list(kinds) and vocabulary.named("驾校") == []


def test_absent_file_means_no_followups(tmp_path: Path) -> None:
    assert load_followups(tmp_path / "followups.yaml", INTENTS.intents) == Followups()


@pytest.mark.parametrize(("text", "expected"), [
    ("filler: {zh: [一年]}\n", "field followups: is missing"),
    ("followups:\n  - asks: [学费]\n", "followups[0].id"),
    ("followups:\n  - id: fees\n    asks: ['(']\n", "intent fees, field asks"),
    ("followups:\n  - id: fees\n    asks: [学费]\n    alone: subsidy.nope\n", "intent fees, field alone"),
    ("followups:\n  - id: fees\n    asks: [学费]\n    means: [{after: [pathway.], intent: nope}]\n",
     "intent fees, field means #1.intent"),
    ("followups:\n  - {id: fees, asks: [学费]}\n  - {id: fees, asks: [费用]}\n", "intent fees, field id"),
    ("filler: {zh: [on, 'off']}\nfollowups: []\n", "field filler.zh[0]"),   # YAML reads a bare on as true
])
def test_broken_followups_name_file_kind_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "followups.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as error:
        load_followups(path, INTENTS.intents)
    assert "followups.yaml" in str(error.value) and expected in str(error.value)
