"""The trending score: one formula, used by daily picks, `trending` and the digests.

    score = (hf_upvotes + TEAM_VOTE_WEIGHT * team_votes + 1) / (age_hours + 2) ** GRAVITY

- ``hf_upvotes``: upvotes on Hugging Face Daily Papers (the wider community's signal).
- ``team_votes``: upvotes from this workspace; weighted up because the team knows what it needs.
- ``age_hours``: hours since the paper was published (arXiv v1 or HF date), never negative.
- ``GRAVITY`` makes yesterday's hit give way to today's; ``+ 2`` keeps brand-new papers finite.
The ``+ 1`` lets papers with no votes at all still be ordered by freshness.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from bot.models import Paper

TEAM_VOTE_WEIGHT = 5.0
GRAVITY = 1.5


def trending_score(paper: Paper, team_votes: int, now: datetime) -> float:
    age_hours = max((now - paper.published).total_seconds() / 3600.0, 0.0)
    freshness: float = (age_hours + 2.0) ** GRAVITY
    return (paper.hf_upvotes + TEAM_VOTE_WEIGHT * team_votes + 1.0) / freshness


def rank_trending(
    papers: Sequence[Paper], team_votes: Mapping[str, int], now: datetime
) -> list[Paper]:
    """Papers by trending score, best first; ties go to the newer, then the smaller id."""
    return sorted(
        papers,
        key=lambda p: (
            -trending_score(p, team_votes.get(p.id, 0), now),
            -p.published.timestamp(),
            p.id,
        ),
    )
