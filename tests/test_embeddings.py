"""Paper vectors computed fast at ingest, equal to what WordLlama's own ``embed`` gives.

The model is the real one Paperboy ships (WordLlama's l2_supercat, loaded by WordLlama's own
loader from its wheel); nothing is downloaded.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from tokenizers import pre_tokenizers

from bot import embeddings
from bot.embeddings import MAX_CHARS, StaticEmbedder, normalise, paper_text
from bot.ingest import ingest_papers
from bot.models import Paper
from bot.search import ChangePage, SearchIndex
from bot.sources.sample import load_sample
from bot.storage import Store
from bot.vectors import VectorIndex
from tests.papers import NOW

# Texts where word-by-word tokenising could go wrong: runs of spaces, spaces at either end,
# line breaks and tabs, TeX, accents, other scripts, emoji, the tokenizer's own space sign and
# its special tokens (matched in the raw text), nothing at all, and more than MAX_CHARS.
AWKWARD = [
    "",
    " ",
    "   ",
    "a  b   c",
    " leading space",
    "trailing space ",
    "two\nlines\n\nand\ttabs",
    r"Schr\"odinger bridges with $\alpha$-divergences and \emph{diffusion}",
    "Schrödinger, Zoë and Łukasz: naïve café",
    "東京の画像認識 and Ελληνικά words",
    "emoji 🙂 in an abstract",
    "the \u2581 sign and \u2581\u2581two",
    "the <s> token starts a sentence and </s> ends it; <unk> is unknown",
    "pre-training LLMs (e.g. GPT-4) on 1.5T tokens; F1=0.93, p<0.05",
    "word " * 400,
]


@functools.cache
def wordllama() -> object:
    """WordLlama's own model object, loaded the way Paperboy loads it."""
    import wordllama as package
    from wordllama import WordLlama

    return WordLlama.load(cache_dir=Path(package.__file__).parent, disable_download=True)


@functools.cache
def shipped() -> StaticEmbedder:
    embedder = embeddings.load_embedder(None)
    assert isinstance(embedder, StaticEmbedder)
    return embedder


def wordllama_vectors(texts: list[str], model: object | None = None) -> np.ndarray:
    """What WordLlama's ``embed`` gives for the same texts, scaled to unit length."""
    model = model or wordllama()
    clipped = [text[:MAX_CHARS] for text in texts]
    return normalise(model.embed(clipped))  # type: ignore[attr-defined]


def sample_texts() -> list[str]:
    return [paper_text(p.title, p.abstract) for p in load_sample(NOW)]


def test_vectors_equal_wordllamas_own_embed_on_real_abstracts() -> None:
    texts = sample_texts()
    assert len(texts) >= 20
    ours = shipped().embed(texts)
    assert ours.shape == (len(texts), 256)
    np.testing.assert_allclose(ours, wordllama_vectors(texts), atol=2e-6)


def test_vectors_equal_wordllamas_own_embed_on_awkward_texts() -> None:
    ours = shipped().embed(AWKWARD)
    np.testing.assert_allclose(ours, wordllama_vectors(AWKWARD), atol=2e-6)
    assert not ours[0].any()  # no text, no tokens: a zero vector, as WordLlama gives
    assert np.linalg.norm(ours[1:], axis=1) == pytest.approx(1.0, abs=1e-5)


def test_a_texts_vector_does_not_depend_on_its_batch_or_what_was_seen_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = sample_texts()[:10] + AWKWARD
    monkeypatch.setattr(embeddings, "MAX_CACHED_WORDS", 50)  # remembered words start afresh
    embedder = embeddings.load_embedder(None)
    assert embedder is not None
    together = embedder.embed(texts)
    again = embedder.embed(list(reversed(texts)))[::-1]
    alone = np.vstack([embedder.embed([text]) for text in texts])
    np.testing.assert_allclose(again, together, atol=1e-6)
    np.testing.assert_allclose(alone, together, atol=1e-6)


def test_words_whose_hashes_collide_are_still_told_apart(monkeypatch: pytest.MonkeyPatch) -> None:
    # A multiplier of 0 hashes every word by its first byte: "▁model" and "▁method" collide.
    monkeypatch.setattr(embeddings, "_HASH_MULTIPLIER", 0)
    monkeypatch.setattr(embeddings, "_hash_powers", np.ones(1, dtype=np.uint64))
    texts = [*sample_texts()[:5], *AWKWARD]
    embedder = embeddings.load_embedder(None)
    assert embedder is not None
    np.testing.assert_allclose(embedder.embed(texts), wordllama_vectors(texts), atol=2e-6)


def test_a_tokenizer_that_splits_words_its_own_way_is_run_on_whole_texts() -> None:
    from wordllama.inference import WordLlamaInference

    model = wordllama()
    tokenizer = model.tokenizer.__class__.from_str(model.tokenizer.to_str())  # type: ignore[attr-defined]
    tokenizer.pre_tokenizer = pre_tokenizers.Digits(individual_digits=True)
    other = WordLlamaInference(model.embedding, tokenizer)  # type: ignore[attr-defined]
    ours = StaticEmbedder("digits", model.embedding, tokenizer)  # type: ignore[attr-defined]
    texts = ["trained on 12345 images in 2024", *AWKWARD[3:8]]
    np.testing.assert_allclose(ours.embed(texts), wordllama_vectors(texts, other), atol=2e-6)


# -- vectors computed while the search index writes ----------------------------------------


def many(count: int) -> list[Paper]:
    sample = load_sample(NOW)
    return [
        Paper(
            id=f"2401.{n:05d}",
            title=f"{sample[n % len(sample)].title} {n}",
            abstract=sample[n % len(sample)].abstract,
            authors=("A. Author",),
            published=NOW - timedelta(hours=n),
            categories=("cs.LG",),
        )
        for n in range(count)
    ]


async def test_an_ingest_computes_vectors_beside_the_index_from_one_read(
    store: Store, index: SearchIndex, tmp_path: Path
) -> None:
    vectors = VectorIndex.open(tmp_path / "vectors", shipped())
    index.share_pages_with(vectors)
    reads = 0
    changed_after = store.papers_changed_after

    async def counted(seq: int, limit: int = 5000) -> ChangePage:
        nonlocal reads
        reads += 1
        return await changed_after(seq, limit)

    store.papers_changed_after = counted  # type: ignore[method-assign]
    papers = many(40)
    await ingest_papers(store, index, papers[:25], now=NOW)
    await ingest_papers(store, index, papers[25:], now=NOW)

    assert len(vectors) == 40 and vectors.applied_seq() == index.applied_seq()
    assert reads == 2  # one page each time, read once for both
    assert await vectors.catch_up(store) == 0
    reopened = VectorIndex.open(tmp_path / "vectors", shipped())
    assert len(reopened) == 40
    wanted = shipped().embed([paper_text(papers[7].title, papers[7].abstract)])[0]
    assert reopened.nearest(wanted, 1)[0][0] == papers[7].id


async def test_vectors_behind_the_index_catch_up_on_their_own(
    store: Store, index: SearchIndex, tmp_path: Path
) -> None:
    papers = many(30)
    await ingest_papers(store, index, papers[:20], now=NOW)  # before the vectors existed
    vectors = VectorIndex.open(tmp_path / "vectors", shipped())
    index.share_pages_with(vectors)
    await ingest_papers(store, index, papers[20:], now=NOW)
    assert len(vectors) == 0  # not at the index's point: the page is left to its catch-up
    assert await vectors.catch_up(store) == 30
    assert len(vectors) == 30 and vectors.applied_seq() == index.applied_seq()


async def test_a_failing_embedder_does_not_stop_the_index(
    store: Store, index: SearchIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        name, dim = "broken", 4

        def embed(self, texts: object) -> np.ndarray:
            raise MemoryError("no room")

    vectors = VectorIndex.open(tmp_path / "vectors", Broken())  # type: ignore[arg-type]
    index.share_pages_with(vectors)
    await ingest_papers(store, index, many(5), now=NOW)
    assert index.num_docs == 5
    assert len(vectors) == 0
    assert "not applied beside the index" in caplog.text
