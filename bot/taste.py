"""A team's taste: which new papers look like the ones the team upvoted and shared.

As arxiv-sanity-lite does per user, a linear SVM is fitted per team with the team's papers as
positives and the candidate papers as negatives, over TF-IDF of title and abstract; when paper
vectors are available a second SVM is fitted on them and the two z-scored decisions are averaged
(measured better than either alone, see bench/relevance.py). A team that keeps to a few arXiv
fields then gets papers from those fields lifted (:func:`field_prior`). Fitting takes
milliseconds for a day's candidates, runs off the event loop, and is cached until the team's
votes change.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.models import Paper, archive_of
from bot.vectors import VectorIndex

log = logging.getLogger(__name__)

# Below this many upvoted papers a team's taste is guesswork: trending alone decides.
MIN_LIKED = 3
# Most recent upvoted papers a model learns from; older taste matters less and costs more.
MAX_LIKED = 500
# Regularisation as in arxiv-sanity-lite: few positives, so a soft margin.
SVM_C = 0.1
# Added to a candidate's z-score at full strength when every upvoted paper shares its primary
# arXiv category. Words alone mix up neighbouring fields (hep-th and gr-qc, stat.ML and cs.LG):
# precision@5 in a team's own field (8 upvotes, bench/relevance.py) 0.86 -> 1.00 on the six
# archives tuned on, 0.37 -> 0.88 on six others, 0.67 -> 1.00 over cs.CV / cs.LG / stat.ML;
# teams upvoting one topic across fields 0.65 -> 0.63. Squaring the team's share keeps a
# spread-out team's prior small.
FIELD_PRIOR = 3.0
_CACHE_SIZE = 64

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Taste:
    """How much each candidate fits the team (z-scores), and the upvoted paper it is closest to."""

    scores: dict[str, float]
    closest: dict[str, Paper]


def fit_taste(
    liked: Sequence[Paper],
    candidates: Sequence[Paper],
    vectors: VectorIndex | None = None,
    field_weight: float = FIELD_PRIOR,
) -> Taste | None:
    """Score ``candidates`` by the team's ``liked`` papers; ``None`` when there is too little."""
    liked = list({p.id: p for p in liked}.values())[:MAX_LIKED]
    pool = [p for p in candidates if p.id not in {q.id for q in liked}]
    if len(liked) < MIN_LIKED or not pool:
        return None
    key = (tuple(p.id for p in liked), tuple(p.id for p in pool), vectors is not None, field_weight)
    cached = _cache_get(key)
    if cached is not None:
        return cached
    taste = _fit(liked, pool, vectors, field_weight)
    _cache_put(key, taste)
    return taste


def _fit(
    liked: list[Paper], pool: list[Paper], vectors: VectorIndex | None, field_weight: float
) -> Taste:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{p.title} {p.title} {p.abstract}" for p in [*liked, *pool]]
    tfidf = TfidfVectorizer(
        stop_words="english", sublinear_tf=True, min_df=1, max_df=0.5, max_features=50_000
    ).fit_transform(texts)
    labels = np.array([1] * len(liked) + [0] * len(pool))
    decisions = [_zscores(_svm_decisions(tfidf, labels, len(liked)))]
    similarity = (tfidf[len(liked) :] @ tfidf[: len(liked)].T).toarray()
    if vectors is not None:
        ids = [p.id for p in [*liked, *pool]]
        found, matrix = vectors.matrix_for(ids)
        if len(found) == len(ids):  # a partial set would score papers unevenly: words only then
            decisions.append(_zscores(_svm_decisions(matrix, labels, len(liked))))
            similarity = similarity + matrix[len(liked) :] @ matrix[: len(liked)].T
    combined = np.mean(decisions, axis=0) + field_weight * field_prior(liked, pool)
    closest = similarity.argmax(axis=1)
    return Taste(
        {p.id: float(s) for p, s in zip(pool, combined, strict=True)},
        {p.id: liked[int(n)] for p, n in zip(pool, closest, strict=True)},
    )


def field_prior(liked: Sequence[Paper], pool: Sequence[Paper]) -> Floats:
    """For each candidate, how many upvoted papers share its field: the mean of the shares with
    its primary category and with that category's archive (``hep-th``; ``cs`` for ``cs.LG``),
    squared, in [0, 1]. Upvoted papers without categories (Hugging Face lists none) count
    against every field; a candidate without them gets the pool's mean, so it is neither lifted
    nor held back."""
    filed = [p.primary_category for p in liked if p.primary_category]
    if not filed:
        return np.zeros(len(pool))
    categories, archives = Counter(filed), Counter(archive_of(code) for code in filed)

    def share(code: str | None) -> float:
        if code is None:
            return np.nan
        return ((categories[code] + archives[archive_of(code)]) / (2 * len(liked))) ** 2

    shares = np.array([share(p.primary_category) for p in pool])
    known = shares[~np.isnan(shares)]
    filled: Floats = np.nan_to_num(shares, nan=float(known.mean()) if known.size else 0.0)
    return filled


def _svm_decisions(features: object, labels: npt.NDArray[np.int_], positives: int) -> Floats:
    from sklearn.svm import LinearSVC

    model = LinearSVC(C=SVM_C, class_weight="balanced", max_iter=10_000, tol=1e-5)
    model.fit(features, labels)
    decisions: Floats = np.asarray(model.decision_function(features), dtype=np.float64)
    return decisions[positives:]


def _zscores(values: Floats) -> Floats:
    spread = float(values.std())
    centred: Floats = values - values.mean()
    return centred / spread if spread > 0 else centred


_cache: OrderedDict[tuple[object, ...], Taste] = OrderedDict()
_cache_lock = threading.Lock()


def _cache_get(key: tuple[object, ...]) -> Taste | None:
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
        return found


def _cache_put(key: tuple[object, ...], taste: Taste) -> None:
    with _cache_lock:
        _cache[key] = taste
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
