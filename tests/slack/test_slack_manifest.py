"""The manifest a user pastes into Slack matches what the adapter does and asks for."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.slack_app.http import EVENTS_PATH
from adapters.slack_app.oauth import BOT_SCOPES, REDIRECT_PATH
from bot.ids import find_paper_links

MANIFEST = (Path(__file__).resolve().parents[2] / "slack-manifest.yml").read_text("utf-8")


def listed_under(key: str) -> list[str]:
    """The ``- item`` lines right under ``key:`` (comments dropped)."""
    match = re.search(rf"^(\s*){key}:\n((?:\1\s+[-#].*\n)+)", MANIFEST, re.MULTILINE)
    assert match, f"{key} not found"
    lines = [line.split("#")[0].strip() for line in match.group(2).splitlines()]
    return [line[2:].strip() for line in lines if line.startswith("- ")]


def test_it_asks_for_exactly_the_scopes_the_app_uses() -> None:
    assert listed_under("bot") == list(BOT_SCOPES)


def test_it_subscribes_to_the_events_the_app_handles() -> None:
    assert set(listed_under("bot_events")) == {
        "link_shared", "app_uninstalled", "tokens_revoked", "app_home_opened",
        "message.channels", "message.groups",
    }  # fmt: skip


def test_the_home_tab_is_on() -> None:
    assert re.search(r"^\s+home_tab_enabled: true", MANIFEST, re.MULTILINE)
    assert re.search(r"^\s+messages_tab_enabled: true", MANIFEST, re.MULTILINE)


def test_every_unfurl_domain_is_a_paper_site_we_recognise() -> None:
    domains = listed_under("unfurl_domains")
    assert set(domains) == {"arxiv.org", "huggingface.co", "alphaxiv.org"}
    samples = {"arxiv.org": "https://arxiv.org/abs/2401.01234",
               "huggingface.co": "https://huggingface.co/papers/2401.01234",
               "alphaxiv.org": "https://www.alphaxiv.org/abs/2401.01234"}  # fmt: skip
    assert all(find_paper_links(samples[domain]) for domain in domains)


def test_every_url_points_at_the_one_endpoint() -> None:
    urls = re.findall(r"^\s+(?:url|request_url): (\S+)", MANIFEST, re.MULTILINE)
    assert len(urls) == 3
    assert all(url.endswith(EVENTS_PATH) for url in urls)
    assert listed_under("redirect_urls")[0].endswith(REDIRECT_PATH)
    assert "command: /papers" in MANIFEST
