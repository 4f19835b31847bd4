"""What goes into a digest: the daily trending picks and the weekly team digest.

Deciding *when* a digest is due lives in ``bot.scheduling``; this module only decides *what* it
says, so ``/papers digest`` can preview exactly what the scheduler would post.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from bot.club import week_section
from bot.models import ChannelRef, Paper
from bot.ranking import rank_trending, trending_score
from bot.replies import Notice, PaperCard, PaperList, Reply, shorten
from bot.spelling import spelling_for
from bot.storage import Store
from bot.taste import MAX_LIKED, MIN_LIKED, Taste, fit_taste
from bot.topics import match_topics
from bot.vectors import VectorIndex

DAILY = "daily"
WEEKLY = "weekly"
DEFAULT_TOP_N = 5
WEEK = timedelta(days=7)
# How much popularity counts next to the team's taste (both as z-scores): taste leads, and among
# papers that fit about as well the ones people talk about come first.
TRENDING_WEIGHT = 0.3
# The team model scores at most this many of the day's most trending candidates.
TASTE_POOL = 2000
MISSED = 3
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Digest:
    """A digest ready to post, and the papers to remember as posted once it is out."""

    kind: str
    reply: Reply
    paper_ids: tuple[str, ...] = ()
    has_news: bool = False  # something worth posting besides papers (journal club)

    @property
    def is_empty(self) -> bool:
        return not self.paper_ids and not self.has_news


@dataclass(slots=True)
class DigestPlanner:
    """Plans daily picks for many channels from one pool of candidate papers.

    ``prepare`` loads the papers seen since the oldest point any channel needs, ranks them once by
    trending score and matches every distinct topic against them once; ``daily`` then walks the
    channel's topics' matches in rank order just far enough for its top, and re-scores the few
    papers its team voted on. Per channel that is a few dozen steps, not the whole pool: ten
    thousand channels plan in well under a second.
    """

    store: Store
    now: datetime
    vectors: VectorIndex | None = None
    _ranked: list[Paper] = field(default_factory=list)
    _rank_of: dict[str, int] = field(default_factory=dict)
    _topic_ranks: dict[str, list[int]] = field(default_factory=dict)  # query -> sorted ranks
    _topic_ids: dict[str, frozenset[str]] = field(default_factory=dict)
    _topics_by_channel: dict[ChannelRef, list[str]] = field(default_factory=dict)
    _posted: dict[ChannelRef, set[str]] = field(default_factory=dict)
    _votes: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    _liked: dict[tuple[str, str], list[Paper]] = field(default_factory=dict)
    _voters: set[tuple[str, str]] = field(default_factory=set)  # teams with enough upvotes
    # Per rank: the paper's id, and the later of when it was published and first seen.
    _ids: list[str] = field(default_factory=list)
    _newest: list[datetime] = field(default_factory=list)
    # Cards and "Why" lines many channels share: the same paper, votes and matching topics.
    _cards: dict[tuple[int, int, tuple[str, ...]], PaperCard] = field(default_factory=dict)
    _why_topics: dict[tuple[str, ...], str] = field(default_factory=dict)

    async def prepare(self, since: datetime, topics: Mapping[ChannelRef, Sequence[str]]) -> None:
        """Rank the papers seen since ``since`` and match every distinct topic of ``topics``
        (each channel's topics, oldest first) against them."""
        pool = await self.store.papers_published_since(since)
        self._ranked = rank_trending(pool, {}, self.now)
        self._rank_of = {paper.id: rank for rank, paper in enumerate(self._ranked)}
        self._ids = [paper.id for paper in self._ranked]
        self._newest = [max(p.first_seen or p.published, p.published) for p in self._ranked]
        distinct = list(dict.fromkeys(itertools.chain.from_iterable(topics.values())))
        # Topic matching runs in a thread: read what was posted and voted meanwhile.
        matches, self._posted, self._votes, self._voters = await asyncio.gather(
            asyncio.to_thread(match_topics, pool, distinct),
            self.store.posted_by_channel(DAILY, list(self._rank_of)),
            self.store.votes_by_workspace(since),
            self.store.teams_with_votes(MIN_LIKED),
        )
        rank = self._rank_of.__getitem__  # every match is one of ``pool``
        for topic, ids in matches.items():
            self._topic_ids[topic] = frozenset(ids)
            self._topic_ranks[topic] = sorted(map(rank, ids))
        self._topics_by_channel = {channel: list(queries) for channel, queries in topics.items()}

    async def daily(
        self,
        channel: ChannelRef,
        since: datetime,
        top_n: int = DEFAULT_TOP_N,
        quiet_reason: str | None = None,
    ) -> Digest:
        """The channel's picks among papers since ``since`` it has not been sent before."""
        topics = self._topics_by_channel.get(channel, [])
        posted = self._posted.get(channel, set())
        votes = self._votes.get((channel.platform, channel.workspace), {})
        team = (channel.platform, channel.workspace)
        if team not in self._liked:
            # One read told which teams upvoted enough to have a taste; only those ask for it.
            voted = team in self._voters
            self._liked[team] = await team_liked(self.store, channel) if voted else []
        taste, pool = None, []
        if self._liked[team]:
            pool = self._eligible(topics, since, posted, TASTE_POOL)
            taste = await team_taste(self.store, channel, pool, self.vectors, self._liked[team])
        if taste is None:
            picks = self._picks(topics, since, posted, votes, top_n)
        else:
            picks = blend(pool, taste, votes, self.now)[:top_n]
        if not picks:
            return Digest(DAILY, _nothing_new(since, bool(topics), quiet_reason))
        if taste is None:
            cards = tuple(self._card(p, votes.get(p.id, 0), topics) for p in picks)
        else:
            cards = tuple(
                PaperCard(p, votes.get(p.id, 0), reason=_why(p, self._reasons(topics, p), taste))
                for p in picks
            )
        title = "Today's picks for your topics" if topics else "Today's trending papers"
        if taste is not None and not topics:
            title = "Today's picks for your team"
        reply = PaperList(title, cards, total=len(cards), public=True)
        return Digest(DAILY, reply, tuple(p.id for p in picks))

    def _picks(
        self,
        topics: list[str],
        since: datetime,
        posted: set[str],
        votes: dict[str, int],
        top_n: int,
    ) -> list[Paper]:
        """New, unposted papers (only those a topic matched, when the channel has topics), in
        base trending order; only papers the team voted on can move up, so the top ``top_n``
        unvoted ones and every voted one are all that can be picked."""
        ids, newest = self._ids, self._newest
        unvoted: list[Paper] = []
        for rank in self._ranks_in_order(topics):
            paper_id = ids[rank]
            if newest[rank] >= since and paper_id not in posted and not votes.get(paper_id):
                unvoted.append(self._ranked[rank])
                if len(unvoted) == top_n:
                    break
        voted = [
            self._ranked[at]
            for paper_id, count in votes.items()
            if count
            and (at := self._rank_of.get(paper_id)) is not None
            and newest[at] >= since
            and paper_id not in posted
            and self._matched(topics, paper_id)
        ]
        if not voted:
            return unvoted  # already in trending order, which no vote changes
        return rank_trending(voted + unvoted, votes, self.now)[:top_n]

    def _eligible(
        self, topics: list[str], since: datetime, posted: set[str], size: int
    ) -> list[Paper]:
        """The first ``size`` new, unposted papers in trending order (matches only, when the
        channel has topics): the pool the team's model ranks."""
        ids, newest = self._ids, self._newest
        fresh = (
            self._ranked[rank]
            for rank in self._ranks_in_order(topics)
            if newest[rank] >= since and ids[rank] not in posted
        )
        return list(itertools.islice(fresh, size))

    def _ranks_in_order(self, topics: list[str]) -> Iterator[int]:
        """The ranks of the papers the channel's topics matched (all, without topics), best
        first, each once."""
        if not topics:
            yield from range(len(self._ranked))
            return
        lists = [ranks for topic in topics if (ranks := self._topic_ranks.get(topic))]
        if len(lists) == 1:
            yield from lists[0]
            return
        # Merge a prefix at a time (few channels read far): the sorted union of each list's
        # first ``size`` ranks is exact up to the smallest last rank of a list cut short.
        size, last = 4 * DEFAULT_TOP_N, -1
        while lists:
            cut = [ranks[size - 1] for ranks in lists if len(ranks) > size]
            bound = min(cut) if cut else len(self._ranked)
            for rank in sorted({rank for ranks in lists for rank in ranks[:size]}):
                if rank > bound:
                    break
                if rank > last:
                    last = rank
                    yield rank
            if not cut:
                return
            size *= 4

    def _card(self, paper: Paper, votes: int, topics: list[str]) -> PaperCard:
        """The paper's card for a channel with these topics (shared: cards are immutable)."""
        matched = tuple(self._reasons(topics, paper) or ())
        key = (self._rank_of[paper.id], votes, matched)
        card = self._cards.get(key)
        if card is None:
            reason = self._why_topics.get(matched) if matched else None
            if reason is None:
                reason = _why(paper, list(matched) or None)
                if matched:
                    self._why_topics[matched] = reason
            card = self._cards[key] = PaperCard(paper, votes, reason=reason)
        return card

    def _matched(self, topics: list[str], paper_id: str) -> bool:
        return not topics or any(paper_id in self._topic_ids.get(t, ()) for t in topics)

    def _reasons(self, topics: list[str], paper: Paper) -> list[str] | None:
        return [t for t in topics if paper.id in self._topic_ids.get(t, ())] or None


async def team_liked(store: Store, channel: ChannelRef) -> list[Paper]:
    """The papers the channel's team upvoted (most voted first) and shared; none below 3 votes."""
    voted = await store.top_voted(channel, _EPOCH, limit=MAX_LIKED)
    if len(voted) < MIN_LIKED:
        return []
    shared = [share.paper_id for share in await store.shares_since(channel, _EPOCH)]
    liked = await store.get_papers(list(dict.fromkeys([pid for pid, _ in voted] + shared)))
    return list(liked.values())


async def team_taste(
    store: Store,
    channel: ChannelRef,
    candidates: Sequence[Paper],
    vectors: VectorIndex | None,
    liked: list[Paper] | None = None,
) -> Taste | None:
    """The team's model over ``candidates``, or ``None`` until it upvoted ``MIN_LIKED`` papers."""
    if liked is None:
        liked = await team_liked(store, channel)
    if not liked or not candidates:
        return None
    # Fitting takes a fraction of a second: off the event loop, so commands keep flowing.
    return await asyncio.to_thread(fit_taste, liked, candidates, vectors)


def blend(
    candidates: Sequence[Paper], taste: Taste, votes: Mapping[str, int], now: datetime
) -> list[Paper]:
    """Candidates by the team's taste plus a little trending, both as z-scores; best first."""
    if not candidates:
        return []
    trend = np.array([math.log(trending_score(p, votes.get(p.id, 0), now)) for p in candidates])
    trend = (trend - trend.mean()) / (trend.std() or 1.0)
    # Papers the team upvoted itself are not scored by the model; they count as a clear fit.
    best = max(taste.scores.values(), default=0.0)
    fit = np.array([taste.scores.get(p.id, best) for p in candidates])
    score = fit + TRENDING_WEIGHT * trend
    order = sorted(range(len(candidates)), key=lambda n: (-score[n], candidates[n].id))
    return [candidates[n] for n in order]


async def next_daily_digest(
    store: Store, channel: ChannelRef, now: datetime, vectors: VectorIndex | None = None
) -> Digest:
    """What this channel's daily picks would say if they went out now (``digest``, CLI)."""
    settings = await store.channel_settings(channel)
    since = now - timedelta(days=1)
    top_n = DEFAULT_TOP_N
    if settings is not None:
        top_n = settings.top_n
        last = (await store.last_digests(DAILY)).get(settings.id)
        since = max(last, now - timedelta(days=4)) if last else since
    planner = DigestPlanner(store, now, vectors)
    topics = [subscription.query for subscription in await store.subscriptions(channel)]
    await planner.prepare(since, {channel: topics})
    return await planner.daily(channel, since, top_n)


async def weekly_digest(
    store: Store,
    channel: ChannelRef,
    now: datetime,
    limit: int = 10,
    vectors: VectorIndex | None = None,
) -> Digest:
    """The papers the team shared and voted up in the last seven days, most voted first,
    opened by the coming week's journal club and the most discussed paper."""
    since = now - WEEK
    club = await week_section(store, channel, now)
    intro = (*club, *await most_discussed_line(store, channel, since))
    shares = await store.shares_since(channel, since)
    voted = await store.top_voted(channel, since, limit=50)
    sharers: dict[str, list[str]] = defaultdict(list)
    comments: dict[str, list[str]] = defaultdict(list)
    for share in shares:
        if share.user not in sharers[share.paper_id]:
            sharers[share.paper_id].append(share.user)
        if share.comment:
            comments[share.paper_id].append(share.comment)
    ids = list(dict.fromkeys([paper_id for paper_id, _ in voted] + list(sharers)))
    missed = await _maybe_missed(store, channel, now, set(ids), vectors)
    if not ids and not missed:
        share_hint = spelling_for(channel.platform).typed("papers", "share <id or link>")
        text = (
            "Weekly team digest: nobody shared or upvoted a paper this week. "
            f"Share one with `{share_hint}`."
        )
        return Digest(WEEKLY, Notice(text, public=True, lines=intro), has_news=bool(club))
    votes = await store.vote_counts(channel, ids)
    papers = await store.get_papers(ids)
    ranked = sorted(
        (papers[i] for i in ids if i in papers),
        key=lambda p: (-votes.get(p.id, 0), -len(sharers.get(p.id, [])), p.id),
    )[:limit]
    cards = tuple(
        PaperCard(
            p,
            team_votes=votes.get(p.id, 0),
            shared_by=tuple(sharers.get(p.id, [])),
            comments=tuple(comments.get(p.id, [])),
        )
        for p in ranked
    )
    cards += tuple(missed)
    reply = PaperList("This week's team digest", cards, total=len(cards), public=True, intro=intro)
    return Digest(WEEKLY, reply, tuple(card.paper.id for card in cards), has_news=bool(club))


async def most_discussed_line(
    store: Store, channel: ChannelRef, since: datetime
) -> tuple[str, ...]:
    """``Most discussed: “Title” (7 replies)``, for the workspace's week; nothing if quiet."""
    top = await store.most_discussed(channel, since, limit=1)
    if not top:
        return ()
    paper_id, replies = top[0]
    paper = await store.get_paper(paper_id)
    title = shorten(paper.title, 100) if paper else paper_id
    count = f"{replies} repl{'y' if replies == 1 else 'ies'}"
    return (f"Most discussed: “{title}” `{paper_id}` ({count})",)


async def _maybe_missed(
    store: Store,
    channel: ChannelRef,
    now: datetime,
    in_digest: set[str],
    vectors: VectorIndex | None,
) -> list[PaperCard]:
    """This week's papers closest to the team's taste that it was not sent and did not vote on."""
    week = await store.papers_published_since(now - WEEK, limit=TASTE_POOL)
    sent = (await store.posted_by_channel(DAILY, [p.id for p in week])).get(channel, set())
    pool = [p for p in rank_trending(week, {}, now) if p.id not in sent | in_digest]
    taste = await team_taste(store, channel, pool, vectors)
    if taste is None:
        return []
    picks = [p for p in blend(pool, taste, {}, now) if p.id in taste.scores][:MISSED]
    return [PaperCard(p, reason=f"You may have missed it: {_close_to(taste, p)}") for p in picks]


def _close_to(taste: Taste, paper: Paper) -> str:
    return f'close to "{taste.closest[paper.id].title}", which your team upvoted'


def _why(paper: Paper, topics: list[str] | None, taste: Taste | None = None) -> str:
    if topics:
        quoted = ", ".join(f"`{topic}`" for topic in topics[:3])
        return (
            f"Matches your topic {quoted}" if len(topics) == 1 else f"Matches your topics {quoted}"
        )
    fits = taste is not None and taste.scores.get(paper.id, 0.0) > 0
    if taste is not None and fits:
        return _close_to(taste, paper)[:1].upper() + _close_to(taste, paper)[1:]
    if paper.hf_upvotes:
        return f"Trending: {paper.hf_upvotes} upvotes on Hugging Face"
    return "New today"


def _nothing_new(since: datetime, has_topics: bool, quiet_reason: str | None) -> Notice:
    what = "matching this channel's topics" if has_topics else "to pick"
    text = f"No new papers {what} since {since:%a %d %b %H:%M} UTC."
    if quiet_reason:
        text = f"{text} {quiet_reason}"
    return Notice(text, public=True)
