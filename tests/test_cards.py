"""TL;DR and code links on paper cards: from Hugging Face, kept across upgrades and re-ingests."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any

from adapters.console import render
from bot.ingest import ingest_file
from bot.models import Paper
from bot.replies import PaperCard, PaperList, first_sentence, tldr
from bot.search import SearchIndex
from bot.sources.hf import parse_daily_papers
from bot.storage import Store, migrations
from tests.conftest import Chat
from tests.fakes.paper_servers import FIXTURES, fixture_bytes
from tests.papers import NOW, paper

DAY_FILE = "hf/daily_papers_2026-11-26.json"
PIXPRO_SUMMARY = (
    "Pixel-level contrastive pretext tasks learn dense features that transfer to detection and "
    "segmentation."
)


def day_papers() -> list[Paper]:
    return parse_daily_papers(fixture_bytes(DAY_FILE)).papers


def test_hugging_face_summary_repository_and_stars_are_read() -> None:
    first, second, third, _, fifth = day_papers()
    assert first.ai_summary == PIXPRO_SUMMARY
    assert (first.code_url, first.github_stars) == (
        "https://github.com/example-lab/pixpro-synthetic",
        1534,
    )
    assert third.github_stars == 98642
    assert (second.code_url, second.github_stars) == (None, None)
    assert fifth.ai_summary is None


def test_a_wrongly_typed_summary_or_star_count_costs_only_that_field() -> None:
    items: list[dict[str, Any]] = json.loads(fixture_bytes(DAY_FILE))
    items[0]["paper"]["ai_summary"] = 42
    items[0]["paper"]["githubStars"] = "lots"
    items[2]["paper"]["githubStars"] = True
    items[3]["paper"]["ai_summary"] = "   "
    result = parse_daily_papers(json.dumps(items).encode())
    assert len(result.papers) == 5 and result.skipped == 0
    first, _, third, fourth, _ = result.papers
    assert (first.ai_summary, first.github_stars, third.github_stars) == (None, None, None)
    assert fourth.ai_summary is None


def test_card_tldr_is_the_summary_else_the_abstracts_first_sentence() -> None:
    first, *_, fifth = day_papers()
    assert PaperCard(first).tldr == PIXPRO_SUMMARY
    # The fallback stops at the first full stop that ends a sentence, not at "Kusupati et al.".
    assert PaperCard(fifth).tldr == (
        "Common approaches rely on fixed-length embedding vectors from language models as "
        "sentence embeddings for downstream tasks such as semantic textual similarity (STS)."
    )


def test_tldr_is_one_short_line_even_for_a_long_sentence() -> None:
    long = "We " + "carefully " * 60 + "study things. Then more."
    line = tldr(None, long)
    assert line is not None and len(line) <= 200 and line.endswith("…")
    assert "\n" not in line
    assert tldr(None, "") is None
    assert tldr("  Spaced\n summary ", "Abstract.") == "Spaced summary"


def test_first_sentence_keeps_initials_and_abbreviations() -> None:
    text = "Work by Vincent Y. Zhao, e.g. On retrieval, is good. Second sentence."
    assert first_sentence(text) == "Work by Vincent Y. Zhao, e.g. On retrieval, is good."
    assert first_sentence("No full stop at all") == "No full stop at all"


def test_card_code_links_the_repository_with_its_stars() -> None:
    first, second, third, *_ = day_papers()
    code = PaperCard(first).code
    assert code is not None and code.url == "https://github.com/example-lab/pixpro-synthetic"
    assert code.label == "example-lab/pixpro-synthetic ★ 1.5k"
    third_code = PaperCard(third).code
    assert third_code is not None and third_code.label.endswith("★ 98.6k")
    assert PaperCard(second).code is None
    assert PaperCard(paper(1, code_url="javascript:alert(1)")).code is None


async def test_an_old_database_upgrades_and_a_re_ingest_fills_the_new_fields(
    tmp_path: Path, index: SearchIndex
) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for version, sql in migrations():
            if version > 3:
                break
            db.executescript(sql)
            db.execute(f"PRAGMA user_version = {version}")
        db.execute(
            "INSERT INTO papers (id, title, abstract, authors, published, first_seen, "
            "change_seq, code_url, on_hf, sources) VALUES ('2611.01001', 'Old title', "
            "'Old abstract.', '[]', '2026-11-24T00:00:00+00:00', '2026-11-24T00:00:00+00:00', 1, "
            "NULL, 1, 1)"
        )
    store = await Store.open(path)
    try:
        before = await store.get_paper("2611.01001")
        assert before is not None and (before.ai_summary, before.github_stars) == (None, None)
        report = await ingest_file(store, index, "hf", FIXTURES / DAY_FILE, now=NOW)
        assert report.ok
        after = await store.get_paper("2611.01001")
        assert after is not None
        assert (after.ai_summary, after.github_stars) == (PIXPRO_SUMMARY, 1534)
        assert after.code_url == "https://github.com/example-lab/pixpro-synthetic"
    finally:
        await store.close()


async def test_re_ingest_updates_stars_and_keeps_a_summary_hf_stopped_sending(
    store: Store,
) -> None:
    first = day_papers()[0]
    await store.upsert_papers([first], now=NOW)
    seq = await store.last_change_seq()
    await store.upsert_papers([replace(first, github_stars=2000, ai_summary=None)], now=NOW)
    stored = await store.get_paper(first.id)
    assert stored is not None
    assert (stored.github_stars, stored.ai_summary) == (2000, PIXPRO_SUMMARY)
    assert await store.last_change_seq() > seq
    # Nothing new: nothing changes, so the search index has nothing to catch up on.
    await store.upsert_papers([replace(first, github_stars=2000)], now=NOW)
    assert await store.last_change_seq() == seq + 1


async def test_console_card_shows_the_tldr_and_the_code(
    chat: Chat, store: Store, index: SearchIndex
) -> None:
    await ingest_file(store, index, "hf", FIXTURES / DAY_FILE, now=NOW)
    text = await chat("show 2611.01001")
    assert f"TL;DR: {PIXPRO_SUMMARY}" in text
    assert "Code: example-lab/pixpro-synthetic ★ 1.5k  https://github.com/" in text
    assert text.index("TL;DR") < text.index("Contrastive learning methods")


def test_the_console_says_the_first_sentence_once_when_it_is_the_tldr() -> None:
    two = paper(1, abstract="We fix streaming. It works well. Code is out.")
    one = paper(2, abstract="We fix streaming.")

    text = render(PaperList("Found", (PaperCard(two), PaperCard(one)), total=2))

    assert "   TL;DR: We fix streaming.\n   It works well. Code is out." in text
    assert text.count("We fix streaming.") == 2  # once for each paper
    summarised = render(PaperList("Found", (PaperCard(replace(two, ai_summary="Fixed.")),), 1))
    assert "   TL;DR: Fixed.\n   We fix streaming. It works well." in summarised
