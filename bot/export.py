"""Papers out of the chat: BibTeX for reference managers, CSV for spreadsheets.

BibTeX is written by bibtexparser; this module only decides what goes into each field and keeps
every value one the library can write and read back unchanged (see :func:`bibtex_text`).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bibtexparser.entrypoint import write_string
from bibtexparser.library import Library
from bibtexparser.middlewares.enclosing import AddEnclosingMiddleware
from bibtexparser.middlewares.names import parse_single_name_into_parts
from bibtexparser.model import Entry, Field

from bot.models import ChannelRef, Paper, SavedPaper, squash_spaces
from bot.storage import Store

FORMATS = {"bibtex": ("bib", "application/x-bibtex"), "csv": ("csv", "text/csv")}
FORMAT_ALIASES = {"bib": "bibtex", "bibtex": "bibtex", "csv": "csv"}
CSV_HEADER = (
    "id",
    "title",
    "authors",
    "published",
    "votes",
    "url",
    "categories",
    "code",
    "saved",
    "read",
)
MAX_EXPORT = 5000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY_STOPWORDS = frozenset(
    {"a", "an", "the", "on", "of", "in", "for", "to", "and", "with", "from", "by", "at", "as",
     "is", "are", "be", "do", "does", "via", "towards", "toward", "how", "what", "why", "when",
     "can", "we", "your", "our"}
)  # fmt: skip
# Letters NFKD does not split into a base letter and an accent.
_FOLD = str.maketrans(
    {"Ø": "O", "ø": "o", "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "ß": "ss", "Ł": "L",
     "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "ı": "i"}
)  # fmt: skip
_NAME_SUFFIXES = frozenset({"jr", "jr.", "sr", "sr.", "ii", "iii", "iv"})


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One paper to export, with the team's votes and, for a reading list, when it was saved."""

    paper: Paper
    votes: int = 0
    saved: SavedPaper | None = None


class UnknownFormat(ValueError):
    pass


def parse_format(text: str) -> str:
    """``bibtex`` (or ``bib``) or ``csv``; anything else raises :class:`UnknownFormat`."""
    name = FORMAT_ALIASES.get(text.strip().lower())
    if name is None:
        raise UnknownFormat(text)
    return name


def render(items: Sequence[ExportItem], fmt: str) -> str:
    return to_bibtex(items) if parse_format(fmt) == "bibtex" else to_csv(items)


# -- BibTeX ---------------------------------------------------------------------------------


def to_bibtex(items: Iterable[ExportItem]) -> str:
    """One ``@misc`` entry per paper (biblatex and natbib read ``eprint`` as the arXiv id)."""
    library = Library()
    keys: set[str] = set()
    for item in items:
        key = unique_key(citation_key(item.paper), keys)
        keys.add(key)
        fields = [Field(name, value) for name, value in _fields(item.paper)]
        library.add(Entry("misc", key, fields))
    # The library is built for this one write, so the writer may change it in place instead of
    # deep-copying every entry first (its default, and most of the time spent).
    enclose = AddEnclosingMiddleware(
        allow_inplace_modification=True,
        default_enclosing="{",
        reuse_previous_enclosing=False,
        enclose_integers=True,
    )
    return write_string(library, unparse_stack=[enclose])


def _fields(paper: Paper) -> list[tuple[str, str]]:
    fields = [("title", bibtex_text(paper.title))]
    if paper.authors:
        fields.append(("author", bibtex_text(" and ".join(map(last_name_first, paper.authors)))))
    fields.append(("year", str(paper.published.year)))
    if not paper.is_sample:
        fields += [("eprint", paper.id), ("archivePrefix", "arXiv")]
        if paper.categories:
            fields.append(("primaryClass", bibtex_text(paper.categories[0])))
    fields.append(("url", bibtex_text(paper.abs_url)))
    return fields


def last_name_first(name: str) -> str:
    """``Ludwig van Beethoven`` → ``van Beethoven, Ludwig``; ``Martin King Jr.`` →
    ``King, Jr., Martin`` (BibTeX's ``von Last, Jr, First``, which every style reads)."""
    words = squash_spaces(name).split(" ")
    suffix = []
    if len(words) > 2 and words[-1].lower() in _NAME_SUFFIXES:
        suffix = [words.pop()]
    # A lone word "and" inside a name would split it into two authors.
    words = ["{and}" if word.lower() == "and" else word for word in words]
    parts = parse_single_name_into_parts(" ".join(words), strict=False)
    parts.jr = parts.jr or suffix
    return str(parts.merge_last_name_first)


def bibtex_text(text: str) -> str:
    """``text`` as a braced BibTeX value that reads back as itself.

    TeX in titles (``$\\mathcal{O}(n)$``, ``{BERT}``, ``\\"u``) is kept as it is: BibTeX is where it
    belongs. Only what would break the entry changes: a brace without its partner is escaped
    (``\\{``), and a backslash at the very end (it would escape the closing brace) is dropped.
    """
    text = re.sub(r"[\s\\]+$", "", squash_spaces(text))
    unmatched = _unmatched_braces(text)
    if not unmatched:
        return text
    out = []
    for position, char in enumerate(text):
        out.append("\\" + char if position in unmatched else char)
    return "".join(out)


def _unmatched_braces(text: str) -> set[int]:
    """Positions of ``{`` and ``}`` (not escaped by a backslash) that have no partner."""
    opened: list[int] = []
    unmatched: set[int] = set()
    for position, char in enumerate(text):
        if char not in "{}" or (position and text[position - 1] == "\\"):
            continue
        if char == "{":
            opened.append(position)
        elif opened:
            opened.pop()
        else:
            unmatched.add(position)
    return unmatched | set(opened)


def citation_key(paper: Paper) -> str:
    """Google Scholar's style: first author's last name, year, first real title word
    (``vaswani2017attention``), in ASCII letters and digits."""
    author = "anon"
    if paper.authors:
        last = parse_single_name_into_parts(squash_spaces(paper.authors[0]), strict=False).last
        author = _ascii_word(" ".join(last)) or author
    words = [_ascii_word(word) for word in re.split(r"[\s\-:/]+", paper.title)]
    word = next((w for w in words if w and w not in _KEY_STOPWORDS), "")
    return f"{author}{paper.published.year}{word}"


def unique_key(key: str, taken: set[str]) -> str:
    """``key``, or ``keyb``, ``keyc``, … (``key27`` on) when it is taken in this file."""
    if key not in taken:
        return key
    for n in range(2, len(taken) + 3):
        candidate = f"{key}{chr(ord('a') + n - 1)}" if n <= 26 else f"{key}{n}"
        if candidate not in taken:
            return candidate
    raise AssertionError("unreachable: more candidates than taken keys")


def _ascii_word(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in folded.lower() if c.isascii() and c.isalnum())


# -- CSV ------------------------------------------------------------------------------------


def to_csv(items: Iterable[ExportItem]) -> str:
    """A header row, then one row per paper; authors and categories joined with ``; ``."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for item in items:
        paper, saved = item.paper, item.saved
        row = [
            paper.id,
            paper.title,
            "; ".join(paper.authors),
            paper.published.date().isoformat(),
            str(item.votes),
            paper.abs_url,
            "; ".join(paper.categories),
            paper.code_url or "",
            saved.saved_at.date().isoformat() if saved else "",
            saved.read_at.date().isoformat() if saved and saved.read_at else "",
        ]
        writer.writerow([_no_formula(cell) for cell in row])
    return buffer.getvalue()


def _no_formula(cell: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula (OWASP "CSV injection").
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


# -- what to export -------------------------------------------------------------------------


async def team_items(store: Store, ref: ChannelRef) -> list[ExportItem]:
    """Every paper the workspace upvoted, most votes first."""
    voted = await store.top_voted(ref, _EPOCH, limit=MAX_EXPORT)
    papers = await store.get_papers([paper_id for paper_id, _ in voted])
    return [ExportItem(papers[i], votes=n) for i, n in voted if i in papers]


async def reading_list_items(store: Store, ref: ChannelRef, user: str) -> list[ExportItem]:
    """The person's reading list, unread first, with the team's votes."""
    saved = (await store.reading_list(ref, user))[:MAX_EXPORT]
    ids = [entry.paper_id for entry in saved]
    papers = await store.get_papers(ids)
    votes = await store.vote_counts(ref, ids)
    return [
        ExportItem(papers[s.paper_id], votes=votes.get(s.paper_id, 0), saved=s)
        for s in saved
        if s.paper_id in papers
    ]
