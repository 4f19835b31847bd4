"""BibTeX and CSV files a reference manager or a spreadsheet reads back as they were written."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import bibtexparser
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.export import (
    CSV_HEADER,
    ExportItem,
    bibtex_text,
    citation_key,
    last_name_first,
    to_bibtex,
    to_csv,
)
from bot.models import Paper, SavedPaper
from tests.papers import paper

ATTENTION = Paper(
    id="1706.03762",
    title="Attention Is All You Need",
    abstract="The dominant sequence transduction models are based on recurrent networks.",
    authors=("Ashish Vaswani", "Noam Shazeer", "Ludwig van Beethoven", "Martin Luther King Jr."),
    published=datetime(2017, 6, 12, tzinfo=UTC),
    categories=("cs.CL", "cs.LG"),
)


def parse(text: str) -> bibtexparser.Library:
    library = bibtexparser.parse_string(text)
    assert not library.failed_blocks, [block.error for block in library.failed_blocks]
    return library


def test_an_entry_carries_the_arxiv_fields_reference_managers_need() -> None:
    library = parse(to_bibtex([ExportItem(ATTENTION, votes=3)]))
    (entry,) = library.entries
    assert entry.entry_type == "misc"
    assert entry.key == "vaswani2017attention"
    assert entry["eprint"] == "1706.03762"
    assert entry["archivePrefix"] == "arXiv"
    assert entry["primaryClass"] == "cs.CL"
    assert entry["title"] == "Attention Is All You Need"
    assert entry["year"] == "2017"
    assert entry["url"] == "https://arxiv.org/abs/1706.03762"
    assert entry["author"] == (
        "Vaswani, Ashish and Shazeer, Noam and van Beethoven, Ludwig and King, Jr., Martin Luther"
    )


def test_names_split_sensibly() -> None:
    assert last_name_first("Vincent Y. Zhao") == "Zhao, Vincent Y."
    assert last_name_first("Charles de la Vallée Poussin") == "de la Vallée Poussin, Charles"
    assert last_name_first("Zoë Ødegård") == "Ødegård, Zoë"
    assert last_name_first("王小明") == "王小明"
    # A lone "and" must not split one author in two.
    assert last_name_first("Ann And Other").count(" and ") == 0


def test_keys_are_ascii_and_unique_within_a_file() -> None:
    twin = Paper(**{**_fields(ATTENTION), "id": "1706.99999"})
    accented = paper(4, authors=("Zoë Ødegård",), title="Über Pyramids")
    nameless = paper(5, authors=())
    library = parse(to_bibtex([ExportItem(p) for p in (ATTENTION, twin, accented, nameless)]))
    keys = [entry.key for entry in library.entries]
    assert keys[:2] == ["vaswani2017attention", "vaswani2017attentionb"]
    assert keys[2] == f"odegard{accented.published.year}uber"
    assert keys[3].startswith("anon")
    assert citation_key(paper(1)) == f"xiao{paper(1).published.year}efficient"


def test_a_sample_paper_has_no_arxiv_fields() -> None:
    sample = paper(1, id="sample-001", authors=())
    (entry,) = parse(to_bibtex([ExportItem(sample)])).entries
    assert "eprint" not in entry.fields_dict and "author" not in entry.fields_dict
    assert entry["url"].startswith("https://huggingface.co/papers?q=")


# -- round trip: titles intact --------------------------------------------------------------

_WORDS = st.sampled_from(
    ["Attention", "naïve", "Ødegård", "Über", "façade", "東京", "x^2", "50%", "a&b", "#1",
     "R@1", "e-mail", "\"quoted\"", "C++", "α-β", "O(n)", "1,000", "k=5", "50$"]
)  # fmt: skip
_TEX = st.sampled_from(
    ["$\\mathcal{O}(n \\log n)$", "{BERT}", '\\"u', "\\'e", "\\&", "\\%", "$x_{i}^{2}$",
     "{\\em emphasis}", "\\textbf{bold}", "{{GPT}-4}", "\\{", "\\}", "@inproceedings{x}"]
)  # fmt: skip
_PIECE = st.recursive(
    _WORDS | _TEX,
    lambda inner: inner.map(lambda s: "{" + s + "}") | st.lists(inner, min_size=1).map(" ".join),
    max_leaves=8,
)
_TITLE = st.lists(_PIECE, min_size=1, max_size=8).map(" ".join)


@settings(max_examples=150, deadline=None)
@given(st.lists(_TITLE, min_size=1, max_size=3))
def test_titles_with_tex_accents_and_braces_read_back_exactly(titles: list[str]) -> None:
    items = [ExportItem(paper(1 + n % 8, title=title)) for n, title in enumerate(titles)]
    entries = parse(to_bibtex(items)).entries
    assert [entry["title"] for entry in entries] == titles
    assert len({entry.key for entry in entries}) == len(titles)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=3))
def test_any_title_gives_a_file_that_parses_and_only_stray_braces_change(
    titles: list[str],
) -> None:
    items = [ExportItem(paper(1, title=title, authors=(title,))) for title in titles]
    entries = parse(to_bibtex(items)).entries
    assert len(entries) == len(titles)
    for entry, title in zip(entries, titles, strict=True):
        assert entry["title"] == bibtex_text(title)


def test_a_stray_brace_is_escaped_and_a_trailing_backslash_dropped() -> None:
    assert bibtex_text("Left { alone") == "Left \\{ alone"
    assert bibtex_text("}{ twisted") == "\\}\\{ twisted"
    assert bibtex_text("{kept} and {also {kept}}") == "{kept} and {also {kept}}"
    assert bibtex_text("ends in \\") == "ends in"
    (entry,) = parse(to_bibtex([ExportItem(paper(1, title="Left { alone"))])).entries
    assert entry["title"] == "Left \\{ alone"


# -- CSV ------------------------------------------------------------------------------------


def test_csv_has_a_header_and_one_row_per_paper_that_reads_back() -> None:
    saved = SavedPaper(ATTENTION.id, datetime(2026, 11, 20, tzinfo=UTC), None)
    tricky = paper(2, title='Commas, "quotes"\nand a line break', authors=("A, B", "Zoë"))
    text = to_csv([ExportItem(ATTENTION, votes=3, saved=saved), ExportItem(tricky, votes=1)])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(csv.DictReader(io.StringIO(text)).fieldnames or ()) == CSV_HEADER
    assert rows[0]["id"] == "1706.03762"
    assert rows[0]["votes"] == "3"
    assert rows[0]["published"] == "2017-06-12"
    assert rows[0]["url"] == "https://arxiv.org/abs/1706.03762"
    assert rows[0]["authors"].startswith("Ashish Vaswani; Noam Shazeer")
    assert (rows[0]["saved"], rows[0]["read"]) == ("2026-11-20", "")
    assert rows[1]["title"] == 'Commas, "quotes"\nand a line break'
    assert rows[1]["authors"] == "A, B; Zoë"


def test_csv_cells_never_start_a_spreadsheet_formula() -> None:
    text = to_csv([ExportItem(paper(1, title='=HYPERLINK("http://evil")'))])
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row["title"] == '\'=HYPERLINK("http://evil")'


def _fields(p: Paper) -> dict[str, object]:
    return {name: getattr(p, name) for name in Paper.__slots__}  # type: ignore[attr-defined]
