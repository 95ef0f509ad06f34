"""Reply addresses sealed at rest: AES-256-GCM under a key derived from the pseudonym key, never kept in clear.

A pending handoff or an opt-in notification needs to know where to send a message later (a Telegram chat
id, a WeChat openid). That address identifies a person, so the log keeps it only sealed: whoever has the
database file without the key file (VOCBOT_HASH_KEY / VOCBOT_HASH_KEY_FILE) cannot read it. The associated
data binds a sealed value to its purpose, so a value copied into another column does not open.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.errors import StoreError

PREFIX = "s1:"
_NONCE = 12


class SealError(StoreError):
    """A sealed value that cannot be opened: another key, or altered."""


class Sealer:
    """Seal and open short strings with one key derived from the pseudonym key."""

    def __init__(self, secret: bytes) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"vocbot-sealing",
                   info=b"reply addresses v1").derive(secret)
        self._aead = AESGCM(key)

    def seal(self, text: str, purpose: str) -> str:
        """`s1:` and the URL-safe base64 of nonce and ciphertext, bound to `purpose`."""
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, text.encode("utf-8"), purpose.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, token: str, purpose: str) -> str:
        """The text sealed for `purpose`; SealError when it was sealed otherwise or altered."""
        if not token.startswith(PREFIX):
            raise SealError("A reply address is not sealed; it was stored by an older version or by hand.")
        try:
            raw = base64.urlsafe_b64decode(token[len(PREFIX):].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode("utf-8"))
        except (ValueError, InvalidTag):
            raise SealError("A sealed reply address cannot be opened: the key changed or the value was "
                            "altered.") from None
        return plain.decode("utf-8")

    @staticmethod
    def is_sealed(value: object) -> bool:
        """True for a value this module sealed."""
        return isinstance(value, str) and value.startswith(PREFIX)
