"""Paper vectors for semantic search, following the store's change sequence like the Tantivy index.

Vectors are derived data: they live in a folder beside the Tantivy index (``<index>.vectors``)
and can always be recomputed from the store. Each catch-up page is embedded in batches off the
event loop and written as one chunk file (``chunk-<first seq>-<last seq>.npy`` + ``.ids``) before
the state file records the sequence, so an interrupted catch-up resumes where it stopped and two
processes never write the same file. When the vectors are where the Tantivy index is, the index
hands them each page it reads (:meth:`VectorIndex.follow_page`): an ingest reads the store once and
embeds while Tantivy writes. Search is exact cosine over a float32 matrix in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import threadpoolctl

from bot.embeddings import Embedder, Vectors, paper_text
from bot.models import Paper
from bot.search import ChangePage, PaperSource, change_pages, read_state_file, start_afresh

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
FORMAT_VERSION = 1
# Papers embedded per chunk file: about a second of work for a static model on two cores. Ingests
# store 5,000 papers a change, and a page holds whole changes only: a smaller page is read again.
PAGE = 10_000
# More chunk files than this are merged into one (see _compact).
MAX_CHUNKS = 64
# A page is embedded this many papers at a time, so a slow model's progress shows: a contextual
# model takes minutes over a page (all-MiniLM-L6-v2: ~14 papers/s on two cores).
EMBED_SLICE = 1024
# A catch-up's rate is told once it has run this long (its first slice also warms the model up).
RATE_AFTER_S = 5.0
RELOAD_INTERVAL = 1.0
# Above this many papers, nearest() first ranks by the vectors' leading PREFIX_DIMS dimensions
# (WordLlama is trained so that a prefix is itself an embedding), then rescores the best
# PREFIX_WIDEN x limit exactly: a quarter of the multiply at 1M papers.
PREFIX_FROM = 200_000
PREFIX_DIMS = 64
PREFIX_WIDEN = 10
PREFIX_CANDIDATES = 1000  # at least this many rescored: 0.99 of the exact top 100 (3,000 papers)
# Once a compressed copy of the vectors is ready, the rough pass scans it instead of the prefix:
# faiss' product quantization with 4-bit fast scan, one byte per CODE_DIMS_PER_BYTE dimensions
# (32 bytes a paper for WordLlama's 256). At 1M papers the scan took 4 ms against 30 ms for the
# 64-dim prefix; on the 3,000 real abstracts, rescoring the best 1% found 0.91 of the exact top
# 10 against 0.77 through the prefix. Rows added after the copy are scored exactly until they
# are more than RECODE_SHARE of it; then it is coded afresh in a thread.
CODED_FROM = PREFIX_FROM
CODE_DIMS_PER_BYTE = 4
CODE_TRAINING_ROWS = 50_000
CODE_INLINE_ROWS = 20_000
RECODE_SHARE = 0.05

Scores = npt.NDArray[np.float32]


class VectorIndex:
    """Vectors of papers by id, on disk (``path``) or in memory (``path=None``)."""

    def __init__(self, path: Path | None, embedder: Embedder) -> None:
        self._path = path
        self._embedder = embedder
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._blocks: list[Vectors] = []
        self._live: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._seq = 0
        self._loaded_state: tuple[int, float] | None = None
        self._checked_at = 0.0
        self._lock = threading.RLock()
        self._prefix: tuple[Vectors, Vectors] | None = None  # (matrix, its unit-length prefix)
        self._coded: _Coded | None = None  # product-quantized rows for the rough pass
        self._coding: threading.Thread | None = None
        self._catching_up = asyncio.Lock()
        # The running catch-up: when it began and papers embedded since (for its rate).
        self._catch_up_began: float | None = None
        self._embedded_since = 0
        if path is not None:
            self._open_directory(path)

    @classmethod
    def open(cls, path: Path | None, embedder: Embedder) -> VectorIndex:
        return cls(path, embedder)

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @property
    def path(self) -> Path | None:
        return self._path

    def __len__(self) -> int:
        self._refresh()
        return len(self._row)

    def applied_seq(self) -> int:
        self._refresh()
        return self._seq

    @property
    def nbytes(self) -> int:
        return int(self._matrix.nbytes)

    @property
    def _matrix(self) -> Vectors:
        blocks = self._blocks
        if len(blocks) != 1:
            joined = np.vstack(blocks) if blocks else np.zeros((0, self._embedder.dim), np.float32)
            with self._lock:
                if self._blocks is blocks:
                    self._blocks = [joined]
            return joined
        return blocks[0]

    # -- writing --------------------------------------------------------------------------

    async def catch_up(self, store: PaperSource) -> int:
        """Embed what changed in the store since the last catch-up. Returns papers embedded."""
        done = 0
        async with self._catching_up:
            self._catch_up_began, self._embedded_since = time.monotonic(), 0
            try:
                pages = change_pages(store, self.applied_seq(), PAGE)
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        await asyncio.to_thread(self._add_page, page)
                        done += len(page)
            finally:
                self._catch_up_began = None
        return done

    @property
    def catching_up(self) -> bool:
        return self._catch_up_began is not None

    def catch_up_rate(self) -> float | None:
        """Papers a second the running catch-up embeds, once it has run long enough to say."""
        began, embedded = self._catch_up_began, self._embedded_since
        if began is None or not embedded or time.monotonic() - began < RATE_AFTER_S:
            return None
        return embedded / (time.monotonic() - began)

    async def follow_page(self, after_seq: int, page: ChangePage) -> None:
        """Embed a page the search index read from the store, while the index writes it, when
        these vectors are at the same point; otherwise :meth:`catch_up` gets to it."""
        if self._catching_up.locked() or self.applied_seq() != after_seq:
            return
        async with self._catching_up:
            if self.applied_seq() == after_seq:
                await asyncio.to_thread(self._add_page, page)

    async def rebuild(self, store: PaperSource) -> int:
        """Drop every vector and embed the whole store again."""
        async with self._catching_up:
            with self._lock:
                self._reset()
                if self._path is not None:
                    start_afresh(self._path)
                    self._write_state()
        return await self.catch_up(store)

    def _add_page(self, page: Sequence[tuple[int, Paper]]) -> None:
        papers = [paper for _, paper in page]
        texts = [paper_text(p.title, p.abstract) for p in papers]
        parts = []
        for start in range(0, len(texts), EMBED_SLICE):  # slices: the rate shows as it goes
            parts.append(self._embedder.embed(texts[start : start + EMBED_SLICE]))
            self._embedded_since += len(parts[-1])
        vectors = np.vstack(parts) if parts else np.zeros((0, self._embedder.dim), np.float32)
        ids = [paper.id for paper in papers]
        first, last = page[0][0], page[-1][0]
        with self._lock:
            if self._path is not None:
                self._write_chunk(f"chunk-{first:012d}-{last:012d}", ids, vectors)
            self._append(ids, vectors)
            self._seq = max(self._seq, last)
            if self._path is not None:
                self._write_state()
                if len(list(self._path.glob("chunk-*.npy"))) > MAX_CHUNKS:
                    self._compact()

    def _compact(self) -> None:
        """Rewrite the live vectors as one chunk: upvote updates re-embed papers, leaving dead
        rows and many small files behind."""
        assert self._path is not None
        old = sorted(self._path.glob("chunk-*"))
        live = np.flatnonzero(self._live)
        ids = [self._ids[row] for row in live]
        matrix = self._matrix[live]
        self._write_chunk(f"chunk-{0:012d}-{self._seq:012d}", ids, matrix)
        for chunk in old:
            if not chunk.name.startswith(f"chunk-{0:012d}-{self._seq:012d}"):
                chunk.unlink(missing_ok=True)
        self._reset_rows()
        self._append(ids, matrix)

    def _append(self, ids: Sequence[str], vectors: Vectors) -> None:
        start = len(self._ids)
        for paper_id in ids:
            old = self._row.get(paper_id)
            if old is not None:
                self._live[old] = False  # an updated paper: its newest vector wins
        # Blocks are joined on the next search, so a long catch-up does not copy N² rows.
        self._blocks.append(vectors.astype(np.float32, copy=False))
        self._live = np.concatenate([self._live, np.ones(len(ids), dtype=bool)])
        self._ids.extend(ids)
        self._row.update({paper_id: start + n for n, paper_id in enumerate(ids)})

    def _reset(self) -> None:
        self._reset_rows()
        self._seq = 0

    def _reset_rows(self) -> None:
        self._ids, self._row = [], {}
        self._blocks = []
        self._live = np.zeros(0, dtype=bool)

    # -- reading --------------------------------------------------------------------------

    def vector_of(self, paper_id: str) -> Vectors | None:
        self._refresh()
        row = self._row.get(paper_id)
        return None if row is None else self._matrix[row]

    def has(self, paper_id: str) -> bool:
        self._refresh()
        return paper_id in self._row

    def nearest_to_text(self, text: str, limit: int) -> list[tuple[str, float]]:
        return self.nearest(self._embedder.embed([text])[0], limit)

    def nearest(
        self, vector: Vectors, limit: int, exclude: frozenset[str] = frozenset()
    ) -> list[tuple[str, float]]:
        """The ``limit`` papers with the highest cosine to ``vector``, best first."""
        _one_blas_thread()
        self._refresh()
        with self._lock:
            matrix, live, ids = self._matrix, self._live, self._ids
        if limit < 1 or not len(ids):
            return []
        vector = vector.astype(np.float32, copy=False)
        wanted = min(limit + len(exclude), len(ids))
        if len(ids) >= PREFIX_FROM and matrix.shape[1] > PREFIX_DIMS:
            return self._nearest_by_prefix(matrix, live, ids, vector, wanted, limit, exclude)
        scores = np.where(live, matrix @ vector, -np.inf)
        top = np.argpartition(-scores, wanted - 1)[:wanted]
        top = top[np.argsort(-scores[top], kind="stable")]
        found = [
            (ids[row], float(scores[row]))
            for row in top
            if np.isfinite(scores[row]) and ids[row] not in exclude
        ]
        return found[:limit]

    def _nearest_by_prefix(
        self,
        matrix: Vectors,
        live: npt.NDArray[np.bool_],
        ids: Sequence[str],
        vector: Vectors,
        wanted: int,
        limit: int,
        exclude: frozenset[str],
    ) -> list[tuple[str, float]]:
        widened = min(max(wanted * PREFIX_WIDEN, PREFIX_CANDIDATES), len(matrix))
        coded = self._coded_for(matrix, ids)
        if coded is not None:
            candidates = coded.candidates(vector, min(widened, coded.rows), len(matrix))
        else:
            prefix = self._prefix_of(matrix)
            head = vector[:PREFIX_DIMS]
            rough = np.where(live, prefix @ (head / (np.linalg.norm(head) or 1.0)), -np.inf)
            candidates = np.argpartition(-rough, widened - 1)[:widened]
        exact = np.where(live[candidates], matrix[candidates] @ vector, -np.inf)
        order = np.argsort(-exact, kind="stable")[:wanted]
        # As Python numbers: indexing numpy arrays one element at a time cost a millisecond.
        rows, scores = candidates[order].tolist(), exact[order].tolist()
        found = [
            (ids[row], score)
            for row, score in zip(rows, scores, strict=True)
            if math.isfinite(score) and ids[row] not in exclude
        ]
        return found[:limit]

    def prepare_search(self, *, wait: bool = False) -> None:
        """Start compressing a large index now (in a thread) rather than on the first search,
        which the exact prefix pass would answer more slowly meanwhile; ``wait`` for it (a
        benchmark timing the steady state)."""
        with self._lock:
            matrix, ids = self._matrix, self._ids
        if len(matrix) >= PREFIX_FROM:
            self._coded_for(matrix, ids)
        coding = self._coding
        if wait and coding is not None:
            coding.join()

    def _coded_for(self, matrix: Vectors, ids: Sequence[str]) -> _Coded | None:
        """The compressed copy of these rows when one is ready, coding them (again) when there is
        none or many rows came after it: inline for a small index, in a thread for a large one
        (a million papers take seconds), the prefix pass answering meanwhile."""
        if len(matrix) < CODED_FROM or matrix.shape[1] % CODE_DIMS_PER_BYTE:
            return None
        coded = self._coded
        usable = coded is not None and coded.ids is ids and coded.rows <= len(matrix)
        if usable and coded is not None and len(matrix) - coded.rows <= RECODE_SHARE * coded.rows:
            return coded
        if len(matrix) <= CODE_INLINE_ROWS:
            self._coded = _Coded.build(matrix, ids)
            return self._coded
        with self._lock:
            if self._coding is None or not self._coding.is_alive():
                self._coding = threading.Thread(
                    target=self._code_in_background, args=(matrix, ids), daemon=True
                )
                self._coding.start()
        return coded if usable else None

    def _code_in_background(self, matrix: Vectors, ids: Sequence[str]) -> None:
        started = time.monotonic()
        try:
            self._coded = _Coded.build(matrix, ids)
        except Exception:  # a failed build leaves the exact prefix pass answering
            log.exception("could not compress %d vectors for search", len(matrix))
            return
        log.info("compressed %d vectors for search in %.1f s", len(matrix),
                 time.monotonic() - started)  # fmt: skip

    def _prefix_of(self, matrix: Vectors) -> Vectors:
        cached = self._prefix
        if cached is not None and cached[0] is matrix:
            return cached[1]
        prefix = np.ascontiguousarray(matrix[:, :PREFIX_DIMS])
        norms = np.linalg.norm(prefix, axis=1, keepdims=True)
        prefix /= np.where(norms > 0, norms, 1.0)
        self._prefix = (matrix, prefix)
        return prefix

    def scores_for(self, vector: Vectors, paper_ids: Sequence[str]) -> dict[str, float]:
        """Cosine of ``vector`` with each of ``paper_ids`` that has a vector."""
        self._refresh()
        rows = [(pid, self._row[pid]) for pid in paper_ids if pid in self._row]
        if not rows:
            return {}
        values = self._matrix[[row for _, row in rows]] @ vector
        return {pid: float(value) for (pid, _), value in zip(rows, values, strict=True)}

    def matrix_for(self, paper_ids: Sequence[str]) -> tuple[list[str], Vectors]:
        """The vectors of those ``paper_ids`` that have one, and their ids in the same order."""
        self._refresh()
        found = [pid for pid in paper_ids if pid in self._row]
        return found, self._matrix[[self._row[pid] for pid in found]]

    # -- files ----------------------------------------------------------------------------

    def _open_directory(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        state = _read_state(path)
        if state and (
            state.get("model") != self._embedder.name or state.get("format") != FORMAT_VERSION
        ):
            log.info("vectors at %s are from another model; computing them afresh", path)
            start_afresh(path)
            state = {}
        if not state:
            self._write_state()
        self._load()

    def _refresh(self) -> None:
        """Pick up chunks another process (a CLI ingest) wrote, at most once a second."""
        if self._path is None or time.monotonic() - self._checked_at < RELOAD_INTERVAL:
            return
        self._checked_at = time.monotonic()
        if self._state_stamp() != self._loaded_state:
            with self._lock:
                self._load()

    def _state_stamp(self) -> tuple[int, float] | None:
        assert self._path is not None
        try:
            stat = (self._path / STATE_FILE).stat()
        except OSError:
            return None
        return stat.st_size, stat.st_mtime

    def _load(self) -> None:
        assert self._path is not None
        for _ in range(3):
            try:
                self._load_chunks(self._path)
                return
            except FileNotFoundError:
                continue  # another process merged the chunks just now: read the new set
            except (OSError, ValueError) as error:
                log.warning("vectors at %s unreadable (%s); computing them afresh", self._path,
                            error)  # fmt: skip
                break
        start_afresh(self._path)
        self._reset()
        self._write_state()

    def _load_chunks(self, path: Path) -> None:
        self._loaded_state = self._state_stamp()
        self._checked_at = time.monotonic()
        seq = int(_read_state(path).get("last_seq", 0))
        self._reset()
        for chunk in sorted(path.glob("chunk-*.npy")):
            if int(chunk.stem.rsplit("-", 1)[1]) > seq:
                continue  # written by a catch-up that did not finish; it will be redone
            ids = json.loads(chunk.with_suffix(".ids").read_text("utf-8"))
            self._append(ids, np.load(chunk).astype(np.float32))
        self._seq = seq

    def _write_chunk(self, stem: str, ids: Sequence[str], vectors: Vectors) -> None:
        assert self._path is not None
        # Stored as float16: half the disk, and the cosine ranking does not change measurably.
        with _temp_then_rename(self._path / f"{stem}.npy") as temp, temp.open("wb") as out:
            np.save(out, vectors.astype(np.float16))
        with _temp_then_rename(self._path / f"{stem}.ids") as temp:
            temp.write_text(json.dumps(list(ids)), "utf-8")

    def _write_state(self) -> None:
        assert self._path is not None
        seq = max(self._seq, int(_read_state(self._path).get("last_seq", 0)))
        state = {"format": FORMAT_VERSION, "model": self._embedder.name, "last_seq": seq}
        with _temp_then_rename(self._path / STATE_FILE) as temp:
            temp.write_text(json.dumps(state), "utf-8")
        self._loaded_state = self._state_stamp()


@dataclass(frozen=True, slots=True)
class _Coded:
    """Rows ``0..rows-1`` of the matrix belonging to the id list ``ids``, product-quantized. The
    list is extended in place as papers arrive and replaced when rows are rewritten, so
    ``ids is`` the current list says whether the rows still mean the same papers."""

    ids: Sequence[str]
    rows: int
    index: Any

    @classmethod
    def build(cls, matrix: Vectors, ids: Sequence[str]) -> _Coded:
        import faiss  # here: importing it takes 0.3-0.7 s, and only a large index needs it

        faiss.omp_set_num_threads(1)  # per thread: a build must not take every core from searches
        rows, dim = matrix.shape
        data = np.ascontiguousarray(matrix, dtype=np.float32)
        index = faiss.IndexPQFastScan(dim, dim // CODE_DIMS_PER_BYTE, 4, faiss.METRIC_INNER_PRODUCT)
        sample = np.random.default_rng(0).choice(rows, min(rows, CODE_TRAINING_ROWS), replace=False)
        index.train(data[np.sort(sample)])
        index.add(data)
        return cls(ids, rows, index)

    def candidates(self, vector: Vectors, count: int, total_rows: int) -> npt.NDArray[np.int64]:
        """The ``count`` coded rows scoring best on the codes, and every row coded after."""
        import faiss

        faiss.omp_set_num_threads(1)  # one query: its own thread is enough
        _, found = self.index.search(vector[None, :], count)
        coded: npt.NDArray[np.int64] = found[0][found[0] >= 0]
        return np.concatenate([coded, np.arange(self.rows, total_rows, dtype=np.int64)])


@functools.cache
def _one_blas_thread() -> None:
    """Searches run side by side in worker threads, each multiplying one query vector by the
    matrix: a pass is bound by memory, not arithmetic, so BLAS's own threads only spin on the
    cores the other searches need. One BLAS thread halved the CPU per search and its p50 at
    100k papers (bench/search.py --embeddings wordllama). Process-wide, set on the first
    search; embedding at ingest does not use BLAS."""
    threadpoolctl.threadpool_limits(1, user_api="blas")


def vectors_path(index_path: Path) -> Path:
    """Where vectors live: beside the Tantivy index directory."""
    return index_path.with_name(index_path.name + ".vectors")


@contextlib.contextmanager
def _temp_then_rename(target: Path) -> Iterator[Path]:
    temp = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
    yield temp
    temp.replace(target)


def _read_state(path: Path) -> dict[str, int | str]:
    return read_state_file(path / STATE_FILE)
