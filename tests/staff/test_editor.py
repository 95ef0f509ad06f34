"""The answer editor: a new intent from a cluster, validation as `intents check`, previews escaped in every channel,
save with a version, publish without restart, restore; CSRF on every POST."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import test_staff
import yaml
from aiohttp.test_utils import TestClient
from loop_data import ANSWER_ZH, INTENT, QUESTION, editor_form, intent_change
from test_staff import HOSTILE, login, service_of

from bot.config import ROOT, Settings
from bot.core import editing
from bot.log import versions

clock, dash, staff_settings = test_staff.clock, test_staff.dash, test_staff.staff_settings     # the fixtures


async def _cluster_link(dash: TestClient) -> str:
    await service_of(dash).ask(QUESTION, channel="web", user_id="asker")
    page = await (await dash.get("/staff/unanswered?lang=en")).text()
    article = next(a for a in page.split("<article")[1:] if QUESTION in a)
    match = re.search(r'href="(/staff/editor\?enquiry_id=[^"]+)"', article)
    assert match, page
    return match.group(1).replace("&amp;", "&")


async def test_a_new_answer_starts_from_the_cluster_with_its_questions_filled_in(dash: TestClient) -> None:
    await login(dash)
    link = await _cluster_link(dash)
    page = await (await dash.get(link)).text()
    assert QUESTION in page, link
    assert re.search(r'<textarea name="examples_zh"[^>]*>[^<]*' + re.escape(QUESTION), page)
    assert "三(一)4" in page and "构建职业技术教育与普通高中教育相互融通" in page    # the clause text beside it
    for kind in ("fees", "procedure", "eligibility"):
        assert f'name="silent_{kind}_zh"' in page


async def test_preview_validates_and_shows_every_channel_without_saving(dash: TestClient,
                                                                       staff_settings: Settings) -> None:
    _, token = await login(dash)
    response = await dash.post("/staff/editor?lang=en", data=[*editor_form(), ("csrf", token), ("action", "preview"),
                                                             ("question", QUESTION)])
    page = await response.text()
    assert response.status == 200, page
    assert "方案提出构建职业技术教育与普通高中教育相互融通" in page
    assert page.count('class="preview web"') == 2 and page.count('class="preview telegram"') == 2
    assert re.search(r"→ <strong>answer</strong> " + re.escape(INTENT), page)       # the question now answered
    assert not (staff_settings.intents_dir / "pathway_transfer_general.yaml").exists()


@pytest.mark.parametrize("field", ["answer_zh", "answer_en", "title_zh", "title_en", "silent_procedure_zh"])
async def test_hostile_editor_input_is_escaped_in_every_preview(dash: TestClient, field: str) -> None:
    _, token = await login(dash)
    form = editor_form(**{field: ANSWER_ZH + HOSTILE if field.startswith("answer") else HOSTILE})
    page = await (await dash.post("/staff/editor", data=[*form, ("csrf", token), ("action", "preview")])).text()
    assert HOSTILE not in page and "<img" not in page
    if field.startswith("answer"):
        # web and terminal by Jinja2, Telegram's HTML by its renderer: three previews per language
        assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"examples_zh": QUESTION}, "field examples.zh: needs at least 12 questions, has 1"),
    ({"source": ["九(九)9"]}, "九(九)9"),
    ({"source": []}, "field source: needs at least one clause id"),
    ({"related": ["pathway.overview"]}, "field related: needs 2-4 intent ids, has 1"),
    ({"related": ["pathway.overview", "no.such"]}, "names an unknown intent"),
    ({"answer_en": ""}, "field answer.en: is missing the en text"),
    ({"id": "Bad Id!"}, "is not a valid intent id"),
    ({"id": "pathway.3plus2"}, "duplicate id"),
    ({"file": "../../evil.txt"}, "evil.txt is not an intents file"),
    ({"file": "synonyms.yaml"}, "synonyms.yaml is not an intents file"),
])
async def test_the_editor_refuses_what_intents_check_refuses(dash: TestClient, staff_settings: Settings,
                                                             overrides: dict, expected: str) -> None:
    _, token = await login(dash)
    before = sorted(p.name for p in staff_settings.intents_dir.iterdir())
    for action in ("preview", "save", "publish"):
        response = await dash.post("/staff/editor", data=[*editor_form(**overrides), ("csrf", token),
                                                           ("action", action)], allow_redirects=False)
        assert response.status == 422
        assert expected in (await response.text()).replace("&#39;", "'")
    assert sorted(p.name for p in staff_settings.intents_dir.iterdir()) == before
    assert service_of(dash).engine.intents.keys() == service_of(dash).engine.intents.keys() - {INTENT}


async def test_save_writes_its_own_file_and_a_version_then_publish_answers_without_restart(
        dash: TestClient, staff_settings: Settings) -> None:
    _, token = await login(dash)
    service = service_of(dash)
    old_engine = service.engine
    assert service.engine.ask(QUESTION).decision == "fallback"
    response = await dash.post("/staff/editor", data=[*editor_form(), ("csrf", token), ("action", "save")],
                               allow_redirects=False)
    assert response.status == 303
    path = staff_settings.intents_dir / "pathway_transfer_general.yaml"
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["intents"][0]["id"] == INTENT
    assert service.engine is old_engine                       # saved, not yet live
    [version] = service.store.read(versions.list_versions)
    assert (version["author"], version["intent"], version["action"], version["file"]) == \
        ("admin", INTENT, "create", path.name)
    assert "+  - id: pathway.transfer_general" in version["diff"]
    page = await (await dash.get("/staff/versions")).text()
    assert INTENT in page and "admin" in page
    await dash.post("/staff/publish", data={"csrf": token})
    reply = service.engine.ask(QUESTION)
    assert (reply.decision, reply.intent) == ("answer", INTENT)
    assert "三(一)4" in reply.answer


async def test_a_broken_file_on_disk_cannot_be_published_and_the_old_engine_stays(dash: TestClient,
                                                                                  staff_settings: Settings) -> None:
    _, token = await login(dash)
    service = service_of(dash)
    old = service.engine
    (staff_settings.intents_dir / "broken.yaml").write_text("intents:\n  - id: x\n    audience: nobody\n",
                                                            encoding="utf-8")
    page = await (await dash.post("/staff/publish?lang=en", data={"csrf": token})).text()
    assert service.engine is old
    assert "Not published; the previous version stays live" in page and "broken.yaml" in page


async def test_an_edit_keeps_the_rest_of_the_file_byte_for_byte(dash: TestClient, staff_settings: Settings) -> None:
    _, token = await login(dash)
    path = staff_settings.intents_dir / "pathways.yaml"
    shutil.copyfile(ROOT / "intents" / "pathways.yaml", path)   # the shipped file, with its comments and layout
    before = path.read_text(encoding="utf-8")
    page = await (await dash.get("/staff/editor?intent=pathway.3plus2")).text()
    assert 'value="pathways.yaml"' in page
    form = _form_of(page)
    form = [(k, v + "（已复核）" if k == "title_zh" else v) for k, v in form]
    response = await dash.post("/staff/editor", data=[*form, ("csrf", token), ("action", "save")],
                               allow_redirects=False)
    assert response.status == 303, await response.text()
    after = path.read_text(encoding="utf-8")
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 1 and "（已复核）" in changed[0][1]


def _form_of(page: str) -> list[tuple[str, str]]:
    """The editor form's fields as the browser would post them (inputs, textareas, selected options, checks)."""
    import html

    out = []
    form = page[page.index('class="editor"'):page.index("</form>", page.index('class="editor"'))]
    for name, value in re.findall(r'<input (?:type="hidden" )?name="([^"]+)" value="([^"]*)"', form):
        if name != "csrf":
            out.append((name, html.unescape(value)))
    for tag in re.finditer(r'<input type="date" name="([^"]+)" value="([^"]*)"', form):
        out.append((tag.group(1), tag.group(2)))
    for name, text in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        out.append((name, html.unescape(text)))
    for name in ("audience",):
        out.append((name, re.search(r'<select name="audience">.*?<option value="([^"]+)" selected', form, re.S)[1]))
    related = re.search(r'<select name="related" multiple[^>]*>(.*?)</select>', form, re.S)[1]
    out += [("related", v) for v in re.findall(r'<option value="([^"]+)" selected', related)]
    out += [("source", v) for v in re.findall(r'name="source" value="([^"]+)" checked', form)]
    return out


async def test_two_edits_then_restoring_the_first_serves_it_and_lists_three_versions(
        dash: TestClient, staff_settings: Settings) -> None:
    _, token = await login(dash)
    service = service_of(dash)
    for n in (1, 2):
        form = [(k, v.replace("具体请咨询区教委。", f"具体请咨询区教委。（第{n}版）") if k == "answer_zh" else v)
                for k, v in editor_form()]
        if n == 2:
            form = [*[(k, v) for k, v in form if k != "file"], ("file", "pathway_transfer_general.yaml")]
        response = await dash.post("/staff/editor", data=[*form, ("csrf", token), ("action", "publish")],
                                   allow_redirects=False)
        assert response.status == 303, await response.text()
        assert f"（第{n}版）" in service.engine.answer_intent(INTENT, "zh").answer
    first, second = sorted(service.store.read(versions.list_versions, INTENT), key=lambda v: v["id"])
    assert (first["action"], second["action"]) == ("create", "edit")
    assert "-" in second["diff"] and "（第2版）" in second["diff"]
    await dash.post(f"/staff/versions/{first['id']}/restore", data={"csrf": token})
    await dash.post("/staff/publish", data={"csrf": token})
    answer = service.engine.answer_intent(INTENT, "zh").answer
    assert "（第1版）" in answer and "（第2版）" not in answer
    listed = service.store.read(versions.list_versions, INTENT)
    assert [v["action"] for v in listed] == ["restore", "edit", "create"]
    page = await (await dash.get(f"/staff/versions?intent={INTENT}")).text()
    assert page.count(f">{INTENT}</a>") == 3


@pytest.mark.parametrize("path", ["/staff/editor", "/staff/publish", "/staff/versions/1/restore",
                                  "/staff/promote/cluster", "/staff/promote", "/staff/logout"])
async def test_every_post_needs_the_csrf_token(dash: TestClient, staff_settings: Settings, path: str) -> None:
    await login(dash)
    service = service_of(dash)
    old = service.engine
    for data in ([*editor_form(), ("action", "publish")], [*editor_form(), ("action", "publish"), ("csrf", "x")]):
        response = await dash.post(path, data=data, allow_redirects=False)
        assert response.status == 403
    assert service.engine is old
    assert not (staff_settings.intents_dir / "pathway_transfer_general.yaml").exists()


def test_the_test_intent_is_not_shipped() -> None:
    assert not (Path(__file__).resolve().parents[2] / "intents" / "pathway_transfer_general.yaml").exists()


async def test_the_new_pages_need_no_script_style_or_outside_asset(dash: TestClient) -> None:
    _, token = await login(dash)
    await dash.post("/staff/editor", data=[*editor_form(), ("csrf", token), ("action", "save")])
    preview = await (await dash.post("/staff/editor", data=[*editor_form(file="pathway_transfer_general.yaml"),
                                                            ("csrf", token), ("action", "preview")])).text()
    pages = [preview]
    for path in ("/staff/editor?enquiry_id=x", f"/staff/editor?intent={INTENT}", "/staff/versions",
                 "/staff/versions/1"):
        response = await dash.get(path)
        assert response.status == 200, path
        pages.append(await response.text())
    for page in pages:
        assert test_staff.markup(page) == {"script": 0, "style": 0, "style_attr": 0, "handlers": 0, "external": 0}
    assert (await dash.get("/staff/versions/999")).status == 404


def test_a_preview_fits_into_the_configured_model_cache_and_the_save_reuses_it(
        tmp_path: Path, trimmed_intents: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """VOCBOT_MODEL_DIR holds the preview's model too (not db/models), and saving the previewed text fits nothing."""
    from bot.core import training

    fits = []
    fit = training.fit
    monkeypatch.setattr(training, "fit", lambda *args, **kw: fits.append(1) or fit(*args, **kw))
    intents, models = tmp_path / "intents", tmp_path / "models"
    shutil.copytree(trimmed_intents, intents)
    path, old, new = intent_change(intents)
    candidate = editing.validate(intents, ROOT / "content", path, new, models)
    assert len(fits) == 1
    assert [p.name for p in models.glob("intent-model-*.npz")] == [f"intent-model-{candidate.model.key}.npz"]
    editing.write(intents, ROOT / "content", path, old, new, models)
    assert path.read_text(encoding="utf-8") == new
    assert len(fits) == 1
