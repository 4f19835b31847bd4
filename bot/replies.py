"""Platform-neutral results: what the core answers, for an adapter to render as it likes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bot.models import ChannelRef, Paper, squash_spaces


@dataclass(frozen=True, slots=True)
class Command:
    """One request from a person: who asked, where, and what they typed after ``/papers``."""

    channel: ChannelRef
    user: str
    text: str
    user_name: str | None = None
    # Whether the person is a workspace admin or owner, where the platform said; None where it
    # did not (Discord guards channel commands with its own permissions) or could not.
    is_admin: bool | None = None


@dataclass(frozen=True, slots=True)
class Highlight:
    """Text with the character spans that matched the query, for bold or underline."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()

    def marked(self, before: str, after: str) -> str:
        """The text with each matched span wrapped, e.g. ``marked("*", "*")`` for Slack."""
        out: list[str] = []
        cursor = 0
        for start, end in self.spans:
            out.append(self.text[cursor:start])
            out.append(f"{before}{self.text[start:end]}{after}")
            cursor = end
        out.append(self.text[cursor:])
        return "".join(out)


@dataclass(frozen=True, slots=True)
class PaperCard:
    """One paper as shown in chat: the record plus what this team and this query add to it."""

    paper: Paper
    team_votes: int = 0
    snippet: Highlight | None = None
    reason: str | None = None
    shared_by: tuple[str, ...] = ()
    comments: tuple[str, ...] = ()
    score: float | None = None  # search relevance (BM25), when the card answers a query
    reading: ReadingState | None = None  # on the asker's reading list (``saved``)

    @property
    def excerpt(self) -> Highlight:
        """The snippet when the query produced one, else the start of the abstract."""
        return self.snippet or Highlight(shorten(self.paper.abstract, EXCERPT_LIMIT))

    @property
    def excerpt_below_tldr(self) -> Highlight:
        """The excerpt for under the TL;DR line, which without Hugging Face's summary *is* the
        abstract's first sentence: then the excerpt starts after it, so no sentence is said
        twice (empty when the abstract is that one sentence). A query's snippet is kept whole."""
        if self.snippet is not None or self.paper.ai_summary:
            return self.excerpt
        abstract = squash_spaces(self.paper.abstract)
        first = first_sentence(abstract)
        if not first or self.tldr != first:  # a TL;DR cut short: the excerpt says it in full
            return self.excerpt
        return Highlight(shorten(abstract[len(first) :].strip(), EXCERPT_LIMIT))

    @property
    def tldr(self) -> str | None:
        """One line above the excerpt: Hugging Face's summary, else the abstract's first
        sentence. None when the paper has neither."""
        return tldr(self.paper.ai_summary, self.paper.abstract)

    @property
    def code(self) -> CodeLink | None:
        """The paper's code repository, with its stars when known."""
        url = self.paper.code_url
        if not url or not url.startswith(("https://", "http://")):
            return None
        return CodeLink(url, self.paper.github_stars)


ReadingState = Literal["unread", "read"]
SAVE_COMMAND = "save"  # the verb a card's Save button runs: ``save <paper id>``, answered privately
TLDR_LIMIT = 200
EXCERPT_LIMIT = 300


@dataclass(frozen=True, slots=True)
class CodeLink:
    url: str
    stars: int | None = None

    @property
    def label(self) -> str:
        """``owner/repo`` for GitHub links (the URL otherwise), plus ``★ 3.3k`` when known."""
        name = re.sub(r"^https?://(www\.)?github\.com/", "", self.url).rstrip("/")
        return name if self.stars is None else f"{name} ★ {format_count(self.stars)}"


def tldr(ai_summary: str | None, abstract: str, limit: int = TLDR_LIMIT) -> str | None:
    """A paper in one line: the summary when there is one, else the abstract's first sentence,
    each cut at a word boundary to ``limit`` characters."""
    text = squash_spaces(ai_summary or "") or first_sentence(abstract)
    return shorten(text, limit) if text else None


# A sentence ends at . ! or ? followed by a space and a capital, digit or opening mark, unless
# the period closes an initial ("Y. Zhao") or a common abbreviation.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(\[])")
_NOT_AN_END = re.compile(r"(\b[A-Z]|\b(?:e\.g|i\.e|et al|etc|vs|cf|Fig|Eq|Sec|No|Dr|Mr|Ms))\.$")


def first_sentence(text: str) -> str:
    """The first sentence of ``text`` (all of it when it has one sentence)."""
    text = squash_spaces(text)
    for match in _SENTENCE_END.finditer(text):
        if not _NOT_AN_END.search(text[: match.start()]):
            return text[: match.start()]
    return text


def format_count(count: int) -> str:
    """``987``, ``3.3k``, ``98.6k``, ``1.2M``: counts at a glance."""
    if count < 1000:
        return str(count)
    if count < 1_000_000:
        return f"{count / 1000:.1f}k".replace(".0k", "k")
    return f"{count / 1_000_000:.1f}M".replace(".0M", "M")


@dataclass(frozen=True, slots=True)
class PaperList:
    title: str
    cards: tuple[PaperCard, ...]
    total: int
    empty_text: str = "No papers."
    more_hint: str | None = None
    footer: str | None = None
    public: bool = False
    intro: tuple[str, ...] = ()  # lines above the cards (the weekly digest's journal club)


@dataclass(frozen=True, slots=True)
class PaperDetail:
    """A single paper in full (``show``)."""

    card: PaperCard
    public: bool = False


@dataclass(frozen=True, slots=True)
class VoteRecorded:
    """A vote toggled; adapters update the count shown on the button in place."""

    card: PaperCard
    voted: bool
    public: bool = False

    @property
    def text(self) -> str:
        title = shorten(self.card.paper.title, 120)
        if self.voted:
            return f"Upvoted “{title}” ({_votes(self.card.team_votes)})."
        return f"Removed your vote on “{title}” ({_votes(self.card.team_votes)})."


NoticeKind = Literal["info", "success", "error"]


@dataclass(frozen=True, slots=True)
class Notice:
    """Plain text (with `code` spans) such as a confirmation, help, or a friendly error."""

    text: str
    kind: NoticeKind = "info"
    public: bool = False
    lines: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReply(Notice):
    """A file to hand over (an export), with ``text`` as its comment.

    It is a :class:`Notice`, so an adapter that cannot attach files still shows the comment.
    ``public`` says whether the channel should see the file; otherwise only the asker.
    """

    filename: str
    mime_type: str
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


Reply = PaperList | PaperDetail | VoteRecorded | Notice

APOLOGY = "Sorry, something went wrong on my side. It is logged; please try again in a moment."
"""What a person reads when Paperboy failed, whatever the platform; the log has the details."""


@dataclass(frozen=True, slots=True)
class SharedLink:
    """A pasted paper link and the paper it names: ``text`` is the link (or message) as pasted."""

    text: str
    card: PaperCard


def shorten(text: str, limit: int) -> str:
    """Cut ``text`` at a word boundary so it fits ``limit`` characters, with an ellipsis."""
    text = squash_spaces(text)
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def _votes(count: int) -> str:
    return f"{count} vote" if count == 1 else f"{count} votes"


def format_authors(authors: tuple[str, ...], limit: int = 3) -> str:
    """``A, B, C et al.`` for long author lists."""
    if not authors:
        return "Authors not listed"
    if len(authors) <= limit:
        return ", ".join(authors)
    return ", ".join(authors[:limit]) + " et al."
