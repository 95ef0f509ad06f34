"""Settings read once from the environment; every variable is listed in the README."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_WECHAT_API_URL = "https://api.weixin.qq.com"
MIN_PASSWORD = 12           # characters of VOCBOT_STAFF_PASSWORD


def _int_list(name: str, raw: str) -> frozenset[int]:
    try:
        return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
    except ValueError:
        raise ConfigError(f"{name} must be comma-separated numeric user ids, e.g. 12345,67890.") from None


def _int(name: str, raw: str | None, default: int | None) -> int | None:
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None


def _words(raw: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (raw or "").split(",") if part.strip())


def _addresses(name: str, raw: str | None) -> tuple[str, ...]:
    """IP addresses or networks (10.0.0.0/8), checked now so a typo fails at start-up."""
    out = []
    for part in _words(raw):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError:
            raise ConfigError(f"{name} must be comma-separated IP addresses or networks, e.g. 127.0.0.1,10.0.0.0/8; "
                              f"{part!r} is neither.") from None
        out.append(part)
    return tuple(out)


def _flag(raw: str | None) -> bool:
    return (raw or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Everything the process is configured with."""

    intents_dir: Path = ROOT / "intents"
    content_dir: Path = ROOT / "content"
    db_path: Path = ROOT / "db" / "enquiries.db"
    host: str = "127.0.0.1"
    port: int = 8080
    telegram_token: str | None = None
    telegram_api_url: str = DEFAULT_API_URL
    webhook_url: str | None = None
    webhook_secret: str | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    staff_chat_id: int | None = None
    staff_password: str | None = None
    hash_key: str | None = None
    hash_key_file: Path | None = None
    trusted_proxies: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    store_raw_ids: bool = False
    retention_days: int = 180
    rate_per_minute: int = 20
    address_rate_per_minute: int = 600
    wechat_token: str | None = None
    wechat_aes_key: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_api_url: str = DEFAULT_WECHAT_API_URL
    address_bytes_per_minute: int = 2_000_000
    # Where fitted intent models are cached, keyed by the intents' hash and the code version (so one folder
    # can serve every log and process safely).
    model_dir: Path = ROOT / "db" / "models"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the VOCBOT_*, TELEGRAM_* and WECHAT_* variables."""
        env = os.environ if env is None else env
        get = env.get
        webhook_url = get("VOCBOT_WEBHOOK_URL") or None
        webhook_secret = get("VOCBOT_WEBHOOK_SECRET") or None
        if webhook_url and not webhook_secret:
            raise ConfigError("VOCBOT_WEBHOOK_URL is set but VOCBOT_WEBHOOK_SECRET is not: set a secret "
                              "of 1-256 characters A-Z, a-z, 0-9, _ and -.")
        wechat_aes_key = get("WECHAT_AES_KEY") or None
        if wechat_aes_key is not None and (len(wechat_aes_key) != 43 or not wechat_aes_key.isascii()
                                           or not wechat_aes_key.isalnum()):
            raise ConfigError("WECHAT_AES_KEY must be the 43-character EncodingAESKey (letters and digits) "
                              "shown on the Official Account's server configuration page.")
        if wechat_aes_key and not get("WECHAT_APP_ID"):
            raise ConfigError("WECHAT_AES_KEY is set but WECHAT_APP_ID is not: safe mode needs the AppID too.")
        password = get("VOCBOT_STAFF_PASSWORD") or None
        check_password(password)
        return cls(
            intents_dir=Path(get("VOCBOT_INTENTS_DIR") or ROOT / "intents"),
            content_dir=Path(get("VOCBOT_CONTENT_DIR") or ROOT / "content"),
            db_path=Path(get("VOCBOT_DB") or ROOT / "db" / "enquiries.db"),
            model_dir=Path(get("VOCBOT_MODEL_DIR") or ROOT / "db" / "models"),
            host=get("VOCBOT_HOST") or "127.0.0.1",
            port=_int("VOCBOT_PORT", get("VOCBOT_PORT"), 8080) or 0,
            telegram_token=get("TELEGRAM_BOT_TOKEN") or None,
            telegram_api_url=(get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            admin_ids=_int_list("VOCBOT_ADMIN_IDS", get("VOCBOT_ADMIN_IDS") or ""),
            staff_chat_id=_int("VOCBOT_STAFF_CHAT_ID", get("VOCBOT_STAFF_CHAT_ID"), None),
            staff_password=password,
            hash_key=get("VOCBOT_HASH_KEY") or None,
            hash_key_file=Path(get("VOCBOT_HASH_KEY_FILE") or "") if get("VOCBOT_HASH_KEY_FILE") else None,
            trusted_proxies=_addresses("VOCBOT_TRUSTED_PROXY", get("VOCBOT_TRUSTED_PROXY")),
            allowed_hosts=tuple(h.lower() for h in _words(get("VOCBOT_ALLOWED_HOSTS"))),
            store_raw_ids=_flag(get("VOCBOT_STORE_RAW_IDS")),
            retention_days=_int("VOCBOT_RETENTION_DAYS", get("VOCBOT_RETENTION_DAYS"), 180) or 180,
            rate_per_minute=_int("VOCBOT_RATE_PER_MINUTE", get("VOCBOT_RATE_PER_MINUTE"), 20) or 20,
            address_rate_per_minute=max(0, _int("VOCBOT_ADDRESS_RATE_PER_MINUTE",
                                                get("VOCBOT_ADDRESS_RATE_PER_MINUTE"), 600) or 0),
            wechat_token=get("WECHAT_TOKEN") or None,
            wechat_aes_key=wechat_aes_key,
            wechat_app_id=get("WECHAT_APP_ID") or None,
            wechat_app_secret=get("WECHAT_APP_SECRET") or None,
            wechat_api_url=(get("WECHAT_API_URL") or DEFAULT_WECHAT_API_URL).rstrip("/"),
            address_bytes_per_minute=max(0, _int("VOCBOT_ADDRESS_BYTES_PER_MINUTE",
                                                 get("VOCBOT_ADDRESS_BYTES_PER_MINUTE"), 2_000_000) or 0),
        )


def check_password(password: str | None) -> None:
    """A staff password shorter than MIN_PASSWORD characters is refused (guessable in hours)."""
    if password is not None and len(password) < MIN_PASSWORD:
        raise ConfigError(f"VOCBOT_STAFF_PASSWORD is {len(password)} characters long; use at least {MIN_PASSWORD} "
                          "(a passphrase of several words is easy to type and hard to guess).")
