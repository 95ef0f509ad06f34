"""Sealed reply addresses: they open only with the same key and for the same purpose, and never read in clear."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.log.sealing import Sealer, SealError


@given(st.text(max_size=200), st.sampled_from(["handoff", "notify", "wechat"]))
def test_what_is_sealed_opens_again(text: str, purpose: str) -> None:
    sealer = Sealer(b"k" * 32)
    token = sealer.seal(text, purpose)
    assert Sealer.is_sealed(token)
    assert sealer.open(token, purpose) == text


def test_the_sealed_value_does_not_contain_the_address() -> None:
    token = Sealer(b"key").seal("123456789", "handoff")
    assert "123456789" not in token
    assert token != Sealer(b"key").seal("123456789", "handoff")   # a fresh nonce each time


@pytest.mark.parametrize(("key", "purpose", "mangle"), [
    (b"another key", "handoff", False),    # another key
    (b"key", "notify", False),             # sealed for another purpose
    (b"key", "handoff", True),             # altered
])
def test_a_value_opens_only_with_its_key_purpose_and_bytes(key: bytes, purpose: str, mangle: bool) -> None:
    token = Sealer(b"key").seal("4242", "handoff")
    if mangle:
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(SealError):
        Sealer(key).open(token, purpose)


@pytest.mark.parametrize("value", ["4242", "", "s1:", "s1:!!!", "s1:" + "A" * 8])
def test_unsealed_or_broken_values_raise_a_named_error(value: str) -> None:
    with pytest.raises(SealError):
        Sealer(b"key").open(value, "handoff")
