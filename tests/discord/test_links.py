"""Pasted paper links (with the Message Content intent) are recorded as shares and answered."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from bot.storage import Store
from tests.discord.conftest import ADA, CHANNEL, CHANNEL_ID, Gateway, buttons
from tests.papers import NOW


async def _replies(gateway: Gateway, count: int) -> list[dict[str, Any]]:
    path = f"/channels/{CHANNEL_ID}/messages"
    await gateway.api.wait_for(lambda _: len(gateway.api.matching("POST", path)) >= count)
    return [call.body for call in gateway.api.matching("POST", path)]


async def test_a_pasted_link_is_recorded_and_answered(gateway: Gateway, store: Store) -> None:
    posted = gateway.post("this one is worth a read https://arxiv.org/abs/0001.00003v2")

    (reply,) = await _replies(gateway, 1)

    reference = reply["message_reference"]
    assert isinstance(reference, dict)
    assert (reference["message_id"], reference["channel_id"]) == (int(posted["id"]), CHANNEL_ID)
    assert reference["fail_if_not_exists"] is False  # a deleted original is no reason to fail
    (embed,) = reply["embeds"]
    assert embed["title"] == "Promptagator: Few-shot Dense Retrieval From 8 Examples"
    assert {"name": "Shared by", "value": f"<@{ADA}>", "inline": False} in embed["fields"]
    assert reply["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert [b["custom_id"] for b in buttons(reply)] == [
        "paperboy:vote:0001.00003",
        "paperboy:save:0001.00003",
    ]
    shares = await store.shares_since(CHANNEL, NOW - timedelta(days=1))
    assert [(s.paper_id, s.user) for s in shares] == [("0001.00003", str(ADA))]


async def test_several_links_are_answered_in_one_message(gateway: Gateway, store: Store) -> None:
    gateway.post(
        "compare https://huggingface.co/papers/0001.00001 with "
        "https://arxiv.org/pdf/0001.00002.pdf and https://arxiv.org/abs/0001.00001 again"
    )

    (reply,) = await _replies(gateway, 1)

    assert reply["content"] == "**2 papers shared**"
    assert [e["title"][:3] for e in reply["embeds"]] == ["1. ", "2. "]
    assert len(await store.shares_since(CHANNEL, NOW - timedelta(days=1))) == 2


async def test_bots_unknown_papers_and_plain_chat_are_left_alone(
    gateway: Gateway, store: Store
) -> None:
    gateway.post("https://arxiv.org/abs/0001.00004", bot=True)
    gateway.post("no links here, just 0001.00004 as text")
    gateway.post("a paper nobody knows https://arxiv.org/abs/2401.99999")
    await asyncio.sleep(0.2)
    gateway.post("but this one https://arxiv.org/abs/0001.00005")

    replies = await _replies(gateway, 1)
    await asyncio.sleep(0.1)

    assert len(replies) == 1
    shares = await store.shares_since(CHANNEL, NOW - timedelta(days=1))
    assert [s.paper_id for s in shares] == ["0001.00005"]
