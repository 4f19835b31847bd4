"""Ingest benchmark: papers per second through ``paperboy ingest``'s code path, with vectors
(the default WordLlama model) and lexical only (``PAPERBOY_EMBEDDINGS=off``), in the same run.

Each round opens a fresh app on an empty SQLite database exactly as the CLI does
(:func:`bot.app.open_app`, which loads the model), then times what ``paperboy ingest`` does
after that: :func:`bot.ingest.ingest_papers` (store, then the Tantivy index) and waiting for the
vectors to be computed. Generating the synthetic papers and loading the model are not counted.

    .venv/bin/python -m bench.ingest                        # 100k papers, 3 rounds of each
    .venv/bin/python -m bench.ingest --size 20000 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.corpus import DEFAULT_SEED_PAGE, Corpus, Vocabulary
from bot.app import open_app
from bot.config import Settings
from bot.ingest import ingest_papers
from bot.models import Paper

MODES = {"lexical only": "off", "with embeddings": "wordllama"}


@dataclass(frozen=True, slots=True)
class Round:
    mode: str
    seconds: float
    cpu_seconds: float
    stored_and_indexed_s: float
    papers: int

    @property
    def rate(self) -> float:
        return self.papers / self.seconds


async def one_round(papers: Sequence[Paper], mode: str, workdir: Path) -> Round:
    settings = Settings(db_path=workdir / "papers.db", embeddings=MODES[mode])
    async with open_app(settings) as opened:
        await opened.bot.wait_for_vectors(None)  # the catch-up every start begins: nothing yet
        start, cpu = time.perf_counter(), time.process_time()
        await ingest_papers(opened.store, opened.index, papers)
        stored_and_indexed = time.perf_counter() - start
        # What the CLI's ingest commands do before they exit (adapters/cli.py, embed=True).
        opened.bot.start_vector_catch_up()
        await opened.bot.wait_for_vectors(None)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
        if opened.bot.vectors is not None and len(opened.bot.vectors) != len(papers):
            raise RuntimeError(f"{len(opened.bot.vectors)} vectors for {len(papers)} papers")
    return Round(mode, seconds, cpu_seconds, stored_and_indexed, len(papers))


def report(rounds: list[Round], size: int) -> None:
    print(f"\n== ingest of {size:,} papers through paperboy ingest's code path ==")
    print(f"{'mode':<18}{'papers/s (median)':>18}{'rounds':>26}{'store+index':>13}{'CPU µs':>8}")
    for mode in MODES:
        mine = [r for r in rounds if r.mode == mode]
        if not mine:
            continue
        rates = " ".join(f"{r.rate / 1000:.2f}k" for r in mine)
        indexed = statistics.median(r.papers / r.stored_and_indexed_s for r in mine)
        cpu = statistics.median(r.cpu_seconds / r.papers * 1e6 for r in mine)
        median = statistics.median(r.rate for r in mine)
        print(f"{mode:<18}{median:>18,.0f}{rates:>26}{indexed:>12,.0f}/s{cpu:>8.0f}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    parser.add_argument("--seed-page", type=Path, default=DEFAULT_SEED_PAGE)
    args = parser.parse_args(argv)
    papers = [
        paper
        for batch in Corpus(Vocabulary.load(args.seed_page)).batches(args.size, 10_000)
        for paper in batch
    ]
    rounds = []
    with tempfile.TemporaryDirectory(prefix="paperboy-ingest-") as tmp:
        for n in range(args.rounds):
            # Alternate which mode goes first, so neither always meets a cold cache.
            modes = args.modes if n % 2 == 0 else list(reversed(args.modes))
            for mode in modes:
                shutil.rmtree(Path(tmp) / "run", ignore_errors=True)
                (Path(tmp) / "run").mkdir()
                done = asyncio.run(one_round(papers, mode, Path(tmp) / "run"))
                print(f"  round {n + 1} {mode}: {done.rate:,.0f} papers/s", file=sys.stderr)
                rounds.append(done)
    report(rounds, args.size)


if __name__ == "__main__":
    main()
