"""Embeds stay inside Discord's limits, however long the papers and lists are."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.discord_app.embeds import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    EMBEDS_TOTAL_LIMIT,
    FIELD_COUNT_LIMIT,
    FIELD_VALUE_LIMIT,
    TITLE_LIMIT,
    DiscordMessage,
    highlighted,
    render,
)
from bot.commands import Paperboy
from bot.ingest import ingest_papers
from bot.models import Paper
from bot.replies import Highlight, PaperCard, PaperDetail, PaperList
from bot.search import SearchIndex
from bot.storage import Store
from tests.discord.conftest import Gateway, buttons, callback
from tests.papers import NOW


def _long_paper(n: int) -> Paper:
    return Paper(
        id=f"0002.{n:05d}",
        title=f"Paper {n}: " + "A *Very* Long Title About Transformers_and_Attention " * 12,
        abstract="We study **markdown** `code`, _underscores_ and ~tildes~ at length. " * 60,
        authors=tuple(f"Author Number {i}" for i in range(60)),
        published=NOW - timedelta(hours=n),
        categories=("cs.CL", "cs.LG", "cs.AI", "stat.ML"),
        hf_upvotes=1000 - n,
        on_hf=True,
        code_url="https://github.com/example/very-long-repository-name",
    )


def assert_within_limits(data: dict[str, Any]) -> None:
    """Discord's limits, checked on the JSON discord.py sent."""
    embeds = data.get("embeds", [])
    assert len(embeds) <= EMBEDS_PER_MESSAGE
    total = 0
    for embed in embeds:
        assert len(embed.get("title", "")) <= TITLE_LIMIT
        assert len(embed.get("description", "")) <= DESCRIPTION_LIMIT
        assert len(embed.get("fields", [])) <= FIELD_COUNT_LIMIT
        for field in embed.get("fields", []):
            assert len(field["name"]) <= 256
            assert 0 < len(field["value"]) <= FIELD_VALUE_LIMIT
        assert len(embed.get("footer", {}).get("text", "")) <= 2048
        total += sum(len(embed.get(k, "")) for k in ("title", "description"))
        total += sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
        total += len(embed.get("footer", {}).get("text", ""))
    assert total <= EMBEDS_TOTAL_LIMIT
    assert len(data.get("content") or "") <= CONTENT_LIMIT
    rows = data.get("components", [])
    assert len(rows) <= 5
    assert all(len(row["components"]) <= 5 for row in rows)
    assert all(len(b["label"]) <= 80 and len(b["custom_id"]) <= 100 for b in buttons(data))


async def test_a_long_trending_list_fits_one_message(
    store: Store, index: SearchIndex, gateway: Gateway
) -> None:
    await ingest_papers(store, index, [_long_paper(n) for n in range(1, 16)], now=NOW)

    asked = gateway.command("papers", "trending", {"span": "week"})
    data = callback(await gateway.api.answers(asked))["data"]

    assert_within_limits(data)
    assert len(data["embeds"]) == 10  # trending shows ten; each got a smaller share
    assert len(buttons(data)) == 20  # an upvote and a Save button for each
    assert data["embeds"][0]["title"].startswith("1. Paper 1: A *Very* Long Title")
    assert data["embeds"][0]["title"].endswith("…")
    assert "\\*\\*markdown\\*\\*" in data["embeds"][0]["description"]  # shown, not formatting


async def test_a_long_paper_shown_in_full_fits(
    bot: Paperboy, store: Store, index: SearchIndex, gateway: Gateway
) -> None:
    await ingest_papers(store, index, [_long_paper(1)], now=NOW)

    shown = gateway.command("papers", "share", {"paper": "0002.00001", "comment": "x" * 900})
    data = callback(await gateway.api.answers(shown))["data"]

    assert_within_limits(data)
    fields = {f["name"]: f["value"] for f in data["embeds"][0]["fields"]}
    assert (
        fields["Authors"]
        == "Author Number 0, " + ", ".join(f"Author Number {i}" for i in range(1, 10)) + " et al."
    )


def test_a_list_longer_than_one_message_is_cut_with_a_hint() -> None:
    cards = tuple(PaperCard(_long_paper(n), team_votes=n) for n in range(1, 31))
    message = render(PaperList("Everything", cards, total=30, more_hint="Narrow it down."))

    assert len(message.embeds) == 10
    assert message.content is not None
    assert message.content.splitlines() == [
        "**Everything**",
        "Narrow it down.",
        "…and 20 more that did not fit in one message.",
    ]
    assert [v.row for v in message.votes] == [0] * 5 + [1] * 5
    assert sum(len(e) for e in message.embeds) <= EMBEDS_TOTAL_LIMIT


def test_highlights_survive_escaping_and_cutting() -> None:
    body = "A *bold* claim about attention and more attention"
    about, last = body.index("about"), body.rindex("attention")
    text = Highlight(body, ((about, about + 5), (last, last + 9)))

    assert highlighted(text, 100) == "A \\*bold\\* claim **about** attention and more **attention**"
    assert highlighted(text, 30) == "A \\*bold\\* claim **about**…"


_text = st.text(st.characters(codec="utf-8"), max_size=6000)


@settings(max_examples=40, deadline=None)
@given(
    title=_text,
    abstract=_text,
    authors=st.lists(st.text(max_size=300), max_size=80),
    comments=st.lists(_text, max_size=5),
    shared_by=st.lists(st.text(max_size=40), max_size=30),
    reason=st.none() | _text,
    count=st.integers(min_value=1, max_value=30),
)
def test_any_reply_fits(
    title: str,
    abstract: str,
    authors: list[str],
    comments: list[str],
    shared_by: list[str],
    reason: str | None,
    count: int,
) -> None:
    paper = Paper(
        id="0003.00001", title=title or "t", abstract=abstract, authors=tuple(authors),
        published=NOW, categories=("cs.CL",),
    )  # fmt: skip
    card = PaperCard(
        paper, team_votes=3, snippet=Highlight(abstract, ((0, min(5, len(abstract))),)),
        reason=reason, shared_by=tuple(shared_by), comments=tuple(comments),
    )  # fmt: skip
    for message in (
        render(PaperDetail(card)),
        render(PaperList(title, (card,) * count, total=count, footer=reason, more_hint=reason)),
    ):
        assert_within_limits(_as_sent(message))


def _as_sent(message: DiscordMessage) -> dict[str, Any]:
    rows: dict[int, list[dict[str, Any]]] = {}
    for vote in message.votes:
        rows.setdefault(vote.row, []).append(
            {"label": vote.label, "custom_id": f"paperboy:vote:{vote.paper_id}"}
        )
    return {
        "content": message.content,
        "embeds": [e.to_dict() for e in message.embeds],
        "components": [{"components": row} for row in rows.values()],
    }
