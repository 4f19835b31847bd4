"""Reading typos (bot/typos.py) on real arXiv records: what it mends, what it gets wrong.

    python -m bench.typos [--corpus ../shared/corpus] [--seed 1]

Prints:
- the bench questions and keyword queries with one word mistyped (one random edit, the first
  letter kept, in a random word of 6 letters or more that papers have): recall@3 and MRR through
  the command path with typos read and without, beside the same queries typed right; and what
  became of each mistyped word (read back right, read as another word, left as typed);
- real words read as others: every word of half the papers' abstracts that the other half's
  index lacks, searched over that index (each reading of one is a mistake, unless the abstract
  itself had the typo).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
import string
import tempfile
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.relevance import (
    CHANNEL,
    DEFAULT_CORPUS,
    ingest_cost,
    load_corpus,
    query_sets,
    rank_of,
    ranks_report,
)
from bot.commands import Paperboy
from bot.embeddings import load_embedder
from bot.models import Paper
from bot.query import parse_query
from bot.search import SearchIndex
from bot.search_schema import STOP_WORDS, Analyzers
from bot.typos import correction

SETS = (
    ("queries.jsonl", "keyword"),
    ("queries.jsonl", "plain"),
    ("queries_heldout.jsonl", "plain"),
    ("queries_heldout2.jsonl", "plain"),
    ("queries_heldout3.jsonl", "plain"),
)
MIN_TYPO_WORD = 6
_WORD = re.compile(r"[A-Za-z]+")


def mistype(word: str, rng: random.Random) -> str:
    """``word`` with one random edit after its first letter: a letter left out, doubled up with
    another, changed, or swapped with the next."""
    while True:
        at = rng.randrange(1, len(word))
        letter = rng.choice(string.ascii_lowercase)
        kind = rng.choice(("delete", "insert", "replace", "swap"))
        if kind == "delete":
            typo = word[:at] + word[at + 1 :]
        elif kind == "insert":
            typo = word[:at] + letter + word[at:]
        elif kind == "replace":
            typo = word[:at] + letter + word[at + 1 :]
        else:
            typo = word[:at] + word[at + 1 : at + 2] + word[at] + word[at + 2 :]
        if typo.lower() != word.lower():
            return typo


def mistyped_query(text: str, index: SearchIndex, rng: random.Random) -> tuple[str, str, str]:
    """``text`` with one word papers have mistyped; the word and its typo ("" when none fits)."""
    words = [m for m in _WORD.finditer(text) if _fits(m.group(), index)]
    if not words:
        return text, "", ""
    chosen = rng.choice(words)
    typo = mistype(chosen.group(), rng)
    return text[: chosen.start()] + typo + text[chosen.end() :], chosen.group(), typo


def _fits(word: str, index: SearchIndex) -> bool:
    if len(word) < MIN_TYPO_WORD or word.lower() in STOP_WORDS or word.isupper():
        return False
    return index.vocabulary().papers_with(word) > 0


@contextlib.contextmanager
def typos_left_alone() -> Iterator[None]:
    saved = SearchIndex.may_have_typos
    SearchIndex.may_have_typos = lambda self, query: False  # type: ignore[method-assign]
    try:
        yield
    finally:
        SearchIndex.may_have_typos = saved  # type: ignore[method-assign]


async def typo_quality(
    bot: Paperboy, index: SearchIndex, papers: Sequence[Paper], seed: int
) -> None:
    sets = query_sets(papers)
    stem = Analyzers().text.analyze
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    print(f"\nOne word mistyped per query (seed {seed}): recall@3 / recall@10 / MRR, command path")
    for name, kind in SETS:
        rng = random.Random(f"{seed}:{name}:{kind}")
        chosen = sets[(name, kind)]
        typed = [mistyped_query(q["query"], index, rng) for q in chosen]
        for _, word, typo in typed:
            if not word:
                outcomes["no word to mistype"] += 1
                continue
            read_as = index.read_typos(parse_query(typo))[1]
            if not read_as:
                outcomes["left as typed"] += 1
            elif stem(read_as[0].read_as.lower()) == stem(word.lower()):
                outcomes["read back right"] += 1
            else:
                outcomes["read as another word"] += 1
                wrong.append(f"{word} -> {typo} -> {read_as[0].read_as}")
        print(f" {name}, {kind} ({len(chosen)})")
        right = [await _rank(bot, q["query"], q["want"]) for q in chosen]
        print(ranks_report("typed right", right))
        with typos_left_alone():
            left = [await _rank(bot, t[0], q["want"]) for t, q in zip(typed, chosen, strict=True)]
        print(ranks_report("one typo, left as typed (before)", left))
        read = [await _rank(bot, t[0], q["want"]) for t, q in zip(typed, chosen, strict=True)]
        print(ranks_report("one typo, typos read", read))
    print("  mistyped words: " + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    if wrong:
        print("  read as another word: " + "; ".join(wrong))


async def _rank(bot: Paperboy, text: str, want: str) -> int | None:
    result = await bot.search(CHANNEL, text, limit=10)
    return rank_of([card.paper.id for card in result.cards], want)


def false_readings(papers: Sequence[Paper]) -> None:
    """Real words the index lacks, read as others: half the corpus indexed, the other half's
    abstract words searched, as written (names capitalised) and as if typed in lowercase."""
    indexed, other = papers[::2], papers[1::2]
    index = SearchIndex.open(None)
    index.add_or_replace(indexed)
    vocabulary = index.vocabulary()
    words = sorted({w for p in other for w in _WORD.findall(p.abstract) if len(w) >= 5})
    lacking = [w for w in words if not vocabulary.papers_with(w)]
    print(
        f"\nReal words read as others: {len(indexed)} papers indexed; of the {len(words):,}"
        f" distinct words of 5 letters or more in the other {len(other)} papers' abstracts,"
        f" {len(lacking):,} are in no indexed paper"
    )
    for label, typed in (("as written", lacking), ("typed in lowercase", map(str.lower, lacking))):
        typed = sorted(set(typed))
        read = [(w, r) for w in typed if (r := correction(w, vocabulary))]
        print(f"  {label}: {len(read)} of {len(typed):,} read as another word"
              f" ({len(read) / max(len(typed), 1):.1%})")  # fmt: skip
        print("    " + ", ".join(f"{w} -> {r}" for w, r in read))


async def main_async(args: argparse.Namespace) -> None:
    corpus = Path(args.corpus)
    if not (corpus / "arxiv-2007-04.csv").exists():
        print(f"corpus not found at {corpus}; skipping")
        return
    embedder = load_embedder(None)
    assert embedder is not None, "the default embedding model did not load"
    papers = load_corpus(corpus)
    with tempfile.TemporaryDirectory() as tmp:
        store, index, vectors = await ingest_cost(papers, embedder, Path(tmp))
        try:
            await typo_quality(Paperboy(store, index, vectors=vectors), index, papers, args.seed)
        finally:
            await store.close()
    false_readings(papers)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
