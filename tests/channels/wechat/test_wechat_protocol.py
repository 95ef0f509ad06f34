"""The wire protocol: signatures and freshness, safe XML, safe-mode AES checked against an independent
implementation (tests/fake_wechat.py, written with `cryptography` alone), and well-formed replies."""

from __future__ import annotations

import base64
import time

import defusedxml.ElementTree as SafeET
import pytest
from fake_wechat import (
    AES_KEY,
    APP_ID,
    TOKEN,
    billion_laughs,
    decrypt,
    encrypt,
    external_entity,
    message_xml,
    oversized,
    sign,
)
from wechatpy.replies import TextReply

from bot.channels.wechat.protocol import Incoming, Protocol, ProtocolError, safe_xml, text_reply

NOW = 1_760_000_000


def protocol(aes: bool = False) -> Protocol:
    return Protocol(TOKEN, AES_KEY if aes else None, APP_ID if aes else None, clock=lambda: NOW)


def text_fields(content: str = "三加二是啥子", msg_id: int = 42) -> dict:
    return {"ToUserName": "gh_acc", "FromUserName": "oUser", "CreateTime": NOW, "MsgType": "text",
            "Content": content, "MsgId": msg_id}


@pytest.mark.parametrize(("timestamp", "nonce", "good_signature", "status"), [
    (NOW, "n1", True, None),
    (NOW - 300, "n1", True, None),       # exactly five minutes old: still fresh
    (NOW - 301, "n1", True, 403),
    (NOW + 301, "n1", True, 403),
    (NOW, "n1", False, 403),
])
def test_signatures_and_freshness(timestamp: int, nonce: str, good_signature: bool, status: int | None) -> None:
    signature = sign(TOKEN, str(timestamp), nonce) if good_signature else sign("other", str(timestamp), nonce)
    if status is None:
        protocol().verify(signature, str(timestamp), nonce)
        return
    with pytest.raises(ProtocolError) as info:
        protocol().verify(signature, str(timestamp), nonce)
    assert info.value.status == status


@pytest.mark.parametrize(("signature", "timestamp", "nonce"), [
    (None, str(NOW), "n"), ("", str(NOW), "n"), ("a" * 39, str(NOW), "n"), ("a" * 40, None, "n"),
    ("a" * 40, str(NOW), None),
])
def test_missing_or_malformed_signature_parts_are_403(signature: str | None, timestamp: str | None,
                                                      nonce: str | None) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol().verify(signature, timestamp, nonce)
    assert info.value.status == 403


@pytest.mark.parametrize(("body", "status"), [
    (billion_laughs(), 400),
    (external_entity(), 400),
    (b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/x.dtd"><xml><MsgType>text</MsgType></xml>', 400),
    (oversized(), 413),
    (oversized(64 * 1024 + 1), 413),
    (b"<xml><a>", 400),
    (b"\xff\xfe<xml/>", 400),
    (b"<root><MsgType>text</MsgType></root>", 400),
])
def test_hostile_xml_is_refused_before_any_parsing_by_wechatpy(body: bytes, status: int) -> None:
    started = time.perf_counter()
    with pytest.raises(ProtocolError) as info:
        safe_xml(body)
    assert info.value.status == status
    assert time.perf_counter() - started < 1.0     # refused, not expanded


def test_a_plain_text_message_is_parsed() -> None:
    message = protocol().open(message_xml(text_fields()).encode(), {})
    assert message == Incoming("text", "oUser", "gh_acc", NOW, "42", text="三加二是啥子")


def test_voice_and_events_are_parsed() -> None:
    voice = {**text_fields(), "MsgType": "voice", "Recognition": "三加二是啥子", "MediaId": "m", "Format": "amr"}
    del voice["Content"]
    assert protocol().open(message_xml(voice).encode(), {}).text == "三加二是啥子"
    click = {"ToUserName": "gh_acc", "FromUserName": "oUser", "CreateTime": NOW, "MsgType": "event",
             "Event": "CLICK", "EventKey": "route:student"}
    event = protocol().open(message_xml(click).encode(), {})
    assert (event.kind, event.event, event.event_key, event.msg_id) == ("event", "click", "route:student", None)


def safe_request(fields: dict, aes_key: str = AES_KEY, app_id: str = APP_ID) -> tuple[bytes, dict[str, str]]:
    encrypted = encrypt(message_xml(fields), aes_key, app_id)
    body = f"<xml><ToUserName><![CDATA[gh_acc]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    query = {"timestamp": str(NOW), "nonce": "n9", "encrypt_type": "aes",
             "msg_signature": sign(TOKEN, str(NOW), "n9", encrypted)}
    return body.encode(), query


def test_safe_mode_opens_what_the_platform_encrypts_and_replies_encrypted() -> None:
    body, query = safe_request(text_fields())
    message = protocol(aes=True).open(body, query)
    assert (message.text, message.encrypted) == ("三加二是啥子", True)
    reply = protocol(aes=True).reply(message, "答复 ]]> 内容", "n9")
    envelope = {child.tag: child.text for child in SafeET.fromstring(reply)}
    assert envelope["MsgSignature"] == sign(TOKEN, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    inner = {child.tag: child.text for child in SafeET.fromstring(decrypt(envelope["Encrypt"]))}
    assert (inner["ToUserName"], inner["FromUserName"], inner["Content"]) == ("oUser", "gh_acc", "答复 ]]> 内容")


@pytest.mark.parametrize(("change", "status"), [
    ("signature", 403),
    ("app_id", 400),
    ("key", 400),
    ("garbage", 400),
    ("not_configured", 400),
])
def test_safe_mode_refusals(change: str, status: int) -> None:
    other_key = base64.b64encode(b"x" * 32).decode().rstrip("=")
    body, query = safe_request(text_fields(), aes_key=other_key if change == "key" else AES_KEY,
                               app_id="wxOTHER" if change == "app_id" else APP_ID)
    if change == "signature":
        query["msg_signature"] = "0" * 40
    if change == "garbage":
        body = b"<xml><ToUserName>gh</ToUserName><Encrypt>bm90IGEgYmxvY2s=</Encrypt></xml>"
        query["msg_signature"] = sign(TOKEN, str(NOW), "n9", "bm90IGEgYmxvY2s=")
    with pytest.raises(ProtocolError) as info:
        protocol(aes=change != "not_configured").open(body, query)
    assert info.value.status == status


def test_wechatpy_breaks_on_cdata_ends_and_the_reply_does_not() -> None:
    """wechatpy puts text into CDATA unescaped; a "]]>" in it would end the section early."""
    raw = TextReply(source="gh", target="oUser", content="a]]><b>c", time=NOW).render()
    with pytest.raises(SafeET.ParseError):
        SafeET.fromstring(raw)
    message = Incoming("text", "oUser", "gh", NOW, "1")
    reply = {child.tag: child.text for child in SafeET.fromstring(text_reply(message, "a]]><b>c", NOW))}
    assert reply["Content"] == "a]]><b>c"


def test_dedup_keys_tell_messages_and_events_apart() -> None:
    text = Incoming("text", "o", "gh", NOW, "1")
    click = Incoming("event", "o", "gh", NOW, None, event="click", event_key="topic:a")
    other = Incoming("event", "o", "gh", NOW, None, event="click", event_key="topic:b")
    assert len({text.dedup_key, click.dedup_key, other.dedup_key}) == 3
