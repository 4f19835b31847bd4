"""Domain records shared by every part of the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from urllib.parse import quote_plus

SAMPLE_PREFIX = "sample-"
DIRECT_PREFIX = "@"  # ChannelRef.channel of a direct message to a person: "@" + user id


def squash_spaces(text: str) -> str:
    """One space between words: feeds wrap titles and abstracts over several indented lines."""
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class Paper:
    """One paper, keyed by its canonical arXiv id (no version suffix)."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    published: datetime
    categories: tuple[str, ...] = ()
    version: int = 1
    hf_upvotes: int = 0
    code_url: str | None = None  # the code repository (Hugging Face's githubRepo)
    on_hf: bool = False
    sources: frozenset[str] = field(default_factory=frozenset)
    first_seen: datetime | None = None
    ai_summary: str | None = None  # Hugging Face's one-sentence summary
    github_stars: int | None = None  # stars of ``code_url`` when Hugging Face knows them

    @property
    def is_sample(self) -> bool:
        return self.id.startswith(SAMPLE_PREFIX)

    @property
    def abs_url(self) -> str:
        if self.is_sample:
            # Sample papers have no arXiv id we know; point at a real search for the title.
            return f"https://huggingface.co/papers?q={quote_plus(self.title)}"
        return f"https://arxiv.org/abs/{self.id}"

    @property
    def pdf_url(self) -> str | None:
        return None if self.is_sample else f"https://arxiv.org/pdf/{self.id}"

    @property
    def hf_url(self) -> str | None:
        return f"https://huggingface.co/papers/{self.id}" if self.on_hf else None

    @property
    def primary_category(self) -> str | None:
        """The category arXiv files the paper under first; Hugging Face papers have none."""
        return self.categories[0] if self.categories else None

    @property
    def archives(self) -> frozenset[str]:
        """The arXiv archives the paper is filed in, cross-lists included."""
        return frozenset(archive_of(code) for code in self.categories if code)


def archive_of(category: str) -> str:
    """A category's archive: ``astro-ph.GA`` and ``astro-ph.CO`` are both ``astro-ph``, ``cs.LG``
    is ``cs``."""
    return category.split(".", 1)[0].lower()


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Where a conversation happens: isolated per platform and workspace (or guild)."""

    platform: str
    workspace: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"

    @classmethod
    def direct(cls, platform: str, workspace: str, user: str) -> ChannelRef:
        """A direct message to ``user``: posters open the conversation with that person.

        No platform's channel ids start with ``@`` (Slack ``C…``/``D…``, Discord snowflakes,
        console names), so the prefix cannot be mistaken for a channel.
        """
        return cls(platform, workspace, f"{DIRECT_PREFIX}{user}")

    @property
    def direct_user(self) -> str | None:
        """The person a direct-message ref addresses, or None for a channel."""
        if self.channel.startswith(DIRECT_PREFIX):
            return self.channel[len(DIRECT_PREFIX) :]
        return None

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        """Parse ``platform:workspace:channel`` (the form ``str()`` produces)."""
        parts = text.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise ValueError(f"expected platform:workspace:channel, got {text!r}")
        return cls(*parts)


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    channel: ChannelRef
    query: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Share:
    paper_id: str
    user: str
    channel: ChannelRef
    comment: str | None
    shared_at: datetime


@dataclass(frozen=True, slots=True)
class SavedPaper:
    """A paper on one person's reading list."""

    paper_id: str
    saved_at: datetime
    read_at: datetime | None = None

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


@dataclass(frozen=True, slots=True)
class ClubClaim:
    """Someone presents a paper in a channel's journal club on a day (the channel's local date)."""

    id: int
    channel: ChannelRef
    paper_id: str
    presenter: str
    present_on: date
    claimed_at: datetime
    reminder_status: str | None = None
    presenter_name: str | None = None

    @property
    def presenter_label(self) -> str:
        return self.presenter_name or self.presenter
