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
import itertools
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, Protocol

import tantivy

from bot import metrics
from bot.analysis import Normalized, joined_compounds, normalize, normalize_query
from bot.models import Paper
from bot.query import Author, Category, Clause, ParsedQuery, Phrase, Word
from bot.replies import Highlight

log = logging.getLogger(__name__)

# Bump when the schema or an analyzer changes: an index written by another version is rebuilt.
SCHEMA_VERSION = 2
TEXT_ANALYZER = "paper_en"
NAME_ANALYZER = "paper_names"
CODE_ANALYZER = "paper_codes"
PAIR_ANALYZER = "paper_pairs"
# Free text is matched in one field holding title, abstract and author names, so a query of
# plain words is a flat intersection (all words) or union (closest matches) of term queries.
# Tantivy could prune a union with block-max WAND, but tantivy-py always collects through a
# MultiCollector, which scores every match; the tiers below (_Tier) do the pruning per query.
# Title words, which say most about a paper, are in that field three times; unions (one word,
# closest matches) and quoted phrases also score through the title field, where a short title
# beats a long one.
TITLE_COPIES = 3
TITLE_BOOST = 2.0
# Closest matches (no paper has every word: mostly questions in plain words) score through the
# text field alone. Few titles hold a question's common words ("simple", "model", "light"), so
# in the title field they weigh like rare ones, and a short title made of them outranked the
# paper the question is about: forgiving BM25 alone, plain-language recall@3 0.55 -> 0.72 on
# bench/queries.jsonl, 0.69 -> 0.77 on held-out questions, keyword queries unchanged. Titles
# still count through their copies in the text field.
CLOSEST_TITLE_BOOST = 0.0
# Words that say nothing about a paper. Free-text search leaves them out (unless nothing else
# is left), so "how do transformers handle long documents" needs neither "how" nor "do", and
# a question does not cost a scan of every paper. Quoted phrases and topics keep them.
STOP_WORDS = frozenset(
    str.split("""a about an and any are as at be been being but by can could do does did for
    from had has have how i if in into is it its me my no not of on or our should so some such than
    that the their them then there these they this those to was we were what when where which
    who whom why will with would you your paper papers find show""")
)
SNIPPET_CHARS = 300
# Searching with few possible matches counts them exactly (cheap); above, the total is estimated.
EXACT_COUNT_UP_TO = 20_000
# Closest matches: the most frequent words of a question are left to a tier's optional
# clauses while their BM25 ceilings add up to at most this share of the next word's
# (see _Compiler._rare_tier).
COMMON_SHARE_OF_RARE = 0.3
BM25_K1 = 1.2  # Tantivy's BM25 term saturation
# A tier vouches for the top only when its k-th best beats every other match by this factor
# (scores are 32-bit floats).
TIER_MARGIN = 1.001
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


TotalKind = Literal["exact", "about", "at least"]


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
        self._analyzers = _Analyzers()
        self._compiler = _Compiler(self._schema, self._analyzers)
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
        strict, total, total_is = _run(searcher, plan.strict, wanted)
        found = [(float(score), address, True) for score, address in strict]
        used = plan.strict.query
        if forgive and plan.loose is not None and len(found) < wanted:
            loose, total, total_is = _run(searcher, plan.loose, wanted + len(found))
            seen = {_key(address) for _, address, _ in found}
            found += [(float(s), a, False) for s, a in loose if _key(a) not in seen]
            used = plan.loose.query
        page = _capped(found)[offset:wanted]
        highlight = self._highlighter(searcher, used) if snippets and page else None
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
        plan = self._compiler.plan(query)
        searcher = self._searcher()
        highlight = self._highlighter(searcher, (plan.loose or plan.strict).query)
        found: dict[str, Highlight] = {}
        for paper_id in paper_ids:
            by_id = tantivy.Query.term_query(self._schema, "id", paper_id)
            hits = searcher.search(by_id, limit=1).hits
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

    def matching_ids_many(
        self, queries: Sequence[ParsedQuery | tantivy.Query], limit: int
    ) -> list[list[str]]:
        """:meth:`matching_ids` for many queries on one searcher: a paper many queries match has
        its stored id read once, not once per query (the bulk of topic matching's time).
        Queries may come compiled already (:meth:`compile_topic`)."""
        searcher = self._searcher()
        ids: dict[tuple[int, int], str] = {}
        found = []
        for query in queries:
            engine = self.compile_topic(query) if isinstance(query, ParsedQuery) else query
            hits = searcher.search(engine, limit=limit, count=False).hits
            matched = []
            for _, address in hits:
                key = (address.segment_ord, address.doc)
                if key not in ids:
                    ids[key] = str(searcher.doc(address).get_first("id"))
                matched.append(ids[key])
            found.append(matched)
        return found

    def compile_topic(self, query: ParsedQuery) -> tantivy.Query:
        """The engine query :meth:`matching_ids` runs; it depends on no document, so it can be
        made while the index is still being written."""
        return self._compiler.compile(query)

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

    def _highlighter(
        self, searcher: tantivy.Searcher, engine_query: tantivy.Query
    ) -> Callable[[tantivy.Document], Highlight | None]:
        generator = tantivy.SnippetGenerator.create(searcher, engine_query, self._schema, "text")
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
        self.pairs = builder(tokenizer.whitespace()).build()

    def register(self, index: tantivy.Index) -> None:
        index.register_tokenizer(TEXT_ANALYZER, self.text)
        index.register_tokenizer(NAME_ANALYZER, self.names)
        index.register_tokenizer(CODE_ANALYZER, self.codes)
        index.register_tokenizer(PAIR_ANALYZER, self.pairs)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("title", tokenizer_name=TEXT_ANALYZER)
    builder.add_text_field("text", tokenizer_name=TEXT_ANALYZER)  # title, abstract, authors
    # Stored for snippets only (the store has the full record); never searched.
    builder.add_bytes_field("abstract", stored=True, indexed=False)
    builder.add_text_field("authors", tokenizer_name=NAME_ANALYZER)
    builder.add_text_field("categories", tokenizer_name=CODE_ANALYZER, index_option="basic")
    # Adjacent stop words as one term ("of_the"): a phrase of stop words alone would otherwise
    # check positions in nearly every paper (hundreds of ms at 1M papers).
    builder.add_text_field("pairs", tokenizer_name=PAIR_ANALYZER, index_option="freq")
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
        start_afresh(path)
    try:
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
    except (ValueError, OSError) as error:
        log.warning("search index at %s cannot be opened (%s); starting it afresh", path, error)
        start_afresh(path)
        index = tantivy.Index(_schema(), path=str(path), reuse=True)
    if not (path / STATE_FILE).exists():
        _write_state(path, 0)
    return index


def _document(paper: Paper) -> tantivy.Document:
    title = normalize(paper.title).text
    # Separate values: Tantivy leaves a position gap between them, so no phrase spans two.
    text = [*[title] * TITLE_COPIES, normalize(paper.abstract).text, *paper.authors]
    return tantivy.Document(
        id=paper.id,
        title=title,
        text=text,
        pairs=" ".join([*_stop_word_pairs(paper.title), *_stop_word_pairs(paper.abstract)]),
        abstract=paper.abstract.encode(),
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


# -- query compilation ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Scored:
    """Tokens scored together in one field: a term, a phrase (BM25 sums its words' idf) or
    terms all required. What a match of them can score at most follows from their frequency."""

    field: str
    tokens: tuple[str, ...]
    boost: float = 1.0

    def ceiling(self, searcher: tantivy.Searcher, docs: int) -> float:
        # Tantivy's BM25: boost * idf * (K1 + 1) * tf / (tf + norm), below boost * idf * (K1 + 1).
        idf = sum(_idf(searcher.doc_freq(self.field, token), docs) for token in self.tokens)
        return self.boost * idf * (1 + BM25_K1)


@dataclass(frozen=True, slots=True)
class _Tier:
    """The matches of a pass that have its title words (or its rare words), scored exactly as
    the pass scores them, and the most any other match can score. When the tier's k-th best
    beats that, the tier's top k is the pass's top k, found without scoring every match: the
    per-query form of block-max WAND, which tantivy-py's collectors never use."""

    query: tantivy.Query
    outside: tuple[_Scored, ...]
    probe: tantivy.Query  # a term query every tier hit matches (its explanation tells BM25's N)

    def top(self, searcher: tantivy.Searcher, limit: int) -> list[tuple[float, tantivy.DocAddress]]:
        """The pass's top ``limit``, or [] when the tier cannot vouch for it."""
        hits = [
            (float(s), a) for s, a in searcher.search(self.query, limit=limit, count=False).hits
        ]
        if len(hits) < limit:
            return []
        try:
            docs = _bm25_docs(self.probe.explain(searcher, hits[0][1]).to_json())
        except ValueError:  # the probe does not match: nothing to vouch with
            docs = None
        if docs is None:
            return []
        ceiling = sum(part.ceiling(searcher, docs) for part in self.outside)
        return hits if hits[-1][0] > ceiling * TIER_MARGIN else []


@dataclass(frozen=True, slots=True)
class _Size:
    """How many papers a pass can match, from word frequencies: every group is required, and
    matches with any of its alternatives (each needing all of its tokens)."""

    groups: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...]
    filtered: bool  # exclusions or a date: only counting says how many are left

    @property
    def phrases(self) -> bool:
        return any(len(tokens) > 1 for group in self.groups for _, tokens in group)

    def most(self, searcher: tantivy.Searcher) -> int:
        bounds = [
            sum(min(searcher.doc_freq(field, t) for t in tokens) for field, tokens in group)
            for group in self.groups
        ]
        return min(bounds, default=searcher.num_docs)

    def about(self, searcher: tantivy.Searcher) -> int:
        """Papers matching if words occurred independently, to two significant digits."""
        docs = max(searcher.num_docs, 1)
        share = 1.0
        for group in self.groups:
            missed = 1.0
            for field, tokens in group:
                missed *= 1 - math.prod(searcher.doc_freq(field, t) / docs for t in tokens)
            share *= 1 - missed
        estimate = docs * share
        if estimate < 1:
            return 0
        digits = math.floor(math.log10(estimate)) - 1
        unit: int = 10 ** max(digits, 0)
        return round(estimate / unit) * unit


@dataclass(frozen=True, slots=True)
class _Pass:
    query: tantivy.Query
    size: _Size
    # The pass's cheaper tier, when it has one (the rare-word tier needs word frequencies).
    tier: Callable[[tantivy.Searcher], _Tier | None] | None = None


@dataclass(frozen=True, slots=True)
class _Plan:
    strict: _Pass  # every word must match (stop words aside)
    loose: _Pass | None  # any word may match; None when there is nothing to forgive
    terms: tuple[str, ...]  # the words that had to match


def _run(
    searcher: tantivy.Searcher, step: _Pass, limit: int
) -> tuple[list[tuple[float, tantivy.DocAddress]], int, TotalKind]:
    """A pass's best ``limit`` hits, how many papers match, and how that number was found.

    tantivy-py collects with scoring every match (its collectors skip nothing), so a pass is
    as slow as its matches are many: a few hundred thousand at 1M papers for common words. Few
    matches are counted exactly; many are estimated, and their top k comes from the tier."""
    size = step.size
    if size.filtered or size.most(searcher) <= EXACT_COUNT_UP_TO:
        result = searcher.search(step.query, limit=limit, count=True)
        return [(float(s), a) for s, a in result.hits], _count(result), "exact"
    # Word frequencies say little about a phrase's matches: one more hit says there are more.
    wanted = limit + 1 if size.phrases else limit
    tier = step.tier(searcher) if step.tier else None
    hits = tier.top(searcher, wanted) if tier else []
    if not hits:
        hits = _top(searcher, step.query, wanted)
    if len(hits) < wanted:
        return hits, len(hits), "exact"
    if size.phrases:
        return hits[:limit], wanted, "at least"
    return hits, max(size.about(searcher), len(hits)), "about"


def _top(
    searcher: tantivy.Searcher, query: tantivy.Query, limit: int
) -> list[tuple[float, tantivy.DocAddress]]:
    return [(float(s), a) for s, a in searcher.search(query, limit=limit, count=False).hits]


def _idf(doc_freq: int, docs: int) -> float:
    return math.log(1 + (docs - doc_freq + 0.5) / (doc_freq + 0.5))


def _bm25_docs(explanation: str) -> int | None:
    """The document count BM25 used (deleted papers included), from a score's explanation."""
    found = re.search(r'"value":\s*([0-9.eE+]+),\s*"description":\s*"N, total number of docs"',
                      explanation)  # fmt: skip
    return int(float(found.group(1))) if found else None


class _Compiler:
    """Turns a ParsedQuery into Tantivy queries, analyzing words like the index does."""

    def __init__(self, schema: tantivy.Schema, analyzers: _Analyzers) -> None:
        self._schema = schema
        self._analyzers = analyzers

    def compile(self, query: ParsedQuery) -> tantivy.Query:
        """Every group must match, stop words included: what a topic subscription means."""
        return self._strict(query, query.groups).query

    def plan(self, query: ParsedQuery) -> _Plan:
        """What free-text search runs: all the words first, then any of them."""
        hard = [group for group in query.groups if not _plain_words(group)]
        soft = [group for group in query.groups if _plain_words(group)]
        content = [group for group in soft if not _stop_words(group)] or soft
        terms = tuple(" OR ".join(map(str, group)) for group in content)
        strict = self._strict(query, [*hard, *content])
        forgivable = content and (len(content) > 1 or hard)
        loose = self._loose(query, hard, content) if forgivable else None
        return _Plan(strict, loose, terms)

    def _strict(self, query: ParsedQuery, groups: Sequence[tuple[Clause, ...]]) -> _Pass:
        filtered = bool(query.exclude) or query.since is not None
        size = _Size(tuple(self._alternatives(group) for group in groups), filtered)
        if len(groups) == 1 and _plain_words(groups[0]) and not filtered:
            # One group of plain words: a flat union of term queries.
            tokens = self._flat_tokens(groups, require_single_tokens=True)
            if tokens is not None:
                return _Pass(
                    self._union(tokens, TITLE_BOOST), size, _fixed(self._title_tier(tokens))
                )
        parts = []
        phrases = []
        guard = self._guard(groups)
        for group in groups:
            matcher = self._group(group, [q for owner, q in guard if owner is not group])
            if matcher is None:  # a required word no document can contain
                return _Pass(tantivy.Query.empty_query(), size)
            parts.append((tantivy.Occur.Must, matcher))
            for tokens in self._title_phrases(group):
                boost = tantivy.Query.boost_query(self._tokens_query("title", tokens), TITLE_BOOST)
                parts.append((tantivy.Occur.Should, boost))
                phrases.append(tokens)
        tier = None
        if len(phrases) == 1 and query.since is None:
            # Papers with the phrase in their title: the title's copies in the text field and
            # the title boost put them far above any other match, once there are enough of them.
            required = [(tantivy.Occur.Must, q) for _, q in parts]
            outside = tuple(_Scored(f, t) for group in groups for f, t in self._alternatives(group))
            probe = self._term("text", phrases[0][0])
            tier = _Tier(self._filtered(required, query), outside, probe)
        elif not phrases and query.since is None:
            return _Pass(
                self._filtered(parts, query), size, self._joined_tier(query, groups, parts)
            )
        return _Pass(self._filtered(parts, query), size, _fixed(tier))

    def _joined_tier(
        self,
        query: ParsedQuery,
        groups: Sequence[tuple[Clause, ...]],
        parts: list[tuple[tantivy.Occur, tantivy.Query]],
    ) -> Callable[[tantivy.Searcher], _Tier | None] | None:
        """A hyphenated word ("inference-specific") matches as a phrase or joined, and the index
        holds the joined form of every hyphenated compound, so the papers with the joined form
        are nearly all of its matches and the best of them: the phrase's positions are then
        checked in those, not in every paper with "inference" and "specific"."""
        compounds = []
        for n, group in enumerate(groups):
            if len(group) == 1 and isinstance(group[0], Word):
                split, forms = self._word_tokens(group[0].text)
                if len(split) > 1 and len(forms) == 1:
                    compounds.append((n, split, forms[0]))
        if len(compounds) != 1:
            return None
        n, split, joined = compounds[0]
        required = [part for m, part in enumerate(parts) if m != n]
        required.append((tantivy.Occur.Must, self._term("text", joined)))
        zero = tantivy.Query.boost_query(self._term("text", joined), 0.0)
        phrase = _guarded(self._tokens_query("text", split), [zero])
        assert phrase is not None
        tier_query = _optional(self._filtered(required, query), [phrase])
        others = [a for m, g in enumerate(groups) if m != n for a in self._alternatives(g)]
        scored = [*others, ("text", tuple(split))]
        tier = _Tier(
            tier_query, tuple(_Scored(f, t) for f, t in scored), self._term("text", joined)
        )

        def worth_it(searcher: tantivy.Searcher) -> _Tier | None:
            # Every paper with "pretraining" also has "pre" and "training": the phrase is
            # checked in all of them, so the tier only pays when they are a small share.
            candidates = min(searcher.doc_freq("text", token) for token in split)
            return tier if searcher.doc_freq("text", joined) <= candidates / 3 else None

        return worth_it

    def _title_tier(self, tokens: list[str]) -> _Tier | None:
        """One word (or words in OR) that many titles have: papers with it in the title score
        through the title field too, so when enough of them match, they are the top."""
        if TITLE_BOOST <= 0:
            return None
        titles = self._union(tokens, 0.0, field="title", boost=TITLE_BOOST)
        query = _optional(titles, [self._term("text", token) for token in tokens])
        return _Tier(query, tuple(_Scored("text", (t,)) for t in tokens), query)

    def _loose(
        self,
        query: ParsedQuery,
        hard: Sequence[tuple[Clause, ...]],
        soft: Sequence[tuple[Clause, ...]],
    ) -> _Pass:
        """Any plain word may match, scored by BM25 (so more words, or rarer ones, rank higher);
        phrases, authors, categories, exclusions and dates still must. Next to those, the plain
        words only rank: the explicit clauses say what the person wants."""
        filtered = bool(query.exclude) or query.since is not None
        any_alternatives = tuple(a for group in soft for a in self._alternatives(group))
        size = _Size(tuple(self._alternatives(g) for g in hard) or (any_alternatives,), filtered)
        tokens = self._flat_tokens(soft, require_single_tokens=False)
        if tokens is None:
            return _Pass(tantivy.Query.empty_query(), size)
        any_word = self._union(tokens, CLOSEST_TITLE_BOOST)
        if not hard and not filtered:
            return _Pass(any_word, size, lambda searcher: self._rare_tier(tokens, searcher))
        parts = [(tantivy.Occur.Should if hard else tantivy.Occur.Must, any_word)]
        for group in hard:
            matcher = self._group(group)
            if matcher is None:
                return _Pass(tantivy.Query.empty_query(), size)
            parts.append((tantivy.Occur.Must, matcher))
        return _Pass(self._filtered(parts, query), size)

    def _rare_tier(self, tokens: list[str], searcher: tantivy.Searcher) -> _Tier | None:
        """Closest matches with at least one of the rarer words: the most frequent words
        ("use", "the") together score less than a fraction of what one rarer word does, so
        the best closest matches are nearly always papers with a rarer word."""
        docs = max(searcher.num_docs, 1)
        frequency = {token: searcher.doc_freq("text", token) for token in tokens}
        ordered = sorted((t for t in tokens if frequency[t]), key=lambda t: -frequency[t])
        ceilings = [_idf(frequency[t], docs) for t in ordered]
        split = next(
            (n for n in range(len(ordered) - 1, 0, -1)
             if sum(ceilings[:n]) <= COMMON_SHARE_OF_RARE * ceilings[n]),
            0,
        )  # fmt: skip
        common, rare = ordered[:split], ordered[split:]
        # Each paper of the tier also seeks every common word: only worth it when they are few.
        scored = sum(frequency[t] for t in rare) * (1 + len(common))
        if not split or scored > sum(frequency.values()) / 2:
            return None
        boost = CLOSEST_TITLE_BOOST
        optional = [q for t in common for q in self._token_queries(t, boost)]
        outside = [_Scored("text", (t,)) for t in common]
        if boost > 0:
            outside += [_Scored("title", (t,), boost) for t in common]
        query = _optional(self._union(rare, boost), optional)
        return _Tier(query, tuple(outside), query)

    def _filtered(
        self, parts: list[tuple[tantivy.Occur, tantivy.Query]], query: ParsedQuery
    ) -> tantivy.Query:
        occur, build = tantivy.Occur, tantivy.Query
        for clause in query.exclude:
            matcher = self._clause(clause)
            if matcher is not None:
                parts.append((occur.MustNot, matcher))
        if query.since is not None:
            start = datetime(query.since.year, query.since.month, query.since.day, tzinfo=UTC)
            since = build.range_query(self._schema, "published", tantivy.FieldType.Date, start)
            parts.append((occur.Must, since))
        return build.boolean_query(parts)

    def _flat_tokens(
        self, groups: Sequence[tuple[Clause, ...]], *, require_single_tokens: bool
    ) -> list[str] | None:
        """Every analyzed word of ``groups`` (plain words), or None when there is none (or, with
        ``require_single_tokens``, when a word is a compound or splits in several tokens)."""
        tokens: dict[str, None] = {}
        for group in groups:
            for clause in group:
                assert isinstance(clause, Word)
                split, joined = self._word_tokens(clause.text)
                if require_single_tokens and (len(split) > 1 or joined):
                    return None
                tokens.update(dict.fromkeys([*split, *joined]))
        return list(tokens) or None

    def _union(
        self, tokens: list[str], title_boost: float, *, field: str = "text", boost: float = 1.0
    ) -> tantivy.Query:
        """Each token as a term query in ``field`` (and the title field), all optional."""
        parts = []
        for token in tokens:
            for matcher in self._token_queries(token, title_boost, field=field, boost=boost):
                parts.append((tantivy.Occur.Should, matcher))
        return tantivy.Query.boolean_query(parts)

    def _token_queries(
        self, token: str, title_boost: float, *, field: str = "text", boost: float = 1.0
    ) -> list[tantivy.Query]:
        term = self._term(field, token)
        queries = [term if boost == 1.0 else tantivy.Query.boost_query(term, boost)]
        if title_boost > 0:
            # Still a union of term queries (boosts pass down to them).
            queries.append(tantivy.Query.boost_query(self._term("title", token), title_boost))
        return queries

    def _guard(
        self, groups: Sequence[tuple[Clause, ...]]
    ) -> list[tuple[tuple[Clause, ...], tantivy.Query]]:
        """Required one-word groups as filters that score nothing, each with its group.

        A phrase that is one of several alternatives ("pre-training" as a phrase or as
        "pretraining") sits in a union, and Tantivy advances a union's phrase through every
        paper with its words, checking positions, however few papers the other required words
        leave: at 1M papers, "literary state-of-the-art" took as long as "state of the art"
        alone. Required next to the phrase, a rare word leads, and positions are checked only
        in its papers; scores are unchanged (the filter counts zero, the group needs it anyway).
        """
        guard: list[tuple[tuple[Clause, ...], tantivy.Query]] = []
        for group in groups:
            if len(group) == 1 and isinstance(group[0], Word):
                split, joined = self._word_tokens(group[0].text)
                if len(split) == 1 and not joined:
                    zero = tantivy.Query.boost_query(self._term("text", split[0]), 0.0)
                    guard.append((group, zero))
        return guard

    def _group(
        self, group: tuple[Clause, ...], guard: Sequence[tantivy.Query] = ()
    ) -> tantivy.Query | None:
        union = len(group) > 1
        matchers = [m for m in (self._clause(c, guard, union=union) for c in group) if m]
        if len(matchers) <= 1:
            return matchers[0] if matchers else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, m) for m in matchers])

    def _clause(
        self, clause: Clause, guard: Sequence[tantivy.Query] = (), *, union: bool = False
    ) -> tantivy.Query | None:
        """``guard``: filters (scoring zero) for a phrase that is one of several alternatives
        (``union``: the clause is one of its group's)."""
        if isinstance(clause, Word):
            return self._word("text", clause.text, guard)
        if isinstance(clause, Phrase):
            if pairs := _stop_word_phrase(clause):
                return self._all_terms("pairs", pairs)
            phrase = self._tokens("text", self._phrase_tokens(clause))
            return _guarded(phrase, guard) if union else phrase
        if isinstance(clause, Author):
            return self._tokens("authors", self._analyzers.names.analyze(clause.name))
        assert isinstance(clause, Category)
        return self._tokens("categories", self._analyzers.codes.analyze(clause.code))

    def _alternatives(self, group: tuple[Clause, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """What each clause of ``group`` needs, as (field, tokens) like :meth:`_clause` asks:
        a paper matches the group with all tokens of any one of them."""
        found: list[tuple[str, tuple[str, ...]]] = []
        for clause in group:
            if isinstance(clause, Word):
                split, joined = self._word_tokens(clause.text)
                found += [("text", tuple(split))] if split else []
                found += [("text", (token,)) for token in joined]
            elif isinstance(clause, Phrase):
                pairs = _stop_word_phrase(clause)
                field, tokens = ("pairs", pairs) if pairs else ("text", self._phrase_tokens(clause))
                found += [(field, tuple(tokens))] if tokens else []
            elif isinstance(clause, Author):
                found.append(("authors", tuple(self._analyzers.names.analyze(clause.name))))
            else:
                found.append(("categories", tuple(self._analyzers.codes.analyze(clause.code))))
        return tuple((field, tokens) for field, tokens in found if tokens)

    def _title_phrases(self, group: tuple[Clause, ...]) -> list[list[str]]:
        """The group's phrases that lift papers with them in the title (plain words count
        through the title's copies in the text field)."""
        phrases = []
        for clause in group:
            if not isinstance(clause, Phrase) or _stop_word_phrase(clause):
                continue
            tokens = self._phrase_tokens(clause)
            if tokens:
                phrases.append(tokens)
        return phrases

    def _word(
        self, field: str, text: str, guard: Sequence[tantivy.Query] = ()
    ) -> tantivy.Query | None:
        """A word in ``field``; ``pre-training`` matches as a phrase or as ``pretraining``."""
        split, joined = self._word_tokens(text)
        phrase = self._tokens(field, split)
        if joined and len(split) > 1:
            phrase = _guarded(phrase, guard)
        matchers = [m for m in [phrase] if m is not None]
        matchers += [self._term(field, token) for token in joined]
        if len(matchers) <= 1:
            return matchers[0] if matchers else None
        return tantivy.Query.boolean_query([(tantivy.Occur.Should, m) for m in matchers])

    def _word_tokens(self, text: str) -> tuple[list[str], list[str]]:
        """A word's tokens as written, and the joined form of any hyphenated compound in it."""
        analyze = self._analyzers.text.analyze
        split = analyze(normalize_query(text))
        joined = [t for c in joined_compounds(text) for t in analyze(c) if t not in split]
        return split, joined

    def _phrase_tokens(self, phrase: Phrase) -> list[str]:
        return self._analyzers.text.analyze(normalize_query(" ".join(phrase.words)))

    def _all_terms(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(field, tokens[0])
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, self._term(field, t)) for t in tokens]
        )

    def _term(self, field: str, token: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, token)

    def _tokens(self, field: str, tokens: list[str]) -> tantivy.Query | None:
        if not tokens:
            return None
        return self._tokens_query(field, tokens)

    def _tokens_query(self, field: str, tokens: list[str]) -> tantivy.Query:
        if len(tokens) == 1:
            return self._term(field, tokens[0])
        words: list[str | tuple[int, str]] = [*tokens]
        return tantivy.Query.phrase_query(self._schema, field, words)


def _optional(required: tantivy.Query, optional: Sequence[tantivy.Query]) -> tantivy.Query:
    """``required``, scored with each of ``optional`` it also matches. One optional clause at a
    time: Tantivy seeks a lone term through its skip list, but refills a union of several
    4,096 papers at a time on every seek, which scores nearly all of a common word's papers."""
    for matcher in optional:
        parts = [(tantivy.Occur.Must, required), (tantivy.Occur.Should, matcher)]
        required = tantivy.Query.boolean_query(parts)
    return required


def _guarded(matcher: tantivy.Query | None, guard: Sequence[tantivy.Query]) -> tantivy.Query | None:
    if matcher is None or not guard:
        return matcher
    parts = [(tantivy.Occur.Must, matcher), *((tantivy.Occur.Must, g) for g in guard)]
    return tantivy.Query.boolean_query(parts)


def _fixed(tier: _Tier | None) -> Callable[[tantivy.Searcher], _Tier | None] | None:
    return None if tier is None else lambda _: tier


def _stop_word_pairs(text: str) -> list[str]:
    """ "of_the", "in_the" … for each two stop words in a row (a word with punctuation after it
    ends a sentence or clause, so it pairs with nothing)."""
    words = text.lower().split()
    stop = STOP_WORDS
    pairs = itertools.pairwise(words)
    return [f"{a}_{b}" for a, b in pairs if a in stop and b.rstrip(".,;:") in stop]


def _stop_word_phrase(phrase: Phrase) -> list[str]:
    """The pair terms of a phrase made only of stop words ("of the" → ["of_the"]), else []."""
    words = [word.lower() for word in phrase.words]
    if len(words) < 2 or not all(word in STOP_WORDS for word in words):
        return []
    return [f"{a}_{b}" for a, b in itertools.pairwise(words)]


def _plain_words(group: tuple[Clause, ...]) -> bool:
    return all(isinstance(clause, Word) for clause in group)


def _stop_words(group: tuple[Clause, ...]) -> bool:
    return all(isinstance(c, Word) and c.text.lower() in STOP_WORDS for c in group)


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


def _count(result: tantivy.SearchResult) -> int:
    # The type stubs lack SearchResult.count, which search(count=True) fills in.
    count: int = result.count  # type: ignore[attr-defined]
    return count


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
