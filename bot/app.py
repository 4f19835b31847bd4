"""Wiring: builds the store, index, sources and the command core from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import httpx

from bot.commands import Paperboy
from bot.config import Settings
from bot.embeddings import load_embedder
from bot.ingest import catch_up_index
from bot.models import Paper
from bot.search import ChangePage, SearchIndex
from bot.sources.arxiv import ArxivSource
from bot.sources.hf import HuggingFaceSource
from bot.storage import Store, utc_now
from bot.vectors import VectorIndex

USER_AGENT = "Paperboy/0.1 (+https://github.com/paperboy-bot/paperboy)"


@dataclass(frozen=True, slots=True)
class ArxivLookup:
    """Looks papers up by id on arXiv, for links to papers the store has not seen."""

    arxiv: ArxivSource

    async def lookup(self, paper_ids: Sequence[str]) -> list[Paper]:
        return (await self.arxiv.fetch_ids(paper_ids)).papers


@dataclass(frozen=True, slots=True)
class App:
    settings: Settings
    store: Store
    index: SearchIndex
    http: httpx.AsyncClient
    hf: HuggingFaceSource
    arxiv: ArxivSource
    bot: Paperboy


@asynccontextmanager
async def open_app(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    clock: Callable[[], datetime] = utc_now,
    vectors: bool = True,
) -> AsyncIterator[App]:
    """Open everything the bot needs, catching the search index up with the database.

    ``vectors=False`` skips loading the embedding model (one-shot commands that never search)."""
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=settings.http_timeout,
                    headers={"User-Agent": USER_AGENT},
                    follow_redirects=True,
                )
            )
        store = await Store.open(settings.database)
        stack.push_async_callback(store.close)
        index = SearchIndex.open(settings.search_index_path)
        await catch_up_index(index, store)
        hf = HuggingFaceSource(http, settings.hf_url, timeout=settings.http_timeout)
        arxiv = ArxivSource(
            http,
            settings.arxiv_url,
            timeout=settings.http_timeout,
            min_interval=settings.arxiv_min_interval,
        )
        bot = Paperboy(store, index, lookup=ArxivLookup(arxiv), clock=clock)
        if vectors:
            await open_vectors(bot, settings)
            stack.push_async_callback(bot.stop_background)
        yield App(settings, store, index, http, hf, arxiv, bot)


async def open_vectors(bot: Paperboy, settings: Settings) -> None:
    """Load the embedding model and start computing missing vectors in the background."""
    embedder = await asyncio.to_thread(load_embedder, settings.embeddings)
    if embedder is None:
        bot.lexical_reason = (
            "embeddings are off" if settings.embeddings.lower() == "off"
            else f"the embedding model {settings.embeddings!r} could not be loaded, see the log"
        )  # fmt: skip
        return
    bot.vectors = await asyncio.to_thread(VectorIndex.open, settings.vectors_path, embedder)
    await asyncio.to_thread(bot.vectors.prepare_search)
    if embedder.contextual:
        # ~300x slower than a static model: beside the index it would hold every catch-up (and
        # the ingest waiting on it) for as long, so each page starts the background catch-up.
        bot.index.share_pages_with(_StartsVectorCatchUp(bot))
    else:
        bot.index.share_pages_with(bot.vectors)  # embeds each page while Tantivy indexes it
    bot.start_vector_catch_up()


@dataclass(frozen=True, slots=True)
class _StartsVectorCatchUp:
    """Follows the index's pages of changes by starting the vectors' own catch-up."""

    bot: Paperboy

    async def follow_page(self, after_seq: int, page: ChangePage) -> None:
        self.bot.start_vector_catch_up()
