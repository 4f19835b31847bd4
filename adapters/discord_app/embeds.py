"""Discord rendering: a platform-neutral :data:`~bot.replies.Reply` as embeds and vote buttons.

Pure functions, no client: everything here is safe to call from tests and from the poster.
Every embed stays inside Discord's limits (title 256, description 4096, 25 fields of 1024,
6000 characters per message across all embeds, 10 embeds per message); a list that does not fit
is cut and says how many papers it left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import discord
from discord.utils import escape_markdown

from bot.models import Paper
from bot.replies import (
    CodeLink,
    FileReply,
    Highlight,
    Notice,
    NoticeKind,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    VoteRecorded,
    format_authors,
    shorten,
)

# Discord's documented limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_COUNT_LIMIT = 25
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
EMBEDS_TOTAL_LIMIT = 6000
EMBEDS_PER_MESSAGE = 10
CONTENT_LIMIT = 2000
BUTTONS_PER_ROW = 5
BUTTON_LABEL_LIMIT = 80

PAPER_COLOUR = discord.Colour(0xB31B1B)  # arXiv red
NOTICE_COLOURS: dict[NoticeKind, discord.Colour] = {
    "info": discord.Colour.blurple(),
    "success": discord.Colour.green(),
    "error": discord.Colour.red(),
}
_LIST_EXCERPT = 300
SAVE_MARK = "🔖"
SAVE_LABEL = f"{SAVE_MARK} Save"
READING_MARKS = {"unread": "🔖 unread", "read": "✓ read"}
_TRAILING_COUNT = re.compile(r"\d+$")


@dataclass(frozen=True, slots=True)
class VoteSpec:
    """One upvote button to attach: which paper, and what it says."""

    paper_id: str
    label: str
    row: int


@dataclass(frozen=True, slots=True)
class SaveSpec:
    """One Save button to attach: which paper, and what it says."""

    paper_id: str
    label: str
    row: int


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to upload with the message (an export)."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class DiscordMessage:
    """What to send: text above the embeds, the embeds, the vote buttons, and who may see it."""

    content: str | None
    embeds: tuple[discord.Embed, ...]
    votes: tuple[VoteSpec, ...] = ()
    ephemeral: bool = True
    saves: tuple[SaveSpec, ...] = ()
    attachment: Attachment | None = None

    @property
    def paper_id(self) -> str | None:
        """The paper a message shows when it shows exactly one, so replies under it count."""
        shown = {vote.paper_id for vote in self.votes}
        return shown.pop() if len(shown) == 1 else None


def render(reply: Reply) -> DiscordMessage:
    """The Discord message for a reply. Not public means ephemeral when answering a person."""
    if isinstance(reply, FileReply):
        attachment = Attachment(reply.filename, reply.data)
        return DiscordMessage(
            None, (notice_embed(reply),), ephemeral=not reply.public, attachment=attachment
        )
    if isinstance(reply, Notice):
        return DiscordMessage(None, (notice_embed(reply),), ephemeral=not reply.public)
    if isinstance(reply, VoteRecorded):
        kind: NoticeKind = "success" if reply.voted else "info"
        embed = notice_embed(Notice(reply.text, kind=kind))
        return DiscordMessage(None, (embed,), ephemeral=not reply.public)
    if isinstance(reply, PaperDetail):
        card = reply.card
        vote = VoteSpec(card.paper.id, vote_label(card.team_votes), row=0)
        save = SaveSpec(card.paper.id, SAVE_LABEL, row=0)
        return DiscordMessage(
            None, (detail_embed(card),), (vote,), ephemeral=not reply.public, saves=(save,)
        )
    return _render_list(reply)


def vote_label(votes: int, number: int | None = None) -> str:
    """``▲ Upvote · 3`` on a single paper, ``#2 ▲ 3`` in a list (the number matches the embed)."""
    return f"#{number} ▲ {votes}" if number is not None else f"▲ Upvote · {votes}"


def save_label(number: int | None = None) -> str:
    """``🔖 Save`` on a single paper, ``#2 🔖`` in a list (the number matches the embed)."""
    return f"#{number} {SAVE_MARK}" if number is not None else SAVE_LABEL


def relabel(label: str | None, votes: int) -> str:
    """The same button label with a new count, keeping its ``#n`` if it had one."""
    if label and _TRAILING_COUNT.search(label):
        return _TRAILING_COUNT.sub(str(votes), label)
    return vote_label(votes)


def notice_embed(notice: Notice) -> discord.Embed:
    text = "\n".join([notice.text, *notice.lines])
    return discord.Embed(
        description=fit(text, DESCRIPTION_LIMIT), colour=NOTICE_COLOURS[notice.kind]
    )


def detail_embed(card: PaperCard) -> discord.Embed:
    """One paper in full: the whole abstract, then authors, votes, links and team context."""
    paper = card.paper
    abstract = escape_markdown(" ".join(paper.abstract.split()))
    summary = tldr_line(card)
    embed = discord.Embed(
        title=fit(paper.title, TITLE_LIMIT),
        url=paper.abs_url,
        description=fit(f"{summary}\n\n{abstract}" if summary else abstract, DESCRIPTION_LIMIT),
        colour=PAPER_COLOUR,
    )
    fields: list[tuple[str, str, bool]] = [
        ("Authors", escape_markdown(format_authors(paper.authors, limit=10)), False),
        ("Published", f"{paper.published:%Y-%m-%d}", True),
    ]
    if paper.categories:
        fields.append(("Categories", ", ".join(paper.categories), True))
    fields.append(("Votes", _votes_text(card), True))
    if card.reading:
        fields.append(("Your reading list", READING_MARKS[card.reading], True))
    fields.append(("Links", _links(paper, card.code), False))
    if card.reason:
        fields.append(("Why", card.reason, False))
    if card.shared_by:
        fields.append(("Shared by", ", ".join(mention(user) for user in card.shared_by), False))
    if card.comments:
        quoted = "\n".join(f"> {escape_markdown(shorten(c, 300))}" for c in card.comments)
        fields.append(("Comments", quoted, False))
    fields = [(name, value, inline) for name, value, inline in fields if value.strip()]
    for name, value, inline in fields[:FIELD_COUNT_LIMIT]:
        embed.add_field(
            name=fit(name, FIELD_NAME_LIMIT), value=fit(value, FIELD_VALUE_LIMIT), inline=inline
        )
    embed.set_footer(text=_footer(paper))
    return _within_total(embed, EMBEDS_TOTAL_LIMIT)


def list_card_embed(
    card: PaperCard, number: int, budget: int = EMBEDS_TOTAL_LIMIT
) -> discord.Embed:
    """A paper in a list: numbered title, one line of facts and the (highlighted) excerpt.

    ``budget`` is this embed's share of the message's 6000 characters; the excerpt shrinks to it.
    """
    paper = card.paper
    title = fit(f"{number}. {paper.title}", min(TITLE_LIMIT, max(budget // 3, 40)))
    facts = [
        f"`{paper.id}`",
        escape_markdown(format_authors(paper.authors)),
        f"{paper.published:%Y-%m-%d}",
    ]
    if paper.categories:
        facts.append(", ".join(paper.categories[:3]))
    facts.append(_votes_text(card))
    if card.code:
        facts.append(code_link(card.code))
    if card.reading:
        facts.append(READING_MARKS[card.reading])
    lines = [" · ".join(facts)]
    if card.reason:
        lines.append(f"*Why:* {card.reason}")
    if card.shared_by:
        lines.append("Shared by " + ", ".join(mention(user) for user in card.shared_by[:5]))
    lines.extend(f"> {escape_markdown(shorten(c, 200))}" for c in card.comments[:2])
    summary = tldr_line(card)
    if summary:
        lines.append(summary)
    head = "\n".join(lines)
    room = budget - len(title) - len(head) - 2
    excerpt = highlighted(card.excerpt_below_tldr, min(_LIST_EXCERPT, room)) if room > 40 else ""
    description = f"{head}\n{excerpt}" if excerpt else head
    embed = discord.Embed(
        title=title,
        url=paper.abs_url,
        description=fit(description, DESCRIPTION_LIMIT),
        colour=PAPER_COLOUR,
    )
    return _within_total(embed, budget)


def _render_list(reply: PaperList) -> DiscordMessage:
    ephemeral = not reply.public
    if not reply.cards:
        extra = (*reply.intro, *((reply.footer,) if reply.footer else ()))
        empty = notice_embed(Notice(reply.empty_text, lines=extra))
        return DiscordMessage(None, (empty,), ephemeral=ephemeral)
    shown = reply.cards[:EMBEDS_PER_MESSAGE]
    budget = (EMBEDS_TOTAL_LIMIT - 50) // len(shown)
    embeds: list[discord.Embed] = []
    total = 0
    for number, card in enumerate(shown, start=1):
        embed = list_card_embed(card, number, budget)
        if total + len(embed) > EMBEDS_TOTAL_LIMIT:
            break
        embeds.append(embed)
        total += len(embed)
    votes = tuple(
        VoteSpec(
            card.paper.id, vote_label(card.team_votes, number), row=(number - 1) // BUTTONS_PER_ROW
        )
        for number, card in enumerate(reply.cards[: len(embeds)], start=1)
    )
    # Save buttons go below the vote buttons: 10 cards fill rows 0-1 with votes, 2-3 with saves.
    vote_rows = (len(embeds) + BUTTONS_PER_ROW - 1) // BUTTONS_PER_ROW
    saves = tuple(
        SaveSpec(card.paper.id, save_label(number), row=vote_rows + (number - 1) // BUTTONS_PER_ROW)
        for number, card in enumerate(reply.cards[: len(embeds)], start=1)
        if card.reading is None  # a reading list's papers are saved already
    )
    lines = [f"**{escape_markdown(shorten(reply.title, 250))}**", *reply.intro]
    if reply.footer:
        lines.append(reply.footer)
    if reply.more_hint:
        lines.append(reply.more_hint)
    left_out = len(reply.cards) - len(embeds)
    if left_out:
        lines.append(f"…and {left_out} more that did not fit in one message.")
    content = fit("\n".join(lines), CONTENT_LIMIT)
    return DiscordMessage(content, tuple(embeds), votes, ephemeral, saves=saves)


def highlighted(text: Highlight, limit: int) -> str:
    """The excerpt with matched spans in **bold**, markdown in the text itself escaped."""
    body, suffix = text.text, ""
    if len(body) > limit:
        cut = body[: max(limit - 1, 0)]
        space = cut.rfind(" ")
        body, suffix = (cut[:space] if space > limit // 2 else cut).rstrip(" ,.;:"), "…"
    out: list[str] = []
    cursor = 0
    for start, end in text.spans:
        if start >= len(body):
            break
        if start < cursor or end <= start:
            continue
        end = min(end, len(body))
        out.append(escape_markdown(body[cursor:start]))
        out.append(f"**{escape_markdown(body[start:end])}**")
        cursor = end
    out.append(escape_markdown(body[cursor:]))
    return "".join(out) + suffix


def mention(user: str) -> str:
    """A Discord user id as a mention (which renders as the name); anything else as text."""
    return f"<@{user}>" if user.isdigit() else escape_markdown(user)


def fit(text: str, limit: int) -> str:
    """Hard cut to ``limit`` characters with an ellipsis (after any gentler shortening)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rstrip()
    if cut.endswith("\\"):  # never leave half of an escape behind
        cut = cut[:-1]
    return cut + "…"


def _within_total(embed: discord.Embed, limit: int) -> discord.Embed:
    """Shrink the description until the whole embed fits ``limit`` characters."""
    excess = len(embed) - limit
    if excess > 0 and embed.description:
        embed.description = fit(embed.description, max(len(embed.description) - excess, 1))
    return embed


def _votes_text(card: PaperCard) -> str:
    team = f"{card.team_votes} team vote" + ("" if card.team_votes == 1 else "s")
    if card.paper.on_hf:
        return f"▲ {card.paper.hf_upvotes} on HF · {team}"
    return team


def tldr_line(card: PaperCard) -> str | None:
    """The card's one-line summary, in italics, or None when the paper has none."""
    summary = card.tldr
    return f"**TL;DR** *{escape_markdown(summary)}*" if summary else None


def code_link(code: CodeLink) -> str:
    """``[owner/repo ★ 3.3k](url)``: the code at a glance, stars when known."""
    return f"[{escape_markdown(code.label)}]({code.url})"


def _links(paper: Paper, code: CodeLink | None) -> str:
    links = [f"[arXiv]({paper.abs_url})" if not paper.is_sample else f"[Find it]({paper.abs_url})"]
    if paper.pdf_url:
        links.append(f"[PDF]({paper.pdf_url})")
    if paper.hf_url:
        links.append(f"[Hugging Face]({paper.hf_url})")
    if code:
        links.append(f"Code: {code_link(code)}")
    return " · ".join(links)


def _footer(paper: Paper) -> str:
    return f"Sample paper {paper.id}" if paper.is_sample else f"arXiv {paper.id}"
