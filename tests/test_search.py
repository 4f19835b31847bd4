from __future__ import annotations

import json
import re
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest
import tantivy
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import search, search_plan
from bot.models import Paper
from bot.query import QueryError, parse_query
from bot.search import SearchIndex, SearchIndexError
from bot.storage import Store
from bot.topics import match_topics


def paper(
    paper_id: str,
    title: str,
    abstract: str,
    authors: tuple[str, ...],
    published: str,
    *categories: str,
) -> Paper:
    return Paper(
        id=paper_id,
        title=title,
        abstract=abstract,
        authors=authors,
        published=datetime.fromisoformat(published).replace(tzinfo=UTC),
        categories=categories,
    )


SINKS = paper(
    "2309.17453",
    "Efficient Streaming Language Models with Attention Sinks",
    "Deploying large language models in streaming applications such as multi-round dialogue "
    "is urgently needed, but long interactions exhaust memory. We observe that keeping the "
    "states of initial tokens, which we call attention sinks, recovers the performance of "
    "window attention.",
    ("Guangxuan Xiao", "Song Han"),
    "2023-09-29",
    "cs.CL",
)
PVT = paper(
    "2102.12122",
    "Pyramid Vision Transformer: A Versatile Backbone for Dense Prediction without Convolutions",
    "Although convolutional neural networks achieve great successes in computer vision, this "
    "work investigates a simple backbone useful for many dense prediction tasks such as object "
    "detection and semantic segmentation.",
    ("Wenhai Wang", "Enze Xie"),
    "2021-02-24",
    "cs.CV",
)
FLOW = paper(
    "2210.02747",
    "Flow Matching for Generative Modeling",
    "We introduce a new paradigm for generative modeling built on continuous normalizing "
    "flows, allowing us to train them at unprecedented scale. Diffusion paths are a special "
    "case of the probability paths we regress.",
    ("Yaron Lipman", "Ricky T. Q. Chen"),
    "2022-10-06",
    "cs.LG",
)
DDPM = paper(
    "2006.11239",
    "Denoising Diffusion Probabilistic Models",
    "We present high quality image synthesis results using diffusion probabilistic models, a "
    "class of latent variable models inspired by considerations from nonequilibrium "
    "thermodynamics.",
    ("Jonathan Ho", "Ajay Jain", "Pieter Abbeel"),
    "2020-06-19",
    "cs.LG",
    "stat.ML",
)
PROMPTAGATOR = paper(
    "2209.11755",
    "Promptagator: Few-shot Dense Retrieval From 8 Examples",
    "Much recent work has focused on tasks with limited supervision. We prompt a large "
    "language model with a handful of examples to create task-specific dense retrievers, and "
    "the small models we train improve prediction quality over strong baselines.",
    ("Zhuyun Dai", "Vincent Y. Zhao"),
    "2022-09-23",
    "cs.IR",
    "cs.CL",
)
LITSEARCH = paper(
    "2407.18940",
    "LitSearch: A Benchmark for Scientific Literature Search",
    "Literature search questions challenge modern search engines and retrieval systems. We "
    "benchmark state-of-the-art retrieval models and LLM-based reranking pipelines, and find a "
    "gap between BM25 and neural retrieval.",
    ("Anirudh Ajith", "Mengzhou Xia"),
    "2024-07-26",
    "cs.IR",
)
PHYSICAL = paper(
    "2002.01234",
    "Machine Learning for the Physical Layer: A Survey",
    "We survey learned receivers, channel estimation and semantic communication, and discuss "
    "open problems for sixth-generation wireless systems.",
    ("Jörg Wübben", "Zoë Ødegård", "Carsten Bockelmann"),
    "2020-02-04",
    "cs.IT",
    "eess.SP",
)
PAPERS = [SINKS, PVT, FLOW, DDPM, PROMPTAGATOR, LITSEARCH, PHYSICAL]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "p.db")
    await opened.upsert_papers(PAPERS)
    yield opened
    await opened.close()


@pytest.fixture
async def index(tmp_path: Path, store: Store) -> SearchIndex:
    opened = SearchIndex.open(tmp_path / "papers.index")
    await opened.catch_up(store)
    return opened


def ids(index: SearchIndex, text: str) -> list[str]:
    """The papers with every word (closest matches that lack one are left out)."""
    hits = index.search(parse_query(text), limit=20).hits
    return [hit.paper_id for hit in hits if hit.all_terms]


# -- what a person searching notices --------------------------------------------------------------


def test_title_match_ranks_above_abstract_only_match(index: SearchIndex) -> None:
    assert ids(index, "retrieval")[0] == PROMPTAGATOR.id
    assert set(ids(index, "retrieval")) == {PROMPTAGATOR.id, LITSEARCH.id}


def test_stemming_finds_other_forms(index: SearchIndex) -> None:
    assert ids(index, "transformers") == [PVT.id]
    assert PROMPTAGATOR.id in ids(index, "retriever")


def test_phrase_needs_adjacent_words(index: SearchIndex) -> None:
    assert set(ids(index, "dense prediction")) == {PVT.id, PROMPTAGATOR.id}
    assert ids(index, '"dense prediction"') == [PVT.id]


def test_hyphenated_word_is_a_phrase(index: SearchIndex) -> None:
    assert ids(index, "multi-round") == [SINKS.id]
    assert ids(index, "round-multi") == []


def test_hyphenated_word_finds_it_written_apart_after_it_written_as_one() -> None:
    apart = paper(
        "2401.00010", "Vision", "Pre training at scale for vision.", ("A B",), "2024-01-02"
    )
    joined = paper(
        "2401.00011", "Vision", "Pre-training at scale for vision.", ("A B",), "2024-01-02"
    )
    other = paper(
        "2401.00012", "Vision", "Training vision models at scale.", ("A B",), "2024-01-02"
    )
    index = SearchIndex.open(None)
    index.add_or_replace([apart, joined, other])
    assert ids(index, "pre-training") == [joined.id, apart.id]
    assert ids(index, "vision -pre-training") == [other.id]  # excluded however it is written
    assert set(ids(index, "vision -pretraining")) == {apart.id, other.id}
    # What is excluded is not marked in what is shown.
    hit = index.search(parse_query("vision -pre-training")).hits[0]
    assert hit.snippet is not None
    assert hit.snippet.marked("[", "]") == "Training [vision] models at scale."


def test_exclusion(index: SearchIndex) -> None:
    assert ids(index, "dense -retrieval") == [PVT.id]
    assert set(ids(index, 'models -"language model"')) == {FLOW.id, DDPM.id, LITSEARCH.id}


def test_papers_found_another_way_are_held_to_the_explicit_syntax(index: SearchIndex) -> None:
    everyone = [p.id for p in PAPERS]
    assert index.meeting(parse_query('anything "dense prediction"'), everyone) == {PVT.id}
    assert index.meeting(parse_query("anything author:wubben"), everyone) == {PHYSICAL.id}
    assert index.meeting(parse_query("dense -retrieval"), [PVT.id, PROMPTAGATOR.id]) == {PVT.id}
    assert index.meeting(parse_query("plain words only"), everyone) == set(everyone)
    assert index.meeting(parse_query('"no paper says this"'), everyone) == set()


def test_or(index: SearchIndex) -> None:
    assert set(ids(index, "diffusion OR sinks")) == {FLOW.id, DDPM.id, SINKS.id}
    assert ids(index, "diffusion OR denoising flow") == [FLOW.id]


def test_author_with_and_without_accents(index: SearchIndex) -> None:
    assert ids(index, "author:wubben") == [PHYSICAL.id]
    assert ids(index, "author:Wübben") == [PHYSICAL.id]
    assert ids(index, 'author:"jorg wubben"') == [PHYSICAL.id]
    assert ids(index, "author:odegard") == [PHYSICAL.id]
    assert ids(index, 'author:"wubben jorg"') == []


def test_author_phrase_does_not_span_two_people(index: SearchIndex) -> None:
    assert ids(index, 'author:"xiao song"') == []
    assert ids(index, 'author:"song han"') == [SINKS.id]


def test_plain_word_matches_author_names(index: SearchIndex) -> None:
    assert ids(index, "lipman") == [FLOW.id]


def test_category(index: SearchIndex) -> None:
    assert set(ids(index, "cat:CS.ir")) == {PROMPTAGATOR.id, LITSEARCH.id}
    assert set(ids(index, "cat:cs.CL")) == {SINKS.id, PROMPTAGATOR.id}
    assert ids(index, "models cat:stat.ML") == [DDPM.id]
    assert ids(index, "retrieval -cat:cs.CL") == [LITSEARCH.id]


def test_since(index: SearchIndex) -> None:
    assert ids(index, "dense since:2022") == [PROMPTAGATOR.id]
    assert ids(index, "dense since:2021-02-24") != [PROMPTAGATOR.id]
    assert ids(index, "dense since:2021-02-25") == [PROMPTAGATOR.id]


def test_word_longer_than_the_index_keeps_matches_nothing(index: SearchIndex) -> None:
    assert ids(index, "x" * 41) == []
    assert ids(index, "dense -" + "x" * 41) != []


def test_total_and_paging(index: SearchIndex) -> None:
    query = parse_query("models")
    first = index.search(query, limit=2)
    rest = index.search(query, limit=10, offset=2)
    assert first.total == rest.total == len(first.hits) + len(rest.hits) > 2
    assert not {h.paper_id for h in first.hits} & {h.paper_id for h in rest.hits}
    assert first.hits[0].score >= first.hits[1].score


def test_snippets_mark_matched_words(index: SearchIndex) -> None:
    (hit,) = index.search(parse_query("attention sinks")).hits
    assert hit.snippet is not None
    marked = {hit.snippet.text[start:end].lower() for start, end in hit.snippet.spans}
    assert marked == {"attention", "sinks"}
    assert "*attention sinks*" not in hit.snippet.marked("*", "*")
    assert "*sinks*" in hit.snippet.marked("*", "*")
    assert len(hit.snippet.text) <= search.SNIPPET_CHARS


def test_snippet_spans_count_characters_not_bytes(index: SearchIndex) -> None:
    hit = index.search(parse_query("semantic communication wubben")).hits[0]
    assert hit.paper_id == PHYSICAL.id and hit.snippet is not None
    assert hit.snippet.marked("[", "]").count("[") == 2
    assert "[semantic] [communication]" in hit.snippet.marked("[", "]")


def test_long_abstract_snippet_is_cut_with_ellipses(tmp_path: Path) -> None:
    index = SearchIndex.open(None)
    filler = "We describe earlier methods at length. " * 30
    long = replace(SINKS, abstract=filler + "Our key finding is the attention sink. " + filler)
    index.add_or_replace([long])
    (hit,) = index.search(parse_query("sink")).hits
    assert hit.snippet is not None
    assert hit.snippet.text.startswith("…") and hit.snippet.text.endswith("…")
    assert hit.snippet.marked("<", ">").count("<sink>") == 1
    assert len(hit.snippet.text) <= search.SNIPPET_CHARS


def test_no_snippet_when_only_the_title_matches(index: SearchIndex) -> None:
    (hit,) = index.search(parse_query("pyramid")).hits
    assert hit.snippet is None
    (plain,) = index.search(parse_query("pyramid"), snippets=False).hits
    assert plain.paper_id == hit.paper_id


# -- keeping up with the store --------------------------------------------------------------------


async def test_catch_up_applies_new_and_changed_papers_once(store: Store, tmp_path: Path) -> None:
    index = SearchIndex.open(tmp_path / "idx")
    assert await index.catch_up(store) == len(PAPERS)
    assert await index.catch_up(store) == 0
    revised = replace(DDPM, version=2, title="Denoising Diffusion Models, Revised")
    new = paper("2501.00001", "Agents that browse", "Web agents.", ("A. Person",), "2025-01-02")
    await store.upsert_papers([revised, new])
    assert await index.catch_up(store) == 2
    assert index.num_docs == len(PAPERS) + 1
    assert ids(index, "revised") == [DDPM.id]
    assert ids(index, "agents browse") == [new.id]
    assert await index.catch_up(store) == 0
    assert index.applied_seq() == await store.last_change_seq()


async def test_catch_up_reads_a_change_larger_than_a_page(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "CATCH_UP_PAGE", 2)
    index = SearchIndex.open(tmp_path / "idx")
    assert await index.catch_up(store) == len(PAPERS)
    assert index.num_docs == len(PAPERS)


async def test_a_failed_write_leaves_the_position_for_next_time(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for revised in PAPERS:  # one change each, so pages are read ahead
        await store.upsert_papers([replace(revised, version=2)])
    monkeypatch.setattr(search, "CATCH_UP_PAGE", 2)
    index = SearchIndex.open(tmp_path / "idx")

    def fail(papers: list[Paper], seq: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(index, "_write", fail)
    with pytest.raises(OSError, match="disk full"):
        await index.catch_up(store)
    assert index.applied_seq() == 0
    monkeypatch.undo()
    assert await index.catch_up(store) == len(PAPERS)


async def test_reapplying_is_harmless(store: Store, index: SearchIndex) -> None:
    index.add_or_replace(PAPERS)
    index.add_or_replace(PAPERS[:2])
    assert index.num_docs == len(PAPERS)
    assert ids(index, "transformers") == [PVT.id]


async def test_rebuild_restores_a_deleted_index(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "idx"
    index = SearchIndex.open(path)
    await index.catch_up(store)
    shutil.rmtree(path)
    assert await index.rebuild(store) == len(PAPERS)
    assert ids(index, "transformers") == [PVT.id]
    assert index.applied_seq() == await store.last_change_seq()
    assert SearchIndex.open(path).num_docs == len(PAPERS)


async def test_rebuild_drops_what_the_store_does_not_have(store: Store, index: SearchIndex) -> None:
    stray = paper("2501.99999", "Dense stray", "Not in the store.", ("Nobody",), "2025-01-01")
    index.add_or_replace([stray])
    assert await index.rebuild(store) == len(PAPERS)
    assert index.num_docs == len(PAPERS)
    assert stray.id not in ids(index, "dense")


class _FailingStore:
    """A store that breaks after its first page, as a disk or a network might."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._pages = 0

    async def papers_changed_after(self, seq: int, limit: int = 5000) -> list[tuple[int, Paper]]:
        self._pages += 1
        if self._pages > 1:
            raise OSError("database went away")
        return await self._store.papers_changed_after(seq, limit)


async def test_a_failed_rebuild_keeps_the_old_index(
    store: Store, index: SearchIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    for revised in PAPERS:  # one change each, so the rebuild reads several pages
        await store.upsert_papers([replace(revised, version=2)])
    monkeypatch.setattr(search, "CATCH_UP_PAGE", 2)
    with pytest.raises(OSError, match="went away"):
        await index.rebuild(_FailingStore(store))
    index.reload()
    assert index.num_docs == len(PAPERS)
    assert ids(index, "transformers") == [PVT.id]
    assert await index.rebuild(store) == len(PAPERS)


def test_an_unreadable_index_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    SearchIndex.open(path).add_or_replace(PAPERS)
    (path / "meta.json").write_text("{not json")
    reopened = SearchIndex.open(path)
    assert reopened.num_docs == 0
    assert reopened.applied_seq() == 0


async def test_in_memory_index_for_subscriptions(store: Store) -> None:
    index = SearchIndex.open(None)
    assert await index.catch_up(store) == len(PAPERS)
    assert index.matching_ids(parse_query("diffusion"), limit=10) == [DDPM.id, FLOW.id]
    assert index.matching_ids(parse_query("diffusion"), limit=1) == [DDPM.id]
    assert await index.rebuild(store) == len(PAPERS)
    assert index.num_docs == len(PAPERS)


def test_an_index_from_another_version_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    SearchIndex.open(path).add_or_replace(PAPERS)
    (path / search.STATE_FILE).write_text(json.dumps({"schema_version": 0, "last_seq": 9}))
    reopened = SearchIndex.open(path)
    assert reopened.num_docs == 0
    assert reopened.applied_seq() == 0


async def test_an_index_from_before_forgiving_search_is_rebuilt_and_found(
    tmp_path: Path, store: Store
) -> None:
    # What version 1 wrote: the abstract as a searchable text field, no combined text field.
    path = tmp_path / "idx"
    path.mkdir()
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("abstract", stored=True)
    old = tantivy.Index(builder.build(), path=str(path))
    writer = old.writer(15_000_000, 1)
    writer.add_document(tantivy.Document(id="x", abstract="pre-training"))
    writer.commit()
    writer.wait_merging_threads()
    (path / search.STATE_FILE).write_text(json.dumps({"schema_version": 1, "last_seq": 9}))
    reopened = SearchIndex.open(path)
    assert reopened.num_docs == 0
    await reopened.catch_up(store)
    assert ids(reopened, "fewshot") == ids(reopened, "few-shot") == [PROMPTAGATOR.id]


# -- several processes --------------------------------------------------------------------------


def test_another_instance_sees_commits_after_reload(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    bot, cli = SearchIndex.open(path), SearchIndex.open(path)
    assert bot.num_docs == 0
    cli.add_or_replace(PAPERS[:3])
    bot.reload()
    assert bot.num_docs == 3
    assert ids(bot, "transformers") == [PVT.id]


def _hold_writer(path: Path) -> tantivy.IndexWriter:
    """A writer on the same directory, as another process would hold it."""
    return tantivy.Index.open(str(path)).writer(15_000_000, 1)


def test_waits_for_another_writer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    index = SearchIndex.open(tmp_path / "idx")
    writer = _hold_writer(tmp_path / "idx")
    threading.Timer(0.2, writer.wait_merging_threads).start()
    index.add_or_replace(PAPERS)
    assert index.num_docs == len(PAPERS)


def test_gives_up_on_a_writer_that_stays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "LOCK_TIMEOUT", 0.2)
    index = SearchIndex.open(tmp_path / "idx")
    writer = _hold_writer(tmp_path / "idx")
    with pytest.raises(SearchIndexError, match="another process"):
        index.add_or_replace(PAPERS)
    writer.wait_merging_threads()
    index.add_or_replace(PAPERS)  # and the lock is usable again
    assert index.num_docs == len(PAPERS)


def test_concurrent_readers_and_a_writer(tmp_path: Path) -> None:
    index = SearchIndex.open(tmp_path / "idx")
    index.add_or_replace(PAPERS)
    errors: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(50):
                assert index.search(parse_query("dense OR diffusion")).total >= 3
        except BaseException as error:
            errors.append(error)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    for _ in range(5):
        index.add_or_replace(PAPERS[:2])
    for reader in readers:
        reader.join()
    assert errors == []


# -- any text is safe ---------------------------------------------------------------------------


@cache
def _shared_index() -> SearchIndex:
    index = SearchIndex.open(None)
    index.add_or_replace(PAPERS)
    return index


_PIECES = st.sampled_from(
    ["OR", "-", '"', "author:", "cat:cs.CL", "since:2024", "dense", "ü", "x" * 45, "pre-train"]
)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60) | st.lists(_PIECES, max_size=10).map(" ".join))
def test_any_text_searches_or_fails_with_query_error(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError:
        return
    page = _shared_index().search(query, limit=3)
    assert page.total >= len(page.hits)


# -- forgiving free text: spellings meet, and one missing word never empties the page -------------

TEX = paper(
    "0704.0001",
    'Schr\\"odinger operators with $\\alpha$-stable noise',
    'We study \\emph{robust} estimates for $O(n^2)$ solvers of the Schr\\"odinger equation and '
    "compare \\textbf{pre-training} of CNNs on GPUs with LLMs.",
    ("Ana Pérez",),
    "2007-04-02",
    "math-ph",
)
JOINED = paper(
    "2401.00002",
    "Pretraining Transformers without Labels",
    "Self-supervised pretraining of vision transformers with Schrödinger bridges.",
    ("B. Author",),
    "2024-01-02",
    "cs.CV",
)


@pytest.fixture
def spelled() -> SearchIndex:
    index = SearchIndex.open(None)
    index.add_or_replace([*PAPERS, TEX, JOINED])
    return index


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("pretraining", {TEX.id, JOINED.id}),
        ("pre-training", {TEX.id, JOINED.id}),
        ('"pre training"', {TEX.id}),
        ("selfsupervised", {JOINED.id}),
        ("self-supervised", {JOINED.id}),
        ("LLM", {TEX.id, LITSEARCH.id}),
        ("llms", {TEX.id, LITSEARCH.id}),
        ("CNN", {TEX.id}),
        ("GPU", {TEX.id}),
        ("transformer", {PVT.id, JOINED.id}),
        ("schrodinger", {TEX.id, JOINED.id}),
        ("Schrödinger", {TEX.id, JOINED.id}),
        ("alpha stable", {TEX.id}),
        ("emph", set()),
        ("textbf", set()),
    ],
)
def test_spellings_meet(spelled: SearchIndex, query: str, expected: set[str]) -> None:
    assert set(ids(spelled, query)) == expected


BRITISH = paper(
    "0704.0002",
    "Colour constancy by optimisation of neighbourhood statistics",
    "We estimate the colour of the illuminant by optimising statistics of each pixel's "
    "neighbourhood, and analyse the behaviour of the estimate at the centre of the image.",
    ("C. Briton",),
    "2007-04-02",
    "cs.CV",
)
AMERICAN = paper(
    "2401.00003",
    "Color constancy with learned optimization",
    "A network trained on a catalog of scenes predicts the color of the light source; we "
    "analyze its behavior near the center of the image and in each pixel's neighborhood.",
    ("D. Yankee",),
    "2024-01-03",
    "cs.CV",
)


@pytest.fixture
def two_englishes() -> SearchIndex:
    index = SearchIndex.open(None)
    index.add_or_replace([*PAPERS, BRITISH, AMERICAN])
    return index


@pytest.mark.parametrize(
    "query",
    ["colour constancy", "color constancy", "optimisation", "optimization", "analyze behaviour",
     "neighborhood centre", "colours"],
)  # fmt: skip
def test_british_and_american_spellings_find_each_other(
    two_englishes: SearchIndex, query: str
) -> None:
    page = two_englishes.search(parse_query(query))
    assert page.all_terms_matched
    assert {hit.paper_id for hit in page.hits} == {BRITISH.id, AMERICAN.id}


def test_the_other_spelling_is_excluded_and_marked_too(two_englishes: SearchIndex) -> None:
    assert ids(two_englishes, "constancy -colour") == []
    assert ids(two_englishes, '"colour constancy"') == [BRITISH.id]  # a phrase is as typed
    hit = two_englishes.search(parse_query("colour")).hits
    american = next(h for h in hit if h.paper_id == AMERICAN.id)
    assert american.snippet is not None and "[color]" in american.snippet.marked("[", "]")
    assert set(match_topics([BRITISH, AMERICAN], ["colour"])["colour"]) == {BRITISH.id, AMERICAN.id}


def test_snippet_marks_the_words_as_written_around_tex(spelled: SearchIndex) -> None:
    hit = spelled.search(parse_query("pretraining robust schrodinger llm")).hits[0]
    assert hit.paper_id == TEX.id and hit.snippet is not None
    marked = hit.snippet.marked("[", "]")
    assert "\\emph{[robust]}" in marked
    assert "\\textbf{[pre-training]}" in marked
    assert '[Schr\\"odinger]' in marked
    assert "with [LLMs]." in marked


def test_a_missing_word_gives_the_closest_matches_all_words_first(index: SearchIndex) -> None:
    page = index.search(parse_query("dense retrieval zyxwvut"))
    assert not page.all_terms_matched
    assert page.terms == ("dense", "retrieval", "zyxwvut")
    assert page.hits[0].paper_id == PROMPTAGATOR.id  # dense and retrieval; the rest have one
    assert {hit.paper_id for hit in page.hits} == {PROMPTAGATOR.id, PVT.id, LITSEARCH.id}
    assert not any(hit.all_terms for hit in page.hits)


def test_papers_with_every_word_rank_above_those_with_most(index: SearchIndex) -> None:
    page = index.search(parse_query("dense retrieval"))
    assert page.all_terms_matched and page.terms == ("dense", "retrieval")
    assert [hit.all_terms for hit in page.hits] == [True, False, False]
    assert page.hits[0].paper_id == PROMPTAGATOR.id


def test_a_question_needs_only_its_content_words(index: SearchIndex) -> None:
    page = index.search(parse_query("what are the papers about attention sinks"))
    assert page.all_terms_matched and page.terms == ("attention", "sinks")
    assert page.hits[0].paper_id == SINKS.id


def test_a_questions_common_words_in_a_short_title_do_not_outrank_its_subject() -> None:
    # Few titles hold "simple" or "model", so in the title field alone they look rare; a short
    # title made of them used to outrank the paper the question is about.
    simple = paper("2401.00001", "A Simple Model", "A simple model of graphs.", (), "2024-01-01")
    hawking = paper(
        "2401.00002",
        "Hawking radiation from a flowing fluid",
        "A fluid flowing faster than its sound waves traps them behind a horizon, an analogue "
        "of black holes; we measure the thermal spectrum it emits in a water channel.",
        (),
        "2024-01-02",
    )
    others = [
        paper(f"2401.{n:05d}", f"Graphs, part {n}", "A simple model of graphs.", (), "2024-01-03")
        for n in range(3, 12)
    ]
    index = SearchIndex.open(None)
    index.add_or_replace([simple, hawking, *others])
    page = index.search(parse_query("is there a simple model of why black holes glow"))
    assert not page.all_terms_matched  # no paper says "glow"
    assert [hit.paper_id for hit in page.hits[:2]] == [hawking.id, simple.id]


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        ('"retrieval dense" zyxwvut', set()),  # a quoted phrase is required
        ('"dense retrievers" zyxwvut', {PROMPTAGATOR.id}),
        ("dense retrieval zyxwvut -cat:cs.IR", {PVT.id}),
        ("dense retrieval zyxwvut -prediction", {LITSEARCH.id}),
        ("dense zyxwvut author:dai", {PROMPTAGATOR.id}),
        ("dense zyxwvut cat:cs.CV", {PVT.id}),
        ("dense zyxwvut since:2022", {PROMPTAGATOR.id}),
    ],
)
def test_explicit_syntax_still_holds_for_closest_matches(
    index: SearchIndex, query: str, allowed: set[str]
) -> None:
    page = index.search(parse_query(query))
    assert {hit.paper_id for hit in page.hits} == allowed


def test_a_topic_needs_every_word_where_search_forgives_one(index: SearchIndex) -> None:
    topic = "attention sinks pyramid"  # no paper has all three
    assert match_topics(PAPERS, [topic]) == {topic: []}
    assert match_topics(PAPERS, ["attention sinks"]) == {"attention sinks": [SINKS.id]}
    page = index.search(parse_query(topic))
    assert not page.all_terms_matched
    assert page.hits[0].paper_id in {SINKS.id, PVT.id}
    assert {SINKS.id, PVT.id} <= {hit.paper_id for hit in page.hits}


def test_a_topic_keeps_its_stop_words() -> None:
    with_the = paper("2401.00003", "Scaling the models", "We scale.", ("A. B",), "2024-01-03")
    without = paper("2401.00004", "Scaling models", "We scale.", ("A. B",), "2024-01-04")
    assert match_topics([with_the, without], ["the models"]) == {"the models": [with_the.id]}


def test_a_phrase_of_stop_words_finds_papers_that_have_it(index: SearchIndex) -> None:
    # Pairs of stop words are indexed as one term, so this does not check every paper's text.
    assert ids(index, '"of the"') == [FLOW.id]
    assert ids(index, '"for the" survey') == [PHYSICAL.id]
    assert set(ids(index, '"such as"')) == {PVT.id, SINKS.id}
    assert ids(index, '"the of"') == []


def test_a_phrase_of_stop_words_finds_it_before_punctuation() -> None:
    asked = paper("2401.00020", "Scaling laws: where are we?", "A survey.", ("A B",), "2024-01-02")
    ended = paper("2401.00021", "Graphs", "We beat all of them.", ("A B",), "2024-01-02")
    broken = paper("2401.00022", "Graphs", "Where are. We go.", ("A B",), "2024-01-02")
    index = SearchIndex.open(None)
    index.add_or_replace([asked, ended, broken])
    assert ids(index, '"where are we"') == [asked.id]
    assert ids(index, '"of them"') == [ended.id]


def test_scores_only_go_down_the_list(index: SearchIndex) -> None:
    page = index.search(parse_query("attention sinks prediction dense"), limit=20)
    scores = [hit.score for hit in page.hits]
    assert scores == sorted(scores, reverse=True)
    assert all(hit.score <= hit.bm25 for hit in page.hits)


# -- many matches: the top from a tier, the total estimated ---------------------------------------

_WORDS = [
    "model",
    "training",
    "data",
    "graph",
    "learning",
    "network",
    "vision",
    "language",
    "robust",
    "sparse",
    "attention",
    "diffusion",
    "kernel",
    "policy",
    "reward",
]


@cache
def _crowded_index() -> SearchIndex:
    """400 papers over a few words, so common words and phrases match most of them."""
    import random

    rng, compounds = random.Random(7), random.Random(8)
    papers = []
    for n in range(400):
        title = " ".join(rng.choice([*_WORDS, "the"]) for _ in range(rng.randint(3, 8)))
        words = [rng.choice([*_WORDS, "and", "the", "of", "with"]) for _ in range(60)]
        words += [word for word in ("quasar", "lepton", "sparse-reward") if rng.random() < 0.03]
        # Common joined ("graphlearning" in most papers), and "graph learning" apart in many.
        words += ["graph-learning"] * compounds.randint(1, 2) * (compounds.random() < 0.7)
        papers.append(paper(f"2401.{n:05d}", title, " ".join(words), ("A B",), "2024-01-02"))
    # Short papers saying "boson" again and again: they outrank the long ones that mention the
    # rarer "quasar" once, so papers with "quasar" cannot vouch for "quasar boson"'s top.
    for n in range(30):
        abstract = "boson " * 8 + " ".join(rng.choice(_WORDS) for _ in range(3))
        papers.append(paper(f"2402.{n:05d}", "boson", abstract, ("C D",), "2024-01-02"))
    # Likewise "gluon", said five times in short papers, outranks "quark", said once in very
    # long ones, though "quark" is far rarer.
    for n in range(6):
        abstract = "quark " + " ".join(rng.choice(_WORDS) for _ in range(2000))
        papers.append(paper(f"2403.{n:05d}", "long", abstract, ("E F",), "2024-01-02"))
    for n in range(250):
        papers.append(paper(f"2404.{n:05d}", "short", "gluon " * 5, ("G H",), "2024-01-02"))
    index = SearchIndex.open(None)
    index.add_or_replace(papers)
    return index


@pytest.mark.parametrize(
    ("text", "vouches"),
    [("model", True), ("graph", True), ('"model training"', True), ("the", True),
     ("quasar training zzqxv", True), ("lepton sparse reward zzqxv", True),
     ("quasar boson zzqxv", False), ("quark gluon zzqxv", False), ("sparse-reward", True),
     ("model sparse-reward", True), ("graph-learning", True), ("robust graph-learning", True)],
)  # fmt: skip
def test_top_from_a_tier_is_the_top_of_every_match(
    monkeypatch: pytest.MonkeyPatch, text: str, vouches: bool
) -> None:
    index = _crowded_index()
    query = parse_query(text)
    exact = index.search(query, limit=5, snippets=False)
    monkeypatch.setattr(search_plan, "EXACT_COUNT_UP_TO", 0)
    vouched = []
    top = search_plan._Tier.top

    def counted(tier: search_plan._Tier, searcher: tantivy.Searcher, limit: int) -> list[object]:
        hits = top(tier, searcher, limit)
        vouched.append(bool(hits))
        return hits  # type: ignore[return-value]

    monkeypatch.setattr(search_plan._Tier, "top", counted)
    fast = index.search(query, limit=5, snippets=False)
    # Same papers in the same order; scores alike up to the order floats were added in.
    assert [h.paper_id for h in fast.hits] == [h.paper_id for h in exact.hits]
    assert [h.score for h in fast.hits] == pytest.approx([h.score for h in exact.hits], rel=1e-6)
    assert fast.all_terms_matched == exact.all_terms_matched
    assert any(vouched) == vouches


def test_many_matches_are_estimated_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    index = _crowded_index()
    exact = index.search(parse_query("model training"), limit=5)
    assert exact.total_is == "exact"
    monkeypatch.setattr(search_plan, "EXACT_COUNT_UP_TO", 0)
    about = index.search(parse_query("model training"), limit=5)
    assert about.total_is == "about"
    assert exact.total / 2 <= about.total <= exact.total * 2
    phrase = index.search(parse_query('"model training"'), limit=5)
    assert (phrase.total_is, phrase.total, len(phrase.hits)) == ("at least", 6, 5)
    # A hyphenated word is mostly found joined, whose frequency the index knows.
    monkeypatch.setattr(search_plan, "EXACT_COUNT_UP_TO", 20_000)
    compound = index.search(parse_query("graph-learning"), limit=5)
    monkeypatch.setattr(search_plan, "EXACT_COUNT_UP_TO", 0)
    estimated = index.search(parse_query("graph-learning"), limit=5)
    assert (compound.total_is, estimated.total_is) == ("exact", "about")
    assert compound.total / 2 <= estimated.total <= compound.total * 2
    few = index.search(parse_query("zzqxv OR qqzzx"), limit=5)
    assert (few.total_is, few.total) == ("exact", 0)


# -- typos ------------------------------------------------------------------------------------

BINARIES = paper(
    "0704.0003",
    "Binary neutron star mergers",
    "Mergers of binary neutron stars emit gravitational waves.",
    ("A. Astronomer",),
    "2007-04-03",
    "astro-ph.HE",
)


@pytest.fixture(scope="module")
def with_binaries() -> SearchIndex:
    index = SearchIndex.open(None)
    index.add_or_replace([*PAPERS, BINARIES])
    return index


def readings(index: SearchIndex, text: str) -> list[tuple[str, str]]:
    return [(r.typed, r.read_as) for r in index.read_typos(parse_query(text))[1]]


def test_a_typo_is_read_as_the_word_papers_write(with_binaries: SearchIndex) -> None:
    # "segmention" has the same stem, as many papers, and is no word: the English one wins.
    assert readings(with_binaries, "semantic segmentaion") == [("segmentaion", "segmentation")]
    assert readings(with_binaries, "neutron stra mergerss") == [("mergerss", "mergers")]
    # The papers have the stem "binar" ("binary"), but none writes "binariity", the only
    # string one edit from "binarity" with it: a real word the papers lack is left alone.
    assert readings(with_binaries, "binarity") == []


_INDEXED_WORDS = sorted(
    {w for p in [*PAPERS, BINARIES] for w in re.findall(r"[A-Za-z]+", f"{p.title} {p.abstract}")}
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_INDEXED_WORDS), min_size=1, max_size=4))
def test_words_papers_have_are_never_read_as_others(
    with_binaries: SearchIndex, words: list[str]
) -> None:
    query = parse_query(" ".join(words))
    assert with_binaries.read_typos(query) == (query, ())
