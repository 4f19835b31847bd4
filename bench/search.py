"""Search benchmark: ingest a synthetic corpus the way ``paperboy ingest`` does, then time mixed
queries through the command path (``/papers search``: parse, search in a worker thread, papers and
votes from the store), our index path (parse + SearchIndex.search with snippets) and bare Tantivy
(the same engine queries: all words, then any word when fewer than 10 papers have them all).

    .venv/bin/python -m bench.search --sizes 20000          # quick
    .venv/bin/python -m bench.search                        # 100k and 1M (several minutes)
    .venv/bin/python -m bench.search --embeddings wordllama --keep --reuse   # words and meaning

With ``--embeddings`` the command path is hybrid (BM25 + vectors, the product default). Vectors
are computed by the real model and kept beside the index, so ``--reuse`` skips them too. Above
``--embed-up-to`` papers (embedding a million synthetic abstracts takes most of an hour on two
cores) the rest reuse the vectors of the first ones with a little noise: the search code and the
matrix sizes are the real ones, only which paper has which vector is made up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import random
import shutil
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import tantivy

from bench.corpus import DEFAULT_SEED_PAGE, Corpus, Vocabulary
from bot.commands import Paperboy
from bot.ingest import ingest_papers
from bot.models import ChannelRef
from bot.query import QueryError, parse_query
from bot.search import SearchIndex
from bot.search_schema import register_analyzers
from bot.storage import Store
from bot.vectors import VectorIndex, vectors_path

DEFAULT_OUT = Path(__file__).resolve().parent / "out"
T = TypeVar("T")
P = ParamSpec("P")


@dataclass
class Timer:
    seconds: float = 0.0

    def wrap(
        self, call: Callable[P, Coroutine[Any, Any, T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            start = time.perf_counter()
            try:
                return await call(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


@dataclass
class Result:
    size: int
    ingest_s: float = 0.0
    ingest_cpu_s: float = 0.0
    upsert_s: float = 0.0
    index_s: float = 0.0
    db_bytes: int = 0
    index_bytes: int = 0
    segments: int = 0
    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # (command path seconds, kind, text) of every query: the slowest are what to work on next.
    by_query: list[tuple[float, str, str]] = field(default_factory=list)


async def run(size: int, args: argparse.Namespace, vocabulary: Vocabulary) -> Result:
    workdir = args.out / str(size)
    corpus = Corpus(vocabulary)
    reuse = args.reuse and (workdir / "papers.index").is_dir()
    if not reuse:
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
    store = await Store.open(workdir / "papers.db")
    try:
        index = SearchIndex.open(workdir / "papers.index")
        if reuse:
            result = Result(size)
        else:
            result = await ingest(corpus, store, index, size, args.batch)
        result.db_bytes = _size(workdir, "papers.db*")
        result.segments = _bare(index.path).searcher().num_segments
        result.index_bytes = _size(workdir / "papers.index", "*")
        vectors = await open_vectors(store, index, args)
        queries = make_queries(corpus, args.queries)
        bot = Paperboy(store, index, vectors=vectors)
        await time_queries(bot, workdir / "papers.index", queries, result)
    finally:
        await store.close()
    if not (args.keep or args.reuse):
        shutil.rmtree(workdir, ignore_errors=True)
    return result


async def ingest(corpus: Corpus, store: Store, index: SearchIndex, size: int, batch: int) -> Result:
    """Through the same function as ``paperboy ingest``; generation time is not counted."""
    upsert, catch_up = Timer(), Timer()
    store.upsert_papers = upsert.wrap(store.upsert_papers)  # type: ignore[method-assign]
    index.catch_up = catch_up.wrap(index.catch_up)  # type: ignore[method-assign]
    result = Result(size)
    done = 0
    for papers in corpus.batches(size, batch):
        start, cpu = time.perf_counter(), time.process_time()
        await ingest_papers(store, index, papers)
        result.ingest_s += time.perf_counter() - start
        result.ingest_cpu_s += time.process_time() - cpu
        done += len(papers)
        print(f"\r  ingested {done:,}/{size:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    result.upsert_s, result.index_s = upsert.seconds, catch_up.seconds
    return result


async def open_vectors(
    store: Store, index: SearchIndex, args: argparse.Namespace
) -> VectorIndex | None:
    """The index's vectors, computed (or completed) by the real model: the first
    ``args.embed_up_to`` papers embedded, the rest copied from them (see the module doc)."""
    from bot.embeddings import load_embedder

    if args.embeddings == "off":
        return None
    embedder = load_embedder(args.embeddings)
    if embedder is None:
        raise SystemExit(f"embedding model {args.embeddings!r} could not be loaded")
    assert index.path is not None
    path = vectors_path(index.path)
    vectors = VectorIndex.open(path, embedder)
    total = index.num_docs
    if len(vectors) < total and total > args.embed_up_to:
        await _copied_vectors(store, vectors, path, args.embed_up_to)
        vectors = VectorIndex.open(path, embedder)
    start = time.perf_counter()
    done = await vectors.catch_up(store)
    if done:
        took = time.perf_counter() - start
        print(f"  embedded {done:,} papers ({done / took:,.0f}/s)", file=sys.stderr)
    # The steady state, as bench.slack_ack times it: from 200k papers the compressed copy is
    # built in a thread, and searches while it builds are slower (the first one by seconds).
    await asyncio.to_thread(vectors.prepare_search, wait=True)
    return vectors


async def _copied_vectors(store: Store, vectors: VectorIndex, path: Path, embedded: int) -> None:
    """Embed the first ``embedded`` papers, then write the rest as chunk files of their vectors
    plus noise, with the state the index would have after a full catch-up."""
    import json

    import numpy as np

    from bot.search import _whole_changes

    limit = 1000
    while len(vectors) < embedded:
        rows = await store.papers_changed_after(vectors.applied_seq(), limit=limit)
        page = _whole_changes(rows, limit)  # one change may hold many papers: never split one
        if not rows:
            break
        if not page:
            limit *= 2
            continue
        await asyncio.to_thread(vectors._add_page, page)
        limit = 1000
        print(f"\r  embedded {len(vectors):,}/{embedded:,}", end="", file=sys.stderr, flush=True)
    base = vectors._matrix
    rest = await store._fetchall(
        "SELECT id, change_seq FROM papers WHERE change_seq > ? ORDER BY change_seq",
        (vectors.applied_seq(),),
    )
    rng = np.random.default_rng(5)
    last = max((int(row["change_seq"]) for row in rest), default=vectors.applied_seq())
    for start in range(0, len(rest), 100_000):
        chunk = [str(row["id"]) for row in rest[start : start + 100_000]]
        picked = base[rng.integers(0, len(base), len(chunk))]
        noisy = picked + rng.normal(0, 0.02, picked.shape).astype(np.float32)
        noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
        # Named after the last change, so a load takes them; sorted after the embedded chunks.
        stem = f"chunk-{last:012d}-{start // 100_000:012d}"
        np.save(path / f"{stem}.npy", noisy.astype(np.float16))
        (path / f"{stem}.ids").write_text(json.dumps(chunk), "utf-8")
    state = json.loads((path / "state.json").read_text("utf-8"))
    state["last_seq"] = last
    (path / "state.json").write_text(json.dumps(state), "utf-8")


def make_queries(corpus: Corpus, count: int) -> list[tuple[str, str]]:
    """(kind, text) pairs: common, mid-frequency and rare words, phrases, filters, operators."""
    rng = random.Random(3)
    words = corpus.vocabulary.words
    real = corpus.vocabulary.num_real

    def common() -> str:
        return words[rng.randrange(200)]

    def mid() -> str:
        return words[rng.randrange(200, min(5000, real))]

    def rare() -> str:
        return words[rng.randrange(real, len(words))]

    def any_word() -> str:
        return rng.choice((common, mid, mid, rare))()

    def author() -> str:
        name = rng.choice(corpus.authors[:5000])
        return f'author:"{name}"' if rng.random() < 0.4 else f"author:{name.split()[-1]}"

    def category() -> str:
        return rng.choice(("cs.CL", "cs.CV", "stat.ML", "cs.IR", "eess.AS"))

    def function_word() -> str:
        return words[rng.randrange(15)].lower()

    def very_common() -> str:
        # What people type first: "the model", "language models training", "we propose".
        picks = [words[rng.randrange(40)] for _ in range(rng.randint(2, 3))]
        return " ".join(picks)

    def question() -> str:
        opener = rng.choice(("how do", "what is", "which papers use", "why does", "can"))
        return f"{opener} {common()} {mid()} {rng.choice(('for', 'in', 'with'))} {mid()}"

    makers: list[tuple[str, int, Callable[[], str]]] = [
        ("1 common word", 10, common),
        ("1 mid word", 10, mid),
        ("1 rare word", 5, rare),
        ("2 words", 20, lambda: f"{any_word()} {any_word()}"),
        ('"phrase"', 15, lambda: f'"{corpus.phrase(rng.randint(2, 3))}"'),
        ("author:", 10, author),
        ("cat: + word", 10, lambda: f"cat:{category()} {any_word()}"),
        ("a OR b c", 10, lambda: f"{any_word()} OR {any_word()} {any_word()}"),
        ("a b -c", 5, lambda: f"{any_word()} {any_word()} -{common()}"),
        ("word since:", 5, lambda: f"{any_word()} since:{rng.randint(2016, 2025)}"),
        ("very common words", 10, very_common),
        ('"function words"', 5, lambda: f'"{function_word()} {function_word()}"'),
        ("question", 10, question),
        ("a word nobody used", 5, lambda: f"{mid()} {common()} zzqxv{rng.randrange(999)}"),
    ]
    total = sum(share for _, share, _ in makers)
    queries = []
    for kind, share, make in makers:
        queries += [(kind, make()) for _ in range(count * share // total)]
    rng.shuffle(queries)
    return queries


async def time_queries(
    bot: Paperboy, path: Path, queries: list[tuple[str, str]], result: Result
) -> None:
    """Each query through the four paths, in all orders in turn: whichever runs first pays for
    cold caches, so every path goes first equally often."""
    index = bot.index
    bare = _bare(path)
    schema = bare.schema
    for _, text in queries:  # warm the page cache for the postings and documents queried
        _ours(index, text)
    for n, (kind, text) in enumerate(queries):
        engine_queries = index.engine_queries(parse_query(text))
        paths: list[tuple[str, Callable[[], Any]]] = [
            ("command path", partial(_command, bot, text)),
            ("ours", partial(_ours, index, text)),
            ("bare + docs + snippets", partial(_bare_search, bare, schema, engine_queries, True)),
            ("bare search only", partial(_bare_search, bare, schema, engine_queries, False)),
        ]
        for name, call in (paths[i] for i in _ORDERS[n % len(_ORDERS)]):
            start = time.perf_counter()
            returned = call()
            if asyncio.iscoroutine(returned):
                await returned
            result.timings[name].append(time.perf_counter() - start)
        result.by_kind[kind].append(result.timings["command path"][-1])
        result.by_query.append((result.timings["command path"][-1], kind, text))


_ORDERS = list(itertools.permutations(range(4)))
SLOWEST = 12
_CHANNEL = ChannelRef("console", "bench", "general")


async def _command(bot: Paperboy, text: str) -> None:
    with contextlib.suppress(QueryError):  # answered in chat with what to type instead
        await bot.search(_CHANNEL, text, limit=10)


def _ours(index: SearchIndex, text: str) -> None:
    index.search(parse_query(text), limit=10, snippets=True)


def _bare(path: Path | None) -> tantivy.Index:
    assert path is not None
    bare = tantivy.Index.open(str(path))
    register_analyzers(bare)  # snippets re-tokenize the stored abstract
    return bare


def _bare_search(bare: tantivy.Index, schema: Any, queries: list[Any], snippets: bool) -> None:
    """The same engine work as SearchIndex.search, minus our parsing and mapping."""
    searcher = bare.searcher()
    query = queries[0]
    hits = searcher.search(query, limit=10).hits
    if len(hits) < 10 and len(queries) > 1:
        query = queries[1]
        hits += searcher.search(query, limit=10 + len(hits)).hits
    if not snippets:
        return
    generator = tantivy.SnippetGenerator.create(searcher, query, schema, "text")
    generator.set_max_num_chars(298)
    for _, address in hits:
        doc = searcher.doc(address)
        doc.get_first("id")
        abstract = bytes(doc.get_first("abstract") or b"").decode()
        generator.snippet_from_doc(tantivy.Document(text=abstract)).highlighted()


def report(result: Result) -> None:
    size = result.size
    print(f"\n== {size:,} papers ==")
    if result.ingest_s:
        print(
            f"ingest: {size / result.ingest_s:,.0f} papers/s overall ({result.ingest_s:.1f} s; "
            f"store upserts {result.upsert_s:.1f} s, index catch-up {result.index_s:.1f} s = "
            f"{size / result.index_s:,.0f} papers/s); {result.ingest_cpu_s / size * 1e6:.0f} µs "
            "CPU per paper, all threads"
        )
    else:
        print("ingest: skipped (--reuse)")
    print(
        f"sizes: database {result.db_bytes / 1e6:,.0f} MB, index {result.index_bytes / 1e6:,.0f} MB"
        f" ({result.segments} segments)"
    )
    print(f"{'queries (ms)':<26}{'p50':>8}{'p95':>8}{'p99':>8}{'p50 / bare':>11}")
    bare = statistics.median(result.timings["bare search only"])
    for name, values in result.timings.items():
        p50, p95, p99 = _percentiles(values)
        print(f"{name:<26}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}{p50 / 1000 / bare:>10.2f}x")
    print(f"{'command path, by kind (ms)':<26}{'p50':>8}{'p95':>8}{'p99':>8}{'n':>11}")
    for kind, values in sorted(result.by_kind.items()):
        p50, p95, p99 = _percentiles(values)
        print(f"  {kind:<24}{p50:>8.2f}{p95:>8.2f}{p99:>8.2f}{len(values):>11}")
    print("slowest through the command path (ms):")
    for seconds, kind, text in sorted(result.by_query, reverse=True)[:SLOWEST]:
        print(f"  {seconds * 1000:>8.1f}  {kind:<20} {text}")


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return statistics.median(values) * 1000, cuts[94] * 1000, cuts[98] * 1000


def _size(directory: Path, pattern: str) -> int:
    return sum(p.stat().st_size for p in directory.glob(pattern) if p.is_file())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50_000, help="papers generated at a time")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed-page", type=Path, default=DEFAULT_SEED_PAGE)
    parser.add_argument("--keep", action="store_true", help="keep the database and index")
    parser.add_argument(
        "--reuse", action="store_true", help="time queries on a kept index; skip the ingest"
    )
    parser.add_argument("--embeddings", default="off", help="as PAPERBOY_EMBEDDINGS (wordllama)")
    parser.add_argument(
        "--embed-up-to", type=int, default=100_000, help="papers embedded by the model; the rest "
        "reuse their vectors (embedding 1M takes most of an hour)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    vocabulary = Vocabulary.load(args.seed_page)
    print(f"vocabulary: {len(vocabulary.words):,} terms", file=sys.stderr)
    for size in args.sizes:
        report(asyncio.run(run(size, args, vocabulary)))


if __name__ == "__main__":
    main()
