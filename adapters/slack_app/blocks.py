"""Block Kit rendering: a platform-neutral ``Reply`` in, a Slack message (blocks + fallback) out.

Everything here is pure and synchronous, so it is tested without a server. Slack rejects a
whole message when one limit is broken, so every limit is enforced here: lists are cut with a
"more" hint, long text is trimmed, and every message carries a plain-text fallback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.replies import (
    CodeLink,
    Highlight,
    Notice,
    PaperCard,
    PaperDetail,
    PaperList,
    Reply,
    VoteRecorded,
    format_authors,
    shorten,
)

Block = dict[str, Any]

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_CONTEXT_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCK_ID = 255
# Our own budgets, well inside Slack's: a list people can read, a fallback a phone can show.
MAX_LIST_CARDS = 15
MAX_MESSAGE_CHARS = 12000
MAX_FALLBACK_TEXT = 3000
EXCERPT_CHARS = 300
ABSTRACT_CHARS = 2400

VOTE_ACTION_ID = "paperboy_vote"
SAVE_ACTION_ID = "paperboy_save"  # value: the paper id; runs the core's ``save`` for the clicker
SIMILAR_ACTION_ID = "paperboy_similar"  # value: the paper id; answers its neighbours
_BLOCK_ID_PREFIX = "paper"
_ACTIONS_PREFIX = "actions"
_KIND_MARKS = {"info": "", "success": ":white_check_mark: ", "error": ":warning: "}
_SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message ready for chat.postMessage, an ack, or a response_url post."""

    text: str
    blocks: tuple[Block, ...]
    public: bool = False

    @property
    def response_type(self) -> str:
        return "in_channel" if self.public else "ephemeral"

    def payload(self) -> dict[str, Any]:
        """The body for an ack or a response_url post."""
        return {
            "response_type": self.response_type,
            "text": self.text,
            "blocks": [dict(block) for block in self.blocks],
        }


def escape(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters.

    This also defuses ``<!channel>``, ``<@U123>`` and links someone typed into a query.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user: str) -> str:
    """``<@U123>`` for a Slack user id, the escaped name otherwise."""
    return f"<@{user}>" if _SLACK_USER_ID.match(user) else escape(user)


def render(reply: Reply) -> SlackMessage:
    """The Slack message for any reply the core gives."""
    if isinstance(reply, Notice):
        return _notice(reply)
    if isinstance(reply, VoteRecorded):
        return _vote_recorded(reply)
    if isinstance(reply, PaperDetail):
        return _detail(reply)
    return _list(reply)


def unfurl(card: PaperCard) -> dict[str, Any]:
    """The value for one URL in chat.unfurl's ``unfurls``: a compact card with its button."""
    blocks = _card_blocks(card, index=0, full=False, show_sharers=False, more_button=False)
    return {"blocks": blocks}


def vote_button(paper_id: str, team_votes: int) -> Block:
    label = f"▲ Upvote · {team_votes}" if team_votes else "▲ Upvote"
    return {
        "type": "button",
        "action_id": VOTE_ACTION_ID,
        "text": {"type": "plain_text", "text": _fit(label, MAX_BUTTON_TEXT), "emoji": True},
        "value": paper_id[:MAX_BUTTON_VALUE],
    }


def save_button(paper_id: str, saved: bool = False) -> Block:
    """Save to the clicker's reading list; the label says when the card's viewer has it."""
    return {
        "type": "button",
        "action_id": SAVE_ACTION_ID,
        "text": {"type": "plain_text", "text": "✓ Saved" if saved else "Save", "emoji": True},
        "value": paper_id[:MAX_BUTTON_VALUE],
    }


def similar_button(paper_id: str) -> Block:
    """More like this: the paper's nearest neighbours, shown to the clicker only."""
    return {
        "type": "button",
        "action_id": SIMILAR_ACTION_ID,
        "text": {"type": "plain_text", "text": "More like this", "emoji": True},
        "value": paper_id[:MAX_BUTTON_VALUE],
    }


def with_vote_count(
    blocks: Sequence[Block], block_id: str, paper_id: str, team_votes: int
) -> list[Block] | None:
    """A copy of a message's blocks with one card's vote button showing the new count.

    Returns None when no block has that id, so the caller can rebuild instead of guessing.
    """
    found = False
    updated: list[Block] = []
    for block in blocks:
        if block.get("block_id") == block_id and isinstance(block.get("accessory"), dict):
            block = {**block, "accessory": vote_button(paper_id, team_votes)}
            found = True
        updated.append(block)
    return updated if found else None


def card_block_id(index: int, paper_id: str) -> str:
    return f"{_BLOCK_ID_PREFIX}:{index}:{paper_id}"[:MAX_BLOCK_ID]


# -- replies ----------------------------------------------------------------------------------


def _notice(reply: Notice) -> SlackMessage:
    head = _KIND_MARKS[reply.kind] + escape(reply.text)
    body = [escape(line) for line in reply.lines]
    blocks = [_section(chunk) for chunk in _chunks([head, *body], MAX_SECTION_TEXT)]
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _context("…and more (cut to fit one message).")]
    fallback = escape("\n".join([reply.text, *reply.lines]))
    return SlackMessage(_fallback(fallback), tuple(blocks), reply.public)


def _vote_recorded(reply: VoteRecorded) -> SlackMessage:
    text = escape(reply.text)
    return SlackMessage(_fallback(text), (_section(text),), reply.public)


def _detail(reply: PaperDetail) -> SlackMessage:
    card = reply.card
    blocks = _card_blocks(card, index=0, full=True, show_sharers=True)
    paper = card.paper
    fallback = escape(f"{paper.title} ({format_authors(paper.authors)}) {paper.abs_url}")
    if card.shared_by:
        fallback = f"Shared by {', '.join(mention(user) for user in card.shared_by)}: {fallback}"
    return SlackMessage(_fallback(fallback), tuple(blocks), reply.public)


def _list(reply: PaperList) -> SlackMessage:
    if not reply.cards:
        empty = [_section(escape(reply.empty_text))]
        if reply.footer:
            empty.append(_context(escape(reply.footer)))
        return SlackMessage(_fallback(escape(reply.empty_text)), tuple(empty), reply.public)
    blocks: list[Block] = [_header(reply.title)]
    if reply.intro:
        intro = _chunks(map(escape, reply.intro), MAX_SECTION_TEXT)
        # The digest's journal club and "most discussed" lines: a few lines, two sections at most.
        blocks.extend(_section(chunk) for chunk in intro[:2])
    reserved = 1 + (1 if reply.more_hint else 0) + (1 if reply.footer else 0)
    chars = len(reply.title) + sum(_block_chars(block) for block in blocks)
    shown = 0
    for index, card in enumerate(reply.cards[:MAX_LIST_CARDS]):
        card_blocks = [
            {"type": "divider"},
            *_card_blocks(card, index, full=False, show_sharers=True),
        ]
        size = sum(_block_chars(block) for block in card_blocks)
        if len(blocks) + len(card_blocks) + reserved > MAX_BLOCKS:
            break
        if shown and chars + size > MAX_MESSAGE_CHARS:
            break
        blocks.extend(card_blocks)
        chars += size
        shown += 1
    total = max(reply.total, len(reply.cards))
    if shown < len(reply.cards):
        hint = f"Showing {shown} of {total}. Narrow it down to see the rest."
        blocks.append(_context(escape(hint)))
    elif reply.more_hint:
        blocks.append(_context(escape(reply.more_hint)))
    if reply.footer:
        blocks.append(_context(escape(reply.footer)))
    lines = [reply.title, *reply.intro]
    lines.extend(
        f"{n}. {card.paper.title} {card.paper.abs_url}"
        for n, card in enumerate(reply.cards[:shown], start=1)
    )
    if shown < total:
        lines.append(f"…and {total - shown} more.")
    return SlackMessage(_fallback(escape("\n".join(lines))), tuple(blocks), reply.public)


# -- one paper --------------------------------------------------------------------------------


def _card_blocks(
    card: PaperCard, index: int, *, full: bool, show_sharers: bool, more_button: bool = True
) -> list[Block]:
    paper = card.paper
    title = f"*<{_url(paper.abs_url)}|{escape(shorten(paper.title, 250))}>*"
    meta = [escape(format_authors(paper.authors)), f"{paper.published:%Y-%m-%d}"]
    if paper.categories:
        meta.append(escape(", ".join(paper.categories[:3])))
    if paper.on_hf:
        meta.append(f"▲ {paper.hf_upvotes} on Hugging Face")
    if card.reading is not None:
        meta.append("✓ Read" if card.reading == "read" else ":bookmark: Saved, unread")
    parts = [title, " · ".join(meta)]
    if not full and card.code is not None:
        parts.append(_code_link(card.code))
    parts.extend(_summary(card, full=full))
    if full:
        parts.append(" · ".join(_links(card)))
    section = _section("\n".join(parts))
    section["block_id"] = card_block_id(index, paper.id)
    section["accessory"] = vote_button(paper.id, card.team_votes)
    blocks = [section]
    notes: list[str] = []
    if card.reason:
        notes.append(escape(card.reason))
    if show_sharers and card.shared_by:
        notes.append("Shared by " + ", ".join(mention(user) for user in card.shared_by[:10]))
    notes.extend(f"“{escape(shorten(comment, 280))}”" for comment in card.comments[:5])
    if notes:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": _fit(note, MAX_CONTEXT_TEXT)}
                    for note in notes[:MAX_CONTEXT_ELEMENTS]
                ],
            }
        )
    # The section holds one accessory (Upvote); the other buttons go in one row below it.
    buttons = [save_button(paper.id, saved=card.reading is not None)]
    if more_button:
        buttons.append(similar_button(paper.id))
    blocks.append(
        {
            "type": "actions",
            "block_id": f"{_ACTIONS_PREFIX}:{index}:{paper.id}"[:MAX_BLOCK_ID],
            "elements": buttons,
        }
    )
    return blocks


def _summary(card: PaperCard, *, full: bool) -> list[str]:
    """The TL;DR line, then the abstract (in full) or its excerpt, never saying a sentence twice:
    without Hugging Face's summary the TL;DR *is* the abstract's first sentence."""
    paper = card.paper
    tldr = card.tldr
    if full:
        head = [f"*TL;DR* {escape(tldr)}"] if tldr and paper.ai_summary else []
        abstract = escape(shorten(paper.abstract, ABSTRACT_CHARS))
        return [*head, abstract] if abstract else head
    lines = [f"*TL;DR* {escape(tldr)}"] if tldr else []
    text = _highlighted(card.excerpt_below_tldr, EXCERPT_CHARS)
    return [*lines, text] if text else lines


def _code_link(code: CodeLink) -> str:
    return f":computer: <{_url(code.url)}|{escape(code.label)}>"


def _links(card: PaperCard) -> list[str]:
    paper = card.paper
    links = [f"<{_url(paper.abs_url)}|Abstract>"]
    if paper.pdf_url:
        links.append(f"<{paper.pdf_url}|PDF>")
    if paper.hf_url:
        links.append(f"<{paper.hf_url}|Hugging Face>")
    if card.code is not None:
        links.append(f"<{_url(card.code.url)}|Code: {escape(card.code.label)}>")
    return links


def _highlighted(excerpt: Highlight, limit: int) -> str:
    """The excerpt with matched words in bold, cut to ``limit`` visible characters."""
    text = excerpt.text
    if len(text) <= limit:
        return _bold_spans(excerpt)
    # Cut the original text (not a whitespace-normalised copy) so the spans still line up.
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    spans = tuple((a, min(b, len(cut))) for a, b in excerpt.spans if a < len(cut))
    return _bold_spans(Highlight(cut.rstrip(), spans)) + "…"


def _bold_spans(excerpt: Highlight) -> str:
    """Escaped text with each matched span in ``*bold*`` (spaces kept outside the stars)."""
    text = excerpt.text
    out: list[str] = []
    cursor = 0
    for start, end in sorted(excerpt.spans):
        piece = text[start:end]
        if start < cursor or not piece.strip():
            continue
        lead = piece[: len(piece) - len(piece.lstrip())]
        tail = piece[len(piece.rstrip()) :]
        out.append(escape(text[cursor:start] + lead))
        out.append(f"*{escape(piece.strip())}*")
        out.append(escape(tail))
        cursor = end
    out.append(escape(text[cursor:]))
    return "".join(out)


# -- blocks -----------------------------------------------------------------------------------


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text, MAX_SECTION_TEXT)}}


def _context(text: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _fit(text, MAX_CONTEXT_TEXT)}],
    }


def _header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": shorten(text, MAX_HEADER_TEXT), "emoji": True},
    }


def _chunks(lines: Iterable[str], limit: int) -> list[str]:
    """Join lines into texts of at most ``limit`` characters (a longer line is cut)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = _fit(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current or not chunks:
        chunks.append(current or " ")
    return chunks


def _fit(text: str, limit: int) -> str:
    """Cut text to ``limit`` characters without leaving half an ``&amp;`` or ``<link>``."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    for opener, closer in (("<", ">"), ("&", ";")):
        start = cut.rfind(opener)
        if start != -1 and cut.find(closer, start) == -1:
            cut = cut[:start]
    return cut.rstrip() + "…"


def _fallback(escaped: str) -> str:
    return _fit(escaped, MAX_FALLBACK_TEXT)


def _block_chars(block: Block) -> int:
    total = 0
    text = block.get("text")
    if isinstance(text, dict):
        total += len(str(text.get("text", "")))
    for element in block.get("elements", ()):
        if isinstance(element, dict):
            total += len(str(element.get("text", "")))
    return total


def _url(url: str) -> str:
    """A URL safe inside ``<url|label>``."""
    return url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C").replace(" ", "%20")
