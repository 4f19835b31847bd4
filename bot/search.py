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
import math
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import tantivy

from bot import metrics
from bot.analysis import Normalized, normalize, normalize_query
from bot.models import Paper
from bot.query import ParsedQuery
from bot.replies import Highlight
from bot.search_plan import Compiler, Plan, TotalKind, run_pass
from bot.search_schema import (
    SCHEMA_VERSION,
    Analyzers,
    build_schema,
    document_of,
    register_analyzers,
)
from bot.typos import Reading, Vocabulary, maybe_mistyped, plain_words, read_typos

log = logging.getLogger(__name__)

SNIPPET_CHARS = 300
STATE_FILE = "paperboy-index.json"
# One commit (and one writer hold) per page; larger pages mean fewer, bigger segments.
CATCH_UP_PAGE = 50_000
WRITER_HEAP = 512_000_000
WRITER_THREADS = 2
LOCK_TIMEOUT = 5.0
# Papers with a word's stem read to see whether one writes the word itself (bot/typos.py).
WRITTEN_SAMPLE = 20
# How stale a reader may be about commits made by other processes.
RELOAD_INTERVAL = 1.0

# Line breaks inside a snippet would break a chat message's layout.
_BREAKS = re.compile(r"[\n\r\t\f\v]")


class SearchIndexError(RuntimeError):
    """The index cannot be used right now; the message says why and what to do."""


class PaperSource(Protocol):
    """What the index needs from the store (:class:`bot.storage.Store` provides it)."""

    async def papers_changed_after(self, seq: int, limit: int = ...) -> list[tuple[int, Paper]]: ...


ChangePage = list[tuple[int, Paper]]


class PageFollower(Protocol):
    """Derived data that follows the store's changes like the index (bot.vectors.VectorIndex)."""

    async def follow_page(self, after_seq: int, page: ChangePage) -> None:
        """Apply ``page`` (the changes after ``after_seq``) if nothing else is applying them."""
        ...


async def _offer(follower: PageFollower, after_seq: int, page: ChangePage) -> None:
    try:
        await follower.follow_page(after_seq, page)
    except Exception:  # derived data: its own catch-up applies the page later; the index goes on
        log.warning("a page of changes was not applied beside the index", exc_info=True)


@dataclass(frozen=True, slots=True)
class SearchHit:
    paper_id: str
    # BM25, except that a closest match never shows more than the papers with every word above
    # it: scores only go down the list.
    score: float
    snippet: Highlight | None = None
    all_terms: bool = True  # False for a closest match that lacks some of the words
    bm25: float = 0.0  # the BM25 score itself, of the query the hit came from


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[SearchHit]
    total: int
    # False when no paper has every word, so the hits are the closest matches instead.
    all_terms_matched: bool = True
    # The words that had to match (stop words left out), for the "no paper has all of" line.
    terms: tuple[str, ...] = ()
    # True when no paper has any of the words and the hits are only close in meaning (vectors).
    by_meaning_only: bool = False
    # How ``total`` was found when many papers match (counting them all would cost as much as
    # scoring them all): "about" (from word frequencies, two significant digits) or "at least"
    # (phrases, whose matches word frequencies do not tell: one more than the page).
    total_is: TotalKind = "exact"


class SearchIndex:
    """A Tantivy index of papers, on disk or in memory. Open with :meth:`open`."""

    def __init__(self, index: tantivy.Index, path: Path | None, *, heap: int, threads: int) -> None:
        self._index = index
        self._path = path
        self._heap = heap
        self._threads = threads
        self._schema = index.schema
        self._analyzers = Analyzers()
        self._compiler = Compiler(self._schema, self._analyzers)
        self._write_lock = threading.Lock()
        self._memory_seq = 0
        self._reloaded_at = time.monotonic()
        self._followers: list[PageFollower] = []

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

    def share_pages_with(self, follower: PageFollower) -> None:
        """Hand each page this index catches up on to ``follower`` too (the paper vectors), so
        the store is read once for both and the two are written at the same time."""
        self._followers.append(follower)

    async def catch_up(self, store: PaperSource) -> int:
        """Index what changed in the store since the last catch-up. Returns papers applied."""
        applied = 0
        after = self.applied_seq()
        async with contextlib.aclosing(change_pages(store, after)) as pages:
            async for page in pages:
                write = asyncio.to_thread(self._write, [paper for _, paper in page], page[-1][0])
                await asyncio.gather(write, *(_offer(f, after, page) for f in self._followers))
                applied, after = applied + len(page), page[-1][0]
        metrics.INDEX_CATCH_UP.set(applied)
        metrics.INDEX_CAUGHT_UP_AT.set(time.time())
        return applied

    async def rebuild(self, store: PaperSource) -> int:
        """Replace the whole index with what the store holds. Returns the papers indexed.

        One commit at the end, so searches see the old index until the new one is complete; the
        writer is held throughout, so other processes wait (or give up) meanwhile.
        """
        loop = asyncio.get_running_loop()
        async with contextlib.aclosing(change_pages(store, 0)) as pages:

            def next_page() -> list[tuple[int, Paper]] | None:
                # Pages are read on the event loop (the store lives there); indexing runs here.
                return asyncio.run_coroutine_threadsafe(_next_or_none(pages), loop).result()

            return await asyncio.to_thread(self._replace_all, next_page)

    def applied_seq(self) -> int:
        """The store change sequence this index has caught up to."""
        if self._path is None:
            return self._memory_seq
        return int(_read_state(self._path).get("last_seq", 0))

    def _write(self, papers: Sequence[Paper], seq: int | None) -> None:
        if not papers:
            return
        with self._writer() as writer:
            for paper in papers:
                writer.delete_documents_by_term("id", paper.id)
                writer.add_document(document_of(paper))
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
                    writer.add_document(document_of(paper))
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
            seq = max(seq, int(_read_state(self._path).get("last_seq", 0)))
        _write_state(self._path, seq)

    # -- reading --------------------------------------------------------------------------

    def search(
        self,
        query: ParsedQuery,
        *,
        limit: int = 10,
        offset: int = 0,
        snippets: bool = True,
        forgive: bool = True,
    ) -> SearchPage:
        """The best ``limit`` papers after ``offset`` and how many match in all.

        Papers with every word come first, by BM25; when fewer than ``offset + limit`` have them,
        the closest matches (most of the words, by BM25) follow. Quoted phrases, ``-exclusions``,
        ``author:``, ``cat:`` and ``since:`` always hold. ``forgive=False``: papers with every
        word only (fewer than ``limit`` hits then says the closest matches would follow).
        """
        if limit < 1 or offset < 0:
            raise ValueError(f"need limit >= 1 and offset >= 0, got {limit} and {offset}")
        plan = self._compiler.plan(query)
        searcher = self._searcher()
        wanted = offset + limit
        strict, total, total_is = run_pass(searcher, plan.strict, wanted)
        found = [(float(score), address, True) for score, address in strict]
        if forgive and plan.loose is not None and len(found) < wanted:
            loose, total, total_is = run_pass(searcher, plan.loose, wanted + len(found))
            seen = {_key(address) for _, address, _ in found}
            found += [(float(s), a, False) for s, a in loose if _key(a) not in seen]
        page = _capped(found)[offset:wanted]
        highlight = self._highlighter(searcher, query, plan) if snippets and page else None
        hits = []
        for shown, score, address, all_terms in page:
            doc = searcher.doc(address)
            snippet = highlight(doc) if highlight else None
            hits.append(SearchHit(str(doc.get_first("id")), shown, snippet, all_terms, score))
        all_matched = plan.loose is None or bool(strict)
        return SearchPage(
            hits, total, all_terms_matched=all_matched, terms=plan.terms, total_is=total_is
        )

    def snippets(self, query: ParsedQuery, paper_ids: Sequence[str]) -> dict[str, Highlight]:
        """Snippets of these papers for ``query`` (any of its words in bold), for hits ranked
        elsewhere: highlighting only the few shown is far cheaper than a whole candidate list."""
        searcher = self._searcher()
        highlight = self._highlighter(searcher, query)
        found: dict[str, Highlight] = {}
        for paper_id in paper_ids:
            hits = searcher.search(self._id_query(paper_id), limit=1).hits
            snippet = highlight(searcher.doc(hits[0][1])) if hits else None
            if snippet is not None:
                found[paper_id] = snippet
        return found

    def matching_ids(self, query: ParsedQuery, limit: int) -> list[str]:
        """Ids of the best ``limit`` papers with every word of ``query`` (topic subscriptions:
        their "why" line names the topic, so nothing is forgiven here)."""
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

    def meeting(self, query: ParsedQuery, paper_ids: Sequence[str]) -> set[str]:
        """Which of ``paper_ids`` have what ``query`` spells out beyond plain words, read as
        the index reads it: ``-pre-training`` leaves out "pretrained" and "pre training" here
        too, so papers found by their vectors obey it exactly as the word matches do."""
        if not paper_ids:
            return set()
        searcher = self._searcher()
        wanted = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, tantivy.Query.term_set_query(self._schema, "id", paper_ids)),
                (tantivy.Occur.Must, self._compiler.constraints(query)),
            ]
        )
        hits = searcher.search(wanted, limit=len(paper_ids), count=False).hits
        return {str(searcher.doc(address).get_first("id")) for _, address in hits}

    def rarity(self, words: Sequence[str]) -> list[float]:
        """Each word's inverse document frequency in titles and abstracts (0 for a word with
        nothing to index): how much it says about what a paper is about."""
        searcher = self._searcher()
        total = searcher.num_docs
        analyze = self._analyzers.text.analyze
        weights = []
        for word in words:
            tokens = analyze(normalize_query(word))
            if not tokens:
                weights.append(0.0)
                continue
            frequency = max(searcher.doc_freq("text", token) for token in tokens)
            weights.append(math.log((total + 1) / (frequency + 1)))
        return weights

    def read_typos(self, query: ParsedQuery) -> tuple[ParsedQuery, tuple[Reading, ...]]:
        """``query`` with each mistyped word read as the word papers use (:mod:`bot.typos`)."""
        return read_typos(query, self.vocabulary())

    def may_have_typos(self, query: ParsedQuery) -> bool:
        """Whether :meth:`read_typos` has a word to look at (cheap: word frequencies only)."""
        vocabulary = self.vocabulary()
        return any(maybe_mistyped(w, vocabulary, capital_ok=True) for w in plain_words(query))

    def vocabulary(self) -> Vocabulary:
        """How many papers have a word, as of now."""
        return _Vocabulary(self._searcher(), self._schema, self._compiler, self._analyzers.text)

    def engine_query(self, query: ParsedQuery) -> tantivy.Query:
        """The Tantivy query search runs first for ``query`` (for benchmarks and debugging)."""
        return self._compiler.plan(query).strict.query

    def engine_queries(self, query: ParsedQuery) -> list[tantivy.Query]:
        """Every Tantivy query search may run for ``query``, in order (for benchmarks)."""
        plan = self._compiler.plan(query)
        return [plan.strict.query] + ([] if plan.loose is None else [plan.loose.query])

    def _searcher(self) -> tantivy.Searcher:
        if time.monotonic() - self._reloaded_at > RELOAD_INTERVAL:
            self.reload()
        return self._index.searcher()

    def _id_query(self, paper_id: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, "id", paper_id)

    def _highlighter(
        self, searcher: tantivy.Searcher, query: ParsedQuery, plan: Plan | None = None
    ) -> Callable[[tantivy.Document], Highlight | None]:
        """Marks any word or phrase of ``query`` (not what it excludes: "training" stays plain
        in a paper shown for ``vision -pre-training``); ``plan``: the query's, if made."""
        if plan is None or query.exclude:
            plan = self._compiler.plan(replace(query, exclude=()))
        marked = (plan.loose or plan.strict).query
        generator = tantivy.SnippetGenerator.create(searcher, marked, self._schema, "text")
        # Room for the two ellipses added around a fragment cut from the middle.
        generator.set_max_num_chars(SNIPPET_CHARS - 2)

        def highlight(doc: tantivy.Document) -> Highlight | None:
            stored = doc.get_first("abstract")
            source = bytes(stored).decode() if stored else ""
            # Highlight the text as indexed (TeX stripped, compounds joined too), then map the
            # spans back onto the abstract as written, which is what people see.
            analyzed = normalize(source.strip(), joined="inline")
            snippet = generator.snippet_from_doc(tantivy.Document(text=analyzed.text))
            return _highlight(snippet, analyzed, source)

        return highlight


@dataclass(frozen=True, slots=True)
class _Vocabulary:
    """Word frequencies in free text, for reading typos (:class:`bot.typos.Vocabulary`)."""

    searcher: tantivy.Searcher
    schema: tantivy.Schema
    compiler: Compiler
    analyzer: tantivy.TextAnalyzer

    def papers_with(self, word: str) -> int:
        split, others = self.compiler.word_tokens(word)
        return self._most(split + others if len(split) == 1 else others)

    def papers_with_stem(self, word: str) -> int:
        tokens = self.analyzer.analyze(word)
        return self._most(tokens) if len(tokens) == 1 else 0

    def written(self, word: str) -> bool:
        tokens = self.analyzer.analyze(word)
        if len(tokens) != 1:
            return False
        query = tantivy.Query.term_query(self.schema, "text", tokens[0])
        as_written = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
        for _, address in self.searcher.search(query, limit=WRITTEN_SAMPLE, count=False).hits:
            stored = self.searcher.doc(address).get_first("abstract")
            if stored and as_written.search(bytes(stored).decode()):
                return True
        return False

    def _most(self, tokens: list[str]) -> int:
        return max((self.searcher.doc_freq("text", token) for token in tokens), default=0)


def _open_index(path: Path | None) -> tantivy.Index:
    index = tantivy.Index(build_schema()) if path is None else _open_directory(path)
    register_analyzers(index)
    return index


def _open_directory(path: Path) -> tantivy.Index:
    """The index in ``path``; one we cannot use is started afresh (the store can refill it)."""
    path.mkdir(parents=True, exist_ok=True)
    if not (path / "meta.json").exists() and not (path / STATE_FILE).exists():
        # Before Tantivy writes meta.json: a process starting beside this one that sees meta.json
        # without a state file takes it for an index we did not write and deletes it.
        _write_state(path, 0)
    if _state_mismatch(path):
        log.warning("search index at %s is from another version; starting it afresh", path)
        start_afresh(path)
    try:
        index = tantivy.Index(build_schema(), path=str(path), reuse=True)
    except (ValueError, OSError) as error:
        log.warning("search index at %s cannot be opened (%s); starting it afresh", path, error)
        start_afresh(path)
        index = tantivy.Index(build_schema(), path=str(path), reuse=True)
    if not (path / STATE_FILE).exists():
        _write_state(path, 0)
    return index


# -- the state file: which store change the index has caught up to --------------------------


def _state_mismatch(path: Path) -> bool:
    """True when ``path`` holds an index we did not write (or from another schema version)."""
    if not (path / "meta.json").exists():
        return False
    return _read_state(path).get("schema_version") != SCHEMA_VERSION


def _read_state(path: Path) -> dict[str, int | str]:
    return read_state_file(path / STATE_FILE)


def read_state_file(file: Path) -> dict[str, int | str]:
    """A derived index's state file (JSON, written then renamed); empty when missing or unreadable,
    so the index starts afresh rather than failing."""
    try:
        data = json.loads(file.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, int | str)}


def _write_state(path: Path, last_seq: int) -> None:
    # Write-then-rename, so a reader in another process never sees half a file.
    temp = path / f".{STATE_FILE}.{os.getpid()}.{threading.get_ident()}"
    temp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "last_seq": last_seq}))
    temp.replace(path / STATE_FILE)


def start_afresh(path: Path) -> None:
    """Empty the index folder ``path`` (derived data: rebuilt from the store)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)


async def change_pages(
    store: PaperSource, seq: int, page: int | None = None
) -> AsyncGenerator[list[tuple[int, Paper]], None]:
    """Pages of changes after ``seq``, oldest first, each change whole (never cut in two);
    ``page`` rows at most unless one change has more (default: ``CATCH_UP_PAGE``)."""
    limit = page or CATCH_UP_PAGE
    rows = await store.papers_changed_after(seq, limit=limit)
    while rows:
        whole = _whole_changes(rows, limit)
        if not whole:
            limit *= 2  # one change touched more papers than a page holds: read it whole
            rows = await store.papers_changed_after(seq, limit=limit)
            continue
        seq = whole[-1][0]
        # Read the next page while the caller indexes (or embeds) this one: the store's row
        # decoding and Tantivy's indexing threads (or numpy) then keep different cores busy.
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


def _capped(
    found: list[tuple[float, tantivy.DocAddress, bool]],
) -> list[tuple[float, float, tantivy.DocAddress, bool]]:
    """Each hit with the score to show first: a closest match shows no more than the hits above."""
    capped = []
    ceiling = float("inf")
    for score, address, all_terms in found:
        ceiling = score if all_terms else min(score, ceiling)
        capped.append((ceiling, score, address, all_terms))
    return capped


def _key(address: tantivy.DocAddress) -> tuple[int, int]:
    return address.segment_ord, address.doc


# -- snippets ---------------------------------------------------------------------------------


def _highlight(snippet: tantivy.Snippet, analyzed: Normalized, source: str) -> Highlight | None:
    """Tantivy's snippet of ``analyzed`` (UTF-8 byte offsets) as a Highlight of ``source``, the
    text as written (character offsets)."""
    fragment = snippet.fragment()
    ranges = snippet.highlighted()
    if not fragment or not ranges:
        return None
    # Tantivy trims the text it is given; offsets count from the first non-space.
    text = analyzed.text
    trimmed = len(text) - len(text.lstrip())
    body = text[trimmed:].encode()
    where = snippet.fragment_range()
    start, end = (
        trimmed + len(body[:offset].decode("utf-8", "ignore"))
        for offset in (where.start, where.end)
    )
    spans = _char_spans(fragment, [(r.start, r.end) for r in ranges])
    original = source.strip()
    begin, finish = analyzed.original_start(start), analyzed.original_end(end)
    spans = [
        (analyzed.original_start(start + s) - begin, analyzed.original_end(start + e) - begin)
        for s, e in spans
    ]
    shown = original[begin:finish]
    if len(shown) > SNIPPET_CHARS - 2:
        # Markup left out of the analyzed text makes the original longer; cut at a word.
        cut = shown.rfind(" ", 0, SNIPPET_CHARS - 2)
        finish = begin + (cut if cut > 0 else SNIPPET_CHARS - 2)
        shown = original[begin:finish]
        spans = [(s, min(e, len(shown))) for s, e in spans if s < len(shown)]
    # Fragments start at a word, so anything before them is text that was left out.
    lead = "…" if begin > 0 else ""
    after = original[finish:]
    # A fragment that stops just before the final full stop gets the full stop, not "…".
    tail = "…" if any(ch.isalnum() for ch in after) else after.rstrip()
    shift = len(lead)
    merged = _merge(sorted(spans))
    return Highlight(
        _BREAKS.sub(" ", lead + shown + tail),
        tuple((s + shift, e + shift) for s, e in merged),
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
