from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings


def test_defaults_need_no_environment(tmp_path: Path) -> None:
    settings = Settings.from_environ({}, env_file=None)
    assert settings.db_path == Path("paperboy.db")
    assert settings.search_index_path == Path("paperboy.db.index")
    assert settings.hf_url == "https://huggingface.co"
    assert settings.arxiv_url == "https://export.arxiv.org"
    assert settings.slack_bot_token is None


def test_environment_overrides_dotenv(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("PAPERBOY_DB=from-dotenv.db\nPAPERBOY_HF_URL=http://127.0.0.1:9/\n")
    settings = Settings.from_environ({"PAPERBOY_DB": "from-env.db"}, env_file=env_file)
    assert settings.db_path == Path("from-env.db")
    assert settings.hf_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PAPERBOY_HF_URL", "ftp://x", "PAPERBOY_HF_URL must start with http"),
        ("PAPERBOY_LOG_LEVEL", "LOUD", "PAPERBOY_LOG_LEVEL must be"),
        ("PAPERBOY_HTTP_TIMEOUT", "-1", "PAPERBOY_HTTP_TIMEOUT must be positive"),
        ("PAPERBOY_DELIVERY_EVERY", "0", "PAPERBOY_DELIVERY_EVERY must be positive"),
        ("PAPERBOY_DIGEST_LEASE", "soon", "PAPERBOY_DIGEST_LEASE must be a number"),
        ("DISCORD_GUILD_ID", "abc", "DISCORD_GUILD_ID must be a whole number"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_environ({name: value}, env_file=None)


def test_secrets_never_show_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings.from_environ(
        {"SLACK_BOT_TOKEN": "xoxb-very-secret", "DISCORD_TOKEN": "discord-secret"}, env_file=None
    )
    logging.getLogger("test").warning("settings: %s %r", settings, settings)
    assert "very-secret" not in caplog.text and "discord-secret" not in caplog.text
    assert settings.slack_bot_token is not None
    assert settings.slack_bot_token.value == "xoxb-very-secret"


def test_database_url_selects_postgresql_and_stays_secret() -> None:
    url = "postgresql://paperboy:hunter2@db.internal:5432/paperboy"
    settings = Settings.from_environ({"DATABASE_URL": url, "PAPERBOY_DB": "x.db"}, env_file=None)

    assert settings.database == url
    assert "hunter2" not in repr(settings)
    assert Settings.from_environ({"PAPERBOY_DB": "x.db"}, env_file=None).database == Path("x.db")


def test_a_database_url_that_is_not_postgresql_is_refused_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL must be a postgresql:// URL") as error:
        Settings.from_environ({"DATABASE_URL": "mysql://u:hunter2@h/db"}, env_file=None)
    assert "hunter2" not in str(error.value)


def test_delivery_pace_and_digest_lease_are_a_minute_unless_set() -> None:
    default = Settings.from_environ({}, env_file=None)
    tuned = Settings.from_environ(
        {"PAPERBOY_DELIVERY_EVERY": "5", "PAPERBOY_DIGEST_LEASE": "20"}, env_file=None
    )
    assert (default.delivery_every, default.digest_lease) == (60.0, 60.0)
    assert (tuned.delivery_every, tuned.digest_lease) == (5.0, 20.0)
