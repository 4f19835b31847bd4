from __future__ import annotations

import importlib.util
import re
from datetime import UTC, datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from types import ModuleType

import pytest

from bot.ids import parse_paper_ref
from bot.models import SAMPLE_PREFIX
from bot.sources.sample import SPREAD_DAYS, build_document, load_sample, parse_page, read_entries

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
# The saved page lives in the workspace's shared folder, beside the repository (CI included).
SEED = REPO.parent / "shared" / "seed" / "daily-papers-page.txt"
ARXIV_LOOKING = re.compile(r"\d{4}\.\d{4,5}|[a-z\-]+(\.[A-Z]{2})?/\d{7}")

PAGE = """new

Get trending papers in your email inbox!

Subscribe

byAK and the research community

Mar 14

First   Paper Title

An abstract that is longer than its title.

Second Paper

Another abstract, also longer than its title.
"""


def bundled_json() -> str:
    return resources.files("bot").joinpath("data", "sample_papers.json").read_text("utf-8")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_sample", REPO / "scripts/build_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_sample_holds_the_pages_papers_in_order() -> None:
    papers = load_sample(NOW)
    assert len(papers) == 75
    assert papers[0].title == (
        "Propagate Yourself: Exploring Pixel-Level Consistency for Unsupervised Visual "
        "Representation Learning"
    )
    assert papers[-1].title == "GeAR: Generation Augmented Retrieval"
    assert all(len(p.abstract) > len(p.title) for p in papers)


def test_sample_ids_are_unique_placeholders_not_arxiv_ids() -> None:
    papers = load_sample(NOW)
    ids = [p.id for p in papers]
    assert len(set(ids)) == len(ids)
    assert ids[:3] == ["sample-001", "sample-002", "sample-003"]
    for paper_id in ids:
        assert ARXIV_LOOKING.search(paper_id) is None
        ref = parse_paper_ref(paper_id)
        assert ref is not None and ref.id == paper_id and ref.id.startswith(SAMPLE_PREFIX)


def test_sample_invents_no_metadata() -> None:
    for paper in load_sample(NOW):
        assert (paper.authors, paper.categories, paper.code_url) == ((), (), None)
        assert paper.sources == frozenset({"sample"})
        assert paper.on_hf is False and paper.is_sample
        assert paper.pdf_url is None


def test_synthetic_upvotes_fall_with_page_position() -> None:
    votes = [p.hf_upvotes for p in load_sample(NOW)]
    assert votes == sorted(votes, reverse=True)
    assert len(set(votes)) == len(votes)
    assert min(votes) > 0


def test_synthetic_times_fall_in_the_last_few_days_and_differ_from_page_order() -> None:
    papers = load_sample(NOW)
    times = [p.published for p in papers]
    assert all(NOW - timedelta(days=SPREAD_DAYS) < t < NOW for t in times)
    assert all(t.tzinfo is UTC for t in times)
    assert len(set(times)) == len(times)
    newest_first = sorted(papers, key=lambda p: p.published, reverse=True)
    assert newest_first[:3] != papers[:3]


def test_sample_is_deterministic_and_follows_now() -> None:
    assert load_sample(NOW) == load_sample(NOW)
    later = load_sample(NOW + timedelta(days=1))[0].published
    assert later == load_sample(NOW)[0].published + timedelta(days=1)
    other_zone = NOW.astimezone(timezone(timedelta(hours=9)))
    assert load_sample(other_zone) == load_sample(NOW)


def test_sample_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        load_sample(datetime(2026, 11, 26, 12, 0))


def test_bundled_json_says_what_is_synthetic() -> None:
    assert "SYNTHETIC" in bundled_json()


def test_parse_page_skips_the_header_and_pairs_lines() -> None:
    entries = parse_page(PAGE)
    assert [(e.id, e.rank, e.title) for e in entries] == [
        ("sample-001", 1, "First Paper Title"),
        ("sample-002", 2, "Second Paper"),
    ]
    assert entries[1].abstract == "Another abstract, also longer than its title."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (PAGE.replace("Mar 14", "Today"), "no date line"),
        (PAGE + "\nA dangling title\n", "pairs"),
        ("new\n\nMar 14\n", "pairs"),
        (PAGE.replace("Second Paper\n", "", 1) + "\nOrphan\n", "pairing looks wrong"),
    ],
)
def test_parse_page_refuses_a_page_it_does_not_understand(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_page(text)


def test_build_script_writes_a_loadable_sample(tmp_path: Path) -> None:
    page = tmp_path / "page.txt"
    page.write_text(PAGE, encoding="utf-8")
    out = tmp_path / "sample.json"
    assert load_script().main([str(page), "--out", str(out)]) == 0
    assert [e.title for e in read_entries(out.read_text("utf-8"))] == [
        "First Paper Title",
        "Second Paper",
    ]


def test_build_script_reports_a_bad_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "page.txt"
    page.write_text("nothing useful", encoding="utf-8")
    assert load_script().main([str(page), "--out", str(tmp_path / "out.json")]) == 1
    assert "no date line" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.skipif(not SEED.is_file(), reason="the saved page is not beside this checkout")
def test_bundled_json_is_what_the_script_builds_from_the_saved_page() -> None:
    assert bundled_json() == build_document(SEED.read_text("utf-8"))
