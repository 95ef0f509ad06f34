"""The new intent the closed-loop tests write through the staff editor, and the question it answers."""

from __future__ import annotations

from pathlib import Path

from bot.core import editing

# Falls back with the shipped intents (checked by the tests). The issue's `3+2读到一半可以转去读普高吗`
# gets `answer` (pathway.3plus2) from the shipped model, so the tests use this wording instead.
QUESTION = "转学去普高的手续怎么办"
INTENT = "pathway.transfer_general"

EXAMPLES_ZH = [
    QUESTION, "职高读一半不想读了可以转普高不",
    "3+2读到一半可以转去读普高吗", "中职读到一半转普高要办啥手续", "职高生中途转学到普通高中的条件",
    "在职中读了一学期可以转到普高去吗", "中职学籍能转成普高学籍吗", "职中转学去普高需要考试吗", "学籍从中职转到普高",
    "读职高中途能不能转到普通高中", "中职生可以转学去读普高吗", "职中读了一年能转普高不",
    "五年一贯制读到一半能转普高吗",
]
EXAMPLES_EN = [
    "can a vocational student transfer to a general high school midway",
    "can I switch from vocational school to regular high school",
    "how to transfer from secondary vocational school to general high school",
    "can my child move from a 3+2 programme to general high school",
]
ANSWER_ZH = ("方案提出构建职业技术教育与普通高中教育相互融通（三(一)4）。\n\n"
             "方案没有写中职学生中途转入普通高中的条件、办法和手续，也没有写“3+2”读到一半能否转学。"
             "具体请咨询区教委。")
ANSWER_EN = ("The plan calls for vocational and general high-school education to be mutually connected (三(一)4).\n\n"
             "The plan does not say whether, when or how a secondary vocational student can move to a general "
             "high school midway, including from a 3+2 programme. Ask 区教委 (District Education Commission).")


def editor_form(**overrides: object) -> list[tuple[str, str]]:
    """The editor's fields for the new intent, as a browser posts them (repeated keys for lists)."""
    fields: dict[str, object] = {
        "id": INTENT, "audience": "student", "title_zh": "中职转普高", "title_en": "Moving to general high school",
        "answer_zh": ANSWER_ZH, "answer_en": ANSWER_EN, "examples_zh": "\n".join(EXAMPLES_ZH),
        "examples_en": "\n".join(EXAMPLES_EN), "source": ["三(一)4"], "related": ["pathway.overview", "pathway.3plus2"],
        "silent_procedure_zh": "方案没有写中职转普高的办法和手续（三(一)4），请咨询区教委。",
        "silent_procedure_en": "The plan does not say how a move to general high school works (三(一)4); ask 区教委.",
        "reviewed": "2026-12-01", "review_by": "2027-06-30", "file": "", **overrides}
    out: list[tuple[str, str]] = []
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((key, str(item)))
    return out


def intent_change(intents_dir: Path) -> tuple[Path, str, str]:
    """The new intent as the editor renders it: its own file, the file's old and new text."""
    draft = editing.Draft(id=INTENT, audience="student",
                          title={"zh": "中职转普高", "en": "Moving to general high school"},
                          answer={"zh": ANSWER_ZH, "en": ANSWER_EN}, examples={"zh": EXAMPLES_ZH, "en": EXAMPLES_EN},
                          source=["三(一)4"], related=["pathway.overview", "pathway.3plus2"])
    return editing.render_change(intents_dir, draft, None)


def write_intent(intents_dir: Path, content_dir: Path, cache_dir: Path) -> Path:
    """Write the new intent as the editor's save does (validated, its own file); returns the file."""
    path, old, new = intent_change(intents_dir)
    editing.write(intents_dir, content_dir, path, old, new, cache_dir)
    return path
