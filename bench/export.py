"""Benchmark and real-data check: BibTeX and CSV export of real arXiv records.

    .venv/bin/python -m bench.export                       # ../shared/corpus/arxiv-2007-04.csv
    .venv/bin/python -m bench.export --corpus FILE --runs 7

Prints the median time to write BibTeX and CSV for every record in the file, and how the written
BibTeX reads back (bibtexparser): entries, titles changed by the writer (stray braces, trailing
backslashes), titles that did not read back as written, author counts that differ.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bibtexparser.entrypoint import parse_string

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.export import ExportItem, bibtex_text, to_bibtex, to_csv
from bot.models import Paper, squash_spaces

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/arxiv-2007-04.csv"


def load(path: Path) -> list[Paper]:
    papers = []
    with path.open(newline="", encoding="utf-8") as handle:
        for n, row in enumerate(csv.DictReader(handle)):
            authors = tuple(
                squash_spaces(name) for name in row["authors"].replace(" and ", ", ").split(",")
            )
            papers.append(
                Paper(
                    id=f"0{row['id']}" if row["id"][:1] != "0" else row["id"],
                    title=squash_spaces(row["title"]),
                    abstract=row["abstract"],
                    authors=tuple(name for name in authors if name),
                    published=datetime(2007, 4, 1 + n % 28, tzinfo=UTC),
                    categories=tuple(row["categories"].split()),
                )
            )
    return papers


def median_seconds(work: object, runs: int) -> float:
    assert callable(work)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not args.corpus.exists():
        raise SystemExit(f"no corpus at {args.corpus}; pass --corpus")
    papers = load(args.corpus)
    items = [ExportItem(paper, votes=n % 7) for n, paper in enumerate(papers)]

    bib_time = median_seconds(lambda: to_bibtex(items), args.runs)
    csv_time = median_seconds(lambda: to_csv(items), args.runs)
    text = to_bibtex(items)
    library = parse_string(text)
    entries = library.entries
    changed = sum(bibtex_text(p.title) != p.title for p in papers)
    mismatched = sum(
        e["title"] != bibtex_text(p.title) for e, p in zip(entries, papers, strict=False)
    )
    with_tex = sum(any(c in p.title for c in "\\${}") for p in papers)
    authors_off = sum(
        len(e.fields_dict["author"].value.split(" and ")) != len(p.authors)
        for e, p in zip(entries, papers, strict=False)
        if p.authors
    )
    print(f"records: {len(papers)} from {args.corpus.name} ({with_tex} titles with TeX or braces)")
    print(f"BibTeX: median {bib_time * 1000:.0f} ms ({len(text) / 1e6:.2f} MB)")
    print(f"CSV:    median {csv_time * 1000:.0f} ms")
    print(
        f"read back: {len(entries)} entries, {len(library.failed_blocks)} failed blocks, "
        f"{mismatched} titles not as written, {changed} titles changed by the writer, "
        f"{authors_off} author counts differ"
    )


if __name__ == "__main__":
    main()
