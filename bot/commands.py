"""The platform-neutral core: a ``Command`` in, a ``Reply`` out, for every ``/papers`` verb.

Handlers return their reply; a raised ``UserError`` becomes a friendly error notice, and anything
unexpected is logged with its traceback and answered with an apology, never a stack trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import humanize

from bot import club, export, metrics
from bot.digests import DEFAULT_TOP_N, next_daily_digest
from bot.ids import ArxivRef, find_paper_links, parse_paper_ref
from bot.ingest import catch_up_index
from bot.models import SAMPLE_PREFIX, ChannelRef, Paper, Subscription
from bot.ports import PaperLookup
from bot.query import ParsedQuery, QueryError, Word, parse_query
from bot.ranking import rank_trending
from bot.records import ChannelChanges
from bot.replies import (
    APOLOGY,
    Command,
    FileReply,
    Notice,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    SharedLink,
    VoteRecorded,
    shorten,
)
from bot.retrieval import HybridSearch, exact_title_first, key_terms, rank_neighbours
from bot.scheduling import ScheduleError, parse_schedule
from bot.search import SearchIndex, SearchPage
from bot.search_plan import common_words_as_phrase
from bot.sources.http import SourceError
from bot.spelling import CHANNEL_CHANGES, WORKSPACE_SETTINGS, CommandGroup, spelling_for
from bot.storage import Store, utc_now
from bot.topics import MAX_TOPICS_PER_CHANNEL
from bot.typos import Reading
from bot.vectors import VectorIndex

log = logging.getLogger(__name__)

SEARCH_PAGE_SIZE = 5
INLINE_SEARCH_SECONDS = 0.005  # a search this quick may hold the event loop (see _search_index)
MAX_PICKS = 10
MAX_COMMAND_LENGTH = 1000
SHARE_FLAG = "--share"
ROLE_UNKNOWN = (
    "I could not check whether you are a workspace admin just now, so I changed nothing. "
    "Please try again in a minute."
)
SIMILAR_CANDIDATES = 100
# Vector cosine and key-term BM25, as z-scores: together better than either; vectors weighted
# 0.7 with 64 key terms gave precision@5 0.62 against 0.59 at 0.5 and 32 (bench/relevance.py,
# and 0.62 against 0.60 on a second set of 200 probes).
SIMILAR_WEIGHTS = (0.7, 0.3)
# Added to the blended z-scores of a candidate sharing an arXiv archive (astro-ph, math, cs, …)
# with the paper: people expect "more like this" to stay in the paper's field, yet a paper from
# another field still comes first when it is more than about one standard deviation closer.
# Precision@5 by archive 0.62 -> 0.77 and 0.59 -> 0.73 on two sets of 200 probes; 0.75 gave
# 0.74 / 0.71, and mixing TF-IDF cosine into the blend added at most 0.01 once the prior was in.
SIMILAR_FIELD_PRIOR = 1.0

Handler = Callable[["Paperboy", Command, str], Awaitable[Reply]]


class UserError(Exception):
    """Something the person can fix; the message is shown to them as it is."""


class LookupUnavailable(UserError):
    """A paper the store lacks could not be looked up: its source did not answer."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    usage: str
    summary: str
    handler: Handler
    manages_channel: bool = False  # changes channel settings; platforms may restrict it
    platforms: frozenset[str] | None = None  # where it is offered; None: everywhere

    @property
    def group(self) -> CommandGroup:
        return "channel" if self.manages_channel else "papers"

    def offered_on(self, platform: str) -> bool:
        return self.platforms is None or platform in self.platforms


COMMANDS: dict[str, CommandSpec] = {}
_ALIASES = {
    "find": "search",
    "sub": "subscribe",
    "unsub": "unsubscribe",
    "upvote": "vote",
    "topics": "subscriptions",
    "list": "subscriptions",
    "?": "help",
}
# "topics add <topic>" and "topics remove <n>" mean what they say.
_TOPIC_VERBS = {
    "add": "subscribe",
    "follow": "subscribe",
    "remove": "unsubscribe",
    "rm": "unsubscribe",
    "delete": "unsubscribe",
    "drop": "unsubscribe",
}


def command(
    name: str,
    usage: str,
    summary: str,
    *,
    manages_channel: bool = False,
    platforms: frozenset[str] | None = None,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        COMMANDS[name] = CommandSpec(name, usage, summary, handler, manages_channel, platforms)
        return handler

    return register


def typed_command(platform: str, name: str, args: str = "") -> str:
    """A command as typed on ``platform``, in backticks, for hints: `/papers subscribe <topic>`."""
    words = f"{name} {args}".strip()
    return f"`{spelling_for(platform).typed(COMMANDS[name].group, words)}`"


def split_command(text: str) -> tuple[str, str]:
    """``"/papers search foo bar"`` → ``("search", "foo bar")``; empty text means help."""
    text = text.strip()
    if text.lower().startswith("/papers"):
        text = text[len("/papers") :].strip()
    if not text:
        return "help", ""
    name, _, args = text.partition(" ")
    name = _ALIASES.get(name.lower(), name.lower())
    verb, _, rest = args.strip().partition(" ")
    if name == "subscriptions" and verb.lower() in _TOPIC_VERBS:
        return _TOPIC_VERBS[verb.lower()], rest.strip()
    return name, args.strip()


@dataclass
class Paperboy:
    """The bot's brain. Adapters call :meth:`handle`; the scheduler shares its store and index."""

    store: Store
    index: SearchIndex
    lookup: PaperLookup | None = None
    clock: Callable[[], datetime] = utc_now
    _lookups: dict[str, asyncio.Future[Paper | None]] = field(default_factory=dict)
    _handling: int = 0  # commands being answered right now
    _last_search_s: float = 0.0
    # Semantic search: ``None`` means lexical only, and ``lexical_reason`` says why.
    vectors: VectorIndex | None = None
    lexical_reason: str | None = None
    _vector_task: asyncio.Task[int] | None = None

    async def handle(self, cmd: Command) -> Reply:
        self._handling += 1
        try:
            return await self._handle(cmd)
        finally:
            self._handling -= 1

    async def _handle(self, cmd: Command) -> Reply:
        name = "?"
        try:
            if len(cmd.text) > MAX_COMMAND_LENGTH:
                raise UserError(
                    f"That is too long for me ({len(cmd.text)} characters). "
                    f"Keep it under {MAX_COMMAND_LENGTH}."
                )
            if "\x00" in cmd.text:  # PostgreSQL text cannot hold it; nobody types it on purpose
                raise UserError("That has a NUL character in it. Please type it again without.")
            name, args = split_command(cmd.text)
            spec = COMMANDS.get(name)
            if spec is None or not spec.offered_on(cmd.channel.platform):
                raise UserError(_unknown_command(cmd.channel.platform, name))
            if spec.manages_channel and args:  # without arguments they only show or explain
                await self._may_change_channel(cmd)
            return await spec.handler(self, cmd, args)
        except (UserError, QueryError, ScheduleError) as error:
            log.info("command %r from %s in %s refused: %s", name, cmd.user, cmd.channel, error)
            return Notice(str(error), kind="error")
        except Exception:
            log.exception("command %r failed in %s", name, cmd.channel)
            return Notice(APOLOGY, kind="error")

    async def needs_role(self, cmd: Command) -> bool:
        """Whether the answer to ``cmd`` depends on the person being a workspace admin, so that
        an adapter asks its platform (a round trip) only then."""
        name, args = split_command(cmd.text)
        spec = COMMANDS.get(name)
        if spec is None or not args:
            return False
        if spec.name == "settings":
            return True
        if not spec.manages_channel:
            return False
        ref = cmd.channel
        try:
            settings = await self.store.workspace_settings(ref.platform, ref.workspace)
        except Exception:  # handle() meets the same trouble and answers it kindly
            log.exception("could not read the settings of %s", ref.workspace)
            return False
        return settings.channel_changes == "admins"

    async def _may_change_channel(self, cmd: Command) -> None:
        """Refuse a channel change the workspace keeps for its admins and owners."""
        if cmd.is_admin:
            return
        ref = cmd.channel
        settings = await self.store.workspace_settings(ref.platform, ref.workspace)
        if settings.channel_changes == "everyone":
            return
        if cmd.is_admin is None:
            raise UserError(ROLE_UNKNOWN)
        everyone = typed_command(ref.platform, "settings", f"{CHANNEL_CHANGES} everyone")
        raise UserError(
            "Only workspace admins and owners can change this channel's settings here. Ask an "
            f"admin or owner to make the change, or to open it to everyone with {everyone}."
        )

    # -- helpers shared by the handlers -----------------------------------------------------

    async def find_paper(self, text: str) -> Paper:
        """The paper named by an id or a URL, from the store or, failing that, a live lookup."""
        ref = paper_ref(text, _ID_OR_LINK)
        paper = await self.store.get_paper(ref.id)
        if paper is None:
            paper = await self._look_up(ref.id)
        if paper is None:
            raise UserError(
                f"I could not find paper `{ref.id}` on arXiv. Check the id and try again."
            )
        return paper

    async def _look_up(self, paper_id: str) -> Paper | None:
        if self.lookup is None or paper_id.startswith(SAMPLE_PREFIX):
            return None
        # Two people pasting the same new link at once share one live lookup.
        pending = self._lookups.get(paper_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch_and_store(paper_id))
            self._lookups[paper_id] = pending
            pending.add_done_callback(lambda _: self._lookups.pop(paper_id, None))
        return await asyncio.shield(pending)

    async def _fetch_and_store(self, paper_id: str) -> Paper | None:
        assert self.lookup is not None
        try:
            found = await self.lookup.lookup([paper_id])
        except Exception as error:  # a source outage must read as "not now", not as a crash
            if not isinstance(error, SourceError):  # a SourceError was logged by its source
                log.exception("live lookup of %s failed", paper_id)
            raise LookupUnavailable(
                f"arXiv did not answer for `{paper_id}` just now. Please try again in a minute."
            ) from None
        paper = next((p for p in found if p.id == paper_id), None)
        if paper is not None:
            await self.store.upsert_papers([paper], now=self.clock())
            await catch_up_index(self.index, self.store)
            self.start_vector_catch_up()
        return paper

    # -- vectors, computed in the background so search works before they are ready ----------

    def start_vector_catch_up(self) -> None:
        """Embed papers the store has and the vectors lack, unless that is already running."""
        if self.vectors is None or (self._vector_task and not self._vector_task.done()):
            return
        self._vector_task = asyncio.create_task(self._catch_up_vectors(self.vectors))

    async def _catch_up_vectors(self, vectors: VectorIndex) -> int:
        try:
            done = await vectors.catch_up(self.store)
        except Exception:
            log.exception("computing paper vectors failed; will retry after the next ingest")
            return 0
        if done:
            log.info("computed vectors for %d papers", done)
        return done

    async def wait_for_vectors(self, seconds: float | None) -> None:
        """Give a running catch-up up to ``seconds`` (one-shot commands; the bot never waits)."""
        if self._vector_task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._vector_task), seconds)

    async def stop_background(self) -> None:
        if self._vector_task is not None and not self._vector_task.done():
            self._vector_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._vector_task

    def search_status(self, stored: int) -> str:
        """One status line: whether search understands meaning, and how far vectors are (of
        the ``stored`` papers), with the time left while they are computed."""
        if self.vectors is None:
            return f"Search: words only ({self.lexical_reason or 'no embedding model'})."
        have = len(self.vectors)
        progress = f"{have:,} papers have vectors"
        if have < stored:
            progress = f"{have:,} of {stored:,} papers have vectors"
            if rate := self.vectors.catch_up_rate():
                progress += f", about {_duration((stored - have) / rate)} left"
            elif self.vectors.catching_up:
                progress += ", computing the rest"
        return f"Search: words and meaning ({self.vectors.embedder.name}; {progress})."

    async def search(self, channel: ChannelRef, text: str, *, limit: int) -> PaperList:
        """Relevance-ranked papers for a query typed by a person, with this team's votes."""
        if not text.strip():
            plain = typed_command(channel.platform, "search", "diffusion transformers")
            phrase = typed_command(channel.platform, "search", '"chain of thought" since:2024')
            raise UserError(f"What should I search for? Try {plain} or {phrase}.")
        query = common_words_as_phrase(parse_query(text, today=self.clock().date()))
        with metrics.timed(metrics.SEARCH_SECONDS):
            query, readings = await self.read_typos(query)
            if self.vectors is None:
                page = await self._search_index(query, limit)
                found = await self.store.papers_with_votes(channel, _ids(page))
            else:
                hybrid = HybridSearch(self.index, self.vectors)
                page = await hybrid.search(query, limit=limit)
                # The snippets are marked in a thread while the store reads the papers.
                marked, found = await asyncio.gather(
                    asyncio.to_thread(self.index.snippets, query, _ids(page)),
                    self.store.papers_with_votes(channel, _ids(page)),
                )
                hits = [replace(hit, snippet=marked.get(hit.paper_id)) for hit in page.hits]
                page = replace(page, hits=hits)
        papers = {paper_id: paper for paper_id, (paper, _) in found.items()}
        page = replace(page, hits=exact_title_first(page.hits, papers, text))
        cards = tuple(
            PaperCard(
                found[hit.paper_id][0],
                team_votes=found[hit.paper_id][1],
                snippet=hit.snippet,
                score=hit.score,
            )
            for hit in page.hits
            if hit.paper_id in found
        )
        more = _more_hint(page, len(cards))
        title = f"Results for {query}"
        read_as = _read_as_lines(readings)
        if not page.all_terms_matched and cards:
            title = _closest_matches_title(page.terms, by_meaning=page.by_meaning_only)
        return PaperList(
            title,
            cards,
            total=page.total,
            # With no paper to show, the reading goes in the one line shown instead.
            empty_text=" ".join(
                [*read_as, f"No papers match {query}. Try fewer or broader words."]
            ),
            more_hint=more,
            intro=read_as if cards else (),
        )

    async def read_typos(self, query: ParsedQuery) -> tuple[ParsedQuery, tuple[Reading, ...]]:
        """``query`` with mistyped words read as the words papers use (:mod:`bot.typos`); the
        check is a few word frequencies, so only a query with a candidate leaves the loop."""
        if not self.index.may_have_typos(query):
            return query, ()
        return await asyncio.to_thread(self.index.read_typos, query)

    async def _search_index(self, query: ParsedQuery, limit: int) -> SearchPage:
        """A quick search with nothing else to answer runs right here: the trip to a worker
        thread and back costs two thread switches, each a wait for a free core on a busy
        machine. Otherwise a thread keeps the event loop free for the other requests."""
        if self._handling <= 1 and self._last_search_s < INLINE_SEARCH_SECONDS:
            return self._timed_search(query, limit)
        return await asyncio.to_thread(self._timed_search, query, limit)

    def _timed_search(self, query: ParsedQuery, limit: int) -> SearchPage:
        started = time.perf_counter()
        try:
            return self.index.search(query, limit=limit)
        finally:
            self._last_search_s = time.perf_counter() - started

    async def share_links(
        self,
        channel: ChannelRef,
        user: str,
        texts: Sequence[str],
        *,
        limit: int,
        user_name: str | None = None,
        record: bool = True,
    ) -> list[SharedLink]:
        """The papers linked in ``texts`` (pasted URLs or whole messages), each as a card.

        Each is recorded as a share by ``user``, unless ``record`` is off (a message still being
        written only shows the paper). At most ``limit`` links are looked up; one that names no
        paper Paperboy can find is logged and left out, never answered in the channel.
        """
        verb = "share" if record else "show"
        found = [(text, ref) for text in texts for ref in find_paper_links(text)][:limit]
        shared = []
        for text, ref in found:
            reply = await self.handle(Command(channel, user, f"{verb} {ref.id}", user_name))
            if isinstance(reply, PaperDetail):
                shared.append(SharedLink(text, reply.card))
            else:
                log.info("not answering shared link %s in %s: %s", ref.id, channel, reply)
        return shared

    async def similar(self, channel: ChannelRef, paper_id: str, *, limit: int) -> PaperList:
        """Papers like ``paper_id``: its vector's neighbours fused with its key terms' BM25."""
        unreachable = False
        try:
            paper = await self.store.get_paper(paper_id) or await self._look_up(paper_id)
        except LookupUnavailable:
            paper, unreachable = None, True
        if paper is None:
            next_step = (
                ", and arXiv did not answer just now to look it up. Try again in a minute, or"
                if unreachable
                else ". Check the id, or"
            )
            search = typed_command(channel.platform, "search", "<words>")
            raise UserError(
                f"Unknown paper `{shorten(paper_id, 40)}`: I have not seen it{next_step} "
                f"search for it with {search}."
            )
        ids, signals, weights = await asyncio.to_thread(self._neighbour_signals, paper, limit)
        candidates = await self.store.get_papers(ids)
        ranked = rank_neighbours(paper, ids, signals, candidates, weights, SIMILAR_FIELD_PRIOR)
        ranked = ranked[:limit]
        papers = {pid: candidates[pid] for pid, _ in ranked if pid in candidates}
        votes = await self.store.vote_counts(channel, list(papers))
        cards = tuple(
            PaperCard(papers[pid], team_votes=votes.get(pid, 0), score=score)
            for pid, score in ranked
            if pid in papers
        )
        return PaperList(
            f"More like “{shorten(paper.title, 80)}”",
            cards,
            total=len(cards),
            empty_text="I know no other papers like this one yet.",
        )

    def _neighbour_signals(
        self, paper: Paper, limit: int
    ) -> tuple[list[str], list[dict[str, float]], tuple[float, ...]]:
        """Candidate ids, their scores (vector cosine when the paper has a vector, key-term
        BM25) and each score's weight."""
        wide = max(SIMILAR_CANDIDATES, limit)
        terms = ParsedQuery(groups=(tuple(Word(t) for t in key_terms(paper)),))
        page = self.index.search(terms, limit=wide + 1, snippets=False)
        lexical = {hit.paper_id: hit.score for hit in page.hits if hit.paper_id != paper.id}
        vector = self.vectors.vector_of(paper.id) if self.vectors else None
        if self.vectors is None or vector is None:
            # No vector yet (still catching up): the paper's own words find its neighbours.
            return list(lexical), [lexical], (1.0,)
        nearest = self.vectors.nearest(vector, wide, exclude=frozenset({paper.id}))
        ids = list(dict.fromkeys([*lexical, *(pid for pid, _ in nearest)]))
        return ids, [self.vectors.scores_for(vector, ids), lexical], SIMILAR_WEIGHTS

    async def cards(self, channel: ChannelRef, papers: Sequence[Paper]) -> list[PaperCard]:
        votes = await self.store.vote_counts(channel, [p.id for p in papers])
        return [PaperCard(p, team_votes=votes.get(p.id, 0)) for p in papers]

    async def card(self, channel: ChannelRef, paper: Paper) -> PaperCard:
        return (await self.cards(channel, [paper]))[0]


def _unknown_command(platform: str, name: str) -> str:
    offered = [spec.name for spec in COMMANDS.values() if spec.offered_on(platform)]
    close = difflib.get_close_matches(name, offered + list(_ALIASES), n=1)
    hint = (
        f" Did you mean {typed_command(platform, _ALIASES.get(close[0], close[0]))}?"
        if close
        else ""
    )
    unknown = shorten(name, 40)
    return (
        f"I don't know the command `{unknown}`.{hint} "
        f"Type {typed_command(platform, 'help')} to see what I can do."
    )


# -- the verbs ------------------------------------------------------------------------------


@command("help", "help", "Show what Paperboy can do.")
async def _help(bot: Paperboy, cmd: Command, args: str) -> Reply:
    spelling = spelling_for(cmd.channel.platform)
    lines = tuple(
        f"`{spelling.usage(spec.group, spec.name, spec.usage)}` — {spec.summary}"
        for spec in COMMANDS.values()
        if spec.offered_on(cmd.channel.platform)
    )
    query_help = (
        "Search and topics understand: words (search puts papers with all of them first; topics "
        'need all), `"exact phrase"`, `-exclude`, '
        "`OR`, `author:name`, `cat:cs.CL`, `since:2024-01-01` (in a search also "
        "`since:yesterday`, `since:2w`)."
    )
    return Notice("Paperboy brings research papers to this channel.", lines=(*lines, query_help))


@command("search", "search <query> [--share]", "Find papers, best match first.")
async def _search(bot: Paperboy, cmd: Command, args: str) -> Reply:
    share = SHARE_FLAG in args.split()
    text = " ".join(word for word in args.split() if word != SHARE_FLAG)
    result = await bot.search(cmd.channel, text, limit=SEARCH_PAGE_SIZE)
    return replace(result, public=share)


@command("show", "show <id or link>", "Show one paper in full.")
async def _show(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper = await bot.find_paper(args)
    return PaperDetail(await bot.card(cmd.channel, paper))


@command("similar", "similar <id or link>", "Papers like this one.")
async def _similar(bot: Paperboy, cmd: Command, args: str) -> Reply:
    example = typed_command(cmd.channel.platform, "similar", "2401.01234")
    ref = paper_ref(args, f"Try {example} or paste an arxiv.org / huggingface.co/papers link.")
    return await bot.similar(cmd.channel, ref.id, limit=SEARCH_PAGE_SIZE)


@command("trending", "trending [today|week]", "The most upvoted new papers.")
async def _trending(bot: Paperboy, cmd: Command, args: str) -> Reply:
    span = (args or "today").lower()
    days = {"today": 1, "day": 1, "week": 7}.get(span)
    if days is None:
        platform = cmd.channel.platform
        raise UserError(
            f"Use {typed_command(platform, 'trending', 'today')} "
            f"or {typed_command(platform, 'trending', 'week')}."
        )
    now = bot.clock()
    papers = await bot.store.papers_published_since(now - timedelta(days=days), limit=2000)
    if not papers and days == 1:
        papers = await bot.store.papers_published_since(now - timedelta(days=3), limit=2000)
    votes = await bot.store.vote_counts(cmd.channel, [p.id for p in papers])
    top = rank_trending(papers, votes, now)[:10]
    cards = tuple(PaperCard(p, team_votes=votes.get(p.id, 0)) for p in top)
    label = "today" if days == 1 else "this week"
    return PaperList(
        f"Trending {label}",
        cards,
        total=len(papers),
        empty_text=f"No new papers {label} yet: they arrive through the day.",
    )


@command(
    "subscribe", "subscribe <topic query>", "Follow a topic in this channel.", manages_channel=True
)
async def _subscribe(bot: Paperboy, cmd: Command, args: str) -> Reply:
    if not args:
        phrase = typed_command(cmd.channel.platform, "subscribe", '"retrieval augmented" OR RAG')
        category = typed_command(cmd.channel.platform, "subscribe", "cat:cs.CL")
        raise UserError(f"Subscribe to what? E.g. {phrase} or {category}.")
    query = parse_query(args)
    current = await bot.store.subscriptions(cmd.channel)
    if len(current) >= MAX_TOPICS_PER_CHANNEL:
        raise UserError(
            f"This channel already follows {len(current)} topics, the most I keep. "
            f"Remove one with {typed_command(cmd.channel.platform, 'unsubscribe', '<n>')}."
        )
    subscription, created = await bot.store.add_subscription(
        cmd.channel, str(query), cmd.user, now=bot.clock()
    )
    if not created:
        return Notice(f"This channel already follows `{subscription.query}`.")
    meant, readings = await bot.read_typos(query)
    return Notice(
        f"Subscribed this channel to `{subscription.query}`: {query.describe()}. "
        "New matching papers will show up in the daily picks.",
        kind="success",
        public=True,
        lines=_meant_lines(cmd.channel.platform, readings, query, meant),
    )


def _meant_lines(
    platform: str, readings: Sequence[Reading], typed: ParsedQuery, meant: ParsedQuery
) -> tuple[str, ...]:
    """A topic is followed as typed (a future paper may use the word), but a word no paper has
    that reads as a typo gets a hint with the commands that follow what was probably meant."""
    if not readings:
        return ()
    words = " and ".join(f"“{r.typed}” (did you mean “{r.read_as}”?)" for r in readings)
    unsubscribe = typed_command(platform, "unsubscribe", str(typed))
    subscribe = typed_command(platform, "subscribe", str(meant))
    return (
        f"No paper so far has {words}. To follow that instead: {unsubscribe}, then {subscribe}",
    )


@command(
    "unsubscribe", "unsubscribe <n|query>", "Stop following a topic here.", manages_channel=True
)
async def _unsubscribe(bot: Paperboy, cmd: Command, args: str) -> Reply:
    subs = await bot.store.subscriptions(cmd.channel)
    if not subs:
        raise UserError("This channel follows no topics yet.")
    target = None
    if args.isdigit() and 1 <= int(args) <= len(subs):
        target = subs[int(args) - 1]
    elif args:
        wanted = {args.strip().lower()}
        with contextlib.suppress(QueryError):
            wanted.add(str(parse_query(args)).lower())
        target = next((s for s in subs if s.query.lower() in wanted), None)
    if target is None:
        raise UserError(
            f"Which one? Use a number from 1 to {len(subs)} or the exact topic. "
            f"See {typed_command(cmd.channel.platform, 'subscriptions')}."
        )
    await bot.store.remove_subscription(target)
    return Notice(f"Unsubscribed this channel from `{target.query}`.", kind="success", public=True)


@command("subscriptions", "subscriptions", "List this channel's topics.")
async def _subscriptions(bot: Paperboy, cmd: Command, args: str) -> Reply:
    subs = await bot.store.subscriptions(cmd.channel)
    schedule = await club.channel_schedule(bot.store, cmd.channel)
    if not subs:
        return Notice(
            "This channel follows no topics. "
            f"Add one with {typed_command(cmd.channel.platform, 'subscribe', '<topic>')}.",
            lines=(schedule.describe(),),
        )
    lines = tuple(_topic_line(n, s.query) for n, s in enumerate(subs, start=1))
    return Notice(
        f"This channel follows {len(subs)} topic{'s' if len(subs) != 1 else ''}:",
        lines=(*lines, schedule.describe()),
    )


def _topic_line(number: int, topic: str) -> str:
    """A saved topic; one the query language no longer accepts (a code arXiv does not have,
    saved before codes were checked) matches no paper, and the channel should know why."""
    try:
        parse_query(topic)
    except QueryError as problem:
        return f"{number}. `{topic}`: matches no paper. {problem}"
    return f"{number}. `{topic}`"


@command("vote", "vote <id>", "Upvote a paper for your team (again to undo).")
async def _vote(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper = await bot.find_paper(args)
    voted, count = await bot.store.toggle_vote(cmd.channel, cmd.user, paper.id, now=bot.clock())
    return VoteRecorded(PaperCard(paper, team_votes=count), voted)


@command("share", "share <id or link> [comment]", "Share a paper with the team.")
async def _share(bot: Paperboy, cmd: Command, args: str) -> Reply:
    target, _, comment = args.partition(" ")
    paper = await bot.find_paper(target)
    note = comment.strip() or None
    await bot.store.add_share(cmd.channel, cmd.user, paper.id, note, now=bot.clock())
    card = await bot.card(cmd.channel, paper)
    shared = PaperCard(
        card.paper, card.team_votes, shared_by=(cmd.user,), comments=(note,) if note else ()
    )
    return PaperDetail(shared, public=True)


@command("top", "top [week|month]", "The team's most upvoted papers.")
async def _top(bot: Paperboy, cmd: Command, args: str) -> Reply:
    span = (args or "week").lower()
    days = {"week": 7, "month": 30}.get(span)
    if days is None:
        week, month = (
            typed_command(cmd.channel.platform, "top", span) for span in ("week", "month")
        )
        raise UserError(f"Use {week} or {month}.")
    voted = await bot.store.top_voted(cmd.channel, bot.clock() - timedelta(days=days), limit=10)
    papers = await bot.store.get_papers([paper_id for paper_id, _ in voted])
    cards = tuple(PaperCard(papers[i], team_votes=n) for i, n in voted if i in papers)
    return PaperList(
        f"Your team's top papers this {span}",
        cards,
        total=len(cards),
        empty_text=(
            f"Nobody upvoted a paper this {span}. "
            f"Upvote one with {typed_command(cmd.channel.platform, 'vote', '<id>')}."
        ),
    )


@command("digest", "digest", "Preview this channel's next daily picks.")
async def _digest(bot: Paperboy, cmd: Command, args: str) -> Reply:
    schedule = await club.channel_schedule(bot.store, cmd.channel)
    reply = (await next_daily_digest(bot.store, cmd.channel, bot.clock(), bot.vectors)).reply
    if isinstance(reply, PaperList):
        return PaperList(
            f"Preview: {reply.title}", reply.cards, reply.total, footer=schedule.describe()
        )
    assert isinstance(reply, Notice)
    return Notice(f"Preview: {reply.text}", lines=(schedule.describe(),))


@command(
    "schedule",
    "schedule <HH:MM> <timezone> [weekdays|daily|off] [picks:N] [quiet:on|off]",
    "When this channel gets its daily picks, how many, and whether quiet days say so.",
    manages_channel=True,
)
async def _schedule(bot: Paperboy, cmd: Command, args: str) -> Reply:
    options, rest = parse_digest_options(args)
    if not args:
        examples = [
            typed_command(cmd.channel.platform, "schedule", words)
            for words in ("09:00 Europe/Berlin weekdays", "picks:3", "quiet:off", "off")
        ]
        return Notice(
            await describe_digests(bot.store, cmd.channel),
            lines=(f"Change it with {', '.join(examples[:-1])} or {examples[-1]}.",),
        )
    await bot.store.update_digests(
        cmd.channel,
        schedule=parse_schedule(rest) if rest else None,
        top_n=options.top_n,
        quiet_notice=options.quiet_notice,
        now=bot.clock(),
    )
    text = await describe_digests(bot.store, cmd.channel)
    return Notice(f"Done. {text}", kind="success", public=True)


@command(
    "settings",
    f"settings [{CHANNEL_CHANGES} everyone|admins]",
    "Workspace settings: who may change channels' topics and schedules (admins change it).",
    platforms=frozenset({"slack", "console"}),
)
async def _settings(bot: Paperboy, cmd: Command, args: str) -> Reply:
    ref = cmd.channel
    words = args.lower().split()
    if not words:
        settings = await bot.store.workspace_settings(ref.platform, ref.workspace)
        return Notice(
            "Workspace settings",
            lines=(
                _describe_channel_changes(settings.channel_changes),
                f"Admins and owners change it with "
                f"{typed_command(ref.platform, 'settings', f'{CHANNEL_CHANGES} admins')} or "
                f"{typed_command(ref.platform, 'settings', f'{CHANNEL_CHANGES} everyone')}.",
            ),
        )
    allowed = WORKSPACE_SETTINGS[CHANNEL_CHANGES]
    if len(words) != 2 or words[0] != CHANNEL_CHANGES or words[1] not in allowed:
        usage = typed_command(ref.platform, "settings", f"{CHANNEL_CHANGES} admins")
        raise UserError(
            f"I know one setting: `{CHANNEL_CHANGES}`, `everyone` or `admins`, e.g. {usage}."
        )
    if cmd.is_admin is None:
        raise UserError(ROLE_UNKNOWN)
    if not cmd.is_admin:
        raise UserError("Only workspace admins and owners can change who may change channels here.")
    choice: ChannelChanges = "admins" if words[1] == "admins" else "everyone"
    changed = await bot.store.set_channel_changes(
        ref.platform, ref.workspace, choice, by=cmd.user, now=bot.clock()
    )
    text = _describe_channel_changes(choice)
    if not changed:
        return Notice(f"Already so: {text[0].lower()}{text[1:]}")
    return Notice(f"Done. {text}", kind="success")


def _describe_channel_changes(allowed: ChannelChanges) -> str:
    if allowed == "admins":
        return (
            "Only workspace admins and owners can change channels' topics, schedules, picks "
            "and quiet days here."
        )
    return "Anyone can change channels' topics, schedules, picks and quiet days here."


@dataclass(frozen=True, slots=True)
class DigestOptions:
    """``picks:N`` and ``quiet:on|off`` as typed; None where the command leaves them as they are."""

    top_n: int | None = None
    quiet_notice: bool | None = None


def parse_digest_options(args: str) -> tuple[DigestOptions, str]:
    """Pull ``picks:N`` and ``quiet:on|off`` out of a schedule command; return the rest."""
    options = DigestOptions()
    rest = []
    for word in args.split():
        name, colon, value = word.partition(":")
        if colon and name.lower() == "picks":
            if not value.isdigit() or not 1 <= int(value) <= MAX_PICKS:
                raise UserError(f"`picks:` takes a number from 1 to {MAX_PICKS}, e.g. `picks:3`.")
            options = replace(options, top_n=int(value))
        elif colon and name.lower() == "quiet":
            if value.lower() not in ("on", "off"):
                raise UserError(
                    "`quiet:on` posts one line on days with nothing new; `quiet:off` stays silent."
                )
            options = replace(options, quiet_notice=value.lower() == "on")
        else:
            rest.append(word)
    return options, " ".join(rest)


async def describe_digests(store: Store, channel: ChannelRef) -> str:
    schedule = await club.channel_schedule(store, channel)
    if schedule.days == "off":
        return schedule.describe()
    settings = await store.channel_settings(channel)
    picks = settings.top_n if settings else DEFAULT_TOP_N
    quiet = settings.quiet_notice if settings else True
    days = "a short line on days with nothing new" if quiet else "silence on days with nothing new"
    return f"{schedule.describe()} Up to {picks} papers each time; {days}."


@command("status", "status", "Sources, papers stored, and this channel's next digest.")
async def _status(bot: Paperboy, cmd: Command, args: str) -> Reply:
    lines = await status_lines(bot.store, cmd.channel, bot.clock(), bot.search_status)
    return Notice("Paperboy status", lines=tuple(lines))


async def status_lines(
    store: Store,
    channel: ChannelRef | None,
    now: datetime,
    search: Callable[[int], str] | None = None,
) -> list[str]:
    """Last fetch per source, last error, papers stored, how search stands (``search`` of the
    papers stored), and (for a channel) its next digest."""
    stored = await store.count_papers()
    lines = [f"Papers stored: {stored}"]
    if search:
        lines.append(search(stored))
    sources = {status.source: status for status in await store.source_status()}
    for name, label in (("hf", "Hugging Face"), ("arxiv", "arXiv")):
        status = sources.get(name)
        ok = _when(status.last_success) if status else "never"
        line = f"{label}: last successful fetch {ok}"
        if status and status.last_error:
            line += f"; last error {_when(status.last_error_at)}: {shorten(status.last_error, 160)}"
        lines.append(line)
    if channel is not None:
        lines.append(await _next_digest_line(store, channel, now))
    return lines


async def _next_digest_line(store: Store, channel: ChannelRef, now: datetime) -> str:
    settings = await store.channel_settings(channel)
    schedule = await club.channel_schedule(store, channel)
    if settings is not None and settings.paused_reason:
        reason = settings.paused_reason
        again = typed_command(channel.platform, "schedule")
        return f"Digests are paused here: {reason}. Run {again} again to resume."
    subscribed = bool(await store.subscriptions(channel))
    if schedule.days == "off" or not (
        subscribed or (settings is not None and settings.schedule_set)
    ):
        return (
            f"No digests here yet: {typed_command(channel.platform, 'subscribe', '<topic>')} or "
            f"{typed_command(channel.platform, 'schedule', '09:00 <timezone>')} to start."
        )
    upcoming = schedule.next_run(now)
    if upcoming is None:
        return schedule.describe()
    local = upcoming.astimezone(schedule.zone)
    return f"Next daily picks: {local:%a %d %b %H:%M} {schedule.timezone} ({upcoming:%H:%M} UTC)."


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _duration(seconds: float) -> str:
    """ "a minute", "45 minutes", "3 hours": a minute at least (a status is read by people)."""
    return str(humanize.naturaldelta(timedelta(seconds=max(seconds, 60))))


# == team knowledge (issue 12): reading lists, export, journal club ===========================

SAVED_PAGE_SIZE = 20


@command("save", "save <id>", "Save a paper to your reading list (only you see it).")
async def _save(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper = await bot.find_paper(args)
    added = await bot.store.save_paper(cmd.channel, cmd.user, paper.id, now=bot.clock())
    title = shorten(paper.title, 120)
    if not added:
        return Notice(f"“{title}” is already on your reading list. See `/papers saved`.")
    unread = sum(not s.is_read for s in await bot.store.reading_list(cmd.channel, cmd.user))
    return Notice(
        f"Saved “{title}” to your reading list ({unread} unread). See `/papers saved`.",
        kind="success",
    )


@command("saved", "saved", "Your reading list, unread first (only you see it).")
async def _saved(bot: Paperboy, cmd: Command, args: str) -> Reply:
    saved = await bot.store.reading_list(cmd.channel, cmd.user)
    shown = saved[:SAVED_PAGE_SIZE]
    papers = await bot.store.get_papers([s.paper_id for s in shown])
    votes = await bot.store.vote_counts(cmd.channel, list(papers))
    cards = tuple(
        PaperCard(
            papers[s.paper_id],
            team_votes=votes.get(s.paper_id, 0),
            reading="read" if s.is_read else "unread",
        )
        for s in shown
        if s.paper_id in papers
    )
    unread = sum(not s.is_read for s in saved)
    more = None
    if len(saved) > len(cards):
        more = (
            f"Showing {len(cards)} of {len(saved)}. "
            "`/papers export csv saved` gives you all of them."
        )
    return PaperList(
        f"Your reading list: {unread} unread, {len(saved) - unread} read",
        cards,
        total=len(saved),
        empty_text="Your reading list is empty. Save a paper with `/papers save <id>`.",
        more_hint=more,
        footer="Mark one read with `/papers read <id>`; remove it with `/papers unsave <id>`.",
    )


@command("unsave", "unsave <id>", "Take a paper off your reading list.")
async def _unsave(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper_id = _paper_id(args)
    if not await bot.store.unsave_paper(cmd.channel, cmd.user, paper_id):
        raise UserError(f"`{paper_id}` is not on your reading list. See `/papers saved`.")
    paper = await bot.store.get_paper(paper_id)
    title = shorten(paper.title, 120) if paper else paper_id
    return Notice(f"Removed “{title}” from your reading list.", kind="success")


@command("read", "read <id>", "Mark a paper on your reading list as read.")
async def _read(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper = await bot.find_paper(args)
    added, already = await bot.store.mark_read(cmd.channel, cmd.user, paper.id, now=bot.clock())
    title = shorten(paper.title, 120)
    if already:
        return Notice(f"You had already marked “{title}” read.")
    if added:
        return Notice(f"Marked “{title}” read and kept it on your reading list.", kind="success")
    return Notice(f"Marked “{title}” read.", kind="success")


@command(
    "export",
    "export [bibtex|csv] [saved]",
    "The team's upvoted papers as a file (BibTeX or CSV); `saved` for your reading list.",
)
async def _export(bot: Paperboy, cmd: Command, args: str) -> Reply:
    words = [word.lower() for word in args.split()]
    mine = "saved" in words
    formats = [word for word in words if word != "saved"]
    if len(formats) > 1:
        raise UserError(_EXPORT_USAGE)
    try:
        fmt = export.parse_format(formats[0]) if formats else "bibtex"
    except export.UnknownFormat:
        raise UserError(f"I can't export as `{shorten(formats[0], 20)}`. {_EXPORT_USAGE}") from None
    if mine:
        items = await export.reading_list_items(bot.store, cmd.channel, cmd.user)
        if not items:
            raise UserError("Your reading list is empty: nothing to export.")
        what, stem = "your reading list", "reading-list"
    else:
        items = await export.team_items(bot.store, cmd.channel)
        if not items:
            raise UserError("Nobody has upvoted a paper yet: nothing to export.")
        what, stem = "the team's upvoted papers, most votes first", "team-papers"
    extension, mime_type = export.FORMATS[fmt]
    count = f"{len(items)} paper{'s' if len(items) != 1 else ''}"
    label = "BibTeX" if fmt == "bibtex" else "CSV"
    return FileReply(
        f"{label} of {what} ({count}).",
        kind="success",
        public=not mine,
        filename=f"paperboy-{stem}-{bot.clock():%Y-%m-%d}.{extension}",
        mime_type=mime_type,
        # Thousands of entries take a moment of CPU: keep the event loop answering others.
        data=(await asyncio.to_thread(export.render, items, fmt)).encode("utf-8"),
    )


_EXPORT_USAGE = (
    "Formats: `bibtex` (reference managers) and `csv` (spreadsheets), e.g. `/papers export csv`; "
    "add `saved` for your reading list: `/papers export bibtex saved`."
)


@command(
    "present",
    "present <id> [date] | present cancel <id>",
    "Claim a paper to present in this channel's journal club (default: the next weekly digest "
    "day); only the presenter can cancel.",
)
async def _present(bot: Paperboy, cmd: Command, args: str) -> Reply:
    words = args.split()
    if not words:
        raise UserError(
            "Which paper? `/papers present <id> [date]`, e.g. `/papers present 2401.01234 friday`."
        )
    if words[0].lower() == "cancel":
        return await _cancel_presentation(bot, cmd, " ".join(words[1:]))
    paper = await bot.find_paper(words[0])
    schedule = await club.channel_schedule(bot.store, cmd.channel)
    now = bot.clock()
    today = club.local_today(schedule, now)
    day = club.parse_club_date(" ".join(words[1:]), today) if words[1:] else None
    day = day or club.next_club_day(schedule, now)
    claim, created = await bot.store.claim_presentation(
        cmd.channel, paper.id, cmd.user, day, today=today, presenter_name=cmd.user_name, now=now
    )
    title = shorten(paper.title, 120)
    if not created and claim.presenter != cmd.user:
        raise UserError(
            f"{claim.presenter_label} already claimed “{title}” to present here on "
            f"{claim.present_on:%a %d %b}. Pick another paper, or ask them to cancel."
        )
    if not created and claim.present_on == day:
        return Notice(f"You already present “{title}” on {day:%a %d %b}. See `/papers club`.")
    if not created:
        await bot.store.move_presentation(claim, day)
    who = cmd.user_name or cmd.user
    return Notice(
        f"{who} will present “{title}” `{paper.id}` in journal club on {day:%a %d %b %Y}. "
        "A reminder comes the day before. See `/papers club`.",
        kind="success",
        public=True,
    )


async def _cancel_presentation(bot: Paperboy, cmd: Command, args: str) -> Reply:
    paper_id = _paper_id(args)
    claim = await bot.store.club_claim(cmd.channel, paper_id)
    if claim is None:
        raise UserError(f"Nobody presents `{paper_id}` in this channel's journal club.")
    if claim.presenter != cmd.user:
        raise UserError(
            f"Only {claim.presenter_label}, who claimed it, can cancel presenting `{paper_id}`."
        )
    await bot.store.cancel_presentation(claim)
    return Notice(
        f"{claim.presenter_label} will no longer present `{paper_id}` on "
        f"{claim.present_on:%a %d %b}. It is free to claim.",
        kind="success",
        public=True,
    )


@command("club", "club", "What this channel's journal club presents next, and who.")
async def _club(bot: Paperboy, cmd: Command, args: str) -> Reply:
    schedule = await club.channel_schedule(bot.store, cmd.channel)
    today = club.local_today(schedule, bot.clock())
    claims = await bot.store.club_schedule(cmd.channel, today)
    if not claims:
        return Notice(
            "No journal club talks planned in this channel. "
            "Claim a paper with `/papers present <id> [date]`."
        )
    papers = await bot.store.get_papers([claim.paper_id for claim in claims])
    lines = tuple(club.agenda_line(c, papers.get(c.paper_id), today) for c in claims)
    return Notice(f"Journal club here ({len(claims)} planned):", lines=lines)


def _read_as_lines(readings: Sequence[Reading]) -> tuple[str, ...]:
    """The line saying which typed words were read as others, and how to search them as typed."""
    if not readings:
        return ()
    read = " and ".join(f"“{r.typed}” as “{r.read_as}”" for r in readings)
    typed = readings[0].typed
    one = len(readings) == 1
    missing, which = (f"“{typed}”", "it") if one else ("the words as typed", "a word")
    return (
        f'Read {read}: no paper has {missing}. To search {which} as typed, quote it: `"{typed}"`.',
    )


def _closest_matches_title(terms: Sequence[str], *, by_meaning: bool) -> str:
    """The line before the closest matches of a search no paper fully matches; ``by_meaning``
    when no paper has even one of the words, so what follows is only close in meaning."""
    # "…transformers?" asked; "step by step" names its word once
    terms = list(dict.fromkeys(term.rstrip("?!.,;:") or term for term in terms))
    closest = "closest in meaning" if by_meaning else "closest matches"
    if len(terms) == 1:
        return f"No paper mentions {terms[0]}; {closest}:"
    if by_meaning:
        return f"No paper mentions any of: {', '.join(terms)}; {closest}:"
    return f"No paper has all of: {', '.join(terms)}; {closest}:"


def _paper_id(text: str) -> str:
    """The canonical id in ``text`` (no lookup: for papers already on a list or a claim)."""
    return paper_ref(text, "Use an arXiv id like `2401.01234`.").id


_ID_OR_LINK = "Use an arXiv id like `2401.01234`, or an arxiv.org / huggingface.co/papers link."


def paper_ref(text: str, hint: str) -> ArxivRef:
    """The paper id or link ``text`` starts with; when there is none, an error that says what
    to type (``hint``)."""
    words = text.split()
    ref = parse_paper_ref(words[0]) if words else None
    if ref is not None:
        return ref
    if not words:
        raise UserError(f"Which paper? {hint}")
    raise UserError(f"`{shorten(text, 60)}` is not a paper id or link. {hint}")


@dataclass(frozen=True, slots=True)
class HomeSummary:
    """One person's overview of their workspace (Slack's App Home shows it): their reading
    list, the team's top papers this week, and every channel's topics. Platform-neutral."""

    saved: Reply
    top: Reply
    subscriptions: tuple[Subscription, ...]


async def home_summary(bot: Paperboy, platform: str, workspace: str, user: str) -> HomeSummary:
    """What :class:`HomeSummary` says for ``user``; the lists are the ``saved`` and ``top week``
    answers, as the person would get them in any channel of the workspace."""
    where = ChannelRef.direct(platform, workspace, user)
    saved = await bot.handle(Command(where, user, "saved"))
    top = await bot.handle(Command(where, user, "top week"))
    subscriptions = tuple(
        s
        for s in await bot.store.all_subscriptions()
        if (s.channel.platform, s.channel.workspace) == (platform, workspace)
    )
    return HomeSummary(saved, top, subscriptions)


def _ids(page: SearchPage) -> list[str]:
    return [hit.paper_id for hit in page.hits]


def _more_hint(page: SearchPage, shown: int) -> str | None:
    """The line under a search's cards when more papers match. Closest matches are papers with
    some of the words, which more words would not narrow (no paper has them all already)."""
    if page.total <= shown:
        return None
    if not page.all_terms_matched:
        return f"Showing the {shown} closest of {_total(page)} papers with some of the words."
    return (
        f"Showing {shown} of {_total(page)}. Narrow it with more words, "
        '`"a phrase"`, `cat:` or `since:`.'
    )


def _total(page: SearchPage) -> str:
    """How many papers match, as the index could tell cheaply ("about 52,000", "more than 5")."""
    if page.total_is == "about":
        return f"about {page.total:,}"
    return f"more than {page.total - 1:,}" if page.total_is == "at least" else str(page.total)
