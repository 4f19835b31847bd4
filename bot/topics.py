"""Topic subscriptions: saved queries on a channel, matched against new papers in bulk.

Matching indexes the candidate papers once (in memory) and runs each *distinct* saved query once,
so the cost grows with papers + topics, never with papers x topics.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.models import Paper
from bot.query import ParsedQuery, QueryError, parse_query
from bot.search import SearchIndex

MAX_TOPICS_PER_CHANNEL = 25


def match_topics(papers: Sequence[Paper], topics: Sequence[str]) -> dict[str, list[str]]:
    """For each topic (query text), the ids of the papers it matches, best match first."""
    if not papers or not topics:
        return {topic: [] for topic in topics}
    index = SearchIndex.open(None)
    index.add_or_replace(papers)
    parsed: dict[str, ParsedQuery] = {}
    for topic in dict.fromkeys(topics):
        try:
            parsed[topic] = parse_query(topic)
        except QueryError:
            continue  # saved before a grammar change; never block the others
    found = index.matching_ids_many(list(parsed.values()), limit=len(papers))
    matches = dict(zip(parsed, found, strict=True))
    return {topic: matches.get(topic, []) for topic in topics}
