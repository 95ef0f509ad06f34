"""The rapidfuzz re-ranker: near repeats of curated examples among the model's first candidates."""

from __future__ import annotations

import pytest

from bot.core.fuzzy import NearMatch

EXAMPLES = {
    "pathway.3plus2": ["3+2是啥子意思", "3+2要读几年", "what is the 3+2 programme"],
    "cert.credit_bank": ["学分银行是什么", "学分银行怎么存学分"],
    "subsidy.student_aid": ["中职助学金每年发好多"],
}
SETTINGS = {"max_chars": 30, "candidates": 2, "per_intent": 400, "accept": 88}

CASES = [
    # (question, model's ranking, expected hit)
    ("3+2是啥子意思嘛", ["pathway.3plus2", "cert.credit_bank"], "pathway.3plus2"),        # a particle added
    ("学分银行是什么", ["pathway.3plus2", "cert.credit_bank"], "cert.credit_bank"),          # second candidate
    ("学分银行怎么存学份", ["cert.credit_bank"], "cert.credit_bank"),                         # a homophone typo
    ("what is the 3+2 programe", ["pathway.3plus2"], "pathway.3plus2"),                      # an English typo
    ("中职助学金每年发好多", ["pathway.3plus2", "cert.credit_bank"], None),                  # not a candidate
    ("3+2是什么", ["pathway.3plus2"], None),                                                   # too different
    ("", ["pathway.3plus2"], None),
    ("我家孩子今年初三，想问一下3+2是啥子意思，读出来是什么学历", ["pathway.3plus2"], None),  # too long
    ("3+2是啥子意思", [], None),                                                                # no candidates
    ("3+2是啥子意思", ["unknown.intent"], None),
]


@pytest.mark.parametrize(("question", "ranked", "expected"), CASES)
def test_near_repeats_of_a_candidates_example(question: str, ranked: list[str], expected: str | None) -> None:
    hit = NearMatch(EXAMPLES, SETTINGS).find(question, ranked)
    assert (hit[0] if hit else None) == expected
    if hit:
        assert SETTINGS["accept"] <= hit[1] <= 100


def test_an_exact_repeat_scores_100() -> None:
    assert NearMatch(EXAMPLES, SETTINGS).find("3+2要读几年", ["pathway.3plus2"]) == ("pathway.3plus2", 100.0)


def test_accept_over_100_turns_it_off() -> None:
    assert NearMatch(EXAMPLES, {**SETTINGS, "accept": 101}).find("3+2要读几年", ["pathway.3plus2"]) is None


def test_each_intent_keeps_at_most_per_intent_examples_so_the_cost_is_bounded() -> None:
    many = {"a": [f"问题{i:05d}" for i in range(5000)] + ["学分银行是什么"]}
    near = NearMatch(many, {**SETTINGS, "per_intent": 50})
    assert len(near._by_intent["a"]) == 50
    assert near.find("问题00001", ["a"]) == ("a", 100.0)


def test_only_the_first_candidates_are_compared() -> None:
    near = NearMatch(EXAMPLES, {**SETTINGS, "candidates": 1})
    assert near.find("学分银行是什么", ["pathway.3plus2", "cert.credit_bank"]) is None
