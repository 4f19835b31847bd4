"""Topic subscriptions: saved queries on a channel, matched against new papers in bulk.

Matching indexes the candidate papers once (in memory) and runs each *distinct* saved query once,
so the cost grows with papers + topics, never with papers x topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import tantivy

from bot.models import Paper
from bot.query import QueryError, parse_query
from bot.search import SearchIndex

MAX_TOPICS_PER_CHANNEL = 25


def match_topics(papers: Sequence[Paper], topics: Sequence[str]) -> dict[str, list[str]]:
    """For each topic (query text), the ids of the papers it matches, best match first."""
    if not papers or not topics:
        return {topic: [] for topic in topics}
    index = SearchIndex.open(None)
    # Tantivy indexes without the GIL: compile the topics meanwhile.
    with ThreadPoolExecutor(1, thread_name_prefix="topic-index") as writer:
        writing = writer.submit(index.add_or_replace, papers)
        compiled: dict[str, tantivy.Query] = {}
        for topic in dict.fromkeys(topics):
            try:
                compiled[topic] = index.compile_topic(parse_query(topic))
            except QueryError:
                continue  # saved before a grammar change; never block the others
        writing.result()
    found = index.matching_ids_many(list(compiled.values()), limit=len(papers))
    matches = dict(zip(compiled, found, strict=True))
    return {topic: matches.get(topic, []) for topic in topics}
