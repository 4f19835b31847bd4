"""Settings, read from a mapping (the process environment by default) and never at import time."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

DEFAULT_HF_URL = "https://huggingface.co"
DEFAULT_ARXIV_URL = "https://export.arxiv.org"


class ConfigError(ValueError):
    """A setting has a value Paperboy cannot use; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A value that must never be printed: its repr and str hide it."""

    value: str = field(repr=False)

    def __str__(self) -> str:
        return "***"

    def __repr__(self) -> str:
        return "Secret('***')"

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True, slots=True)
class Settings:
    db_path: Path = Path("paperboy.db")
    database_url: Secret | None = None  # postgresql://…: many workers on one PostgreSQL database
    index_path: Path | None = None
    hf_url: str = DEFAULT_HF_URL
    arxiv_url: str = DEFAULT_ARXIV_URL
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object per line)
    http_timeout: float = 10.0
    arxiv_min_interval: float = 3.0
    delivery_every: float = 60.0  # seconds between a worker's looks for due and queued digests
    digest_lease: float = 60.0  # seconds a dead worker's digest claims wait before a takeover
    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_client_id: str | None = None
    slack_client_secret: Secret | None = None
    slack_api_url: str | None = None
    discord_token: Secret | None = None
    discord_guild_id: int | None = None
    discord_api_url: str | None = None
    # Sharding: the total shards across all Discord processes, and the ones this process runs
    # (None: all of them). Unset: one unsharded connection.
    discord_shard_count: int | None = None
    discord_shard_ids: tuple[int, ...] | None = None
    # "wordllama" (shipped in the wheel, works offline), a model2vec folder or hub name, or "off".
    embeddings: str = "wordllama"

    @property
    def database(self) -> Path | str:
        """What the store opens: ``DATABASE_URL`` when set, else the ``PAPERBOY_DB`` file."""
        return self.database_url.value if self.database_url else self.db_path

    @property
    def search_index_path(self) -> Path:
        """The Tantivy index lives beside the database unless told otherwise."""
        if self.index_path is not None:
            return self.index_path
        return self.db_path.with_name(self.db_path.name + ".index")

    @property
    def vectors_path(self) -> Path:
        """Paper vectors live beside the search index (derived data, rebuilt from the store)."""
        index = self.search_index_path
        return index.with_name(index.name + ".vectors")

    @classmethod
    def from_environ(
        cls, environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
    ) -> Settings:
        """Build settings from ``environ`` (default: the process), with ``.env`` underneath it."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        values.update(os.environ if environ is None else environ)
        return cls(
            db_path=Path(values.get("PAPERBOY_DB", "paperboy.db")),
            database_url=_database_url(values),
            index_path=_optional_path(values.get("PAPERBOY_INDEX")),
            hf_url=_url(values, "PAPERBOY_HF_URL", DEFAULT_HF_URL),
            arxiv_url=_url(values, "PAPERBOY_ARXIV_URL", DEFAULT_ARXIV_URL),
            log_level=_log_level(values.get("PAPERBOY_LOG_LEVEL", "INFO")),
            log_format=_choice(values, "PAPERBOY_LOG_FORMAT", ("text", "json")),
            http_timeout=_positive_float(values, "PAPERBOY_HTTP_TIMEOUT", 10.0),
            arxiv_min_interval=_positive_float(values, "PAPERBOY_ARXIV_INTERVAL", 3.0),
            delivery_every=_positive_float(values, "PAPERBOY_DELIVERY_EVERY", 60.0),
            digest_lease=_positive_float(values, "PAPERBOY_DIGEST_LEASE", 60.0),
            slack_bot_token=_secret(values, "SLACK_BOT_TOKEN"),
            slack_app_token=_secret(values, "SLACK_APP_TOKEN"),
            slack_signing_secret=_secret(values, "SLACK_SIGNING_SECRET"),
            slack_client_id=values.get("SLACK_CLIENT_ID") or None,
            slack_client_secret=_secret(values, "SLACK_CLIENT_SECRET"),
            slack_api_url=values.get("SLACK_API_URL") or None,
            discord_token=_secret(values, "DISCORD_TOKEN"),
            discord_guild_id=_optional_int(values, "DISCORD_GUILD_ID"),
            discord_api_url=values.get("DISCORD_API_URL") or None,
            **_discord_shards(values),
            embeddings=values.get("PAPERBOY_EMBEDDINGS") or "wordllama",
        )


def _database_url(values: Mapping[str, str]) -> Secret | None:
    # The URL may carry a password: it stays a Secret, and errors name only its scheme.
    raw = values.get("DATABASE_URL")
    if not raw:
        return None
    if not raw.startswith(("postgresql://", "postgres://")):
        scheme = raw.split("://", 1)[0] if "://" in raw else "no scheme"
        raise ConfigError(
            f"DATABASE_URL must be a postgresql:// URL, got one with {scheme}; "
            "leave it unset to use the SQLite file PAPERBOY_DB"
        )
    return Secret(raw)


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _url(values: Mapping[str, str], name: str, default: str) -> str:
    url = values.get(name) or default
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must start with http:// or https://, got {url!r}")
    return url.rstrip("/")


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in logging.getLevelNamesMapping():
        raise ConfigError(
            f"PAPERBOY_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {value!r}"
        )
    return level


def _choice(values: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """One of ``allowed`` (the first when unset), case-insensitive."""
    raw = values.get(name) or allowed[0]
    if raw.lower() not in allowed:
        raise ConfigError(f"{name} must be {' or '.join(allowed)}, got {raw!r}")
    return raw.lower()


def _positive_float(values: Mapping[str, str], name: str, default: float) -> float:
    raw = values.get(name)
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return number


def _optional_int(values: Mapping[str, str], name: str) -> int | None:
    raw = values.get(name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None


def _discord_shards(values: Mapping[str, str]) -> dict[str, Any]:
    count = _optional_int(values, "DISCORD_SHARD_COUNT")
    raw_ids = values.get("DISCORD_SHARD_IDS", "").strip()
    if count is not None and count < 1:
        raise ConfigError(f"DISCORD_SHARD_COUNT must be 1 or more, got {count}")
    if not raw_ids:
        return {"discord_shard_count": count, "discord_shard_ids": None}
    if count is None:
        raise ConfigError(
            "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT too: the total number of shards across "
            "all your Discord processes (e.g. DISCORD_SHARD_COUNT=4, DISCORD_SHARD_IDS=0,1)"
        )
    try:
        ids = tuple(int(part) for part in raw_ids.split(","))
    except ValueError:
        raise ConfigError(
            f"DISCORD_SHARD_IDS must be shard numbers separated by commas (e.g. 0,1), got "
            f"{raw_ids!r}"
        ) from None
    if len(set(ids)) != len(ids) or not all(0 <= shard < count for shard in ids):
        raise ConfigError(
            f"DISCORD_SHARD_IDS must be different numbers from 0 to {count - 1} "
            f"(DISCORD_SHARD_COUNT is {count}), got {raw_ids!r}"
        )
    return {"discord_shard_count": count, "discord_shard_ids": ids}


def _secret(values: Mapping[str, str], name: str) -> Secret | None:
    raw = values.get(name)
    return Secret(raw) if raw else None
