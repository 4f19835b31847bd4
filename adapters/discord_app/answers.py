"""Answering a slash command within Discord's three seconds, however long the core takes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import discord

from adapters.discord_app.discussion import remember_posted
from adapters.discord_app.embeds import DiscordMessage, render
from adapters.discord_app.tree import send_private
from adapters.discord_app.views import attachment_file, message_view, send_kwargs
from bot.replies import Notice, Reply

if TYPE_CHECKING:
    from adapters.discord_app.client import PaperboyDiscord

log = logging.getLogger(__name__)

UPLOAD_FAILED = (
    "I could not upload the file to Discord just now. Please try again in a minute; "
    "`paperboy export` on the command line gives the same file."
)


async def answer(
    client: PaperboyDiscord,
    interaction: discord.Interaction[Any],
    text: str,
    *,
    public: bool = False,
    adjust: Callable[[Reply], Reply] | None = None,
) -> None:
    """Run ``text`` as a command and answer the interaction within Discord's 3 seconds.

    A fast answer is the interaction response itself. When the core takes longer (a live arXiv
    lookup), the interaction is deferred and the answer follows. ``public`` is what a successful
    answer will be, so the "thinking…" message starts out visible to the right people; an
    answer that turns out otherwise (an error after a public defer) replaces it.
    """
    command = client.core_command(interaction, text)
    work = asyncio.ensure_future(client.paperboy.handle(command))
    done, _ = await asyncio.wait({work}, timeout=client.answer_within)
    if not done:
        await interaction.response.defer(ephemeral=not public, thinking=True)
    reply = await work
    message = within_upload_limit(interaction, render(adjust(reply) if adjust else reply))
    try:
        sent = await _send(interaction, message, deferred=not done, public=public)
    except discord.HTTPException as error:
        if message.attachment is None:
            raise
        log.warning("Could not upload %s to Discord: %s", message.attachment.filename, error)
        await send_private(interaction, Notice(UPLOAD_FAILED, kind="error"))
        return
    if sent is not None and not message.ephemeral:
        await remember_posted(client.paperboy.store, command.channel, sent.id, message)


def within_upload_limit(
    interaction: discord.Interaction[Any], message: DiscordMessage
) -> DiscordMessage:
    """The message, or a clear refusal when its file is more than this server lets a bot upload
    (Discord tells each interaction its limit: 10 MiB unless the server is boosted)."""
    upload = message.attachment
    limit = interaction.filesize_limit
    if upload is None or len(upload.data) <= limit:
        return message
    log.warning("Not uploading %s: %d bytes, limit %d", upload.filename, len(upload.data), limit)
    return render(Notice(too_big(len(upload.data), limit), kind="error"))


def too_big(size: int, limit: int) -> str:
    return (
        f"That file is {size / 2**20:.1f} MB, more than Discord takes here "
        f"({limit / 2**20:.0f} MB). `paperboy export` on the command line has no limit."
    )


async def _send(
    interaction: discord.Interaction[Any], message: DiscordMessage, *, deferred: bool, public: bool
) -> discord.Message | None:
    """Send the answer the way the interaction's state allows; the message, when Discord says."""
    if not deferred:
        response = await interaction.response.send_message(
            **send_kwargs(message), ephemeral=message.ephemeral
        )
        resource = response.resource if response is not None else None
        return resource if isinstance(resource, discord.Message) else None
    if message.ephemeral == (not public):
        files = [attachment_file(message)] if message.attachment is not None else []
        return await interaction.edit_original_response(
            content=message.content,
            embeds=list(message.embeds),
            view=message_view(message),
            attachments=files,
        )
    await interaction.delete_original_response()
    return await interaction.followup.send(
        **send_kwargs(message), ephemeral=message.ephemeral, wait=True
    )


def words(*parts: str) -> str:
    """Slash-command options back into the words the core reads, empty ones left out."""
    return " ".join(part.strip() for part in parts if part and part.strip())
