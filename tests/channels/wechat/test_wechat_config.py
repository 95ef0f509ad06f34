"""The WECHAT_* settings: defaults, and one clear sentence for a safe-mode key that cannot work."""

from __future__ import annotations

import pytest
from fake_wechat import AES_KEY

from bot.config import Settings
from bot.errors import ConfigError


def test_wechat_is_off_by_default_and_points_at_the_real_api() -> None:
    settings = Settings.from_env({})
    assert settings.wechat_token is None and settings.wechat_api_url == "https://api.weixin.qq.com"


def test_every_wechat_variable_is_read() -> None:
    settings = Settings.from_env({"WECHAT_TOKEN": "t0ken", "WECHAT_AES_KEY": AES_KEY, "WECHAT_APP_ID": "wx1",
                                  "WECHAT_APP_SECRET": "s", "WECHAT_API_URL": "http://127.0.0.1:9/"})
    assert (settings.wechat_token, settings.wechat_aes_key, settings.wechat_app_id, settings.wechat_app_secret,
            settings.wechat_api_url) == ("t0ken", AES_KEY, "wx1", "s", "http://127.0.0.1:9")


@pytest.mark.parametrize(("env", "names"), [
    ({"WECHAT_AES_KEY": "short", "WECHAT_APP_ID": "wx1"}, "WECHAT_AES_KEY"),
    ({"WECHAT_AES_KEY": AES_KEY[:-1] + "=", "WECHAT_APP_ID": "wx1"}, "WECHAT_AES_KEY"),
    ({"WECHAT_AES_KEY": AES_KEY}, "WECHAT_APP_ID"),
])
def test_a_safe_mode_key_that_cannot_work_is_one_sentence(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        Settings.from_env({"WECHAT_TOKEN": "t", **env})
