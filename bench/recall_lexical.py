"""Keyword and plain-language recall@3 / MRR of free-text search over the real arXiv records in
``../shared/corpus/`` (read in place), with the queries in ``bench/queries_lexical.jsonl``.

    .venv/bin/python -m bench.recall_lexical
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bot.models import Paper
from bot.query import parse_query
from bot.search import SearchIndex

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parents[1] / "shared/corpus"
DEFAULT_QUERIES = HERE / "queries_lexical.jsonl"
_WHEN = datetime(2020, 1, 1, tzinfo=UTC)


def load_papers(corpus: Path) -> list[Paper]:
    csv.field_size_limit(sys.maxsize)
    return [*_recent(corpus / "arxiv-cs-cv-lg.csv"), *_older(corpus / "arxiv-2007-04.csv")]


def _recent(path: Path) -> Iterator[Paper]:
    with path.open(newline="", encoding="utf-8") as rows:
        for n, row in enumerate(csv.DictReader(rows)):
            yield Paper(f"cvlg.{n}", row["titles"], row["summaries"], (), _WHEN)


def _older(path: Path) -> Iterator[Paper]:
    with path.open(newline="", encoding="utf-8") as rows:
        for row in csv.DictReader(rows):
            authors = tuple(a.strip() for a in row["authors"].split(",") if a.strip())
            yield Paper(f"0{row['id']}", row["title"], row["abstract"], authors, _WHEN)


def _squash(text: str) -> str:
    return " ".join(text.split()).lower()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    parser.add_argument("-v", "--verbose", action="store_true", help="print each miss")
    args = parser.parse_args(argv)
    papers = load_papers(args.corpus)
    index = SearchIndex.open(None)
    index.add_or_replace(papers)
    by_title = {_squash(p.title)[:50]: p.id for p in papers}
    ranks: dict[str, list[int | None]] = defaultdict(list)
    for line in args.queries.read_text("utf-8").splitlines():
        case = json.loads(line)
        wanted = by_title[_squash(case["title"])[:50]]
        hits = index.search(parse_query(case["query"]), limit=10, snippets=False).hits
        found = [hit.paper_id for hit in hits]
        rank = found.index(wanted) + 1 if wanted in found else None
        ranks[case["kind"]].append(rank)
        if args.verbose and (rank is None or rank > 3):
            print(f"  miss ({rank}): {case['query']}", file=sys.stderr)
    print(f"{len(papers):,} papers")
    print(f"{'kind':<10}{'n':>4}{'recall@3':>10}{'recall@10':>11}{'MRR':>7}")
    for kind, values in sorted(ranks.items()):
        at3 = sum(1 for r in values if r is not None and r <= 3) / len(values)
        at10 = sum(1 for r in values if r is not None) / len(values)
        mrr = statistics.mean(1 / r if r else 0.0 for r in values)
        print(f"{kind:<10}{len(values):>4}{at3:>10.2f}{at10:>11.2f}{mrr:>7.2f}")


if __name__ == "__main__":
    main()
