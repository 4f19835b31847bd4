"""The "More like this" button: a click shows the clicker papers like that card's, privately."""

from __future__ import annotations

from typing import Any

from adapters.slack_app.blocks import SIMILAR_ACTION_ID
from tests.slack.workspace import Workspace

PAPER = "0001.00001"  # "Efficient Streaming Language Models with Attention Sinks"


async def shared_list(slack: Workspace) -> dict[str, Any]:
    answer = (await slack.command("search attention --share")).json()
    return {"ts": "1700000000.000200", "blocks": answer["blocks"], "text": answer["text"]}


def more_like_this(slack: Workspace, message: dict[str, Any], paper_id: str) -> dict[str, Any]:
    """The block_actions payload Slack sends when "More like this" on ``paper_id`` is clicked."""
    body = slack.click_payload(message, paper_id)
    button = next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("value") == paper_id and element["action_id"] == SIMILAR_ACTION_ID
    )
    body["actions"][0].update(
        action_id=button["action_id"], block_id="more", value=button["value"], type="button"
    )
    return body


async def test_every_card_in_a_list_has_a_more_like_this_button(slack: Workspace) -> None:
    message = await shared_list(slack)
    cards = [b["accessory"]["value"] for b in message["blocks"] if "accessory" in b]
    buttons = [
        (element["text"]["text"], element["value"])
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"] == SIMILAR_ACTION_ID
    ]
    assert cards and buttons == [("More like this", paper_id) for paper_id in cards]


async def test_a_click_shows_similar_papers_to_the_clicker_only(slack: Workspace) -> None:
    message = await shared_list(slack)

    answer = await slack.action(more_like_this(slack, message, PAPER))

    assert answer.status == 200
    [reply] = await slack.fake.wait_for("response_url")
    assert reply.params["response_type"] == "ephemeral"
    assert reply.params["replace_original"] is False
    header = reply.blocks()[0]["text"]["text"]
    assert header.startswith("More like “Efficient Streaming Language Models")
    shown = [b["accessory"]["value"] for b in reply.blocks() if "accessory" in b]
    assert shown and PAPER not in shown  # neighbours, never the paper itself
    assert not slack.fake.calls_to("chat.update")  # the list it was clicked on stays as it was


async def test_a_click_on_a_paper_that_is_gone_gets_a_clear_message(slack: Workspace) -> None:
    message = await shared_list(slack)
    click = more_like_this(slack, message, PAPER)
    click["actions"][0]["value"] = "2999.99999"

    await slack.action(click)

    [reply] = await slack.fake.wait_for("response_url")
    assert reply.params["response_type"] == "ephemeral"
    assert "Unknown paper `2999.99999`" in reply.params["text"]
