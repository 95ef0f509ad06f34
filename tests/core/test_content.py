"""Content held to the plan: every statement cites its clause, general explanations stay general, and the
English and Chinese texts carry the same clause ids, numbers and departments. Each rule is first shown to
catch a bad sample, then applied to everything shipped."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import ROOT
from bot.core.content import clause_pattern, load_content
from bot.core.engine import Engine
from bot.errors import DataError

SHIPPED = Engine.load(ROOT / "intents", ROOT / "content")
CLAUSES = tuple(SHIPPED.content.clauses)
CITE = clause_pattern(CLAUSES)
DEPARTMENTS = tuple(d.name["zh"] for d in SHIPPED.content.departments.values())
DOC_NUMBERS = ("北碚府发〔2020〕44号", "国发〔2019〕4号", "渝府发〔2019〕18号")
PLAN_INTENTS = sorted(i for i in SHIPPED.intents if not i.startswith(("smalltalk.", "support.")))
# A paragraph that only points to another answer ("见“持证免修免考”" / 'see "..."') states nothing itself.
POINTER = re.compile(r'见[“"]|见相关问答|[Ss]ee (the related|")')
# What a general explanation must never hold: Beibei-specific facts.
BEIBEI_FACT = re.compile(
    r"[0-9０-９]+\s*(元|人|所|年|月|日|%|％|个|家|名)"            # amounts, quotas, dates, counts
    r"|北碚|重庆|Beibei|Chongqing|本区|区教委|区人力社保局"              # the place and its offices
    r"|[\u4e00-\u9fff]{2,}(职业技术学院|职业学院|大学|中学|职教中心|有限公司|公司)"   # named schools and firms
    r"|\b[A-Z][a-z]+ (Vocational|Technical|Polytechnic) (College|School|Institute)\b|\b(Co\.|Ltd|Inc)\b")


def statement_problems(text: str) -> list[str]:
    """Paragraphs that state something without citing a clause."""
    return [p for p in text.split("\n\n") if p.strip() and not CITE.search(p) and not POINTER.search(p)]


def numbers(text: str) -> set[str]:
    """The numbers a text states, leaving out clause ids and document numbers."""
    for doc in DOC_NUMBERS:
        text = text.replace(doc, " ")
    return set(re.findall(r"\d+", CITE.sub(" ", text)))


def parity_problems(zh: str, en: str) -> list[str]:
    """Clause ids, numbers or departments one language carries and the other does not."""
    problems = []
    for what, get in (("clause", lambda t: set(CITE.findall(t))), ("number", numbers),
                      ("department", lambda t: {d for d in DEPARTMENTS if d in t})):
        only_zh, only_en = get(zh) - get(en), get(en) - get(zh)
        if only_zh or only_en:
            problems.append(f"{what}: zh only {sorted(only_zh)}, en only {sorted(only_en)}")
    return problems


# ---- the rules catch what they are meant to catch ----------------------------------------------------------
@pytest.mark.parametrize(("text", "bad"), [
    ("方案提出支持“3+2”等形式（三(一)4）。\n\n请咨询区教委。", 1),
    ("方案提出支持“3+2”等形式（三(一)4）。\n\n方案没有规定学费，请咨询区教委（三(一)2）。", 0),
    ("The plan supports \"3+2\".", 1),
    ("学费问题，见“学费与经费”。", 0),
    ("方案一半以上的内容（一）", 0),          # （一） is the clause 一
    ("一半以上", 1),                           # the character 一 alone is not a citation
])
def test_statement_rule(text: str, bad: int) -> None:
    assert len(statement_problems(text)) == bad


@pytest.mark.parametrize(("text", "flagged"), [
    ("中职学习三年，学费每年3000元。", True),
    ("北碚有一所高职。", True),
    ("重庆某某职业技术学院开设此专业。", True),
    ("Offered at Chongqing Vocational College.", True),
    ("招收初中毕业生的连续培养形式。", False),
    ("A continuous programme for junior-secondary graduates.", False),
])
def test_beibei_fact_rule(text: str, flagged: bool) -> None:
    assert bool(BEIBEI_FACT.search(text)) is flagged


@pytest.mark.parametrize(("zh", "en", "bad"), [
    ("到2022年（二(二)），请咨询区教委。", "By 2022 (二(二)); ask 区教委.", 0),
    ("到2022年（二(二)）。", "By 2022 (二(二), 三(一)4).", 1),
    ("顶岗实习6个月（二(二)）。", "A placement of six months (二(二)).", 1),
    ("请咨询区教委、区财政局（三(五)16）。", "Ask the Education Commission (区教委) (三(五)16).", 1),
])
def test_parity_rule(zh: str, en: str, bad: int) -> None:
    assert len(parity_problems(zh, en)) == bad


# ---- applied to everything shipped ---------------------------------------------------------------------------
@pytest.mark.parametrize("iid", PLAN_INTENTS)
def test_every_statement_of_an_answer_cites_its_clause(iid: str) -> None:
    intent = SHIPPED.intents[iid]
    for lang in ("zh", "en"):
        assert statement_problems(intent.answer[lang]) == [], (iid, lang)
        for kind, texts in intent.silent_on.items():
            assert statement_problems(texts[lang]) == [], (iid, kind, lang)


@pytest.mark.parametrize("iid", PLAN_INTENTS)
def test_english_and_chinese_answers_agree(iid: str) -> None:
    intent = SHIPPED.intents[iid]
    assert parity_problems(intent.answer["zh"], intent.answer["en"]) == [], iid
    for kind, texts in intent.silent_on.items():
        assert parity_problems(texts["zh"], texts["en"]) == [], (iid, kind)


@pytest.mark.parametrize("term", SHIPPED.content.glossary, ids=lambda t: t.term)
def test_general_explanations_hold_no_beibei_fact(term) -> None:
    for lang in ("zh", "en"):
        assert not BEIBEI_FACT.search(term.general[lang]), (term.term, lang, term.general[lang])
        assert "方案" not in term.general[lang] and "plan" not in term.general[lang].lower()
        assert statement_problems(term.plan[lang]) == [], (term.term, lang)
    assert parity_problems(term.plan["zh"], term.plan["en"]) == [], term.term


def test_answers_say_2022_targets_are_targets() -> None:
    """A sentence with 2022 presents it as the plan's target, never as today's fact."""
    marks = {"zh": ("提出", "目标", "力争", "要求", "指标"), "en": ("target", "aim", "strive")}
    texts = [(i.id, lang, i.answer[lang]) for i in SHIPPED.intents.values() for lang in ("zh", "en")]
    texts += [(t.term, lang, t.plan[lang]) for t in SHIPPED.content.glossary for lang in ("zh", "en")]
    for owner, lang, text in texts:
        for sentence in re.split(r"(?<=[。；;])|(?<=\. )|\n", text):
            if "2022" in sentence:
                assert any(m in sentence.lower() for m in marks[lang]), (owner, lang, sentence)


def test_the_audit_findings_stay_fixed() -> None:
    """The statements the audit found beyond the plan (issue 13) do not come back."""
    answers = {i: {lang: SHIPPED.intents[i].answer[lang] for lang in ("zh", "en")} for i in SHIPPED.intents}
    assert "如“3+4”" not in answers["pathway.bachelor"]["zh"]
    assert "e.g. \"3+4\"" not in answers["pathway.bachelor"]["en"]
    assert "中职学生升入高职的形式" not in answers["pathway.single_exam"]["zh"]
    assert "鼓励教师" in answers["cert.one_plus_x"]["zh"] and "encourages teachers" in answers["cert.one_plus_x"]["en"]
    assert "育训结合" in answers["training.adult"]["en"]
    assert "tax offsets" not in answers["policy.contact"]["en"]
    assert "跟岗" not in answers["study.internship"]["zh"] + answers["study.internship"]["en"]
    assert "属于“企业新型学徒制”" not in answers["apprenticeship.modern"]["zh"]
    assert "属于“现代学徒制”" not in answers["apprenticeship.enterprise"]["zh"]
    assert "/api/clause/" in answers["policy.about"]["zh"] and "/api/clause/" in answers["policy.about"]["en"]


# ---- the loader refuses general explanations with numbers or local facts -------------------------------------
@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    """A copy of the shipped content folder."""
    folder = tmp_path / "content"
    shutil.copytree(ROOT / "content", folder)
    return folder


def _edit_term(folder: Path, term: str, **changes: object) -> None:
    path = folder / "glossary.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entry = next(t for t in data["terms"] if t["term"] == term)
    for key, value in changes.items():
        section, _, lang = key.partition("__")
        if lang:
            entry[section][lang] = value
        else:
            entry[section] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"general__zh": "先在中职学习3年，再到高职学习2年。"}, "intent 3+2, field general.zh: holds the number '3'"),
    ({"general__en": "Three years, then 2 more."}, "intent 3+2, field general.en: holds the number '2'"),
    ({"general__zh": "北碚的中职与高职分段培养形式。"}, "intent 3+2, field general.zh: names '北碚'"),
    ({"plan__zh": "方案支持“3+2”等形式。"}, "intent 3+2, field plan.zh: must cite the clause"),
    ({"plan__zh": "方案提出到2025年开设“3+2”（三(一)4）。"}, "intent 3+2, field plan.zh: holds the number '2025'"),
    ({"clause": "九(九)9"}, "intent 3+2, field clause: names clause '九(九)9'"),
    ({"general": "text"}, "intent 3+2, field general: must have a zh and an en text"),
])
def test_glossary_errors_name_file_term_and_field(content_dir: Path, changes: dict, expected: str) -> None:
    _edit_term(content_dir, "3+2", **changes)
    with pytest.raises(DataError) as error:
        load_content(content_dir)
    assert "glossary.yaml" in str(error.value) and expected in str(error.value)


def test_a_general_explanation_may_quote_the_plan_with_its_clause(content_dir: Path) -> None:
    _edit_term(content_dir, "顶岗实习", general__zh="在实际岗位上工作的实习；本方案写“顶岗实习时间6个月”（二(二)）。")
    assert load_content(content_dir).glossary


def test_a_quotation_that_is_not_the_plans_words_is_refused(content_dir: Path) -> None:
    _edit_term(content_dir, "顶岗实习", general__zh="在实际岗位上工作的实习；“顶岗实习时间9个月”（二(二)）。")
    with pytest.raises(DataError, match="holds the number '9'"):
        load_content(content_dir)
