"""Analyzer benchmark: what each filter of the free-text analyzer costs Tantivy, a paper.

Indexes the same synthetic abstracts (normalised as ``document_of`` does) into a one-field index
with the product's analyzer (``bot.search_schema.Analyzers.text``) and with one filter or the
positions left out, and prints the CPU each costs a paper (Tantivy's writer threads included).
It says where ingest's time goes in Tantivy, not what to drop: each filter is a feature.

    .venv/bin/python -m bench.analyzer                  # 50k papers, 3 rounds
    .venv/bin/python -m bench.analyzer --size 20000 --rounds 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Sequence

import tantivy

from bench.corpus import DEFAULT_SEED_PAGE, Corpus, Vocabulary
from bot.analysis import normalize
from bot.search_schema import Analyzers

VARIANTS = ("as shipped", "no stemmer", "no ASCII folding", "no long-word filter", "no positions")


def analyzer(variant: str) -> tantivy.TextAnalyzer:
    """The product's text analyzer (checked against it in main) minus what ``variant`` names."""
    filters = tantivy.Filter
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
    if variant != "no long-word filter":
        builder = builder.filter(filters.remove_long(40))
    builder = builder.filter(filters.lowercase())
    if variant != "no ASCII folding":
        builder = builder.filter(filters.ascii_fold())
    if variant != "no stemmer":
        builder = builder.filter(filters.stemmer("english"))
    return builder.build()


def cpu_per_paper(texts: Sequence[str], variant: str) -> float:
    schema = tantivy.SchemaBuilder()
    positions = "freq" if variant == "no positions" else "position"
    schema.add_text_field("text", tokenizer_name="text", index_option=positions)
    with tempfile.TemporaryDirectory(prefix="paperboy-analyzer-") as tmp:
        index = tantivy.Index(schema.build(), path=tmp)
        index.register_tokenizer("text", analyzer(variant))
        writer = index.writer(128_000_000, 2)
        documents = [tantivy.Document(text=[text]) for text in texts]
        cpu = time.process_time()
        for document in documents:
            writer.add_document(document)
        writer.commit()
        writer.wait_merging_threads()
        return (time.process_time() - cpu) / len(texts) * 1e6


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    papers = [
        paper
        for batch in Corpus(Vocabulary.load(DEFAULT_SEED_PAGE)).batches(args.size, 10_000)
        for paper in batch
    ]
    texts = [normalize(paper.abstract).text for paper in papers]
    sample = texts[0]
    if analyzer("as shipped").analyze(sample) != Analyzers().text.analyze(sample):
        raise SystemExit("the benchmark's analyzer no longer matches bot.search_schema's")
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for _ in range(args.rounds):
        for variant in VARIANTS:
            cpu[variant].append(cpu_per_paper(texts, variant))
    chars = statistics.mean(map(len, texts))
    print(f"\n== indexing {len(texts):,} abstracts ({chars:,.0f} characters each) in one field ==")
    print(f"{'analyzer':<22}{'CPU µs a paper (median)':>26}{'saves':>8}")
    shipped = statistics.median(cpu["as shipped"])
    for variant in VARIANTS:
        median = statistics.median(cpu[variant])
        print(f"{variant:<22}{median:>26.0f}{shipped - median:>8.0f}")


if __name__ == "__main__":
    main()
