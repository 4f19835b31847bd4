"""Full-text search over papers with Tantivy, driven by :class:`bot.query.ParsedQuery`.

The SQLite store is the source of truth; this index follows it through the store's change
sequence (:meth:`SearchIndex.catch_up`) and can always be rebuilt from it. Several processes may
share one index directory: each holds Tantivy's writer only while it writes, so a CLI ingest and
a running bot take turns. Methods here are synchronous except the two that read the store; the
bot calls the rest through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import tantivy

from bot import metrics
from bot.models import Paper
from bot.query import Author, Clause, ParsedQuery, Phrase, Word
from bot.replies import Highlight

log = logging.getLogger(__name__)

# Bump when the schema or an analyzer changes: an index written by another version is rebuilt.
SCHEMA_VERSION = 1
TEXT_ANALYZER = "paper_en"
NAME_ANALYZER = "paper_names"
CODE_ANALYZER = "paper_codes"
# Title words say most about a paper; author names come next; the abstract mentions everything.
FIELD_BOOSTS = {"title": 3.0, "authors": 1.5, "abstract": 1.0}
SNIPPET_CHARS = 300
STATE_FILE = "paperboy-index.json"
# One commit (and one writer hold) per page; larger pages mean fewer, bigger segments.
CATCH_UP_PAGE = 50_000
WRITER_HEAP = 512_000_000
WRITER_THREADS = 2
LOCK_TIMEOUT = 5.0
# How stale a reader may be about commits made by other processes.
RELOAD_INTERVAL = 1.0

# Line breaks inside a snippet would break a chat message's layout.
_BREAKS = re.compile(r"[\n\r\t\f\v]")


class SearchIndexError(RuntimeError):
    """The index cannot be used right now; the message says why and what to do."""


class PaperSource(Protocol):
    """What the index needs from the store (:class:`bot.storage.Store` provides it)."""

    async def papers_changed_after(self, seq: int, limit: int = ...) -> list[tuple[int, Paper]]: ...


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper_id: str
    score: float
    snippet: Highlight | None = None


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    total: int


class SearchIndex:
    """A Tantivy index of papers, on disk or in memory. Open with :meth:`open`."""

    def __init__(self, index: tantivy.Index, path: Path | None, *, heap: int, threads: int) -> None:
        self._index = index
        self._path = path
        self._heap = heap
        self._threads = threads
        self._schema = index.schema
        self._compiler = _Compiler(self._schema, _Analyzers())
        self._write_lock = threading.Lock()
        self._memory_seq = 0
        self._reloaded_at = time.monotonic()

    @classmethod
    def open(
        cls, path: Path | None, *, heap: int = WRITER_HEAP, threads: int = WRITER_THREADS
    ) -> SearchIndex:
        """Open (or create) the index in directory ``path``; ``None`` keeps it in memory."""
        return cls(_open_index(path), path, heap=heap, threads=threads)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def num_docs(self) -> int:
        return self._searcher().num_docs

    def reload(self) -> None:
        """See every commit made so far, including other processes' (otherwise ~1 s later)."""
        self._index.reload()
        self._reloaded_at = time.monotonic()

    # -- writing --------------------------------------------------------------------------

    def add_or_replace(self, papers: Sequence[Paper]) -> None:
        """Index ``papers``, replacing any earlier copy with the same id."""
        self._write(papers, seq=None)

    async def catch_up(self, store: PaperSource) -> int:
        """Index what changed in the store since the last catch-up. Returns papers applied."""
        applied = 0
        async with contextlib.aclosing(_changes(store, self.applied_seq())) as pages:
            async for page in pages:
                await asyncio.to_thread(self._write, [paper for _, paper in page], page[-1][0])
                applied += len(page)
        metrics.INDEX_CATCH_UP.set(applied)
        metrics.INDEX_CAUGHT_UP_AT.set(time.time())
        return applied

    async def rebuild(self, store: PaperSource) -> int:
        """Replace the whole index with what the store holds. Returns the papers indexed.

        One commit at the end, so searches see the old index until the new one is complete; the
        writer is held throughout, so other processes wait (or give up) meanwhile.
        """
        loop = asyncio.get_running_loop()
        async with contextlib.aclosing(_changes(store, 0)) as pages:

            def next_page() -> list[tuple[int, Paper]] | None:
                # Pages are read on the event loop (the store lives there); indexing runs here.
                return asyncio.run_coroutine_threadsafe(_next_or_none(pages), loop).result()

            return await asyncio.to_thread(self._replace_all, next_page)

    def applied_seq(self) -> int:
        """The store change sequence this index has caught up to."""
        if self._path is None:
            return self._memory_seq
        return _read_state(self._path).get("last_seq", 0)

    def _write(self, papers: Sequence[Paper], seq: int | None) -> None:
        if not papers:
            return
        with self._writer() as writer:
            for paper in papers:
                writer.delete_documents_by_term("id", paper.id)
                writer.add_document(_document(paper))
            writer.commit()
            if seq is not None:
                self._record_seq(seq)  # still under the writer lock, so writes stay ordered

    def _replace_all(self, next_page: Callable[[], list[tuple[int, Paper]] | None]) -> int:
        if self._path is not None and not (self._path / "meta.json").exists():
            self._index = _open_index(self._path)  # the directory was deleted under us
        count = seq = 0
        with self._writer() as writer:
            writer.delete_all_documents()
            while (page := next_page()) is not None:
                for _, paper in page:
                    writer.add_document(_document(paper))
                count, seq = count + len(page), page[-1][0]
            writer.commit()
            self._record_seq(seq, rebuilt=True)
        return count

    @contextlib.contextmanager
    def _writer(self) -> Iterator[tantivy.IndexWriter]:
        """Tantivy's writer, held only for one batch of writes; searches reload afterwards."""
        with self._write_lock:
            writer = self._acquire_writer()
            try:
                yield writer
            except BaseException:
                writer.rollback()
                raise
            finally:
                # Consumes the writer, which frees Tantivy's lock file even while a traceback
                # still refers to it.
                writer.wait_merging_threads()
            self.reload()

    def _acquire_writer(self) -> tantivy.IndexWriter:
        deadline = time.monotonic() + LOCK_TIMEOUT
        delay = 0.02
        while True:
            try:
                return self._index.writer(self._heap, self._threads)
            except ValueError as exc:
                if "LockBusy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise SearchIndexError(
                        f"The search index at {self._path} is being written by another process "
                        "(perhaps `paperboy ingest`). Try again once it finishes."
                    ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _record_seq(self, seq: int, *, rebuilt: bool = False) -> None:
        if self._path is None:
            self._memory_seq = seq if rebuilt else max(self._memory_seq, seq)
            return
        if not rebuilt:
            # Another process may have applied a later change already; never go back.
            seq = max(seq, _read_state(self._path).get("last_seq", 0))
        _write_state(self._path, seq)

    # -- reading --------------------------------------------------------------------------

    def search(
        self, query: ParsedQuery, *, limit: int = 10, offset: int = 0, snippets: bool = True
    ) -> SearchPage:
        """The best ``limit`` papers after ``offset``, by BM25, and how many match in all."""
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit} and {offset}")
        engine_query = self._compiler.compile(query)
        searcher = self._searcher()
        result = searcher.search(engine_query, limit=limit, offset=offset, count=True)
        highlight = self._highlighter(searcher, engine_query) if snippets and result.hits else None
        hits = []
        for score, address in result.hits:
            doc = searcher.doc(address)
            snippet = highlight(doc) if highlight else None
            hits.append(SearchHit(str(doc.get_first("id")), float(score), snippet))
        # The type stubs lack SearchResult.count, which search(count=True) fills in.
        total: int = result.count  # type: ignore[attr-defined]
        return SearchPage(hits, total)

    def matching_ids(self, query: ParsedQuery, limit: int) -> list[str]:
        """Ids of the best ``limit`` matches (used to match new papers to subscriptions)."""
        if limit < 1:
            return []
        searcher = self._searcher()
        result = searcher.search(self._compiler.compile(query), limit=limit, count=False)
        return [str(searcher.doc(address).get_first("id")) for _, address in result.hits]

    def matching_ids_many(self, queries: Sequence[ParsedQuery], limit: int) -> list[list[str]]:
        """:meth:`matching_ids` for many queries on one searcher: a paper many queries match has
        its stored id read once, not once per query (the bulk of topic matching's time)."""
        searcher = self._searcher()
        ids: dict[tuple[int, int], str] = {}
        found = []
        for query in queries:
            hits = searcher.search(self._compiler.compile(query), limit=limit, count=False).hits
            matched = []
            for _, address in hits:
                key = (address.segment_ord, address.doc)
                if key not in ids:
                    ids[key] = str(searcher.doc(address).get_first("id"))
                matched.append(ids[key])
            found.append(matched)
        return found

    def engine_query(self, query: ParsedQuery) -> tantivy.Query:
        """The Tantivy query ``query`` compiles to (for benchmarks and debugging)."""
        return self._compiler.compile(query)

    def _searcher(self) -> tantivy.Searcher:
        if time.monotonic() - self._reloaded_at > RELOAD_INTERVAL:
            self.reload()
        return self._index.searcher()

    def _highlighter(
        self, searcher: tantivy.Searcher, engine_query: tantivy.Query
    ) -> Callable[[tantivy.Document], Highlight | None]:
        generator = tantivy.SnippetGenerator.create(
            searcher, engine_query, self._schema, "abstract"
        )
        # Room for the two ellipses added around a fragment cut from the middle.
        generator.set_max_num_chars(SNIPPET_CHARS - 2)

        def highlight(doc: tantivy.Document) -> Highlight | None:
            abstract = doc.get_first("abstract") or ""
            return _highlight(generator.snippet_from_doc(doc), str(abstract))

        return highlight


# -- schema and analyzers -------------------------------------------------------------------


def register_analyzers(index: tantivy.Index) -> None:
    """Make a bare ``tantivy.Index`` on our directory able to analyze text (e.g. for snippets)."""
    _Analyzers().register(index)


class _Analyzers:
    """The analyzers the index uses, kept so query words are analyzed exactly like documents."""

    def __init__(self) -> None:
        builder, tokenizer, filters = tantivy.TextAnalyzerBuilder, tantivy.Tokenizer, tantivy.Filter
        self.text = (
            builder(tokenizer.simple())
            .filter(filters.remove_long(40))
            .filter(filters.lowercase())
            .filter(filters.ascii_fold())
            .filter(filters.stemmer("english"))
            .build()
        )
        # Names are not stemmed: "Hinton" must not match "Hint".
        self.names = (
            builder(tokenizer.simple())
            .filter(filters.lowercase())
            .filter(filters.ascii_fold())
            .build()
        )
        self.codes = builder(tokenizer.raw()).filter(filters.lowercase()).build()

    def register(self, index: tantivy.Index) -> None:
        index.register_tokenizer(TEXT_ANALYZER, self.text)
        index.register_tokenizer(NAME_ANALYZER, self.names)
        index.register_tokenizer(CODE_ANALYZER, self.codes)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", tokenizer_name=TEXT_ANALYZER)
    # Stored for snippets only; the store has the full record.
    builder.add_text_field("abstract", stored=True, tokenizer_name=TEXT_ANALYZER)
    builder.add_text_field("authors", tokenizer_name=NAME_ANALYZER)
    builder.add_text_field("categories", tokenizer_name=CODE_ANALYZER, index_option="basic")
    builder.add_date_field("published", indexed=True, fast=True)
    return builder.build()


def _open_index(path: Path | None) -> tantivy.Index:
    index = tantivy.Index(_schema()) if path is None else _open_directory(path)
    register_analyzers(index)
    return index


def _open_directory(path: Path) -> tantivy.Index:
    """The index in ``path``; one we cannot use is started afresh (the store can refill it)."""
    path.mkdir(parents=True, exist_ok=True)
    if _state_mismatch(path):
        log.warning("search index at %s is from another version; starting it afresh", path)
        _start_afresh(path)
    try:
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
    except (ValueError, OSError) as error:
        log.warning("search index at %s cannot be opened (%s); starting it afresh", path, error)
        _start_afresh(path)
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
    if not (path / STATE_FILE).exists():
        _write_state(path, 0)
    return index


def _document(paper: Paper) -> tantivy.Document:
    return tantivy.Document(
        id=paper.id,
        title=paper.title,
        abstract=paper.abstract,
        authors=list(paper.authors),
        categories=list(paper.categories),
        published=paper.published,
    )


# -- the state file: which store change the index has caught up to --------------------------


def _state_mismatch(path: Path) -> bool:
    """True when ``path`` holds an index we did not write (or from another schema version)."""
    if not (path / "meta.json").exists():
        return False
    return _read_state(path).get("schema_version") != SCHEMA_VERSION


def _read_state(path: Path) -> dict[str, int]:
    try:
        data = json.loads((path / STATE_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, int)}


def _write_state(path: Path, last_seq: int) -> None:
    # Write-then-rename, so a reader in another process never sees half a file.
    temp = path / f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}"
    temp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "last_seq": last_seq}))
    temp.replace(path / STATE_FILE)


def _start_afresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def _changes(store: PaperSource, seq: int) -> AsyncGenerator[list[tuple[int, Paper]], None]:
    """Pages of changes after ``seq``, oldest first, each change whole (never cut in two)."""
    limit = CATCH_UP_PAGE
    rows = await store.papers_changed_after(seq, limit=limit)
    while rows:
        whole = _whole_changes(rows, limit)
        if not whole:
            limit *= 2  # one change touched more papers than a page holds: read it whole
            rows = await store.papers_changed_after(seq, limit=limit)
            continue
        seq = whole[-1][0]
        # Read the next page while the caller indexes this one: the store's row decoding and
        # Tantivy's indexing threads then keep different cores busy.
        ahead = None
        if len(rows) == limit:
            ahead = asyncio.ensure_future(store.papers_changed_after(seq, limit=limit))
        try:
            yield whole
        except BaseException:
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            raise
        rows = await ahead if ahead is not None else []


async def _next_or_none(
    pages: AsyncIterator[list[tuple[int, Paper]]],
) -> list[tuple[int, Paper]] | None:
    return await anext(pages, None)


def _whole_changes(rows: list[tuple[int, Paper]], limit: int) -> list[tuple[int, Paper]]:
    """The rows whose change is complete in this page: a full page may cut the last one."""
    if len(rows) < limit:
        return rows
    last = rows[-1][0]
    return [row for row in rows if row[0] != last]


# -- query compilation ------------------------------------------------------------------------


class _Compiler:
    """Turns a ParsedQuery into a Tantivy query, analyzing words like the index does."""

    def __init__(self, schema: tantivy.Schema, analyzers: _Analyzers) -> None:
        self._schema = schema
        self._analyzers = analyzers

    def compile(self, query: ParsedQuery) -> tantivy.Query:
        occur, build = tantivy.Occur, tantivy.Query
        parts = []
        for group in query.groups:
            matcher = self._group(group)
            if matcher is None:
                return build.empty_query()  # a required word that no document can contain
            parts.append((occur.Must, matcher))
        for clause in query.exclude:
            matcher = self._clause(clause)
            if matcher is not None:
                parts.append((occur.MustNot, matcher))
        if query.since is not None:
            start = datetime(query.since.year, query.since.month, query.since.day, tzinfo=UTC)
            since = build.range_query(self._schema, "published", tantivy.FieldType.Date, start)
            parts.append((occur.Must, since))
        return build.boolean_query(parts)

    def _group(self, group: tuple[Clause, ...]) -> tantivy.Query | None:
        matchers = [m for m in map(self._clause, group) if m is not None]
        if len(matchers) <= 1:
            return matchers[0] if matchers else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, m) for m in matchers])

    def _clause(self, clause: Clause) -> tantivy.Query | None:
        if isinstance(clause, Word):
            return self._anywhere(clause.text)
        if isinstance(clause, Phrase):
            return self._anywhere(" ".join(clause.words))
        if isinstance(clause, Author):
            return self._tokens("authors", self._analyzers.names.analyze(clause.name))
        return self._tokens("categories", self._analyzers.codes.analyze(clause.code))

    def _anywhere(self, text: str) -> tantivy.Query | None:
        """Text in any field, boosted by field. ``pre-training`` becomes a phrase, as in Lucene."""
        parts = []
        for field, boost in FIELD_BOOSTS.items():
            analyzer = self._analyzers.names if field == "authors" else self._analyzers.text
            matcher = self._tokens(field, analyzer.analyze(text))
            if matcher is not None:
                parts.append((tantivy.Occur.Should, tantivy.Query.boost_query(matcher, boost)))
        return tantivy.Query.boolean_query(parts) if parts else None

    def _tokens(self, field: str, tokens: list[str]) -> tantivy.Query | None:
        if not tokens:
            return None
        if len(tokens) == 1:
            return tantivy.Query.term_query(self._schema, field, tokens[0])
        words: list[str | tuple[int, str]] = [*tokens]
        return tantivy.Query.phrase_query(self._schema, field, words)


# -- snippets ---------------------------------------------------------------------------------


def _highlight(snippet: tantivy.Snippet, source: str) -> Highlight | None:
    """Tantivy's snippet (UTF-8 byte offsets) as a Highlight (character offsets)."""
    fragment = snippet.fragment()
    ranges = snippet.highlighted()
    if not fragment or not ranges:
        return None
    spans = _merge(sorted(_char_spans(fragment, [(r.start, r.end) for r in ranges])))
    where = snippet.fragment_range()
    # Fragments start at a word, so anything before them is text that was left out.
    lead = "…" if where.start > 0 else ""
    after = source.strip().encode()[where.end :].decode("utf-8", errors="ignore")
    # A fragment that stops just before the final full stop gets the full stop, not "…".
    tail = "…" if any(ch.isalnum() for ch in after) else after.rstrip()
    shift = len(lead)
    return Highlight(
        _BREAKS.sub(" ", lead + fragment + tail),
        tuple((start + shift, end + shift) for start, end in spans),
    )


def _char_spans(text: str, byte_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if text.isascii():
        return byte_spans
    encoded = text.encode()

    def chars(offset: int) -> int:
        return len(encoded[:offset].decode("utf-8", errors="ignore"))

    return [(chars(start), chars(end)) for start, end in byte_spans]


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged
