"""Platform-neutral results: what the core answers, for an adapter to render as it likes."""

from __future__ import annotations

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

    @property
    def excerpt(self) -> Highlight:
        """The snippet when the query produced one, else the start of the abstract."""
        return self.snippet or Highlight(shorten(self.paper.abstract, 300))


@dataclass(frozen=True, slots=True)
class PaperList:
    title: str
    cards: tuple[PaperCard, ...]
    total: int
    empty_text: str = "No papers."
    more_hint: str | None = None
    footer: str | None = None
    public: bool = False


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
