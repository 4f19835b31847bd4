"""The /papers verbs, as a person in a channel sees them."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import search_plan
from bot.commands import COMMANDS, Paperboy
from bot.ingest import ingest_papers
from bot.models import ChannelRef, Paper
from bot.replies import Command, Notice, PaperDetail, PaperList, Reply, VoteRecorded
from tests.conftest import GENERAL, Chat, Clock
from tests.papers import NOW, paper, seed_papers

Ask = Callable[..., Awaitable[Reply]]
OTHER_TEAM = ChannelRef("console", "team-b", "general")


async def test_help_lists_every_command(chat: Chat) -> None:
    text = await chat("help")
    for name in COMMANDS:
        assert f"`/papers {name}" in text


async def test_empty_command_shows_help(chat: Chat) -> None:
    assert "search <query>" in await chat("   ")


async def test_unknown_command_suggests_the_closest_one(chat: Chat) -> None:
    text = await chat("serch attention")
    assert "don't know the command `serch`" in text
    assert "`/papers search`" in text


async def test_search_ranks_by_relevance_with_title_authors_link_and_marked_words(ask: Ask) -> None:
    reply = await ask("search attention sinks")
    assert isinstance(reply, PaperList)
    first = reply.cards[0]
    assert first.paper.title == "Efficient Streaming Language Models with Attention Sinks"
    assert first.paper.abs_url == f"https://arxiv.org/abs/{first.paper.id}"
    assert first.snippet is not None and first.snippet.spans
    assert not reply.public


async def test_search_with_share_flag_is_posted_in_channel(ask: Ask) -> None:
    reply = await ask("search retrieval --share")
    assert isinstance(reply, PaperList) and reply.public
    assert reply.cards


async def test_search_with_nothing_found_says_so_kindly(chat: Chat) -> None:
    assert "No papers match" in await chat("search quantum chromodynamics lattice")


async def test_search_missing_one_word_says_so_and_shows_the_closest_matches(ask: Ask) -> None:
    reply = await ask("search attention sinks zyxwvut")
    assert isinstance(reply, PaperList)
    assert reply.title == "No paper has all of: attention, sinks, zyxwvut; closest matches:"
    reply = await ask("search what about attention sinks in zyxwvut?")  # asked as a question
    assert isinstance(reply, PaperList)
    assert reply.title == "No paper has all of: attention, sinks, zyxwvut; closest matches:"
    assert reply.cards[0].paper.title.endswith("with Attention Sinks")
    reply = await ask("search attention sinks, sinks step by step")  # each word named once
    assert isinstance(reply, PaperList)
    assert reply.title == "No paper has all of: attention, sinks, step; closest matches:"


async def test_more_closest_matches_are_not_narrowed_by_more_words(bot: Paperboy, ask: Ask) -> None:
    more = [paper(1, id=f"2501.{n:05d}", title=f"Language models, part {n}") for n in range(1, 13)]
    await ingest_papers(bot.store, bot.index, more)
    keywords = await ask("search language models")
    assert isinstance(keywords, PaperList) and keywords.more_hint is not None
    assert keywords.more_hint.startswith(f"Showing 5 of {keywords.total}. Narrow it with more")
    # Papers that already lack a word are not narrowed by more: the hint says what they are.
    closest = await ask("search language models zyxwvut")
    assert isinstance(closest, PaperList) and closest.total > 5
    hint = f"Showing the 5 closest of {closest.total} papers with some of the words."
    assert closest.more_hint == hint


async def test_search_with_many_matches_says_about_how_many(
    bot: Paperboy, ask: Ask, monkeypatch: pytest.MonkeyPatch
) -> None:
    more = [paper(1, id=f"2501.{n:05d}", title=f"Language models, part {n}") for n in range(1, 13)]
    await ingest_papers(bot.store, bot.index, more)
    exact = await ask("search models")
    assert isinstance(exact, PaperList) and exact.more_hint is not None
    assert f"Showing 5 of {exact.total}." in exact.more_hint
    # As with a large corpus: counting every match would cost as much as scoring them all.
    monkeypatch.setattr(search_plan, "EXACT_COUNT_UP_TO", 0)
    about = await ask("search models")
    assert isinstance(about, PaperList) and about.more_hint is not None
    assert "Showing 5 of about " in about.more_hint
    assert [c.paper.id for c in about.cards] == [c.paper.id for c in exact.cards]
    phrase = await ask('search "language models"')
    assert isinstance(phrase, PaperList) and phrase.more_hint is not None
    assert "Showing 5 of more than 5." in phrase.more_hint


async def test_search_of_common_words_alone_reads_them_as_a_phrase(
    bot: Paperboy, ask: Ask, chat: Chat
) -> None:
    with_it = paper(1, id="2501.00001", title="Learning on with less", abstract="Models.")
    apart = paper(1, id="2501.00002", title="Learning with less", abstract="Based on data.")
    await ingest_papers(bot.store, bot.index, [with_it, apart])
    reply = await ask("search on with")
    assert isinstance(reply, PaperList)
    assert reply.title == 'Results for "on with"'
    assert [card.paper.id for card in reply.cards] == [with_it.id]
    text = await chat("search The")
    assert "“The” is in nearly every paper" in text and "Add a word" in text
    # Any other word keeps the usual meaning: all the words, anywhere.
    found = await ask("search on with less")
    assert isinstance(found, PaperList)
    assert {with_it.id, apart.id} <= {card.paper.id for card in found.cards}


async def test_search_since_counts_back_from_today_and_says_the_date(
    bot: Paperboy, ask: Ask, chat: Chat
) -> None:
    old = paper(1, id="2511.00001", title="Zyxwvut planners, revisited")
    new = paper(1, id="2511.00002", title="Zyxwvut planners, new")
    old, new = (
        dataclasses.replace(old, published=NOW - timedelta(days=20)),
        dataclasses.replace(new, published=NOW - timedelta(days=3)),
    )
    await ingest_papers(bot.store, bot.index, [old, new])
    for since in ("since:1w", "since:7days", "since:2026-11-19"):
        reply = await ask(f"search zyxwvut planners {since}")
        assert isinstance(reply, PaperList)
        assert [card.paper.id for card in reply.cards] == [new.id]
        assert reply.title == "Results for zyxwvut planners since:2026-11-19"
    reply = await ask("search zyxwvut planners since:1m")
    assert isinstance(reply, PaperList) and len(reply.cards) == 2
    # A topic is matched on later days, when "a week ago" would mean another date.
    refused = await chat("subscribe zyxwvut since:7d")
    assert refused.startswith("✗") and "give it a date like `since:2024-01-01`" in refused
    assert "follows no topics" in await chat("subscriptions")


async def test_search_without_a_query_explains_what_to_type(chat: Chat) -> None:
    text = await chat("search")
    assert "What should I search for?" in text


async def test_show_accepts_ids_versions_and_links(ask: Ask) -> None:
    for text in (paper(3).id, f"{paper(3).id}v2", f"https://huggingface.co/papers/{paper(3).id}"):
        reply = await ask(f"show {text}")
        assert isinstance(reply, PaperDetail)
        assert reply.card.paper.id == paper(3).id


async def test_show_an_unknown_paper_without_a_lookup_says_it_was_not_found(chat: Chat) -> None:
    assert "could not find paper `2401.99999`" in await chat("show 2401.99999")
    assert "is not a paper id or link" in await chat("show banana")
    assert "Which paper?" in await chat("show")


async def test_vote_toggles_and_counts_per_team(ask: Ask) -> None:
    first = await ask(f"vote {paper(1).id}", user="alice")
    second = await ask(f"vote {paper(1).id}", user="bob")
    elsewhere = await ask(f"vote {paper(1).id}", user="carol", channel=OTHER_TEAM)
    undo = await ask(f"vote {paper(1).id}", user="alice")
    assert isinstance(first, VoteRecorded) and first.voted and first.card.team_votes == 1
    assert isinstance(second, VoteRecorded) and second.card.team_votes == 2
    assert isinstance(elsewhere, VoteRecorded) and elsewhere.card.team_votes == 1
    assert isinstance(undo, VoteRecorded) and not undo.voted and undo.card.team_votes == 1


async def test_share_posts_the_card_in_channel_and_feeds_the_weekly_top(
    ask: Ask, chat: Chat
) -> None:
    reply = await ask(f"share https://arxiv.org/abs/{paper(5).id}v1 great RAG baseline", user="bob")
    assert isinstance(reply, PaperDetail) and reply.public
    assert reply.card.shared_by == ("bob",)
    assert reply.card.comments == ("great RAG baseline",)
    await ask(f"vote {paper(5).id}", user="alice")
    assert paper(5).title in await chat("top week")


async def test_pasted_links_become_shares_and_cards(bot: Paperboy, clock: Clock) -> None:
    message = (
        f"read https://arxiv.org/abs/{paper(5).id}v2 and https://huggingface.co/papers/"
        f"{paper(6).id} (not https://arxiv.org/abs/2401.99999)"
    )
    shared = await bot.share_links(GENERAL, "bob", [message, "no link here"], limit=3)

    assert [link.card.paper.id for link in shared] == [paper(5).id, paper(6).id]
    assert {link.text for link in shared} == {message}
    recorded = await bot.store.shares_since(GENERAL, clock() - timedelta(days=1))
    assert sorted(s.paper_id for s in recorded) == sorted([paper(5).id, paper(6).id])


async def test_links_in_a_message_being_written_are_shown_not_shared(
    bot: Paperboy, clock: Clock
) -> None:
    links = [f"https://arxiv.org/abs/{paper(n).id}" for n in (5, 6, 7)]
    shown = await bot.share_links(GENERAL, "bob", links, limit=2, record=False)

    assert [link.text for link in shown] == links[:2]
    assert not await bot.store.shares_since(GENERAL, clock() - timedelta(days=1))


async def test_hints_are_spelled_for_the_platform_they_are_read_on(chat: Chat) -> None:
    on_discord = ChannelRef("discord", "1", "2")
    assert "`/papers-channel subscribe <topic>`" in await chat("subscriptions", channel=on_discord)
    assert "`/papers subscribe <topic>`" in await chat("subscriptions")
    assert "`/papers-channel schedule`?" in await chat("schedul", channel=on_discord)


async def test_top_is_empty_until_someone_votes(chat: Chat) -> None:
    assert "Nobody upvoted" in await chat("top month")
    assert "Use `/papers top week` or `/papers top month`" in await chat("top year")


async def test_trending_orders_by_score(ask: Ask) -> None:
    reply = await ask("trending today")
    assert isinstance(reply, PaperList)
    assert reply.cards[0].paper.id == paper(1).id  # most upvotes and newest


async def test_team_votes_lift_a_paper_in_trending(ask: Ask) -> None:
    before = await ask("trending week")
    for user in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p"):
        await ask(f"vote {paper(8).id}", user=user)
    after = await ask("trending week")
    assert isinstance(before, PaperList) and isinstance(after, PaperList)
    rank = [c.paper.id for c in after.cards].index(paper(8).id)
    assert rank < [c.paper.id for c in before.cards].index(paper(8).id)


async def test_subscribe_list_and_unsubscribe(chat: Chat) -> None:
    assert 'Subscribed this channel to `"attention sinks" OR retrieval`' in await chat(
        'subscribe "attention sinks" OR retrieval'
    )
    assert "already follows" in await chat('subscribe "attention sinks" OR retrieval')
    await chat("subscribe cat:cs.CV")
    listing = await chat("subscriptions")
    assert '1. `"attention sinks" OR retrieval`' in listing and "2. `cat:cs.cv`" in listing.lower()
    assert "Unsubscribed" in await chat("unsubscribe 1")
    assert "Unsubscribed" in await chat("unsubscribe cat:cs.CV")
    assert "follows no topics" in await chat("subscriptions")


async def test_topics_add_and_remove_do_what_they_say(chat: Chat) -> None:
    assert "Subscribed this channel to `cat:cs.CV`" in await chat("topics add cat:cs.CV")
    assert "Subscribed this channel to `diffusion`" in await chat("Topics Follow diffusion")
    assert "2. `diffusion`" in await chat("topics")
    assert "Unsubscribed" in await chat("topics remove 1")
    assert "Unsubscribed" in await chat("list delete diffusion")
    assert "follows no topics" in await chat("topics")


async def test_subscriptions_belong_to_their_channel(chat: Chat) -> None:
    await chat("subscribe diffusion")
    assert "follows no topics" in await chat("subscriptions", channel=OTHER_TEAM)


async def test_bad_topics_get_a_friendly_error(chat: Chat) -> None:
    assert "Subscribe to what?" in await chat("subscribe")
    text = await chat("subscribe -everything")
    assert text.startswith("✗")


async def test_a_mistyped_category_is_refused_with_the_one_meant(chat: Chat) -> None:
    # cat:cs.VC would match no paper ever: the channel would wait for picks that never come.
    text = await chat("subscribe cat:cs.VC")
    assert text.startswith("✗") and "Did you mean `cat:cs.CV` (Computer Vision" in text
    assert "follows no topics" in await chat("subscriptions")
    assert "Did you mean `cat:stat.ML`" in await chat("search transformers cat:cs.ML")
    subscribed = await chat("subscribe cat:CS.cv")
    assert "category cs.CV (Computer Vision and Pattern Recognition)" in subscribed


async def test_an_archive_finds_papers_in_any_of_its_categories(bot: Paperboy, ask: Ask) -> None:
    old_style = paper(1, id="astro-ph/0701001", title="Galaxy clusters", categories=("astro-ph",))
    new_style = paper(1, id="2511.00003", title="Galaxy mergers", categories=("astro-ph.GA",))
    elsewhere = paper(1, id="2511.00004", title="Galaxy of graphs", categories=("math.CO",))
    await ingest_papers(bot.store, bot.index, [old_style, new_style, elsewhere])
    reply = await ask("search galaxy cat:astro-ph")
    assert isinstance(reply, PaperList) and reply.title == "Results for galaxy cat:astro-ph"
    assert {card.paper.id for card in reply.cards} == {old_style.id, new_style.id}
    reply = await ask("search cat:cs")  # the seed papers are cs.CL, cs.CV, cs.IR, …: all of them
    assert isinstance(reply, PaperList) and reply.total == len(seed_papers())
    reply = await ask("search galaxy -cat:astro-ph")
    assert isinstance(reply, PaperList) and [c.paper.id for c in reply.cards] == [elsewhere.id]


async def test_a_topic_saved_with_a_code_arxiv_lacks_is_listed_as_matching_nothing(
    bot: Paperboy, chat: Chat
) -> None:
    # Saved before codes were checked.
    await bot.store.add_subscription(GENERAL, "cat:cs.VC", "alice")
    await chat("subscribe diffusion")
    listing = await chat("subscriptions")
    assert "1. `cat:cs.VC`: matches no paper. `cat:cs.VC` is not an arXiv category." in listing
    assert "Did you mean `cat:cs.CV`" in listing and "2. `diffusion`\n" in listing
    assert "Unsubscribed this channel from `cat:cs.VC`" in await chat("unsubscribe cat:cs.VC")


async def test_schedule_is_validated_and_saved(chat: Chat) -> None:
    assert "at 08:30 (Europe/Berlin)" in await chat("schedule 08:30 europe/berlin weekdays")
    assert "at 08:30 (Europe/Berlin)" in await chat("subscriptions")
    assert "not a time" in await chat("schedule 25:99 UTC")
    bad_zone = await chat("schedule 09:00 Europe/Berln")
    assert "not a timezone I know" in bad_zone and "Europe/Berlin" in bad_zone
    assert "Daily picks are off" in await chat("schedule off")


async def test_digest_preview_picks_topic_matches_with_reasons(ask: Ask) -> None:
    await ask("subscribe retrieval")
    reply = await ask("digest")
    assert isinstance(reply, PaperList)
    assert reply.cards and all("retrieval" in (c.reason or "") for c in reply.cards)
    assert {c.paper.id for c in reply.cards} <= {paper(3).id, paper(5).id, paper(7).id}


async def test_digest_preview_without_topics_shows_trending(ask: Ask) -> None:
    reply = await ask("digest")
    assert isinstance(reply, PaperList)
    assert len(reply.cards) == 5


async def test_digest_preview_says_so_when_nothing_is_new(ask: Ask, clock: Clock) -> None:
    clock.now += timedelta(days=5)
    reply = await ask("digest")
    assert isinstance(reply, Notice) and "No new papers" in reply.text


class _Lookup:
    def __init__(self, papers: Sequence[Paper]) -> None:
        self.papers = {p.id: p for p in papers}
        self.calls: list[list[str]] = []

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
        self.calls.append(list(paper_ids))
        return [self.papers[i] for i in paper_ids if i in self.papers]


async def test_an_unknown_paper_is_looked_up_once_stored_and_searchable(bot: Paperboy) -> None:
    fresh = paper(1, id="0001.09999", title="Lookup-only paper about holography", hf_upvotes=0)
    lookup = _Lookup([fresh])
    bot.lookup = lookup
    ask = lambda text: bot.handle(Command(GENERAL, "alice", text))  # noqa: E731
    shown = await ask("show https://arxiv.org/abs/0001.09999v1")
    assert isinstance(shown, PaperDetail) and shown.card.paper.title == fresh.title
    await ask("show 0001.09999")
    assert lookup.calls == [["0001.09999"]]
    found = await ask("search holography")
    assert isinstance(found, PaperList) and found.cards[0].paper.id == "0001.09999"


async def test_a_failing_lookup_is_a_friendly_message(bot: Paperboy) -> None:
    class Down:
        async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
            raise TimeoutError("arXiv timed out")

    bot.lookup = Down()
    reply = await bot.handle(Command(GENERAL, "alice", "show 2401.00001"))
    assert isinstance(reply, Notice) and reply.kind == "error"
    assert "did not answer" in reply.text
    # "More like this" for a paper it cannot look up still says first that it does not know it.
    reply = await bot.handle(Command(GENERAL, "alice", "similar 2401.00001"))
    assert isinstance(reply, Notice) and reply.kind == "error"
    assert reply.text.startswith("Unknown paper `2401.00001`: I have not seen it, and arXiv")


async def test_an_internal_failure_is_an_apology_not_a_traceback(bot: Paperboy) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("database exploded at line 42")

    bot.store.subscriptions = broken  # type: ignore[method-assign]
    reply = await bot.handle(Command(GENERAL, "alice", "subscriptions"))
    assert isinstance(reply, Notice) and reply.kind == "error"
    assert "something went wrong" in reply.text
    assert "exploded" not in reply.text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(max_size=200)
    | st.sampled_from(sorted(COMMANDS)).flatmap(
        lambda name: st.text(max_size=80).map(lambda rest: f"{name} {rest}")
    )
)
async def test_no_typed_string_crashes_a_command(bot: Paperboy, text: str) -> None:
    reply = await bot.handle(Command(GENERAL, "fuzzer", text))
    if isinstance(reply, Notice) and reply.kind == "error":
        assert "something went wrong" not in reply.text


async def test_schedule_sets_how_many_picks_and_quiet_days(chat: Chat, ask: Ask) -> None:
    text = await chat("schedule 07:45 Asia/Tokyo daily picks:2 quiet:off")
    assert "every day at 07:45 (Asia/Tokyo)" in text
    assert "Up to 2 papers" in text and "silence on days with nothing new" in text
    assert "Up to 3 papers" in await chat("schedule picks:3")
    preview = await ask("digest")
    assert isinstance(preview, PaperList) and len(preview.cards) == 3
    assert "`picks:` takes a number from 1 to 10" in await chat("schedule picks:50")
    assert "`quiet:on`" in await chat("schedule quiet:maybe")


async def test_a_nul_character_is_refused_not_stored(chat: Chat) -> None:
    # Found by the fuzzer above on PostgreSQL, whose text cannot hold NUL.
    assert "NUL character" in await chat("subscribe 0\x00")


async def test_search_results_show_this_teams_votes(ask: Ask) -> None:
    for user in ("alice", "bob"):
        await ask("vote 0001.00001", user=user)
    await ask("vote 0001.00001", user="carol", channel=OTHER_TEAM)

    result = await ask("search streaming attention")

    assert isinstance(result, PaperList)
    votes = {card.paper.id: card.team_votes for card in result.cards}
    assert votes.pop("0001.00001") == 2
    assert votes and set(votes.values()) == {0}


async def test_a_slow_search_leaves_the_bot_free_to_answer_others(
    bot: Paperboy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A quick search may run on the event loop; once searches are slow (a huge index), they
    run beside it, and everything else the bot does keeps going meanwhile."""
    search = bot.index.search

    def slow_search(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.06)
        return search(*args, **kwargs)

    monkeypatch.setattr(bot.index, "search", slow_search)
    await bot.handle(Command(GENERAL, "alice", "search attention"))
    ticks = 0

    async def meanwhile() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    other = asyncio.ensure_future(meanwhile())
    await asyncio.sleep(0)
    reply = await bot.handle(Command(GENERAL, "alice", "search attention"))
    other.cancel()

    assert isinstance(reply, PaperList) and reply.cards
    assert ticks >= 3
