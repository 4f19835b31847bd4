"""Benchmark and real-data check: real arXiv records rendered as Discord cards with a TL;DR.

    .venv/bin/python -m bench.discord_cards                    # ../shared/corpus/arxiv-2007-04.csv
    .venv/bin/python -m bench.discord_cards --corpus FILE --runs 7

Renders every record as a full card and, ten at a time, as lists (the TL;DR being the abstract's
first sentence, as for papers Hugging Face has not summarised), and prints: the median time to
render a ten-card list, how long the TL;DR lines are, how often the first sentence had to be cut,
and how many messages broke one of Discord's limits (should be 0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.discord_app.embeds import (
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    EMBEDS_TOTAL_LIMIT,
    FIELD_VALUE_LIMIT,
    DiscordMessage,
    render,
)
from bench.export import DEFAULT_CORPUS, load
from bot.replies import TLDR_LIMIT, PaperCard, PaperDetail, PaperList


def broken_limits(message: DiscordMessage) -> list[str]:
    """Which of Discord's limits a rendered message breaks (none, if all is well)."""
    broken = []
    if len(message.embeds) > EMBEDS_PER_MESSAGE:
        broken.append("embeds per message")
    if sum(len(embed) for embed in message.embeds) > EMBEDS_TOTAL_LIMIT:
        broken.append("6000 characters")
    if len(message.content or "") > CONTENT_LIMIT:
        broken.append("content")
    for embed in message.embeds:
        if len(embed.description or "") > DESCRIPTION_LIMIT:
            broken.append("description")
        if any(len(field.value or "") > FIELD_VALUE_LIMIT for field in embed.fields):
            broken.append("field value")
    rows = {vote.row for vote in message.votes} | {save.row for save in message.saves}
    if rows - set(range(5)):
        broken.append("button rows")
    return broken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    cards = [PaperCard(paper, team_votes=n % 4) for n, paper in enumerate(load(args.corpus))]
    lists = [cards[i : i + 10] for i in range(0, len(cards), 10)]
    timings = []
    for _ in range(args.runs):
        started = time.perf_counter()
        messages = [render(PaperList("Picks", tuple(chunk), len(chunk))) for chunk in lists]
        timings.append((time.perf_counter() - started) / len(lists))
    details = [render(PaperDetail(card)) for card in cards]

    tldrs = [card.tldr or "" for card in cards]
    lengths = sorted(len(text) for text in tldrs)
    cut = sum(text.endswith("…") for text in tldrs)
    broken = [problem for message in (*messages, *details) for problem in broken_limits(message)]
    print(f"papers: {len(cards)} from {args.corpus.name}; lists of ten: {len(lists)}")
    print(f"ten-card list render: median {statistics.median(timings) * 1000:.2f} ms")
    print(
        f"TL;DR length: median {statistics.median(lengths):.0f}, p90 "
        f"{lengths[int(len(lengths) * 0.9)]}, max {lengths[-1]} (limit {TLDR_LIMIT}); "
        f"cut: {cut} ({cut / len(cards):.1%})"
    )
    print(f"messages over a Discord limit: {len(broken)} {sorted(set(broken))}")


if __name__ == "__main__":
    main()
