"""Topic subscriptions: saved queries on a channel, matched against new papers in bulk.

Matching indexes the candidate papers once (in memory) and runs each *distinct* saved query once,
so the cost grows with papers + topics, never with papers x topics.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from bot.models import Paper, Subscription
from bot.query import QueryError, parse_query
from bot.search import SearchIndex

MAX_TOPICS_PER_CHANNEL = 25


def match_topics(papers: Sequence[Paper], topics: Sequence[str]) -> dict[str, list[str]]:
    """For each topic (query text), the ids of the papers it matches, best match first."""
    if not papers or not topics:
        return {topic: [] for topic in topics}
    index = SearchIndex.open(None)
    index.add_or_replace(papers)
    matches: dict[str, list[str]] = {}
    for topic in dict.fromkeys(topics):
        try:
            parsed = parse_query(topic)
        except QueryError:
            matches[topic] = []  # saved before a grammar change; never block the others
            continue
        matches[topic] = index.matching_ids(parsed, limit=len(papers))
    return matches


async def match_subscriptions(
    papers: Sequence[Paper], subscriptions: Sequence[Subscription]
) -> dict[int, list[str]]:
    """For each subscription id, the ids of the candidate papers its topic matches."""
    by_topic = await asyncio.to_thread(
        match_topics, papers, [subscription.query for subscription in subscriptions]
    )
    return {s.id: by_topic.get(s.query, []) for s in subscriptions}


def topics_by_paper(
    subscriptions: Sequence[Subscription], matches: dict[int, list[str]]
) -> dict[str, list[str]]:
    """Invert matches: for each paper id, the topics that picked it (for the "why" line)."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for subscription in subscriptions:
        for paper_id in matches.get(subscription.id, []):
            reasons[paper_id].append(subscription.query)
    return reasons
