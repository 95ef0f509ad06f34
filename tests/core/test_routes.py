"""The route finder's content and core: every `why` claims only what its clauses say, broken files are refused
with the place named, the step function, and situation detection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.config import ROOT
from bot.core.engine import Engine
from bot.core.routes import RouteResult, RouteStep, load_routes
from bot.errors import DataError, UnknownRoute

ROUTES = ROOT / "content" / "routes.yaml"

# Named groups of people and firms: (the plan's words, how an English `why` names them). A `why` naming one
# must rest on a clause that names it; groups the plan never names (失业人员, 成年人 ...) can never pass.
GROUPS = [
    ("退役军人", r"\bveterans?\b"), ("现役军人", r"serving soldiers?"), ("退役运动员", r"retired athletes?"),
    ("下岗职工", r"laid-off workers?"), ("返乡农民工", r"migrant workers?"), ("农民工", r"migrant workers?"),
    ("初高中毕业未升学学生", r"high-school leavers"), ("新型职业农民", r"professional farmers?"),
    ("学业困难学生", r"struggling students?"), ("社会成员", r"members of the public"),
    ("离校未就业高校毕业生", r"left school without a job"), ("职业学校毕业生", r"vocational-school graduates"),
    ("普通高校毕业生", r"graduates of general universities"), ("大企业", r"large enterprises"),
    ("大中型企业", r"large and medium(-sized)? enterprises"), ("中小微企业", r"small, medium and micro"),
    ("社会力量", r"social forces"), ("企业工程技术人员", r"\bengineers\b"), ("高技能人才", r"highly skilled"),
    ("技术技能大师", r"master craftsm[ae]n"), ("中等职业学校的学生", r"secondary vocational students"),
    ("试点企业", r"pilot enterprises?"), ("社会培训机构", r"private training organisations?"),
    ("产教融合型企业", r"industry-education integration enterprises?"), ("教师", r"\bteachers?\b"),
    ("失业人员", r"\bunemployed\b|\bjobless\b"), ("成年人", r"\badults?\b"), ("家长", r"\bparents?\b"),
    ("初三", r"year-9"), ("农民", r"\bfarmers?\b"),
]
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _rules(engine: Engine) -> list[tuple[str, object]]:
    return [(f"{flow.id}.{rule.id}", rule) for flow in engine.routes.flows.values() for rule in flow.rules]


def _clause_text(engine: Engine, rule: object) -> str:
    return "\n".join(engine.content.clauses[c].heading + "\n" + engine.content.clauses[c].text
                     for c in rule.source)  # type: ignore[attr-defined]


def test_the_shipped_flows_are_there(engine: Engine) -> None:
    assert {"student", "enterprise"} <= set(engine.routes.flows)
    student = engine.routes.flows["student"]
    assert [len(s.options) for s in student.steps] == [7, 5]
    enterprise = engine.routes.flows["enterprise"]
    assert len(enterprise.steps[0].options) == 7


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_number_in_a_why_is_in_its_clauses(engine: Engine, lang: str) -> None:
    problems = []
    for name, rule in _rules(engine):
        text = _clause_text(engine, rule)
        for number in NUMBER.findall(rule.why[lang]):  # type: ignore[attr-defined]
            if not re.search(rf"(?<![\d.]){re.escape(number)}(?![\d.])", text):
                problems.append(f"{name}: {number}")
    assert problems == []


def test_every_named_group_in_a_why_is_in_its_clauses(engine: Engine) -> None:
    problems = []
    for name, rule in _rules(engine):
        text = _clause_text(engine, rule)
        for zh, en in GROUPS:
            named_zh = zh in rule.why["zh"]  # type: ignore[attr-defined]
            named_en = re.search(en, rule.why["en"], re.IGNORECASE) is not None  # type: ignore[attr-defined]
            if (named_zh or named_en) and zh not in text and not (named_en and _other_group_names(en, text)):
                problems.append(f"{name}: {zh}")
    assert problems == []


def _other_group_names(en: str, text: str) -> bool:
    """An English phrase shared by several groups passes when the clause names any of them."""
    return any(zh in text for zh, pattern in GROUPS if pattern == en)


def test_where_the_plan_sets_no_conditions_both_languages_say_so(engine: Engine) -> None:
    for name, rule in _rules(engine):
        zh = "没有规定条件" in rule.why["zh"]  # type: ignore[attr-defined]
        en = "sets no conditions" in rule.why["en"]  # type: ignore[attr-defined]
        assert zh == en, name


def test_the_surcharge_credit_keeps_its_conditions_as_written(engine: Engine) -> None:
    rule = next(r for r in engine.routes.flows["enterprise"].rules if r.intent == "enterprise.tax_credit")
    conditions = ("试点企业", "兴办职业教育的投资", "经过有关部门认可后", "按投资额的一定比例",
                  "当年应缴教育费附加和地方教育附加")
    for words in conditions:
        assert words in rule.why["zh"] and words in engine.content.clauses["三(三)10"].text


def test_asked_departments_come_from_the_clauses(engine: Engine) -> None:
    for name, rule in _rules(engine):
        responsible = {d for c in rule.source for d in engine.content.clauses[c].responsible}  # type: ignore[attr-defined]
        assert set(rule.ask) <= responsible, name  # type: ignore[attr-defined]


# ---- the step function ---------------------------------------------------------------------------------
def test_steps_then_result(engine: Engine) -> None:
    routes = engine.routes
    first = routes.step("student", {}, "zh")
    assert isinstance(first, RouteStep) and (first.id, first.number, first.total) == ("who", 1, 2)
    second = routes.step("student", {"who": "junior"}, "en")
    assert isinstance(second, RouteStep) and second.id == "want" and second.question == "What do you want?"
    prefilled = routes.step("student", {"want": "aid"}, "zh")       # a prefilled later step asks the earlier one
    assert isinstance(prefilled, RouteStep) and prefilled.id == "who"
    result = routes.step("student", {"want": "aid", "who": "junior"}, "zh")
    assert isinstance(result, RouteResult)
    assert result.title == "初三学生/家长·经济资助：方案里适用于你的路线和支持"
    assert [i.intent for i in result.items] == ["subsidy.student_aid", "subsidy.tuition"]
    assert result.ask == ("区教委", "区财政局", "区发展改革委") and result.profile == "junior"
    assert list(result.answers) == ["who", "want"]


@pytest.mark.parametrize(("flow", "answers", "kind", "value"), [
    ("nope", {}, "flow", "nope"),
    ("student", {"size": "large"}, "step", "size"),
    ("student", {"who": "large"}, "option", "large"),
    ("enterprise", {"goal": ""}, "option", ""),
])
def test_unknown_names_raise(engine: Engine, flow: str, answers: dict, kind: str, value: str) -> None:
    with pytest.raises(UnknownRoute) as caught:
        engine.routes.step(flow, answers, "zh")
    assert (caught.value.kind, caught.value.value) == (kind, value)


def test_back_and_button_data(engine: Engine) -> None:
    routes = engine.routes
    assert routes.back("student", {"who": "adult", "want": "cert"}) == {"who": "adult"}
    assert routes.back("student", {}) == {}
    longest = max((routes.encode(f, a) for f in routes.flows for a in routes.paths(f)), key=len)
    assert len(("r:" + longest).encode()) < 64
    for flow in routes.flows:
        for answers in routes.paths(flow):
            assert routes.decode(routes.encode(flow, answers)) == (flow, answers)
    assert routes.decode("student:,study") == ("student", {"want": "study"})
    with pytest.raises(UnknownRoute):
        routes.decode("student:veteran,study,extra")


@pytest.mark.parametrize(("text", "flow", "answers"), [
    ("我是退役军人想读书", "student", {"who": "veteran", "want": "study"}),
    ("我们厂想招学徒", "enterprise", {"goal": "apprentice"}),
    ("我40岁了没文凭想学门手艺", "student", {"who": "adult", "want": "skills"}),
    ("我家娃中考没考好能读啥", "student", {"who": "junior", "want": "study"}),
    ("我们厂想跟职校合作能得到啥", "enterprise", {}),
    ("我們公司想建實訓基地", "enterprise", {"goal": "base"}),
    ("I'm a veteran and want a certificate", "student", {"who": "veteran", "want": "cert"}),
    ("3加2是啥子意思", None, None),
    ("企业能抵免多少教育费附加", None, None),
    ("", None, None),
])
def test_situation_detection(engine: Engine, text: str, flow: str | None, answers: dict | None) -> None:
    offer = engine.routes.detect(text)
    assert (offer.flow, offer.answers) == (flow, answers) if offer else flow is None


# ---- broken files are refused, naming the place --------------------------------------------------------
def _broken(tmp_path: Path, engine: Engine, edit) -> str:
    data = yaml.safe_load(ROUTES.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError) as caught:
        load_routes(path, engine.intents, engine.content, tuple(engine.menu.audiences))
    return str(caught.value)


def _rule(data: dict, flow: str, rule: str) -> dict:
    f = next(x for x in data["flows"] if x["id"] == flow)
    return next(r for r in f["rules"] if r["id"] == rule)


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: _rule(d, "student", "grants").update(intent="subsidy.free_money"),
     "flow student, rule grants, field intent: names an intent that does not exist"),
    (lambda d: _rule(d, "enterprise", "land").update(source=["三(三)99"]),
     "flow enterprise, rule land, field source: names clauses ['三(三)99']"),
    (lambda d: _rule(d, "enterprise", "land").update(ask=["区公安局"]),
     "flow enterprise, rule land, field ask: names ['区公安局'], not in the 责任单位"),
    (lambda d: _rule(d, "student", "grants")["why"].pop("en"),
     "flow student, rule grants, field why.en: is missing the en text"),
    (lambda d: _rule(d, "student", "grants").update(when={"want": ["money"]}),
     "flow student, rule grants, field when.want: names unknown options ['money']"),
    (lambda d: d["flows"][0].update(rules=[r for r in d["flows"][0]["rules"] if "aid" not in r["when"]["want"]]),
     "flow student, field rules: the path who=junior → want=aid reaches no rule (a dead end)"),
    (lambda d: _rule(d, "student", "tuition_subsidy").update(intent="subsidy.student_aid"),
     "flow student, rule tuition_subsidy, field intent: on the path who=junior → want=aid intent "
     "subsidy.student_aid comes twice"),
    (lambda d: d["flows"][0].update(result_title={"zh": "{age}", "en": "x"}),
     "flow student, field result_title.zh: names unknown steps ['age']"),
    (lambda d: d["flows"][1].update(audience="martians"), "flow enterprise, field audience"),
])
def test_broken_routes_are_refused_with_the_place(tmp_path: Path, engine: Engine, edit, expected: str) -> None:
    message = _broken(tmp_path, engine, edit)
    assert message.startswith(str(tmp_path / "routes.yaml")) and expected in message


def test_without_routes_yaml_there_are_no_flows(tmp_path: Path, engine: Engine) -> None:
    assert load_routes(tmp_path / "routes.yaml", engine.intents, engine.content).flows == {}
