"""The WeChat message interface's wire protocol: signatures, freshness, safe XML, safe-mode AES, replies.

wechatpy checks signatures, decrypts and encrypts safe-mode envelopes and parses messages; every XML
document is first parsed by defusedxml, which refuses DTDs and entities, so nothing hostile reaches
wechatpy's own XML parser (xmltodict, which does not refuse them).
"""

from __future__ import annotations

import dataclasses
import time
import xml.etree.ElementTree as ET  # the element type and ParseError only; parsing goes through defusedxml
from collections.abc import Callable
from dataclasses import dataclass

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.messages import BaseMessage
from wechatpy.parser import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

MAX_BODY = 64 * 1024        # bytes; WeChat's messages are a few hundred bytes, 64 KiB is generous
MAX_SKEW = 300              # seconds a signed timestamp may be off the clock (5 minutes)


class ProtocolError(Exception):
    """A request the interface refuses: the HTTP status and one sentence (never the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Incoming:
    """One message or event from WeChat, reduced to what the conversation needs."""

    kind: str                   # text | voice | event | image, location, ... (other message types)
    openid: str                 # FromUserName: the user
    account: str                # ToUserName: the Official Account's id
    create_time: int
    msg_id: str | None          # MsgId of messages; events have none
    text: str = ""              # Content of text, Recognition of voice
    event: str = ""             # subscribe, unsubscribe, click, view ... (lower case)
    event_key: str = ""
    encrypted: bool = False     # came in safe mode: the reply goes back encrypted

    @property
    def dedup_key(self) -> str:
        """What identifies a redelivery: the MsgId, or sender and time for events (as WeChat documents), with
        the event and its key, so two menu clicks within one second stay two."""
        if self.msg_id:
            return f"m:{self.account}:{self.msg_id}"
        return f"e:{self.openid}:{self.create_time}:{self.event}:{self.event_key}"


class Protocol:
    """Checks and opens requests for one Official Account, and seals replies the way it expects."""

    def __init__(self, token: str, aes_key: str | None = None, app_id: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.token = token
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key and app_id else None
        self._time = clock

    # ---- checks -------------------------------------------------------------------------------------
    def verify(self, signature: str | None, timestamp: str | None, nonce: str | None) -> None:
        """The URL signature sha1(sort(token, timestamp, nonce)) and a timestamp within 5 minutes, or 403."""
        if not signature or not timestamp or not nonce or len(signature) != 40:
            raise ProtocolError(403, "The request is not signed.")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise ProtocolError(403, "The signature does not match.") from None
        self.fresh(timestamp)

    def fresh(self, timestamp: str) -> None:
        """403 for a timestamp more than 5 minutes away from now (a replayed request)."""
        if not timestamp.isdigit() or len(timestamp) > 12 or abs(self._time() - int(timestamp)) > MAX_SKEW:
            raise ProtocolError(403, "The timestamp is stale.")

    # ---- incoming messages --------------------------------------------------------------------------
    def open(self, body: bytes, query: dict[str, str]) -> Incoming:
        """The message of a verified POST body, decrypted when it comes in safe mode."""
        root = safe_xml(body)
        encrypted = _child(root, "Encrypt")
        if query.get("encrypt_type") == "aes" or (encrypted is not None and _child(root, "MsgType") is None):
            if self.crypto is None:
                raise ProtocolError(400, "Safe mode is not configured (WECHAT_AES_KEY, WECHAT_APP_ID).")
            if not encrypted:
                raise ProtocolError(400, "The safe-mode message has no Encrypt element.")
            try:
                inner = self.crypto.decrypt_message({"Encrypt": encrypted}, query.get("msg_signature", ""),
                                                    query.get("timestamp", ""), query.get("nonce", ""))
            except InvalidSignatureException:
                raise ProtocolError(403, "The message signature does not match.") from None
            except Exception:    # bad base64, padding, length or AppID: wechatpy raises many kinds
                raise ProtocolError(400, "The encrypted message cannot be opened.") from None
            body = inner.encode("utf-8")
            safe_xml(body)
            return dataclasses.replace(incoming(body), encrypted=True)
        return incoming(body)

    def reply(self, message: Incoming, content: str, nonce: str) -> str:
        """The passive text reply, encrypted and signed again when the message came in safe mode."""
        xml = text_reply(message, content, int(self._time()))
        if self.crypto is None or not message.encrypted:
            return xml
        return self.crypto.encrypt_message(xml, nonce, str(int(self._time())))

    @property
    def safe_mode(self) -> bool:
        """True when AES is configured."""
        return self.crypto is not None


def safe_xml(body: bytes) -> ET.Element:
    """The document's root `<xml>` element; 400 for malformed XML, DTDs, entities or another root."""
    if len(body) > MAX_BODY:
        raise ProtocolError(413, "The body is too large.")
    try:
        root = SafeET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ET.ParseError, ValueError):
        raise ProtocolError(400, "The body is not a well-formed WeChat XML message.") from None
    if root.tag != "xml" or len(root) > 64:
        raise ProtocolError(400, "The body is not a WeChat message.")
    return root


def incoming(body: bytes) -> Incoming:
    """Parse a plain message (already checked by safe_xml) with wechatpy."""
    try:
        message: BaseMessage = parse_message(body.decode("utf-8"))
        kind = str(message._data["MsgType"]).lower()
        openid, account = str(message.source or ""), str(message.target or "")
        create_time = int(message._data.get("CreateTime") or 0)
    except (KeyError, ValueError, TypeError, UnicodeDecodeError):
        raise ProtocolError(400, "The message lacks MsgType, FromUserName or CreateTime.") from None
    if not openid or not account or len(openid) > 128 or len(account) > 128:
        raise ProtocolError(400, "The message lacks FromUserName or ToUserName.")
    data = message._data
    msg_id = str(data["MsgId"]) if data.get("MsgId") else None
    if kind == "text":
        return Incoming(kind, openid, account, create_time, msg_id, text=str(data.get("Content") or ""))
    if kind == "voice":
        return Incoming(kind, openid, account, create_time, msg_id, text=str(data.get("Recognition") or ""))
    if kind == "event":
        return Incoming(kind, openid, account, create_time, msg_id, event=str(data.get("Event") or "").lower(),
                        event_key=str(data.get("EventKey") or ""))
    return Incoming(kind, openid, account, create_time, msg_id)


def text_reply(message: Incoming, content: str, now: int) -> str:
    """wechatpy's passive text reply XML, from the account to the user."""
    # wechatpy puts text into CDATA as it is; "]]>" would end the section early and break the XML.
    return TextReply(source=_cdata(message.account), target=_cdata(message.openid), content=_cdata(content),
                     time=now).render()


def _cdata(text: str) -> str:
    return text.replace("]]>", "]]]]><![CDATA[>")


def _child(root: ET.Element, tag: str) -> str | None:
    node = root.find(tag)
    return None if node is None else (node.text or "")
