"""Domain records shared by every part of the core."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote_plus

SAMPLE_PREFIX = "sample-"


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
    code_url: str | None = None
    on_hf: bool = False
    sources: frozenset[str] = field(default_factory=frozenset)
    first_seen: datetime | None = None

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


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Where a conversation happens: isolated per platform and workspace (or guild)."""

    platform: str
    workspace: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"

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
