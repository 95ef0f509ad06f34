"""Settings read once from the environment; every variable is listed in the README."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://api.telegram.org"


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
    store_raw_ids: bool = False
    retention_days: int = 180
    rate_per_minute: int = 20
    address_rate_per_minute: int = 600

    @property
    def model_dir(self) -> Path:
        """Where the fitted intent model is cached: beside the enquiry database."""
        return self.db_path.parent / "models"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the VOCBOT_* and TELEGRAM_* variables."""
        env = os.environ if env is None else env
        get = env.get
        webhook_url = get("VOCBOT_WEBHOOK_URL") or None
        webhook_secret = get("VOCBOT_WEBHOOK_SECRET") or None
        if webhook_url and not webhook_secret:
            raise ConfigError("VOCBOT_WEBHOOK_URL is set but VOCBOT_WEBHOOK_SECRET is not: set a secret "
                              "of 1-256 characters A-Z, a-z, 0-9, _ and -.")
        return cls(
            intents_dir=Path(get("VOCBOT_INTENTS_DIR") or ROOT / "intents"),
            content_dir=Path(get("VOCBOT_CONTENT_DIR") or ROOT / "content"),
            db_path=Path(get("VOCBOT_DB") or ROOT / "db" / "enquiries.db"),
            host=get("VOCBOT_HOST") or "127.0.0.1",
            port=_int("VOCBOT_PORT", get("VOCBOT_PORT"), 8080) or 0,
            telegram_token=get("TELEGRAM_BOT_TOKEN") or None,
            telegram_api_url=(get("TELEGRAM_API_URL") or DEFAULT_API_URL).rstrip("/"),
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            admin_ids=_int_list("VOCBOT_ADMIN_IDS", get("VOCBOT_ADMIN_IDS") or ""),
            staff_chat_id=_int("VOCBOT_STAFF_CHAT_ID", get("VOCBOT_STAFF_CHAT_ID"), None),
            staff_password=get("VOCBOT_STAFF_PASSWORD") or None,
            hash_key=get("VOCBOT_HASH_KEY") or None,
            store_raw_ids=_flag(get("VOCBOT_STORE_RAW_IDS")),
            retention_days=_int("VOCBOT_RETENTION_DAYS", get("VOCBOT_RETENTION_DAYS"), 180) or 180,
            rate_per_minute=_int("VOCBOT_RATE_PER_MINUTE", get("VOCBOT_RATE_PER_MINUTE"), 20) or 20,
            address_rate_per_minute=max(0, _int("VOCBOT_ADDRESS_RATE_PER_MINUTE",
                                                get("VOCBOT_ADDRESS_RATE_PER_MINUTE"), 600) or 0),
        )
