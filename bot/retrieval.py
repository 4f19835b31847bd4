"""Free-text search: BM25 ranks from the Tantivy index fused with vector ranks.

A person's question rarely uses the abstract's words, so vectors find what BM25 misses; BM25
keeps exact words, names and titles on top. The two rankings of a wide candidate set from each
are combined by weighted reciprocal rank fusion for keywords, by score for a question. The
query's explicit parts ("phrases", -exclude, author:, cat:, since:) still hold: a paper found
only by its vector is kept only when the index finds them in it. Without vectors (no model, or
none computed yet) this is plain BM25.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from bot import metrics
from bot.embeddings import Embedder, Vectors, normalise
from bot.models import Paper, archive_of
from bot.query import ParsedQuery, Phrase, Word
from bot.search import SearchHit, SearchIndex, SearchPage
from bot.vectors import VectorIndex

# How many papers each ranker proposes before fusion.
CANDIDATES = 100
CONSTRAINED_CANDIDATES = 20  # vector-only papers checked against a query's filters
# Reciprocal rank fusion: score = Σ weight / (RRF_K + rank). 60 is the usual constant. The weights
# follow what the forgiving lexical pass says about the query: when some paper has every word it
# reads like keywords and BM25 counts double; when none does it reads like a question and vectors
# count more (below). Measured with bench/relevance.py and bench/queries_lexical.jsonl: keyword
# MRR 0.92 -> 0.96 on the second set against fixed vector-heavy weights, questions equal.
# RRF_K 20 rather than 60 lets a paper both rankers put near the top stand out. Together with
# rarity-weighted query vectors (below): plain-language recall@3 0.72 -> 0.78 and MRR 0.59 -> 0.68
# on queries.jsonl, the second set's questions 0.94 -> 1.00 (MRR 0.77 -> 0.79), keywords equal;
# rarity alone at k 60 gave 0.75 / 0.67. Re-querying with the top fused papers' vectors
# (Rocchio feedback) moved recall@3 between 0.72 and 0.82 with k and lowered MRR: not used.
# Since closest matches score without the title field's boost (bot/search.py), BM25 alone ranks a
# question about as well as vectors alone (recall@3 0.72 against 0.68-0.75), so a question's BM25
# weight rose from 0.5 to 0.7 of the vectors' (0.7-1.5 all gave recall@3 0.80-0.82 at k 20 on
# queries.jsonl, against 0.78; at 1.0 a question over the 110-paper sample lost its paper).
RRF_K = 20
# Rarity (IDF) needs a corpus to be measured on: over the 110-paper sample, words rare there but
# saying nothing about a topic ("read", "keeping") outweighed the topic, so below this many
# papers the query is embedded as one text.
RARITY_MIN_PAPERS = 1000
# Share of the "more like this" field prior for a candidate that meets the paper's archive only
# through a cross-list: related, but another field first. Full prior for any shared archive gave
# precision@5 by archive 0.77 / 0.73 on the two probe sets; half 0.81 / 0.80, none 0.84 / 0.83.
# A stronger pull to the paper's own archive (1.5: 0.90 / 0.88) was not taken: "more like this"
# would become "more from this field".
CROSS_LISTED_PRIOR = 0.5
LEXICAL_WEIGHT = 2.0
VECTOR_WEIGHT = 1.0
FORGIVEN_LEXICAL_WEIGHT = 0.7
# From COVERAGE_MIN_PAPERS papers on, a question's BM25 weight follows how much of it the best BM25
# paper holds: its BM25 score over the summed rarity of the question's words (a paper with each
# rare word once scores about that sum), capped at 1, times this weight. A question whose words
# are all in one abstract counts BM25 like keywords; one the abstracts say in other words leans on
# vectors. bench/relevance.py, against the fixed 0.7 (recall@3 / MRR): queries.jsonl questions
# 0.80 / 0.71 -> 0.82 / 0.71, queries_lexical.jsonl questions MRR 0.83 -> 0.94, keywords equal;
# never tuned on, queries_heldout.jsonl 0.77 / 0.72 -> 0.81 / 0.76 and queries_heldout2.jsonl
# 0.92 / 0.83 -> 0.96 / 0.87. Fixed weights 1.0-1.5 gained less (bench/RESULTS.md); per-query
# cost: a sum over the rarities the query vector already needs.
# Like rarity, coverage needs a corpus: forced on over the 110-paper sample, a question of common
# words ("how well do sentence vectors work across many languages") lost its paper from the top 10.
COVERED_LEXICAL_WEIGHT = 2.0
COVERAGE_MIN_PAPERS = 1000
# A question (no paper has every word) blends its two rankings by score rather than by rank: each
# ranker's scores over its best, half and half (the plain convex combination, not tuned: Bruch
# et al., "An Analysis of Fusion Functions for Hybrid Retrieval", 2023). Rank fusion threw away
# how sure each ranker was: a lay question whose words one abstract holds far better than any
# other (BM25 first, well clear) lost that paper to ten the vectors liked a little more.
# bench/relevance.py against rank fusion with coverage (recall@3 / MRR): the lay questions
# 0.58 / 0.51 -> 0.73 / 0.60, held-out 0.81 / 0.77 -> 0.83 / 0.78 and 0.96 / 0.88 -> 0.98 / 0.90,
# the third held-out set 0.98 / 0.96 either way, queries.jsonl 0.85 / 0.72 -> 0.82 / 0.77,
# queries_lexical.jsonl 1.00 / 0.94 -> 1.00 / 0.86; keywords keep rank fusion (1.00 there).
QUESTION_LEXICAL_SHARE = 0.5
# How sure BM25 is needs a corpus too: over the ~80-paper sample with rarity-weighted vectors, a
# question of common words ("how well do sentence vectors work across many languages") blended
# by score lost its paper from the top 10 to papers with "work" and "many". Below this, rank
# fusion as above.
BY_SCORE_MIN_PAPERS = 1000

# With this many other hybrid searches running in the process, BM25 answers alone: the cores
# are shared between the searches, and each vector pass delays all the others. With this and
# one BLAS thread per search, 500 signed commands at 100 in flight over 100k papers
# (bench/slack_ack.py --queries mixed) answered at p99 1.5 s instead of 2.6 s, 4.3 ms CPU a
# request instead of 7.0. The page is still right, only ranked by words;
# paperboy_search_vectors_skipped_total counts how often.
BUSY_SEARCHES = 4

_NON_WORD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True, slots=True)
class Fusion:
    lexical_weight: float = LEXICAL_WEIGHT
    vector_weight: float = VECTOR_WEIGHT
    k: int = RRF_K
    candidates: int = CANDIDATES
    # BM25's weight when no paper has every word (the query reads like a question, not keywords).
    forgiven_lexical_weight: float | None = FORGIVEN_LEXICAL_WEIGHT
    # When every shown paper has every word, BM25 alone answers: on keyword queries it ranks as
    # well as fusion or better (bench/relevance.py) and skips the vector pass, the larger cost.
    keywords_alone: bool = True
    # Embed the query as its words weighted by rarity (IDF), not as one averaged text.
    rarity_weighted: bool = True
    # A question's BM25 weight scales with how much of it the best BM25 paper holds (above);
    # only when its rankings are fused by rank (``questions_by_score=False``).
    coverage_weighted: bool = True
    # A question's rankings are blended by score, not by rank (QUESTION_LEXICAL_SHARE, above).
    questions_by_score: bool = True
    question_lexical_share: float = QUESTION_LEXICAL_SHARE


@dataclass
class HybridSearch:
    """BM25 plus vectors; ``vectors=None`` (or an empty vector index) means BM25 alone."""

    index: SearchIndex
    vectors: VectorIndex | None = None
    fusion: Fusion = Fusion()

    async def search(self, query: ParsedQuery, *, limit: int) -> SearchPage:
        """The best ``limit`` papers, without snippets: the caller marks the few it shows
        (:meth:`SearchIndex.snippets`) while it reads them from the store."""
        text = free_text(query)
        vectors = self.vectors
        if vectors is None or not text or len(vectors) == 0:
            return await asyncio.to_thread(self.index.search, query, limit=limit, snippets=False)
        wide = max(self.fusion.candidates, limit)
        with _searching() as others:
            if self.fusion.keywords_alone:
                # Whether BM25 answers alone needs only the page's papers: at 1M papers, the top
                # 100 of common words or a phrase cost up to 20x the top 5 (bot/search.py tiers).
                first = await asyncio.to_thread(
                    self.index.search, query, limit=limit, snippets=False, forgive=False
                )
                if _all_words_fill(first, limit):
                    return _first(first, limit)
            wide_search = asyncio.to_thread(self.index.search, query, limit=wide, snippets=False)
            if others >= BUSY_SEARCHES:
                metrics.SEARCH_VECTORS_SKIPPED.inc()
                return _first(await wide_search, limit)
            # Side by side: both passes leave Python's lock while they scan, so on an otherwise
            # idle machine the second core answers the vectors (4-6 ms at 1M papers) meanwhile.
            lexical, (rarity, nearest) = await asyncio.gather(
                wide_search, asyncio.to_thread(self._nearest_to_words, vectors, text, wide)
            )
        lexical_ids = {hit.paper_id for hit in lexical.hits}
        only_vector = [pid for pid, _ in nearest if pid not in lexical_ids]
        allowed = set(lexical_ids)
        if only_vector:
            if has_constraints(query):
                # Only the nearest few can reach the page, so only they are checked.
                checked = only_vector[: max(CONSTRAINED_CANDIDATES, 4 * limit)]
                allowed.update(await asyncio.to_thread(self.index.meeting, query, checked))
            else:
                allowed.update(only_vector)
        kept = [(pid, cosine) for pid, cosine in nearest if pid in allowed]
        fused = self._fused(lexical, kept, text, rarity)
        found = {hit.paper_id: hit for hit in lexical.hits}
        hits = [_fused_hit(found.get(pid), pid, score) for pid, score in fused[:limit]]
        if not lexical.hits and hits:
            # No paper has any of the words: what follows is close in meaning only, and no
            # count of "matches" would be true.
            return replace(
                lexical, hits=hits, total=len(hits), all_terms_matched=False, by_meaning_only=True
            )
        # Vectors never add a paper with every word (the lexical pass saw all of those), so
        # whether "no paper has all of: …" holds is the lexical pass's to say, and so is the
        # count: papers with the words, as without vectors. Counting the papers fused as well
        # told a 75-paper sample's "attention sinks" it had 75 results.
        return replace(lexical, hits=hits, total=max(lexical.total, len(hits)))

    def _fused(
        self,
        lexical: SearchPage,
        nearest: list[tuple[str, float]],
        text: str,
        rarity: list[float] | None,
    ) -> list[tuple[str, float]]:
        by_score = self.fusion.questions_by_score and self.index.num_docs >= BY_SCORE_MIN_PAPERS
        if by_score and not lexical.all_terms_matched:
            bm25 = [(hit.paper_id, hit.bm25) for hit in lexical.hits]
            return blend_by_score(bm25, nearest, self.fusion.question_lexical_share)
        fusion = self._fusion_for(lexical, text, rarity)
        return fuse(_ranked_ids(lexical.hits), [pid for pid, _ in nearest], fusion)

    def _fusion_for(self, lexical: SearchPage, text: str, rarity: list[float] | None) -> Fusion:
        fusion = self.fusion
        if lexical.all_terms_matched or fusion.forgiven_lexical_weight is None:
            return fusion
        if fusion.coverage_weighted and rarity and self.index.num_docs >= COVERAGE_MIN_PAPERS:
            held = coverage(lexical, text.split(), rarity)
            return replace(fusion, lexical_weight=COVERED_LEXICAL_WEIGHT * held)
        return replace(fusion, lexical_weight=fusion.forgiven_lexical_weight)

    def _nearest_to_words(
        self, vectors: VectorIndex, text: str, limit: int
    ) -> tuple[list[float] | None, list[tuple[str, float]]]:
        """The words' rarity (``None`` below RARITY_MIN_PAPERS: it needs a corpus to be
        measured on) and the papers nearest to the query vector."""
        words = text.split()
        rarity = self.index.rarity(words) if self.index.num_docs >= RARITY_MIN_PAPERS else None
        whole = not self.fusion.rarity_weighted or vectors.embedder.contextual
        if whole or rarity is None:
            return rarity, vectors.nearest_to_text(text, limit)
        query = rarity_weighted(vectors.embedder, words, rarity)
        if query is None:
            return rarity, vectors.nearest_to_text(text, limit)
        return rarity, vectors.nearest(query, limit)


_searches_running = 0  # hybrid searches in this process now (changed on the event loop only)


@contextlib.contextmanager
def _searching() -> Iterator[int]:
    """Counts this search as running; yields how many others are."""
    global _searches_running
    _searches_running += 1
    try:
        yield _searches_running - 1
    finally:
        _searches_running -= 1


def _all_words_fill(page: SearchPage, limit: int) -> bool:
    """Every one of the first ``limit`` hits has every word of the query (a keyword search)."""
    shown = page.hits[:limit]
    return len(shown) == limit and all(hit.all_terms for hit in shown)


def coverage(page: SearchPage, words: Sequence[str], rarity: Sequence[float]) -> float:
    """How much of a question the best BM25 paper holds, 0 to 1: its BM25 score over the summed
    rarity of the question's content words (a paper with each of them once scores about that)."""
    total = sum(r for w, r in zip(words, rarity, strict=True) if _folded(w) not in _STOPWORDS)
    if not page.hits or total <= 0:
        return 0.0
    return min(1.0, page.hits[0].bm25 / total)


def rarity_weighted(
    embedder: Embedder, words: Sequence[str], rarity: Sequence[float]
) -> Vectors | None:
    """The query's words embedded one by one and summed, each weighted by its rarity: a static
    model averages a question's "how", "do", "the" into its meaning; rare words say what it
    is about. ``None`` when no word carries weight."""
    weights = np.asarray(rarity, dtype=np.float32)
    if not len(words) or float(weights.sum()) <= 0:
        return None
    summed: Vectors = (weights[:, None] * embedder.embed(words)).sum(axis=0, keepdims=True)
    query: Vectors = normalise(summed.astype(np.float32))[0]
    return query


def _ranked_ids(hits: Sequence[SearchHit]) -> list[str]:
    """The lexical ranking, equal BM25 scores newest id first. Tantivy breaks ties by where a
    paper sits in the index, which differs between two ingests of the same papers (its writer
    threads lay down segments in either order): the fused ranking, fed tied ranks, moved too."""
    newest_first = sorted(hits, key=lambda hit: hit.paper_id, reverse=True)
    return [hit.paper_id for hit in sorted(newest_first, key=lambda h: (not h.all_terms, -h.bm25))]


def _first(page: SearchPage, limit: int) -> SearchPage:
    return replace(page, hits=page.hits[:limit])


def _fused_hit(lexical: SearchHit | None, paper_id: str, score: float) -> SearchHit:
    if lexical is None:
        return SearchHit(paper_id, score, None, all_terms=False)
    return replace(lexical, score=score)


def fuse(lexical: Sequence[str], vector: Sequence[str], fusion: Fusion) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion of two rankings, best first; ties keep lexical order."""
    scores: dict[str, float] = {}
    for weight, ranking in ((fusion.lexical_weight, lexical), (fusion.vector_weight, vector)):
        for rank, paper_id in enumerate(ranking, start=1):
            scores[paper_id] = scores.get(paper_id, 0.0) + weight / (fusion.k + rank)
    order = {pid: n for n, pid in enumerate([*lexical, *vector])}
    return sorted(scores.items(), key=lambda item: (-item[1], order[item[0]]))


def blend_by_score(
    lexical: Sequence[tuple[str, float]], vector: Sequence[tuple[str, float]], lexical_share: float
) -> list[tuple[str, float]]:
    """Each ranker's scores over its best score, mixed ``lexical_share`` to the rest, best first
    (equal mixes newest id first). A paper one ranker did not propose counts the lowest score it
    did propose: the most it can have had."""
    signals = [dict(lexical), dict(vector)]
    newest_first = sorted(signals[0].keys() | signals[1].keys(), reverse=True)
    weights = [lexical_share, 1 - lexical_share]
    return blend_scores(newest_first, signals, weights, scale=_over_best)


def blend_scores(
    ids: Sequence[str],
    scores: Sequence[Mapping[str, float]],
    weights: Sequence[float],
    scale: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float64]] | None = None,
) -> list[tuple[str, float]]:
    """Weighted sum of signals over ``ids``, each z-scored unless another ``scale`` is given (a
    missing score counts as the lowest), best first; equal sums keep the order of ``ids``."""
    total = np.zeros(len(ids))
    for signal, weight in zip(scores, weights, strict=True):
        if not signal:
            continue
        floor = min(signal.values())
        values = np.array([signal.get(pid, floor) for pid in ids], dtype=np.float64)
        total += weight * (scale or _z_scored)(values)
    order = np.argsort(-total, kind="stable")
    return [(ids[n], float(total[n])) for n in order]


def _z_scored(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    spread = float(values.std()) or 1.0
    scaled: npt.NDArray[np.float64] = (values - values.mean()) / spread
    return scaled


def _over_best(values: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    best = float(values.max())
    return values / best if best > 0 else np.zeros_like(values)


def rank_neighbours(
    paper: Paper,
    ids: Sequence[str],
    signals: Sequence[Mapping[str, float]],
    candidates: Mapping[str, Paper],
    weights: Sequence[float],
    field_prior: float,
) -> list[tuple[str, float]]:
    """Candidates for "more like this", best first: blended z-scores, plus ``field_prior`` for
    a candidate filed first in the paper's arXiv archive and half of it for one that shares an
    archive only through a cross-list (a boost, not a filter: a much closer paper from another
    field still wins)."""
    fields = paper.archives
    own = archive_of(paper.primary_category) if paper.primary_category else None

    def prior(paper_id: str) -> float:
        other = candidates.get(paper_id)
        if other is None or not fields & other.archives:
            return 0.0
        theirs = other.primary_category
        if own and theirs and archive_of(theirs) == own:
            return field_prior
        return field_prior * CROSS_LISTED_PRIOR

    scored = [(pid, score + prior(pid)) for pid, score in blend_scores(ids, signals, weights)]
    return sorted(scored, key=lambda item: -item[1])


def free_text(query: ParsedQuery) -> str:
    """The words a person typed, for the embedding model (filters and exclusions left out)."""
    words: list[str] = []
    for group in query.groups:
        for clause in group:
            if isinstance(clause, Word):
                words.append(clause.text)
            elif isinstance(clause, Phrase):
                words.extend(clause.words)
    return " ".join(words)


def has_constraints(query: ParsedQuery) -> bool:
    """True when the query says more than a bag of words: a paper must be checked against it."""
    if query.exclude or query.since is not None:
        return True
    return any(not isinstance(clause, Word) for group in query.groups for clause in group)


def _folded(text: str) -> str:
    """Lower case, accents off, punctuation as spaces: how a person reads a phrase."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return " ".join(_NON_WORD.sub(" ", ascii_text.lower()).split())


def exact_title_first(
    hits: Sequence[SearchHit], papers: Mapping[str, Paper], text: str
) -> list[SearchHit]:
    """A query that is a paper's whole title puts that paper first, whatever fusion said."""
    wanted = _folded(text)
    exact = [
        hit
        for hit in hits
        if hit.paper_id in papers and _folded(papers[hit.paper_id].title) == wanted
    ]
    return exact + [hit for hit in hits if hit not in exact]


# Function words say nothing about what a paper is about.
_STOPWORDS = frozenset((
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "for", "from", "has", "have",
    "in", "into", "is", "it", "its", "of", "on", "or", "our", "that", "the", "their", "these",
    "this", "those", "to", "using", "via", "we", "which", "with", "without", "while", "both",
    "also", "than", "then", "there", "such", "show", "shows", "based", "new", "paper", "propose",
    "proposed", "approach", "method", "methods", "results",
))  # fmt: skip
KEY_TERMS = 64


def key_terms(paper: Paper) -> list[str]:
    """The title's words, then the abstract's most frequent ones: a query for "more like this"."""
    words = _folded(f"{paper.title} {paper.title} {paper.abstract}").split()
    counts: dict[str, int] = {}
    for word in words:
        if len(word) > 2 and word not in _STOPWORDS and not word.isdigit():
            counts[word] = counts.get(word, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])[:KEY_TERMS]
