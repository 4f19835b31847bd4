"""Embeds stay inside Discord's limits, however long the papers and lists are."""

from __future__ import annotations

from dataclasses import replace
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
from tests.papers import NOW, seed_papers


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


def test_cards_show_the_tldr_code_stars_and_reading_state() -> None:
    summary = "StreamingLLM keeps a few attention sink tokens so models stream forever."
    paper = replace(
        seed_papers()[0],
        ai_summary=summary,
        code_url="https://github.com/mit-han-lab/streaming-llm",
        github_stars=6543,
    )
    card = PaperCard(paper, team_votes=2, reading="unread")

    listed = render(PaperList("Saved", (card,), total=1)).embeds[0]
    detail = render(PaperDetail(card)).embeds[0]

    assert listed.description is not None and detail.description is not None
    facts, tldr_line, excerpt = listed.description.split("\n")
    assert (
        "[mit-han-lab/streaming-llm ★ 6.5k](https://github.com/mit-han-lab/streaming-llm)" in facts
    )
    assert facts.endswith("🔖 unread")
    assert tldr_line == f"**TL;DR** *{summary}*"
    assert excerpt.startswith("Deploying Large Language Models")
    assert detail.description.startswith(f"**TL;DR** *{summary}*\n\nDeploying")
    fields = {f.name: f.value for f in detail.fields}
    assert "Code: [mit-han-lab/streaming-llm ★ 6.5k]" in (fields["Links"] or "")
    assert fields["Your reading list"] == "🔖 unread"


def test_without_a_summary_the_first_sentence_is_the_tldr_and_not_repeated() -> None:
    card = PaperCard(seed_papers()[2])  # Promptagator: two sentences, no HF summary

    (embed,) = render(PaperList("Found", (card,), total=1)).embeds

    assert embed.description is not None
    _, tldr_line, excerpt = embed.description.split("\n")
    assert (
        tldr_line
        == "**TL;DR** *Much recent research on information retrieval has focused on how to "
        "transfer from one task (typically with abundant supervised data) to various other tasks "
        "where supervision is limited.*"
    )
    assert excerpt == "We show that dense retrieval can be trained from eight examples."


def test_a_digest_intro_sits_above_the_cards() -> None:
    intro = ("**This week in journal club**", "Mon 30 Nov: “Tutel”, presented by Ada")
    cards = tuple(PaperCard(p) for p in seed_papers()[:2])

    message = render(PaperList("This week's team digest", cards, total=2, public=True, intro=intro))
    empty = render(PaperList("This week's team digest", (), total=0, public=True, intro=intro))

    assert message.content is not None
    assert message.content.split("\n")[:3] == ["**This week's team digest**", *intro]
    assert "This week in journal club" in (empty.embeds[0].description or "")


@given(st.text(min_size=0, max_size=3000), st.integers(min_value=0, max_value=10**9))
@settings(max_examples=40, deadline=None)
def test_any_summary_and_star_count_stay_within_limits(summary: str, stars: int) -> None:
    papers = [replace(_long_paper(n), ai_summary=summary, github_stars=stars) for n in range(1, 11)]
    cards = tuple(PaperCard(p, reading="read") for p in papers)
    intro = tuple(summary[:500] for _ in range(5))

    for message in (
        render(PaperList("List", cards, total=10, intro=intro)),
        render(PaperDetail(cards[0])),
    ):
        embeds = [e.to_dict() for e in message.embeds]
        assert_within_limits({"embeds": embeds})
        assert len(message.content or "") <= CONTENT_LIMIT
        rows = {spec.row for spec in (*message.votes, *message.saves)}
        assert rows <= set(range(5))  # Discord shows at most five rows of buttons
