"""The App Home tab: one person's reading list, the team's top papers this week and the
workspace's channel subscriptions, as a ``views.publish`` view (pure, so tested without Slack).

Home tab buttons would arrive without a channel, so the papers here are links, not cards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from adapters.slack_app.blocks import escape
from bot.commands import HomeSummary
from bot.models import Subscription
from bot.replies import Notice, PaperCard, PaperList, Reply, format_authors, shorten

Block = dict[str, Any]

MAX_HOME_BLOCKS = 100  # Slack's limit for a Home tab view (messages: 50)
MAX_HOME_PAPERS = 10  # per list
MAX_HOME_CHANNELS = 20
MAX_TEXT = 2900  # under a section's 3000 characters, with room for a "…"


def home_view(summary: HomeSummary) -> dict[str, Any]:
    """The ``view`` argument of views.publish."""
    blocks: list[Block] = [
        _header("Your reading list"),
        *_papers(summary.saved),
        {"type": "divider"},
        _header("Your team's top papers this week"),
        *_papers(summary.top),
        {"type": "divider"},
        _header("Channel subscriptions"),
        *_subscriptions(summary.subscriptions),
        _context("Type `/papers help` in any channel for everything Paperboy does."),
    ]
    return {"type": "home", "blocks": blocks[:MAX_HOME_BLOCKS]}


def _papers(reply: Reply) -> list[Block]:
    if isinstance(reply, Notice):  # the core refused or failed: say what it said
        return [_section(escape(reply.text))]
    if not isinstance(reply, PaperList) or not reply.cards:
        empty = reply.empty_text if isinstance(reply, PaperList) else "Nothing here yet."
        return [_section(escape(empty))]
    blocks = [_section(_paper_line(card)) for card in reply.cards[:MAX_HOME_PAPERS]]
    hidden = max(reply.total, len(reply.cards)) - len(blocks)
    if hidden > 0:
        blocks.append(_context(f"…and {hidden} more."))
    if reply.footer:
        blocks.append(_context(escape(reply.footer)))
    return blocks


def _paper_line(card: PaperCard) -> str:
    paper = card.paper
    url = paper.abs_url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    facts = [escape(format_authors(paper.authors)), f"{paper.published:%Y-%m-%d}"]
    if card.team_votes:
        facts.append(f"▲ {card.team_votes} team vote{'' if card.team_votes == 1 else 's'}")
    if card.reading is not None:
        facts.append("✓ Read" if card.reading == "read" else ":bookmark: Unread")
    title = escape(shorten(paper.title, 200))
    return f"*<{url}|{title}>* `{escape(paper.id)}`\n" + " · ".join(facts)


def _subscriptions(subscriptions: Sequence[Subscription]) -> list[Block]:
    if not subscriptions:
        return [
            _section("No channel follows a topic yet. In a channel: `/papers subscribe <topic>`.")
        ]
    by_channel: dict[str, list[str]] = defaultdict(list)
    for subscription in subscriptions:
        by_channel[subscription.channel.channel].append(subscription.query)
    blocks = []
    for channel, queries in list(by_channel.items())[:MAX_HOME_CHANNELS]:
        topics = ", ".join(f"`{escape(shorten(query, 200))}`" for query in queries)
        blocks.append(_section(_cut(f"<#{escape(channel)}>: {topics}")))
    if len(by_channel) > MAX_HOME_CHANNELS:
        blocks.append(_context(f"…and {len(by_channel) - MAX_HOME_CHANNELS} more channels."))
    return blocks


def _cut(text: str) -> str:
    """Cut after the last whole topic that fits (never inside a `code` span)."""
    if len(text) <= MAX_TEXT:
        return text
    return text[: text.rfind("`, `", 0, MAX_TEXT) + 1] + ", …"


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
