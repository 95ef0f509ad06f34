"""The intent loader and `vocbot intents check`: shipped data complete, broken files named clearly."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from bot.cli.main import cli
from bot.config import ROOT
from bot.core.checks import check
from bot.core.engine import Engine
from bot.core.intents import load_intents
from bot.errors import DataError

REQUIRED_IDS = [
    "policy.about", "policy.goals", "policy.schools", "policy.contact", "policy.quality",
    "policy.advisory_committee", "policy.regional", "policy.labor_education", "pathway.overview",
    "pathway.3plus2", "pathway.3plus4", "pathway.five_year", "pathway.single_exam", "pathway.bachelor",
    "pathway.technician", "pathway.progression_rate", "admission.enrollment", "admission.adults",
    "admission.compulsory", "study.practice", "study.internship", "study.majors", "study.digital",
    "cert.one_plus_x", "cert.credit_bank", "cert.exemption", "career.equal_treatment", "career.skilled_pay",
    "career.masters", "subsidy.student_aid", "subsidy.tuition", "subsidy.training", "training.adult",
    "training.military", "apprenticeship.modern", "apprenticeship.enterprise", "enterprise.tax_credit",
    "enterprise.certification", "enterprise.land", "enterprise.run_school", "enterprise.cooperation",
    "enterprise.training_base", "enterprise.part_time", "enterprise.group", "enterprise.training_org",
    "teacher.dual_qualified", "teacher.recruitment", "teacher.development", "teacher.pay", "policy.principles",
    "training.lifelong", "policy.funding", "policy.party_leadership", "policy.coordination", "smalltalk.greeting",
    "smalltalk.thanks", "smalltalk.identity", "support.human",
]

GOOD_INTENT = {
    "id": "demo.one", "audience": "student", "title": {"zh": "演示", "en": "Demo"},
    "examples": {"zh": [f"演示问题{i}" for i in range(12)], "en": [f"demo question {i}" for i in range(4)]},
    "answer": {"zh": "演示回答（三(一)4）", "en": "Demo answer (三(一)4)"},
    "source": ["三(一)4"], "related": ["demo.two", "demo.three"], "reviewed": "2026-11-29", "review_by": "2027-05-31",
}


def _intent(iid: str, **changes: object) -> dict:
    data = json.loads(json.dumps(GOOD_INTENT))
    data["id"] = iid
    data["examples"]["zh"] = [f"{iid}问题{i}" for i in range(12)]
    data["examples"]["en"] = [f"{iid} question {i}" for i in range(4)]
    data["related"] = [r for r in ("demo.one", "demo.two", "demo.three") if r != iid][:2]
    data.update(changes)
    return data


@pytest.fixture
def intents_dir(tmp_path: Path) -> Path:
    """A folder with three valid intents."""
    folder = tmp_path / "intents"
    folder.mkdir()
    (folder / "demo.yaml").write_text(yaml.safe_dump({"intents": [_intent("demo.one"), _intent("demo.two"),
                                                                  _intent("demo.three")]}, allow_unicode=True),
                                      encoding="utf-8")
    return folder


def test_shipped_intents_have_every_required_id(engine: Engine) -> None:
    assert sorted(engine.intents) == sorted(REQUIRED_IDS)


@pytest.mark.parametrize("iid", REQUIRED_IDS)
def test_shipped_intent_is_complete(engine: Engine, iid: str) -> None:
    intent = engine.intents[iid]
    assert len(intent.examples["zh"]) >= 12 and len(intent.examples["en"]) >= 4
    assert intent.answer["zh"].strip() and intent.answer["en"].strip()
    assert intent.source and all(cid in engine.content.clauses for cid in intent.source)
    assert 2 <= len(intent.related) <= 4 and all(r in engine.intents and r != iid for r in intent.related)
    assert intent.reviewed <= intent.review_by
    assert intent.title["zh"] and intent.title["en"]


@pytest.mark.parametrize("iid", [i for i in REQUIRED_IDS if not i.startswith(("smalltalk.", "support."))])
def test_policy_answers_cite_a_clause_inline(engine: Engine, iid: str) -> None:
    intent = engine.intents[iid]
    for lang in ("zh", "en"):
        assert any(cid in intent.answer[lang] for cid in intent.source), (iid, lang)


@pytest.mark.parametrize("iid", REQUIRED_IDS)
def test_answers_fit_a_phone_screen(engine: Engine, iid: str) -> None:
    assert len(engine.intents[iid].answer["zh"]) <= 600


# Wording that brings in background from outside the plan (what a term "usually means" elsewhere, other
# schemes): answers say what the plan says and, where it is silent, that it is.
BACKGROUND = ("一般说明", "非方案原文", "通常指", "一般指", "常被称为", "General background", "not the plan's words",
              "usually means", "generally means", "often called")


@pytest.mark.parametrize("iid", REQUIRED_IDS)
def test_answers_bring_in_no_background_from_outside_the_plan(engine: Engine, iid: str) -> None:
    for lang in ("zh", "en"):
        found = [w for w in BACKGROUND if w in engine.intents[iid].answer[lang]]
        assert found == [], (iid, lang, found)


def test_targets_are_presented_as_2022_targets(engine: Engine) -> None:
    for intent in engine.intents.values():
        if "45%" in intent.answer["zh"]:
            assert "2022" in intent.answer["zh"], intent.id


def test_valid_folder_loads(intents_dir: Path) -> None:
    loaded = load_intents(intents_dir)
    assert list(loaded.intents) == ["demo.one", "demo.two", "demo.three"]
    assert len(loaded.version) == 12


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: d["intents"][0].pop("answer"), "intent demo.one, field answer"),
    (lambda d: d["intents"][0]["answer"].pop("en"), "intent demo.one, field answer.en"),
    (lambda d: d["intents"][0].__setitem__("related", ["demo.two", "demo.nowhere"]), "unknown intent 'demo.nowhere'"),
    (lambda d: d["intents"][1].__setitem__("id", "demo.one"), "duplicate id"),
    (lambda d: d["intents"][0]["examples"].__setitem__("en", ["only one"]), "field examples.en"),
    (lambda d: d["intents"][0].__setitem__("audience", "aliens"), "field audience"),
    (lambda d: d["intents"][0].__setitem__("review_by", "someday"), "field review_by"),
    (lambda d: d["intents"][0].__setitem__("source", []), "field source"),
])
def test_broken_intent_names_file_intent_and_field(intents_dir: Path, mutate, expected: str) -> None:
    path = intents_dir / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_intents(intents_dir)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_bad_indentation_names_the_line(intents_dir: Path) -> None:
    (intents_dir / "broken.yaml").write_text("intents:\n  - id: x\n   audience: student\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken\.yaml:3: is not valid YAML"):
        load_intents(intents_dir)


def test_non_utf8_file_is_named(intents_dir: Path) -> None:
    (intents_dir / "latin1.yaml").write_bytes("intents:\n  - id: café\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1\.yaml:2: is not valid UTF-8"):
        load_intents(intents_dir)


def _copy_data(tmp_path: Path) -> tuple[Path, Path]:
    intents, content = tmp_path / "intents", tmp_path / "content"
    shutil.copytree(ROOT / "intents", intents)
    shutil.copytree(ROOT / "content", content)
    return intents, content


@pytest.mark.parametrize(("breakage", "message"), [
    ("intents/policy.yaml", "is not valid YAML"),
    ("content/plan.yaml", "is not valid YAML"),
])
def test_cli_check_fails_with_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, breakage: str,
                                             message: str) -> None:
    intents, content = _copy_data(tmp_path)
    target = tmp_path / breakage
    target.write_text(target.read_text(encoding="utf-8") + "\n  - : [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(intents))
    monkeypatch.setenv("VOCBOT_CONTENT_DIR", str(content))
    result = CliRunner().invoke(cli, ["intents", "check"])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_check_unknown_source_clause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    intents, content = _copy_data(tmp_path)
    path = intents / "teachers.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["intents"][0]["source"] = ["九(九)99"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(intents))
    monkeypatch.setenv("VOCBOT_CONTENT_DIR", str(content))
    result = CliRunner().invoke(cli, ["intents", "check"])
    assert result.exit_code == 1
    assert "九(九)99" in result.output and "field source" in result.output


def _silent(data: dict, value: object) -> None:
    data["intents"][0]["silent_on"] = value


@pytest.mark.parametrize(("mutate", "expected"), [
    (lambda d: _silent(d, ["fees"]), "intent demo.one, field silent_on: must map detail kinds"),
    (lambda d: _silent(d, {"fees": {"zh": "方案没有规定学费（三(一)4）。"}}),
     "intent demo.one, field silent_on.fees.en"),
    (lambda d: _silent(d, {"fees": {"zh": "方案没有规定学费。请咨询区教委（三(一)4）。", "en": "No fees (三(一)4)."}}),
     "intent demo.one, field silent_on.fees.zh: must be one sentence"),
    (lambda d: _silent(d, {"fees": {"zh": "方案没有规定学费（三(一)4）。", "en": "No fees (三(一)4)"}}),
     "intent demo.one, field silent_on.fees.en: must be one sentence"),
    (lambda d: _silent(d, {"price": {"zh": "方案没有规定学费（三(一)4）。", "en": "No fees (三(一)4)."}}),
     "intent demo.one, field silent_on.price: is not a detail kind"),
])
def test_broken_silent_on_names_file_intent_and_field(intents_dir: Path, mutate, expected: str) -> None:
    shutil.copy(ROOT / "intents" / "details.yaml", intents_dir / "details.yaml")
    path = intents_dir / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    mutate(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_intents(intents_dir)
    assert str(path) in str(info.value) and expected in str(info.value)


@pytest.mark.parametrize(("sentence", "expected"), [
    ("方案没有规定学费，请咨询区教委。", "must cite one of the intent's clauses"),
    ("方案没有规定学费，请咨询区税务局（三(一)4）。", "names 区税务局, not responsible"),
])
def test_cli_check_refuses_silent_on_without_clause_or_with_a_stray_department(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sentence: str, expected: str) -> None:
    intents, content = _copy_data(tmp_path)
    path = intents / "pathways.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    target = next(i for i in data["intents"] if i["id"] == "pathway.five_year")
    target["silent_on"]["fees"]["zh"] = sentence
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(intents))
    monkeypatch.setenv("VOCBOT_CONTENT_DIR", str(content))
    result = CliRunner().invoke(cli, ["intents", "check"])
    assert result.exit_code == 1
    assert "pathways.yaml" in result.output and "intent pathway.five_year, field silent_on.fees.zh" in result.output
    assert expected in result.output


@pytest.mark.parametrize(("rule", "expected"), [
    ({"id": "x", "kind": "prices", "message": {"zh": "无", "en": "none"}}, "intent x, field kind"),
    ({"id": "x", "message": {"zh": "无", "en": "none"}}, "intent x, field kind"),
    ({"id": "x", "kind": "dates", "unless": ["回(北碚"], "message": {"zh": "无", "en": "none"}},
     "intent x, field unless"),
    ({"id": "x", "kind": "dates", "unless": "回北碚", "message": {"zh": "无", "en": "none"}},
     "unless: must be a list"),
])
def test_a_limit_rule_names_a_kind_of_the_vocabulary(tmp_path: Path, rule: dict, expected: str) -> None:
    intents, _ = _copy_data(tmp_path)
    path = intents / "limits.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["rules"].append(rule)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_intents(intents)
    assert "limits.yaml" in str(info.value) and expected in str(info.value)


def test_cli_check_refuses_a_glossary_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    intents, content = _copy_data(tmp_path)
    path = content / "glossary.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["terms"][0]["general"]["zh"] = "先在中职学习3年，再到高职学习2年。"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("VOCBOT_INTENTS_DIR", str(intents))
    monkeypatch.setenv("VOCBOT_CONTENT_DIR", str(content))
    result = CliRunner().invoke(cli, ["intents", "check"])
    assert result.exit_code == 1
    assert "glossary.yaml, intent 3+2, field general.zh: holds the number '3'" in result.output


def test_shipped_data_passes_check(engine: Engine) -> None:
    report = check(engine, today=dt.date(2026, 12, 4))
    assert report.intents == len(REQUIRED_IDS)
    assert not [w for w in report.warnings if "ambiguous" in w]


def test_check_warns_on_stale_review_date(engine: Engine) -> None:
    report = check(engine, today=dt.date(2030, 1, 1))
    assert any("review_by" in w and "has passed" in w for w in report.warnings)


def test_check_warns_on_near_duplicate_examples_across_intents(intents_dir: Path, tmp_path: Path) -> None:
    path = intents_dir / "demo.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["intents"][0]["examples"]["zh"][0] = "职高毕业能不能读大专"
    data["intents"][1]["examples"]["zh"][0] = "职高毕业能不能读大专呢"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    from bot.core.content import load_content
    from bot.core.menu import Menu

    content = dataclasses.replace(load_content(ROOT / "content"), glossary=[])   # its links name shipped intents
    engine = Engine(load_intents(intents_dir), content, Menu({}, {}))
    warnings = check(engine, today=dt.date(2026, 11, 29)).warnings
    assert any("ambiguous" in w and "demo.one" in w and "demo.two" in w for w in warnings)


def test_cli_list_json_shape() -> None:
    result = CliRunner().invoke(cli, ["intents", "list", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == len(REQUIRED_IDS) and {r["id"] for r in rows} == set(REQUIRED_IDS)
    for row in rows:
        assert set(row) == {"id", "audience", "examples_zh", "examples_en", "source", "related"}
        assert isinstance(row["examples_zh"], int) and row["examples_zh"] >= 12 and row["examples_en"] >= 4


def test_check_warns_when_an_out_of_scope_question_is_in_a_labelled_set(engine: Engine, tmp_path: Path) -> None:
    leaked = engine.intent_set.out_of_scope[0]
    (tmp_path / "x.jsonl").write_text(json.dumps({"q": leaked, "intent": None}) + "\n", encoding="utf-8")
    warnings = check(engine, today=dt.date(2026, 11, 29), data_dir=tmp_path).warnings
    assert any(repr(leaked) in w and "x.jsonl" in w for w in warnings)


@pytest.mark.parametrize("file_name", ["test_questions.jsonl", "dev_questions.jsonl"])
def test_check_warns_when_a_curated_example_is_a_labelled_question(engine: Engine, tmp_path: Path,
                                                                   file_name: str) -> None:
    example = engine.intents["pathway.3plus2"].examples["zh"][0]
    row = {"q": example.upper() + "？", "intent": "pathway.3plus2"}   # the same once normalised
    (tmp_path / file_name).write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    warnings = check(engine, today=dt.date(2026, 11, 29), data_dir=tmp_path).warnings
    assert any(repr(example) in w and file_name in w for w in warnings)


def test_check_warns_when_an_out_of_scope_question_is_a_curated_example(engine: Engine) -> None:
    both = copy.copy(engine)
    both.intent_set = dataclasses.replace(engine.intent_set, out_of_scope=("3+2是啥子意思", "今天天气咋样"))
    warnings = check(both, today=dt.date(2026, 11, 29)).warnings
    assert [w for w in warnings if "out_of_scope" in w] == [
        "out_of_scope.yaml: '3+2是啥子意思' is also a curated example; it cannot be both."]


def test_no_training_question_repeats_a_labelled_question(engine: Engine) -> None:
    warnings = check(engine, data_dir=ROOT / "tests" / "data").warnings
    assert [w for w in warnings if "tests/data" in w or "out_of_scope" in w] == []


def test_out_of_scope_file_is_validated(intents_dir: Path) -> None:
    (intents_dir / "out_of_scope.yaml").write_text("out_of_scope:\n  - zh: [天气]\n", encoding="utf-8")
    with pytest.raises(DataError, match="topic"):
        load_intents(intents_dir)
